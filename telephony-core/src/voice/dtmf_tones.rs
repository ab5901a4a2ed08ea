//! In-band DTMF: the dual tones of [`Digits`], as 8 kHz 16-bit PCM, for a call where the
//! provider cannot send DTMF itself (Twilio Media Streams has no DTMF message: the tones
//! are played into the call's audio).

use super::dtmf::Digits;

/// Samples per second.
const RATE: f64 = 8000.0;
/// Each key sounds this long (ITU-T Q.24 asks for at least 40 ms).
pub const TONE_MS: u64 = 100;
/// Silence after each key.
pub const GAP_MS: u64 = 100;
/// Each tone's peak (two tones: at most 0.7 of full scale together).
const AMPLITUDE: f64 = 0.35 * i16::MAX as f64;

/// The (row, column) frequencies of a key, in Hz.
///
/// ```
/// use telephony_core::voice::dtmf_frequencies;
/// assert_eq!(dtmf_frequencies('5'), Some((770, 1336)));
/// assert_eq!(dtmf_frequencies('#'), Some((941, 1477)));
/// assert_eq!(dtmf_frequencies('w'), None);
/// ```
pub fn dtmf_frequencies(key: char) -> Option<(u32, u32)> {
    const ROWS: [u32; 4] = [697, 770, 852, 941];
    const COLS: [u32; 4] = [1209, 1336, 1477, 1633];
    const KEYS: [[char; 4]; 4] = [
        ['1', '2', '3', 'A'],
        ['4', '5', '6', 'B'],
        ['7', '8', '9', 'C'],
        ['*', '0', '#', 'D'],
    ];
    KEYS.iter().enumerate().find_map(|(r, row)| {
        row.iter()
            .position(|k| *k == key)
            .map(|c| (ROWS[r], COLS[c]))
    })
}

/// The digits as audio: each key [`TONE_MS`] of its two tones then [`GAP_MS`] of
/// silence; `w` half a second and `W` one second of silence.
///
/// ```
/// use telephony_core::voice::{Digits, dtmf_pcm};
/// let pcm = dtmf_pcm(&Digits::parse("1w2").unwrap());
/// // Two keys of 200 ms and a 500 ms pause, at 8 kHz.
/// assert_eq!(pcm.len(), 8 * (200 + 500 + 200));
/// ```
pub fn dtmf_pcm(digits: &Digits) -> Vec<i16> {
    let samples = |ms: u64| (ms * 8) as usize;
    let mut out = Vec::new();
    for c in digits.as_str().chars() {
        match c {
            'w' => out.resize(out.len() + samples(500), 0),
            'W' => out.resize(out.len() + samples(1000), 0),
            key => {
                if let Some((low, high)) = dtmf_frequencies(key) {
                    out.extend((0..samples(TONE_MS)).map(|n| {
                        let t = n as f64 / RATE;
                        let v = AMPLITUDE
                            * ((2.0 * std::f64::consts::PI * f64::from(low) * t).sin()
                                + (2.0 * std::f64::consts::PI * f64::from(high) * t).sin());
                        v.round() as i16
                    }));
                    out.resize(out.len() + samples(GAP_MS), 0);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The power of `freq` in `x` (Goertzel).
    fn power(x: &[i16], freq: f64) -> f64 {
        let k = 2.0 * (2.0 * std::f64::consts::PI * freq / RATE).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &v in x {
            let s = f64::from(v) + k * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - k * s1 * s2
    }

    #[test]
    fn each_key_carries_its_two_frequencies_and_no_other() {
        let all = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];
        for key in "0123456789ABCD*#".chars() {
            let pcm = dtmf_pcm(&Digits::parse(&key.to_string()).unwrap());
            let tone = &pcm[..800];
            assert!(
                pcm[800..].iter().all(|s| *s == 0),
                "{key}: the gap is silent"
            );
            let (low, high) = dtmf_frequencies(key).unwrap();
            let strongest = |range: &[f64]| {
                range
                    .iter()
                    .copied()
                    .max_by(|a, b| power(tone, *a).total_cmp(&power(tone, *b)))
                    .unwrap()
            };
            assert_eq!(strongest(&all[..4]), f64::from(low), "{key}");
            assert_eq!(strongest(&all[4..]), f64::from(high), "{key}");
            let others: f64 = all
                .iter()
                .filter(|f| **f != f64::from(low) && **f != f64::from(high))
                .map(|f| power(tone, *f))
                .fold(0.0, f64::max);
            assert!(power(tone, f64::from(low)) > 100.0 * others, "{key}");
        }
    }
}

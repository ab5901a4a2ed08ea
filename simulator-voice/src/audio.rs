//! The simulated caller's audio: G.711 μ-law at 8 kHz, the encoding of Twilio's Media
//! Streams and of Telnyx's media streaming (`PCMU`). A small, self-contained encoder (a
//! simulator plays the provider's side and keeps its own), test tones, and WAV files read
//! into μ-law.
//!
//! ```
//! use telephony_simulator_voice::audio::{decode_mulaw, encode_mulaw, tone_mulaw};
//! assert_eq!(encode_mulaw(&[0, 0]), [0xFF, 0xFF]); // μ-law silence
//! let beep = tone_mulaw(440.0, 20);
//! assert_eq!(beep.len(), 160); // 20 ms at 8000 samples a second
//! let back = decode_mulaw(&beep);
//! assert!(back.iter().any(|&s| s > 10_000) && back.iter().any(|&s| s < -10_000));
//! ```

/// μ-law bytes per second (8000 samples of one byte).
pub const MULAW_BYTES_PER_SECOND: u64 = 8000;

/// The μ-law byte of silence (linear 0).
pub const MULAW_SILENCE: u8 = 0xFF;

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// One 16-bit linear sample to μ-law (ITU-T G.711, with the usual bias of 132 and clip at
/// 32635).
fn encode_sample(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// One μ-law byte to a 16-bit linear sample.
fn decode_sample(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// 16-bit linear PCM samples to μ-law, one byte per sample.
pub fn encode_mulaw(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| encode_sample(s)).collect()
}

/// μ-law bytes to 16-bit linear PCM samples.
pub fn decode_mulaw(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| decode_sample(b)).collect()
}

/// A sine tone of `freq_hz` lasting `millis`, at half of full scale, as 8 kHz μ-law
/// (8 bytes a millisecond). The same arguments always give the same bytes.
pub fn tone_mulaw(freq_hz: f64, millis: u64) -> Vec<u8> {
    let n = millis * MULAW_BYTES_PER_SECOND / 1000;
    (0..n)
        .map(|i| {
            let t = i as f64 / MULAW_BYTES_PER_SECOND as f64;
            let v = (2.0 * std::f64::consts::PI * freq_hz * t).sin() * 16_384.0;
            encode_sample(v.round() as i16)
        })
        .collect()
}

/// Reads a WAV file's bytes into 8 kHz μ-law: mono, 8000 samples a second, either μ-law
/// already (format 7, 8 bits) or 16-bit linear PCM (format 1, converted). `WAVE_FORMAT_EXTENSIBLE`
/// files with one of those sub-formats are read too. Anything else is an error saying why.
///
/// ```
/// use telephony_simulator_voice::audio::wav_to_mulaw;
/// // A 16-bit PCM WAV with two samples: 0 and -1.
/// let mut wav = Vec::new();
/// wav.extend_from_slice(b"RIFF");
/// wav.extend_from_slice(&40u32.to_le_bytes());
/// wav.extend_from_slice(b"WAVEfmt ");
/// wav.extend_from_slice(&16u32.to_le_bytes());
/// for v in [1u16, 1] { wav.extend_from_slice(&v.to_le_bytes()); } // PCM, mono
/// wav.extend_from_slice(&8000u32.to_le_bytes());
/// wav.extend_from_slice(&16000u32.to_le_bytes());
/// for v in [2u16, 16] { wav.extend_from_slice(&v.to_le_bytes()); }
/// wav.extend_from_slice(b"data");
/// wav.extend_from_slice(&4u32.to_le_bytes());
/// wav.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
/// assert_eq!(wav_to_mulaw(&wav).unwrap(), [0xFF, 0x7F]);
/// assert!(wav_to_mulaw(b"RIFF....AVI ").unwrap_err().contains("not a WAVE file"));
/// ```
pub fn wav_to_mulaw(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a WAVE file (no RIFF/WAVE header)".into());
    }
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut format: Option<(u16, u16, u32, u16)> = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4) as usize;
        let body_start = at + 8;
        let body_end = body_start.saturating_add(size).min(bytes.len());
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err("the fmt chunk is shorter than 16 bytes".into());
                }
                let mut tag = u16_at(body, 0);
                if tag == 0xFFFE && body.len() >= 26 {
                    // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the tag.
                    tag = u16_at(body, 24);
                }
                format = Some((tag, u16_at(body, 2), u32_at(body, 4), u16_at(body, 14)));
            }
            b"data" => {
                let Some((tag, channels, rate, bits)) = format else {
                    return Err("the data chunk comes before any fmt chunk".into());
                };
                if channels != 1 {
                    return Err(format!("{channels} channels: only mono is supported"));
                }
                if rate != 8000 {
                    return Err(format!("{rate} Hz: only 8000 Hz is supported"));
                }
                return match (tag, bits) {
                    (7, 8) => Ok(body.to_vec()),
                    (1, 16) => Ok(body
                        .chunks_exact(2)
                        .map(|c| encode_sample(i16::from_le_bytes([c[0], c[1]])))
                        .collect()),
                    _ => Err(format!(
                        "format {tag} with {bits} bits a sample: only 8-bit μ-law (7) and 16-bit PCM (1) are supported"
                    )),
                };
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        at = body_start.saturating_add(size).saturating_add(size & 1);
    }
    Err("no data chunk".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_reference_points() {
        // Reference values of the G.711 μ-law table (bias 132, inverted bits).
        let cases: [(i16, u8); 10] = [
            (0, 0xFF),
            (-1, 0x7F),
            (1, 0xFF),
            (8, 0xFE),
            (-8, 0x7E),
            (100, 0xF2),
            (1000, 0xCE),
            (-1000, 0x4E),
            (32767, 0x80),
            (-32768, 0x00),
        ];
        for (sample, byte) in cases {
            assert_eq!(encode_sample(sample), byte, "encode {sample}");
        }
        assert_eq!(decode_sample(0xFF), 0);
        assert_eq!(decode_sample(0x80), 32124);
        assert_eq!(decode_sample(0x00), -32124);
        // Decoding then encoding is the identity on every byte but μ-law's "negative
        // zero" (0x7F decodes to 0, which encodes as 0xFF).
        for b in 0..=255u8 {
            let again = encode_sample(decode_sample(b));
            if b == 0x7F {
                assert_eq!(again, 0xFF);
            } else {
                assert_eq!(again, b, "byte {b:#04x}");
            }
        }
    }

    #[test]
    fn tones_are_deterministic_and_sized() {
        assert_eq!(tone_mulaw(440.0, 100).len(), 800);
        assert_eq!(tone_mulaw(440.0, 100), tone_mulaw(440.0, 100));
        assert_ne!(tone_mulaw(440.0, 100), tone_mulaw(880.0, 100));
        assert!(tone_mulaw(0.0, 20).iter().all(|&b| b == MULAW_SILENCE));
    }

    fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut w = b"RIFF\0\0\0\0WAVE".to_vec();
        w.extend_from_slice(b"LIST");
        w.extend_from_slice(&3u32.to_le_bytes());
        w.extend_from_slice(b"abc\0"); // odd chunk, padded
        w.extend_from_slice(b"fmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        for v in [tag, channels] {
            w.extend_from_slice(&v.to_le_bytes());
        }
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&(rate * u32::from(bits) / 8).to_le_bytes());
        for v in [bits / 8, bits] {
            w.extend_from_slice(&v.to_le_bytes());
        }
        w.extend_from_slice(b"data");
        w.extend_from_slice(&(data.len() as u32).to_le_bytes());
        w.extend_from_slice(data);
        w
    }

    #[test]
    fn reads_wav_files() {
        assert_eq!(
            wav_to_mulaw(&wav(7, 1, 8000, 8, &[1, 2, 3])).unwrap(),
            [1, 2, 3]
        );
        let pcm: Vec<u8> = [0i16, 1000, -1000]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        assert_eq!(
            wav_to_mulaw(&wav(1, 1, 8000, 16, &pcm)).unwrap(),
            [0xFF, 0xCE, 0x4E]
        );
        let errors = [
            (
                wav(1, 2, 8000, 16, &pcm),
                "2 channels: only mono is supported",
            ),
            (
                wav(1, 1, 16000, 16, &pcm),
                "16000 Hz: only 8000 Hz is supported",
            ),
            (
                wav(3, 1, 8000, 32, &pcm),
                "format 3 with 32 bits a sample: only 8-bit μ-law (7) and 16-bit PCM (1) are supported",
            ),
            (b"RIFF\0\0\0\0WAVE".to_vec(), "no data chunk"),
        ];
        for (bytes, message) in errors {
            assert_eq!(wav_to_mulaw(&bytes).unwrap_err(), message);
        }
    }
}

//! G.711 μ-law audio: the 8 kHz telephone encoding of real-time streams, converted to and
//! from 16-bit linear PCM exactly as ITU-T G.711 specifies, without allocating.
//!
//! # The code
//!
//! A μ-law byte is a sign bit, a 3-bit segment and a 4-bit step within the segment, with
//! all bits inverted on the wire: `0xFF` is zero, `0x80` the loudest positive level,
//! `0x00` the loudest negative one, and `0x7F` a "negative zero" that also decodes to 0.
//!
//! G.711 works on 14-bit samples (Table 2a/2b: decision values 0, 1, 3, …, 31, 35, …,
//! 8159 and reconstruction values at the middle of each interval, up to ±8031). Here
//! samples are 16-bit, the 14-bit values scaled by 4, as every 16-bit G.711 codec does:
//! decoding gives ±32124 at most, and encoding treats a 16-bit sample `x` as the 14-bit
//! value `⌊|x| / 4⌋` with the sign of `x`.
//!
//! # Decision values
//!
//! G.711 does not say on which side of a decision value an input exactly *on* it falls.
//! This encoder (the classic bias-`0x84` algorithm) is symmetric in magnitude: a
//! magnitude on a decision value goes to the interval above it, for both signs
//! (`4 → 0xFE`, `-4 → 0x7E`). ITU-T G.191's reference code instead complements negative
//! samples (one's complement), so it puts the 127 negative 16-bit inputs that sit exactly
//! on a decision value (`-4`, `-12`, …, `-32636`) one step nearer zero. Every other input
//! encodes identically, and decoding is the same everywhere.
//!
//! # Lengths
//!
//! The slice functions ([`decode_mulaw`], [`encode_mulaw`]) never panic: they convert
//! `min(input.len(), out.len())` samples and return that count, leaving the rest of `out`
//! untouched. The `_into` functions fill a `Vec`, reusing its capacity.
//!
//! ```
//! use telephony_core::audio::{decode_mulaw_into, encode_mulaw_into};
//! let mut pcm = Vec::with_capacity(160);
//! let mut mulaw = Vec::with_capacity(160);
//! decode_mulaw_into(&[0xFF; 160], &mut pcm); // 20 ms of silence
//! assert_eq!(pcm, [0i16; 160]);
//! encode_mulaw_into(&pcm, &mut mulaw);
//! assert_eq!(mulaw, [0xFFu8; 160]);
//! ```

/// Added to a magnitude before the segment search (33 in 14-bit units, scaled by 4): it
/// makes the segments' lower ends powers of two.
const BIAS: i32 = 0x84;

/// The largest magnitude encoded without clipping: `32635 + BIAS = 32767`. G.711's top
/// decision value is 8159 (14-bit), 32636 here; every magnitude from there on encodes to
/// the top level anyway.
const CLIP: i32 = 32635;

/// The 16-bit linear value of one μ-law byte (see the [module docs](self)).
const fn expand(code: u8) -> i16 {
    let u = !code;
    let segment = (u >> 4) & 0x07;
    let step = (u & 0x0F) as i32;
    // Middle of the step's interval, with the bias, then without it.
    let magnitude = (((step << 3) + BIAS) << segment) - BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// [`expand`] for every byte, computed at compile time.
const fn expand_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = expand(code as u8);
        code += 1;
    }
    table
}

/// The decoder: μ-law byte → 16-bit linear sample.
const MULAW_TO_LINEAR: [i16; 256] = expand_table();

/// Decodes one μ-law byte to a 16-bit linear sample (G.711's reconstruction value, scaled
/// by 4: from -32124 to 32124).
///
/// ```
/// use telephony_core::audio::mulaw_to_linear;
/// assert_eq!(mulaw_to_linear(0xFF), 0);
/// assert_eq!(mulaw_to_linear(0x7F), 0); // negative zero
/// assert_eq!(mulaw_to_linear(0x80), 32124);
/// assert_eq!(mulaw_to_linear(0x00), -32124);
/// assert_eq!(mulaw_to_linear(0xFE), 8);
/// ```
#[inline]
pub fn mulaw_to_linear(code: u8) -> i16 {
    MULAW_TO_LINEAR[usize::from(code)]
}

/// Encodes one 16-bit linear sample as a μ-law byte: sign, then the biased magnitude
/// (clipped at 32635) searched for its segment and step. Zero encodes to `0xFF`, never
/// to the negative zero `0x7F`; magnitudes from 32636 up saturate at `0x80`/`0x00`.
///
/// ```
/// use telephony_core::audio::linear_to_mulaw;
/// assert_eq!(linear_to_mulaw(0), 0xFF);
/// assert_eq!(linear_to_mulaw(32124), 0x80);
/// assert_eq!(linear_to_mulaw(i16::MAX), 0x80);
/// assert_eq!(linear_to_mulaw(i16::MIN), 0x00);
/// assert_eq!(linear_to_mulaw(-8), 0x7E);
/// ```
#[inline]
pub fn linear_to_mulaw(sample: i16) -> u8 {
    let sample = i32::from(sample);
    // The mask both sets the sign bit (positive) and inverts the code, as on the wire.
    let (mask, magnitude) = if sample < 0 {
        (0x7F, -sample)
    } else {
        (0xFF, sample)
    };
    // 132..=32767: the highest set bit is bit 7 to bit 14.
    let biased = magnitude.min(CLIP) + BIAS;
    // Segment search: segment s holds the biased magnitudes in [128 << s, 256 << s).
    let segment = (31 - biased.leading_zeros()) as i32 - 7;
    let step = (biased >> (segment + 3)) & 0x0F;
    ((segment << 4) | step) as u8 ^ mask
}

/// Decodes `min(input.len(), out.len())` μ-law bytes into `out` and returns that count;
/// the rest of `out` is left as it was. Never panics, never allocates.
///
/// ```
/// use telephony_core::audio::decode_mulaw;
/// let mut pcm = [1i16; 4];
/// assert_eq!(decode_mulaw(&[0xFF, 0x80, 0x00], &mut pcm), 3);
/// assert_eq!(pcm, [0, 32124, -32124, 1]);
/// ```
pub fn decode_mulaw(input: &[u8], out: &mut [i16]) -> usize {
    let n = input.len().min(out.len());
    for (sample, &code) in out[..n].iter_mut().zip(&input[..n]) {
        *sample = mulaw_to_linear(code);
    }
    n
}

/// Encodes `min(input.len(), out.len())` samples into `out` as μ-law and returns that
/// count; the rest of `out` is left as it was. Never panics, never allocates.
///
/// ```
/// use telephony_core::audio::encode_mulaw;
/// let mut mulaw = [0u8; 2];
/// assert_eq!(encode_mulaw(&[0, 32124, -32124], &mut mulaw), 2);
/// assert_eq!(mulaw, [0xFF, 0x80]);
/// ```
pub fn encode_mulaw(input: &[i16], out: &mut [u8]) -> usize {
    let n = input.len().min(out.len());
    for (code, &sample) in out[..n].iter_mut().zip(&input[..n]) {
        *code = linear_to_mulaw(sample);
    }
    n
}

/// Replaces the contents of `out` with the decoded `input` (one sample per byte). Reuses
/// `out`'s buffer: nothing is allocated when its capacity is at least `input.len()`.
///
/// ```
/// use telephony_core::audio::decode_mulaw_into;
/// let mut pcm = vec![7i16; 10];
/// decode_mulaw_into(&[0x80, 0x7F], &mut pcm);
/// assert_eq!(pcm, [32124, 0]);
/// ```
pub fn decode_mulaw_into(input: &[u8], out: &mut Vec<i16>) {
    out.clear();
    out.extend(input.iter().map(|&code| mulaw_to_linear(code)));
}

/// Replaces the contents of `out` with the encoded `input` (one byte per sample). Reuses
/// `out`'s buffer: nothing is allocated when its capacity is at least `input.len()`.
///
/// ```
/// use telephony_core::audio::encode_mulaw_into;
/// let mut mulaw = Vec::new();
/// encode_mulaw_into(&[0, -32124], &mut mulaw);
/// assert_eq!(mulaw, [0xFF, 0x00]);
/// ```
pub fn encode_mulaw_into(input: &[i16], out: &mut Vec<u8>) {
    out.clear();
    out.extend(input.iter().map(|&sample| linear_to_mulaw(sample)));
}

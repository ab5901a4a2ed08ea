//! G.711 μ-law against the standard, not against the implementation: ITU-T G.711
//! Table 2a/2b (μ-law decision and reconstruction values, 14-bit), whose segment
//! endpoints are also quoted in the comp.dsp post "mu-law encoding - definition?"
//! (Gingell, 1992: 8159, 4063, 2015, 991, 479, 223, 95, 31, 1, 0) and whose 16-bit
//! scaling (×4) is the decoder table of Sun's and ITU-T G.191's `g711.c`
//! (-32124, -31100, -30076, …).

use telephony_core::audio::{
    decode_mulaw, decode_mulaw_into, encode_mulaw, encode_mulaw_into, linear_to_mulaw,
    mulaw_to_linear,
};

/// G.711 Table 2a, μ-law positive inputs, 14-bit magnitudes, as written in the standard:
/// per segment, the (wire) code of its lowest interval, the segment's lower decision
/// value, the interval width, and the number of intervals. Codes go down by one per
/// interval as the magnitude goes up. Code 0xFF is the interval [0, 1) with output 0.
const SEGMENTS: [(u8, i32, i32, i32); 8] = [
    (0xFE, 1, 2, 15),
    (0xEF, 31, 4, 16),
    (0xDF, 95, 8, 16),
    (0xCF, 223, 16, 16),
    (0xBF, 479, 32, 16),
    (0xAF, 991, 64, 16),
    (0x9F, 2015, 128, 16),
    (0x8F, 4063, 256, 16),
];

/// The top decision value (14-bit): the end of the last interval.
const TOP_DECISION: i32 = 8159;

/// One μ-law interval of the standard, positive side, 14-bit.
#[derive(Debug, Clone, Copy)]
struct Interval {
    code: u8,
    /// Lower decision value (inclusive).
    lower: i32,
    /// Upper decision value (exclusive).
    upper: i32,
    /// The decoder's output value y_n.
    output: i32,
}

/// The 128 positive intervals from [`SEGMENTS`], in increasing magnitude.
fn intervals() -> Vec<Interval> {
    let mut all = vec![Interval {
        code: 0xFF,
        lower: 0,
        upper: 1,
        output: 0,
    }];
    for (first_code, lower, step, count) in SEGMENTS {
        for k in 0..count {
            let lo = lower + k * step;
            all.push(Interval {
                code: first_code - k as u8,
                lower: lo,
                upper: lo + step,
                output: lo + step / 2,
            });
        }
    }
    all
}

#[test]
fn the_transcribed_table_is_consistent() {
    let all = intervals();
    assert_eq!(all.len(), 128);
    for pair in all.windows(2) {
        assert_eq!(pair[0].upper, pair[1].lower, "{pair:?}");
        assert_eq!(pair[0].code, pair[1].code + 1, "{pair:?}");
    }
    assert_eq!(all.last().unwrap().upper, TOP_DECISION);
    assert_eq!(all.last().unwrap().code, 0x80);
}

/// Reconstruction values at the segment ends, G.711 Table 2a (14-bit).
const ENDPOINT_OUTPUTS: [(u8, i32); 17] = [
    (0xFF, 0),
    (0xFE, 2),
    (0xF0, 30),
    (0xEF, 33),
    (0xE0, 93),
    (0xDF, 99),
    (0xD0, 219),
    (0xCF, 231),
    (0xC0, 471),
    (0xBF, 495),
    (0xB0, 975),
    (0xAF, 1023),
    (0xA0, 1983),
    (0x9F, 2079),
    (0x90, 3999),
    (0x8F, 4191),
    (0x80, 8031),
];

#[test]
fn decode_segment_endpoints_match_the_standard() {
    for (code, y) in ENDPOINT_OUTPUTS {
        assert_eq!(i32::from(mulaw_to_linear(code)), 4 * y, "{code:#04x}");
        assert_eq!(
            i32::from(mulaw_to_linear(code & 0x7F)),
            -4 * y,
            "{code:#04x}"
        );
    }
    assert_eq!(mulaw_to_linear(0x00), -32124);
    assert_eq!(mulaw_to_linear(0x7F), 0);
    assert_eq!(mulaw_to_linear(0x80), 32124);
    assert_eq!(mulaw_to_linear(0xFF), 0);
}

#[test]
fn decode_first_row_matches_the_published_16_bit_table() {
    let row: [i16; 16] = [
        -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956, -23932, -22908, -21884,
        -20860, -19836, -18812, -17788, -16764,
    ];
    for (code, want) in row.iter().enumerate() {
        assert_eq!(mulaw_to_linear(code as u8), *want, "{code:#04x}");
    }
    assert_eq!(mulaw_to_linear(0x10), -15996);
    assert_eq!(mulaw_to_linear(0x70), -120);
    assert_eq!(mulaw_to_linear(0x7E), -8);
}

#[test]
fn all_256_decode_values_are_the_standards_reconstruction_levels() {
    for interval in intervals() {
        let y = 4 * interval.output;
        assert_eq!(i32::from(mulaw_to_linear(interval.code)), y, "{interval:?}");
        // Table 2b: negative inputs mirror the positive ones, sign bit clear.
        assert_eq!(
            i32::from(mulaw_to_linear(interval.code & 0x7F)),
            -y,
            "{interval:?}"
        );
    }
}

#[test]
fn encode_each_decision_value() {
    for pair in intervals().windows(2) {
        let (below, above) = (pair[0], pair[1]);
        let d = 4 * above.lower; // the decision value, 16-bit
        assert_eq!(linear_to_mulaw(d as i16), above.code, "{d}");
        assert_eq!(linear_to_mulaw((d - 1) as i16), below.code, "{}", d - 1);
        // Symmetric in magnitude (see the module docs on G.191's one's complement).
        assert_eq!(linear_to_mulaw(-d as i16), above.code & 0x7F, "{}", -d);
        assert_eq!(
            linear_to_mulaw(-(d - 1) as i16),
            below.code & 0x7F,
            "{}",
            1 - d
        );
    }
    // The top decision value and beyond: overload, the top level.
    for x in [4 * TOP_DECISION - 1, 4 * TOP_DECISION, i32::from(i16::MAX)] {
        assert_eq!(linear_to_mulaw(x as i16), 0x80, "{x}");
        assert_eq!(linear_to_mulaw(-x as i16), 0x00, "{}", -x);
    }
    assert_eq!(linear_to_mulaw(i16::MIN), 0x00);
    assert_eq!(linear_to_mulaw(0), 0xFF);
    assert_eq!(linear_to_mulaw(3), 0xFF);
    assert_eq!(linear_to_mulaw(-3), 0x7F);
}

#[test]
fn encode_every_sample_by_the_decision_table() {
    let all = intervals();
    for x in i16::MIN..=i16::MAX {
        let m = (i32::from(x).abs() / 4).min(TOP_DECISION - 1);
        let interval = all
            .iter()
            .find(|i| i.lower <= m && m < i.upper)
            .expect("the table covers 0..8159");
        let want = if x < 0 {
            interval.code & 0x7F
        } else {
            interval.code
        };
        assert_eq!(linear_to_mulaw(x), want, "{x}");
    }
}

#[test]
fn encode_of_decode_is_the_identity_but_for_negative_zero() {
    for code in 0..=255u8 {
        let want = if code == 0x7F { 0xFF } else { code };
        assert_eq!(linear_to_mulaw(mulaw_to_linear(code)), want, "{code:#04x}");
    }
}

#[test]
fn round_trip_error_is_at_most_half_a_step() {
    let all = intervals();
    let mut previous = i16::MIN;
    for x in i16::MIN..=i16::MAX {
        let y = mulaw_to_linear(linear_to_mulaw(x));
        let (x32, y32) = (i32::from(x), i32::from(y));
        assert!(y >= previous, "not monotonic at {x}");
        previous = y;
        if x32.abs() <= 32635 {
            // Half the G.711 interval width (scaled by 4), and so at most 1/32 of the
            // biased magnitude: about -30 dB of quantisation noise at every level.
            let m = x32.abs() / 4;
            let interval = all.iter().find(|i| i.lower <= m && m < i.upper).unwrap();
            let half_step = 4 * (interval.upper - interval.lower) / 2;
            let err = (y32 - x32).abs();
            assert!(err <= half_step.max(4), "{x} -> {y}: {err} > {half_step}");
            assert!(32 * err <= x32.abs() + 132, "{x} -> {y}");
        } else {
            assert_eq!(y32, 32124 * x32.signum(), "{x} clips");
        }
    }
}

#[test]
fn slices_convert_the_common_length_and_report_it() {
    let codes: Vec<u8> = (0..=255).collect();
    let mut pcm = vec![0i16; 256];
    assert_eq!(decode_mulaw(&codes, &mut pcm), 256);
    for (code, sample) in codes.iter().zip(&pcm) {
        assert_eq!(*sample, mulaw_to_linear(*code));
    }
    let mut back = vec![0u8; 256];
    assert_eq!(encode_mulaw(&pcm, &mut back), 256);
    let mut want = codes.clone();
    want[0x7F] = 0xFF;
    assert_eq!(back, want);

    // Shorter output: only what fits; shorter input: the rest untouched.
    let mut short = [9i16; 2];
    assert_eq!(decode_mulaw(&[0x80, 0x00, 0xFF], &mut short), 2);
    assert_eq!(short, [32124, -32124]);
    let mut long = [9i16; 4];
    assert_eq!(decode_mulaw(&[0x80], &mut long), 1);
    assert_eq!(long, [32124, 9, 9, 9]);
    let mut bytes = [1u8; 3];
    assert_eq!(encode_mulaw(&[0, 0], &mut bytes), 2);
    assert_eq!(bytes, [0xFF, 0xFF, 1]);
    assert_eq!(encode_mulaw(&[], &mut bytes), 0);
    assert_eq!(decode_mulaw(&[1, 2], &mut []), 0);
}

#[test]
fn into_vec_reuses_the_buffer() {
    let frame: Vec<u8> = (0..160).map(|i| (i * 7 % 256) as u8).collect();
    let mut pcm: Vec<i16> = Vec::with_capacity(320);
    pcm.extend([5, 5, 5]);
    let (ptr, cap) = (pcm.as_ptr(), pcm.capacity());
    for _ in 0..3 {
        decode_mulaw_into(&frame, &mut pcm);
        assert_eq!(pcm.len(), 160);
        assert_eq!((pcm.as_ptr(), pcm.capacity()), (ptr, cap));
    }
    let want: Vec<i16> = frame.iter().map(|&c| mulaw_to_linear(c)).collect();
    assert_eq!(pcm, want);

    let mut mulaw: Vec<u8> = Vec::with_capacity(160);
    let (ptr, cap) = (mulaw.as_ptr(), mulaw.capacity());
    encode_mulaw_into(&pcm, &mut mulaw);
    assert_eq!((mulaw.as_ptr(), mulaw.capacity()), (ptr, cap));
    let want: Vec<u8> = frame
        .iter()
        .map(|&c| if c == 0x7F { 0xFF } else { c })
        .collect();
    assert_eq!(mulaw, want);

    // Too small: it grows, and the contents are replaced, not appended.
    let mut small = vec![1i16; 2];
    decode_mulaw_into(&[0xFF; 5], &mut small);
    assert_eq!(small, [0; 5]);
    decode_mulaw_into(&[], &mut small);
    assert!(small.is_empty());
}

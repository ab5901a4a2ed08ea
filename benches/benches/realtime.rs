//! Criterion benchmarks of the real-time voice hot path, per 20 ms frame (160 bytes of
//! μ-law at 8 kHz), with no I/O:
//!
//! - `g711`: decoding a frame to 16-bit PCM and encoding it back, into reused buffers
//!   (`telephony_core::audio::*_into`: no allocation once the buffers have grown);
//! - `twilio_stream`: [`Realtime::decode_stream`] of Twilio's `media` message (JSON with
//!   numbers as strings and a base64 payload) into a `StreamEvent::Audio`, and
//!   [`Realtime::encode_stream`] of a 160-byte `StreamCommand::Audio` into Twilio's JSON;
//! - `twilio_relay`: decoding a `prompt` and encoding a `text` token.
//!
//! Together they are the gateway's own work between a frame arriving and the handler
//! seeing it, and between the handler's audio and the frame leaving (the socket and the
//! channel hop aside). Run with `cargo bench -p telephony-benches --bench realtime`.

use base64::Engine;
use criterion::{Criterion, Throughput, black_box};
use telephony_core::Provider;
use telephony_core::audio;
use telephony_core::voice::{RelayCommand, StreamCommand, StreamEvent};
use telephony_twilio::{TwilioConfig, TwilioProvider};

fn frame() -> Vec<u8> {
    // A 440 Hz tone, one 20 ms frame.
    (0..160)
        .map(|i| {
            let t = i as f64 / 8000.0;
            audio::linear_to_mulaw((8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16)
        })
        .collect()
}

fn g711(c: &mut Criterion) {
    let mulaw = frame();
    let mut pcm = Vec::with_capacity(160);
    let mut back = Vec::with_capacity(160);
    let mut g = c.benchmark_group("g711");
    g.throughput(Throughput::Bytes(160));
    g.bench_function("decode_frame_160", |b| {
        b.iter(|| {
            audio::decode_mulaw_into(black_box(&mulaw), &mut pcm);
            black_box(&pcm);
        })
    });
    audio::decode_mulaw_into(&mulaw, &mut pcm);
    g.bench_function("encode_frame_160", |b| {
        b.iter(|| {
            audio::encode_mulaw_into(black_box(&pcm), &mut back);
            black_box(&back);
        })
    });
    g.finish();
    assert_eq!(back, mulaw, "μ-law → PCM → μ-law is exact");
}

fn provider() -> TwilioProvider {
    TwilioProvider::new(
        TwilioConfig::new(
            "AC00000000000000000000000000000001",
            "12345678901234567890123456789012",
        )
        .from_number("+15550001234".parse().unwrap()),
    )
    .unwrap()
}

fn twilio_stream(c: &mut Criterion) {
    let p = provider();
    let rt = p.realtime().expect("Twilio has real-time protocols");
    let mulaw = frame();
    let payload = base64::engine::general_purpose::STANDARD.encode(&mulaw);
    let media = format!(
        r#"{{"event":"media","sequenceNumber":"4","media":{{"track":"inbound","chunk":"2","timestamp":"5","payload":"{payload}"}},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}}"#
    );
    match rt.decode_stream(&media).unwrap() {
        StreamEvent::Audio(f) => assert_eq!(f.mulaw, mulaw),
        other => panic!("not audio: {other:?}"),
    }
    let mut g = c.benchmark_group("twilio_stream");
    g.bench_function("decode_media_frame", |b| {
        b.iter(|| black_box(rt.decode_stream(black_box(&media)).unwrap()))
    });
    let cmd = StreamCommand::Audio(mulaw.clone());
    g.bench_function("encode_media_frame", |b| {
        b.iter(|| {
            black_box(rt.encode_stream("MZ18ad3ab5a668481ce02b83e7395059f0", black_box(&cmd)))
        })
    });
    g.finish();
}

fn twilio_relay(c: &mut Criterion) {
    let p = provider();
    let rt = p.realtime().unwrap();
    let prompt = r#"{"type":"prompt","voicePrompt":"What are your opening hours on Saturday?","lang":"en-US","last":true}"#;
    rt.decode_relay(prompt).unwrap();
    let mut g = c.benchmark_group("twilio_relay");
    g.bench_function("decode_prompt", |b| {
        b.iter(|| black_box(rt.decode_relay(black_box(prompt)).unwrap()))
    });
    let token = RelayCommand::Text {
        token: "We are open ".into(),
        last: false,
        interruptible: None,
        preemptible: None,
    };
    g.bench_function("encode_text_token", |b| {
        b.iter(|| black_box(rt.encode_relay(black_box(&token))))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
}

// What `criterion_group!`/`criterion_main!` expand to, written out so every item is documented.
fn main() {
    let mut c = config().configure_from_args();
    g711(&mut c);
    twilio_stream(&mut c);
    twilio_relay(&mut c);
    c.final_summary();
}

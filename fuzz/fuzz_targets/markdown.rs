//! Markdown flattening and the SMS chunker. Properties: no panic; flattening is total;
//! chunks are never empty; `single` mode gives at most one message; the numbering prefix
//! appears only with two or more messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telephony_core::sms::{chunk, flatten_markdown, ChunkMode, ChunkOptions};

fuzz_target!(|input: (String, u16, u8)| {
    let (text, max, flags) = input;
    let flat = flatten_markdown(&text);
    let opts = ChunkOptions {
        mode: match flags % 3 {
            0 => ChunkMode::Auto,
            1 => ChunkMode::Single,
            _ => ChunkMode::Multi,
        },
        max_length: usize::from(max % 2000),
        segment_numbering: flags & 0x80 != 0,
    };
    let Ok(chunks) = chunk(&flat, &opts) else {
        return;
    };
    assert!(chunks.iter().all(|c| !c.is_empty()), "empty chunk in {chunks:?}");
    if opts.mode == ChunkMode::Single {
        assert!(chunks.len() <= 1, "single mode gave {}", chunks.len());
    }
    // Unless the text itself starts like a prefix (a first run found exactly that input).
    if opts.segment_numbering && chunks.len() == 1 && !flat.starts_with("(1/1) ") {
        assert!(!chunks[0].starts_with("(1/1) "), "{chunks:?}");
    }
});

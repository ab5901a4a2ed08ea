//! `telephony segments`: how a text is encoded and chunked into messages.

use serde_json::json;

use crate::context::{CliError, Context};
use crate::output;

pub(super) fn segments(ctx: Context, text: String, json: bool) -> Result<(), CliError> {
    use telephony_core::sms::{analyze, chunk, flatten_markdown};
    let opts = ctx.config.chunk_options();
    let flat = flatten_markdown(&text);
    let info = analyze(&flat);
    let chunks = chunk(&flat, &opts).map_err(|e| CliError::config(e.to_string()))?;
    let per_chunk: Vec<serde_json::Value> = chunks
        .iter()
        .map(|c| {
            let a = analyze(c);
            json!({ "text": c, "encoding": a.encoding, "characters": a.characters, "segments": a.segments })
        })
        .collect();
    if json {
        output::print_json(&json!({
            "encoding": info.encoding,
            "characters": info.characters,
            "codeUnits": info.code_units,
            "segments": info.segments,
            "unicodeCharacters": info.unicode_characters,
            "chunkMode": ctx.config.sms.chunk_mode,
            "maxLength": opts.max_length,
            "messages": per_chunk,
        }));
    } else {
        let enc = serde_json::to_value(info.encoding)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "encoding {enc}, {} characters, {} segment(s)",
            info.characters, info.segments
        );
        if !info.unicode_characters.is_empty() {
            println!("UCS-2 because of: {}", info.unicode_characters.join(" "));
        }
        println!(
            "{} message(s) with chunkMode {:?}, maxLength {}:",
            chunks.len(),
            ctx.config.sms.chunk_mode,
            opts.max_length
        );
        for (i, c) in per_chunk.iter().enumerate() {
            println!(
                "--- {} ({} characters, {} segment(s))",
                i + 1,
                c["characters"],
                c["segments"]
            );
            println!("{}", c["text"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}

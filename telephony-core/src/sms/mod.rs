//! Provider-neutral SMS text tools: Markdown flattening, GSM-7/UCS-2 segment
//! counting, and splitting long texts into messages.
//!
//! A typical send path flattens an assistant's Markdown reply, splits it into
//! messages, and checks what each one will cost:
//!
//! ```
//! use telephony_core::sms::{analyze, chunk, flatten_markdown, ChunkMode, ChunkOptions, Encoding};
//!
//! let reply = "**Thanks!** Your table for 2 is booked at *7pm*.\n\n\n\
//!              Details: [booking](https://example.com/b/42)";
//! let text = flatten_markdown(reply);
//! assert_eq!(text, "Thanks! Your table for 2 is booked at 7pm.\n\nDetails: booking (https://example.com/b/42)");
//!
//! let messages = chunk(&text, &ChunkOptions::default())?;
//! assert_eq!(messages.len(), 1);
//!
//! let info = analyze(&messages[0]);
//! assert_eq!(info.encoding, Encoding::Gsm7);
//! assert_eq!(info.characters, 87);
//! assert_eq!(info.segments, 1);
//!
//! // One segment per message, numbered, for carriers or handsets that do not
//! // join segments.
//! let opts = ChunkOptions { mode: ChunkMode::Multi, segment_numbering: true, ..Default::default() };
//! for message in chunk(&"All good here. ".repeat(20), &opts)? {
//!     assert_eq!(analyze(&message).segments, 1);
//! }
//! # Ok::<(), telephony_core::sms::ChunkError>(())
//! ```
//!
//! * [`flatten_markdown`]: Markdown → plain text (links kept as `label (url)`).
//! * [`analyze`]: encoding, characters, code units and segment count, following
//!   Twilio's segment calculator (see [`segments`] for the rules).
//! * [`chunk()`]: split into messages within a length limit (the provider's body limit, e.g.
//!   Twilio's 1600 characters) or into single-segment messages, at paragraph, line or word
//!   breaks.

pub mod chunk;
pub mod markdown;
pub mod segments;

pub use chunk::{ChunkError, ChunkMode, ChunkOptions, chunk};
pub use markdown::flatten_markdown;
pub use segments::{Encoding, SegmentInfo, analyze};

//! What the real-time route and the stream proxy share about WebSockets: the frame limit,
//! close frames with a reason, and read errors mapped to close codes.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use telephony_core::error_chain;

/// Largest accepted frame or message.
pub(crate) const MAX_FRAME: usize = 64 * 1024;

pub(crate) async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    // The reason must fit a control frame (123 bytes).
    let mut reason = reason.to_string();
    while reason.len() > 120 {
        reason.pop();
    }
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    // The peer may already be gone; nothing more to tell it then.
    let _ = socket.send(Message::Close(Some(frame))).await;
}

pub(crate) fn read_error(e: &axum::Error) -> (u16, String) {
    let text = error_chain(e);
    if text.contains("too long") || text.contains("Space limit") || text.contains("size") {
        (1009, format!("frame too big (at most {MAX_FRAME} bytes)"))
    } else {
        (1011, format!("socket error: {text}"))
    }
}

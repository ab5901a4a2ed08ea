//! `axum-hello`: the framework's own ceiling, for `benches/compare-axum.sh`.
//!
//! An axum server with nothing else in it: every `POST` (any path) has its body read to
//! the end and is answered 200 with the gateway's own acknowledgement (empty TwiML,
//! `text/xml`), so the bytes on the wire match the gateway's; anything else is 404. It
//! runs on a multi-thread tokio runtime with one worker per CPU, as `telephony serve`
//! does, sets `TCP_NODELAY` as the gateway's listener does, and prints its address once
//! it listens.
//!
//! ```text
//! axum-hello                        # 127.0.0.1 and a free port, printed on stdout
//! axum-hello 127.0.0.1:3399
//! ```
//!
//! It also serves as the forward receiver in `compare-axum.sh --forward`.

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::serve::ListenerExt;

/// Twilio's empty TwiML, as the gateway answers an inbound SMS.
const ACK: &str = telephony_twilio::twiml::EMPTY_RESPONSE;

async fn hello(body: Bytes) -> impl IntoResponse {
    // The body is read to the end by the extractor; its length is all we look at.
    let _ = body.len();
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], ACK)
}

fn main() -> std::process::ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("axum-hello: could not start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("binding {addr:?}: {e}"))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("local address: {e}"))?;
        println!("http://{local}");
        let app = Router::new()
            .route("/", post(hello))
            .route("/{*path}", post(hello));
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .await
            .map_err(|e| format!("serving: {e}"))
    });
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("axum-hello: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

//! A loopback stand-in for a provider's REST API: records every request and answers each
//! with the case's [`ProviderAnswer`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use telephony_core::sync::lock;
use tokio::sync::oneshot;

use crate::ProviderAnswer;

/// One request the mock API received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query, as requested.
    pub path: String,
    /// Headers in arrival order, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Shared {
    /// One answer per request in order; the last repeats.
    answers: Vec<ProviderAnswer>,
    requests: Vec<RecordedRequest>,
}

/// A mock provider API on `127.0.0.1:<ephemeral port>`; it stops when dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use telephony_conformance::{MockProviderApi, ProviderAnswer};
/// let api = MockProviderApi::start(ProviderAnswer::json(201, serde_json::json!({"id": "m1"}))).await?;
/// assert!(api.url().starts_with("http://127.0.0.1:"));
/// assert!(api.requests().is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MockProviderApi {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Option<oneshot::Sender<()>>,
}

impl MockProviderApi {
    /// Binds an ephemeral loopback port and serves `answer` to every request.
    pub async fn start(answer: ProviderAnswer) -> std::io::Result<Self> {
        Self::start_sequence(vec![answer]).await
    }

    /// Binds an ephemeral loopback port and answers the first request with the first
    /// answer, the second with the second, and every later one with the last (a `599`
    /// naming the mistake when `answers` is empty).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use telephony_conformance::{MockProviderApi, ProviderAnswer};
    /// let api = MockProviderApi::start_sequence(vec![
    ///     ProviderAnswer::json(200, serde_json::json!({"data": {"result": "ok"}})),
    ///     ProviderAnswer::json(422, serde_json::json!({"errors": [{"code": "90018"}]})),
    /// ])
    /// .await?;
    /// let client = reqwest::Client::new();
    /// let statuses = [
    ///     client.post(format!("{}/a", api.url())).send().await.unwrap().status().as_u16(),
    ///     client.post(format!("{}/b", api.url())).send().await.unwrap().status().as_u16(),
    ///     client.post(format!("{}/c", api.url())).send().await.unwrap().status().as_u16(),
    /// ];
    /// assert_eq!(statuses, [200, 422, 422]);
    /// assert_eq!(api.requests()[1].path, "/b");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_sequence(answers: Vec<ProviderAnswer>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            answers,
            requests: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(record_and_answer)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(MockProviderApi {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// The base URL, `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// Answers later requests with `answer`.
    pub fn set_answer(&self, answer: ProviderAnswer) {
        lock(&self.shared).answers = vec![answer];
    }

    /// Answers the requests from now on as [`start_sequence`](Self::start_sequence)
    /// does, counting from the first request ever received.
    pub fn set_answers(&self, answers: Vec<ProviderAnswer>) {
        lock(&self.shared).answers = answers;
    }
}

impl Drop for MockProviderApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn record_and_answer(State(shared): State<Arc<Mutex<Shared>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // A body that fails to arrive is recorded as empty; the case then fails on it.
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| parts.uri.path().to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let answer = {
        let mut shared = lock(&shared);
        let i = shared
            .requests
            .len()
            .min(shared.answers.len().saturating_sub(1));
        shared.requests.push(recorded);
        shared
            .answers
            .get(i)
            .cloned()
            .unwrap_or_else(|| ProviderAnswer {
                status: 599,
                headers: Default::default(),
                body: Some("the mock provider API was given no answers".into()),
                json: None,
            })
    };
    let mut response = Response::builder().status(answer.status);
    if let Some(ct) = answer.content_type() {
        response = response.header(http::header::CONTENT_TYPE, ct);
    }
    for (name, value) in &answer.headers {
        if !name.eq_ignore_ascii_case("content-type") {
            response = response.header(name.as_str(), value.as_str());
        }
    }
    response
        .body(Body::from(answer.body_bytes()))
        .unwrap_or_else(|e| {
            Response::builder()
                .status(599)
                .body(Body::from(format!(
                    "the case's provider_answer is not a valid HTTP answer: {e}"
                )))
                .unwrap_or_default()
        })
}

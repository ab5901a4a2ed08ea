//! Helpers several test modules share: a sandbox gateway, a signed inbound SMS, polling,
//! config files and environments, and the one process-wide log capture ([`logs`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use telephony::config::Config;
use telephony::server::{self, RunningGateway, ServeError, ServeOptions};
use telephony_serve::MessageHandler;
use telephony_twilio_simulator::InboundSms;

pub(crate) mod logs;
pub(crate) mod postgres;

/// Starts `cfg` in sandbox mode (against the provider's simulator), with no handler.
pub(crate) async fn start(cfg: &Config) -> Result<RunningGateway, ServeError> {
    start_with(cfg, None).await
}

/// Starts `cfg` in sandbox mode with `handler` as the application's handler.
pub(crate) async fn start_with(
    cfg: &Config,
    handler: Option<Arc<dyn MessageHandler>>,
) -> Result<RunningGateway, ServeError> {
    server::start(
        cfg,
        ServeOptions {
            sandbox: true,
            handler,
        },
    )
    .await
}

/// POSTs `sms`, signed as Twilio signs it with the sandbox's credentials, to the gateway's
/// webhook URL; returns the HTTP status.
pub(crate) async fn post_inbound(gw: &RunningGateway, sms: &InboundSms) -> u16 {
    let token = gw.runtime.sandbox_auth_token.clone().unwrap();
    let (body, sig) = sms.signed(&token, &gw.runtime.webhook_url);
    reqwest::Client::new()
        .post(&gw.runtime.webhook_url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header("x-twilio-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls `f` every 25 ms until it holds; panics naming `what` after 15 s (the retry tests
/// wait out real backoffs, 1 s and 2 s, and Retry-After).
pub(crate) async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// `pairs` as an environment for [`Config::load_with_env`].
pub(crate) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Writes `body` to `dir/name`; returns the path.
pub(crate) fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

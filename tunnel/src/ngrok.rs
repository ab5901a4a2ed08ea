//! ngrok, in-process through the `ngrok` crate (no ngrok binary).
//!
//! The session authenticates with the auth token (`tunnel.ngrokAuthToken`, else the
//! `NGROK_AUTHTOKEN` environment variable), opens an HTTP endpoint (on `tunnel.domain`
//! when set: a reserved or static domain keeps the URL across restarts, so Twilio's
//! webhook settings stay right) and forwards its connections to the gateway's public
//! listener. With [`Ngrok::verify_twilio`], ngrok's edge also checks Twilio's signature
//! before forwarding (the gateway still checks it too).
//!
//! TLS: the crate is built with its `ring` backend, the same rustls provider `reqwest`
//! uses in this workspace, so exactly one provider is compiled in and rustls never has to
//! guess (two providers make rustls panic at the first handshake unless one is installed
//! as the default).
//!
//! Dropping the [`TunnelHandle`] (or [`TunnelHandle::close`]) drops the forwarder and the
//! session, which closes the endpoint at ngrok.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use ngrok::config::ForwarderBuilder as _;
use ngrok::prelude::*;

use crate::{Teardown, Tunnel, TunnelError, TunnelHandle};

const NAME: &str = "ngrok";
/// How long connecting to ngrok and opening the endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Where ngrok's servers are (the crate's default).
const DEFAULT_SERVER: &str = "connect.ngrok-agent.com:443";

/// An ngrok HTTP endpoint forwarding to the gateway.
///
/// ```no_run
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use telephony_tunnel::{Ngrok, Tunnel};
/// let ngrok = Ngrok::new()
///     .authtoken("2abc…") // or NGROK_AUTHTOKEN
///     .domain("my-gateway.ngrok.app");
/// let handle = ngrok.start("127.0.0.1:3335".parse().unwrap()).await?;
/// assert_eq!(handle.url(), "https://my-gateway.ngrok.app");
/// # Ok::<(), telephony_tunnel::TunnelError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct Ngrok {
    authtoken: Option<String>,
    domain: Option<String>,
    verify_twilio: Option<String>,
    server_addr: Option<String>,
}

impl fmt::Debug for Ngrok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ngrok")
            .field("authtoken", &self.authtoken.as_ref().map(|_| "<redacted>"))
            .field("domain", &self.domain)
            .field("verify_twilio", &self.verify_twilio.is_some())
            .field("server_addr", &self.server_addr)
            .finish()
    }
}

impl Ngrok {
    /// An endpoint on a random ngrok domain, with the token from `NGROK_AUTHTOKEN`.
    pub fn new() -> Self {
        Ngrok::default()
    }

    /// The auth token (takes precedence over `NGROK_AUTHTOKEN`).
    pub fn authtoken(mut self, token: impl Into<String>) -> Self {
        self.authtoken = Some(token.into());
        self
    }

    /// A reserved or static domain (`my-gateway.ngrok.app`), so the URL survives restarts.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Has ngrok's edge verify Twilio's `X-Twilio-Signature` with this auth token before
    /// forwarding (in addition to the gateway's own check).
    pub fn verify_twilio(mut self, twilio_auth_token: impl Into<String>) -> Self {
        self.verify_twilio = Some(twilio_auth_token.into());
        self
    }

    /// The ngrok server to connect to (`host:port`; default ngrok's own). For self-hosted
    /// or test setups.
    pub fn server_addr(mut self, addr: impl Into<String>) -> Self {
        self.server_addr = Some(addr.into());
        self
    }

    /// The token to use: the configured one, else `env` (`NGROK_AUTHTOKEN`).
    fn token(&self, env: Option<String>) -> Result<String, TunnelError> {
        let token = self
            .authtoken
            .clone()
            .or(env)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        token.ok_or_else(|| TunnelError::Config {
            tunnel: NAME,
            reason: "no auth token: set tunnel.ngrokAuthToken or NGROK_AUTHTOKEN (your token is at https://dashboard.ngrok.com/get-started/your-authtoken)".into(),
        })
    }
}

/// What an authentication failure from ngrok means, from its error code.
pub(crate) fn auth_failure(code: Option<&str>, message: &str) -> String {
    let hint = match code {
        Some("ERR_NGROK_105") | Some("ERR_NGROK_106") | Some("ERR_NGROK_107") => {
            "the auth token is not valid; copy it again from https://dashboard.ngrok.com/get-started/your-authtoken"
        }
        Some("ERR_NGROK_108") => {
            "this account already has the most agent sessions its plan allows; stop the other ngrok agent or upgrade"
        }
        Some("ERR_NGROK_313") | Some("ERR_NGROK_320") => {
            "the domain is not reserved for this account; reserve it at https://dashboard.ngrok.com/domains or drop tunnel.domain"
        }
        _ => "ngrok refused the session",
    };
    let message = message.trim();
    match code {
        Some(c) => format!("{hint} ({c}: {message})"),
        None => format!("{hint}: {message}"),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[async_trait]
impl Tunnel for Ngrok {
    async fn start(&self, local: SocketAddr) -> Result<TunnelHandle, TunnelError> {
        let token = self.token(std::env::var("NGROK_AUTHTOKEN").ok())?;
        let server = self
            .server_addr
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        let start = |reason: String| TunnelError::Start {
            tunnel: NAME,
            reason,
        };
        let mut builder = ngrok::Session::builder();
        builder.authtoken(token);
        if let Some(addr) = &self.server_addr {
            builder
                .server_addr(addr.clone())
                .map_err(|e| start(format!("server address {addr:?}: {e}")))?;
        }
        let session = tokio::time::timeout(CONNECT_TIMEOUT, builder.connect())
            .await
            .map_err(|_| {
                start(format!(
                    "no answer from ngrok's servers at {server} within {} s (is there network access?)",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| match &e {
                ngrok::session::ConnectError::Tcp(io) => start(format!(
                    "could not reach ngrok's servers at {server}: {io} (is there network access?)"
                )),
                ngrok::session::ConnectError::Tls(io) => start(format!(
                    "TLS handshake with {server} failed: {io}"
                )),
                ngrok::session::ConnectError::Auth(rpc) => {
                    start(auth_failure(rpc.error_code(), &rpc.to_string()))
                }
                other => start(chain(other)),
            })?;
        let mut endpoint = session.http_endpoint();
        if let Some(d) = &self.domain {
            endpoint.domain(d.clone());
        }
        if let Some(t) = &self.verify_twilio {
            endpoint.webhook_verification("twilio", t.clone());
        }
        let target = url::Url::parse(&format!("http://{local}"))
            .map_err(|e| start(format!("local address {local}: {e}")))?;
        let forwarder = tokio::time::timeout(CONNECT_TIMEOUT, endpoint.listen_and_forward(target))
            .await
            .map_err(|_| start("ngrok did not open the endpoint in time".into()))?
            .map_err(|rpc| start(auth_failure(rpc.error_code(), &rpc.to_string())))?;
        let url = forwarder.url().trim_end_matches('/').to_string();
        Ok(TunnelHandle::new(
            NAME,
            url,
            Some(Box::new(Running {
                parts: Some((session, forwarder)),
            })),
        ))
    }

    fn name(&self) -> &'static str {
        NAME
    }
}

type Forwarder = ngrok::forwarder::Forwarder<ngrok::tunnel::HttpTunnel>;

/// The live session and forwarder; dropping them closes the endpoint.
struct Running {
    parts: Option<(ngrok::Session, Forwarder)>,
}

impl Teardown for Running {
    fn teardown(&mut self) -> Result<(), TunnelError> {
        drop(self.parts.take());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_failures_say_what_to_do() {
        assert_eq!(
            auth_failure(
                Some("ERR_NGROK_105"),
                "The authtoken you specified is invalid. "
            ),
            "the auth token is not valid; copy it again from https://dashboard.ngrok.com/get-started/your-authtoken (ERR_NGROK_105: The authtoken you specified is invalid.)"
        );
        assert_eq!(
            auth_failure(None, "nope"),
            "ngrok refused the session: nope"
        );
    }

    #[test]
    fn the_configured_token_wins_over_the_environment_and_none_is_a_clear_error() {
        let n = Ngrok::new();
        assert_eq!(
            n.token(None).unwrap_err().to_string(),
            "ngrok: no auth token: set tunnel.ngrokAuthToken or NGROK_AUTHTOKEN (your token is at https://dashboard.ngrok.com/get-started/your-authtoken)"
        );
        assert!(n.token(Some("  ".into())).is_err());
        assert_eq!(n.token(Some("env-token".into())).unwrap(), "env-token");
        let n = Ngrok::new().authtoken("paid-token");
        assert_eq!(n.token(Some("env-token".into())).unwrap(), "paid-token");
    }

    #[test]
    fn debug_never_shows_tokens() {
        let n = Ngrok::new()
            .authtoken("2secretNgrokToken")
            .verify_twilio("twilioSecret123");
        let d = format!("{n:?}");
        assert!(
            !d.contains("2secretNgrokToken") && !d.contains("twilioSecret123"),
            "{d}"
        );
        assert_eq!(
            d,
            "Ngrok { authtoken: Some(\"<redacted>\"), domain: None, verify_twilio: true, server_addr: None }"
        );
    }
}

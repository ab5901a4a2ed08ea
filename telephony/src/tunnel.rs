//! The configured tunnel (`tunnel.*`): which [`Tunnel`] `telephony serve` starts, and the
//! checks that make a bad tunnel setting a configuration error before anything starts.
//!
//! | `tunnel.provider` | public URL | what runs |
//! |---|---|---|
//! | `none` (default), or no `tunnel` section | `publicUrl`, else the local listener | nothing |
//! | `static` | `publicUrl` (required) | nothing: your reverse proxy or load balancer |
//! | `ngrok` | the endpoint's URL (`https://{tunnel.domain}` when set) | an in-process ngrok session (`tunnel.ngrokAuthToken` or `NGROK_AUTHTOKEN`) |
//! | `tailscale-funnel` | `https://{node}.{tailnet}.ts.net` | one `tailscale funnel` mount per gateway path |
//! | `tailscale-serve` | the same name, reachable from the tailnet only | one `tailscale serve` mount per gateway path |
//!
//! With a tunnel, the tunnel's URL is the gateway's public URL (signatures are checked
//! against it, callbacks use it); a `publicUrl` set as well has no effect (`config check`
//! says so, and `serve` logs it).

use telephony_tunnel::{Ngrok, Tailscale, Tunnel};

use crate::config::Config;
use crate::server::ServeError;

/// The paths a tunnel exposes: the webhook, status and stream paths (and the relay path
/// under it), and `/health` for `status --probe`.
///
/// ```
/// use telephony::config::Config;
/// let cfg = Config::default();
/// assert_eq!(
///     telephony::tunnel::exposed_paths(&cfg),
///     ["/telephony/webhook", "/telephony/status", "/telephony/stream", "/telephony/stream/relay", "/health"]
/// );
/// ```
pub fn exposed_paths(config: &Config) -> Vec<String> {
    let s = &config.serve;
    vec![
        s.path.clone(),
        s.status_path.clone(),
        s.stream_path.clone(),
        format!("{}/relay", s.stream_path),
        "/health".to_string(),
    ]
}

/// Checks the tunnel settings `serve` needs (the ngrok token, from the config or
/// `NGROK_AUTHTOKEN`), so `config check` reports them too.
///
/// ```
/// use telephony::config::Config;
/// let cfg = Config::from_json5_str("{ tunnel: { provider: 'ngrok' } }").unwrap();
/// let err = telephony::tunnel::check(&cfg, None).unwrap_err();
/// assert!(err.to_string().starts_with("tunnel.ngrokAuthToken: tunnel.provider is \"ngrok\" but no auth token is set"));
/// ```
pub fn check(config: &Config, env_token: Option<&str>) -> Result<(), ServeError> {
    let Some(t) = &config.tunnel else {
        return Ok(());
    };
    if t.provider.as_deref() == Some("ngrok") {
        let configured = t
            .ngrok_auth_token
            .as_ref()
            .is_some_and(|s| !s.expose().trim().is_empty());
        let from_env = env_token.is_some_and(|s| !s.trim().is_empty());
        if !configured && !from_env {
            return Err(ServeError::Config {
                key: "tunnel.ngrokAuthToken",
                reason: "tunnel.provider is \"ngrok\" but no auth token is set: set tunnel.ngrokAuthToken or the NGROK_AUTHTOKEN environment variable (your token is at https://dashboard.ngrok.com/get-started/your-authtoken)".into(),
            });
        }
        if let Some(d) = &t.domain {
            if d.is_empty() || d.contains(['/', ':', ' ']) {
                return Err(ServeError::Config {
                    key: "tunnel.domain",
                    reason: format!(
                        "{d:?} is not a domain name (e.g. my-gateway.ngrok.app, without https://)"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The tunnel to start for `config`, or `None` when the public URL is `publicUrl` (or
/// the local listener). `twilio_auth_token` is what `tunnel.ngrokVerifyTwilio` verifies
/// with (the sandbox's generated token in sandbox mode).
pub fn from_config(
    config: &Config,
    twilio_auth_token: Option<&str>,
) -> Result<Option<Box<dyn Tunnel>>, ServeError> {
    check(config, std::env::var("NGROK_AUTHTOKEN").ok().as_deref())?;
    let Some(t) = &config.tunnel else {
        return Ok(None);
    };
    let tunnel: Box<dyn Tunnel> = match config.tunnel_provider() {
        None => return Ok(None),
        Some("ngrok") => {
            let mut n = Ngrok::new();
            if let Some(token) = &t.ngrok_auth_token {
                n = n.authtoken(token.expose());
            }
            if let Some(d) = &t.domain {
                n = n.domain(d.clone());
            }
            if t.ngrok_verify_twilio {
                let token = twilio_auth_token.ok_or(ServeError::Config {
                    key: "tunnel.ngrokVerifyTwilio",
                    reason:
                        "needs twilio.authToken (ngrok's edge verifies Twilio's signatures with it)"
                            .into(),
                })?;
                n = n.verify_twilio(token);
            }
            Box::new(n)
        }
        Some("tailscale-funnel") => Box::new(Tailscale::funnel(exposed_paths(config))),
        Some("tailscale-serve") => Box::new(Tailscale::serve(exposed_paths(config))),
        Some(other) => {
            return Err(ServeError::Config {
                key: "tunnel.provider",
                reason: format!("unknown tunnel {other:?}"),
            });
        }
    };
    Ok(Some(tunnel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_may_come_from_the_config_or_the_environment() {
        let cfg = Config::from_json5_str("{ tunnel: { provider: 'ngrok' } }").unwrap();
        assert_eq!(
            check(&cfg, Some(" ")).unwrap_err().to_string(),
            "tunnel.ngrokAuthToken: tunnel.provider is \"ngrok\" but no auth token is set: set tunnel.ngrokAuthToken or the NGROK_AUTHTOKEN environment variable (your token is at https://dashboard.ngrok.com/get-started/your-authtoken)"
        );
        check(&cfg, Some("2abc")).unwrap();
        let cfg =
            Config::from_json5_str("{ tunnel: { provider: 'ngrok', ngrokAuthToken: '2abc' } }")
                .unwrap();
        check(&cfg, None).unwrap();
        // No token needed when ngrok is not the provider.
        let cfg = Config::from_json5_str("{ tunnel: { provider: 'tailscale-funnel' } }").unwrap();
        check(&cfg, None).unwrap();
    }

    #[test]
    fn a_domain_is_a_name_not_a_url() {
        let cfg = Config::from_json5_str(
            "{ tunnel: { provider: 'ngrok', ngrokAuthToken: 't', ngrokDomain: 'https://gw.ngrok.app' } }",
        )
        .unwrap();
        assert_eq!(
            check(&cfg, None).unwrap_err().to_string(),
            "tunnel.domain: \"https://gw.ngrok.app\" is not a domain name (e.g. my-gateway.ngrok.app, without https://)"
        );
    }

    #[test]
    fn verify_twilio_needs_the_auth_token() {
        let cfg = Config::from_json5_str(
            "{ tunnel: { provider: 'ngrok', ngrokAuthToken: 't', ngrokVerifyTwilio: true } }",
        )
        .unwrap();
        assert_eq!(
            from_config(&cfg, None).err().unwrap().to_string(),
            "tunnel.ngrokVerifyTwilio: needs twilio.authToken (ngrok's edge verifies Twilio's signatures with it)"
        );
        let t = from_config(&cfg, Some("secret")).unwrap().unwrap();
        assert_eq!(t.name(), "ngrok");
    }
}

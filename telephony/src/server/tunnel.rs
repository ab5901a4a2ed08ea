//! The public URL: the configured tunnel, started forwarding to the public listener (its
//! URL is then the gateway's public URL).

use std::net::SocketAddr;

use telephony_tunnel::TunnelHandle;

use super::ServeError;
use crate::config::Config;
use crate::providers::ProviderSetup;

/// Starts the configured tunnel (none: `Ok(None)`), forwarding to `public_addr`; `setup` is
/// the default account's provider (in sandbox mode, ngrok verifies the simulator's
/// signatures).
pub(super) async fn start(
    config: &Config,
    setup: &ProviderSetup,
    public_addr: SocketAddr,
) -> Result<Option<TunnelHandle>, ServeError> {
    let twilio_token = match &setup.sandbox {
        Some(s) => s.auth_token.as_ref().map(|t| t.expose().to_string()),
        None => config
            .twilio
            .auth_token
            .as_ref()
            .map(|t| t.expose().to_string()),
    };
    let tunnel = match crate::tunnel::from_config(config, twilio_token.as_deref())? {
        None => None,
        Some(t) => {
            tracing::info!(tunnel = t.name(), local = %public_addr, "starting the tunnel");
            let handle = t
                .start(public_addr)
                .await
                .map_err(|source| ServeError::Tunnel {
                    provider: t.name().to_string(),
                    source,
                })?;
            tracing::info!(tunnel = handle.name(), public_url = %handle.url(), "tunnel running: this is the gateway's public URL");
            if let Some(u) = &config.public_url {
                if u.trim_end_matches('/') != handle.url() {
                    tracing::warn!(public_url = %u, tunnel_url = %handle.url(), "publicUrl has no effect while a tunnel runs: signatures are checked against the tunnel's URL");
                }
            }
            if handle.name() == "tailscale-serve" {
                tracing::warn!(
                    "Tailscale Serve is reachable from the tailnet only: Twilio and Telnyx cannot reach it (use tailscale-funnel for them)"
                );
            }
            Some(handle)
        }
    };
    Ok(tunnel)
}

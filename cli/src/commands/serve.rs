//! `telephony serve`: run the gateway until SIGINT/SIGTERM.

use telephony::server::{self, ServeOptions};

use crate::context::{CliError, Context};

pub(super) async fn serve(ctx: Context, sandbox: bool) -> Result<(), CliError> {
    // A provider credential whose SecretRef cannot be resolved: say which and why
    // (the sandbox needs none).
    let unresolved = &ctx.sources.dialect.unresolved_secrets;
    if !sandbox && !unresolved.is_empty() {
        let reasons: Vec<&str> = unresolved.iter().map(|u| u.reason.as_str()).collect();
        return Err(CliError::config(format!(
            "{}; or run `telephony serve --sandbox` against the built-in simulator",
            reasons.join("; ")
        )));
    }
    let signals = StopSignals::listen();
    for k in &ctx.sources.dialect.not_implemented {
        tracing::warn!(key = %k.key, "{}", k.reason);
    }
    let running = server::start(
        &ctx.config,
        ServeOptions {
            sandbox,
            handler: None,
        },
    )
    .await
    .map_err(|e| {
        let msg = telephony_core::error_chain(&e);
        if e.is_config() {
            CliError::config(msg)
        } else {
            CliError::failure(msg)
        }
    })?;
    let rt = &running.runtime;
    let provider = ctx.config.provider;
    println!(
        "telephony gateway running with {}{}",
        provider.display_name(),
        if sandbox {
            format!(
                " in SANDBOX mode (simulated {}, no real messages)",
                provider.display_name()
            )
        } else {
            String::new()
        }
    );
    let where_to_paste = match provider {
        telephony::config::ProviderKind::Telnyx => {
            "Telnyx portal → Messaging → your messaging profile → Inbound webhook URL"
        }
        _ => "Twilio console → Messaging → A message comes in",
    };
    if let Some(url) = running.tunnel_url() {
        println!(
            "  public URL (tunnel.provider {}): {url}",
            ctx.config.tunnel_provider().unwrap_or("none")
        );
    }
    println!("  webhook URL ({where_to_paste}): {}", rt.webhook_url);
    println!("  status callback URL: {}", rt.status_url);
    println!("  admin API (loopback): http://{}", rt.admin_addr);
    println!("  store: {}", ctx.config.store_backend().describe());
    if running.admin_token_generated {
        println!(
            "  admin token (generated, saved to {}; shown once): {}",
            ctx.data_dir()
                .join(telephony::runtime::ADMIN_TOKEN_FILE)
                .display(),
            running.admin_token.expose()
        );
    }
    if sandbox {
        // `--config` only when the commands would not find the file by themselves.
        let found_by_default = telephony::config::config_file(None);
        let cfg = match ctx.sources.file.as_ref() {
            Some(f) if Some(f) != found_by_default.as_ref() => format!(" --config {}", f.display()),
            _ => String::new(),
        };
        if let Some(url) = &rt.simulator_url {
            println!("\nYour own code can call the simulated provider at {url}");
            if let (Some(sid), Some(token)) = (&rt.sandbox_account_sid, &rt.sandbox_auth_token) {
                println!("  account SID {sid}, auth token {token} (sandbox only)");
            }
            if let Some(key) = &rt.sandbox_api_key {
                println!("  API key {key} (sandbox only; also in the runtime file, sandboxApiKey)");
            }
            if !rt.sandbox_numbers.is_empty() {
                println!("  numbers: {}", rt.sandbox_numbers.join(", "));
            }
            if let Some(profile) = &rt.sandbox_messaging_profile_id {
                println!("  messaging profile {profile}");
            }
            if let Some(connection) = &rt.sandbox_connection_id {
                println!("  Call Control application (connection_id) {connection}");
            }
            if let Some(key) = &rt.sandbox_public_key {
                println!("  webhook public key {key}");
            }
        }
        println!("\nTry, in another terminal:");
        println!("  telephony{cfg} simulate sms --from +15557654321 \"Hello gateway\"");
        println!("  telephony{cfg} inbox");
        println!("  telephony{cfg} pairing list");
        println!("  telephony{cfg} pairing approve <CODE>");
        println!("  telephony{cfg} send +15557654321 \"Hello from the gateway\"");
        println!("  telephony{cfg} receipt <id printed by send>");
        println!("  telephony{cfg} log");
        if provider == telephony::config::ProviderKind::Twilio {
            if ctx.config.voice.enabled.unwrap_or(false) {
                println!(
                    "  telephony{cfg} simulate call --from +15557654321 --say-speech \"call me back\""
                );
            } else {
                println!(
                    "  (voice is off: `telephony serve --sandbox --voice` answers calls for `telephony simulate call`)"
                );
            }
        }
    }
    println!("\nPress Ctrl-C to stop.");
    signals.wait().await;
    println!("stopping…");
    running.stop().await.map_err(|e| {
        CliError::failure(format!(
            "stopped, but the tunnel could not be closed: {}",
            telephony_core::error_chain(&e)
        ))
    })?;
    println!("stopped");
    Ok(())
}

/// SIGINT/SIGTERM, listened for from before the gateway starts: a signal that arrives
/// while it starts is kept and stops it right after (the default action would kill the
/// process with the tunnel still up).
struct StopSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => StopSignals {
                    streams: Some((int, term)),
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for SIGINT/SIGTERM; Ctrl-C still works");
                    StopSignals { streams: None }
                }
            }
        }
        #[cfg(not(unix))]
        {
            StopSignals {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.streams {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot wait for Ctrl-C; stopping");
        }
    }
}

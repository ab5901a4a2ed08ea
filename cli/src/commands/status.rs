//! `telephony status`: the running gateway's state, or with `--probe` the checks through
//! its public URL.

use serde_json::json;
use telephony_serve::api;

use crate::context::{CliError, Context};
use crate::output;

pub(super) async fn probe(ctx: Context, json: bool) -> Result<(), CliError> {
    let runtime = ctx.runtime()?;
    let (provider, parts) =
        telephony::probe::for_gateway(&ctx.config, runtime.as_ref()).map_err(|e| {
            if e.is_config() {
                CliError::config(telephony_core::error_chain(&e))
            } else {
                CliError::failure(telephony_core::error_chain(&e))
            }
        })?;
    let findings = telephony::probe::probe(&parts.target(provider.as_ref())).await;
    let ok = findings.iter().all(|f| f.ok);
    if json {
        output::print_json(&json!({ "ok": ok, "findings": findings }));
    } else {
        for f in &findings {
            let mark = if f.ok { "ok  " } else { "FAIL" };
            match &f.problem {
                Some(p) => println!("{mark} {} ({p}): {}", f.check, f.detail),
                None => println!("{mark} {}: {}", f.check, f.detail),
            }
            if let Some(fix) = &f.fix {
                println!("     fix: {fix}");
            }
        }
    }
    if ok {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "{} check(s) failed",
            findings.iter().filter(|f| !f.ok).count()
        )))
    }
}

pub(super) async fn status(ctx: Context, json: bool) -> Result<(), CliError> {
    match ctx.admin().await? {
        Some(admin) => {
            let st: api::GatewayStatus = admin.get("/telephony/status").await?;
            if json {
                output::print_json(&st);
            } else {
                println!("gateway running (admin {})", admin.base);
                println!("  provider: {}", st.provider);
                println!(
                    "  status callback URL: {}",
                    st.status_callback_url.as_deref().unwrap_or("(none)")
                );
                println!("  inbound policy: {}", st.inbound_policy);
                if st.voice.enabled {
                    let max = st
                        .voice
                        .max_concurrent_sessions
                        .map_or("unlimited".to_string(), |m| m.to_string());
                    println!(
                        "  voice: on, {} live session(s) of {max}",
                        st.voice.live_sessions.len()
                    );
                    for c in &st.voice.live_sessions {
                        println!("    {}", output::call_line(c));
                    }
                } else {
                    println!("  voice: off (voice.enabled is false)");
                }
                println!("  outbox pending: {}", st.outbox_pending);
                match &st.forwarding {
                    Some(f) => {
                        println!(
                            "  forwarding to {}: {} delivered, {} pending, {} failing",
                            f.url, f.delivered, f.pending, f.failing
                        );
                        if let Some(e) = &f.last_error {
                            println!("  last forwarding error: {e}");
                        }
                    }
                    None => println!("  forwarding: off"),
                }
            }
            Ok(())
        }
        None => {
            if json {
                output::print_json(&json!({ "status": "not running" }));
            } else {
                println!(
                    "no gateway is running (admin {}:{} does not answer)",
                    ctx.config.admin.bind, ctx.config.admin.port
                );
            }
            Err(CliError::failure("gateway not running"))
        }
    }
}

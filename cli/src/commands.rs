//! The subcommands.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use telephony_core::{
    Address, DeliveryStatus, InboxQuery, MessageId, OutboundMessage, Receipt, Store,
};
use telephony_serve::api::{self, ErrorCode};
use telephony_serve::Gateway;
use telephony_server::config::Config;
use telephony_server::providers;
use telephony_server::server::{self, ServeOptions};
use time::OffsetDateTime;

use crate::context::{CliError, Context};
use crate::output;
use crate::{Cli, Command, ConfigCommand, ContactsCommand, PairingCommand, SimulateCommand};

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let json_logs = matches!(
        cli.command,
        Command::Serve {
            json_logs: true,
            ..
        }
    );
    let default_level = if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    init_tracing(default_level, json_logs);
    // Migration reads the file as written: its secrets need not resolve on this machine.
    if let Command::Config {
        command: ConfigCommand::Migrate { to },
    } = &cli.command
    {
        return config_migrate(cli.config.as_deref(), to);
    }
    let mut ctx = Context::load(cli.config.as_deref())?;
    if let Some(name) = &cli.account {
        if matches!(cli.command, Command::Serve { .. }) {
            return Err(CliError::config(
                "--account does not apply to serve: the gateway serves every enabled account",
            ));
        }
        ctx = ctx.with_account(name)?;
    }
    match cli.command {
        Command::Serve {
            sandbox, provider, ..
        } => {
            if let Some(p) = provider {
                ctx.config
                    .override_provider(p)
                    .map_err(|e| CliError::config(e.to_string()))?;
            }
            serve(ctx, sandbox).await
        }
        Command::Send {
            to,
            text,
            media,
            json,
        } => send(ctx, to, text, media, json).await,
        Command::Inbox { since, limit, json } => inbox(ctx, since, limit, json).await,
        Command::Receipt { id, json } => receipt(ctx, id, json).await,
        Command::Status { probe: true, json } => probe(ctx, json).await,
        Command::Status { probe: false, json } => status(ctx, json).await,
        Command::Config {
            command: ConfigCommand::Check { json },
        } => config_check(ctx, json),
        Command::Config {
            command: ConfigCommand::Migrate { to },
        } => config_migrate(cli.config.as_deref(), &to),
        Command::Pairing { command } => pairing(ctx, command).await,
        Command::Contacts { command } => contacts(ctx, command).await,
        Command::Log { since, limit, json } => send_log(ctx, since, limit, json).await,
        Command::Segments { text, json } => segments(ctx, text, json),
        Command::Call {
            to,
            say,
            twiml,
            url,
            from,
            timeout,
            machine_detection,
            json,
        } => {
            let req = api::CallRequest {
                to,
                say,
                twiml,
                url,
                from,
                machine_detection,
                timeout,
            };
            place_call(ctx, req, json).await
        }
        Command::Calls { since, limit, json } => calls(ctx, since, limit, json).await,
        Command::Simulate {
            command:
                SimulateCommand::Call {
                    from,
                    to,
                    say_speech,
                    press,
                    no_status_callback,
                    json,
                },
        } => {
            let order = crate::input_order(std::env::args());
            simulate_call(
                ctx,
                from,
                to,
                (say_speech, press, order),
                no_status_callback,
                json,
            )
            .await
        }
        Command::Simulate {
            command:
                SimulateCommand::Sms {
                    from,
                    to,
                    text,
                    message_sid,
                    json,
                },
        } => simulate_sms(ctx, from, to, text, message_sid, json).await,
    }
}

fn init_tracing(default: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TELEPHONY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless; ignore "already set".
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn serve(ctx: Context, sandbox: bool) -> Result<(), CliError> {
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
        telephony_server::config::ProviderKind::Telnyx => {
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
    println!("  database: {}", ctx.config.database_path().display());
    if running.admin_token_generated {
        println!(
            "  admin token (generated, saved to {}; shown once): {}",
            ctx.data_dir()
                .join(telephony_server::runtime::ADMIN_TOKEN_FILE)
                .display(),
            running.admin_token.expose()
        );
    }
    if sandbox {
        let cfg = match ctx.sources.file.as_ref() {
            Some(f) => format!(" --config {}", f.display()),
            None => String::new(),
        };
        println!("\nTry, in another terminal:");
        println!("  telephony{cfg} simulate sms --from +15557654321 \"Hello gateway\"");
        println!("  telephony{cfg} inbox");
        println!("  telephony{cfg} send +15557654321 \"Hello from the gateway\"");
        println!("  telephony{cfg} receipt <id printed by send>");
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
            use tokio::signal::unix::{signal, SignalKind};
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

async fn send(
    ctx: Context,
    to: String,
    text: String,
    media: Vec<String>,
    json: bool,
) -> Result<(), CliError> {
    // Validate locally first so a bad number is a usage error even with no gateway.
    let address = Address::parse(&to).map_err(|e| CliError::config(e.to_string()))?;
    let (sent, via) = match ctx.admin().await? {
        Some(admin) => {
            let request = api::SendRequest {
                to: Some(to),
                body: text,
                media_url: media,
            };
            let sent: api::SendResponse = admin.post("/telephony/send?wait=30", &request).await?;
            (
                sent,
                format!("through the running gateway at {}", admin.base),
            )
        }
        None => {
            let (receipts, held) = send_direct(&ctx.config, address, text, media).await?;
            (
                api::SendResponse {
                    receipts: receipts.iter().map(api::Receipt::from).collect(),
                    held,
                },
                "directly with the configured credentials (no gateway running)".to_string(),
            )
        }
    };
    if json {
        output::print_json(&output::SendReport { via, sent: &sent });
    } else {
        println!("sent {via}");
        for r in &sent.receipts {
            println!("{}", output::receipt_line(r));
        }
        if sent.held {
            let to = sent
                .receipts
                .first()
                .map(|r| r.to.number().to_string())
                .unwrap_or_default();
            println!("held: {to} never texted us and was never approved (outboundPolicy.requireApprovalForNewContacts); run `telephony contacts approve {to}` to release it");
        }
    }
    let api::SendResponse { receipts, held } = sent;
    let failed: Vec<&api::Receipt> = receipts
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                DeliveryStatus::Failed | DeliveryStatus::Undelivered | DeliveryStatus::Canceled
            )
        })
        .collect();
    if let Some(r) = failed.first() {
        return Err(CliError::failure(match &r.error {
            Some(e) => format!("send failed: {e}"),
            None => "send failed".to_string(),
        }));
    }
    if !held && !json && receipts.iter().any(|r| r.status == DeliveryStatus::Pending) {
        println!("not sent yet; it stays in the outbox and is retried (check with `telephony receipt <id>`)");
    }
    Ok(())
}

async fn send_direct(
    config: &Config,
    to: Address,
    text: String,
    media: Vec<String>,
) -> Result<(Vec<Receipt>, bool), CliError> {
    let missing = config.missing_credentials();
    if !missing.is_empty() {
        return Err(CliError::config(format!(
            "no gateway is running and direct sending needs {}",
            missing.join(", ")
        )));
    }
    let gw = direct_gateway(config).await?;
    let msg = OutboundMessage {
        to,
        body: text,
        media_urls: media,
    };
    let sent = gw.send_message(msg).await.map_err(|e| {
        if e.is_bad_input() {
            CliError::config(e.to_string())
        } else {
            CliError::failure(telephony_core::error_chain(&e))
        }
    })?;
    if sent.held {
        return Ok((sent.receipts, true));
    }
    let workers = gw.spawn_workers();
    let mut out = Vec::new();
    for r in &sent.receipts {
        let now = gw
            .wait_first_attempt(&r.id, Duration::from_secs(60))
            .await?;
        out.push(now.unwrap_or_else(|| r.clone()));
    }
    workers.shutdown().await;
    Ok((out, false))
}

/// A gateway over the configured store and credentials, for commands that run without a
/// gateway process (its outbox is durable: what it queues is sent now or on the next start).
async fn direct_gateway(config: &Config) -> Result<Gateway, CliError> {
    let missing = config.missing_credentials();
    if !missing.is_empty() {
        return Err(CliError::config(format!(
            "no gateway is running and acting directly needs {}",
            missing.join(", ")
        )));
    }
    let provider = providers::provider(config).map_err(|e| {
        if e.is_config() {
            CliError::config(telephony_core::error_chain(&e))
        } else {
            CliError::failure(telephony_core::error_chain(&e))
        }
    })?;
    let store = open_store(config).await?;
    let mut b = Gateway::builder(provider, store);
    if let Some(u) = &config.public_url {
        b = b
            .public_url(u.clone())
            .status_path(config.serve.status_path.clone());
    }
    Ok(server::apply_policies(b, config).build())
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, CliError> {
    providers::open_store(config)
        .await
        .map_err(|e| CliError::failure(telephony_core::error_chain(&e)))
}

/// Parses `--since`: RFC 3339, or a duration ago like `30s`, `10m`, `2h`, `1d`.
pub fn parse_since(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, CliError> {
    if let Ok(t) = telephony_core::rfc3339::parse(s) {
        return Ok(t);
    }
    let bad = || {
        CliError::config(format!(
            "invalid --since {s:?}: use RFC 3339 (2026-01-02T03:04:05Z) or a duration like 30s, 10m, 2h, 1d"
        ))
    };
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(now - Duration::from_secs(secs))
}

/// An admin list route with `limit` and an optional RFC 3339 `since` (its `+` escaped).
fn list_path(route: &str, limit: usize, since: Option<OffsetDateTime>) -> Result<String, CliError> {
    let mut path = format!("{route}?limit={limit}");
    if let Some(t) = since {
        let t = telephony_core::rfc3339::format(t);
        path.push_str(&format!("&since={}", t.replace('+', "%2B")));
    }
    Ok(path)
}

async fn inbox(
    ctx: Context,
    since: Option<String>,
    limit: usize,
    json: bool,
) -> Result<(), CliError> {
    let since = since
        .as_deref()
        .map(|s| parse_since(s, OffsetDateTime::now_utc()))
        .transpose()?;
    let list: api::InboxList = match ctx.admin().await? {
        Some(admin) => {
            admin
                .get(&list_path("/telephony/inbox", limit, since)?)
                .await?
        }
        None => {
            let store = open_store(&ctx.config).await?;
            api::InboxList::from(store.inbox(&InboxQuery { since, limit }).await?.as_slice())
        }
    };
    if json {
        output::print_json(&list);
    } else {
        output::print_inbox(&list.messages);
    }
    Ok(())
}

async fn place_call(ctx: Context, req: api::CallRequest, json: bool) -> Result<(), CliError> {
    let Some(admin) = ctx.admin().await? else {
        return Err(CliError::failure(format!(
            "no running gateway answers on {}:{}: calls are placed by the gateway (it follows their status); start one with `telephony serve` (or `telephony serve --sandbox`)",
            ctx.config.admin.bind, ctx.config.admin.port
        )));
    };
    let call: api::Call = admin.post("/telephony/calls", &req).await?;
    if json {
        output::print_json(&call);
    } else {
        println!("call placed: {}", output::call_line(&call));
        println!("  follow it with `telephony calls`");
    }
    Ok(())
}

async fn calls(
    ctx: Context,
    since: Option<String>,
    limit: usize,
    json: bool,
) -> Result<(), CliError> {
    let since = since
        .as_deref()
        .map(|s| parse_since(s, OffsetDateTime::now_utc()))
        .transpose()?;
    let list: api::CallList = match ctx.admin().await? {
        Some(admin) => {
            admin
                .get(&list_path("/telephony/calls", limit, since)?)
                .await?
        }
        None => {
            let store = open_store(&ctx.config).await?;
            let calls = store
                .calls(&telephony_core::store::CallQuery { since, limit })
                .await?;
            api::CallList {
                calls: calls.iter().map(api::Call::from).collect(),
            }
        }
    };
    if json {
        output::print_json(&list);
    } else {
        output::print_calls(&list.calls);
    }
    Ok(())
}

async fn receipt(ctx: Context, id: String, json: bool) -> Result<(), CliError> {
    let r: Option<api::Receipt> = match ctx.admin().await? {
        Some(admin) => match admin.get(&format!("/telephony/messages/{id}")).await {
            Ok(r) => Some(r),
            Err(e) if e.remote == Some(ErrorCode::NotFound) => None,
            Err(e) => return Err(e),
        },
        None => open_store(&ctx.config)
            .await?
            .receipt(&MessageId::from_string(id.clone()))
            .await?
            .as_ref()
            .map(api::Receipt::from),
    };
    let Some(r) = r else {
        return Err(CliError::failure(format!("no message with id {id:?}")));
    };
    if json {
        output::print_json(&r);
    } else {
        output::print_receipt_detail(&r);
    }
    Ok(())
}

async fn probe(ctx: Context, json: bool) -> Result<(), CliError> {
    let runtime = ctx.runtime()?;
    let (provider, parts) = telephony_server::probe::for_gateway(&ctx.config, runtime.as_ref())
        .map_err(|e| {
            if e.is_config() {
                CliError::config(telephony_core::error_chain(&e))
            } else {
                CliError::failure(telephony_core::error_chain(&e))
            }
        })?;
    let findings = telephony_server::probe::probe(&parts.target(provider.as_ref())).await;
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

async fn status(ctx: Context, json: bool) -> Result<(), CliError> {
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

async fn pairing(ctx: Context, command: PairingCommand) -> Result<(), CliError> {
    let admin = ctx.admin().await?;
    match command {
        PairingCommand::List { json } => {
            let list: api::PairingList = match &admin {
                Some(a) => a.get("/telephony/pairing").await?,
                None => api::PairingList::from(
                    open_store(&ctx.config)
                        .await?
                        .pending_pairings(OffsetDateTime::now_utc())
                        .await?
                        .as_slice(),
                ),
            };
            let reqs = &list.requests;
            if json {
                output::print_json(&list);
            } else if reqs.is_empty() {
                println!("no pending pairing requests");
            } else {
                for r in reqs {
                    println!(
                        "{}  {}  requested {}  expires {}",
                        r.code,
                        r.sender,
                        output::ts(r.created_at),
                        output::ts(r.expires_at)
                    );
                }
                println!(
                    "{} pending; approve with `telephony pairing approve <CODE>`",
                    reqs.len()
                );
            }
            Ok(())
        }
        PairingCommand::Approve { code, json } => {
            resolve_pairing(&ctx, admin, code, true, json).await
        }
        PairingCommand::Reject { code, json } => {
            resolve_pairing(&ctx, admin, code, false, json).await
        }
    }
}

async fn resolve_pairing(
    ctx: &Context,
    admin: Option<crate::context::Admin>,
    code: String,
    approve: bool,
    json: bool,
) -> Result<(), CliError> {
    let verb = if approve { "approve" } else { "reject" };
    let d: api::PairingDecision = match admin {
        Some(a) => {
            // Unknown, expired or already resolved codes are the user's input: the admin
            // error's code maps them to exit 2.
            let path = format!("/telephony/pairing/{}/{verb}", code.trim());
            a.post(&path, &json!({})).await?
        }
        None => {
            let gw = direct_gateway(&ctx.config).await?;
            let r = if approve {
                gw.approve_pairing(&code).await
            } else {
                gw.reject_pairing(&code).await
            };
            match r {
                Ok(d) => api::PairingDecision::from(&d),
                Err(e @ telephony_serve::PairingError::Store(_)) => {
                    return Err(CliError::failure(telephony_core::error_chain(&e)))
                }
                Err(e) => return Err(CliError::config(e.to_string())),
            }
        }
    };
    if json {
        output::print_json(&d);
    } else {
        let sender = &d.request.sender;
        if approve {
            println!("approved {sender}: their messages now reach the application");
            if let Some(n) = &d.notification {
                println!("approval text queued ({})", n.id);
            }
            if let Some(e) = &d.notification_error {
                println!("approval text not sent: {e}");
            }
        } else {
            println!("rejected {sender}");
        }
    }
    Ok(())
}

async fn contacts(ctx: Context, command: ContactsCommand) -> Result<(), CliError> {
    let admin = ctx.admin().await?;
    match command {
        ContactsCommand::List { json } => {
            let list: api::ReceiptList = match &admin {
                Some(a) => a.get("/telephony/contacts/held").await?,
                None => api::ReceiptList::from(
                    open_store(&ctx.config)
                        .await?
                        .held_outbound()
                        .await?
                        .as_slice(),
                ),
            };
            let held = &list.receipts;
            if json {
                output::print_json(&list);
            } else if held.is_empty() {
                println!("no sends waiting for approval");
            } else {
                for r in held {
                    println!(
                        "{}  to {}  {}",
                        output::ts(r.created_at),
                        r.to,
                        r.body.replace('\n', " ")
                    );
                }
                println!(
                    "{} held; release with `telephony contacts approve <NUMBER>`",
                    held.len()
                );
            }
            Ok(())
        }
        ContactsCommand::Approve { number, json } => {
            let n = telephony_core::PhoneNumber::parse(&number)
                .map_err(|e| CliError::config(e.to_string()))?;
            let approval: api::ContactApproval = match &admin {
                Some(a) => {
                    let path = format!(
                        "/telephony/contacts/{}/approve",
                        n.as_str().replace('+', "%2B")
                    );
                    a.post(&path, &json!({})).await?
                }
                None => {
                    let store = open_store(&ctx.config).await?;
                    let released = store.approve_contact(&n, OffsetDateTime::now_utc()).await?;
                    api::ContactApproval {
                        contact: n.clone(),
                        released,
                    }
                }
            };
            let released = &approval.released;
            if json {
                output::print_json(&approval);
            } else {
                println!("approved {n}; {} held send(s) released", released.len());
                if admin.is_none() && !released.is_empty() {
                    println!("no gateway is running: they are sent when it starts");
                }
            }
            Ok(())
        }
    }
}

async fn send_log(
    ctx: Context,
    since: Option<String>,
    limit: usize,
    json: bool,
) -> Result<(), CliError> {
    let since = since
        .as_deref()
        .map(|s| parse_since(s, OffsetDateTime::now_utc()))
        .transpose()?;
    let list: api::ReceiptList = match ctx.admin().await? {
        Some(a) => a.get(&list_path("/telephony/log", limit, since)?).await?,
        None => api::ReceiptList::from(
            open_store(&ctx.config)
                .await?
                .receipts(since, limit)
                .await?
                .as_slice(),
        ),
    };
    let receipts = &list.receipts;
    if json {
        output::print_json(&list);
    } else if receipts.is_empty() {
        println!("no messages sent");
    } else {
        for r in receipts {
            println!(
                "{}  to {}  {:<10} {}  {}",
                output::ts(r.created_at),
                r.to,
                r.status.as_str(),
                if r.provider_sids.is_empty() {
                    "-".to_string()
                } else {
                    r.provider_sids.join(",")
                },
                r.body.replace('\n', " ")
            );
            if let Some(e) = &r.error {
                println!("  {e}");
            }
        }
        println!("{} message(s)", receipts.len());
    }
    Ok(())
}

fn segments(ctx: Context, text: String, json: bool) -> Result<(), CliError> {
    use telephony_core::sms::{analyze, chunk, flatten_markdown};
    let opts = ctx.config.chunk_options();
    let flat = flatten_markdown(&text);
    let info = analyze(&flat);
    let chunks = chunk(&flat, &opts).map_err(|e| CliError::config(e.to_string()))?;
    let per_chunk: Vec<serde_json::Value> = chunks
        .iter()
        .map(|c| {
            let a = analyze(c);
            json!({ "text": c, "encoding": a.encoding, "characters": a.characters, "segments": a.segments })
        })
        .collect();
    if json {
        output::print_json(&json!({
            "encoding": info.encoding,
            "characters": info.characters,
            "codeUnits": info.code_units,
            "segments": info.segments,
            "unicodeCharacters": info.unicode_characters,
            "chunkMode": ctx.config.sms.chunk_mode,
            "maxLength": opts.max_length,
            "messages": per_chunk,
        }));
    } else {
        let enc = serde_json::to_value(info.encoding)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "encoding {enc}, {} characters, {} segment(s)",
            info.characters, info.segments
        );
        if !info.unicode_characters.is_empty() {
            println!("UCS-2 because of: {}", info.unicode_characters.join(" "));
        }
        println!(
            "{} message(s) with chunkMode {:?}, maxLength {}:",
            chunks.len(),
            ctx.config.sms.chunk_mode,
            opts.max_length
        );
        for (i, c) in per_chunk.iter().enumerate() {
            println!(
                "--- {} ({} characters, {} segment(s))",
                i + 1,
                c["characters"],
                c["segments"]
            );
            println!("{}", c["text"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}

fn config_check(ctx: Context, json: bool) -> Result<(), CliError> {
    use telephony_server::config::dialects;
    let cfg = &ctx.config;
    let report = &ctx.sources.dialect;
    let inactive = cfg.inactive_keys();
    let missing = cfg.missing_credentials();
    let sender = dialects::sender_summary(cfg, report);
    let mut security = server::check_security(
        cfg,
        server::is_loopback_bind(&cfg.serve.bind),
        server::is_loopback_bind(&cfg.admin.bind),
    )
    .and_then(|()| {
        telephony_server::tunnel::check(cfg, std::env::var("NGROK_AUTHTOKEN").ok().as_deref())
    });
    // With accounts: each account's sender, paths, store and credentials.
    let account_names = cfg.account_names();
    let default_account = cfg.default_account.clone();
    let mut per_account = Vec::new();
    for c in cfg
        .served_accounts()
        .into_iter()
        .filter(|c| c.account.is_some())
    {
        let name = c.account.clone().unwrap_or_default();
        if security.is_ok() {
            security = server::check_security(
                &c,
                server::is_loopback_bind(&cfg.serve.bind),
                server::is_loopback_bind(&cfg.admin.bind),
            );
        }
        per_account.push(json!({
            "name": name,
            "default": default_account.as_deref() == Some(name.as_str()),
            "provider": c.provider.as_str(),
            "sender": dialects::sender_summary(&c, report),
            "webhookPath": c.serve.path,
            "statusPath": c.serve.status_path,
            "streamPath": c.serve.stream_path,
            "publicUrl": c.public_url,
            "database": c.database_path(),
            "missingCredentials": c.missing_credentials(),
        }));
    }
    if json {
        output::print_json(&json!({
            "valid": security.is_ok(),
            "file": ctx.sources.file,
            "dialect": report.dialect,
            "env": ctx.sources.env,
            "accounts": account_names,
            "defaultAccount": default_account,
            "served": per_account,
            "sender": sender,
            "config": cfg.redacted_json(),
            "notImplemented": report.not_implemented,
            "notYetActive": inactive,
            "missingCredentials": missing,
            "errors": security.as_ref().err().map(|e| vec![e.to_string()]).unwrap_or_default(),
        }));
    } else {
        match &ctx.sources.file {
            Some(f) => println!(
                "config file: {} (dialect: {})",
                f.display(),
                report.dialect.as_str()
            ),
            None => println!("config file: none (defaults and environment only)"),
        }
        if !ctx.sources.env.is_empty() {
            println!("environment: {}", ctx.sources.env.join(", "));
        }
        if !account_names.is_empty() {
            println!(
                "accounts: {}; default: {}",
                account_names.join(", "),
                default_account.as_deref().unwrap_or("none")
            );
            for a in &per_account {
                println!(
                    "account {}: {} paths {}, {}, {}; store {}; sender: {}",
                    a["name"].as_str().unwrap_or(""),
                    a["provider"].as_str().unwrap_or(""),
                    a["webhookPath"].as_str().unwrap_or(""),
                    a["statusPath"].as_str().unwrap_or(""),
                    a["streamPath"].as_str().unwrap_or(""),
                    a["database"].as_str().unwrap_or(""),
                    a["sender"].as_str().unwrap_or(""),
                );
            }
        }
        println!("sender: {sender}");
        if cfg.admin.bridge_api {
            println!(
                "admin.bridgeApi: POST /sms/send, GET /sms/inbox and GET /health answer without a token on {}:{}",
                cfg.admin.bind, cfg.admin.port
            );
        }
        println!("resolved configuration (secrets redacted):");
        println!(
            "{}",
            serde_json::to_string_pretty(&cfg.redacted_json()).unwrap_or_default()
        );
        for k in &report.not_implemented {
            println!("not implemented: {}: {}", k.key, k.reason);
        }
        for k in &inactive {
            println!("note: {} is set but {}", k.key, k.reason);
        }
        if !missing.is_empty() {
            println!(
                "note: missing {}; `telephony serve` needs them unless run with --sandbox",
                missing.join(", ")
            );
        }
    }
    match security {
        Ok(()) => {
            if !json {
                println!("config OK");
            }
            Ok(())
        }
        Err(e) => Err(CliError::config(e.to_string())),
    }
}

fn config_migrate(explicit: Option<&std::path::Path>, to: &str) -> Result<(), CliError> {
    use telephony_server::config::dialects;
    let Some(file) = crate::context::config_file(explicit) else {
        return Err(CliError::config(
            "no config file to migrate: without one the gateway reads the environment (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER) as it is",
        ));
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let (native, report) = dialects::migrate(&file, &env)?;
    let text = match to {
        "toml" => dialects::to_toml(&native).map_err(CliError::config)?,
        _ => dialects::to_json5(&native),
    };
    print!("{text}");
    for k in &report.not_implemented {
        eprintln!("note: not carried over: {}: {}", k.key, k.reason);
    }
    // The same file with this environment: say so if it would not start here.
    if let Err(e) = Config::load_with_env(Some(&file), &env) {
        eprintln!("note: with this environment the configuration does not load: {e}");
    }
    Ok(())
}

async fn simulate_sms(
    ctx: Context,
    from: String,
    to: Option<String>,
    text: String,
    message_sid: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let from = telephony_core::PhoneNumber::parse(&from)
        .map_err(|e| CliError::config(format!("--from: {e}")))?;
    let rt = ctx.runtime()?.ok_or_else(|| {
        CliError::failure(format!(
            "no running gateway found (no {} in {}); start one with `telephony serve` (or `telephony serve --sandbox`)",
            telephony_server::runtime::RUNTIME_FILE,
            ctx.data_dir().display()
        ))
    })?;
    let kind: telephony_server::config::ProviderKind =
        rt.provider.parse().map_err(CliError::failure)?;
    let to = match to {
        Some(t) => telephony_core::PhoneNumber::parse(&t)
            .map_err(|e| CliError::config(format!("--to: {e}")))?
            .to_string(),
        None => ctx
            .config
            .from_number
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| providers::sandbox_from(kind).to_string()),
    };
    // Signed as the provider signs it: over the public webhook URL; delivered to the local
    // listener.
    let webhook = providers::simulated_inbound(&rt, &ctx.config, &from, &to, &text, message_sid)
        .map_err(CliError::config)?;
    let sid = webhook.message_id.clone();
    let path_and_query = rt
        .webhook_url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let target = format!("http://{}{}", rt.public_addr, path_and_query);
    let mut request = reqwest::Client::new().post(&target);
    for (name, value) in &webhook.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let resp = request
        .body(webhook.body)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| CliError::failure(format!("could not post to {target}: {e}")))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if json {
        output::print_json(
            &json!({ "url": target, "status": status.as_u16(), "messageSid": sid, "response": text }),
        );
    } else {
        println!("posted inbound SMS {sid} to {target}: HTTP {status}");
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "gateway answered HTTP {status}: {}",
            text.trim()
        )))
    }
}

async fn simulate_call(
    ctx: Context,
    from: String,
    to: Option<String>,
    (speech, presses, order): (Vec<String>, Vec<String>, Vec<bool>),
    no_status_callback: bool,
    json: bool,
) -> Result<(), CliError> {
    use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};
    let from = telephony_core::PhoneNumber::parse(&from)
        .map_err(|e| CliError::config(format!("--from: {e}")))?;
    let rt = ctx.runtime()?.ok_or_else(|| {
        CliError::failure(format!(
            "no running gateway found (no {} in {}); start one with `telephony serve --sandbox`",
            telephony_server::runtime::RUNTIME_FILE,
            ctx.data_dir().display()
        ))
    })?;
    if rt.provider != "twilio" {
        return Err(CliError::config(format!(
            "simulate call plays Twilio; the running gateway uses {}",
            rt.provider
        )));
    }
    let (account_sid, token) = if rt.sandbox {
        (
            rt.sandbox_account_sid.clone().unwrap_or_default(),
            rt.sandbox_auth_token.clone().unwrap_or_default(),
        )
    } else {
        let token = ctx.config.twilio.auth_token.clone().ok_or_else(|| {
            CliError::config(
                "twilio.authToken (or TWILIO_AUTH_TOKEN) is needed to sign the webhooks",
            )
        })?;
        (
            ctx.config.twilio.account_sid.clone().unwrap_or_default(),
            token.expose().to_string(),
        )
    };
    let to = match to {
        Some(t) => telephony_core::PhoneNumber::parse(&t)
            .map_err(|e| CliError::config(format!("--to: {e}")))?
            .to_string(),
        None => ctx
            .config
            .from_number
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| {
                providers::sandbox_from(telephony_server::config::ProviderKind::Twilio).to_string()
            }),
    };
    let mut script = CallScript::new();
    let (mut speech, mut presses) = (speech.into_iter(), presses.into_iter());
    for is_speech in order {
        let next = if is_speech {
            speech.next().map(|t| (true, t))
        } else {
            presses.next().map(|d| (false, d))
        };
        script = match next {
            Some((true, text)) => script.say(text),
            Some((false, digits)) => script.press(digits),
            None => script,
        };
    }
    // Anything the argv scan missed (e.g. given through an alias) still runs, speech first.
    for text in speech {
        script = script.say(text);
    }
    for digits in presses {
        script = script.press(digits);
    }
    // After its last input the caller stays on the line for 3 simulated seconds, then hangs
    // up (a relay or stream would otherwise wait for it forever). The simulated clock runs
    // 50 times faster than real time, so an application answering over HTTP is heard.
    script = script.wait_ms(3000).hang_up_when_done();
    let sim = Simulator::new(
        SimulatorConfig::new(account_sid, token).with_simulated_second(Duration::from_millis(20)),
    );
    let mut call = InboundCall::new(from.to_string(), to, rt.webhook_url.clone()).script(script);
    if !no_status_callback {
        call = call.status_callback(rt.status_url.clone());
    }
    let outcome = sim
        .place_inbound_call(call)
        .await
        .map_err(|e| CliError::failure(format!("could not place the simulated call: {e}")))?;
    if json {
        output::print_json(&json!({
            "callSid": outcome.call_sid,
            "status": outcome.status,
            "answered": outcome.answered,
            "durationSecs": outcome.duration_secs,
            "heard": outcome.heard(),
            "relayReplies": outcome.relays.iter().flat_map(|r| r.reply_texts()).collect::<Vec<_>>(),
            "streams": outcome.streams.iter().map(|st| json!({
                "framesSent": st.media_frames_sent,
                "audioBytesReceived": st.received_audio.len(),
                "marksEchoed": st.echoed_marks(),
                "alerts": st.alert_codes(),
            })).collect::<Vec<_>>(),
            "gathers": outcome.gathers.iter().map(|g| json!({
                "verb": g.verb,
                "input": format!("{:?}", g.input),
                "action": g.action,
            })).collect::<Vec<_>>(),
            "documents": outcome.documents.iter().map(|d| json!({
                "url": d.url,
                "method": d.method,
                "httpStatus": d.http_status,
                "contentType": d.content_type,
                "body": d.body,
            })).collect::<Vec<_>>(),
            "error": outcome.error.as_ref().map(|e| json!({"code": e.code, "message": e.message, "url": e.url})),
        }));
    } else {
        println!(
            "simulated call {} from {from} to {}: {} after {}s",
            outcome.call_sid,
            rt.webhook_url,
            outcome.status,
            outcome.duration_secs.unwrap_or(0)
        );
        for line in outcome.heard() {
            println!("  heard: {line}");
        }
        for r in &outcome.relays {
            for reply in r.reply_texts() {
                println!("  relay said: {reply}");
            }
        }
        for st in &outcome.streams {
            println!(
                "  stream: {} frames sent, {} bytes of audio received, marks echoed {:?}",
                st.media_frames_sent,
                st.received_audio.len(),
                st.echoed_marks()
            );
        }
        if let Some(e) = &outcome.error {
            println!("  Twilio error {}: {}", e.code, e.message);
        }
    }
    match &outcome.error {
        None => Ok(()),
        Some(e) => Err(CliError::failure(format!(
            "the call failed with Twilio error {}: {}",
            e.code, e.message
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_parsing() {
        let now = OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap();
        assert_eq!(
            parse_since("10m", now).unwrap(),
            now - Duration::from_secs(600)
        );
        assert_eq!(
            parse_since("2h", now).unwrap(),
            now - Duration::from_secs(7200)
        );
        assert_eq!(
            parse_since("1d", now).unwrap(),
            now - Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_since("2026-01-02T03:04:05Z", now).unwrap(),
            OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap()
        );
        let e = parse_since("yesterday", now).unwrap_err();
        assert_eq!(e.code, crate::EXIT_CONFIG);
        assert!(e.message.contains("\"yesterday\""));
    }
}

//! `telephony config check` and `telephony config migrate`.

use serde_json::json;
use telephony::config::Config;
use telephony::server;

use crate::context::{CliError, Context};
use crate::output;

/// How `telephony config check` reports.
pub(super) struct CheckOptions {
    /// Everything as JSON.
    pub json: bool,
    /// The resolved configuration too.
    pub verbose: bool,
    /// For `serve --sandbox`: provider credentials are not needed.
    pub sandbox: bool,
}

/// `telephony config check`: a summary (the resolved configuration too with `verbose`;
/// everything as JSON with `json`); exit 2 when the configuration is refused or lacks
/// what `telephony serve` (or with `sandbox`, `serve --sandbox`) needs.
pub(super) fn check(ctx: Context, opts: CheckOptions) -> Result<(), CliError> {
    let CheckOptions {
        json,
        verbose,
        sandbox,
    } = opts;
    use telephony::config::dialects;
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
    .and_then(|()| telephony::tunnel::check(cfg, std::env::var("NGROK_AUTHTOKEN").ok().as_deref()));
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
            "store": c.store_backend().to_json(),
            "storeDescription": c.store_backend().describe(),
            "retention": c.retention_json(),
            "missingCredentials": c.missing_credentials(),
        }));
    }
    // What `serve` (without --sandbox) would refuse to start without: every served
    // account's credentials, each named with its account.
    let missing_for_serve: Vec<String> = if sandbox {
        Vec::new()
    } else if per_account.is_empty() {
        missing.iter().map(|m| m.to_string()).collect()
    } else {
        per_account
            .iter()
            .flat_map(|a| {
                let name = a["name"].as_str().unwrap_or_default().to_string();
                a["missingCredentials"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str())
                    .map(move |m| format!("{m} (account {name})"))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    if json {
        output::print_json(&json!({
            "valid": security.is_ok() && missing_for_serve.is_empty(),
            "file": ctx.sources.file,
            "dialect": report.dialect,
            "env": ctx.sources.env,
            "accounts": account_names,
            "defaultAccount": default_account,
            "served": per_account,
            "sender": sender,
            "store": cfg.store_backend().to_json(),
            "retention": cfg.retention_json(),
            "admin": {
                "bind": cfg.admin.bind,
                "port": cfg.admin.port,
                "access": server::admin_access(cfg),
            },
            "config": cfg.redacted_json(),
            "notImplemented": report.not_implemented,
            "notYetActive": inactive,
            "missingCredentials": missing,
            "unresolvedSecrets": report.unresolved_secrets,
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
                    a["storeDescription"].as_str().unwrap_or(""),
                    a["sender"].as_str().unwrap_or(""),
                );
                println!(
                    "account {}: retention: {}",
                    a["name"].as_str().unwrap_or(""),
                    a["retention"]["summary"].as_str().unwrap_or("")
                );
            }
        }
        println!("sender: {sender}");
        if account_names.is_empty() {
            println!("store: {}", cfg.store_backend().describe());
            println!(
                "retention: {}",
                cfg.retention_json()["summary"].as_str().unwrap_or("")
            );
        }
        println!(
            "admin: {}:{} ({})",
            cfg.admin.bind,
            cfg.admin.port,
            admin_access_text(cfg)
        );
        if cfg.admin.bridge_api {
            println!(
                "admin.bridgeApi: POST /sms/send, GET /sms/inbox and GET /health answer without a token on {}:{}",
                cfg.admin.bind, cfg.admin.port
            );
        }
        if verbose {
            println!("resolved configuration (secrets redacted):");
            println!(
                "{}",
                serde_json::to_string_pretty(&cfg.redacted_json()).unwrap_or_default()
            );
        }
        for k in &report.not_implemented {
            println!("not implemented: {}: {}", k.key, k.reason);
        }
        for k in &inactive {
            println!("note: {} is set but {}", k.key, k.reason);
        }
        for u in &report.unresolved_secrets {
            println!("note: {}", u.reason);
        }
        if sandbox && !missing.is_empty() {
            println!(
                "note: missing {}; `telephony serve --sandbox` needs none of them",
                missing.join(", ")
            );
        }
        if !verbose {
            println!(
                "(every resolved value, secrets redacted: `telephony config check --verbose`, or `--json`)"
            );
        }
    }
    security.map_err(|e| CliError::config(e.to_string()))?;
    if !missing_for_serve.is_empty() {
        let unresolved: Vec<&str> = report
            .unresolved_secrets
            .iter()
            .map(|u| u.reason.as_str())
            .collect();
        let why = if unresolved.is_empty() {
            String::new()
        } else {
            format!(" ({})", unresolved.join("; "))
        };
        return Err(CliError::config(format!(
            "missing {}{why}: `telephony serve` needs them (`telephony serve --sandbox` needs none: it runs against the built-in simulator; check for it with `telephony config check --sandbox`)",
            missing_for_serve.join(", ")
        )));
    }
    if !json {
        println!("config OK");
    }
    Ok(())
}

/// What `config check` says about who reaches the admin API.
fn admin_access_text(cfg: &Config) -> &'static str {
    match server::admin_access(cfg) {
        "tls+allowNetworks" => "HTTPS (admin.tls), only from admin.allowNetworks, bearer token",
        "tls" => "HTTPS (admin.tls), bearer token",
        "allowNetworks" => "plain HTTP, only from admin.allowNetworks, bearer token",
        _ => "loopback only, plain HTTP, bearer token",
    }
}

pub(super) fn migrate(explicit: Option<&std::path::Path>, to: &str) -> Result<(), CliError> {
    use telephony::config::dialects;
    let Some(file) = telephony::config::config_file(explicit) else {
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

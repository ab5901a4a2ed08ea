//! Config dialects: the configuration shapes of the systems this gateway replaces, read as
//! written and mapped onto the native config (`channels.telephony`).
//!
//! | dialect | read from | sender when both are set | public URL key |
//! |---|---|---|---|
//! | `channels.telephony` (seed 003) | the file, as is | `twilio.messagingServiceSid` | `publicUrl` (base URL) |
//! | `channels.sms` (seeds 001, 004) | the file + `TWILIO_*`, `SMS_PUBLIC_WEBHOOK_URL` | `fromNumber` | `publicWebhookUrl` (full URL) |
//! | `channels."twilio-sms"` (seed 002) | the file + `TWILIO_*` | `messagingServiceSid` | `publicUrl` (full URL) |
//! | environment only (seed 000) | `TWILIO_*` | `messagingServiceSid` | — |
//!
//! A full webhook URL splits into the native `publicUrl` (scheme, host and any prefix a proxy
//! strips) and `serve.path`: the gateway checks signatures against `publicUrl` + the path a
//! request arrives on, which is the URL the provider signed. The status path is
//! `{webhook path}/status`, so whatever exposes the webhook path (a proxy location, a
//! Tailscale Funnel `--set-path`) exposes it too.
//!
//! `accounts` (with `defaultAccount`) are read in both SMS dialects and map onto the native
//! `accounts` (see [`super::accounts`]): each account inherits the channel-level keys it does
//! not set, gets its own webhook, status (`{webhook path}/status`) and stream
//! (`{webhook path}/stream`) paths (two accounts may not share one) and its own store, and
//! every enabled account is served. The default account is `defaultAccount`, else the one
//! named `default`, else the first by name; the `TWILIO_*` variables apply to it.
//!
//! One file per dialect: `telephony.rs` (the native shape, SecretRefs resolved), `sms.rs`,
//! `twilio_sms.rs`; the SMS dialects share `account.rs` (an account's keys and their
//! inheritance), `mapping.rs` (accounts onto native keys) and `webhook_url.rs` (a full
//! webhook URL split into `publicUrl` and `serve.path`). The environment-only dialect is
//! the native environment reader (`config/environment.rs`) with no file. `report.rs` holds
//! what `config check` says about a dialect; [`migrate`] writes it out natively.

use std::path::Path;

use figment::Figment;
use figment::value::Dict;

use super::ConfigError;

mod account;
mod mapping;
mod report;
mod sms;
mod telephony;
mod twilio_sms;
mod webhook_url;

pub use report::{
    Dialect, DialectReport, NotImplemented, SMS_PUBLIC_WEBHOOK_URL, UnresolvedSecret,
    sender_summary,
};
pub(crate) use report::{note_foreign_env, rename_error};

pub use super::migration::{migrate, to_json5, to_toml};

/// The file in the native shape, the report, and the environment variables the dialect
/// consumed (the native environment reader skips them).
pub(crate) struct Loaded {
    pub(crate) figment: Figment,
    pub(crate) report: DialectReport,
    pub(crate) consumed_env: Vec<String>,
}

/// How secrets are treated while mapping.
#[derive(Clone, Copy)]
pub(crate) enum Secrets<'a> {
    /// Resolve SecretRefs with this environment.
    Resolve(&'a [(String, String)]),
    /// Keep SecretRefs as written (`config migrate`).
    Keep,
}

/// Reads a config file's figment in whichever dialect it is written.
pub(crate) fn load_file(
    fig: Figment,
    path: &Path,
    env: &[(String, String)],
    secrets: Secrets<'_>,
) -> Result<Loaded, ConfigError> {
    let file = path.display().to_string();
    let native = |fig: Figment, prefix: &str| -> Result<Loaded, ConfigError> {
        let (figment, unresolved_secrets) =
            telephony::native_with_refs(fig, &file, prefix, secrets)?;
        Ok(Loaded {
            figment,
            report: DialectReport {
                dialect: Dialect::Telephony,
                unresolved_secrets,
                ..Default::default()
            },
            consumed_env: Vec::new(),
        })
    };
    if !fig.contains("channels") {
        return native(fig, "");
    }
    let top: Dict = fig.extract().map_err(ConfigError::from)?;
    if let Some(other) = top.keys().find(|k| k.as_str() != "channels") {
        return Err(ConfigError::Invalid(format!(
            "unknown key {other:?} beside \"channels\" in {file}"
        )));
    }
    let channels: Dict = fig.extract_inner("channels")?;
    let names: Vec<&str> = channels.keys().map(String::as_str).collect();
    const KNOWN: &str = "telephony, sms or \"twilio-sms\"";
    match names.as_slice() {
        ["telephony"] => native(fig.focus("channels.telephony"), "channels.telephony."),
        ["sms"] => sms::load(&fig, &file, env, secrets),
        ["twilio-sms"] => twilio_sms::load(&fig, &file, env, secrets),
        [] => Err(ConfigError::Invalid(format!(
            "{file}: channels is empty; expected one channel: {KNOWN}"
        ))),
        [one] => Err(ConfigError::Invalid(format!(
            "{file}: channels.{one:?} is not a configuration this gateway reads; expected {KNOWN}"
        ))),
        several => Err(ConfigError::Invalid(format!(
            "{file}: channels mixes dialects ({}); a gateway config uses exactly one of {KNOWN}",
            several
                .iter()
                .map(|n| format!("channels.{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

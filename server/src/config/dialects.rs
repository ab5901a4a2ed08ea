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

use std::collections::BTreeMap;
use std::path::Path;

use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Profile};
use serde::{Deserialize, Serialize};
use telephony_core::policy::InboundPolicy;
use telephony_core::PhoneNumber;

use super::secret_ref::{self, SecretValue};
use super::{insert_path, ConfigError};

/// Which configuration shape a config was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// No config file: defaults and environment variables (the SMS bridge, seed 000).
    #[default]
    EnvOnly,
    /// `channels.telephony` or the bare native shape (seed 003).
    Telephony,
    /// `channels.sms` (the OpenClaw SMS channel, seeds 001 and 004).
    Sms,
    /// `channels."twilio-sms"` (the community Twilio SMS plugin, seed 002).
    TwilioSms,
}

impl Dialect {
    /// The dialect as `config check` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::EnvOnly => "environment only",
            Dialect::Telephony => "channels.telephony",
            Dialect::Sms => "channels.sms",
            Dialect::TwilioSms => "channels.\"twilio-sms\"",
        }
    }
}

impl Serialize for Dialect {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A key the dialect defines that this gateway reads but does not act on (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotImplemented {
    /// The key path as written.
    pub key: String,
    /// What is missing.
    pub reason: String,
}

/// What the dialect reader found, for `config check`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DialectReport {
    /// The dialect read.
    pub dialect: Dialect,
    /// Every configured account (empty when the dialect has no `accounts` or none are set).
    pub accounts: Vec<String>,
    /// The default account (the one the `TWILIO_*` variables apply to), when accounts are
    /// configured.
    pub account: Option<String>,
    /// Which of `fromNumber` and the Messaging Service the dialect lets win, when both
    /// were set (with accounts: in the default account).
    pub sender_rule: Option<String>,
    /// With accounts: each account's rule, when both were set in it.
    pub account_sender_rules: BTreeMap<String, String>,
    /// Keys read but not acted on.
    pub not_implemented: Vec<NotImplemented>,
    /// `config check` key renames: native key → the key as written in the dialect.
    #[serde(skip)]
    pub(crate) key_names: BTreeMap<String, String>,
}

impl DialectReport {
    /// The key as the user wrote it for a native key (the native key when no dialect key
    /// maps to it).
    pub fn written_key(&self, native: &str) -> String {
        self.key_names
            .get(native)
            .cloned()
            .unwrap_or_else(|| native.to_string())
    }
}

/// The dialect's environment variables that only it reads.
pub const SMS_PUBLIC_WEBHOOK_URL: &str = "SMS_PUBLIC_WEBHOOK_URL";

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
        Ok(Loaded {
            figment: native_with_refs(fig, &file, prefix, secrets)?,
            report: DialectReport {
                dialect: Dialect::Telephony,
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
        ["sms"] => {
            let f: SmsFile = fig.extract()?;
            map_accounts(Keys::SMS, parts(f.channels.sms), &file, env, secrets)
        }
        ["twilio-sms"] => {
            let f: TwilioSmsFile = fig.extract()?;
            map_accounts(
                Keys::TWILIO_SMS,
                parts(f.channels.twilio_sms),
                &file,
                env,
                secrets,
            )
        }
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

/// The native figment, with SecretRefs at secret keys resolved (or kept).
fn native_with_refs(
    fig: Figment,
    file: &str,
    prefix: &str,
    secrets: Secrets<'_>,
) -> Result<Figment, ConfigError> {
    let mut dict: Dict = fig.extract()?;
    let env = match secrets {
        Secrets::Resolve(env) => Some(env),
        Secrets::Keep => None,
    };
    let mut found = secret_ref::resolve_native(&mut dict, env, prefix)
        .map_err(|e| ConfigError::Invalid(format!("{file}: {e}")))?;
    if let Some(Value::Dict(_, accounts)) = dict.get_mut("accounts") {
        for (name, account) in accounts.iter_mut() {
            if let Value::Dict(_, account) = account {
                found |=
                    secret_ref::resolve_native(account, env, &format!("{prefix}accounts.{name}."))
                        .map_err(|e| ConfigError::Invalid(format!("{file}: {e}")))?;
            }
        }
    }
    if !found {
        return Ok(fig);
    }
    // Values keep the tags of the figment they came from, which the new one does not know:
    // untagged, they take the new figment's tag, so errors name the key and the file.
    dict.values_mut().for_each(untag);
    // The file's metadata, so errors still name the file.
    let metadata = fig
        .metadata()
        .next()
        .cloned()
        .unwrap_or_else(|| Metadata::named(file.to_string()));
    Ok(Figment::from(DictProvider { dict, metadata }))
}

/// `v` and everything in it with the default tag (see [`native_with_refs`]).
fn untag(v: &mut Value) {
    use figment::value::Tag;
    match v {
        Value::String(t, _)
        | Value::Char(t, _)
        | Value::Bool(t, _)
        | Value::Num(t, _)
        | Value::Empty(t, _) => *t = Tag::Default,
        Value::Dict(t, d) => {
            *t = Tag::Default;
            d.values_mut().for_each(untag);
        }
        Value::Array(t, a) => {
            *t = Tag::Default;
            a.iter_mut().for_each(untag);
        }
    }
}

/// An in-memory dict that reports itself as `metadata` (the file it came from).
pub(crate) struct DictProvider {
    pub(crate) dict: Dict,
    pub(crate) metadata: Metadata,
}

impl figment::Provider for DictProvider {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<figment::value::Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsFile {
    channels: SmsChannels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsChannels {
    sms: SmsChannel,
}

/// `channels.sms` (and each of its `accounts`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SmsChannel {
    enabled: Option<bool>,
    account_sid: Option<String>,
    auth_token: Option<SecretValue>,
    from_number: Option<PhoneNumber>,
    messaging_service_sid: Option<String>,
    public_webhook_url: Option<String>,
    webhook_path: Option<String>,
    dm_policy: Option<InboundPolicy>,
    allow_from: Option<Vec<String>>,
    default_to: Option<String>,
    dangerously_disable_signature_validation: Option<bool>,
    accounts: Option<BTreeMap<String, SmsChannel>>,
    default_account: Option<String>,
}

impl ChannelBlock for SmsChannel {
    fn split(mut self) -> (Account, Option<BTreeMap<String, Self>>, Option<String>) {
        let (accounts, default_account) = (self.accounts.take(), self.default_account.take());
        (self.account(), accounts, default_account)
    }
}

impl SmsChannel {
    fn account(self) -> Account {
        Account {
            enabled: self.enabled,
            account_sid: self.account_sid,
            auth_token: self.auth_token,
            from_number: self.from_number,
            messaging_service_sid: self.messaging_service_sid,
            public_url: self.public_webhook_url,
            webhook_path: self.webhook_path,
            dm_policy: self.dm_policy,
            allow_from: self.allow_from,
            default_to: self.default_to,
            skip_signature: self.dangerously_disable_signature_validation,
            text_chunk_limit: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TwilioSmsFile {
    channels: TwilioSmsChannels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TwilioSmsChannels {
    #[serde(rename = "twilio-sms")]
    twilio_sms: TwilioSmsChannel,
}

/// `channels."twilio-sms"` (and each of its `accounts`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TwilioSmsChannel {
    enabled: Option<bool>,
    account_sid: Option<String>,
    auth_token: Option<SecretValue>,
    from_number: Option<PhoneNumber>,
    messaging_service_sid: Option<String>,
    public_url: Option<String>,
    dm_policy: Option<InboundPolicy>,
    allow_from: Option<Vec<String>>,
    text_chunk_limit: Option<usize>,
    accounts: Option<BTreeMap<String, TwilioSmsChannel>>,
    default_account: Option<String>,
}

impl ChannelBlock for TwilioSmsChannel {
    fn split(mut self) -> (Account, Option<BTreeMap<String, Self>>, Option<String>) {
        let (accounts, default_account) = (self.accounts.take(), self.default_account.take());
        (self.account(), accounts, default_account)
    }
}

impl TwilioSmsChannel {
    fn account(self) -> Account {
        Account {
            enabled: self.enabled,
            account_sid: self.account_sid,
            auth_token: self.auth_token,
            from_number: self.from_number,
            messaging_service_sid: self.messaging_service_sid,
            public_url: self.public_url,
            webhook_path: None,
            dm_policy: self.dm_policy,
            allow_from: self.allow_from,
            default_to: None,
            skip_signature: None,
            text_chunk_limit: self.text_chunk_limit,
        }
    }
}

/// A channel split into its own keys, its accounts (each flagged when it nests `accounts`
/// or `defaultAccount`, which an account may not) and `defaultAccount`.
struct Parts {
    base: Account,
    accounts: Option<BTreeMap<String, (Account, bool)>>,
    default_account: Option<String>,
}

/// A dialect's channel block (or one of its `accounts`).
trait ChannelBlock: Sized {
    /// The block's own keys as an account, its `accounts` and its `defaultAccount`.
    fn split(self) -> (Account, Option<BTreeMap<String, Self>>, Option<String>);
}

/// A channel block's parts; an account that has accounts of its own is marked (an error).
fn parts<C: ChannelBlock>(channel: C) -> Parts {
    let (base, accounts, default_account) = channel.split();
    let accounts = accounts.map(|m| {
        m.into_iter()
            .map(|(name, a)| {
                let (account, nested, nested_default) = a.split();
                (
                    name,
                    (account, nested.is_some() || nested_default.is_some()),
                )
            })
            .collect()
    });
    Parts {
        base,
        accounts,
        default_account,
    }
}

/// One account's keys, dialect-neutral.
#[derive(Clone, Default)]
struct Account {
    enabled: Option<bool>,
    account_sid: Option<String>,
    auth_token: Option<SecretValue>,
    from_number: Option<PhoneNumber>,
    messaging_service_sid: Option<String>,
    /// The full webhook URL.
    public_url: Option<String>,
    webhook_path: Option<String>,
    dm_policy: Option<InboundPolicy>,
    allow_from: Option<Vec<String>>,
    default_to: Option<String>,
    skip_signature: Option<bool>,
    text_chunk_limit: Option<usize>,
}

impl Account {
    /// This account's keys, the channel's where it sets none.
    fn inherit(self, base: &Account) -> Account {
        let b = base.clone();
        Account {
            enabled: self.enabled,
            account_sid: self.account_sid.or(b.account_sid),
            auth_token: self.auth_token.or(b.auth_token),
            from_number: self.from_number.or(b.from_number),
            messaging_service_sid: self.messaging_service_sid.or(b.messaging_service_sid),
            public_url: self.public_url.or(b.public_url),
            webhook_path: self.webhook_path.or(b.webhook_path),
            dm_policy: self.dm_policy.or(b.dm_policy),
            allow_from: self.allow_from.or(b.allow_from),
            default_to: self.default_to.or(b.default_to),
            skip_signature: self.skip_signature.or(b.skip_signature),
            text_chunk_limit: self.text_chunk_limit.or(b.text_chunk_limit),
        }
    }
}

/// What differs between the two SMS dialects.
struct Keys {
    dialect: Dialect,
    prefix: &'static str,
    public_url: &'static str,
    /// The key that sets the path, when the dialect has one.
    webhook_path: Option<&'static str>,
    default_path: &'static str,
    /// The URL must name the path (`publicWebhookUrl` is the URL Twilio calls).
    url_needs_path: bool,
    from_number_wins: bool,
    url_env: Option<&'static str>,
}

impl Keys {
    const SMS: Keys = Keys {
        dialect: Dialect::Sms,
        prefix: "channels.sms",
        public_url: "publicWebhookUrl",
        webhook_path: Some("webhookPath"),
        default_path: "/webhooks/sms",
        url_needs_path: true,
        from_number_wins: true,
        url_env: Some(SMS_PUBLIC_WEBHOOK_URL),
    };
    const TWILIO_SMS: Keys = Keys {
        dialect: Dialect::TwilioSms,
        prefix: "channels.\"twilio-sms\"",
        public_url: "publicUrl",
        webhook_path: None,
        default_path: "/twilio-sms/webhook",
        url_needs_path: false,
        from_number_wins: false,
        url_env: None,
    };
}

/// The native `publicUrl` and `serve.path` for an account.
fn split_url(
    url: Option<&str>,
    explicit_path: Option<&str>,
    keys: &Keys,
    key_prefix: &str,
) -> Result<(Option<String>, String), String> {
    if let Some(p) = explicit_path {
        if !p.starts_with('/') {
            return Err(format!(
                "{key_prefix}{}: {p:?} must start with '/'",
                keys.webhook_path.unwrap_or("webhookPath")
            ));
        }
    }
    let Some(url) = url else {
        return Ok((None, explicit_path.unwrap_or(keys.default_path).to_string()));
    };
    let key = format!("{key_prefix}{}", keys.public_url);
    // Twilio sends the query with the request, and never the fragment.
    let bare = url.split(['?', '#']).next().unwrap_or(url);
    let Some(scheme_end) = bare.find("://") else {
        return Err(format!(
            "{key}: {url:?} is not a URL; expected e.g. \"https://gateway.example.com{}\"",
            keys.default_path
        ));
    };
    let authority_end = bare[scheme_end + 3..]
        .find('/')
        .map_or(bare.len(), |i| scheme_end + 3 + i);
    let origin = &bare[..authority_end];
    let url_path = Some(&bare[authority_end..]).filter(|p| !p.is_empty() && *p != "/");
    match (url_path, explicit_path) {
        (Some(up), Some(wp)) if up == wp => Ok((Some(origin.to_string()), wp.to_string())),
        (Some(up), Some(wp)) if up.ends_with(wp) => Ok((
            Some(format!("{origin}{}", &up[..up.len() - wp.len()])),
            wp.to_string(),
        )),
        (Some(up), Some(wp)) => Err(format!(
            "{key}: its path {up:?} does not end with {key_prefix}{} {wp:?}: the gateway checks signatures against the URL the request arrives on, so the public path must be the local path (or end with it, behind a proxy that strips a prefix)",
            keys.webhook_path.unwrap_or("webhookPath")
        )),
        (Some(up), None) => Ok((Some(origin.to_string()), up.to_string())),
        (None, _) if keys.url_needs_path => Err(format!(
            "{key}: {url:?} has no path; expected the full URL Twilio calls, e.g. \"{origin}{}\"",
            explicit_path.unwrap_or(keys.default_path)
        )),
        (None, wp) => Ok((
            Some(origin.to_string()),
            wp.unwrap_or(keys.default_path).to_string(),
        )),
    }
}

fn map_accounts(
    keys: Keys,
    parts: Parts,
    file: &str,
    env: &[(String, String)],
    secrets: Secrets<'_>,
) -> Result<Loaded, ConfigError> {
    let p = keys.prefix;
    let invalid = |msg: String| ConfigError::Invalid(format!("{file}: {msg}"));
    let channel_enabled = parts.base.enabled.unwrap_or(true);
    let configured = parts.accounts.clone().unwrap_or_default();
    for (name, (_, nested)) in &configured {
        if *nested {
            return Err(invalid(format!(
                "{p}.accounts.{name}: an account may not have its own accounts or defaultAccount"
            )));
        }
    }
    let names: Vec<String> = configured.keys().cloned().collect();
    if let Some(d) = &parts.default_account {
        if !configured.contains_key(d) {
            return Err(invalid(if names.is_empty() {
                format!("{p}.defaultAccount: {d:?} names an account, but {p}.accounts is not set")
            } else {
                format!(
                    "{p}.defaultAccount: {d:?} is not one of the configured accounts ({})",
                    names.join(", ")
                )
            }));
        }
    }
    let multi = !configured.is_empty();
    // (name, key prefix, account): the channel itself is the one account without `accounts`.
    let mut accounts: Vec<(Option<String>, String, Account)> = if !multi {
        vec![(None, format!("{p}."), parts.base.clone())]
    } else {
        configured
            .into_iter()
            .map(|(name, (a, _))| {
                let kp = format!("{p}.accounts.{name}.");
                (Some(name), kp, a.inherit(&parts.base))
            })
            .collect()
    };
    let enabled: Vec<usize> = (0..accounts.len())
        .filter(|&i| accounts[i].2.enabled != Some(false))
        .collect();
    // The default account: `defaultAccount`, else the one named "default", else the first
    // enabled by name (as the native `accounts`).
    let selected = match &parts.default_account {
        Some(d) => accounts
            .iter()
            .position(|(n, _, _)| n.as_deref() == Some(d.as_str()))
            .expect("checked above"),
        None => enabled
            .iter()
            .copied()
            .find(|&i| accounts[i].0.as_deref() == Some("default"))
            .or(enabled.first().copied())
            .unwrap_or(0),
    };

    // The environment sets the default account (seed 002: "for the default account").
    let mut consumed = Vec::new();
    {
        let a = &mut accounts[selected].2;
        let get = |name: &str| {
            env.iter()
                .rev()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let mut take = |name: &'static str| {
            let v = get(name);
            if v.is_some() {
                consumed.push(name.to_string());
            }
            v
        };
        if let Some(v) = take("TWILIO_ACCOUNT_SID") {
            a.account_sid = Some(v);
        }
        if let Some(v) = take("TWILIO_AUTH_TOKEN") {
            a.auth_token = Some(SecretValue::Plain(telephony_core::Secret::new(v)));
        }
        // TWILIO_PHONE_NUMBER wins over its alias TWILIO_SMS_FROM, as natively.
        for var in ["TWILIO_SMS_FROM", "TWILIO_PHONE_NUMBER"] {
            if let Some(v) = take(var) {
                a.from_number = Some(PhoneNumber::parse(&v).map_err(|e| {
                    ConfigError::Invalid(format!("environment variable {var}: {e}"))
                })?);
            }
        }
        if let Some(v) = take("TWILIO_MESSAGING_SERVICE_SID") {
            a.messaging_service_sid = Some(v);
        }
        if let Some(var) = keys.url_env {
            if let Some(v) = take(var) {
                a.public_url = Some(v);
            }
        }
    }

    // Paths: each account's own, none shared.
    let mut resolved = Vec::with_capacity(accounts.len());
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (_, kp, a) in &accounts {
        let (base_url, path) = split_url(
            a.public_url.as_deref(),
            a.webhook_path.as_deref(),
            &keys,
            kp,
        )
        .map_err(invalid)?;
        let status = format!("{}/status", path.trim_end_matches('/'));
        let who = kp.trim_end_matches('.').to_string();
        for pth in [&path, &status] {
            if let Some(other) = seen.insert(pth.clone(), who.clone()) {
                return Err(invalid(format!(
                    "{other} and {who} both use the path {pth:?}; give each account its own {}",
                    keys.webhook_path
                        .map(|w| w.to_string())
                        .unwrap_or_else(|| format!("{} path", keys.public_url))
                )));
            }
        }
        resolved.push((base_url, path, status));
    }

    let mut report = DialectReport {
        dialect: keys.dialect,
        accounts: names,
        account: accounts[selected].0.clone(),
        ..Default::default()
    };
    let mut d = Dict::new();
    if !multi {
        let (_, kp, a) = &accounts[0];
        let one =
            account_dict(&keys, kp, a, &resolved[0], secrets, &mut report, "").map_err(invalid)?;
        d = one;
        insert_path(
            &mut d,
            "enabled",
            Value::from(channel_enabled && a.enabled != Some(false)),
        );
    } else {
        insert_path(&mut d, "enabled", Value::from(channel_enabled));
        if let Some(name) = &accounts[selected].0 {
            insert_path(&mut d, "defaultAccount", Value::from(name.clone()));
        }
        for (i, (name, kp, a)) in accounts.iter().enumerate() {
            let name = name.as_deref().expect("named when there are accounts");
            let native_prefix = format!("accounts.{name}.");
            let mut one = account_dict(
                &keys,
                kp,
                a,
                &resolved[i],
                secrets,
                &mut report,
                &native_prefix,
            )
            .map_err(invalid)?;
            insert_path(
                &mut one,
                "enabled",
                Value::from(channel_enabled && a.enabled != Some(false)),
            );
            // The real-time routes too get a path of the account's own.
            let stream = format!("{}/stream", resolved[i].1.trim_end_matches('/'));
            insert_path(&mut one, "serve.streamPath", Value::from(stream));
            insert_path(&mut d, &format!("accounts.{name}"), Value::from(one));
        }
    }
    Ok(Loaded {
        figment: Figment::from(DictProvider {
            dict: d,
            metadata: Metadata::named(format!("{file} ({}, mapped to native keys)", p)),
        }),
        report,
        consumed_env: consumed,
    })
}

/// One account's native keys (`kp`: its key prefix as written; `native_prefix`: where its
/// keys go natively, for `config check`'s renames).
fn account_dict(
    keys: &Keys,
    kp: &str,
    a: &Account,
    (base_url, path, status): &(Option<String>, String, String),
    secrets: Secrets<'_>,
    report: &mut DialectReport,
    native_prefix: &str,
) -> Result<Dict, String> {
    let p = keys.prefix;
    let mut d = Dict::new();
    let mut put = |key: &str, v: Value| insert_path(&mut d, key, v);
    put("provider", Value::from("twilio".to_string()));
    let mut messaging_service = a.messaging_service_sid.clone();
    if a.from_number.is_some() && messaging_service.is_some() {
        let rule = if keys.from_number_wins {
            format!("{kp}fromNumber wins over {kp}messagingServiceSid in {p}; the Messaging Service is not used")
        } else {
            format!("{kp}messagingServiceSid wins over {kp}fromNumber (as natively)")
        };
        match native_prefix
            .strip_prefix("accounts.")
            .and_then(|rest| rest.strip_suffix('.'))
        {
            Some(name) => {
                if report.account.as_deref() == Some(name) {
                    report.sender_rule = Some(rule.clone());
                }
                report.account_sender_rules.insert(name.to_string(), rule);
            }
            None => report.sender_rule = Some(rule),
        }
        if keys.from_number_wins {
            messaging_service = None;
        }
    }
    if let Some(n) = &a.from_number {
        put("fromNumber", Value::from(n.as_str().to_string()));
    }
    if let Some(sid) = &a.account_sid {
        put("twilio.accountSid", Value::from(sid.clone()));
    }
    if let Some(t) = &a.auth_token {
        let key = format!("{kp}authToken");
        let v = match secrets {
            Secrets::Resolve(env) => Value::from(t.resolve(&key, env)?.expose().to_string()),
            Secrets::Keep => t.to_value(),
        };
        put("twilio.authToken", v);
    }
    if let Some(ms) = messaging_service {
        put("twilio.messagingServiceSid", Value::from(ms));
    }
    if let Some(pol) = a.dm_policy {
        put(
            "inboundPolicy",
            Value::serialize(pol).expect("a policy serializes"),
        );
    }
    if let Some(list) = &a.allow_from {
        put(
            "allowFrom",
            Value::from(list.iter().cloned().map(Value::from).collect::<Vec<_>>()),
        );
    }
    if let Some(t) = &a.default_to {
        put("defaultTo", Value::from(t.clone()));
    }
    if let Some(s) = a.skip_signature {
        put("skipSignatureVerification", Value::from(s));
    }
    if let Some(n) = a.text_chunk_limit {
        put("textChunkLimit", Value::from(n as u64));
    }
    if let Some(u) = base_url {
        put("publicUrl", Value::from(u.clone()));
    }
    put("serve.path", Value::from(path.clone()));
    put("serve.statusPath", Value::from(status.clone()));

    let url_key = format!("{kp}{}", keys.public_url);
    for (native, written) in [
        ("twilio.accountSid", format!("{kp}accountSid")),
        ("twilio.authToken", format!("{kp}authToken")),
        (
            "twilio.messagingServiceSid",
            format!("{kp}messagingServiceSid"),
        ),
        ("fromNumber", format!("{kp}fromNumber")),
        ("inboundPolicy", format!("{kp}dmPolicy")),
        ("allowFrom", format!("{kp}allowFrom")),
        ("defaultTo", format!("{kp}defaultTo")),
        (
            "skipSignatureVerification",
            format!("{kp}dangerouslyDisableSignatureValidation"),
        ),
        ("textChunkLimit", format!("{kp}textChunkLimit")),
        ("publicUrl", url_key.clone()),
        (
            "serve.path",
            keys.webhook_path
                .map(|w| format!("{kp}{w}"))
                .unwrap_or(url_key),
        ),
    ] {
        report
            .key_names
            .insert(format!("{native_prefix}{native}"), written);
    }
    Ok(d)
}

/// Which sender outbound messages use, and by which rule, for `config check`.
pub fn sender_summary(cfg: &super::Config, report: &DialectReport) -> String {
    use super::ProviderKind;
    let from = cfg.from_number.as_ref().map(|n| n.as_str().to_string());
    // An account's own rule; the default account's (or the only) one otherwise.
    let rule = match &cfg.account {
        Some(name) if !report.accounts.is_empty() => report.account_sender_rules.get(name),
        _ => report.sender_rule.as_ref(),
    }
    .map(|r| format!(" ({r})"))
    .unwrap_or_default();
    match cfg.provider {
        ProviderKind::Telnyx => match (&cfg.telnyx.messaging_profile_id, from) {
            (Some(p), Some(n)) => format!("fromNumber {n}, with messaging profile {p}"),
            (Some(p), None) => format!("messaging profile {p} (Telnyx picks the number)"),
            (None, Some(n)) => format!("fromNumber {n}"),
            (None, None) => "none: set fromNumber or telnyx.messagingProfileId".into(),
        },
        ProviderKind::Twilio => match (&cfg.twilio.messaging_service_sid, from) {
            (Some(ms), Some(n)) => format!(
                "Messaging Service {ms}; it wins over fromNumber {n}{}",
                if rule.is_empty() {
                    " (twilio.messagingServiceSid wins in channels.telephony)".to_string()
                } else {
                    rule
                }
            ),
            (Some(ms), None) => format!("Messaging Service {ms}"),
            (None, Some(n)) => format!("fromNumber {n}{rule}"),
            (None, None) => "none: set fromNumber or a Messaging Service SID".into(),
        },
    }
}

/// Notes environment variables that only another dialect reads.
pub(crate) fn note_foreign_env(report: &mut DialectReport, env: &[(String, String)]) {
    let set = env
        .iter()
        .any(|(k, v)| k == SMS_PUBLIC_WEBHOOK_URL && !v.is_empty());
    if set && report.dialect != Dialect::Sms {
        report.not_implemented.push(NotImplemented {
            key: SMS_PUBLIC_WEBHOOK_URL.into(),
            reason: format!(
                "read only with channels.sms; with {} set publicUrl (the URL without the webhook path) and serve.path",
                report.dialect.as_str()
            ),
        });
    }
}

/// A config error from the native stage, with the key as the user wrote it and the file.
pub(crate) fn rename_error(e: ConfigError, report: &DialectReport, file: &str) -> ConfigError {
    match e {
        ConfigError::Rule { key, reason } if report.key_names.contains_key(&key) => {
            ConfigError::Invalid(format!("{file}: {}: {reason}", report.written_key(&key)))
        }
        other => other,
    }
}

/// The native config equivalent to `file` (SecretRefs kept as written, environment values
/// left to the environment), as `{ channels: { telephony: { … } } }`.
pub fn migrate(
    file: &Path,
    env: &[(String, String)],
) -> Result<(serde_json::Value, DialectReport), ConfigError> {
    let fig = super::file_figment(file)?;
    // Only the variables no native reader knows are folded in.
    let dialect_only: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k == SMS_PUBLIC_WEBHOOK_URL)
        .cloned()
        .collect();
    let loaded = load_file(fig, file, &dialect_only, Secrets::Keep)?;
    let dict: Dict = loaded.figment.extract()?;
    let native = serde_json::to_value(&dict)
        .map_err(|e| ConfigError::Invalid(format!("{}: {e}", file.display())))?;
    Ok((
        serde_json::json!({ "channels": { "telephony": native } }),
        loaded.report,
    ))
}

/// `value` as TOML (`[channels.telephony]` tables).
pub fn to_toml(value: &serde_json::Value) -> Result<String, String> {
    toml::to_string_pretty(value).map_err(|e| format!("cannot write the config as TOML: {e}"))
}

/// `value` as JSON5: unquoted keys where JSON5 allows them, trailing commas.
pub fn to_json5(value: &serde_json::Value) -> String {
    fn key(k: &str) -> String {
        let ident = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if ident {
            k.to_string()
        } else {
            serde_json::to_string(k).expect("a string serializes")
        }
    }
    fn write(v: &serde_json::Value, indent: usize, out: &mut String) {
        let pad = "  ".repeat(indent + 1);
        let close = "  ".repeat(indent);
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                out.push_str("{\n");
                for (k, v) in m {
                    out.push_str(&format!("{pad}{}: ", key(k)));
                    write(v, indent + 1, out);
                    out.push_str(",\n");
                }
                out.push_str(&close);
                out.push('}');
            }
            serde_json::Value::Array(a) if !a.is_empty() => {
                out.push_str("[\n");
                for v in a {
                    out.push_str(&pad);
                    write(v, indent + 1, out);
                    out.push_str(",\n");
                }
                out.push_str(&close);
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, 0, &mut out);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_urls_split_into_public_url_and_path() {
        let sms = Keys::SMS;
        let kp = "channels.sms.";
        assert_eq!(
            split_url(
                Some("https://gw.example.com/webhooks/sms?x=1#f"),
                None,
                &sms,
                kp
            )
            .unwrap(),
            (
                Some("https://gw.example.com".to_string()),
                "/webhooks/sms".to_string()
            )
        );
        assert_eq!(
            split_url(
                Some("https://gw.example.com/edge/webhooks/sms/support"),
                Some("/webhooks/sms/support"),
                &sms,
                kp
            )
            .unwrap(),
            (
                Some("https://gw.example.com/edge".to_string()),
                "/webhooks/sms/support".to_string()
            )
        );
        assert_eq!(
            split_url(None, None, &sms, kp).unwrap(),
            (None, "/webhooks/sms".to_string())
        );
        assert_eq!(
            split_url(Some("https://gw.example.com/api/sms"), Some("/webhooks/sms"), &sms, kp)
                .unwrap_err(),
            "channels.sms.publicWebhookUrl: its path \"/api/sms\" does not end with channels.sms.webhookPath \"/webhooks/sms\": the gateway checks signatures against the URL the request arrives on, so the public path must be the local path (or end with it, behind a proxy that strips a prefix)"
        );
        assert_eq!(
            split_url(Some("https://gw.example.com"), None, &sms, kp).unwrap_err(),
            "channels.sms.publicWebhookUrl: \"https://gw.example.com\" has no path; expected the full URL Twilio calls, e.g. \"https://gw.example.com/webhooks/sms\""
        );
        let tw = Keys::TWILIO_SMS;
        assert_eq!(
            split_url(Some("https://sms.example.com"), None, &tw, "x.").unwrap(),
            (
                Some("https://sms.example.com".to_string()),
                "/twilio-sms/webhook".to_string()
            )
        );
    }

    #[test]
    fn json5_output_quotes_only_what_needs_it() {
        let v = serde_json::json!({"channels": {"twilio-sms": {"allowFrom": ["+1555"], "n": 2, "e": {}}}});
        assert_eq!(
            to_json5(&v),
            "{\n  channels: {\n    \"twilio-sms\": {\n      allowFrom: [\n        \"+1555\",\n      ],\n      e: {},\n      n: 2,\n    },\n  },\n}\n"
        );
    }
}

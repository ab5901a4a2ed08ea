//! The SMS dialects' channels and accounts mapped onto the native keys: the default
//! account, the environment applied to it, each account's own paths, and `config check`'s
//! key renames.

use std::collections::BTreeMap;

use figment::value::{Dict, Value};
use figment::{Figment, Metadata};
use telephony_core::PhoneNumber;

use super::account::{Account, Parts};
use super::telephony::DictProvider;
use super::webhook_url::split_url;
use super::{Dialect, DialectReport, Loaded, Secrets};
use crate::config::ConfigError;
use crate::config::environment::insert_path;
use crate::config::secret_ref::SecretValue;

/// What differs between the two SMS dialects.
pub(super) struct Keys {
    pub(super) dialect: Dialect,
    pub(super) prefix: &'static str,
    pub(super) public_url: &'static str,
    /// The key that sets the path, when the dialect has one.
    pub(super) webhook_path: Option<&'static str>,
    pub(super) default_path: &'static str,
    /// The URL must name the path (`publicWebhookUrl` is the URL Twilio calls).
    pub(super) url_needs_path: bool,
    pub(super) from_number_wins: bool,
    pub(super) url_env: Option<&'static str>,
}

/// Maps an SMS dialect's channel (and its accounts) onto the native keys.
pub(super) fn map_accounts(
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
            format!(
                "{kp}fromNumber wins over {kp}messagingServiceSid in {p}; the Messaging Service is not used"
            )
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

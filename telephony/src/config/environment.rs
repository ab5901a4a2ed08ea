//! Environment variables: `TWILIO_*`, `TELNYX_*`, `NGROK_AUTHTOKEN` and
//! `TELEPHONY_DATABASE_URL` (`store.url`) set the keys in
//! [`ENV_KEYS`]; `TELEPHONY_*` variables override any key (`TELEPHONY_SERVE__PORT=4000`
//! sets `serve.port`: `__` separates levels and `SNAKE_CASE` maps to `camelCase`). With no
//! config file, this is the whole configuration (the environment-only dialect, seed 000).

use std::collections::BTreeMap;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Profile};

use super::ConfigError;

/// Environment variables read besides `TELEPHONY_*`, and the key each sets.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("TWILIO_ACCOUNT_SID", "twilio.accountSid"),
    ("TWILIO_AUTH_TOKEN", "twilio.authToken"),
    ("TWILIO_SMS_FROM", "fromNumber"),
    ("TWILIO_PHONE_NUMBER", "fromNumber"),
    ("TWILIO_MESSAGING_SERVICE_SID", "twilio.messagingServiceSid"),
    ("TWILIO_API_KEY_SID", "twilio.apiKeySid"),
    ("TWILIO_API_KEY_SECRET", "twilio.apiKeySecret"),
    ("TWILIO_API_BASE_URL", "twilio.apiBaseUrl"),
    ("TELNYX_API_KEY", "telnyx.apiKey"),
    ("TELNYX_PUBLIC_KEY", "telnyx.publicKey"),
    ("TELNYX_MESSAGING_PROFILE_ID", "telnyx.messagingProfileId"),
    ("TELNYX_API_BASE_URL", "telnyx.apiBaseUrl"),
    ("TELNYX_CONNECTION_ID", "telnyx.connectionId"),
    ("NGROK_AUTHTOKEN", "tunnel.ngrokAuthToken"),
    ("TELEPHONY_DATABASE_URL", "store.url"),
];

/// `TELEPHONY_*` variables that are not configuration keys (`TELEPHONY_REPLICA_ID`: this
/// process's replica id, read by the server when it builds its gateways; the send lease
/// below).
pub const NON_CONFIG_VARS: &[&str] = &[
    "TELEPHONY_CONFIG",
    "TELEPHONY_LOG",
    "TELEPHONY_REPLICA_ID",
    SEND_LEASE_VAR,
];

/// The outbox's send lease in milliseconds (default two minutes, at least 8 s): how long a
/// replica that died mid-send holds its messages. Not a config key: tests that kill a
/// process shorten it, so they need not wait two minutes.
pub const SEND_LEASE_VAR: &str = "TELEPHONY_SEND_LEASE_MS";

/// Environment values as a figment provider whose errors say "environment variables …".
struct EnvVars {
    dict: Dict,
    names: Vec<String>,
}

impl figment::Provider for EnvVars {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("environment variables ({})", self.names.join(", ")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// `TWILIO_*` and `TELEPHONY_*` variables as a figment provider, plus the names used.
pub(super) fn env_provider(
    env: &[(String, String)],
) -> Result<(Figment, Vec<String>), ConfigError> {
    let mut root = Dict::new();
    let mut names = Vec::new();
    let lookup: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // TWILIO_PHONE_NUMBER comes after its alias so it wins when both are set.
    for (var, key) in ENV_KEYS {
        if let Some(v) = lookup.get(var).filter(|v| !v.is_empty()) {
            insert_path(&mut root, key, Value::from(v.to_string()));
            names.push(var.to_string());
        }
    }
    for (var, v) in &lookup {
        let Some(rest) = var.strip_prefix("TELEPHONY_") else {
            continue;
        };
        // The CLI's own variables, not config keys; and the named ones above.
        if NON_CONFIG_VARS.contains(var)
            || rest.is_empty()
            || ENV_KEYS.iter().any(|(named, _)| named == var)
        {
            continue;
        }
        let key = rest
            .split("__")
            .map(snake_to_camel)
            .collect::<Vec<_>>()
            .join(".");
        insert_path(&mut root, &key, env_value(v));
        names.push(var.to_string());
    }
    let fig = Figment::from(EnvVars {
        dict: root,
        names: names.clone(),
    });
    Ok((fig, names))
}

fn snake_to_camel(s: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for (i, c) in s.chars().enumerate() {
        if c == '_' {
            upper = true;
        } else if upper && i > 0 {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Numbers and booleans become typed values; `+1555…` and `0…` stay strings; `[a,b]` is a list.
fn env_value(v: &str) -> Value {
    let t = v.trim();
    if t == "true" || t == "false" {
        return Value::from(t == "true");
    }
    let leading_zero = t.starts_with('0') && t.len() > 1;
    let plain_number = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if plain_number && !leading_zero {
        if let Ok(n) = t.parse::<u64>() {
            return Value::from(n);
        }
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let items: Vec<Value> = inner
            .split(',')
            .map(|s| s.trim().trim_matches('"'))
            .filter(|s| !s.is_empty())
            .map(|s| Value::from(s.to_string()))
            .collect();
        return Value::from(items);
    }
    Value::from(v.to_string())
}

/// Sets the dotted `key` (`serve.port`) in `root`, making the tables on the way.
pub(super) fn insert_path(root: &mut Dict, key: &str, value: Value) {
    let mut parts = key.split('.').peekable();
    let mut cur = root;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), value);
            return;
        }
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::from(Map::<String, Value>::new()));
        if !matches!(entry, Value::Dict(..)) {
            *entry = Value::from(Map::<String, Value>::new());
        }
        match entry {
            Value::Dict(_, d) => cur = d,
            _ => unreachable!("just made a dict"),
        }
    }
}

//! SecretRef values (seed 004): wherever a secret goes, a reference to it may stand instead:
//! `{ source: "env", provider: "default", id: "TWILIO_AUTH_TOKEN" }` (an environment
//! variable) or `{ source: "file", id: "/run/secrets/twilio" }` (a file's contents, without
//! the trailing newline). A reference that cannot be resolved is an error that names the key
//! and the reference, never a value.

use std::fmt;

use figment::value::{Dict, Value};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use telephony_core::Secret;

/// `{ source, provider?, id }`: where a secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// `env` or `file`.
    pub source: String,
    /// The secrets provider; only `default` (or none) is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The variable's name (`env`) or the file's path (`file`).
    pub id: String,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{ source: {:?}, ", self.source)?;
        if let Some(p) = &self.provider {
            write!(f, "provider: {p:?}, ")?;
        }
        write!(f, "id: {:?} }}", self.id)
    }
}

impl SecretRef {
    /// The secret, read from `env` (for `source: "env"`) or the file system; the error says
    /// why not (never with the value).
    pub fn resolve(&self, env: &[(String, String)]) -> Result<Secret, String> {
        if let Some(p) = self.provider.as_deref().filter(|p| *p != "default") {
            return Err(format!(
                "secret provider {p:?} is not supported; only \"default\" is"
            ));
        }
        match self.source.as_str() {
            "env" => match env.iter().rev().find(|(k, _)| k == &self.id) {
                Some((_, v)) if !v.is_empty() => Ok(Secret::new(v.clone())),
                Some(_) => Err(format!("environment variable {} is empty", self.id)),
                None => Err(format!("environment variable {} is not set", self.id)),
            },
            "file" => {
                // The io error names the path and the failure, not the contents.
                let text = std::fs::read_to_string(&self.id)
                    .map_err(|e| format!("cannot read file {}: {e}", self.id))?;
                let value = text.trim_end_matches(['\n', '\r']);
                if value.is_empty() {
                    return Err(format!("file {} is empty", self.id));
                }
                Ok(Secret::new(value))
            }
            other => Err(format!(
                "unknown source {other:?}; expected \"env\" or \"file\""
            )),
        }
    }
}

/// A secret as written: the value itself, or a [`SecretRef`] to it.
#[derive(Debug, Clone)]
pub enum SecretValue {
    /// The value (redacted in `Debug`).
    Plain(Secret),
    /// A reference, resolved at load.
    Ref(SecretRef),
}

impl SecretValue {
    /// The secret; `key` names the setting in the error.
    pub fn resolve(&self, key: &str, env: &[(String, String)]) -> Result<Secret, String> {
        match self {
            SecretValue::Plain(s) => Ok(s.clone()),
            SecretValue::Ref(r) => r
                .resolve(env)
                .map_err(|why| format!("{key}: cannot resolve the SecretRef {r}: {why}")),
        }
    }

    /// As a config value: the plain string, or the reference as written (for `config
    /// migrate`, which keeps references unresolved).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            SecretValue::Plain(s) => Value::from(s.expose().to_string()),
            SecretValue::Ref(r) => Value::serialize(r).expect("a SecretRef serializes"),
        }
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a string or a SecretRef such as { source: \"env\", provider: \"default\", id: \"TWILIO_AUTH_TOKEN\" }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretValue, E> {
                Ok(SecretValue::Plain(Secret::new(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SecretValue, A::Error> {
                SecretRef::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SecretValue::Ref)
            }
        }
        d.deserialize_any(V)
    }
}

/// The native keys that hold secrets.
pub(crate) const NATIVE_SECRET_KEYS: &[&str] = &[
    "twilio.authToken",
    "twilio.apiKeySecret",
    "telnyx.apiKey",
    "telnyx.publicKey",
    "forward.secret",
    "admin.token",
    "tunnel.ngrokAuthToken",
    "store.url",
];

/// The provider credentials: only the commands that talk to the provider need them, so a
/// reference to one that cannot be resolved is not an error at load (see
/// [`resolve_native`]).
pub(crate) const DEFERRED_SECRET_KEYS: &[&str] = &[
    "twilio.authToken",
    "twilio.apiKeySecret",
    "telnyx.apiKey",
    "telnyx.publicKey",
];

/// Replaces every SecretRef at a native secret key of `dict` with the secret (or, when
/// `env` is `None`, leaves it as written). Returns whether any reference was found.
///
/// A provider credential ([`DEFERRED_SECRET_KEYS`]) whose reference cannot be resolved
/// becomes empty, which counts as missing (so an account does not inherit the top-level
/// value instead), and the reason goes to `unresolved`: `telephony inbox` or `simulate`
/// work without the file or variable; `serve` and `config check` name it.
pub(crate) fn resolve_native(
    dict: &mut Dict,
    env: Option<&[(String, String)]>,
    key_prefix: &str,
    unresolved: &mut Vec<super::dialects::UnresolvedSecret>,
) -> Result<bool, String> {
    let mut found = false;
    for key in NATIVE_SECRET_KEYS {
        let Some(slot) = lookup_mut(dict, key) else {
            continue;
        };
        if !matches!(slot, Value::Dict(..)) {
            continue;
        }
        let full_key = format!("{key_prefix}{key}");
        let r: SecretRef = slot.deserialize().map_err(|e| {
            format!(
                "{full_key}: expected a string or a SecretRef {{ source, provider?, id }}: {}",
                e.kind
            )
        })?;
        found = true;
        if let Some(env) = env {
            match SecretValue::Ref(r).resolve(&full_key, env) {
                Ok(secret) => *slot = Value::from(secret.expose().to_string()),
                Err(reason) if DEFERRED_SECRET_KEYS.contains(key) => {
                    *slot = Value::from(String::new());
                    unresolved.push(super::dialects::UnresolvedSecret {
                        key: full_key,
                        reason,
                    });
                }
                Err(reason) => return Err(reason),
            }
        }
    }
    Ok(found)
}

fn lookup_mut<'a>(dict: &'a mut Dict, key: &str) -> Option<&'a mut Value> {
    let (first, rest) = match key.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (key, None),
    };
    let v = dict.get_mut(first)?;
    match (rest, v) {
        (None, v) => Some(v),
        (Some(rest), Value::Dict(_, d)) => lookup_mut(d, rest),
        (Some(_), _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_and_file_references_resolve() {
        let r = SecretRef {
            source: "env".into(),
            provider: Some("default".into()),
            id: "TOK".into(),
        };
        assert_eq!(
            r.resolve(&env(&[("TOK", "s3cret")])).unwrap().expose(),
            "s3cret"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tok");
        std::fs::write(&p, "from-file\n").unwrap();
        let f = SecretRef {
            source: "file".into(),
            provider: None,
            id: p.display().to_string(),
        };
        assert_eq!(f.resolve(&[]).unwrap().expose(), "from-file");
    }

    #[test]
    fn unresolvable_references_say_why_without_values() {
        let r = SecretRef {
            source: "env".into(),
            provider: Some("default".into()),
            id: "TOK".into(),
        };
        let v = SecretValue::Ref(r.clone());
        assert_eq!(
            v.resolve("channels.sms.authToken", &[]).unwrap_err(),
            "channels.sms.authToken: cannot resolve the SecretRef { source: \"env\", provider: \"default\", id: \"TOK\" }: environment variable TOK is not set"
        );
        let vault = SecretRef {
            provider: Some("vault".into()),
            ..r.clone()
        };
        assert_eq!(
            vault.resolve(&env(&[("TOK", "x")])).unwrap_err(),
            "secret provider \"vault\" is not supported; only \"default\" is"
        );
        let exec = SecretRef {
            source: "exec".into(),
            ..r
        };
        assert_eq!(
            exec.resolve(&[]).unwrap_err(),
            "unknown source \"exec\"; expected \"env\" or \"file\""
        );
    }
}

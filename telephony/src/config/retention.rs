//! `store.retention`: how long the store keeps each kind of record, as a
//! [`RetentionPolicy`]. One duration for every kind (`"90d"`), or one per kind
//! (`{ default: "90d", messages: "30d", sends: "180d" }`, `default` for the kinds not
//! named); without it, everything is kept.

use telephony_core::store::{PruneKind, RetentionPolicy, parse_retention};

use super::schema::RetentionSection;
use super::{Config, ConfigError};

/// The keys of the per-kind form, `default` first.
const KEYS: &[&str] = &[
    "default", "messages", "sends", "calls", "forwards", "pairing",
];

fn rule(key: String, reason: String) -> ConfigError {
    ConfigError::Rule { key, reason }
}

fn duration(key: String, value: &str) -> Result<std::time::Duration, ConfigError> {
    parse_retention(value).map_err(|e| rule(key, e.to_string()))
}

impl Config {
    /// The retention policy of `store.retention`: everything kept forever when unset.
    ///
    /// ```
    /// use telephony::config::Config;
    /// use telephony_core::store::PruneKind;
    ///
    /// let cfg = Config::from_json5_str(r#"{ store: { retention: { default: "90d", messages: "30d" } } }"#)?;
    /// let policy = cfg.retention_policy()?;
    /// assert_eq!(policy.describe(), "messages 30d, sends 90d, calls 90d, forwards 90d, pairing 90d");
    /// assert_eq!(Config::default().retention_policy()?.describe(), "keep everything");
    ///
    /// let err = Config::from_json5_str(r#"{ store: { retention: "90 days" } }"#).unwrap_err();
    /// assert!(err.to_string().contains("store.retention"), "{err}");
    /// # Ok::<(), telephony::config::ConfigError>(())
    /// ```
    pub fn retention_policy(&self) -> Result<RetentionPolicy, ConfigError> {
        match &self.store.retention {
            None => Ok(RetentionPolicy::keep_everything()),
            Some(RetentionSection::All(value)) => Ok(RetentionPolicy::uniform(duration(
                "store.retention".into(),
                value,
            )?)),
            Some(RetentionSection::PerKind(kinds)) => {
                for key in kinds.keys() {
                    if key == "recordings" {
                        return Err(rule(
                            "store.retention.recordings".into(),
                            "the store keeps no call recordings (they stay with the provider), so there is nothing to prune; remove it".into(),
                        ));
                    }
                    if !KEYS.contains(&key.as_str()) {
                        return Err(rule(
                            format!("store.retention.{key}"),
                            format!("unknown kind; the kinds are {}", KEYS.join(", ")),
                        ));
                    }
                }
                let default = match kinds.get("default") {
                    Some(v) => Some(duration("store.retention.default".into(), v)?),
                    None => None,
                };
                let mut policy = RetentionPolicy::keep_everything();
                for kind in PruneKind::ALL {
                    let keep = match kinds.get(kind.as_str()) {
                        Some(v) => Some(duration(format!("store.retention.{kind}"), v)?),
                        None => default,
                    };
                    policy = policy.with(kind, keep);
                }
                Ok(policy)
            }
        }
    }

    /// `store.retention` as JSON for `config check --json`: each kind's duration (`null`:
    /// kept forever) and the summary `config check` prints.
    pub fn retention_json(&self) -> serde_json::Value {
        let Ok(policy) = self.retention_policy() else {
            return serde_json::Value::Null;
        };
        let mut kinds = serde_json::Map::new();
        for kind in PruneKind::ALL {
            kinds.insert(
                kind.as_str().into(),
                policy
                    .get(kind)
                    .map(telephony_core::store::format_retention)
                    .into(),
            );
        }
        serde_json::json!({ "summary": policy.describe(), "kinds": kinds })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json5: &str) -> Result<RetentionPolicy, String> {
        Config::from_json5_str(json5)
            .map_err(|e| e.to_string())
            .and_then(|c| c.retention_policy().map_err(|e| e.to_string()))
    }

    #[test]
    fn one_duration_applies_to_every_kind() {
        let p = policy(r#"{ store: { retention: "12h" } }"#).unwrap();
        for kind in PruneKind::ALL {
            assert_eq!(p.get(kind), Some(std::time::Duration::from_secs(43_200)));
        }
    }

    #[test]
    fn per_kind_without_default_keeps_the_others() {
        let p = policy(r#"{ store: { retention: { calls: "2w", pairing: "30s" } } }"#).unwrap();
        assert_eq!(
            p.describe(),
            "messages keep, sends keep, calls 14d, forwards keep, pairing 30s"
        );
    }

    #[test]
    fn bad_values_and_kinds_are_refused_by_key() {
        for (json5, expect) in [
            (
                r#"{ store: { retention: "90" } }"#,
                r#"store.retention: "90" is not a retention duration"#,
            ),
            (
                r#"{ store: { retention: { messages: "1y" } } }"#,
                r#"store.retention.messages: "1y" is not a retention duration"#,
            ),
            (
                r#"{ store: { retention: { default: "0d" } } }"#,
                r#"store.retention.default: "0d" is not a retention duration"#,
            ),
            (
                r#"{ store: { retention: { sendLog: "30d" } } }"#,
                "store.retention.sendLog: unknown kind; the kinds are default, messages, sends, calls, forwards, pairing",
            ),
            (
                r#"{ store: { retention: { recordings: "7d" } } }"#,
                "store.retention.recordings: the store keeps no call recordings",
            ),
        ] {
            let err = policy(json5).unwrap_err();
            assert!(err.contains(expect), "{json5}: {err}");
        }
    }
}

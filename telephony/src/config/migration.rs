//! `config migrate`: a config in any dialect as the native `channels.telephony` shape,
//! written as TOML or as JSON5 (SecretRefs kept as written).

use std::path::Path;

use figment::value::Dict;

use super::ConfigError;
use super::dialects::{DialectReport, SMS_PUBLIC_WEBHOOK_URL, Secrets, load_file};
use super::loading::file_figment;

/// The native config equivalent to `file` (SecretRefs kept as written, environment values
/// left to the environment), as `{ channels: { telephony: { … } } }`.
pub fn migrate(
    file: &Path,
    env: &[(String, String)],
) -> Result<(serde_json::Value, DialectReport), ConfigError> {
    let fig = file_figment(file)?;
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
    fn json5_output_quotes_only_what_needs_it() {
        let v = serde_json::json!({"channels": {"twilio-sms": {"allowFrom": ["+1555"], "n": 2, "e": {}}}});
        assert_eq!(
            to_json5(&v),
            "{\n  channels: {\n    \"twilio-sms\": {\n      allowFrom: [\n        \"+1555\",\n      ],\n      e: {},\n      n: 2,\n    },\n  },\n}\n"
        );
    }
}

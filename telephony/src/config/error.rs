//! [`ConfigError`]: what is wrong, naming the key and the source; figment's and the
//! parsers' errors turned into it without quoting the input (which may hold a secret).

/// A configuration problem; the message names the key and the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or parsed, or a key is unknown or has a bad value.
    #[error("{0}")]
    Invalid(String),
    /// The configuration is well-formed but not usable (e.g. `open` policy without `"*"`).
    #[error("invalid configuration: {key}: {reason}")]
    Rule {
        /// The key at fault.
        key: String,
        /// Why.
        reason: String,
    },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        figment_error_at(e, &[])
    }
}

/// A figment error whose key paths are under `prefix` (an account's keys were read from
/// `accounts.NAME`).
pub(super) fn figment_error_at(e: figment::Error, prefix: &[&str]) -> ConfigError {
    // figment's errors name the key path and the source (file or environment).
    let mut parts = Vec::new();
    for mut err in e {
        if !err.path.is_empty() {
            err.path.splice(0..0, prefix.iter().map(|p| p.to_string()));
        }
        let mut s = err.to_string();
        // figment prefixes the profile ("default."), which means nothing to users.
        s = s.replace("for key \"default.", "for key \"");
        parts.push(without_source_lines(&s));
    }
    ConfigError::Invalid(parts.join("; "))
}

/// A parser message without the excerpt of the input it quotes.
///
/// The JSON5 (pest) and TOML parsers print the offending line under a `N | …` gutter;
/// that line may hold a secret (`authToken = "…" oops`), so only the position and the
/// explanation are kept: ` --> 2:34`, `= expected …`, `TOML parse error at line 2, …`.
fn without_source_lines(message: &str) -> String {
    let is_excerpt = |line: &str| {
        let t = line.trim_start();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        // `  |`, `2 | authToken = …`, `  |     ^---`
        t[digits..].trim_start().starts_with('|')
    };
    let kept: Vec<&str> = message
        .lines()
        .filter(|l| !is_excerpt(l))
        .map(|l| l.trim_start().trim_start_matches("= "))
        .filter(|l| !l.trim().is_empty())
        .collect();
    kept.join(" ")
}

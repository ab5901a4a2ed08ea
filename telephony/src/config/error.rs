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
        if let Some(s) = unknown_name(&err) {
            parts.push(s);
            continue;
        }
        let mut s = err.to_string();
        // figment prefixes the profile ("default."), which means nothing to users.
        s = s.replace("for key \"default.", "for key \"");
        parts.push(without_source_lines(&s));
    }
    ConfigError::Invalid(parts.join("; "))
}

/// An unknown key or value, said plainly: "unknown key `serve.sevre` in
/// /abs/telephony.json5:3; did you mean `serve.serve`?", "unknown value `everyone` for
/// `inboundPolicy` in …; expected one of `pairing`, `allowlist`, `open`, `disabled`".
/// `None` for every other kind of error.
fn unknown_name(err: &figment::Error) -> Option<String> {
    use figment::error::Kind;
    let key = err.path.join(".");
    let location = location(err);
    match &err.kind {
        Kind::UnknownField(field, expected) => {
            let parent = &err.path[..err.path.len().saturating_sub(1)];
            let hint = match closest(field, expected) {
                Some(near) => {
                    let near = parent
                        .iter()
                        .map(String::as_str)
                        .chain([near])
                        .collect::<Vec<_>>()
                        .join(".");
                    format!("; did you mean `{near}`?")
                }
                None if expected.is_empty() => String::new(),
                None => format!("; expected {}", one_of(expected)),
            };
            let key = if key.is_empty() { field.clone() } else { key };
            Some(format!("unknown key `{key}`{location}{hint}"))
        }
        Kind::UnknownVariant(value, expected) => {
            let hint = match closest(value, expected) {
                Some(near) => format!("; did you mean `{near}`?"),
                None => String::new(),
            };
            Some(format!(
                "unknown value `{value}` for `{key}`{location}; expected {}{hint}",
                one_of(expected)
            ))
        }
        _ => None,
    }
}

/// ` in /abs/path/file.json5:LINE` for a file (the line where the key is, when it can be
/// found), else ` in` the source's name (` in environment variables (…)`).
fn location(err: &figment::Error) -> String {
    let Some(md) = &err.metadata else {
        return String::new();
    };
    match &md.source {
        Some(figment::Source::File(path)) => {
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            let line = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| key_line(&text, &err.path));
            match line {
                Some(n) => format!(" in {}:{n}", shown.display()),
                None => format!(" in {}", shown.display()),
            }
        }
        Some(other) => format!(" in {other} {}", md.name),
        None => format!(" in {}", md.name),
    }
}

/// The 1-based line of `path`'s last key in a JSON5 or TOML `text`: each key of the path
/// searched for after the previous one (a TOML table header `[serve]` counts), the last
/// one alone when the path does not follow the file's nesting (a dialect's wrapper).
fn key_line(text: &str, path: &[String]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let find = |key: &str, from: usize| (from..lines.len()).find(|&i| has_key(lines[i], key));
    let (last, parents) = path.split_last()?;
    let mut from = Some(0);
    for key in parents {
        from = from.and_then(|f| find(key, f));
    }
    from.and_then(|f| find(last, f))
        .or_else(|| find(last, 0))
        .map(|i| i + 1)
}

/// Whether `line` holds `key` as a key: `key:`, `"key":`, `'key' :`, `key =`, `[key]`,
/// `[a.key]` (not as part of a longer name or inside a value).
fn has_key(line: &str, key: &str) -> bool {
    let bytes = line.as_bytes();
    let mut start = 0;
    while let Some(at) = line[start..].find(key) {
        let i = start + at;
        let j = i + key.len();
        start = i + 1;
        // Before the key (and its opening quote): the line's start, `{`, `,`, `[` or `.`.
        let before = line[..i]
            .trim_end_matches(['"', '\''])
            .trim_end()
            .chars()
            .next_back();
        if before.is_some_and(|c| !matches!(c, '{' | ',' | '[' | '.')) {
            continue;
        }
        let rest = line[j..].trim_start_matches(['"', '\'']).trim_start();
        if rest.starts_with(':') || rest.starts_with('=') {
            return true;
        }
        if (rest.starts_with(']') || rest.starts_with('.'))
            && line.trim_start().starts_with('[')
            && bytes.get(j).is_some_and(|&b| b == b']' || b == b'.')
        {
            return true;
        }
    }
    false
}

/// "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        0 => "nothing".to_string(),
        1 => quoted[0].clone(),
        2 => format!("{} or {}", quoted[0], quoted[1]),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

/// The name in `names` closest to `word` (case aside, a swap of neighbours counting as
/// one edit), when it is near enough to be a typo: at most one edit for every three
/// letters (at least one).
fn closest<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    names
        .iter()
        .map(|n| (edit_distance(&word.to_lowercase(), &n.to_lowercase()), *n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbouring characters each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_near_and_other_words_are_not() {
        assert_eq!(edit_distance("sevre", "serve"), 1);
        assert_eq!(edit_distance("prot", "port"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let top = ["enabled", "provider", "serve", "admin", "publicUrl"];
        assert_eq!(closest("sevre", &top), Some("serve"));
        assert_eq!(closest("publicurl", &top), Some("publicUrl"));
        assert_eq!(closest("frobnicate", &top), None);
    }

    #[test]
    fn the_line_of_a_nested_key_follows_its_parents() {
        let json5 = "{\n  admin: { port: 1 },\n  serve: {\n    prot: 3335,\n  },\n}\n";
        assert_eq!(key_line(json5, &["serve".into(), "prot".into()]), Some(4));
        let toml = "[admin]\nport = 1\n\n[serve]\n\"prot\" = 2\n";
        assert_eq!(key_line(toml, &["serve".into(), "prot".into()]), Some(5));
        // A key only in a value, or inside a longer name, is not the key.
        assert_eq!(
            key_line("{ a: 'prot: x', xprot: 1 }", &["prot".into()]),
            None
        );
    }

    #[test]
    fn one_of_quotes_each_name_once() {
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b"]), "`a` or `b`");
        assert_eq!(one_of(&["a", "b", "c"]), "one of `a`, `b`, `c`");
    }
}

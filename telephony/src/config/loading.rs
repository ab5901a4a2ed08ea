//! Loading: a config file (JSON5 or TOML, by extension) or text in memory, in whichever
//! dialect it is written, merged with the environment and resolved into a [`Config`]
//! (accounts included), then validated.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Serialize;

use super::dialects::{self, DialectReport};
use super::environment::env_provider;
use super::{Config, ConfigError, accounts};

/// JSON5 as a figment [`Format`].
pub struct Json5;

impl Format for Json5 {
    type Error = json5::Error;
    const NAME: &'static str = "JSON5";

    fn from_str<T: serde::de::DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        json5::from_str(string)
    }
}

/// Where a config came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConfigSources {
    /// The file, if one was loaded.
    pub file: Option<PathBuf>,
    /// Environment variables that contributed (names only, never values).
    pub env: Vec<String>,
    /// The dialect the file was written in, and what `config check` should say about it.
    pub dialect: DialectReport,
}

/// The config file to load: `explicit` (`--config`, `TELEPHONY_CONFIG`) when given, else
/// `./telephony.json5` or `./telephony.toml` when one exists, else none (environment only).
///
/// ```
/// use std::path::Path;
/// use telephony::config::config_file;
///
/// assert_eq!(config_file(Some(Path::new("gw.toml"))).as_deref(), Some(Path::new("gw.toml")));
/// ```
pub fn config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    ["telephony.json5", "telephony.toml"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Config {
    /// Loads a config file (optional) and the environment.
    pub fn load(file: Option<&Path>) -> Result<(Config, ConfigSources), ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(file, &env)
    }

    /// Like [`load`](Self::load) with an explicit environment (for tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<(Config, ConfigSources), ConfigError> {
        let mut sources = ConfigSources::default();
        let mut fig = Figment::new();
        let mut consumed = Vec::new();
        if let Some(path) = file {
            let loaded = dialects::load_file(
                file_figment(path)?,
                path,
                env,
                dialects::Secrets::Resolve(env),
            )?;
            fig = fig.merge(loaded.figment);
            sources.file = Some(path.to_path_buf());
            sources.dialect = loaded.report;
            consumed = loaded.consumed_env;
        }
        // Variables a dialect already applied (to the account that runs) are not read again.
        let rest: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| !consumed.contains(k))
            .cloned()
            .collect();
        dialects::note_foreign_env(&mut sources.dialect, env);
        let (env_fig, names) = env_provider(&rest)?;
        sources.env = consumed;
        sources.env.extend(names);
        fig = fig.merge(env_fig);
        let file_name = file.map(|p| p.display().to_string()).unwrap_or_default();
        let cfg = Self::from_figment(fig)
            .map_err(|e| dialects::rename_error(e, &sources.dialect, &file_name))?;
        Ok((cfg, sources))
    }

    /// Parses a JSON5 string (wrapper optional), without the environment.
    pub fn from_json5_str(s: &str) -> Result<Config, ConfigError> {
        Self::from_str_figment(Figment::from(Json5::string(s)))
    }

    /// Parses a TOML string (wrapper optional: `[channels.telephony]`), without the
    /// environment: the TOML path of [`load`](Self::load) for text in memory.
    ///
    /// ```
    /// use telephony::config::Config;
    /// let cfg = Config::from_toml_str("[serve]\nport = 4000\n")?;
    /// assert_eq!(cfg.serve.port, 4000);
    /// assert!(Config::from_toml_str("[serve]\nport = \"x\"\n").is_err());
    /// # Ok::<(), telephony::config::ConfigError>(())
    /// ```
    pub fn from_toml_str(s: &str) -> Result<Config, ConfigError> {
        Self::from_str_figment(Figment::from(Toml::string(s)))
    }

    /// Text in memory in any dialect, without the environment (SecretRefs to variables
    /// do not resolve).
    fn from_str_figment(fig: Figment) -> Result<Config, ConfigError> {
        let path = Path::new("<string>");
        let loaded = dialects::load_file(fig, path, &[], dialects::Secrets::Resolve(&[]))?;
        Self::from_figment(loaded.figment)
            .map_err(|e| dialects::rename_error(e, &loaded.report, "<string>"))
    }

    pub(super) fn from_figment(fig: Figment) -> Result<Config, ConfigError> {
        let cfg: Config = fig.extract()?;
        let mut cfg = accounts::resolve(&fig, cfg)?;
        // A fragment is never sent in a request, so Twilio never signs it.
        let strip = |c: &mut Config| {
            c.public_url = c
                .public_url
                .take()
                .map(|u| without_fragment(&u).to_string())
        };
        strip(&mut cfg);
        cfg.accounts_resolved.iter_mut().for_each(strip);
        Ok(cfg)
    }
}

/// A config file as a figment, by its extension.
pub(super) fn file_figment(path: &Path) -> Result<Figment, ConfigError> {
    if !path.exists() {
        return Err(ConfigError::Invalid(format!(
            "config file {} does not exist",
            path.display()
        )));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => Ok(Figment::from(Toml::file_exact(path))),
        Some("json5") | Some("json") => Ok(Figment::from(Json5::file_exact(path))),
        _ => Err(ConfigError::Invalid(format!(
            "config file {} must end in .json5, .json or .toml",
            path.display()
        ))),
    }
}

/// `url` without its `#fragment`.
pub(super) fn without_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(u, _)| u)
}

//! Reading cases: every `*.json` file of a folder (each an array of cases), or JSON text.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Where a suite's cases come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaseSource {
    /// Every `*.json` file directly in this folder, sorted by file name; each file holds a
    /// JSON array of cases.
    Dir(PathBuf),
    /// One JSON array of cases (for cases kept inline or built in code).
    Json(String),
}

impl CaseSource {
    /// Cases from JSON text.
    ///
    /// ```
    /// use telephony_conformance::CaseSource;
    /// let source = CaseSource::json("[]");
    /// assert!(matches!(source, CaseSource::Json(_)));
    /// ```
    pub fn json(text: impl Into<String>) -> Self {
        CaseSource::Json(text.into())
    }
}

impl From<&Path> for CaseSource {
    fn from(p: &Path) -> Self {
        CaseSource::Dir(p.to_path_buf())
    }
}

impl From<PathBuf> for CaseSource {
    fn from(p: PathBuf) -> Self {
        CaseSource::Dir(p)
    }
}

impl From<&PathBuf> for CaseSource {
    fn from(p: &PathBuf) -> Self {
        CaseSource::Dir(p.clone())
    }
}

/// A case with the file it came from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Loaded<C> {
    /// The file name (`inline` for [`CaseSource::Json`]).
    pub file: String,
    /// The case.
    pub case: C,
}

/// Why cases could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadError {
    /// The file (or folder) at fault.
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.reason)
    }
}

impl std::error::Error for LoadError {}

/// Labels, for the duplicate check.
trait Labelled {
    fn label(&self) -> &str;
}

impl Labelled for crate::WebhookCase {
    fn label(&self) -> &str {
        &self.label
    }
}

impl Labelled for crate::SendCase {
    fn label(&self) -> &str {
        &self.label
    }
}

impl Labelled for crate::VoiceCase {
    fn label(&self) -> &str {
        &self.label
    }
}

/// Reads every webhook case of a source. An empty folder and a label used twice are
/// errors, so a mistyped path or a copy-pasted case cannot pass unnoticed.
///
/// ```
/// use telephony_conformance::{load_webhook_cases, CaseSource};
/// let err = load_webhook_cases(CaseSource::json(r#"[{"label": "x"}]"#)).unwrap_err();
/// assert!(err.reason.contains("missing field"), "{err}");
/// ```
pub fn load_webhook_cases(
    source: impl Into<CaseSource>,
) -> Result<Vec<Loaded<crate::WebhookCase>>, LoadError> {
    load(source.into())
}

/// Reads every send case of a source (same rules as [`load_webhook_cases`]).
pub fn load_send_cases(
    source: impl Into<CaseSource>,
) -> Result<Vec<Loaded<crate::SendCase>>, LoadError> {
    load(source.into())
}

/// Reads every voice case of a source (same rules as [`load_webhook_cases`]).
///
/// ```
/// use telephony_conformance::{load_voice_cases, shared_cases};
/// let cases = load_voice_cases(shared_cases("voice")).expect("the shared voice cases load");
/// assert!(cases.iter().all(|l| l.case.expect.contains_key("twilio") && l.case.expect.contains_key("telnyx")));
/// ```
pub fn load_voice_cases(
    source: impl Into<CaseSource>,
) -> Result<Vec<Loaded<crate::VoiceCase>>, LoadError> {
    load(source.into())
}

fn load<C: DeserializeOwned + Labelled>(source: CaseSource) -> Result<Vec<Loaded<C>>, LoadError> {
    let mut out = Vec::new();
    match source {
        CaseSource::Json(text) => out.extend(parse::<C>("inline", &text)?),
        CaseSource::Dir(dir) => {
            let shown = dir.display().to_string();
            let err = |reason: String| LoadError {
                file: shown.clone(),
                reason,
            };
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| err(format!("cannot list the folder: {e}")))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
                .collect();
            files.sort();
            for path in files {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let text = std::fs::read_to_string(&path).map_err(|e| LoadError {
                    file: name.clone(),
                    reason: format!("cannot read: {e}"),
                })?;
                out.extend(parse::<C>(&name, &text)?);
            }
            if out.is_empty() {
                return Err(err(
                    "no cases (no *.json file with a non-empty array)".into()
                ));
            }
        }
    }
    let mut seen = BTreeSet::new();
    for loaded in &out {
        if !seen.insert(loaded.case.label()) {
            return Err(LoadError {
                file: loaded.file.clone(),
                reason: format!("label {:?} is used twice", loaded.case.label()),
            });
        }
    }
    Ok(out)
}

fn parse<C: DeserializeOwned>(file: &str, text: &str) -> Result<Vec<Loaded<C>>, LoadError> {
    let cases: Vec<C> = serde_json::from_str(text).map_err(|e| LoadError {
        file: file.to_string(),
        reason: e.to_string(),
    })?;
    Ok(cases
        .into_iter()
        .map(|case| Loaded {
            file: file.to_string(),
            case,
        })
        .collect())
}

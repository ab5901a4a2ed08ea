//! `channels.telephony` (or the bare native shape, seed 003): read as written, with
//! SecretRefs at secret keys resolved (or kept, for `config migrate`).

use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Profile};

use super::{Secrets, UnresolvedSecret};
use crate::config::ConfigError;
use crate::config::secret_ref;

/// The native figment, with SecretRefs at secret keys resolved (or kept), and the
/// provider credentials whose references could not be resolved (left empty).
pub(super) fn native_with_refs(
    fig: Figment,
    file: &str,
    prefix: &str,
    secrets: Secrets<'_>,
) -> Result<(Figment, Vec<UnresolvedSecret>), ConfigError> {
    let mut dict: Dict = fig.extract()?;
    let env = match secrets {
        Secrets::Resolve(env) => Some(env),
        Secrets::Keep => None,
    };
    let mut unresolved = Vec::new();
    let mut found = secret_ref::resolve_native(&mut dict, env, prefix, &mut unresolved)
        .map_err(|e| ConfigError::Invalid(format!("{file}: {e}")))?;
    if let Some(Value::Dict(_, accounts)) = dict.get_mut("accounts") {
        for (name, account) in accounts.iter_mut() {
            if let Value::Dict(_, account) = account {
                found |= secret_ref::resolve_native(
                    account,
                    env,
                    &format!("{prefix}accounts.{name}."),
                    &mut unresolved,
                )
                .map_err(|e| ConfigError::Invalid(format!("{file}: {e}")))?;
            }
        }
    }
    for u in &mut unresolved {
        u.reason = format!("{file}: {}", u.reason);
    }
    if !found {
        return Ok((fig, unresolved));
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
    Ok((Figment::from(DictProvider { dict, metadata }), unresolved))
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
pub(super) struct DictProvider {
    pub(super) dict: Dict,
    pub(super) metadata: Metadata,
}

impl figment::Provider for DictProvider {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<figment::value::Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

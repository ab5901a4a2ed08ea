//! `telephony recordings [CALL] [--download DIR] [--json]`: the recordings' metadata kept
//! with the calls, and their audio fetched from the provider with its credentials; through
//! the running gateway or, with none running, from the store and the configured
//! credentials.

use std::path::{Path, PathBuf};

use telephony_serve::api::{self, ErrorCode};

use super::direct::{direct_gateway, open_store};
use crate::context::{CliError, Context};
use crate::output;

/// Lists (and with `download`, saves) the recordings of `call` or of every call.
pub(super) async fn recordings(
    ctx: Context,
    call: Option<String>,
    limit: usize,
    download: Option<PathBuf>,
    json: bool,
) -> Result<(), CliError> {
    let not_found = |id: &str| CliError::config(format!("no call with id {id:?}"));
    let admin = ctx.admin().await?;
    // Listing needs only the store; downloading needs the provider's credentials too.
    let direct = match (&admin, &download) {
        (Some(_), _) => None,
        (None, Some(_)) => Some(direct_gateway(&ctx.config).await?),
        (None, None) => None,
    };
    let list: api::RecordingList = match (&admin, &direct) {
        (Some(admin), _) => {
            let path = match &call {
                Some(id) => format!("/telephony/recordings?call={}&limit={limit}", encode(id)),
                None => format!("/telephony/recordings?limit={limit}"),
            };
            match admin.get(&path).await {
                Err(e) if e.remote == Some(ErrorCode::NotFound) => {
                    return Err(not_found(call.as_deref().unwrap_or_default()));
                }
                other => other?,
            }
        }
        (None, Some(gw)) => match gw.recordings(call.as_deref(), limit).await {
            Ok(list) => api::RecordingList {
                recordings: list.iter().map(api::Recording::from).collect(),
            },
            Err(telephony_core::StoreError::NotFound { .. }) => {
                return Err(not_found(call.as_deref().unwrap_or_default()));
            }
            Err(e) => return Err(e.into()),
        },
        (None, None) => {
            let store = open_store(&ctx.config).await?;
            if let Some(id) = &call {
                if store.call(id).await?.is_none() {
                    return Err(not_found(id));
                }
            }
            api::RecordingList {
                recordings: store
                    .recordings(call.as_deref(), limit)
                    .await?
                    .iter()
                    .map(api::Recording::from)
                    .collect(),
            }
        }
    };
    let mut saved = Vec::new();
    if let Some(dir) = &download {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::config(format!("--download {}: {e}", dir.display())))?;
        for r in &list.recordings {
            let (content_type, bytes) = match (&admin, &direct) {
                (Some(admin), _) => {
                    admin
                        .get_bytes(&format!("/telephony/recordings/{}/media", encode(&r.id)))
                        .await?
                }
                (None, Some(gw)) => match gw.fetch_recording(&r.id).await {
                    Ok(Some(m)) => (m.content_type.clone(), m.bytes.to_vec()),
                    Ok(None) => {
                        return Err(CliError::failure(format!("recording {} is gone", r.id)));
                    }
                    Err(e) => {
                        return Err(CliError::failure(format!(
                            "recording {}: {}",
                            r.id,
                            telephony_core::error_chain(&e)
                        )));
                    }
                },
                (None, None) => unreachable!(),
            };
            let media = telephony_core::voice::RecordingMedia::new(content_type, bytes.into());
            let path = file_in(dir, &r.id, media.extension());
            std::fs::write(&path, &media.bytes)
                .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
            saved.push(path);
        }
    }
    if json {
        output::print_json(&list);
    } else {
        output::print_recordings(&list.recordings);
        for p in &saved {
            println!("saved {}", p.display());
        }
    }
    Ok(())
}

/// `{dir}/{id}.{ext}`, the id reduced to characters safe in a file name.
fn file_in(dir: &Path, id: &str, ext: &str) -> PathBuf {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.{ext}"))
}

/// Percent-encodes everything but unreserved characters (Telnyx ids hold `:`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_paths_are_safe() {
        assert_eq!(
            file_in(Path::new("/tmp/r"), "v3:abc/../x", "wav"),
            PathBuf::from("/tmp/r/v3_abc____x.wav")
        );
        assert_eq!(encode("v3:a b"), "v3%3Aa%20b");
    }
}

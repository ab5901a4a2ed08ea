//! What went through the gateway: `telephony inbox`, `calls`, `receipt` and `log`, from the
//! running gateway or, with none running, from the store.

use std::time::Duration;

use telephony_core::{InboxQuery, MessageId};
use telephony_serve::api::{self, ErrorCode};
use time::OffsetDateTime;

use super::direct::open_store;
use crate::context::{CliError, Context};
use crate::output;

/// Parses `--since`: RFC 3339, or a duration ago like `30s`, `10m`, `2h`, `1d`.
pub(super) fn parse_since(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, CliError> {
    if let Ok(t) = telephony_core::rfc3339::parse(s) {
        return Ok(t);
    }
    let bad = || {
        CliError::config(format!(
            "invalid --since {s:?}: use RFC 3339 (2026-01-02T03:04:05Z) or a duration like 30s, 10m, 2h, 1d"
        ))
    };
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(now - Duration::from_secs(secs))
}

/// An admin list route with `limit` and an optional RFC 3339 `since` (its `+` escaped).
fn list_path(route: &str, limit: usize, since: Option<OffsetDateTime>) -> Result<String, CliError> {
    let mut path = format!("{route}?limit={limit}");
    if let Some(t) = since {
        let t = telephony_core::rfc3339::format(t);
        path.push_str(&format!("&since={}", t.replace('+', "%2B")));
    }
    Ok(path)
}

pub(super) async fn inbox(
    ctx: Context,
    since: Option<String>,
    limit: usize,
    json: bool,
) -> Result<(), CliError> {
    let since = since
        .as_deref()
        .map(|s| parse_since(s, OffsetDateTime::now_utc()))
        .transpose()?;
    let list: api::InboxList = match ctx.admin().await? {
        Some(admin) => {
            admin
                .get(&list_path("/telephony/inbox", limit, since)?)
                .await?
        }
        None => {
            let store = open_store(&ctx.config).await?;
            api::InboxList::from(store.inbox(&InboxQuery { since, limit }).await?.as_slice())
        }
    };
    if json {
        output::print_json(&list);
    } else {
        output::print_inbox(&list.messages);
    }
    Ok(())
}

pub(super) async fn calls(
    ctx: Context,
    since: Option<String>,
    limit: usize,
    json: bool,
) -> Result<(), CliError> {
    let since = since
        .as_deref()
        .map(|s| parse_since(s, OffsetDateTime::now_utc()))
        .transpose()?;
    let list: api::CallList = match ctx.admin().await? {
        Some(admin) => {
            admin
                .get(&list_path("/telephony/calls", limit, since)?)
                .await?
        }
        None => {
            let store = open_store(&ctx.config).await?;
            let calls = store
                .calls(&telephony_core::store::CallQuery { since, limit })
                .await?;
            api::CallList {
                calls: calls.iter().map(api::Call::from).collect(),
            }
        }
    };
    if json {
        output::print_json(&list);
    } else {
        output::print_calls(&list.calls);
    }
    Ok(())
}

pub(super) async fn receipt(ctx: Context, id: String, json: bool) -> Result<(), CliError> {
    let r: Option<api::Receipt> = match ctx.admin().await? {
        Some(admin) => match admin.get(&format!("/telephony/messages/{id}")).await {
            Ok(r) => Some(r),
            Err(e) if e.remote == Some(ErrorCode::NotFound) => None,
            Err(e) => return Err(e),
        },
        None => open_store(&ctx.config)
            .await?
            .receipt(&MessageId::from_string(id.clone()))
            .await?
            .as_ref()
            .map(api::Receipt::from),
    };
    let Some(r) = r else {
        return Err(CliError::failure(format!("no message with id {id:?}")));
    };
    if json {
        output::print_json(&r);
    } else {
        output::print_receipt_detail(&r);
    }
    Ok(())
}

pub(super) async fn send_log(
    ctx: Context,
    since: Option<String>,
    limit: usize,
    json: bool,
) -> Result<(), CliError> {
    let since = since
        .as_deref()
        .map(|s| parse_since(s, OffsetDateTime::now_utc()))
        .transpose()?;
    let list: api::ReceiptList = match ctx.admin().await? {
        Some(a) => a.get(&list_path("/telephony/log", limit, since)?).await?,
        None => api::ReceiptList::from(
            open_store(&ctx.config)
                .await?
                .receipts(since, limit)
                .await?
                .as_slice(),
        ),
    };
    let receipts = &list.receipts;
    if json {
        output::print_json(&list);
    } else if receipts.is_empty() {
        println!("no messages sent");
    } else {
        for r in receipts {
            println!(
                "{}  to {}  {:<10} {}  {}",
                output::ts(r.created_at),
                r.to,
                r.status.as_str(),
                if r.provider_sids.is_empty() {
                    "-".to_string()
                } else {
                    r.provider_sids.join(",")
                },
                r.body.replace('\n', " ")
            );
            if let Some(e) = &r.error {
                println!("  {e}");
            }
        }
        println!("{} message(s)", receipts.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_parsing() {
        let now = OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap();
        assert_eq!(
            parse_since("10m", now).unwrap(),
            now - Duration::from_secs(600)
        );
        assert_eq!(
            parse_since("2h", now).unwrap(),
            now - Duration::from_secs(7200)
        );
        assert_eq!(
            parse_since("1d", now).unwrap(),
            now - Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_since("2026-01-02T03:04:05Z", now).unwrap(),
            OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap()
        );
        let e = parse_since("yesterday", now).unwrap_err();
        assert_eq!(e.code, crate::EXIT_CONFIG);
        assert!(e.message.contains("\"yesterday\""));
    }
}

//! `telephony prune [--dry-run] [--json]`: deletes now, from each account's store (or the
//! `--account`'s), what `store.retention` no longer keeps, as the gateway's background
//! pruner does once a minute, and reports per kind what went (or would go). Works on the
//! store directly, whether a gateway runs or not (SQLite lets a second process write
//! between the gateway's transactions; PostgreSQL is shared anyway).

use serde::Serialize;
use telephony::config::{Config, StoreBackend};
use telephony_core::store::{PruneReport, RetentionPolicy};
use time::OffsetDateTime;

use super::direct::open_store;
use crate::context::{CliError, Context};
use crate::output;

/// Records per transaction, as the background pruner.
const BATCH: usize = 500;
/// Free pages given back per SQLite incremental-vacuum step.
const VACUUM_PAGES: u32 = 1024;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    dry_run: bool,
    accounts: Vec<AccountPruned>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountPruned {
    account: String,
    /// `keep everything`, or each kind's duration.
    retention: String,
    kinds: Vec<KindLine>,
    total: usize,
    /// SQLite pages (4 KiB) given back to the filesystem; PostgreSQL leaves it to
    /// autovacuum (0).
    pages_reclaimed: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KindLine {
    kind: &'static str,
    /// Records older than this were (or would be) removed.
    #[serde(with = "time::serde::rfc3339")]
    before: OffsetDateTime,
    removed: usize,
}

pub(super) async fn prune(ctx: Context, dry_run: bool, json: bool) -> Result<(), CliError> {
    let configs = match &ctx.account {
        Some(_) => vec![ctx.config.clone()],
        None => ctx.config.served_accounts(),
    };
    let now = OffsetDateTime::now_utc();
    let mut accounts = Vec::new();
    for config in &configs {
        accounts.push(prune_account(config, now, dry_run).await?);
    }
    let answer = Answer { dry_run, accounts };
    if json {
        output::print_json(&answer);
        return Ok(());
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for a in &answer.accounts {
        println!("account {}: retention: {}", a.account, a.retention);
        for k in &a.kinds {
            println!(
                "  {:<9} {verb} {} (older than {})",
                k.kind,
                k.removed,
                output::ts(k.before)
            );
        }
        if !dry_run && a.pages_reclaimed > 0 {
            println!(
                "  gave {} KiB back to the filesystem",
                a.pages_reclaimed * 4
            );
        }
    }
    Ok(())
}

async fn prune_account(
    config: &Config,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<AccountPruned, CliError> {
    let policy: RetentionPolicy = config.retention_policy()?;
    let account = config.account.clone().unwrap_or_else(|| "default".into());
    let mut out = AccountPruned {
        account,
        retention: policy.describe(),
        kinds: Vec::new(),
        total: 0,
        pages_reclaimed: 0,
    };
    if policy.keeps_everything() {
        return Ok(out);
    }
    let store = open_store(config).await?;
    let report: PruneReport = if dry_run {
        policy.count(store.as_ref(), now).await?
    } else {
        policy
            .prune(store.as_ref(), now, BATCH, |_, _| async { true })
            .await?
    };
    if !dry_run
        && report.total() > 0
        && matches!(config.store_backend(), StoreBackend::Sqlite { .. })
    {
        loop {
            let n = store.reclaim_space(VACUUM_PAGES).await?;
            if n == 0 {
                break;
            }
            out.pages_reclaimed += n;
        }
    }
    out.total = report.total();
    out.kinds = report
        .kinds
        .iter()
        .map(|k| KindLine {
            kind: k.kind.as_str(),
            before: k.before,
            removed: k.removed,
        })
        .collect();
    Ok(out)
}

//! `telephony forget <NUMBER>`: erases a number from every account's store (or the
//! `--account`'s), through the running gateway (`DELETE /telephony/numbers/{number}`) or,
//! with none running, the store itself; reports what went.

use serde::Serialize;
use telephony::config::{Config, StoreBackend};
use telephony_core::PhoneNumber;
use telephony_serve::api;

use super::direct::open_store;
use crate::context::{CliError, Context};
use crate::output;

/// What `--json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ForgetOutput {
    /// The number erased.
    number: String,
    /// One entry per account (one, without accounts).
    accounts: Vec<AccountForget>,
    /// Records removed, over every account.
    removed: u64,
    /// True when sends to the number stay refused in some account (it had opted out).
    opted_out: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountForget {
    /// The account (absent without accounts).
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    /// `gateway` (through its admin API) or `store` (no gateway running).
    via: &'static str,
    #[serde(flatten)]
    report: api::ForgetReport,
}

pub(super) async fn forget(ctx: Context, number: String, json: bool) -> Result<(), CliError> {
    let n = PhoneNumber::parse(&number)
        .map_err(|e| CliError::config(format!("invalid number: {e}")))?;
    let names = ctx.config.account_names();
    let targets = if ctx.account.is_some() || names.is_empty() {
        vec![ctx]
    } else {
        names
            .into_iter()
            .map(|name| {
                Ok(Context {
                    config: ctx.config.account_config(&name)?,
                    sources: ctx.sources.clone(),
                    account: Some(name),
                })
            })
            .collect::<Result<Vec<_>, CliError>>()?
    };
    let mut accounts = Vec::with_capacity(targets.len());
    for t in &targets {
        let done = erase(t, &n).await.map_err(|e| {
            let finished: Vec<String> = accounts
                .iter()
                .map(|a: &AccountForget| a.account.clone().unwrap_or_default())
                .collect();
            let mut msg = format!("erasing {n} from {}: {}", place(t), e.message);
            if !finished.is_empty() {
                msg.push_str(&format!(
                    " (already erased from account(s) {}; run it again to finish)",
                    finished.join(", ")
                ));
            }
            CliError { message: msg, ..e }
        })?;
        accounts.push(done);
    }
    let out = ForgetOutput {
        number: n.as_str().to_string(),
        removed: accounts.iter().map(|a| a.report.removed()).sum(),
        opted_out: accounts.iter().any(|a| a.report.opted_out),
        accounts,
    };
    if json {
        output::print_json(&out);
        return Ok(());
    }
    for a in &out.accounts {
        let r = &a.report;
        let place = match &a.account {
            Some(name) => format!("account {name:?}"),
            None => "the store".to_string(),
        };
        let via = if a.via == "gateway" {
            " (through the running gateway)"
        } else {
            ""
        };
        println!(
            "{} erased from {place}{via}: {} inbound message(s), {} send(s) ({} queued, cancelled), \
             {} call(s) with {} status change(s), {} transcript turn(s) and {} recording(s), \
             {} pairing request(s), {} approval(s), {} forward event(s)",
            out.number,
            r.inbound_messages,
            r.sends,
            r.queued_sends,
            r.calls,
            r.call_status_changes,
            r.call_turns,
            r.call_recordings,
            r.pairing_requests,
            r.approved_senders + r.approved_contacts,
            r.forward_events
        );
        if r.call_recordings > 0 {
            println!(
                "  the recordings' audio stays with the provider: delete it there (the gateway kept only their metadata)"
            );
        }
        if r.opted_out {
            println!(
                "  its opt-out (STOP) is kept as a keyed hash: sends to {} stay refused",
                out.number
            );
        }
    }
    Ok(())
}

fn place(t: &Context) -> String {
    match &t.account {
        Some(name) => format!("account {name:?}"),
        None => "the store".to_string(),
    }
}

/// Erases `n` from one account: through its gateway when one runs, else in its store.
async fn erase(t: &Context, n: &PhoneNumber) -> Result<AccountForget, CliError> {
    let (via, report) = match t.admin().await? {
        Some(admin) => {
            let path = format!("/telephony/numbers/{}", n.as_str().replace('+', "%2B"));
            ("gateway", admin.delete::<api::ForgetReport>(&path).await?)
        }
        None => ("store", erase_in_store(&t.config, n).await?),
    };
    Ok(AccountForget {
        account: t.account.clone(),
        via,
        report,
    })
}

async fn erase_in_store(config: &Config, n: &PhoneNumber) -> Result<api::ForgetReport, CliError> {
    if let StoreBackend::Sqlite { path } = config.store_backend() {
        if !path.exists() {
            // No store yet: nothing to erase, and none is created.
            return Ok(api::ForgetReport::new(n, &Default::default(), false));
        }
    }
    let store = open_store(config).await?;
    let report = store.forget(n).await?;
    let opted_out = store.is_opted_out(n).await?;
    Ok(api::ForgetReport::new(n, &report, opted_out))
}

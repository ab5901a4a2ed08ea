//! `telephony backup <FILE>`: a consistent copy of the account's SQLite store, taken with
//! `VACUUM INTO` from a connection of its own, so a running gateway keeps serving (see
//! [`telephony_store::sqlite_backup`]). PostgreSQL is backed up with its own tools.

use std::path::PathBuf;

use telephony::config::StoreBackend;

use crate::context::{CliError, Context};
use crate::output;

pub(super) async fn backup(
    ctx: Context,
    file: PathBuf,
    force: bool,
    json: bool,
) -> Result<(), CliError> {
    let path = match ctx.config.store_backend() {
        StoreBackend::Sqlite { path } => path,
        StoreBackend::Postgres(pg) => {
            return Err(CliError::config(format!(
                "the store is PostgreSQL (schema {:?}): back it up with PostgreSQL's own tools, \
                 e.g. `pg_dump --schema={} --format=custom --file=telephony.dump DATABASE` \
                 (every schema of the gateway's accounts, or the whole database); \
                 `telephony backup` copies SQLite stores only",
                pg.schema, pg.schema
            )));
        }
        _ => {
            return Err(CliError::config(
                "telephony backup copies SQLite stores only, and this store is not one",
            ));
        }
    };
    if file.exists() && !force {
        return Err(CliError::config(format!(
            "{} exists; pass --force to replace it",
            file.display()
        )));
    }
    let report = telephony_store::sqlite_backup(&path, &file, force).await?;
    if json {
        output::print_json(&report);
        return Ok(());
    }
    println!(
        "backed up {} to {}: {} bytes, {} inbound message(s), {} send(s), {} call(s), in {} ms",
        report.source.display(),
        report.path.display(),
        report.bytes,
        report.inbound_messages,
        report.sends,
        report.calls,
        report.took_ms
    );
    Ok(())
}

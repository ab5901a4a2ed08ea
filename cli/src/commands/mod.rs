//! The subcommands, one module per command group: `serve`, `send` (and `call`), `history`
//! (`inbox`, `calls`, `receipt`, `log`), `dead_letters` (`inbox --failed`, `retry`),
//! `approvals` (`pairing`, `contacts`), `status`
//! (with `--probe`), `segments`, `config` (`check`, `migrate`), `simulate`, and the data
//! lifecycle: `prune`, `forget`, `export`, `backup`. Commands that
//! act without a running gateway share `direct` (the configured store, and a gateway over
//! it).

use telephony_serve::api;

use crate::context::{CliError, Context};
use crate::{Cli, Command, ConfigCommand, SimulateCommand};

mod approvals;
mod backup;
mod call_control;
mod config;
mod dead_letters;
mod direct;
mod export;
mod forget;
mod history;
mod prune;
mod recordings;
mod segments;
mod send;
mod serve;
mod simulate;
mod status;

pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    let json_logs = matches!(
        cli.command,
        Command::Serve {
            json_logs: true,
            ..
        }
    );
    let default_level = if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    init_tracing(default_level, json_logs);
    // Migration reads the file as written: its secrets need not resolve on this machine.
    if let Command::Config {
        command: ConfigCommand::Migrate { to },
    } = &cli.command
    {
        return config::migrate(cli.config.as_deref(), to);
    }
    let serving = matches!(cli.command, Command::Serve { .. });
    let mut ctx = Context::load(cli.config.as_deref(), !serving)?;
    if let Some(name) = &cli.account {
        if serving {
            return Err(CliError::config(
                "--account does not apply to serve: the gateway serves every enabled account",
            ));
        }
        ctx = ctx.with_account(name)?;
    }
    match cli.command {
        Command::Serve {
            sandbox,
            provider,
            voice,
            ..
        } => {
            if let Some(p) = provider {
                ctx.config
                    .override_provider(p)
                    .map_err(|e| CliError::config(e.to_string()))?;
            }
            if sandbox {
                ctx.config.default_data_dir_to(
                    telephony::providers::sandbox_data_dir(ctx.config.provider).into(),
                );
            }
            if voice {
                ctx.config
                    .enable_voice()
                    .map_err(|e| CliError::config(e.to_string()))?;
            }
            serve::serve(ctx, sandbox).await
        }
        Command::Send {
            to,
            text,
            media,
            json,
        } => send::send(ctx, to, text, media, json).await,
        Command::Inbox {
            failed: true,
            limit,
            json,
            ..
        } => dead_letters::list(ctx, limit, json).await,
        Command::Inbox {
            since, limit, json, ..
        } => history::inbox(ctx, since, limit, json).await,
        Command::Retry { id, json } => dead_letters::retry(ctx, id, json).await,
        Command::Receipt { id, json } => history::receipt(ctx, id, json).await,
        Command::Status { probe: true, json } => status::probe(ctx, json).await,
        Command::Status { probe: false, json } => status::status(ctx, json).await,
        Command::Config {
            command:
                ConfigCommand::Check {
                    json,
                    verbose,
                    sandbox,
                },
        } => config::check(
            ctx,
            config::CheckOptions {
                json,
                verbose,
                sandbox,
            },
        ),
        Command::Config {
            command: ConfigCommand::Migrate { to },
        } => config::migrate(cli.config.as_deref(), &to),
        Command::Pairing { command } => approvals::pairing(ctx, command).await,
        Command::Contacts { command } => approvals::contacts(ctx, command).await,
        Command::Log { since, limit, json } => history::send_log(ctx, since, limit, json).await,
        Command::Segments { text, json } => segments::segments(ctx, text, json),
        Command::Prune { dry_run, json } => prune::prune(ctx, dry_run, json).await,
        Command::Call {
            control: Some(control),
            ..
        } => call_control::run(ctx, control).await,
        Command::Call {
            control: None,
            to,
            say,
            twiml,
            url,
            from,
            timeout,
            machine_detection,
            wait_for_beep,
            send_digits,
            record,
            record_channels,
            json,
        } => {
            let req = api::CallRequest {
                to: to.unwrap_or_default(),
                say,
                twiml,
                url,
                from,
                machine_detection,
                timeout,
                wait_for_beep,
                send_digits,
                record: record || record_channels.is_some(),
                record_channels,
            };
            send::place_call(ctx, req, json).await
        }
        Command::Calls { since, limit, json } => history::calls(ctx, since, limit, json).await,
        Command::Recordings {
            call,
            limit,
            download,
            json,
        } => recordings::recordings(ctx, call, limit, download, json).await,
        Command::Simulate {
            command:
                SimulateCommand::Call {
                    from,
                    to,
                    say_speech,
                    press,
                    send_tone,
                    send_wav,
                    send_speech,
                    interrupt_after_ms,
                    no_status_callback,
                    json,
                },
        } => {
            let inputs = simulate::CallerInputs {
                speech: say_speech,
                presses: press,
                tones: send_tone,
                wavs: send_wav,
                speech_like: send_speech,
                interrupts: interrupt_after_ms,
                order: crate::input_order(std::env::args()),
            };
            simulate::call(ctx, from, to, inputs, no_status_callback, json).await
        }
        Command::Simulate {
            command:
                SimulateCommand::Sms {
                    from,
                    to,
                    text,
                    message_sid,
                    json,
                },
        } => simulate::sms(ctx, from, to, text, message_sid, json).await,
        Command::Forget { number, json } => forget::forget(ctx, number, json).await,
        Command::Export {
            since,
            until,
            kind,
            format,
            output,
            page_size,
        } => {
            let opts = export::Options {
                since,
                until,
                kind,
                format,
                output,
                page_size: page_size as usize,
            };
            export::export(ctx, opts).await
        }
        Command::Backup { file, force, json } => backup::backup(ctx, file, force, json).await,
    }
}

fn init_tracing(default: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TELEPHONY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    #[cfg(feature = "otel")]
    let filter = match init_otel(filter, json) {
        Some(filter) => filter,
        None => return,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless; ignore "already set".
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Keeps the OTLP export running for the process's life.
#[cfg(feature = "otel")]
static OTEL: std::sync::OnceLock<telephony_serve::otel::OtelGuard> = std::sync::OnceLock::new();

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, installs the logs and the trace export and
/// gives `None`; else gives the filter back for the plain logs.
#[cfg(feature = "otel")]
fn init_otel(
    filter: tracing_subscriber::EnvFilter,
    json: bool,
) -> Option<tracing_subscriber::EnvFilter> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") else {
        return Some(filter);
    };
    let (otel, guard) = match telephony_serve::otel::layer(&endpoint) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}: {e}; traces are not exported");
            return Some(filter);
        }
    };
    let _ = OTEL.set(guard);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = if json {
        registry.with(fmt.json()).try_init()
    } else {
        registry.with(fmt).try_init()
    };
    None
}

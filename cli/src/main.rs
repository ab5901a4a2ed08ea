//! `telephony`: run the gateway, send SMS, read the inbox, check config, simulate webhooks.
//!
//! Exit codes: 0 success, 1 runtime failure (provider error, gateway unreachable),
//! 2 usage or configuration error.

mod commands;
mod context;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: per request the gateway allocates and frees many
/// small buffers on two runtime threads and sqlx's SQLite thread, where glibc's arenas
/// spent ~11-15 % of the CPU under load (`benches/RESULTS.md`, issue 23).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for a runtime failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage or configuration error.
pub const EXIT_CONFIG: u8 = 2;

/// Telephony gateway: Twilio SMS in and out, from your shell or your app.
#[derive(Parser, Debug)]
#[command(name = "telephony", version, about, long_about = None)]
pub struct Cli {
    /// Config file (.json5, .json or .toml). Default: ./telephony.json5 or ./telephony.toml if present.
    #[arg(long, global = true, env = "TELEPHONY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// With `accounts` in the config: the account to act on (default: `defaultAccount`).
    /// Sends from it, lists its inbox, log, pairing requests, contacts and calls. Every
    /// command but `serve`, which serves every enabled account.
    #[arg(long, global = true, value_name = "NAME")]
    pub account: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `telephony call transfer|update`: control a live call through the running gateway.
#[derive(Subcommand, Debug)]
pub enum CallControlCommand {
    /// Transfer a live call (cold) to an E.164 number or a sip: URI; the outcome
    /// (answered, busy, no-answer, failed) is noted on the call (`telephony calls`).
    Transfer {
        /// The call's id (CallSid / call_control_id).
        call: String,
        /// Where to: E.164 (+15550001234) or sip:user@host.
        to: String,
        /// Seconds to let the target ring (the provider's default when absent).
        #[arg(long)]
        timeout: Option<u32>,
        /// The caller id the target sees, E.164.
        #[arg(long)]
        caller_id: Option<String>,
        /// Print the call as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a live call now: say something (then listen again), run TwiML (Twilio),
    /// or hang up.
    #[command(group(clap::ArgGroup::new("change").required(true).args(["say", "twiml", "hangup"])))]
    Update {
        /// The call's id (CallSid / call_control_id).
        call: String,
        /// Say this now, then listen for the caller's next turn.
        #[arg(long)]
        say: Option<String>,
        /// Replace the call's instructions with this TwiML (Twilio only).
        #[arg(long)]
        twiml: Option<String>,
        /// End the call.
        #[arg(long)]
        hangup: bool,
        /// Print the call as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway (public webhook listener + loopback admin API).
    Serve {
        /// No provider account needed: run against the built-in simulator of the provider.
        #[arg(long)]
        sandbox: bool,
        /// The provider (`twilio` or `telnyx`); overrides the config's `provider`.
        #[arg(long)]
        provider: Option<telephony::config::ProviderKind>,
        /// Answer calls (`voice.enabled: true`), whatever the config says.
        #[arg(long)]
        voice: bool,
        /// Log as JSON lines.
        #[arg(long)]
        json_logs: bool,
    },
    /// Send an SMS: through the running gateway, or directly when none is running.
    Send {
        /// Recipient: +15550005678, sms:+1…, twilio:+1…, whatsapp:+1…
        to: String,
        /// Message text.
        text: String,
        /// Media URL to attach (MMS); repeatable.
        #[arg(long = "media", value_name = "URL")]
        media: Vec<String>,
        /// Print the receipt as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List inbound messages.
    Inbox {
        /// Only messages since this time: RFC 3339 (2026-01-02T03:04:05Z) or a duration ago (30s, 10m, 2h, 1d).
        #[arg(long)]
        since: Option<String>,
        /// At most this many (newest kept).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only the dead letters: messages whose handler failed on every attempt, with
        /// their attempts and last error (`telephony retry <id>` queues one again).
        #[arg(long, conflicts_with = "since")]
        failed: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue a dead-lettered inbound message (see `inbox --failed`) again, its attempts
    /// reset. Exit 1 if no inbound message has this id or it is not failed.
    Retry {
        /// The inbound message id (msg_…).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an outbound message's receipt and status history.
    Receipt {
        /// The message id printed by `send` (msg_…).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show whether a gateway is running and what it is doing.
    Status {
        /// Also check the provider's side: credentials, the number's capabilities and
        /// URLs, the public URL and a signed probe through it (exit 1 if anything is wrong).
        #[arg(long)]
        probe: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pairing requests from unknown senders (inboundPolicy "pairing").
    Pairing {
        /// What to do.
        #[command(subcommand)]
        command: PairingCommand,
    },
    /// Contacts for outbound approval (outboundPolicy.requireApprovalForNewContacts).
    Contacts {
        /// What to do.
        #[command(subcommand)]
        command: ContactsCommand,
    },
    /// The send log: every outbound message with time, recipient, body, status and SIDs.
    Log {
        /// Only sends since this time (RFC 3339 or 30s, 10m, 2h, 1d).
        #[arg(long)]
        since: Option<String>,
        /// At most this many (newest kept).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete now what `store.retention` no longer keeps (every account's store, or the
    /// `--account`'s), and report per kind what went.
    Prune {
        /// Count what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// How a text would be sent: encoding, characters, segments, and the chunks.
    Segments {
        /// The text (markdown is flattened first, as on send).
        text: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Place an outbound call through the running gateway; `call transfer` and `call
    /// update` control a live one.
    #[command(group(clap::ArgGroup::new("answer").required(true).args(["say", "twiml", "url"])))]
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Call {
        /// Transfer or update a live call instead of placing one.
        #[command(subcommand)]
        control: Option<CallControlCommand>,
        /// Who to call, E.164 (+15550005678).
        #[arg(required = true)]
        to: Option<String>,
        /// Speak this text (voice.voice, voice.language), then hang up.
        #[arg(long)]
        say: Option<String>,
        /// Run this TwiML document (refused before any API call unless well-formed).
        #[arg(long)]
        twiml: Option<String>,
        /// Fetch the call's instructions from this URL.
        #[arg(long)]
        url: Option<String>,
        /// Caller ID (default: the configured number).
        #[arg(long)]
        from: Option<String>,
        /// Ring time in seconds before giving up (no-answer).
        #[arg(long)]
        timeout: Option<u32>,
        /// Ask the provider to detect answering machines (the result shows in `calls`).
        #[arg(long)]
        machine_detection: bool,
        /// Detect answering machines and wait for the end of a machine's greeting (the
        /// beep), so a message can be left after it; implies --machine-detection.
        #[arg(long)]
        wait_for_beep: bool,
        /// Keys to press once the callee answers: 0-9 A-D * #, w waits 0.5 s, W 1 s.
        #[arg(long, value_name = "DIGITS")]
        send_digits: Option<String>,
        /// Record the whole call (refused when voice.record is false).
        #[arg(long)]
        record: bool,
        /// Channels of the recording: single or dual (default voice.recordChannels; implies --record).
        #[arg(long, value_parser = ["single", "dual"])]
        record_channels: Option<String>,
        /// Print the call as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List calls with their status history and transcript.
    Calls {
        /// Only calls since this time (RFC 3339 or 30s, 10m, 2h, 1d).
        #[arg(long)]
        since: Option<String>,
        /// At most this many (newest kept).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List call recordings (metadata kept with the calls); --download fetches the audio
    /// from the provider with its credentials.
    Recordings {
        /// Only this call's recordings.
        call: Option<String>,
        /// At most this many (newest kept).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Save each recording's audio in this directory as {id}.wav (or .mp3).
        #[arg(long, value_name = "DIR")]
        download: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Configuration tools.
    Config {
        /// What to do.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Play the running gateway's provider: post a webhook signed as it signs them (local
    /// testing; Twilio or Telnyx, whichever the gateway uses).
    Simulate {
        /// What to simulate.
        #[command(subcommand)]
        command: SimulateCommand,
    },
    /// Erase every trace of a phone number (messages, sends, calls, transcripts, pairing
    /// and contact approvals, forward events) from every account's store, or from the
    /// `--account`; an opt-out stays, as a keyed hash that still blocks sends. Through the
    /// running gateway, or the stores when none runs.
    Forget {
        /// The number, E.164 (+15557654321).
        number: String,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the store's messages, calls or sends as JSON lines or CSV, oldest first, a
    /// page at a time (the admin API's camelCase fields).
    Export {
        /// Only records at or after this time: RFC 3339 or a duration ago (30s, 10m, 2h, 1d).
        #[arg(long)]
        since: Option<String>,
        /// Only records before this time: RFC 3339 or a duration ago.
        #[arg(long)]
        until: Option<String>,
        /// What to export.
        #[arg(long, value_enum, default_value_t = ExportKind::Messages)]
        kind: ExportKind,
        /// The format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write to this file (replaced if it exists) instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Records read per page (memory holds one page).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        page_size: u32,
    },
    /// Copy the SQLite store consistently (VACUUM INTO), also while the gateway runs.
    Backup {
        /// Where to write the copy.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
        /// Print what was written as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `telephony export --kind`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// Inbound messages with their state.
    Messages,
    /// Calls with their status history and transcript.
    Calls,
    /// Sends (receipts) with their status history.
    Sends,
}

/// `telephony export --format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// A header row, then one row per record (nested values as JSON text).
    Csv,
}

/// `telephony pairing …`
#[derive(Subcommand, Debug)]
pub enum PairingCommand {
    /// Pending requests.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a code: the sender may talk to the application and is told by SMS.
    Approve {
        /// The 8-character code.
        code: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reject a code.
    Reject {
        /// The 8-character code.
        code: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `telephony contacts …`
#[derive(Subcommand, Debug)]
pub enum ContactsCommand {
    /// Sends waiting for approval.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a number and release its held sends.
    Approve {
        /// The number, E.164.
        number: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `telephony config …`
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration and summarize it: dialect, accounts, sender, store,
    /// admin access, notes. Exit 2 when it is refused or lacks what `serve` needs.
    Check {
        /// Also print every resolved value (secrets redacted).
        #[arg(long, short)]
        verbose: bool,
        /// Check for `serve --sandbox`, which needs no provider credentials.
        #[arg(long)]
        sandbox: bool,
        /// Print JSON (everything, the resolved configuration included).
        #[arg(long)]
        json: bool,
    },
    /// Print the equivalent native (`channels.telephony`) configuration of the config
    /// file, whichever dialect it is written in. SecretRefs stay references; secrets
    /// written in the file are printed as written; environment variables stay where they are.
    Migrate {
        /// Output format.
        #[arg(long, value_parser = ["json5", "toml"], default_value = "json5")]
        to: String,
    },
}

/// `telephony simulate …`
#[derive(Subcommand, Debug)]
pub enum SimulateCommand {
    /// A whole inbound call from `--from` to the gateway's number (Twilio): the signed voice
    /// webhook, then the gateway's TwiML run as Twilio runs it, each `<Gather>` answered with
    /// the next `--say-speech`/`--press` (in command-line order; silence when none is left).
    /// On a Media Stream (`voice.mode: "stream"`) the caller sends the `--send-tone`,
    /// `--send-wav` and `--send-speech` audio, in command-line order, and the report says
    /// what came back (frames, bytes, marks). A call the gateway rejects (voice off, a
    /// caller not allowed) exits 1.
    Call {
        /// Caller, E.164.
        #[arg(long)]
        from: String,
        /// The called number (default: the configured fromNumber, or the sandbox number).
        #[arg(long)]
        to: Option<String>,
        /// What the caller says at the next `<Gather>`, or as the next prompt of a
        /// ConversationRelay (`--relay` is the same); repeatable.
        #[arg(long = "say-speech", visible_alias = "relay", value_name = "TEXT")]
        say_speech: Vec<String>,
        /// Keys the caller presses at the next `<Gather>`; repeatable.
        #[arg(long, value_name = "DIGITS")]
        press: Vec<String>,
        /// Stream mode: the caller sends a sine tone of HZ for MS milliseconds (default
        /// 1000); repeatable.
        #[arg(long, value_name = "HZ[:MS]")]
        send_tone: Vec<String>,
        /// Stream mode: the caller sends this WAV file (8 kHz mono, μ-law or 16-bit PCM);
        /// repeatable.
        #[arg(long, value_name = "FILE")]
        send_wav: Vec<PathBuf>,
        /// Stream mode: the caller sends MS milliseconds of speech-like audio (voiced
        /// syllables and pauses, not words); repeatable.
        #[arg(long, value_name = "MS")]
        send_speech: Vec<u64>,
        /// Stream mode: the caller barges in once MS milliseconds of the application's
        /// audio have played (the next `--send-…` audio then plays over it, as a caller
        /// talking mid-sentence); repeatable. The report says which of the
        /// application's marks were played and which its `clear` cut.
        #[arg(long, value_name = "MS")]
        interrupt_after_ms: Vec<u64>,
        /// Do not post the `completed` status callback when the call ends (as when the
        /// number has no "call status changes" URL).
        #[arg(long)]
        no_status_callback: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// An inbound SMS from `--from` to the gateway's number.
    Sms {
        /// Sender, E.164.
        #[arg(long)]
        from: String,
        /// Recipient (default: the configured fromNumber, or the sandbox number).
        #[arg(long)]
        to: Option<String>,
        /// Message text.
        text: String,
        /// MessageSid to use (default: a new random one); repeat one to test duplicate handling.
        #[arg(long)]
        message_sid: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One kind of caller input of `simulate call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `--say-speech` / `--relay`.
    Speech,
    /// `--press`.
    Press,
    /// `--send-tone`.
    Tone,
    /// `--send-wav`.
    Wav,
    /// `--send-speech`.
    SpeechLike,
    /// `--interrupt-after-ms`.
    Interrupt,
}

/// The order of the caller's inputs (`--say-speech`, `--press`, `--send-…`) on the
/// command line (clap keeps each list's own order, not the order between them).
pub fn input_order(args: impl IntoIterator<Item = String>) -> Vec<InputKind> {
    args.into_iter()
        .filter_map(|a| {
            let name = a.split('=').next().unwrap_or_default().to_string();
            match name.as_str() {
                "--say-speech" | "--relay" => Some(InputKind::Speech),
                "--press" => Some(InputKind::Press),
                "--send-tone" => Some(InputKind::Tone),
                "--send-wav" => Some(InputKind::Wav),
                "--send-speech" => Some(InputKind::SpeechLike),
                "--interrupt-after-ms" => Some(InputKind::Interrupt),
                _ => None,
            }
        })
        .collect()
}

/// The command line parsed; `--account`, global for the commands that act on one account,
/// is left out of `serve --help` (serve refuses it: it serves every account).
fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    // serve's own, hidden `--account` (same id): the global one is not propagated over it,
    // and a `--account` given anyway still reaches serve, which says why it does not apply.
    let command = Cli::command().mut_subcommand("serve", |serve| {
        serve.arg(
            clap::Arg::new("account")
                .long("account")
                .value_name("NAME")
                .hide(true),
        )
    });
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("error: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

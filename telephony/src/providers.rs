//! The one place that knows every provider compiled in: builds the provider and the store a
//! [`Config`] names (for the server and for the CLI's direct commands), starts the sandbox
//! simulators, and signs simulated inbound webhooks as each provider would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use telephony_core::{PhoneNumber, Provider, Secret, Store, error_chain};
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};

use crate::config::{Config, PostgresSettings, ProviderKind, StoreBackend};
use crate::runtime::RuntimeInfo;

/// Twilio's magic "valid sender" test number: the Twilio sandbox's default sender.
pub const TWILIO_SANDBOX_FROM: &str = "+15005550006";

/// The Telnyx sandbox's default sender (a number in the 555-01xx fictional range).
pub const TELNYX_SANDBOX_FROM: &str = "+12025550123";

/// Why a provider or store could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Credentials or sender are missing.
    #[error("cannot talk to {provider}: missing {}. Set them in the config file or environment, or run `telephony serve --sandbox` to try the gateway against the built-in {provider} simulator", .missing.join(", "))]
    MissingCredentials {
        /// The provider.
        provider: &'static str,
        /// The keys (and environment variables) to set.
        missing: Vec<&'static str>,
    },
    /// The provider rejected its settings.
    #[error("could not set up the {provider} provider: {reason}")]
    Provider {
        /// The provider.
        provider: &'static str,
        /// Why (never a secret).
        reason: String,
    },
    /// `provider` names a provider this binary was built without.
    #[error("provider {name:?} is not compiled into this binary; compiled-in providers: {}", ProviderKind::compiled_in().join(", "))]
    NotCompiledIn {
        /// The provider asked for.
        name: &'static str,
    },
    /// The store could not be opened.
    #[error("could not open the store at {path}")]
    Store {
        /// The database path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: telephony_core::StoreError,
    },
    /// The PostgreSQL store could not be opened.
    #[error("could not open the PostgreSQL store at {url} (schema {schema})")]
    PostgresStore {
        /// The URL, its password and query values redacted.
        url: String,
        /// The account's schema.
        schema: String,
        /// The cause (its text names the redacted URL, never the password).
        #[source]
        source: telephony_core::StoreError,
    },
    /// `store.url` selects PostgreSQL, but this binary was built without it.
    #[error(
        "store.url selects the PostgreSQL store, but this binary was built without the `postgres` feature; remove store.url (and TELEPHONY_DATABASE_URL) to use SQLite, or build with `--features postgres`"
    )]
    PostgresNotCompiledIn,
    /// The sandbox simulator could not listen.
    #[error("could not start the {provider} simulator on 127.0.0.1")]
    Simulator {
        /// The provider.
        provider: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    /// True for configuration problems (exit code 2 in the CLI).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            BuildError::MissingCredentials { .. }
                | BuildError::Provider { .. }
                | BuildError::NotCompiledIn { .. }
                | BuildError::PostgresNotCompiledIn
        )
    }
}

/// A running sandbox simulator (one per provider kind).
#[derive(Debug)]
#[non_exhaustive]
pub enum SandboxSimulator {
    /// The Twilio simulator: the running server and the simulator's state (what was sent).
    Twilio(
        telephony_twilio_simulator::RunningSimulator,
        telephony_twilio_simulator::Simulator,
    ),
    /// The Telnyx simulator: the running server and the simulator's state (what was sent).
    #[cfg(feature = "telnyx")]
    Telnyx(
        telephony_telnyx_simulator::RunningSimulator,
        telephony_telnyx_simulator::Simulator,
    ),
}

impl SandboxSimulator {
    /// The simulator's base URL.
    pub fn url(&self) -> String {
        match self {
            SandboxSimulator::Twilio(s, _) => s.url(),
            #[cfg(feature = "telnyx")]
            SandboxSimulator::Telnyx(s, _) => s.url(),
        }
    }

    /// The Twilio simulator's state (messages sent, injections), if this is Twilio's.
    pub fn twilio(&self) -> Option<&telephony_twilio_simulator::Simulator> {
        match self {
            SandboxSimulator::Twilio(_, sim) => Some(sim),
            #[cfg(feature = "telnyx")]
            _ => None,
        }
    }

    /// The Telnyx simulator's state (messages sent, injections, signing), if this is Telnyx's.
    #[cfg(feature = "telnyx")]
    pub fn telnyx(&self) -> Option<&telephony_telnyx_simulator::Simulator> {
        match self {
            SandboxSimulator::Telnyx(_, sim) => Some(sim),
            _ => None,
        }
    }

    /// Delivers what the simulator signs for URLs under `public_base` to the gateway's
    /// listener at `local_origin` (`http://127.0.0.1:3335`): a sandbox's `publicUrl`
    /// names a host that is not this machine, but its signatures must verify against it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = telephony::config::Config::from_json5_str("{}").unwrap();
    /// let setup = telephony::providers::setup(&config, true).await.unwrap();
    /// let simulator = setup.simulator.unwrap();
    /// simulator.deliver_via("https://sms.example.com", "http://127.0.0.1:3335");
    /// simulator.shutdown().await;
    /// # }
    /// ```
    pub fn deliver_via(&self, public_base: &str, local_origin: &str) {
        match self {
            SandboxSimulator::Twilio(_, sim) => sim.deliver_via(public_base, local_origin),
            #[cfg(feature = "telnyx")]
            SandboxSimulator::Telnyx(_, sim) => sim.deliver_via(public_base, local_origin),
        }
    }

    /// Points the simulated account's calls at the gateway's webhook URL: Twilio's calls
    /// go to the URL each simulated call names, Telnyx's to the sandbox's Call Control
    /// application, set here.
    pub fn point_calls(&self, webhook_url: &str) {
        match self {
            SandboxSimulator::Twilio(..) => {}
            #[cfg(feature = "telnyx")]
            SandboxSimulator::Telnyx(_, sim) => {
                sim.set_call_control_webhook(TELNYX_SANDBOX_CONNECTION, webhook_url);
            }
        }
    }

    /// Stops the simulator.
    pub async fn shutdown(self) {
        match self {
            SandboxSimulator::Twilio(s, _) => s.shutdown().await,
            #[cfg(feature = "telnyx")]
            SandboxSimulator::Telnyx(s, _) => s.shutdown().await,
        }
    }
}

/// What the runtime file records about a sandbox so the CLI can sign simulated webhooks.
#[derive(Debug, Clone, Default)]
pub struct SandboxSecrets {
    /// The simulated Twilio account SID.
    pub account_sid: Option<String>,
    /// The simulated Twilio auth token.
    pub auth_token: Option<Secret>,
    /// The Telnyx simulator's signing seed (base64).
    pub signing_key: Option<Secret>,
    /// The Telnyx simulator's API key (what an official Telnyx SDK pointed at the
    /// simulator authenticates with).
    pub api_key: Option<Secret>,
    /// The numbers the simulated account owns (the default sender first).
    pub numbers: Vec<String>,
    /// The Telnyx sandbox's messaging profile.
    pub messaging_profile_id: Option<String>,
    /// The Telnyx simulator's webhook public key (base64).
    pub public_key: Option<String>,
    /// The Telnyx sandbox's Call Control application.
    pub connection_id: Option<String>,
    /// The simulator's URL.
    pub simulator_url: String,
}

/// A provider ready for the gateway, with its simulator in sandbox mode.
#[derive(Debug)]
pub struct ProviderSetup {
    /// The provider.
    pub provider: Arc<dyn Provider>,
    /// The simulator it talks to, in sandbox mode.
    pub simulator: Option<SandboxSimulator>,
    /// The sandbox's credentials, in sandbox mode.
    pub sandbox: Option<SandboxSecrets>,
}

/// The provider `config` names, talking to the real provider (no sandbox).
pub fn provider(config: &Config) -> Result<Arc<dyn Provider>, BuildError> {
    let missing = config.missing_credentials();
    if !missing.is_empty() {
        return Err(BuildError::MissingCredentials {
            provider: config.provider.display_name(),
            missing,
        });
    }
    match config.provider {
        ProviderKind::Twilio => twilio(twilio_config(config)),
        ProviderKind::Telnyx => telnyx(config),
    }
}

/// The provider `config` names, or in `sandbox` mode a simulator of it on 127.0.0.1 with
/// generated credentials and the provider pointed at it.
pub async fn setup(config: &Config, sandbox: bool) -> Result<ProviderSetup, BuildError> {
    if !sandbox {
        return Ok(ProviderSetup {
            provider: provider(config)?,
            simulator: None,
            sandbox: None,
        });
    }
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    match config.provider {
        ProviderKind::Twilio => {
            use telephony_twilio_simulator::{Simulator, SimulatorConfig};
            let sim = Simulator::new(SimulatorConfig::generate());
            let running = sim
                .serve(loopback)
                .await
                .map_err(|source| BuildError::Simulator {
                    provider: "twilio",
                    source,
                })?;
            let sc = sim.config().clone();
            let from = config.from_number.clone().unwrap_or_else(|| {
                PhoneNumber::parse(TWILIO_SANDBOX_FROM).expect("valid sandbox number")
            });
            // The sandbox account owns its number, so number setup and the probe work.
            sim.add_number(
                from.as_str(),
                telephony_twilio::resources::NumberCapabilities {
                    voice: true,
                    sms: true,
                    mms: true,
                    fax: false,
                },
            );
            let cfg = TwilioConfig::new(sc.account_sid.clone(), sc.auth_token.clone())
                .api_base_url(running.url())
                .from_number(from.clone());
            Ok(ProviderSetup {
                provider: twilio(cfg)?,
                sandbox: Some(SandboxSecrets {
                    account_sid: Some(sc.account_sid.clone()),
                    auth_token: Some(sc.auth_token.clone()),
                    signing_key: None,
                    api_key: None,
                    numbers: vec![from.as_str().to_string()],
                    messaging_profile_id: None,
                    public_key: None,
                    connection_id: None,
                    simulator_url: running.url(),
                }),
                simulator: Some(SandboxSimulator::Twilio(running, sim)),
            })
        }
        #[cfg(feature = "telnyx")]
        ProviderKind::Telnyx => {
            use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
            use telephony_telnyx_simulator::{Simulator, SimulatorConfig};
            // The sandbox account has a Call Control application; its webhook is pointed
            // at the gateway once the gateway's URL is known (`SandboxSimulator::point_calls`).
            // Its calls run 4 times faster than real time: quick to try, and slow enough
            // for the gateway's answers (over HTTP, on a busy machine too) to arrive before
            // the caller moves on, as they do on a real call.
            let sim = Simulator::new(
                SimulatorConfig::generate()
                    .with_connection(
                        TELNYX_SANDBOX_CONNECTION,
                        "http://127.0.0.1:9/telephony/webhook",
                    )
                    .with_simulated_second(std::time::Duration::from_millis(250)),
            );
            let running = sim
                .serve(loopback)
                .await
                .map_err(|source| BuildError::Simulator {
                    provider: "telnyx",
                    source,
                })?;
            let sc = sim.config().clone();
            let from = config.from_number.clone().unwrap_or_else(|| {
                PhoneNumber::parse(TELNYX_SANDBOX_FROM).expect("valid sandbox number")
            });
            // The sandbox account owns its number, in a messaging profile, so number
            // setup and the probe work.
            let profile = sim.add_messaging_profile(None);
            sim.add_number(from.as_str(), Some(&profile));
            sim.edit_number(from.as_str(), |n| {
                n.resource.connection_id = Some(TELNYX_SANDBOX_CONNECTION.to_string())
            });
            let cfg = TelnyxConfig::new(sc.api_key.clone())
                .public_key(sc.public_key_base64())
                .api_base_url(running.url())
                .from_number(from.clone())
                .connection_id(TELNYX_SANDBOX_CONNECTION);
            let provider = TelnyxProvider::new(cfg).map_err(|e| BuildError::Provider {
                provider: "telnyx",
                reason: error_chain(&e),
            })?;
            Ok(ProviderSetup {
                provider: Arc::new(provider),
                sandbox: Some(SandboxSecrets {
                    account_sid: None,
                    auth_token: None,
                    signing_key: Some(sc.signer.seed_base64()),
                    api_key: Some(sc.api_key.clone()),
                    numbers: vec![from.as_str().to_string()],
                    messaging_profile_id: Some(profile),
                    public_key: Some(sc.public_key_base64()),
                    connection_id: Some(TELNYX_SANDBOX_CONNECTION.to_string()),
                    simulator_url: running.url(),
                }),
                simulator: Some(SandboxSimulator::Telnyx(running, sim)),
            })
        }
        #[cfg(not(feature = "telnyx"))]
        ProviderKind::Telnyx => Err(BuildError::NotCompiledIn { name: "telnyx" }),
    }
}

/// The Telnyx sandbox's Call Control application (`connection_id`).
pub const TELNYX_SANDBOX_CONNECTION: &str = "1494404757140276705";

/// The data directory of the Twilio sandbox (and of every gateway) when `dataDir` is
/// not set.
pub const DEFAULT_DATA_DIR: &str = "telephony-data";

/// The Telnyx sandbox's data directory when `dataDir` is not set: apart from the Twilio
/// sandbox's, so the two walkthroughs do not share pairing approvals, inbox or log.
pub const TELNYX_SANDBOX_DATA_DIR: &str = "telephony-data-telnyx";

/// The data directory a sandbox of `kind` uses when `dataDir` is not set.
///
/// ```
/// use telephony::config::ProviderKind;
/// use telephony::providers::sandbox_data_dir;
/// assert_eq!(sandbox_data_dir(ProviderKind::Twilio), "telephony-data");
/// assert_eq!(sandbox_data_dir(ProviderKind::Telnyx), "telephony-data-telnyx");
/// ```
pub fn sandbox_data_dir(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Twilio => DEFAULT_DATA_DIR,
        ProviderKind::Telnyx => TELNYX_SANDBOX_DATA_DIR,
    }
}

/// The default sender in sandbox mode when `fromNumber` is not set.
pub fn sandbox_from(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Twilio => TWILIO_SANDBOX_FROM,
        ProviderKind::Telnyx => TELNYX_SANDBOX_FROM,
    }
}

/// Opens the store the config selects ([`Config::store_backend`]): the SQLite file, or the
/// account's schema on the PostgreSQL server of `store.url` (created and migrated on open).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, BuildError> {
    match config.store_backend() {
        StoreBackend::Sqlite { path } => match SqliteStore::open(&path).await {
            Ok(store) => Ok(Arc::new(store)),
            Err(source) => Err(BuildError::Store { path, source }),
        },
        StoreBackend::Postgres(pg) => open_postgres(pg).await,
    }
}

/// A store opened for a long-running server ([`open_store_for_server`]).
pub struct ServerStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// For a store still starting (PostgreSQL, connecting and migrating in the
    /// background): why it cannot serve yet, `None` once it can.
    pub startup: Option<telephony_serve::health::StartupCheck>,
}

impl std::fmt::Debug for ServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStore")
            .field("starting", &self.startup.as_ref().and_then(|s| s()))
            .finish_non_exhaustive()
    }
}

/// How long a PostgreSQL operation of the server waits for a pooled connection (or the
/// first connection of an attempt) before it fails.
pub const SERVER_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Like [`open_store`], for the server: PostgreSQL is waited for only until its first
/// attempt is over (ready, or failed). The pool connects on demand and the schema is
/// created and migrated in a background task, retried with backoff (1 s doubling to 30 s,
/// each failure logged with the URL redacted), so the gateway starts while the database is
/// down and answers 503 until it is up. SQLite opens as in [`open_store`].
pub async fn open_store_for_server(config: &Config) -> Result<ServerStore, BuildError> {
    match config.store_backend() {
        StoreBackend::Sqlite { .. } => Ok(ServerStore {
            store: open_store(config).await?,
            startup: None,
        }),
        StoreBackend::Postgres(pg) => open_postgres_lazily(pg).await,
    }
}

#[cfg(feature = "postgres")]
async fn open_postgres_lazily(pg: PostgresSettings) -> Result<ServerStore, BuildError> {
    use telephony_store::{PostgresStore, StartupState};
    let options = postgres_options(&pg).connect_timeout(SERVER_CONNECT_TIMEOUT);
    match PostgresStore::connect_lazy_with(pg.url.expose(), options) {
        Ok((store, mut startup)) => {
            // A database that is up is ready before the listeners serve; one that is down
            // costs one attempt (bounded by the connect timeout), then the gateway starts.
            startup.first_attempt().await;
            if !startup.is_ready() {
                tracing::warn!(url = %pg.redacted_url(), schema = %pg.schema, "starting without the PostgreSQL store: webhooks and the admin API answer 503 until it is up");
            }
            Ok(ServerStore {
                store: Arc::new(store),
                startup: Some(Arc::new(move || match startup.state() {
                    StartupState::Ready => None,
                    StartupState::Connecting => {
                        Some("connecting to PostgreSQL and migrating the schema".to_string())
                    }
                    StartupState::Unavailable {
                        attempt,
                        reason,
                        retry_in,
                    } => Some(format!(
                        "PostgreSQL is not ready (attempt {attempt}: {reason}); next attempt in {} s",
                        retry_in.as_secs()
                    )),
                    other => Some(format!("PostgreSQL is starting ({other:?})")),
                })),
            })
        }
        Err(source) => Err(BuildError::PostgresStore {
            url: pg.redacted_url(),
            schema: pg.schema,
            source,
        }),
    }
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres_lazily(_: PostgresSettings) -> Result<ServerStore, BuildError> {
    Err(BuildError::PostgresNotCompiledIn)
}

#[cfg(feature = "postgres")]
fn postgres_options(pg: &PostgresSettings) -> telephony_store::PostgresOptions {
    telephony_store::PostgresOptions::default()
        .schema(pg.schema.clone())
        .max_connections(pg.max_connections)
        .statement_timeout(pg.statement_timeout)
}

#[cfg(feature = "postgres")]
async fn open_postgres(pg: PostgresSettings) -> Result<Arc<dyn Store>, BuildError> {
    use telephony_store::PostgresStore;
    match PostgresStore::connect_with(pg.url.expose(), postgres_options(&pg)).await {
        Ok(store) => Ok(Arc::new(store)),
        Err(source) => Err(BuildError::PostgresStore {
            url: pg.redacted_url(),
            schema: pg.schema,
            source,
        }),
    }
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: PostgresSettings) -> Result<Arc<dyn Store>, BuildError> {
    Err(BuildError::PostgresNotCompiledIn)
}

/// The Twilio settings a config describes.
pub fn twilio_config(config: &Config) -> TwilioConfig {
    let t = &config.twilio;
    let mut cfg = TwilioConfig::new(
        t.account_sid.clone().unwrap_or_default(),
        t.auth_token.clone().unwrap_or_default(),
    );
    if let Some(n) = &config.from_number {
        cfg = cfg.from_number(n.clone());
    }
    if let Some(m) = &t.messaging_service_sid {
        cfg = cfg.messaging_service_sid(m.clone());
    }
    if let Some(u) = &t.api_base_url {
        cfg = cfg.api_base_url(u.clone());
    }
    if let (Some(sid), Some(secret)) = (&t.api_key_sid, &t.api_key_secret) {
        cfg = cfg.api_key(sid.clone(), secret.clone());
    }
    cfg
}

fn twilio(cfg: TwilioConfig) -> Result<Arc<dyn Provider>, BuildError> {
    match TwilioProvider::new(cfg) {
        Ok(p) => Ok(Arc::new(p)),
        Err(e) => Err(BuildError::Provider {
            provider: "twilio",
            reason: error_chain(&e),
        }),
    }
}

#[cfg(feature = "telnyx")]
fn telnyx(config: &Config) -> Result<Arc<dyn Provider>, BuildError> {
    use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
    let t = &config.telnyx;
    let mut cfg = TelnyxConfig::new(t.api_key.clone().unwrap_or_default()).public_key(
        t.public_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .unwrap_or_default(),
    );
    if let Some(n) = &config.from_number {
        cfg = cfg.from_number(n.clone());
    }
    if let Some(p) = &t.messaging_profile_id {
        cfg = cfg.messaging_profile_id(p.clone());
    }
    if let Some(u) = &t.api_base_url {
        cfg = cfg.api_base_url(u.clone());
    }
    if let Some(c) = &t.connection_id {
        cfg = cfg.connection_id(c.clone());
    }
    if let Some(v) = &t.tts_voice {
        cfg = cfg.tts_voice(v.clone());
    }
    match TelnyxProvider::new(cfg) {
        Ok(p) => Ok(Arc::new(p)),
        Err(e) => Err(BuildError::Provider {
            provider: "telnyx",
            reason: error_chain(&e),
        }),
    }
}

#[cfg(not(feature = "telnyx"))]
fn telnyx(_: &Config) -> Result<Arc<dyn Provider>, BuildError> {
    Err(BuildError::NotCompiledIn { name: "telnyx" })
}

/// The public base of the running gateway `rt` (its `publicUrl`, or the tunnel's URL, or
/// its listener's address): `webhook_url` less the account's `webhook_path`.
///
/// ```
/// # let mut rt: telephony::runtime::RuntimeInfo = serde_json::from_str(r#"{"pid":1,
/// #   "publicAddr":"127.0.0.1:3335","adminAddr":"127.0.0.1:3336","sandbox":true,
/// #   "webhookUrl":"","statusUrl":""}"#).unwrap();
/// rt.webhook_url = "https://example.com/gw/sms/support".into();
/// assert_eq!(telephony::providers::public_base(&rt, "/sms/support"), "https://example.com/gw");
/// ```
pub fn public_base(rt: &RuntimeInfo, webhook_path: &str) -> String {
    match rt.webhook_url.strip_suffix(webhook_path) {
        Some(base) if !webhook_path.is_empty() => base.to_string(),
        _ => format!("http://{}", rt.public_addr),
    }
}

/// Delivery to the running gateway `rt`: what a simulator signs for its public URLs goes
/// to its listener on loopback (see [`Reroutes`](telephony_core::reroute::Reroutes)).
///
/// ```
/// # let mut rt: telephony::runtime::RuntimeInfo = serde_json::from_str(r#"{"pid":1,
/// #   "publicAddr":"127.0.0.1:3335","adminAddr":"127.0.0.1:3336","sandbox":true,
/// #   "webhookUrl":"","statusUrl":""}"#).unwrap();
/// rt.webhook_url = "https://sms.example.com/telephony/webhook".into();
/// let routes = telephony::providers::local_delivery(&rt, "/telephony/webhook");
/// assert_eq!(
///     routes.target(&rt.webhook_url),
///     "http://127.0.0.1:3335/telephony/webhook"
/// );
/// ```
pub fn local_delivery(rt: &RuntimeInfo, webhook_path: &str) -> telephony_core::reroute::Reroutes {
    let routes = telephony_core::reroute::Reroutes::default();
    routes.add(
        &public_base(rt, webhook_path),
        &format!("http://{}", rt.public_addr),
    );
    routes
}

/// An inbound-message webhook signed as the provider would sign it, ready to POST to the
/// gateway's local listener.
#[derive(Debug, Clone)]
pub struct SimulatedWebhook {
    /// Headers to send (content type and signature headers).
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The provider's id of the simulated message.
    pub message_id: String,
}

/// Signs an inbound SMS from `from` to `to` for the running gateway `rt`, as its provider
/// would: Twilio with the sandbox's (or the configured) auth token over the public webhook
/// URL; Telnyx with the sandbox simulator's signing key (only Telnyx holds the real one, so
/// Telnyx needs sandbox mode).
pub fn simulated_inbound(
    rt: &RuntimeInfo,
    config: &Config,
    from: &PhoneNumber,
    to: &str,
    text: &str,
    message_id: Option<String>,
) -> Result<SimulatedWebhook, String> {
    match rt.provider.as_str() {
        "telnyx" => simulated_telnyx(rt, from, to, text, message_id),
        _ => {
            let (account_sid, token) = if rt.sandbox {
                (
                    rt.sandbox_account_sid.clone().unwrap_or_default(),
                    rt.sandbox_auth_token.clone().unwrap_or_default(),
                )
            } else {
                let token = config.twilio.auth_token.clone().ok_or_else(|| {
                    "twilio.authToken (or TWILIO_AUTH_TOKEN) is needed to sign the webhook"
                        .to_string()
                })?;
                (
                    config.twilio.account_sid.clone().unwrap_or_default(),
                    token.expose().to_string(),
                )
            };
            let message_id = message_id.unwrap_or_else(telephony_twilio_simulator::new_message_sid);
            let sms = telephony_twilio_simulator::InboundSms {
                account_sid,
                from: from.to_string(),
                to: to.to_string(),
                body: text.to_string(),
                message_sid: Some(message_id.clone()),
                media: Vec::new(),
            };
            let (body, signature) = sms.signed(&token, &rt.webhook_url);
            Ok(SimulatedWebhook {
                headers: vec![
                    (
                        "Content-Type".into(),
                        "application/x-www-form-urlencoded; charset=utf-8".into(),
                    ),
                    ("User-Agent".into(), "TwilioProxy/1.1".into()),
                    ("X-Twilio-Signature".into(), signature),
                ],
                body: body.into_bytes(),
                message_id,
            })
        }
    }
}

#[cfg(feature = "telnyx")]
fn simulated_telnyx(
    rt: &RuntimeInfo,
    from: &PhoneNumber,
    to: &str,
    text: &str,
    message_id: Option<String>,
) -> Result<SimulatedWebhook, String> {
    use telephony_telnyx::WebhookSigner;
    use telephony_telnyx_simulator::{InboundSms, Simulator, SimulatorConfig};
    let seed = rt.sandbox_signing_key.as_deref().ok_or_else(|| {
        "simulating a Telnyx webhook needs a gateway in sandbox mode (`telephony serve --sandbox --provider telnyx`): Telnyx signs webhooks with a private key only Telnyx holds".to_string()
    })?;
    let signer = WebhookSigner::from_seed_base64(seed)
        .ok_or_else(|| "the runtime file's sandboxSigningKey is not a valid key".to_string())?;
    let sim = Simulator::new(SimulatorConfig::new("unused", signer));
    let mut sms = InboundSms::new(from.to_string(), to, text);
    if let Some(id) = message_id {
        sms.message_id = id;
    }
    let signed = sim.signed_inbound(&sms, &rt.webhook_url);
    Ok(SimulatedWebhook {
        headers: signed
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: signed.body.to_vec(),
        message_id: sms.message_id,
    })
}

#[cfg(not(feature = "telnyx"))]
fn simulated_telnyx(
    _: &RuntimeInfo,
    _: &PhoneNumber,
    _: &str,
    _: &str,
    _: Option<String>,
) -> Result<SimulatedWebhook, String> {
    Err(BuildError::NotCompiledIn { name: "telnyx" }.to_string())
}

#[cfg(all(test, feature = "telnyx"))]
mod tests {
    use super::*;
    use telephony_core::numbers::{SettingChange, WebhookTargets};

    #[tokio::test]
    async fn the_telnyx_sandbox_owns_its_number_in_a_messaging_profile() {
        let config = Config::from_json5_str(r#"{ provider: "telnyx" }"#).unwrap();
        let setup = setup(&config, true).await.unwrap();
        let sim = setup.simulator.as_ref().unwrap().telnyx().unwrap().clone();
        let number = PhoneNumber::parse(TELNYX_SANDBOX_FROM).unwrap();
        let c = setup
            .provider
            .number_config(&number)
            .await
            .unwrap()
            .unwrap();
        let profile = c.service.unwrap();
        assert_eq!(profile.inbound_url, None);
        let targets = WebhookTargets {
            messaging_url: "http://127.0.0.1:3335/telephony/webhook".into(),
            voice_url: None,
            voice_status_url: None,
        };
        assert_eq!(
            setup
                .provider
                .configure_number(&number, &targets)
                .await
                .unwrap(),
            vec![SettingChange {
                resource: format!("messaging profile {}", profile.id),
                setting: "webhook_url".into(),
                from: None,
                to: targets.messaging_url.clone(),
            }]
        );
        assert_eq!(
            sim.messaging_profile(&profile.id).unwrap().webhook_url,
            Some(targets.messaging_url)
        );
        setup.simulator.unwrap().shutdown().await;
    }
}

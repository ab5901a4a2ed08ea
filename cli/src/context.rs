//! What every command needs: the resolved config, the data directory, and a way to reach
//! the running gateway's admin API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use telephony::config::{Config, ConfigError, ConfigSources, config_file};
use telephony::providers;
use telephony::runtime::{self, RuntimeInfo};
use telephony_core::Secret;
use telephony_serve::api::{ErrorCode, ErrorResponse};

use crate::{EXIT_CONFIG, EXIT_FAILURE};

/// A command failure with its exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    pub code: u8,
    pub message: String,
    /// The admin API's error code, when the gateway refused the request.
    pub remote: Option<ErrorCode>,
}

impl CliError {
    pub(crate) fn config(msg: impl Into<String>) -> Self {
        CliError {
            code: EXIT_CONFIG,
            message: msg.into(),
            remote: None,
        }
    }
    pub(crate) fn failure(msg: impl Into<String>) -> Self {
        CliError {
            code: EXIT_FAILURE,
            message: msg.into(),
            remote: None,
        }
    }
    /// A runtime failure already reported on stdout (`--json`): exit 1, nothing on stderr.
    pub(crate) fn silent_failure() -> Self {
        Self::failure(String::new())
    }
}

impl From<telephony_core::StoreError> for CliError {
    fn from(e: telephony_core::StoreError) -> Self {
        CliError::failure(telephony_core::error_chain(&e))
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::config(e.to_string())
    }
}

pub(crate) struct Context {
    pub config: Config,
    pub sources: ConfigSources,
    /// The account named with `--account` (its config is `config`).
    pub account: Option<String>,
}

impl Context {
    /// The configuration (`explicit`, else the default file, then the environment). With
    /// `find_gateway`, a config without `dataDir` finds a running Telnyx sandbox in its own
    /// directory when none runs in the default one (`serve` itself never looks).
    pub(crate) fn load(explicit: Option<&Path>, find_gateway: bool) -> Result<Self, CliError> {
        let file = config_file(explicit);
        let (mut config, sources) = Config::load(file.as_deref())?;
        // Without `dataDir`, the running gateway is the one in `./telephony-data`, else a
        // Telnyx sandbox in its own directory (`serve --sandbox --provider telnyx`).
        if find_gateway
            && config.data_dir.is_none()
            && !running_in(&config.data_dir())
            && running_in(Path::new(providers::TELNYX_SANDBOX_DATA_DIR))
        {
            config.default_data_dir_to(providers::TELNYX_SANDBOX_DATA_DIR.into());
        }
        Ok(Context {
            config,
            sources,
            account: None,
        })
    }

    /// This context acting on account `name` (`--account`): its config, its store, its
    /// admin routes (`/accounts/{name}` on the admin listener).
    pub(crate) fn with_account(mut self, name: &str) -> Result<Self, CliError> {
        self.config = self
            .config
            .account_config(name)
            .map_err(|e| CliError::config(e.to_string()))?;
        self.account = Some(name.to_string());
        Ok(self)
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.config.data_dir()
    }

    /// The running gateway's runtime file (the `--account`'s URLs and credentials when
    /// one is named).
    pub(crate) fn runtime(&self) -> Result<Option<RuntimeInfo>, CliError> {
        let rt = runtime::read_runtime(&self.data_dir()).map_err(|e| {
            CliError::failure(format!(
                "could not read {}: {e}",
                runtime::runtime_path(&self.data_dir()).display()
            ))
        })?;
        match (rt, &self.account) {
            (Some(rt), Some(name)) => match rt.for_account(name) {
                Some(one) => Ok(Some(one)),
                None => Err(CliError::failure(format!(
                    "the running gateway (pid {}) does not serve account {name:?}; restart it with this config",
                    rt.pid
                ))),
            },
            (rt, _) => Ok(rt),
        }
    }

    /// The admin API of a running gateway, if one answers.
    pub(crate) async fn admin(&self) -> Result<Option<Admin>, CliError> {
        let addr = match self.runtime()? {
            Some(rt) => rt.admin_addr,
            None => format!("{}:{}", self.config.admin.bind, self.config.admin.port),
        };
        let token = match &self.config.admin.token {
            Some(t) => Some(t.clone()),
            None => runtime::read_admin_token(&self.data_dir())
                .map_err(|e| CliError::failure(format!("could not read the admin token: {e}")))?,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(75))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| CliError::failure(format!("could not build an HTTP client: {e}")))?;
        let base = match &self.account {
            Some(name) => format!("http://{addr}/accounts/{name}"),
            None => format!("http://{addr}"),
        };
        // A cheap probe: connection refused means no gateway is running here.
        match http.get(format!("{base}/telephony/status")).send().await {
            Err(e) if e.is_connect() || e.is_timeout() => return Ok(None),
            Err(e) => return Err(CliError::failure(format!("admin API at {base}: {e}"))),
            Ok(_) => {}
        }
        let Some(token) = token else {
            return Err(CliError::config(format!(
                "a gateway answers at {base} but there is no admin token in {}; set admin.token or use the same dataDir as the gateway",
                self.data_dir().display()
            )));
        };
        Ok(Some(Admin { http, base, token }))
    }
}

/// Whether `data_dir`'s runtime file names a process that still runs (on Linux, one in
/// `/proc`; elsewhere a runtime file is taken at its word). A gateway that was killed
/// leaves its file behind.
fn running_in(data_dir: &Path) -> bool {
    match runtime::read_runtime(data_dir) {
        Ok(Some(rt)) => {
            !cfg!(target_os = "linux") || Path::new("/proc").join(rt.pid.to_string()).exists()
        }
        _ => false,
    }
}

pub(crate) struct Admin {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Secret,
}

impl Admin {
    /// `GET {path}`, its answer read into the API type `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| CliError::failure(format!("admin API request failed: {e}")))?;
        decode(resp).await
    }

    /// `POST {path}` with a JSON body, its answer read into the API type `T`.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CliError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| CliError::failure(format!("admin API request failed: {e}")))?;
        decode(resp).await
    }
}

impl Admin {
    /// `GET {path}` of a route answering bytes (a recording's audio): the
    /// `Content-Type` and the body; a refusal is the gateway's error, as for JSON routes.
    pub(crate) async fn get_bytes(&self, path: &str) -> Result<(String, Vec<u8>), CliError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| CliError::failure(format!("admin API request failed: {e}")))?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(decode::<serde_json::Value>(resp)
                .await
                .err()
                .unwrap_or_else(|| CliError::failure(format!("admin API answered {status}"))));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CliError::failure(format!("the recording's download was cut: {e}")))?;
        Ok((content_type, bytes.to_vec()))
    }
}

impl Admin {
    /// `DELETE {path}`, its answer read into the API type `T`.
    pub(crate) async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let resp = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| CliError::failure(format!("admin API request failed: {e}")))?;
        decode(resp).await
    }
}

/// The answer as `T`, or the gateway's [`ErrorResponse`] as a [`CliError`]: the exit code
/// follows the error's `code` (the caller's input → 2, anything else → 1).
async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, CliError> {
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| {
        CliError::failure(format!(
            "admin API answered {status} but the body was lost: {e}"
        ))
    })?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| {
            CliError::failure(format!(
                "unexpected answer from the gateway ({status}): {e}"
            ))
        });
    }
    let (code, msg) = match serde_json::from_slice::<ErrorResponse>(&bytes) {
        Ok(r) => (r.error.code, r.error.message),
        Err(_) => (ErrorCode::Unknown, "(no message)".to_string()),
    };
    Err(CliError {
        code: match code {
            // A gateway of another version: fall back to the HTTP status class.
            ErrorCode::Unknown if status.is_client_error() && status.as_u16() != 401 => EXIT_CONFIG,
            c if c.is_caller_error() => EXIT_CONFIG,
            _ => EXIT_FAILURE,
        },
        message: format!("gateway refused the request ({status}): {msg}"),
        remote: Some(code),
    })
}

//! Files the gateway keeps in its data directory so the CLI can find it: the admin token
//! (`admin.token`, mode 0600) and the runtime file (`gateway.json`, mode 0600) that says
//! where the running gateway listens.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use telephony_core::Secret;

/// Name of the admin token file in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// Name of the runtime file in the data directory.
pub const RUNTIME_FILE: &str = "gateway.json";

/// What a running gateway publishes about itself.
///
/// `Debug` leaves out the sandbox credentials (`sandboxAuthToken`, `sandboxSigningKey`,
/// `sandboxApiKey`);
/// only the 0600 runtime file carries them.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeInfo {
    /// Process id.
    pub pid: u32,
    /// Public listener address.
    pub public_addr: String,
    /// Admin listener address.
    pub admin_addr: String,
    /// The URL to configure in the Twilio console for inbound messages.
    pub webhook_url: String,
    /// The status callback URL.
    pub status_url: String,
    /// Sandbox mode (simulated Twilio).
    pub sandbox: bool,
    /// In sandbox mode, the simulated account's SID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_account_sid: Option<String>,
    /// In sandbox mode, the simulated account's auth token (so `telephony simulate` can sign).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_auth_token: Option<String>,
    /// In sandbox mode, the simulator's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator_url: Option<String>,
    /// The provider the gateway talks to (`twilio`, `telnyx`).
    #[serde(default = "default_provider")]
    pub provider: String,
    /// In sandbox mode with Telnyx, the simulator's webhook signing seed (base64), so
    /// `telephony simulate sms` can sign as the simulator does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_signing_key: Option<String>,
    /// In sandbox mode with Telnyx, the simulator's API key, so your own code (the official
    /// Telnyx SDK, curl) can call the simulated API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_api_key: Option<String>,
    /// In sandbox mode, the numbers the simulated account owns (E.164; the first is the
    /// default sender), so your own code can send from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_numbers: Vec<String>,
    /// In sandbox mode with Telnyx, the messaging profile the sandbox's numbers are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_messaging_profile_id: Option<String>,
    /// In sandbox mode with Telnyx, the Call Control application (`connection_id`) the
    /// sandbox's number and calls use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_connection_id: Option<String>,
    /// In sandbox mode with Telnyx, the public key (base64) that verifies the simulator's
    /// webhooks (what `telnyx.publicKey` is for the real Telnyx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_public_key: Option<String>,
    /// The account these URLs and credentials are for (`None` without `accounts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// With `accounts`: every account's URLs and sandbox credentials (the top-level fields
    /// are the default account's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<RuntimeInfo>,
}

impl RuntimeInfo {
    /// The runtime information of account `name` (`None` when the gateway does not serve
    /// it).
    pub fn for_account(&self, name: &str) -> Option<RuntimeInfo> {
        self.accounts
            .iter()
            .find(|a| a.account.as_deref() == Some(name))
            .cloned()
    }
}

impl std::fmt::Debug for RuntimeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("RuntimeInfo")
            .field("pid", &self.pid)
            .field("public_addr", &self.public_addr)
            .field("admin_addr", &self.admin_addr)
            .field("webhook_url", &self.webhook_url)
            .field("status_url", &self.status_url)
            .field("sandbox", &self.sandbox)
            .field("sandbox_account_sid", &self.sandbox_account_sid)
            .field("sandbox_auth_token", &redacted(&self.sandbox_auth_token))
            .field("simulator_url", &self.simulator_url)
            .field("provider", &self.provider)
            .field("sandbox_signing_key", &redacted(&self.sandbox_signing_key))
            .field("sandbox_api_key", &redacted(&self.sandbox_api_key))
            .field("sandbox_numbers", &self.sandbox_numbers)
            .field(
                "sandbox_messaging_profile_id",
                &self.sandbox_messaging_profile_id,
            )
            .field("sandbox_connection_id", &self.sandbox_connection_id)
            .field("sandbox_public_key", &self.sandbox_public_key)
            .field("account", &self.account)
            .field("accounts", &self.accounts)
            .finish()
    }
}

fn default_provider() -> String {
    "twilio".into()
}

/// Writes `contents` to `path` with mode 0600 (atomically: temp file + rename).
///
/// The mode is set on the open file as well as at creation, so a temp file left behind
/// with a wider mode (a crash, another tool) cannot carry it over to the token.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Reads the admin token from the data directory, or generates and stores one.
///
/// Returns the token and whether it was just generated (so the caller can print it once).
pub fn load_or_create_admin_token(data_dir: &Path) -> std::io::Result<(Secret, bool)> {
    if let Some(t) = read_admin_token(data_dir)? {
        return Ok((t, false));
    }
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("tk_{token}");
    write_private(
        &data_dir.join(ADMIN_TOKEN_FILE),
        format!("{token}\n").as_bytes(),
    )?;
    Ok((Secret::new(token), true))
}

/// Reads the admin token if the file exists.
pub fn read_admin_token(data_dir: &Path) -> std::io::Result<Option<Secret>> {
    match std::fs::read_to_string(data_dir.join(ADMIN_TOKEN_FILE)) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(Secret::new(s.trim()))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The runtime file path.
pub fn runtime_path(data_dir: &Path) -> PathBuf {
    data_dir.join(RUNTIME_FILE)
}

/// Reads the runtime file if a gateway wrote one.
pub fn read_runtime(data_dir: &Path) -> std::io::Result<Option<RuntimeInfo>> {
    match std::fs::read(runtime_path(data_dir)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let (t1, new1) = load_or_create_admin_token(dir.path()).unwrap();
        assert!(new1);
        assert!(t1.expose().starts_with("tk_"));
        assert_eq!(t1.expose().len(), 3 + 48);
        let (t2, new2) = load_or_create_admin_token(dir.path()).unwrap();
        assert!(!new2);
        assert_eq!(t1, t2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(ADMIN_TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(read_admin_token(dir.path()).unwrap(), Some(t1));
    }

    #[cfg(unix)]
    #[test]
    fn a_leftover_world_readable_temp_file_does_not_widen_the_token() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ADMIN_TOKEN_FILE);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, b"stale").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (token, generated) = load_or_create_admin_token(dir.path()).unwrap();
        assert!(generated);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", token.expose())
        );
    }
}

//! Tailscale Funnel (public internet) and Tailscale Serve (tailnet only) through the
//! `tailscale` CLI.
//!
//! Start: `tailscale status --json` must show a running, logged-in node with a MagicDNS
//! name (`Self.DNSName`, trailing dot trimmed); then one mount per gateway path, each
//! forwarding to the same path on the local listener, because Funnel strips the mount
//! path before forwarding:
//!
//! ```text
//! tailscale funnel --bg --yes --https=443 --set-path=/telephony/webhook http://127.0.0.1:3335/telephony/webhook
//! ```
//!
//! Teardown turns each mount off again (`tailscale funnel --https=443
//! --set-path=/telephony/webhook off`), also after a start that failed half-way. The
//! public URL is `https://{DNSName}` (with `:{port}` unless the port is 443). Funnel only
//! listens on 443, 8443 and 10000.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{Teardown, Tunnel, TunnelError, TunnelHandle};

/// How long one `tailscale` command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Funnel (public) or Serve (tailnet only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailscaleMode {
    /// `tailscale funnel`: reachable from the internet (what Twilio needs).
    Funnel,
    /// `tailscale serve`: reachable from the tailnet only (for a relay inside it).
    Serve,
}

impl TailscaleMode {
    fn command(self) -> &'static str {
        match self {
            TailscaleMode::Funnel => "funnel",
            TailscaleMode::Serve => "serve",
        }
    }

    fn tunnel_name(self) -> &'static str {
        match self {
            TailscaleMode::Funnel => "tailscale-funnel",
            TailscaleMode::Serve => "tailscale-serve",
        }
    }
}

/// A Tailscale Funnel or Serve tunnel for a set of gateway paths.
///
/// ```no_run
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use telephony_tunnel::{Tailscale, Tunnel};
/// let funnel = Tailscale::funnel(["/telephony/webhook", "/telephony/status"]);
/// let handle = funnel.start("127.0.0.1:3335".parse().unwrap()).await?;
/// println!("Twilio URL: {}/telephony/webhook", handle.url());
/// handle.close().await?; // every mount off again
/// # Ok::<(), telephony_tunnel::TunnelError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tailscale {
    mode: TailscaleMode,
    https_port: u16,
    paths: Vec<String>,
    program: PathBuf,
}

impl Tailscale {
    /// Funnel (public) for `paths`, on port 443, with `tailscale` from `PATH`.
    pub fn funnel<I, S>(paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Tailscale::new(TailscaleMode::Funnel, paths)
    }

    /// Serve (tailnet only) for `paths`, on port 443.
    pub fn serve<I, S>(paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Tailscale::new(TailscaleMode::Serve, paths)
    }

    fn new<I, S>(mode: TailscaleMode, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Tailscale {
            mode,
            https_port: 443,
            paths: paths.into_iter().map(Into::into).collect(),
            program: PathBuf::from("tailscale"),
        }
    }

    /// The HTTPS port to expose (Funnel: 443, 8443 or 10000).
    pub fn https_port(mut self, port: u16) -> Self {
        self.https_port = port;
        self
    }

    /// The `tailscale` program to run (default: `tailscale`, found on `PATH`).
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Funnel or Serve.
    pub fn mode(&self) -> TailscaleMode {
        self.mode
    }

    /// The paths mounted, in order.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    fn check(&self) -> Result<(), TunnelError> {
        let tunnel = self.mode.tunnel_name();
        if self.mode == TailscaleMode::Funnel && ![443, 8443, 10000].contains(&self.https_port) {
            return Err(TunnelError::Config {
                tunnel,
                reason: format!(
                    "Funnel only listens on ports 443, 8443 and 10000, not {}",
                    self.https_port
                ),
            });
        }
        if self.paths.is_empty() {
            return Err(TunnelError::Config {
                tunnel,
                reason: "no paths to expose".into(),
            });
        }
        for p in &self.paths {
            if !p.starts_with('/') || p.contains(char::is_whitespace) {
                return Err(TunnelError::Config {
                    tunnel,
                    reason: format!("path {p:?} must start with '/' and contain no spaces"),
                });
            }
        }
        Ok(())
    }

    /// Runs `tailscale status --json` and returns the node's DNS name.
    fn dns_name(&self, runner: &Runner) -> Result<String, TunnelError> {
        let tunnel = self.mode.tunnel_name();
        let out = runner.run(&["status", "--json"])?;
        let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| TunnelError::Start {
            tunnel,
            reason: format!("`tailscale status --json` printed something that is not JSON ({e})"),
        })?;
        let state = v
            .get("BackendState")
            .and_then(|s| s.as_str())
            .unwrap_or("unknown");
        if state != "Running" {
            return Err(TunnelError::Start {
                tunnel,
                reason: format!(
                    "this node is not connected to its tailnet (BackendState {state:?}); run `tailscale up` and try again"
                ),
            });
        }
        let dns = v
            .pointer("/Self/DNSName")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .trim_end_matches('.')
            .to_string();
        if dns.is_empty() {
            return Err(TunnelError::Start {
                tunnel,
                reason: "the node has no MagicDNS name (Self.DNSName is empty); enable MagicDNS and HTTPS certificates for the tailnet".into(),
            });
        }
        Ok(dns)
    }
}

#[async_trait]
impl Tunnel for Tailscale {
    async fn start(&self, local: SocketAddr) -> Result<TunnelHandle, TunnelError> {
        self.check()?;
        let this = self.clone();
        let tunnel = self.mode.tunnel_name();
        tokio::task::spawn_blocking(move || this.start_blocking(local))
            .await
            .map_err(|e| TunnelError::Start {
                tunnel,
                reason: format!("start task failed: {e}"),
            })?
    }

    fn name(&self) -> &'static str {
        self.mode.tunnel_name()
    }
}

impl Tailscale {
    fn start_blocking(&self, local: SocketAddr) -> Result<TunnelHandle, TunnelError> {
        let runner = Runner {
            tunnel: self.mode.tunnel_name(),
            program: self.program.clone(),
        };
        let dns = self.dns_name(&runner)?;
        let host = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            match local {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            }
        };
        let mut mounts = Mounts {
            runner,
            mode: self.mode,
            https_port: self.https_port,
            mounted: Vec::new(),
        };
        for path in &self.paths {
            let target = format!("http://{host}:{}{path}", local.port());
            let https = format!("--https={}", self.https_port);
            let set_path = format!("--set-path={path}");
            let args = [
                self.mode.command(),
                "--bg",
                "--yes",
                https.as_str(),
                set_path.as_str(),
                target.as_str(),
            ];
            if let Err(e) = mounts.runner.run(&args) {
                // Undo the mounts already made; the start's error is the one to report.
                if let Err(t) = mounts.teardown() {
                    eprintln!("telephony: after a failed start, {t}");
                }
                return Err(e);
            }
            mounts.mounted.push(path.clone());
        }
        let url = if self.https_port == 443 {
            format!("https://{dns}")
        } else {
            format!("https://{dns}:{}", self.https_port)
        };
        Ok(TunnelHandle::new(
            self.mode.tunnel_name(),
            url,
            Some(Box::new(mounts)),
        ))
    }
}

/// The mounts made, turned off again on teardown (last first).
struct Mounts {
    runner: Runner,
    mode: TailscaleMode,
    https_port: u16,
    mounted: Vec<String>,
}

impl Teardown for Mounts {
    fn teardown(&mut self) -> Result<(), TunnelError> {
        let mut first_error = None;
        while let Some(path) = self.mounted.pop() {
            let https = format!("--https={}", self.https_port);
            let set_path = format!("--set-path={path}");
            let args = [
                self.mode.command(),
                https.as_str(),
                set_path.as_str(),
                "off",
            ];
            if let Err(e) = self.runner.run(&args) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

struct Runner {
    tunnel: &'static str,
    program: PathBuf,
}

impl Runner {
    /// Runs the program with `args`; its stdout on success, a [`TunnelError`] with its
    /// output otherwise.
    fn run(&self, args: &[&str]) -> Result<String, TunnelError> {
        let command = format!("{} {}", self.program.display(), args.join(" "));
        let spawn = || {
            Command::new(&self.program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        };
        let mut spawned = spawn();
        // ETXTBSY: the program was being written (an update of the CLI, or a test's fake)
        // while another thread forked; it clears in a moment.
        for _ in 0..10 {
            match &spawned {
                Err(e) if e.raw_os_error() == Some(26) => {
                    std::thread::sleep(Duration::from_millis(20));
                    spawned = spawn();
                }
                _ => break,
            }
        }
        let mut child = spawned
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => TunnelError::MissingProgram {
                    tunnel: self.tunnel,
                    program: self.program.display().to_string(),
                    hint: "install Tailscale from https://tailscale.com/download and log in with `tailscale up`",
                },
                _ => TunnelError::Start {
                    tunnel: self.tunnel,
                    reason: format!("could not run `{command}`: {e}"),
                },
            })?;
        // Drain both pipes while waiting, so a large `status --json` cannot fill a pipe
        // and stall the command.
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > COMMAND_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(TunnelError::Command {
                        tunnel: self.tunnel,
                        command,
                        status: format!("killed after {} s", COMMAND_TIMEOUT.as_secs()),
                        output: String::new(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    return Err(TunnelError::Start {
                        tunnel: self.tunnel,
                        reason: format!("waiting for `{command}`: {e}"),
                    });
                }
            }
        };
        let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
        if status.success() {
            return Ok(stdout);
        }
        let output = if stderr.trim().is_empty() {
            stdout.trim().to_string()
        } else {
            stderr.trim().to_string()
        };
        Err(TunnelError::Command {
            tunnel: self.tunnel,
            command,
            status: status
                .code()
                .map_or_else(|| "killed by a signal".into(), |c| format!("exit code {c}")),
            output,
        })
    }
}

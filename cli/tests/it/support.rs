//! Helpers the CLI's process-level tests share: running a command, a `telephony serve`
//! child that is killed when dropped, and polling for a condition.

use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Runs `c` to completion: exit code (-1 when killed by a signal), stdout, stderr.
pub(crate) fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// A running `telephony serve`, killed when dropped (the test may have stopped it already,
/// or failed half-way).
pub(crate) struct Serve(pub Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `f` every 50 ms until it holds; panics naming `what` after 30 s.
pub(crate) fn wait_for(what: &str, f: impl FnMut() -> bool) {
    wait_for_within(what, Duration::from_secs(30), f)
}

/// Polls `f` every 50 ms until it holds; panics naming `what` after `limit`.
pub(crate) fn wait_for_within(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// A loopback port that was free a moment ago (bound to port 0, then released), for a
/// gateway that must come back on the same address after a restart.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `telephony serve` process of the crash tests: its config file and data directory,
/// stdout and stderr appended to `{dir}/serve.log` (kept across restarts, printed when
/// a test fails), SIGKILLed when dropped.
pub(crate) struct GatewayProcess {
    /// The directory holding its config (`telephony.json5`), data and log.
    pub(crate) dir: std::path::PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// What the running process published in `{dataDir}/gateway.json`.
    pub(crate) runtime: Option<telephony::runtime::RuntimeInfo>,
}

impl GatewayProcess {
    /// Writes `config` to `{dir}/telephony.json5`; `env` is the process's whole environment
    /// besides `PATH` (secrets such as `TWILIO_AUTH_TOKEN` go there).
    pub(crate) fn new(dir: &std::path::Path, config: &str, env: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("telephony.json5"), config).unwrap();
        GatewayProcess {
            dir: dir.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            runtime: None,
        }
    }

    /// Starts `telephony serve` and waits (30 s at most) until it listens: its runtime file
    /// names this process. Panics with the log when it exits first.
    pub(crate) fn start(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    /// Starts `telephony serve` without waiting (several processes starting together).
    pub(crate) fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("serve.log"))
            .unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.dir)
            .arg("serve")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(c.spawn().unwrap());
    }

    /// Waits (30 s at most) until the process started by [`spawn`](Self::spawn) listens:
    /// its runtime file names it. Panics with the log when it exits first.
    pub(crate) fn wait_ready(&mut self) {
        let pid = self.child.as_ref().expect("not started").id();
        let file = self
            .dir
            .join("telephony-data")
            .join(telephony::runtime::RUNTIME_FILE);
        let t = Instant::now();
        loop {
            if let Some(rt) = std::fs::read(&file)
                .ok()
                .and_then(|b| serde_json::from_slice::<telephony::runtime::RuntimeInfo>(&b).ok())
                .filter(|rt| rt.pid == pid)
            {
                self.runtime = Some(rt);
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "telephony serve exited ({status}) before it listened:\n{}",
                    self.log_tail(60)
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "telephony serve did not listen within 30 s:\n{}",
                self.log_tail(60)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL (`Child::kill` on Unix), then reaps the process.
    pub(crate) fn kill9(&mut self) {
        let mut child = self.child.take().expect("not running");
        child.kill().unwrap();
        child.wait().unwrap();
        self.runtime = None;
    }

    /// The running process's runtime information.
    pub(crate) fn runtime(&self) -> &telephony::runtime::RuntimeInfo {
        self.runtime.as_ref().expect("not running")
    }

    /// The lines of the process's log (every start of it) that mention one of `needles`.
    pub(crate) fn log_lines_with(&self, needles: &[String]) -> String {
        let log = std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default();
        log.lines()
            .filter(|l| needles.iter().any(|n| l.contains(n.as_str())))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The last `lines` lines of the process's log (every start of it).
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

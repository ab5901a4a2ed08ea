//! `telephony serve` with a tunnel, as a user runs it: Tailscale Funnel through a fake
//! `tailscale` on `PATH` that records its arguments (mounts on start, every mount off on
//! SIGTERM and after a failed start), and ngrok's configuration and start errors (ngrok's
//! servers are not reachable from tests).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Serve, run, wait_for};

const STATUS: &str = r#"{"Version":"1.76.6","BackendState":"Running","Self":{"ID":"n1","HostName":"gw","DNSName":"gw.tail1234.ts.net.","TailscaleIPs":["100.101.102.103"]},"MagicDNSSuffix":"tail1234.ts.net"}"#;

/// A fake `tailscale` in `bin/`: logs each invocation to `bin/log`, answers
/// `status --json`, and fails a command containing `fail_on` the way the real one does
/// when Funnel is not enabled on the tailnet.
fn fake_tailscale(bin: &Path, fail_on: Option<&str>) {
    std::fs::create_dir_all(bin).unwrap();
    std::fs::write(bin.join("status.json"), STATUS).unwrap();
    let fail_on = fail_on.unwrap_or("\u{1}never\u{1}");
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> '{dir}/log'
if [ "$1" = "status" ]; then cat '{dir}/status.json'; exit 0; fi
case "$*" in
  *'{fail_on}'*) echo 'Funnel is not enabled on your tailnet.' >&2; exit 1 ;;
esac
exit 0
"#,
        dir = bin.display()
    );
    let path = bin.join("tailscale");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn log(bin: &Path) -> Vec<String> {
    std::fs::read_to_string(bin.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `telephony` in `dir` with a clean environment and `bin` first on `PATH`.
fn cmd(dir: &Path, bin: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
    c.env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("NO_COLOR", "1")
        .current_dir(dir);
    c
}

const PATHS: [&str; 5] = [
    "/telephony/webhook",
    "/telephony/status",
    "/telephony/stream",
    "/telephony/stream/relay",
    "/health",
];

#[test]
fn funnel_mounts_every_path_on_start_and_turns_each_off_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fake_tailscale(&bin, None);
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ serve: { port: 0 }, admin: { port: 0 }, tunnel: { provider: 'tailscale-funnel' } }",
    )
    .unwrap();
    let child = cmd(dir.path(), &bin)
        .args(["serve", "--sandbox"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut serve = Serve(child);
    let runtime = dir.path().join("telephony-data/gateway.json");
    wait_for("gateway.json", || runtime.exists());
    let rt: serde_json::Value = serde_json::from_slice(&std::fs::read(&runtime).unwrap()).unwrap();
    // The tunnel's URL is the public URL.
    assert_eq!(
        rt["webhookUrl"],
        "https://gw.tail1234.ts.net/telephony/webhook"
    );
    assert_eq!(
        rt["statusUrl"],
        "https://gw.tail1234.ts.net/telephony/status"
    );
    let port = rt["publicAddr"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let mut expected = vec!["status --json".to_string()];
    for p in PATHS {
        expected.push(format!(
            "funnel --bg --yes --https=443 --set-path={p} http://127.0.0.1:{port}{p}"
        ));
    }
    assert_eq!(log(&bin), expected);

    // The probe checks the tunnel's URL (not reachable from tests: the fix is the mount).
    let (code, out, err) = run(cmd(dir.path(), &bin).args(["status", "--probe", "--json"]));
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let public = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "public-url")
        .unwrap();
    assert_eq!(public["ok"], false, "{public}");
    assert!(
        public["detail"]
            .as_str()
            .unwrap()
            .starts_with("https://gw.tail1234.ts.net/health: "),
        "{public}"
    );
    assert_eq!(
        public["fix"],
        format!(
            "tailscale funnel --bg --yes --https=443 --set-path=/health http://127.0.0.1:{port}/health"
        )
    );

    let pid = serve.0.id().to_string();
    let (code, _, err) = run(Command::new("kill").args(["-TERM", &pid]));
    assert_eq!(code, 0, "{err}");
    let t = Instant::now();
    let status = loop {
        if let Some(s) = serve.0.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut errs = String::new();
    use std::io::Read;
    serve
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    serve
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errs)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{out}{errs}");
    assert!(
        out.contains(
            "  public URL (tunnel.provider tailscale-funnel): https://gw.tail1234.ts.net\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("stopping…\nstopped\n"), "{out}");
    let offs: Vec<String> = PATHS
        .iter()
        .rev()
        .map(|p| format!("funnel --https=443 --set-path={p} off"))
        .collect();
    assert_eq!(log(&bin)[expected.len()..], offs);
    assert!(!runtime.exists());
}

#[test]
fn a_failed_funnel_start_turns_off_what_it_mounted_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fake_tailscale(&bin, Some("--set-path=/telephony/stream http"));
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ serve: { port: 0 }, admin: { port: 0 }, tunnel: { provider: 'tailscale-funnel' } }",
    )
    .unwrap();
    let (code, out, err) = run(cmd(dir.path(), &bin).args(["serve", "--sandbox"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("tunnel.provider \"tailscale-funnel\": tailscale-funnel: `tailscale funnel --bg --yes --https=443 --set-path=/telephony/stream http://127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("failed (exit code 1): Funnel is not enabled on your tailnet."),
        "{err}"
    );
    let log = log(&bin);
    // status, three mounts (the third failed), then the two made are turned off.
    assert_eq!(log.len(), 6, "{log:?}");
    assert_eq!(
        log[4..],
        [
            "funnel --https=443 --set-path=/telephony/status off",
            "funnel --https=443 --set-path=/telephony/webhook off",
        ],
        "{log:?}"
    );
    assert!(!dir.path().join("telephony-data/gateway.json").exists());
}

#[test]
fn a_start_that_fails_after_the_tunnel_turns_every_mount_off() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fake_tailscale(&bin, None);
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ serve: { port: 0 }, admin: { port: 0 }, tunnel: { provider: 'tailscale-serve' } }",
    )
    .unwrap();
    // The runtime file cannot be written (its temp file's name is taken by a directory):
    // the start fails after the tunnel is up.
    std::fs::create_dir_all(dir.path().join("telephony-data/gateway.tmp")).unwrap();
    let (code, out, err) = run(cmd(dir.path(), &bin).args(["serve", "--sandbox"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("could not use the data directory ") && err.contains("telephony-data"),
        "{err}"
    );
    let log = log(&bin);
    assert_eq!(log.len(), 1 + 2 * PATHS.len(), "{log:?}");
    let offs: Vec<String> = PATHS
        .iter()
        .rev()
        .map(|p| format!("serve --https=443 --set-path={p} off"))
        .collect();
    assert_eq!(log[1 + PATHS.len()..], offs);
}

#[test]
fn ngrok_without_a_token_is_a_config_error_naming_both_places() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ serve: { port: 0 }, admin: { port: 0 }, tunnel: { provider: 'ngrok' } }",
    )
    .unwrap();
    let expected = "tunnel.ngrokAuthToken: tunnel.provider is \"ngrok\" but no auth token is set: set tunnel.ngrokAuthToken or the NGROK_AUTHTOKEN environment variable (your token is at https://dashboard.ngrok.com/get-started/your-authtoken)";
    let (code, _, err) = run(cmd(dir.path(), &bin).args(["serve", "--sandbox"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(expected), "{err}");
    let (code, _, err) = run(cmd(dir.path(), &bin).args(["config", "check"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(expected), "{err}");
    // NGROK_AUTHTOKEN is enough for config check (for the sandbox: no credentials).
    let (code, out, err) = run(cmd(dir.path(), &bin)
        .env("NGROK_AUTHTOKEN", "2envtoken")
        .args(["config", "check", "--sandbox"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("2envtoken"), "{out}");
}

#[test]
fn an_ngrok_start_that_cannot_reach_ngrok_fails_clearly_and_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::write(
        dir.path().join("telephony.json5"),
        "{ serve: { port: 0 }, admin: { port: 0 }, tunnel: { provider: 'ngrok', ngrokAuthToken: '2secretTokenForTests', ngrokVerifyTwilio: true } }",
    )
    .unwrap();
    let t = Instant::now();
    let (code, out, err) = run(cmd(dir.path(), &bin).args(["serve", "--sandbox"]));
    // ngrok's connect timeout is 20 s; no network fails sooner.
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("error: tunnel.provider \"ngrok\": could not start ngrok tunnel: "),
        "{err}"
    );
    assert!(!err.contains("2secretTokenForTests") && !out.contains("2secretTokenForTests"));
    // Nothing left behind: no runtime file, and the directory is free for the next start.
    assert!(!dir.path().join("telephony-data/gateway.json").exists());
}

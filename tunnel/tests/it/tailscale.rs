//! Tailscale Funnel and Serve against a fake `tailscale` executable that records its
//! arguments and prints what a real one prints.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use telephony_tunnel::{Tailscale, Tunnel, TunnelError};

const STATUS: &str = r#"{"Version":"1.76.6","BackendState":"Running","Self":{"ID":"n1","HostName":"gw","DNSName":"gw.tail1234.ts.net.","TailscaleIPs":["100.101.102.103"]},"MagicDNSSuffix":"tail1234.ts.net"}"#;

/// A fake `tailscale` in `dir`: logs each invocation's arguments to `dir/log`, answers
/// `status --json` with `status` (exit `status_code`), and fails a mount whose arguments
/// contain `fail_on` with `fail_output` on stderr.
fn fake(dir: &Path, status: &str, status_code: i32, fail_on: Option<(&str, &str)>) -> PathBuf {
    std::fs::write(dir.join("status.json"), status).unwrap();
    let log = dir.join("log");
    let (fail_on, fail_output) = fail_on.unwrap_or(("\u{1}never\u{1}", ""));
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> '{log}'
if [ "$1" = "status" ]; then
  if [ {status_code} -ne 0 ]; then echo "failed to connect to local tailscaled; it doesn't appear to be running" >&2; exit {status_code}; fi
  cat '{dir}/status.json'
  exit 0
fi
case "$*" in
  *'{fail_on}'*) echo '{fail_output}' >&2; exit 1 ;;
esac
echo "Available on the internet:"
exit 0
"#,
        log = log.display(),
        dir = dir.display(),
    );
    let path = dir.join("tailscale");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

const LOCAL: &str = "127.0.0.1:3335";

#[tokio::test]
async fn funnel_mounts_every_path_and_turns_each_off_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake(dir.path(), STATUS, 0, None);
    let t = Tailscale::funnel(["/telephony/webhook", "/telephony/status"]).program(&bin);
    assert_eq!(t.name(), "tailscale-funnel");
    let h = t.start(LOCAL.parse().unwrap()).await.unwrap();
    assert_eq!(h.url(), "https://gw.tail1234.ts.net");
    assert_eq!(
        log(dir.path()),
        [
            "status --json",
            "funnel --bg --yes --https=443 --set-path=/telephony/webhook http://127.0.0.1:3335/telephony/webhook",
            "funnel --bg --yes --https=443 --set-path=/telephony/status http://127.0.0.1:3335/telephony/status",
        ]
    );
    h.close().await.unwrap();
    assert_eq!(
        log(dir.path())[3..],
        [
            "funnel --https=443 --set-path=/telephony/status off",
            "funnel --https=443 --set-path=/telephony/webhook off",
        ]
    );
}

#[tokio::test]
async fn serve_on_another_port_and_a_wildcard_bind_and_teardown_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake(dir.path(), STATUS, 0, None);
    let t = Tailscale::serve(["/telephony/webhook"])
        .https_port(8443)
        .program(&bin);
    assert_eq!(t.name(), "tailscale-serve");
    let h = t.start("0.0.0.0:4000".parse().unwrap()).await.unwrap();
    assert_eq!(h.url(), "https://gw.tail1234.ts.net:8443");
    drop(h);
    assert_eq!(
        log(dir.path()),
        [
            "status --json",
            "serve --bg --yes --https=8443 --set-path=/telephony/webhook http://127.0.0.1:4000/telephony/webhook",
            "serve --https=8443 --set-path=/telephony/webhook off",
        ]
    );
}

#[tokio::test]
async fn a_failed_mount_reports_the_cli_output_and_undoes_the_mounts_made() {
    let dir = tempfile::tempdir().unwrap();
    let refusal = r#"Funnel not available; "funnel" node attribute not set. See https://tailscale.com/s/no-funnel."#;
    let bin = fake(
        dir.path(),
        STATUS,
        0,
        Some(("--set-path=/telephony/status http", refusal)),
    );
    let t = Tailscale::funnel(["/telephony/webhook", "/telephony/status"]).program(&bin);
    let err = t.start(LOCAL.parse().unwrap()).await.unwrap_err();
    match &err {
        TunnelError::Command {
            tunnel,
            status,
            output,
            ..
        } => {
            assert_eq!(
                (*tunnel, status.as_str(), output.as_str()),
                ("tailscale-funnel", "exit code 1", refusal)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("funnel --bg --yes --https=443 --set-path=/telephony/status")
    );
    assert_eq!(
        log(dir.path())[1..],
        [
            "funnel --bg --yes --https=443 --set-path=/telephony/webhook http://127.0.0.1:3335/telephony/webhook",
            "funnel --bg --yes --https=443 --set-path=/telephony/status http://127.0.0.1:3335/telephony/status",
            "funnel --https=443 --set-path=/telephony/webhook off",
        ]
    );
}

#[tokio::test]
async fn a_stopped_or_logged_out_node_and_a_missing_cli_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake(dir.path(), STATUS, 1, None);
    let err = Tailscale::funnel(["/w"])
        .program(&bin)
        .start(LOCAL.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tailscale-funnel: `{} status --json` failed (exit code 1): failed to connect to local tailscaled; it doesn't appear to be running",
            bin.display()
        )
    );

    let dir = tempfile::tempdir().unwrap();
    let stopped = STATUS.replace("\"Running\"", "\"NeedsLogin\"");
    let bin = fake(dir.path(), &stopped, 0, None);
    let err = Tailscale::funnel(["/w"])
        .program(&bin)
        .start(LOCAL.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not start tailscale-funnel tunnel: this node is not connected to its tailnet (BackendState \"NeedsLogin\"); run `tailscale up` and try again"
    );
    assert_eq!(log(dir.path()), ["status --json"], "no mount was attempted");

    let err = Tailscale::funnel(["/w"])
        .program("/nonexistent/tailscale")
        .start(LOCAL.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tailscale-funnel: the `/nonexistent/tailscale` command was not found (install Tailscale from https://tailscale.com/download and log in with `tailscale up`)"
    );
}

#[tokio::test]
async fn funnel_ports_and_paths_are_checked_before_any_command() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake(dir.path(), STATUS, 0, None);
    let err = Tailscale::funnel(["/w"])
        .https_port(8080)
        .program(&bin)
        .start(LOCAL.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tailscale-funnel: Funnel only listens on ports 443, 8443 and 10000, not 8080"
    );
    let err = Tailscale::funnel(["telephony/webhook"])
        .program(&bin)
        .start(LOCAL.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tailscale-funnel: path \"telephony/webhook\" must start with '/' and contain no spaces"
    );
    assert_eq!(log(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_large_status_does_not_stall_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    // A tailnet with many peers: several hundred KB of status.
    let peers: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                r#""nodekey:{i:064}":{{"DNSName":"peer{i}.tail1234.ts.net.","HostName":"peer{i}"}}"#
            )
        })
        .collect();
    let status = STATUS.replacen('{', &format!("{{\"Peer\":{{{}}},", peers.join(",")), 1);
    assert!(status.len() > 200_000);
    let bin = fake(dir.path(), &status, 0, None);
    let h = Tailscale::funnel(["/w"])
        .program(&bin)
        .start(LOCAL.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(h.url(), "https://gw.tail1234.ts.net");
}

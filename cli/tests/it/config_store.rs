//! `telephony config check` says which store applies (backend, redacted URL, schema per
//! account) and how the admin API is reached.

use std::path::Path;
use std::process::Command;

use crate::support::run;

fn check(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .current_dir(dir)
        // For `serve --sandbox`: these configs have no provider credentials.
        .args(["config", "check", "--sandbox"])
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run(&mut c)
}

#[test]
fn config_check_names_the_store_and_the_admin_access() {
    let dir = tempfile::tempdir().unwrap();
    let url = (
        "TELEPHONY_DATABASE_URL",
        "postgres://gw:hunter2@db.internal/tel?sslmode=verify-full",
    );
    let (code, out, err) = check(dir.path(), &[], &[url]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l
            == "store: postgres postgres://gw:[redacted]@db.internal/tel?sslmode=[redacted] schema telephony (sslmode verify-full)"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l == "admin: 127.0.0.1:3336 (loopback only, plain HTTP, bearer token)"),
        "{out}"
    );
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}{err}"
    );

    std::fs::write(
        dir.path().join("telephony.json5"),
        r#"{ admin: { bind: "10.0.0.5", token: "t0ken", allowNetworks: ["10.0.0.0/8"] },
             accounts: {
               a: { serve: { path: "/a", statusPath: "/a/s", streamPath: "/a/w" } },
               b: { serve: { path: "/b", statusPath: "/b/s", streamPath: "/b/w" } },
             } }"#,
    )
    .unwrap();
    let (code, out, err) = check(dir.path(), &["--json"], &[url]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["admin"],
        serde_json::json!({"bind": "10.0.0.5", "port": 3336, "access": "allowNetworks"})
    );
    let stores: Vec<(String, String, String)> = v["served"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["store"]["backend"].as_str().unwrap().to_string(),
                a["store"]["schema"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stores,
        [
            ("a".into(), "postgres".into(), "telephony_a".into()),
            ("b".into(), "postgres".into(), "telephony_b".into()),
        ]
    );
    assert_eq!(
        v["served"][0]["store"]["url"],
        "postgres://gw:[redacted]@db.internal/tel?sslmode=[redacted]"
    );
    assert!(!out.contains("hunter2"), "{out}");

    // Off loopback without TLS or a network list: the error says what to add.
    std::fs::write(
        dir.path().join("telephony.json5"),
        r#"{ admin: { bind: "0.0.0.0", token: "t0ken" } }"#,
    )
    .unwrap();
    let (code, _, err) = check(dir.path(), &[], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("admin.bind: 0.0.0.0 is not a loopback address, and the admin API can send messages: off loopback it needs admin.token and either admin.tls: { cert, key }"),
        "{err}"
    );
}

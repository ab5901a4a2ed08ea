//! ngrok's failure paths, through the real `ngrok` crate up to the socket: ngrok's servers
//! cannot be reached from here, so the session is pointed at loopback listeners that refuse
//! or do not speak TLS.

use telephony_tunnel::{Ngrok, Tunnel};

const LOCAL: &str = "127.0.0.1:3335";

#[tokio::test]
async fn no_network_is_a_clear_error() {
    // Bound but not listening: a connection is refused, and while the socket is held no
    // other test's listener can be given the port (a port released here was, and this
    // test then reached that listener instead).
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = reserved.local_addr().unwrap().to_string();
    let err = Ngrok::new()
        .authtoken("2testtoken")
        .server_addr(addr.clone())
        .start(LOCAL.parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "could not start ngrok tunnel: could not reach ngrok's servers at {addr}: "
        )) && err.ends_with("(is there network access?)"),
        "{err}"
    );
    assert!(!err.contains("2testtoken"), "{err}");
    drop(reserved);
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_fails_the_handshake() {
    // Accepts, writes something that is not a TLS record, and closes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let err = Ngrok::new()
        .authtoken("2testtoken")
        .server_addr(addr.clone())
        .start(LOCAL.parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "could not start ngrok tunnel: TLS handshake with {addr} failed: "
        )),
        "{err}"
    );
}

/// The whole path against ngrok's servers: `cargo test -p telephony-tunnel --features
/// online-tests` with `NGROK_AUTHTOKEN` set (and network access).
#[cfg(feature = "online-tests")]
#[tokio::test]
async fn online_an_endpoint_opens_and_closes() {
    let local = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = Ngrok::new()
        .start(local.local_addr().unwrap())
        .await
        .unwrap();
    assert!(h.url().starts_with("https://"), "{}", h.url());
    h.close().await.unwrap();
}

//! Serving: the public listener (every account's routes, with the `serve.*` limits), the
//! admin listener (loopback, or off loopback with TLS or a network list), and every account's workers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use telephony_core::Secret;
use telephony_serve::health::Readiness;
use telephony_serve::{Gateway, Workers};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ServedAccount;
use super::bind::{AdminAccess, Listeners};
use super::build::Built;
use crate::config::Config;
use crate::providers::SandboxSimulator;
use crate::runtime::RuntimeInfo;

/// What [`serve`] started.
pub(super) struct Started {
    pub(super) gateway: Gateway,
    pub(super) admin_token: Secret,
    pub(super) generated: bool,
    pub(super) runtime: RuntimeInfo,
    pub(super) simulator: Option<SandboxSimulator>,
    pub(super) accounts: Vec<ServedAccount>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) servers: Vec<JoinHandle<()>>,
    pub(super) workers: Vec<Workers>,
}

/// Serves the built gateways on the bound listeners and starts their workers.
pub(super) fn serve(config: &Config, built: Built, listeners: Listeners) -> Started {
    let Built {
        admin_token,
        generated,
        accounts: mut built,
        default_index,
        runtime: runtime_info,
        readiness,
        gated,
        ..
    } = built;
    let Listeners {
        public,
        admin,
        admin_addr,
        admin_access,
        ..
    } = listeners;
    let multi = config.account.is_some();
    let gateway = built[default_index].gateway.clone();
    let (stop, stop_rx) = watch::channel(false);
    // Either a stop signal or the sender being dropped ends a listener.
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let health = Health {
        readiness: &readiness,
        gated: &gated,
        default_index,
    };
    let servers = vec![
        public_listener(
            config,
            public,
            &gateway,
            (&built, health),
            stopped(stop_rx.clone()),
        ),
        admin_listener(
            config,
            (admin, admin_addr, admin_access),
            (&gateway, &admin_token),
            (&built, health),
            multi,
            stopped(stop_rx.clone()),
        ),
    ];
    let workers = built.iter().map(|a| a.gateway.spawn_workers()).collect();
    if multi {
        for a in &built {
            tracing::info!(account = %a.name, webhook_url = %a.runtime.webhook_url, status_url = %a.runtime.status_url, "account served");
        }
    }
    // The default account's simulator is the gateway's (`RunningGateway::simulator`).
    let simulator = built[default_index].simulator.take();
    let accounts = if multi { built } else { Vec::new() };
    Started {
        gateway,
        admin_token,
        generated,
        runtime: runtime_info,
        simulator,
        accounts,
        stop,
        servers,
        workers,
    }
}

/// Every account's store readiness, and which accounts' routes it guards.
#[derive(Clone, Copy)]
struct Health<'a> {
    readiness: &'a Readiness,
    /// Per account: answer 503 while its store is unavailable.
    gated: &'a [bool],
    /// The default account's index.
    default_index: usize,
}

impl Health<'_> {
    /// Account `i`'s readiness, if its routes are guarded.
    fn guard(&self, i: usize, account: &ServedAccount) -> Option<Readiness> {
        let name = (!account.name.is_empty()).then_some(account.name.as_str());
        self.gated
            .get(i)
            .copied()
            .unwrap_or(false)
            .then(|| self.readiness.account(name))
    }
}

/// The public listener: our own accept loop with the `serve.*` limits, every account's
/// routes on it (answering 503 while the account's store is unavailable), and the health
/// routes; refusals are counted in the default account's metrics.
fn public_listener(
    config: &Config,
    listener: TcpListener,
    gateway: &Gateway,
    (accounts, health): (&[ServedAccount], Health<'_>),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let refusals = gateway.clone();
    let evictions = gateway.clone();
    let metrics = crate::listener::ListenerMetrics {
        on_refused: Arc::new(move |r: crate::listener::Refusal| {
            refusals.metrics().inc(
                "telephony_listener_refused_total",
                &[("reason", r.as_str())],
            );
        }),
        on_evicted: Arc::new(move |e: crate::listener::Eviction| {
            evictions.metrics().inc(
                "telephony_listener_evicted_total",
                &[("reason", e.as_str())],
            );
        }),
        occupancy: Arc::default(),
    };
    let occupancy = metrics.occupancy.clone();
    gateway.metrics().add_source(Arc::new(move || {
        vec![
            (
                "telephony_listener_connections",
                vec![],
                occupancy.open() as f64,
            ),
            (
                "telephony_listener_unspoken_connections",
                vec![],
                occupancy.unspoken() as f64,
            ),
        ]
    }));
    let routes = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| match health.guard(i, a) {
            Some(readiness) => a
                .gateway
                .routes()
                .layer(axum::middleware::from_fn_with_state(
                    readiness,
                    telephony_serve::health::refuse_webhooks_while_unavailable,
                )),
            None => a.gateway.routes(),
        });
    let public_router =
        telephony_serve::public_router_with_readiness(routes, health.readiness.clone());
    tokio::spawn(crate::listener::serve(
        listener,
        public_router,
        config.serve.listener_limits(),
        metrics,
        shutdown,
    ))
}

/// The admin listener (bearer token): axum's. The default account at the root, with
/// accounts every account under `/accounts/{name}` (each answering 503 while its store is
/// unavailable), `GET /health/live` and `/health/ready` without a token, and the SMS
/// bridge's routes when `admin.bridgeApi` is on.
fn admin_listener(
    config: &Config,
    (listener, admin_addr, access): (TcpListener, SocketAddr, AdminAccess),
    (gateway, admin_token): (&Gateway, &Secret),
    (accounts, health): (&[ServedAccount], Health<'_>),
    multi: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let guarded = |i: usize, a: &ServedAccount| {
        let router = a.gateway.admin_router(admin_token.clone());
        match health.guard(i, a) {
            Some(readiness) => router.layer(axum::middleware::from_fn_with_state(
                readiness,
                telephony_serve::health::refuse_admin_while_unavailable,
            )),
            None => router,
        }
    };
    let mut router = match accounts.get(health.default_index) {
        Some(a) => guarded(health.default_index, a),
        None => gateway.admin_router(admin_token.clone()),
    };
    if multi {
        for (i, a) in accounts.iter().enumerate() {
            router = router.nest(&format!("/accounts/{}", a.name), guarded(i, a));
        }
    }
    // `GET /health` stays the SMS bridge's (with `admin.bridgeApi`; else unrouted).
    router = router.merge(telephony_serve::health::probes(health.readiness.clone()));
    if config.admin.bridge_api {
        tracing::warn!(
            admin = %admin_addr,
            "admin.bridgeApi is on: POST /sms/send, GET /sms/inbox and GET /health answer WITHOUT a token on this loopback listener; any local process can send SMS through it (the outbound policy still applies)"
        );
        router = router.merge(gateway.bridge_router());
    }
    let metrics_of = gateway.clone();
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let res = if access.is_plain() {
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::warn!(error = %e, "could not set TCP_NODELAY on a connection");
                }
            });
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        } else {
            // tap_io: axum hands client addresses (ConnectInfo) to routes through it.
            let listener = super::admin_listener::admin_listener(
                listener,
                admin_addr,
                access.allowed,
                access.tls,
                metrics_of,
            )
            .tap_io(|_| {});
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        };
        if let Err(e) = res {
            tracing::error!(listener = "admin", error = %e, "listener failed");
        }
    })
}

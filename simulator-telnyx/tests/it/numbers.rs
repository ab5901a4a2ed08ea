//! Number setup against the simulator over loopback HTTP: find the number and its
//! messaging profile, point the profile at the gateway changing only what differs, and
//! check it.

use serde_json::json;
use telephony_core::numbers::{Finding, FindingKind, SettingChange, WebhookTargets, check};
use telephony_core::{PhoneNumber, Provider, ProviderError};
use telephony_telnyx::{TelnyxConfig, TelnyxProvider, WebhookSigner};
use telephony_telnyx_simulator::{ProfileUpdate, RunningSimulator, Simulator, SimulatorConfig};

use crate::support;

const KEY: &str = "KEY0123456789ABCDEF0123456789ABCDEF";
const OURS: &str = "+15550002222";
const HOOK: &str = "https://gw.example.com/telephony/webhook";
const OLD: &str = "https://old.example.com/hooks";

async fn start() -> (Simulator, RunningSimulator) {
    support::start(SimulatorConfig::new(KEY, WebhookSigner::from_seed([7; 32]))).await
}

fn provider_with_key(server: &RunningSimulator, key: &str) -> TelnyxProvider {
    TelnyxProvider::new(
        TelnyxConfig::new(key)
            .public_key(WebhookSigner::from_seed([7; 32]).public_key_base64())
            .from_number(OURS.parse().unwrap())
            .api_base_url(server.url()),
    )
    .unwrap()
}

fn provider(server: &RunningSimulator) -> TelnyxProvider {
    provider_with_key(server, KEY)
}

fn targets() -> WebhookTargets {
    WebhookTargets {
        messaging_url: HOOK.into(),
        voice_url: None,
        voice_status_url: None,
    }
}

fn ours() -> PhoneNumber {
    OURS.parse().unwrap()
}

#[tokio::test]
async fn number_config_reads_the_number_and_its_profile() {
    let (sim, server) = start().await;
    // Another number containing ours, listed first by the partial-match filter, must not
    // be taken for it.
    sim.add_number("+155500022221", None);
    let profile = sim.add_messaging_profile(Some(OLD));
    let id = sim.add_number(OURS, Some(&profile));
    let c = provider(&server)
        .number_config(&ours())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.id, id);
    assert_eq!(c.number, ours());
    assert_eq!((c.sms, c.mms, c.voice), (true, true, false));
    assert_eq!((&c.messaging_url, &c.voice_url), (&None, &None));
    let s = c.service.clone().unwrap();
    assert_eq!(s.id, profile);
    assert_eq!(s.inbound_url.as_deref(), Some(OLD));
    assert_eq!(s.inbound_method.as_deref(), Some("POST"));
    assert!(!s.defers_to_number);
    assert_eq!(
        check(&c, &targets()),
        vec![Finding {
            kind: FindingKind::UrlMismatch,
            setting: "service inbound URL",
            found: Some(OLD.into()),
            expected: Some(HOOK.into()),
            fix: format!(
                "set the service inbound URL to {HOOK} (set it in the provider's console, or set autoConfigureWebhooks: true and restart the gateway)"
            ),
        }]
    );

    // Without SMS, with a voice connection.
    sim.edit_number(OURS, |n| {
        n.sms = false;
        n.mms = false;
        n.resource.connection_id = Some("1293384261075731499".into());
    });
    let c = provider(&server)
        .number_config(&ours())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.sms, c.mms, c.voice), (false, false, true));
    let kinds: Vec<_> = check(&c, &targets())
        .iter()
        .map(|f| (f.kind, f.setting))
        .collect();
    assert_eq!(
        kinds,
        [
            (FindingKind::MissingCapability, "SMS capability"),
            (FindingKind::UrlMismatch, "service inbound URL"),
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_number_without_a_profile_has_no_service_and_a_missing_url() {
    let (sim, server) = start().await;
    sim.add_number(OURS, None);
    let c = provider(&server)
        .number_config(&ours())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.service, None);
    let f = check(&c, &targets());
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].kind, f[0].setting),
        (FindingKind::Missing, "messaging URL")
    );
    let e = provider(&server)
        .configure_number(&ours(), &targets())
        .await
        .unwrap_err();
    let ProviderError::NotConfigured(m) = e else {
        panic!("{e:?}")
    };
    assert_eq!(
        m,
        "+15550002222 has no messaging profile at Telnyx, so its messages go nowhere; assign it to a messaging profile in the Telnyx portal (nothing was changed)"
    );
    assert_eq!(sim.profile_updates(), vec![]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_number_the_account_does_not_have() {
    let (sim, server) = start().await;
    let profile = sim.add_messaging_profile(Some(OLD));
    sim.add_number("+15550009999", Some(&profile));
    let p = provider(&server);
    assert_eq!(p.number_config(&ours()).await.unwrap(), None);
    let e = p.configure_number(&ours(), &targets()).await.unwrap_err();
    let ProviderError::NotConfigured(m) = e else {
        panic!("{e:?}")
    };
    assert_eq!(
        m,
        "+15550002222 is not a phone number of this Telnyx account; nothing was changed"
    );
    // The other number's profile was not touched.
    assert_eq!(sim.profile_updates(), vec![]);
    assert_eq!(
        sim.messaging_profile(&profile)
            .unwrap()
            .webhook_url
            .as_deref(),
        Some(OLD)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn configure_changes_only_what_differs_and_then_nothing() {
    let (sim, server) = start().await;
    let profile = sim.add_messaging_profile(Some(OLD));
    sim.edit_messaging_profile(&profile, |p| p.webhook_api_version = Some("1".into()));
    sim.add_number(OURS, Some(&profile));
    let p = provider(&server);
    let changes = p.configure_number(&ours(), &targets()).await.unwrap();
    let resource = format!("messaging profile {profile}");
    assert_eq!(
        changes,
        vec![
            SettingChange {
                resource: resource.clone(),
                setting: "webhook_url".into(),
                from: Some(OLD.into()),
                to: HOOK.into(),
            },
            SettingChange {
                resource: resource.clone(),
                setting: "webhook_api_version".into(),
                from: Some("1".into()),
                to: "2".into(),
            },
        ]
    );
    assert_eq!(
        sim.profile_updates(),
        vec![ProfileUpdate {
            id: profile.clone(),
            body: json!({"webhook_url": HOOK, "webhook_api_version": "2"}),
        }]
    );
    let now = sim.messaging_profile(&profile).unwrap();
    assert_eq!(
        (
            now.webhook_url.as_deref(),
            now.webhook_api_version.as_deref()
        ),
        (Some(HOOK), Some("2"))
    );
    // The number now checks clean.
    let c = p.number_config(&ours()).await.unwrap().unwrap();
    assert_eq!(check(&c, &targets()), vec![]);

    // A second run changes nothing and sends no update.
    assert_eq!(
        p.configure_number(&ours(), &targets()).await.unwrap(),
        vec![]
    );
    assert_eq!(sim.profile_updates().len(), 1);

    // Only the URL wrong (version right): only the URL is sent.
    sim.edit_messaging_profile(&profile, |p| p.webhook_url = None);
    assert_eq!(
        p.configure_number(&ours(), &targets()).await.unwrap(),
        vec![SettingChange {
            resource,
            setting: "webhook_url".into(),
            from: None,
            to: HOOK.into(),
        }]
    );
    assert_eq!(
        sim.profile_updates()[1],
        ProfileUpdate {
            id: profile,
            body: json!({"webhook_url": HOOK}),
        }
    );
    server.shutdown().await;
}

#[tokio::test]
async fn voice_targets_point_the_numbers_call_control_application_at_the_gateway() {
    let (sim, server) = support::start(
        SimulatorConfig::new(KEY, WebhookSigner::from_seed([7; 32])).with_connection("conn-1", OLD),
    )
    .await;
    let profile = sim.add_messaging_profile(Some(HOOK));
    sim.add_number(OURS, Some(&profile));
    let with_voice = WebhookTargets {
        messaging_url: HOOK.into(),
        voice_url: Some(HOOK.into()),
        voice_status_url: None,
    };
    // No voice connection on the number: a clear error, nothing changed.
    let err = provider(&server)
        .configure_number(&ours(), &with_voice)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider not configured: +15550002222 has no voice connection at Telnyx; assign it to your Call Control application (telnyx.connectionId) in the Telnyx portal (nothing was changed)"
    );
    assert_eq!(
        sim.call_control_app_updates(),
        Vec::<serde_json::Value>::new()
    );
    // On the application: its webhook is read as the number's voice URL, and pointed at
    // the gateway.
    assert!(sim.edit_number(OURS, |n| n.resource.connection_id = Some("conn-1".into())));
    let before = provider(&server)
        .number_config(&ours())
        .await
        .unwrap()
        .unwrap();
    assert!(before.voice);
    assert_eq!(before.voice_url.as_deref(), Some(OLD));
    // What `telephony status --probe` reports: the application points elsewhere.
    assert_eq!(
        check(&before, &with_voice),
        [Finding {
            kind: FindingKind::UrlMismatch,
            setting: "voice URL",
            found: Some(OLD.into()),
            expected: Some(HOOK.into()),
            fix: format!(
                "set the voice URL to {HOOK} (set it in the provider's console, or set autoConfigureWebhooks: true and restart the gateway)"
            ),
        }]
    );
    assert_eq!(
        provider(&server)
            .configure_number(&ours(), &with_voice)
            .await
            .unwrap(),
        vec![SettingChange {
            resource: "call control application conn-1".into(),
            setting: "webhook_event_url".into(),
            from: Some(OLD.into()),
            to: HOOK.into(),
        }]
    );
    assert_eq!(
        sim.call_control_app("conn-1").unwrap().webhook_event_url,
        HOOK
    );
    let after = provider(&server)
        .number_config(&ours())
        .await
        .unwrap()
        .unwrap();
    assert!(
        check(&after, &with_voice).is_empty(),
        "{:?}",
        check(&after, &with_voice)
    );
    // Already pointed: nothing to change.
    assert_eq!(
        provider(&server)
            .configure_number(&ours(), &with_voice)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(sim.profile_updates(), vec![]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_wrong_api_key_is_an_authentication_error() {
    let (sim, server) = start().await;
    let profile = sim.add_messaging_profile(Some(OLD));
    sim.add_number(OURS, Some(&profile));
    let p = provider_with_key(&server, "KEY-WRONG-SECRET");
    for e in [
        p.number_config(&ours()).await.unwrap_err(),
        p.configure_number(&ours(), &targets()).await.unwrap_err(),
    ] {
        assert_eq!(e.http_status(), Some(401), "{e:?}");
        assert_eq!(e.code(), Some(10009));
        assert!(!e.is_retryable());
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("KEY-WRONG-SECRET"), "{shown}");
        assert!(shown.contains("Authentication failed"), "{shown}");
    }
    assert_eq!(sim.profile_updates(), vec![]);
    assert_eq!(
        sim.messaging_profile(&profile)
            .unwrap()
            .webhook_url
            .as_deref(),
        Some(OLD)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_simulator_refuses_a_bad_profile_update() {
    let (sim, server) = start().await;
    let profile = sim.add_messaging_profile(Some(OLD));
    let resp = reqwest::Client::new()
        .patch(format!("{}/v2/messaging_profiles/{profile}", server.url()))
        .bearer_auth(KEY)
        .json(&json!({"webhook_url": "ftp://nope", "webhook_api_version": "2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "10015");
    assert_eq!(body["errors"][0]["source"]["pointer"], "/webhook_url");
    assert_eq!(sim.profile_updates(), vec![]);
    assert_eq!(
        sim.messaging_profile(&profile)
            .unwrap()
            .webhook_url
            .as_deref(),
        Some(OLD)
    );
    let resp = reqwest::Client::new()
        .get(format!("{}/v2/messaging_profiles/nope", server.url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    server.shutdown().await;
}

//! Number setup against the simulator: find the number, point it (or its Messaging
//! Service) at the gateway changing only what differs, and check it.

use telephony_core::numbers::{FindingKind, SettingChange, WebhookTargets, check};
use telephony_core::{PhoneNumber, Provider};
use telephony_twilio::resources::NumberCapabilities;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{RunningSimulator, SettingsUpdate, Simulator, SimulatorConfig};

use crate::support::{self, ACCOUNT, TOKEN};

const OURS: &str = "+15550002222";
const HOOK: &str = "https://gw.example.com/telephony/webhook";
const STATUS: &str = "https://gw.example.com/telephony/status";

const ALL: NumberCapabilities = NumberCapabilities {
    voice: true,
    sms: true,
    mms: true,
    fax: false,
};

async fn start() -> (Simulator, RunningSimulator) {
    support::start(SimulatorConfig::new(ACCOUNT, TOKEN)).await
}

fn provider(server: &RunningSimulator, service: Option<&str>) -> TwilioProvider {
    let mut c = TwilioConfig::new(ACCOUNT, TOKEN)
        .api_base_url(server.url())
        .from_number(OURS.parse().unwrap());
    if let Some(mg) = service {
        c = c.messaging_service_sid(mg);
    }
    TwilioProvider::new(c).unwrap()
}

fn targets(voice: bool) -> WebhookTargets {
    WebhookTargets {
        messaging_url: HOOK.into(),
        voice_url: voice.then(|| HOOK.into()),
        voice_status_url: voice.then(|| STATUS.into()),
    }
}

fn ours() -> PhoneNumber {
    OURS.parse().unwrap()
}

fn change(resource: &str, setting: &str, from: Option<&str>, to: &str) -> SettingChange {
    SettingChange {
        resource: resource.into(),
        setting: setting.into(),
        from: from.map(str::to_string),
        to: to.into(),
    }
}

#[tokio::test]
async fn configures_only_what_differs_then_nothing() {
    let (sim, server) = start().await;
    let pn = sim.add_number(OURS, ALL);
    sim.edit_number(OURS, |n| {
        n.sms_url = Some("https://old.example.com/sms".into())
    });
    let p = provider(&server, None);
    let res = format!("number {pn}");
    let changes = p.configure_number(&ours(), &targets(true)).await.unwrap();
    assert_eq!(
        changes,
        [
            change(&res, "SmsUrl", Some("https://old.example.com/sms"), HOOK),
            change(&res, "VoiceUrl", None, HOOK),
            change(&res, "StatusCallback", None, STATUS),
        ]
    );
    assert_eq!(
        sim.settings_updates(),
        [SettingsUpdate {
            sid: pn.clone(),
            form: vec![
                ("SmsUrl".into(), HOOK.into()),
                ("VoiceUrl".into(), HOOK.into()),
                ("StatusCallback".into(), STATUS.into()),
            ],
        }]
    );
    // Done: a second run changes nothing and sends no update.
    assert_eq!(
        p.configure_number(&ours(), &targets(true)).await.unwrap(),
        []
    );
    assert_eq!(sim.settings_updates().len(), 1);
    let config = p.number_config(&ours()).await.unwrap().unwrap();
    assert_eq!(config.id, pn);
    assert_eq!(check(&config, &targets(true)), []);
}

#[tokio::test]
async fn a_number_not_on_the_account_is_an_error_and_nothing_is_touched() {
    let (sim, server) = start().await;
    sim.add_number("+15550009999", ALL);
    let p = provider(&server, None);
    assert_eq!(p.number_config(&ours()).await.unwrap(), None);
    let err = p
        .configure_number(&ours(), &targets(false))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "provider not configured: {OURS} is not a phone number of Twilio account {ACCOUNT}; nothing was changed"
        )
    );
    assert_eq!(sim.settings_updates(), []);
}

#[tokio::test]
async fn a_messaging_service_that_does_not_defer_gets_the_url_instead_of_the_number() {
    let (sim, server) = start().await;
    let pn = sim.add_number(OURS, ALL);
    let mg = sim.add_messaging_service(false);
    let p = provider(&server, Some(&mg));
    let changes = p.configure_number(&ours(), &targets(false)).await.unwrap();
    assert_eq!(
        changes,
        [change(
            &format!("service {mg}"),
            "InboundRequestUrl",
            None,
            HOOK
        )]
    );
    assert_eq!(
        sim.messaging_service(&mg)
            .unwrap()
            .inbound_request_url
            .as_deref(),
        Some(HOOK)
    );
    assert_eq!(
        sim.number(OURS).unwrap().sms_url,
        None,
        "the number is left alone"
    );
    let config = p.number_config(&ours()).await.unwrap().unwrap();
    assert_eq!(check(&config, &targets(false)), []);

    // A service that defers to the number: the number's URL is what matters.
    let mg2 = sim.add_messaging_service(true);
    let p = provider(&server, Some(&mg2));
    let changes = p.configure_number(&ours(), &targets(false)).await.unwrap();
    assert_eq!(
        changes,
        [change(&format!("number {pn}"), "SmsUrl", None, HOOK)]
    );
}

#[tokio::test]
async fn the_probe_names_what_the_console_got_wrong() {
    let (sim, server) = start().await;
    sim.add_number(
        OURS,
        NumberCapabilities {
            voice: false,
            sms: true,
            mms: false,
            fax: false,
        },
    );
    sim.edit_number(OURS, |n| {
        n.sms_url = Some(HOOK.into());
        n.sms_method = Some("GET".into());
        n.voice_application_sid = Some("AP0123456789abcdef0123456789abcdef".into());
    });
    let p = provider(&server, None);
    let config = p.number_config(&ours()).await.unwrap().unwrap();
    let findings: Vec<_> = check(&config, &targets(true))
        .into_iter()
        .map(|f| (f.kind, f.setting))
        .collect();
    assert_eq!(
        findings,
        [
            (FindingKind::MissingCapability, "voice capability"),
            (FindingKind::Overridden, "number routing"),
            (FindingKind::MethodMismatch, "messaging method"),
            (FindingKind::Missing, "voice URL"),
            (FindingKind::Missing, "voice status callback"),
        ]
    );
}

#[tokio::test]
async fn bad_credentials_are_the_providers_error() {
    let (sim, server) = start().await;
    sim.add_number(OURS, ALL);
    let c =
        TwilioConfig::new(ACCOUNT, "wrongwrongwrongwrongwrongwrong00").api_base_url(server.url());
    let p = TwilioProvider::new(c).unwrap();
    let err = p.number_config(&ours()).await.unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(err.code(), Some(20003));
}

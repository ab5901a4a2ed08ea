//! Number setup on Twilio: IncomingPhoneNumbers and Messaging Services (PROTOCOL.md §3.4).

use telephony_core::numbers::{
    NumberConfig, ServiceConfig, SettingChange, WebhookFailure, WebhookTargets,
};
use telephony_core::{PhoneNumber, ProviderError};

use crate::client::TwilioClient;
use crate::resources::IncomingPhoneNumberResource;

/// A setting as Twilio reports it: `""` and `null` are both "not set".
fn set(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

fn overridden_by(n: &IncomingPhoneNumberResource) -> Option<String> {
    if let Some(app) = set(&n.sms_application_sid) {
        return Some(format!("TwiML App {app} (messages)"));
    }
    if let Some(app) = set(&n.voice_application_sid) {
        return Some(format!("TwiML App {app} (calls)"));
    }
    set(&n.trunk_sid).map(|t| format!("SIP trunk {t} (calls)"))
}

pub(crate) async fn number_config(
    client: &TwilioClient,
    number: &PhoneNumber,
) -> Result<Option<NumberConfig>, ProviderError> {
    let Some(n) = client.find_incoming_number(number.as_str()).await? else {
        return Ok(None);
    };
    let mut c = NumberConfig::new(number.clone(), n.sid.clone());
    c.sms = n.capabilities.sms;
    c.voice = n.capabilities.voice;
    c.mms = n.capabilities.mms;
    c.messaging_url = set(&n.sms_url);
    c.messaging_method = set(&n.sms_method);
    c.voice_url = set(&n.voice_url);
    c.voice_method = set(&n.voice_method);
    c.voice_status_url = set(&n.status_callback);
    c.overridden_by = overridden_by(&n);
    if let Some(mg) = &client.config().messaging_service_sid {
        let s = client.fetch_messaging_service(mg).await?;
        c.service = Some(ServiceConfig {
            id: s.sid,
            inbound_url: set(&s.inbound_request_url),
            inbound_method: set(&s.inbound_method),
            defers_to_number: s.use_inbound_webhook_on_number,
        });
    }
    Ok(Some(c))
}

/// Adds `(setting, to)` to `form` and a change record when `current` differs.
fn want(
    form: &mut Vec<(&'static str, String)>,
    changes: &mut Vec<SettingChange>,
    resource: &str,
    setting: &'static str,
    current: Option<String>,
    to: &str,
) {
    let same = match setting {
        // Methods compare case-insensitively; Twilio reports them upper case.
        s if s.ends_with("Method") => current
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(to)),
        _ => current.as_deref() == Some(to),
    };
    if !same {
        form.push((setting, to.to_string()));
        changes.push(SettingChange {
            resource: resource.to_string(),
            setting: setting.to_string(),
            from: current,
            to: to.to_string(),
        });
    }
}

pub(crate) async fn configure_number(
    client: &TwilioClient,
    number: &PhoneNumber,
    targets: &WebhookTargets,
) -> Result<Vec<SettingChange>, ProviderError> {
    let Some(n) = client.find_incoming_number(number.as_str()).await? else {
        return Err(ProviderError::NotConfigured(format!(
            "{number} is not a phone number of Twilio account {}; nothing was changed",
            client.config().account_sid
        )));
    };
    let mut changes = Vec::new();
    // Messages go to the Messaging Service's URL unless it defers to the number's.
    let mut service_form = Vec::new();
    let mut number_form = Vec::new();
    let resource = format!("number {}", n.sid);
    // Messages follow the service's inbound URL unless it defers to the number's.
    let service = match &client.config().messaging_service_sid {
        Some(mg) => Some(client.fetch_messaging_service(mg).await?),
        None => None,
    };
    match service.filter(|s| !s.use_inbound_webhook_on_number) {
        Some(s) => {
            let svc = format!("service {}", s.sid);
            want(
                &mut service_form,
                &mut changes,
                &svc,
                "InboundRequestUrl",
                set(&s.inbound_request_url),
                &targets.messaging_url,
            );
            want(
                &mut service_form,
                &mut changes,
                &svc,
                "InboundMethod",
                set(&s.inbound_method),
                "POST",
            );
        }
        None => {
            want(
                &mut number_form,
                &mut changes,
                &resource,
                "SmsUrl",
                set(&n.sms_url),
                &targets.messaging_url,
            );
            want(
                &mut number_form,
                &mut changes,
                &resource,
                "SmsMethod",
                set(&n.sms_method),
                "POST",
            );
        }
    }
    if let Some(voice) = &targets.voice_url {
        want(
            &mut number_form,
            &mut changes,
            &resource,
            "VoiceUrl",
            set(&n.voice_url),
            voice,
        );
        want(
            &mut number_form,
            &mut changes,
            &resource,
            "VoiceMethod",
            set(&n.voice_method),
            "POST",
        );
    }
    if let Some(status) = &targets.voice_status_url {
        want(
            &mut number_form,
            &mut changes,
            &resource,
            "StatusCallback",
            set(&n.status_callback),
            status,
        );
        want(
            &mut number_form,
            &mut changes,
            &resource,
            "StatusCallbackMethod",
            set(&n.status_callback_method),
            "POST",
        );
    }
    if !number_form.is_empty() {
        client.update_incoming_number(&n.sid, &number_form).await?;
    }
    if let (false, Some(mg)) = (
        service_form.is_empty(),
        &client.config().messaging_service_sid,
    ) {
        client.update_messaging_service(mg, &service_form).await?;
    }
    Ok(changes)
}

/// Twilio's "HTTP retrieval failure": the webhook was unreachable or did not answer 2xx.
pub(crate) const RETRIEVAL_FAILURE: i64 = 11200;

pub(crate) async fn recent_webhook_failures(
    client: &TwilioClient,
    number: &PhoneNumber,
    look_back: u32,
) -> Result<Vec<WebhookFailure>, ProviderError> {
    let page = client
        .list_messages(Some(number.as_str()), None, look_back)
        .await?;
    Ok(page
        .messages
        .into_iter()
        .filter(|m| m.direction.as_deref() == Some("inbound"))
        .filter(|m| m.error_code == Some(RETRIEVAL_FAILURE))
        .map(|m| WebhookFailure {
            message_id: m.sid,
            code: RETRIEVAL_FAILURE.to_string(),
            at: m.date_created,
            detail: m.error_message,
        })
        .collect())
}

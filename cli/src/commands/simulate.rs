//! `telephony simulate sms` and `telephony simulate call`: the provider's webhooks, signed
//! as it signs them, sent to the running gateway.

use std::time::Duration;

use serde_json::json;
use telephony::providers;

use crate::context::{CliError, Context};
use crate::output;

pub(super) async fn sms(
    ctx: Context,
    from: String,
    to: Option<String>,
    text: String,
    message_sid: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let from = telephony_core::PhoneNumber::parse(&from)
        .map_err(|e| CliError::config(format!("--from: {e}")))?;
    let rt = ctx.runtime()?.ok_or_else(|| {
        CliError::failure(format!(
            "no running gateway found (no {} in {}); start one with `telephony serve` (or `telephony serve --sandbox`)",
            telephony::runtime::RUNTIME_FILE,
            ctx.data_dir().display()
        ))
    })?;
    let kind: telephony::config::ProviderKind = rt.provider.parse().map_err(CliError::failure)?;
    let to = match to {
        Some(t) => telephony_core::PhoneNumber::parse(&t)
            .map_err(|e| CliError::config(format!("--to: {e}")))?
            .to_string(),
        None => ctx
            .config
            .from_number
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| providers::sandbox_from(kind).to_string()),
    };
    // Signed as the provider signs it: over the public webhook URL; delivered to the local
    // listener.
    let webhook = providers::simulated_inbound(&rt, &ctx.config, &from, &to, &text, message_sid)
        .map_err(CliError::config)?;
    let sid = webhook.message_id.clone();
    let path_and_query = rt
        .webhook_url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let target = format!("http://{}{}", rt.public_addr, path_and_query);
    let mut request = reqwest::Client::new().post(&target);
    for (name, value) in &webhook.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let resp = request
        .body(webhook.body)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| CliError::failure(format!("could not post to {target}: {e}")))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if json {
        output::print_json(
            &json!({ "url": target, "status": status.as_u16(), "messageSid": sid, "response": text }),
        );
    } else {
        println!("posted inbound SMS {sid} to {target}: HTTP {status}");
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "gateway answered HTTP {status}: {}",
            text.trim()
        )))
    }
}

pub(super) async fn call(
    ctx: Context,
    from: String,
    to: Option<String>,
    (speech, presses, order): (Vec<String>, Vec<String>, Vec<bool>),
    no_status_callback: bool,
    json: bool,
) -> Result<(), CliError> {
    use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};
    let from = telephony_core::PhoneNumber::parse(&from)
        .map_err(|e| CliError::config(format!("--from: {e}")))?;
    let rt = ctx.runtime()?.ok_or_else(|| {
        CliError::failure(format!(
            "no running gateway found (no {} in {}); start one with `telephony serve --sandbox`",
            telephony::runtime::RUNTIME_FILE,
            ctx.data_dir().display()
        ))
    })?;
    if rt.provider != "twilio" {
        return Err(CliError::config(format!(
            "simulate call plays Twilio; the running gateway uses {}",
            rt.provider
        )));
    }
    let (account_sid, token) = if rt.sandbox {
        (
            rt.sandbox_account_sid.clone().unwrap_or_default(),
            rt.sandbox_auth_token.clone().unwrap_or_default(),
        )
    } else {
        let token = ctx.config.twilio.auth_token.clone().ok_or_else(|| {
            CliError::config(
                "twilio.authToken (or TWILIO_AUTH_TOKEN) is needed to sign the webhooks",
            )
        })?;
        (
            ctx.config.twilio.account_sid.clone().unwrap_or_default(),
            token.expose().to_string(),
        )
    };
    let to = match to {
        Some(t) => telephony_core::PhoneNumber::parse(&t)
            .map_err(|e| CliError::config(format!("--to: {e}")))?
            .to_string(),
        None => ctx
            .config
            .from_number
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| {
                providers::sandbox_from(telephony::config::ProviderKind::Twilio).to_string()
            }),
    };
    let mut script = CallScript::new();
    let (mut speech, mut presses) = (speech.into_iter(), presses.into_iter());
    for is_speech in order {
        let next = if is_speech {
            speech.next().map(|t| (true, t))
        } else {
            presses.next().map(|d| (false, d))
        };
        script = match next {
            Some((true, text)) => script.say(text),
            Some((false, digits)) => script.press(digits),
            None => script,
        };
    }
    // Anything the argv scan missed (e.g. given through an alias) still runs, speech first.
    for text in speech {
        script = script.say(text);
    }
    for digits in presses {
        script = script.press(digits);
    }
    // After its last input the caller stays on the line for 3 simulated seconds, then hangs
    // up (a relay or stream would otherwise wait for it forever). The simulated clock runs
    // 50 times faster than real time, so an application answering over HTTP is heard.
    script = script.wait_ms(3000).hang_up_when_done();
    let sim = Simulator::new(
        SimulatorConfig::new(account_sid, token).with_simulated_second(Duration::from_millis(20)),
    );
    let mut call = InboundCall::new(from.to_string(), to, rt.webhook_url.clone()).script(script);
    if !no_status_callback {
        call = call.status_callback(rt.status_url.clone());
    }
    let outcome = sim
        .place_inbound_call(call)
        .await
        .map_err(|e| CliError::failure(format!("could not place the simulated call: {e}")))?;
    if json {
        output::print_json(&json!({
            "callSid": outcome.call_sid,
            "status": outcome.status,
            "answered": outcome.answered,
            "durationSecs": outcome.duration_secs,
            "heard": outcome.heard(),
            "relayReplies": outcome.relays.iter().flat_map(|r| r.reply_texts()).collect::<Vec<_>>(),
            "streams": outcome.streams.iter().map(|st| json!({
                "framesSent": st.media_frames_sent,
                "audioBytesReceived": st.received_audio.len(),
                "marksEchoed": st.echoed_marks(),
                "alerts": st.alert_codes(),
            })).collect::<Vec<_>>(),
            "gathers": outcome.gathers.iter().map(|g| json!({
                "verb": g.verb,
                "input": format!("{:?}", g.input),
                "action": g.action,
            })).collect::<Vec<_>>(),
            "documents": outcome.documents.iter().map(|d| json!({
                "url": d.url,
                "method": d.method,
                "httpStatus": d.http_status,
                "contentType": d.content_type,
                "body": d.body,
            })).collect::<Vec<_>>(),
            "error": outcome.error.as_ref().map(|e| json!({"code": e.code, "message": e.message, "url": e.url})),
        }));
    } else {
        println!(
            "simulated call {} from {from} to {}: {} after {}s",
            outcome.call_sid,
            rt.webhook_url,
            outcome.status,
            outcome.duration_secs.unwrap_or(0)
        );
        for line in outcome.heard() {
            println!("  heard: {line}");
        }
        for r in &outcome.relays {
            for reply in r.reply_texts() {
                println!("  relay said: {reply}");
            }
        }
        for st in &outcome.streams {
            println!(
                "  stream: {} frames sent, {} bytes of audio received, marks echoed {:?}",
                st.media_frames_sent,
                st.received_audio.len(),
                st.echoed_marks()
            );
        }
        if let Some(e) = &outcome.error {
            println!("  Twilio error {}: {}", e.code, e.message);
        }
    }
    match &outcome.error {
        None => Ok(()),
        Some(e) => Err(CliError::failure(format!(
            "the call failed with Twilio error {}: {}",
            e.code, e.message
        ))),
    }
}

//! The voice runner: a made-up markup provider and a made-up commands provider pass the
//! same cases, and wrong expectations, missing ones and unstable commands are reported.
//! Also: the shared voice cases cover every verb, and call events in webhook cases.

use std::collections::BTreeSet;

use async_trait::async_trait;
use telephony_conformance::{
    CaseEnv, CaseSource, CaseVerb, ExpectedEvent, ProviderAnswer, VoiceHooks, check_voice_cases,
    load_voice_cases, load_webhook_cases, run_voice_cases, shared_cases,
};
use telephony_core::voice::{Call, Verb, VoiceControl, VoiceError, VoiceResponse, VoiceRun};
use telephony_core::{
    OutboundMessage, Provider, ProviderError, ProviderReceipt, SendOptions, WebhookResponse,
};

/// The verbs a fake provider knows, by name (`say:Hello`, `hangup`); `<Dial>` is refused.
fn steps(response: &VoiceResponse) -> Result<Vec<String>, VoiceError> {
    response
        .verbs()
        .iter()
        .map(|verb| match verb {
            Verb::Say(s) => Ok(format!("say:{}", s.text)),
            Verb::Hangup => Ok("hangup".to_string()),
            _ => Err(VoiceError::Invalid {
                provider: "fake",
                reason: "only <Say> and <Hangup>".into(),
            }),
        })
        .collect()
}

/// Renders `<R>say:Hello|hangup</R>`.
#[derive(Debug)]
struct Markup;

#[async_trait]
impl Provider for Markup {
    async fn send(
        &self,
        _: &OutboundMessage,
        _: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        Err(ProviderError::NotConfigured("voice only".into()))
    }

    fn name(&self) -> &'static str {
        "markup"
    }

    fn render_voice(&self, response: &VoiceResponse) -> Result<WebhookResponse, VoiceError> {
        Ok(WebhookResponse {
            content_type: "text/xml",
            body: format!("<R>{}</R>", steps(response)?.join("|")).into(),
        })
    }
}

/// Posts one command per step to `{api}/calls/{id}/{step}` with a `command_id` made from
/// the call's `event` extra (random without one, or always when `unstable`); a 422 ends the
/// call quietly, any other failure is the run's error.
#[derive(Debug)]
struct Commands {
    api: String,
    unstable: bool,
}

fn commands(env: &CaseEnv) -> Commands {
    Commands {
        api: env.api_base_url.clone(),
        unstable: false,
    }
}

#[async_trait]
impl Provider for Commands {
    async fn send(
        &self,
        _: &OutboundMessage,
        _: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        Err(ProviderError::NotConfigured("voice only".into()))
    }

    fn name(&self) -> &'static str {
        "commands"
    }

    fn voice_control(&self) -> VoiceControl {
        VoiceControl::Commands
    }

    fn render_voice(&self, response: &VoiceResponse) -> Result<WebhookResponse, VoiceError> {
        let plan = serde_json::to_string(&steps(response)?).expect("a list of strings");
        Ok(WebhookResponse {
            content_type: "application/json",
            body: plan.into(),
        })
    }

    async fn run_voice(&self, call: &Call, plan: &[u8]) -> Result<VoiceRun, ProviderError> {
        let plan: Vec<String> = serde_json::from_slice(plan)
            .map_err(|e| ProviderError::protocol("commands", e.to_string()))?;
        let event = match call.extra.get("event") {
            Some(e) if !self.unstable => e.clone(),
            _ => format!("{:08x}", rand_u32()),
        };
        let client = reqwest::Client::new();
        for (n, step) in plan.iter().enumerate() {
            let (verb, text) = step.split_once(':').unwrap_or((step, ""));
            let resp = client
                .post(format!("{}/calls/{}/{verb}", self.api, call.call_id))
                .json(&serde_json::json!({"text": text, "command_id": format!("{event}.{n}")}))
                .send()
                .await
                .map_err(|e| ProviderError::transport("commands", &self.api, false, e))?;
            match resp.status().as_u16() {
                200 => {}
                422 => return Ok(VoiceRun::CallEnded),
                status => return Err(ProviderError::api("commands", status, "refused")),
            }
        }
        Ok(VoiceRun::Done)
    }
}

/// A number that differs from run to run, without a dependency.
fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.subsec_nanos() ^ (std::process::id() << 7)
}

fn hooks() -> VoiceHooks {
    VoiceHooks::commands(ProviderAnswer::json(200, serde_json::json!({"ok": true})))
        // The command id's run-specific part is not what cases pin.
        .normalize_json(|body| {
            if let Some(serde_json::Value::String(id)) = body.get("command_id") {
                let (event, n) = id.rsplit_once('.').ok_or(format!("command_id {id:?}"))?;
                body["command_id"] = serde_json::json!(format!("{}.{n}", event.len()));
            }
            Ok(())
        })
}

const CASES: &str = r#"[
  {"label": "say, then hang up",
   "response": [{"say": {"text": "Hello"}}, "hangup"],
   "call": {"call_id": "c1", "direction": "inbound", "status": "in-progress", "extra": {"event": "ev-1"}},
   "expect": {
     "markup": {"markup": {"content_type": "text/xml", "body": "<R>say:Hello|hangup</R>"}},
     "commands": {"requests": [
         {"method": "POST", "path": "/calls/c1/say", "headers": {"content-type": "application/json"},
          "body": {"json": {"text": "Hello", "command_id": "4.0"}}},
         {"method": "POST", "path": "/calls/c1/hangup", "body": {"json": {"text": "", "command_id": "4.1"}}}],
       "run": "done", "same_on_redelivery": true}}},
  {"label": "the call ended at the second command",
   "response": [{"say": {"text": "Hello"}}, "hangup"],
   "call": {"call_id": "c1", "direction": "inbound", "status": "in-progress", "extra": {"event": "ev-1"}},
   "expect": {
     "markup": {"markup": {"content_type": "text/xml", "body": "<R>say:Hello|hangup</R>"}},
     "commands": {"answers": [{"status": 200, "json": {}}, {"status": 422, "json": {}}],
       "requests": [{"method": "POST", "path": "/calls/c1/say"}, {"method": "POST", "path": "/calls/c1/hangup"}],
       "run": "call_ended"}}},
  {"label": "a failed command",
   "response": ["hangup"],
   "call": {"call_id": "c1", "direction": "inbound", "status": "in-progress"},
   "expect": {
     "markup": {"markup": {"content_type": "text/xml", "body": "<R>hangup</R>"}},
     "commands": {"answers": [{"status": 503, "body": "busy"}],
       "requests": [{"method": "POST", "path": "/calls/c1/hangup"}],
       "run": {"error": {"kind": "api", "http_status": 503, "retryable": true, "opted_out": false}}}}},
  {"label": "dial is refused",
   "response": [{"dial": {"number": "+15550009999"}}],
   "expect": {
     "markup": {"render_error": "provider fake cannot render this voice response: only <Say> and <Hangup>"},
     "commands": {"render_error": "provider fake cannot render this voice response: only <Say> and <Hangup>"}}}
]"#;

#[tokio::test]
async fn a_markup_and_a_commands_provider_pass_the_same_cases() {
    run_voice_cases(
        CaseSource::json(CASES),
        |_: &CaseEnv| Markup,
        &VoiceHooks::markup(),
    )
    .await;
    run_voice_cases(CaseSource::json(CASES), commands, &hooks()).await;
}

#[tokio::test]
async fn wrong_voice_expectations_are_all_reported() {
    let wrong = CASES
        .replacen("<R>say:Hello|hangup</R>", "<R>say:Hi|hangup</R>", 1)
        .replace(
            "\"path\": \"/calls/c1/say\", \"headers\"",
            "\"path\": \"/calls/c1/speak\", \"headers\"",
        )
        .replace("\"run\": \"call_ended\"", "\"run\": \"done\"")
        .replace("only <Say> and <Hangup>\"}}}", "only <Say>\"}}}");
    let report = check_voice_cases(
        CaseSource::json(wrong.clone()),
        |_: &CaseEnv| Markup,
        &VoiceHooks::markup(),
    )
    .await;
    let text = report.to_string();
    assert_eq!((report.cases, report.failures.len()), (4, 1), "{text}");
    assert!(
        text.contains(
            "markup:\n      got:  <R>say:Hello|hangup</R>\n      want: <R>say:Hi|hangup</R>"
        ),
        "{text}"
    );

    let report = check_voice_cases(CaseSource::json(wrong), commands, &hooks()).await;
    let text = report.to_string();
    assert_eq!(report.failures.len(), 3, "{text}");
    assert!(
        text.contains("requests[0] request path: got /calls/c1/say, want /calls/c1/speak"),
        "{text}"
    );
    assert!(text.contains("run: got CallEnded, want \"done\""), "{text}");
    assert!(text.contains("render_error:\n      got:  provider fake cannot render this voice response: only <Say> and <Hangup>\n      want: provider fake cannot render this voice response: only <Say>"), "{text}");
}

#[tokio::test]
async fn extra_requests_unstable_ids_and_missing_expectations_are_reported() {
    let one_request = CASES.replacen(
        r#"{"method": "POST", "path": "/calls/c1/hangup", "body": {"json": {"text": "", "command_id": "4.1"}}}"#,
        "",
        1,
    )
    .replacen("\"command_id\": \"4.0\"}}},", "\"command_id\": \"4.0\"}}}", 1);
    let report = check_voice_cases(CaseSource::json(one_request), commands, &hooks()).await;
    let text = report.to_string();
    assert_eq!(report.failures.len(), 1, "{text}");
    assert!(text.contains("requests: got 2, want 1"), "{text}");
    assert!(text.contains("POST /calls/c1/hangup"), "{text}");

    // Ids that change from one run of the same call and plan to the next.
    let report = check_voice_cases(
        CaseSource::json(CASES),
        |env: &CaseEnv| Commands {
            unstable: true,
            ..commands(env)
        },
        &hooks(),
    )
    .await;
    let text = report.to_string();
    assert_eq!(report.failures.len(), 1, "{text}");
    assert!(
        text.contains("a second run of the same call and plan made other requests"),
        "{text}"
    );

    // A provider the cases say nothing about.
    #[derive(Debug)]
    struct Other;
    #[async_trait]
    impl Provider for Other {
        async fn send(
            &self,
            _: &OutboundMessage,
            _: &SendOptions,
        ) -> Result<ProviderReceipt, ProviderError> {
            Err(ProviderError::NotConfigured("no".into()))
        }
    }
    let report = check_voice_cases(
        CaseSource::json(CASES),
        |_: &CaseEnv| Other,
        &VoiceHooks::markup(),
    )
    .await;
    assert_eq!(report.failures.len(), 4, "{report}");
    assert!(
        report
            .to_string()
            .contains("no expectation for provider \"provider\""),
        "{report}"
    );

    // Markup expected of a commands provider, requests of a markup one, a missing call.
    let misfit = r#"[{"label": "m", "response": ["hangup"],
      "expect": {"commands": {"markup": {"content_type": "text/xml", "body": "<R/>"}},
                 "markup": {"requests": [], "run": "done"}}}]"#;
    let report = check_voice_cases(CaseSource::json(misfit), commands, &hooks()).await;
    let text = report.to_string();
    assert!(
        text.contains("a commands provider renders no markup"),
        "{text}"
    );
    assert!(
        text.contains("a commands provider needs the call it runs on"),
        "{text}"
    );
    let report = check_voice_cases(
        CaseSource::json(misfit),
        |_: &CaseEnv| Markup,
        &VoiceHooks::markup(),
    )
    .await;
    assert!(
        report
            .to_string()
            .contains("a markup provider needs markup alone"),
        "{report}"
    );
}

#[test]
fn the_shared_voice_cases_cover_every_verb_for_both_providers() {
    let cases: Vec<_> = load_voice_cases(shared_cases("voice"))
        .expect("the shared voice cases load")
        .into_iter()
        .map(|l| l.case)
        .collect();
    let mut verbs = BTreeSet::new();
    for case in &cases {
        let names: BTreeSet<&str> = case.expect.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            BTreeSet::from(["telnyx", "twilio"]),
            "{}",
            case.label
        );
        for verb in &case.response {
            verbs.insert(match verb {
                CaseVerb::Say(_) => "say",
                CaseVerb::Play(_) => "play",
                CaseVerb::Pause(_) => "pause",
                CaseVerb::Gather(_) => "gather",
                CaseVerb::Record(_) => "record",
                CaseVerb::Dial(_) => "dial",
                CaseVerb::Redirect(_) => "redirect",
                CaseVerb::Hangup => "hangup",
                CaseVerb::Reject(_) => "reject",
                CaseVerb::Stream(_) => "stream",
                CaseVerb::Relay(_) => "relay",
                CaseVerb::SendDigits(_) => "send_digits",
                CaseVerb::RecordCall(_) => "record_call",
                _ => "unknown",
            });
        }
    }
    assert_eq!(
        verbs,
        BTreeSet::from([
            "dial",
            "gather",
            "hangup",
            "pause",
            "play",
            "record",
            "record_call",
            "redirect",
            "reject",
            "relay",
            "say",
            "send_digits",
            "stream"
        ])
    );
    // Live updates of every kind, one of a call that has ended.
    let updates: BTreeSet<String> = cases
        .iter()
        .filter_map(|c| c.update.as_ref())
        .map(|u| u.to_update().kind().to_string())
        .collect();
    assert_eq!(
        updates,
        BTreeSet::from(["hangup", "say", "twiml"].map(String::from))
    );
    assert!(cases.iter().any(|c| {
        c.update.is_some()
            && c.expect
                .values()
                .all(|e| e.run == Some(telephony_conformance::ExpectedRun::CallEnded))
    }));
    // Refusals on both sides, and runs that end each way.
    for provider in ["twilio", "telnyx"] {
        assert!(
            cases
                .iter()
                .any(|c| c.expect[provider].render_error.is_some()),
            "no refusal for {provider}"
        );
    }
    let runs: BTreeSet<String> = cases
        .iter()
        .filter_map(|c| c.expect["telnyx"].run.as_ref())
        .map(|r| serde_json::to_value(r).expect("serialises").to_string())
        .map(|r| r.split(':').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        runs,
        BTreeSet::from([
            "\"call_ended\"".to_string(),
            "\"done\"".to_string(),
            "{\"error\"".to_string(),
            "{\"redirect\"".to_string()
        ])
    );
}

#[test]
fn call_events_are_compared_field_by_field() {
    // The schema reads every kind, rejects unknown fields, and says which field differs.
    let cases = r#"[{"label": "x", "request": {"url": "u"}, "signature": "missing", "check": "skip",
      "expect": {"http_status": 200, "events": [
        {"kind": "call", "event": "resume", "call_id": "c1", "status": "in-progress", "plan": [{"k": "hangup"}]},
        {"kind": "call", "event": "status", "call_id": "c1", "status": "no-answer", "duration_secs": 0,
         "timestamp": "2023-11-14T22:13:20Z", "extra": {"hangup_cause": "timeout"}}]}}]"#;
    let loaded = load_webhook_cases(CaseSource::json(cases)).expect("call events load");
    let events = &loaded[0].case.expect.events;
    assert!(
        matches!(&events[0], ExpectedEvent::Call(c) if c.plan == Some(serde_json::json!([{"k": "hangup"}])))
    );
    assert!(matches!(&events[1], ExpectedEvent::Call(c) if c.status.as_str() == "no-answer"));
    let bogus = cases.replace("\"duration_secs\": 0", "\"duration\": 0");
    let err = load_webhook_cases(CaseSource::json(bogus)).unwrap_err();
    assert!(err.reason.contains("unknown field `duration`"), "{err}");
}

/// Reports every webhook as an incoming call that started when it arrived.
#[derive(Debug)]
struct Ringing;

#[async_trait]
impl Provider for Ringing {
    async fn send(
        &self,
        _: &OutboundMessage,
        _: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        Err(ProviderError::NotConfigured("no".into()))
    }

    fn handle_webhook(
        &self,
        _: &telephony_core::WebhookRequest,
        _: telephony_core::SignatureCheck,
    ) -> Result<telephony_core::WebhookEvent, telephony_core::WebhookError> {
        use telephony_core::voice::{CallDirection, CallEvent, CallStatus};
        let mut call = Call::new(
            "c1",
            "+15550005678",
            "+15550001234",
            CallDirection::Inbound,
            CallStatus::Ringing,
        );
        call.started_at = Some(time::OffsetDateTime::now_utc());
        call.extra.insert(
            telephony_core::voice::ACTION_EXTRA.into(),
            "https://gw/a".into(),
        );
        Ok(telephony_core::WebhookEvent::Call(CallEvent::Incoming(
            call,
        )))
    }
}

#[test]
fn the_gateways_own_clock_is_expected_as_received() {
    let case = |started: &str| {
        format!(
            r#"[{{"label": "ring", "request": {{"url": "u"}}, "signature": "missing", "check": "skip",
              "expect": {{"http_status": 200, "events": [{{"kind": "call", "event": "incoming", "call_id": "c1",
                "status": "ringing", "from": "+15550005678", "to": "+15550001234", "direction": "inbound",
                "started_at": {started}, "action": "https://gw/a"}}]}}}}]"#
        )
    };
    let noop = |_: &telephony_conformance::WebhookRequestParts, _| Vec::new();
    telephony_conformance::run_webhook_cases(
        CaseSource::json(case("\"received\"")),
        |_: &CaseEnv| Ringing,
        noop,
    );
    for wrong in ["\"2023-11-14T22:13:20Z\"", "null"] {
        let report = telephony_conformance::check_webhook_cases(
            CaseSource::json(case(wrong)),
            |_: &CaseEnv| Ringing,
            noop,
        );
        let text = report.to_string();
        assert_eq!(report.failures.len(), 1, "{text}");
        assert!(
            text.contains(&format!("started_at: got \"received\", want {wrong}")),
            "{text}"
        );
    }
}

//! Running voice cases: a `VoiceResponse` through a provider's `render_voice` and, for a
//! provider driven by commands, `run_voice` against the loopback mock API.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use telephony_core::Provider;
use telephony_core::voice::{VoiceControl, VoiceRun};

use crate::mock_api::{MockProviderApi, RecordedRequest};
use crate::run_send::{request_problems, show_request};
use crate::{
    CaseEnv, CaseSource, DEFAULT_NOW, ExpectedError, ExpectedRun, ProviderAnswer, Report,
    VoiceCase, VoiceExpect, load_voice_cases,
};

/// How long one `run_voice` may take before the case fails (a case's pauses included).
pub const VOICE_TIMEOUT: Duration = Duration::from_secs(30);

/// The folder of cases this crate ships for every provider: `shared_cases("voice")` is
/// the neutral voice behaviour both providers run, each case with one expectation per
/// provider.
///
/// ```
/// let voice = telephony_conformance::shared_cases("voice");
/// assert!(voice.ends_with("cases/voice") && voice.is_dir());
/// ```
pub fn shared_cases(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("cases")
        .join(kind)
}

type Normalizer = Arc<dyn Fn(&mut Value) -> Result<(), String> + Send + Sync>;

/// What the runner needs to know about a provider beyond the [`Provider`] itself.
///
/// ```
/// use telephony_conformance::{ProviderAnswer, VoiceHooks};
/// // A markup provider needs nothing.
/// let twilio = VoiceHooks::markup();
/// // A commands provider: its API's usual success, and a body normaliser.
/// let telnyx = VoiceHooks::commands(ProviderAnswer::json(200, serde_json::json!({"data": {"result": "ok"}})))
///     .normalize_json(|body| {
///         if let Some(id) = body.get_mut("command_id") {
///             *id = serde_json::json!("<id>");
///         }
///         Ok(())
///     });
/// assert!(format!("{telnyx:?}").contains("normalize: true"));
/// # let _ = twilio;
/// ```
#[derive(Clone)]
pub struct VoiceHooks {
    default_answer: ProviderAnswer,
    normalize: Option<Normalizer>,
}

impl fmt::Debug for VoiceHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoiceHooks")
            .field("default_answer", &self.default_answer)
            .field("normalize", &self.normalize.is_some())
            .finish()
    }
}

impl VoiceHooks {
    /// For a [`VoiceControl::Markup`] provider, which makes no requests (any request it
    /// makes is answered 599).
    pub fn markup() -> Self {
        VoiceHooks {
            default_answer: ProviderAnswer {
                status: 599,
                headers: Default::default(),
                body: Some("a markup provider should not call its API to render".into()),
                json: None,
            },
            normalize: None,
        }
    }

    /// For a [`VoiceControl::Commands`] provider: what the mock API answers to a command
    /// when the case names no `answers`.
    pub fn commands(default_answer: ProviderAnswer) -> Self {
        VoiceHooks {
            default_answer,
            normalize: None,
        }
    }

    /// Rewrites every recorded JSON body before it is compared with a case's `json` body:
    /// decode an opaque field (a base64 state) so cases read it, reduce a generated id to
    /// its shape. An `Err` fails the case with the message (a field that does not have the
    /// shape it must have).
    pub fn normalize_json(
        mut self,
        f: impl Fn(&mut Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.normalize = Some(Arc::new(f));
        self
    }
}

/// Runs every voice case and panics once, listing every failure.
///
/// For each case a [`MockProviderApi`] starts on loopback and `factory` builds the
/// provider with [`CaseEnv::api_base_url`] pointing at it; the case's expectation is the
/// one under the provider's [`name`](Provider::name) (a case without one fails: both
/// providers run the same cases). The response is rendered with
/// [`render_voice`](Provider::render_voice); a [`VoiceControl::Commands`] provider then
/// runs the rendering on the case's call with [`run_voice`](Provider::run_voice). A case
/// with an `update` instead of a response runs [`update_call`](Provider::update_call) on
/// its call, on every provider, and is checked by its `requests` and `run`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use telephony_conformance::{run_voice_cases, CaseSource, VoiceHooks};
/// use telephony_core::{Provider, OutboundMessage, ProviderError, ProviderReceipt, SendOptions};
///
/// /// The core's default: no voice at all.
/// #[derive(Debug)]
/// struct NoVoice;
/// #[async_trait::async_trait]
/// impl Provider for NoVoice {
///     async fn send(&self, _: &OutboundMessage, _: &SendOptions) -> Result<ProviderReceipt, ProviderError> {
///         Err(ProviderError::NotConfigured("no".into()))
///     }
/// }
///
/// let cases = r#"[{"label": "hang up", "response": ["hangup"],
///   "expect": {"provider": {"render_error": "provider provider does not support voice"}}}]"#;
/// run_voice_cases(CaseSource::json(cases), |_env| NoVoice, &VoiceHooks::markup()).await;
/// # }
/// ```
pub async fn run_voice_cases<P, F>(cases: impl Into<CaseSource>, factory: F, hooks: &VoiceHooks)
where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
{
    check_voice_cases(cases, factory, hooks).await.assert_ok();
}

/// Runs every voice case and returns the report instead of panicking.
pub async fn check_voice_cases<P, F>(
    cases: impl Into<CaseSource>,
    factory: F,
    hooks: &VoiceHooks,
) -> Report
where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
{
    let mut report = Report::new("voice");
    match load_voice_cases(cases) {
        Err(e) => report.record(&e.file, "(loading cases)", vec![e.reason]),
        Ok(cases) => {
            for loaded in cases {
                let problems = run_one(&loaded.case, &factory, hooks).await;
                report.record(&loaded.file, &loaded.case.label, problems);
            }
        }
    }
    report
}

/// Mistakes in an expectation itself, for a provider that takes instructions `control`.
fn shape_problems(case: &VoiceCase, want: &VoiceExpect, control: VoiceControl) -> Vec<String> {
    let commands = want.requests.is_some() || want.run.is_some() || !want.answers.is_empty();
    if want.render_error.is_some() {
        return if want.markup.is_some() || commands || want.same_on_redelivery {
            vec!["case: render_error stands alone (nothing is rendered or run)".into()]
        } else {
            Vec::new()
        };
    }
    match control {
        VoiceControl::Commands => {
            let mut problems = Vec::new();
            if want.markup.is_some() {
                problems.push(
                    "case: a commands provider renders no markup: give requests and run".into(),
                );
            }
            if want.requests.is_none() || want.run.is_none() {
                problems.push("case: a commands provider needs requests and run".into());
            }
            if case.call.is_none() {
                problems.push("case: a commands provider needs the call it runs on".into());
            }
            problems
        }
        _ => {
            if want.markup.is_none() || commands || want.same_on_redelivery {
                vec![
                    "case: a markup provider needs markup alone (no requests, run or answers)"
                        .into(),
                ]
            } else {
                Vec::new()
            }
        }
    }
}

async fn run_one<P, F>(case: &VoiceCase, factory: &F, hooks: &VoiceHooks) -> Vec<String>
where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
{
    let api = match MockProviderApi::start(hooks.default_answer.clone()).await {
        Ok(api) => api,
        Err(e) => return vec![format!("cannot start the mock provider API: {e}")],
    };
    let provider = factory(&CaseEnv::new(api.url(), DEFAULT_NOW));
    let name = provider.name();
    let Some(want) = case.expect.get(name) else {
        return vec![format!(
            "no expectation for provider {name:?} (add expect.{name}; every provider runs every case)"
        )];
    };
    if let Some(update) = &case.update {
        return run_update(case, update, want, &provider, &api, hooks).await;
    }
    let control = provider.voice_control();
    let mut problems = shape_problems(case, want, control);
    if !problems.is_empty() {
        return problems;
    }
    if !want.answers.is_empty() {
        api.set_answers(want.answers.clone());
    }

    let rendered = provider.render_voice(&case.response());
    let rendered = match (rendered, &want.render_error) {
        (Err(e), Some(message)) => {
            if &e.to_string() != message {
                problems.push(format!("render_error:\n  got:  {e}\n  want: {message}"));
            }
            return problems;
        }
        (Ok(r), Some(message)) => {
            return vec![format!(
                "rendered {:?} {:?}, want the refusal {message:?}",
                r.content_type,
                String::from_utf8_lossy(&r.body)
            )];
        }
        (Err(e), None) => return vec![format!("render_voice refused the response: {e}")],
        (Ok(r), None) => r,
    };

    if control != VoiceControl::Commands {
        let Some(markup) = &want.markup else {
            return vec!["case: no markup".into()];
        };
        let body = String::from_utf8_lossy(&rendered.body);
        if rendered.content_type != markup.content_type {
            problems.push(format!(
                "content_type: got {:?}, want {:?}",
                rendered.content_type, markup.content_type
            ));
        }
        if body != markup.body {
            problems.push(format!("markup:\n  got:  {body}\n  want: {}", markup.body));
        }
        if let Some(first) = api.requests().first() {
            problems.push(format!(
                "a markup provider called its API to render: {}",
                show_request(first)
            ));
        }
        return problems;
    }

    let (Some(call), Some(want_requests), Some(want_run)) = (&case.call, &want.requests, &want.run)
    else {
        return vec!["case: a commands provider needs call, requests and run".into()];
    };
    let call = call.to_call();
    let (run, requests) = match run_plan(&provider, &call, &rendered.body, &api).await {
        Ok(done) => done,
        Err(problem) => return vec![problem],
    };
    drop(api);
    problems.extend(run_problems(&run, want_run));
    problems.extend(requests_problems(&requests, want_requests, hooks));

    if want.same_on_redelivery {
        let again = match MockProviderApi::start(hooks.default_answer.clone()).await {
            Ok(api) => api,
            Err(e) => return vec![format!("cannot start the mock provider API: {e}")],
        };
        if !want.answers.is_empty() {
            again.set_answers(want.answers.clone());
        }
        let provider = factory(&CaseEnv::new(again.url(), DEFAULT_NOW));
        match run_plan(&provider, &call, &rendered.body, &again).await {
            Err(problem) => problems.push(format!("second run: {problem}")),
            Ok((_, second)) => {
                let first: Vec<(&str, &str, &[u8])> = requests
                    .iter()
                    .map(|r| (r.method.as_str(), r.path.as_str(), &r.body[..]))
                    .collect();
                let second_view: Vec<(&str, &str, &[u8])> = second
                    .iter()
                    .map(|r| (r.method.as_str(), r.path.as_str(), &r.body[..]))
                    .collect();
                if first != second_view {
                    let shown: Vec<String> = second.iter().map(show_request).collect();
                    problems.push(format!(
                        "a second run of the same call and plan made other requests (a redelivered event would run different commands):\n  second: {}",
                        shown.join("\n          ")
                    ));
                }
            }
        }
    }
    problems
}

/// An `update` case: the provider's `update_call` on the case's call, whatever its kind of
/// voice control; its requests and result are checked as a commands run's.
async fn run_update<P: Provider>(
    case: &VoiceCase,
    update: &crate::CaseUpdate,
    want: &VoiceExpect,
    provider: &P,
    api: &MockProviderApi,
    hooks: &VoiceHooks,
) -> Vec<String> {
    let mut problems = Vec::new();
    if !case.response.is_empty() {
        problems.push("case: an update case has no response".into());
    }
    if want.render_error.is_some() || want.markup.is_some() || want.same_on_redelivery {
        problems.push(
            "case: an update case expects requests and run (a refusal is run: {\"error\": …})"
                .into(),
        );
    }
    let (Some(call), Some(want_requests), Some(want_run)) = (&case.call, &want.requests, &want.run)
    else {
        problems.push("case: an update case needs call, requests and run".into());
        return problems;
    };
    if !problems.is_empty() {
        return problems;
    }
    if !want.answers.is_empty() {
        api.set_answers(want.answers.clone());
    }
    let call = call.to_call();
    let update = update.to_update();
    let run =
        match tokio::time::timeout(VOICE_TIMEOUT, provider.update_call(&call.call_id, &update))
            .await
        {
            Ok(run) => run,
            Err(_) => {
                return vec![format!(
                    "update_call did not finish within {VOICE_TIMEOUT:?} ({} requests made)",
                    api.requests().len()
                )];
            }
        };
    let requests = api.requests();
    problems.extend(run_problems(&run, want_run));
    problems.extend(requests_problems(&requests, want_requests, hooks));
    problems
}

/// The recorded requests against the expected ones: the count, then each in order.
fn requests_problems(
    requests: &[RecordedRequest],
    want_requests: &[crate::ExpectedRequest],
    hooks: &VoiceHooks,
) -> Vec<String> {
    let mut problems = Vec::new();
    if requests.len() != want_requests.len() {
        let shown: Vec<String> = requests.iter().map(show_request).collect();
        problems.push(format!(
            "requests: got {}, want {}\n  got: {}",
            requests.len(),
            want_requests.len(),
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown.join("\n       ")
            }
        ));
    }
    let normalize = hooks.normalize.as_deref();
    for (i, (got, want)) in requests.iter().zip(want_requests).enumerate() {
        for problem in request_problems(got, want, normalize) {
            problems.push(format!("requests[{i}] {problem}"));
        }
    }
    problems
}

type Ran = (
    Result<VoiceRun, telephony_core::ProviderError>,
    Vec<RecordedRequest>,
);

async fn run_plan<P: Provider>(
    provider: &P,
    call: &telephony_core::voice::Call,
    plan: &[u8],
    api: &MockProviderApi,
) -> Result<Ran, String> {
    match tokio::time::timeout(VOICE_TIMEOUT, provider.run_voice(call, plan)).await {
        Ok(run) => Ok((run, api.requests())),
        Err(_) => Err(format!(
            "run_voice did not finish within {VOICE_TIMEOUT:?} ({} requests made)",
            api.requests().len()
        )),
    }
}

fn run_problems(
    got: &Result<VoiceRun, telephony_core::ProviderError>,
    want: &ExpectedRun,
) -> Vec<String> {
    let same = match (got, want) {
        (Ok(VoiceRun::Done), ExpectedRun::Done) => true,
        (Ok(VoiceRun::CallEnded), ExpectedRun::CallEnded) => true,
        (Ok(VoiceRun::Redirect(url)), ExpectedRun::Redirect(want)) => url == want,
        (Err(e), ExpectedRun::Error(want)) => &ExpectedError::from_error(e) == want,
        _ => false,
    };
    if same {
        return Vec::new();
    }
    let shown = match got {
        Ok(run) => format!("{run:?}"),
        Err(e) => format!(
            "error {e} ({})",
            serde_json::to_string(&ExpectedError::from_error(e)).unwrap_or_default()
        ),
    };
    vec![format!(
        "run: got {shown}, want {}",
        serde_json::to_string(want).unwrap_or_default()
    )]
}

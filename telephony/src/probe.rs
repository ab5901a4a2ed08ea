//! `telephony status --probe`: is the provider set up to reach this gateway?
//!
//! Each check is a named [`Finding`] with what was found and how to fix it:
//!
//! | check | how |
//! |---|---|
//! | `credentials` | an authenticated API call (the number lookup) |
//! | `number` | the number exists on the account |
//! | `number-setup` | capabilities, URLs and methods (and a Messaging Service's inbound settings) match the gateway's URLs ([`telephony_core::numbers::check`]) |
//! | `webhook-failures` | none of the number's last [`LOOK_BACK`] inbound messages failed to reach the webhook (Twilio's 11200 in the message log) |
//! | `public-url` | `GET {publicUrl}/health` answers through the public URL (tunnel, proxy) |
//! | `signed-probe` | a webhook signed as the provider signs it, sent through the public URL, is recognized by the gateway as its own probe (so signature checks work behind the tunnel) |
//!
//! For a `*.ts.net` public URL that does not reach the gateway, the fix is the exact
//! `tailscale funnel` command for the missing mount.

use std::time::Duration;

use serde::Serialize;
use telephony_core::numbers::{FindingKind, WebhookTargets, check};
use telephony_core::{PhoneNumber, Provider, ProviderError};

pub use telephony_serve::{PROBE_ANSWER, PROBE_HEADER};

/// Builds a signed probe webhook for a URL: `(url-encoded form body, signature header
/// name, its value)`.
pub type SignProbe<'a> = dyn Fn(&str) -> (String, String, String) + Send + Sync + 'a;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check (`credentials`, `number`, `number-setup`, `webhook-failures`,
    /// `public-url`, `signed-probe`).
    pub check: &'static str,
    /// True when all is well.
    pub ok: bool,
    /// What is wrong, when something is (`url-mismatch`, `method-mismatch`, `missing`,
    /// `number-not-found`, `missing-capability`, `overridden`, `unreachable`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// What was found.
    pub detail: String,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: &'static str, detail: impl Into<String>) -> Self {
        Finding {
            check,
            ok: true,
            problem: None,
            detail: detail.into(),
            fix: None,
        }
    }

    fn bad(
        check: &'static str,
        problem: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            check,
            ok: false,
            problem: Some(problem.to_string()),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// What the probe looks at.
pub struct ProbeTarget<'a> {
    /// The provider, with the account's credentials.
    pub provider: &'a dyn Provider,
    /// The gateway's number.
    pub number: Option<PhoneNumber>,
    /// The URLs the number should point at.
    pub targets: WebhookTargets,
    /// The public base URL (`publicUrl` or the tunnel's).
    pub public_url: Option<String>,
    /// The webhook path (`serve.path`), for the signed probe and Funnel mounts.
    pub webhook_path: String,
    /// The local port of the public listener (for the Funnel command).
    pub local_port: u16,
    /// Host names pinned to addresses for the public-URL checks, like `curl --resolve`
    /// (e.g. to probe one replica behind a load balancer); empty: normal DNS.
    pub resolve: Vec<(String, std::net::SocketAddr)>,
    /// Builds a probe webhook for `url` as the provider would send it: its form
    /// parameters and the signature header `(name, value)`; `None` when the CLI cannot
    /// sign as the provider (Telnyx signs with its own private key).
    pub sign: Option<Box<SignProbe<'a>>>,
}

/// How many of the number's latest inbound messages the `webhook-failures` check reads.
pub const LOOK_BACK: u32 = 50;

/// Recent inbound messages the provider could not deliver (11200 on Twilio).
async fn webhook_failures(provider: &dyn Provider, number: &PhoneNumber) -> Finding {
    match provider.recent_webhook_failures(number, LOOK_BACK).await {
        Ok(f) if f.is_empty() => Finding::ok(
            "webhook-failures",
            format!(
                "none of the last {LOOK_BACK} inbound messages to {number} failed to reach the webhook"
            ),
        ),
        Ok(f) => {
            let latest = &f[0];
            Finding::bad(
                "webhook-failures",
                &latest.code,
                format!(
                    "{} of the last {LOOK_BACK} inbound messages to {number} could not reach the webhook ({} {}); the latest: {}{}",
                    f.len(),
                    latest.code,
                    latest.detail.as_deref().unwrap_or("HTTP retrieval failure"),
                    latest.message_id,
                    latest
                        .at
                        .as_deref()
                        .map(|a| format!(" at {a}"))
                        .unwrap_or_default(),
                ),
                "the provider accepted these messages but the webhook was unreachable or did not answer 2xx: \
                 check that the gateway was running, that the public URL reaches it (public-url below), \
                 and that its log shows no 403 for them (behind a proxy or tunnel, see webhookSecurity)",
            )
        }
        Err(e) if e.is_unsupported() => Finding::ok(
            "webhook-failures",
            format!("{} has no message log to read; skipped", provider.name()),
        ),
        Err(e) => Finding::bad(
            "webhook-failures",
            "unreachable",
            format!("the message log: {}", telephony_core::error_chain(&e)),
            "check network access to the provider's API",
        ),
    }
}

fn problem_name(k: FindingKind) -> &'static str {
    match k {
        FindingKind::NumberNotFound => "number-not-found",
        FindingKind::MissingCapability => "missing-capability",
        FindingKind::Missing => "missing",
        FindingKind::UrlMismatch => "url-mismatch",
        FindingKind::MethodMismatch => "method-mismatch",
        FindingKind::Overridden => "overridden",
    }
}

/// Runs every check; the findings, in the order of the table in the module docs.
pub async fn probe(t: &ProbeTarget<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    match &t.number {
        None => out.push(Finding::bad(
            "number",
            "missing",
            "no number is configured",
            "set fromNumber (or TWILIO_PHONE_NUMBER) to the number Twilio delivers to",
        )),
        Some(number) => match t.provider.number_config(number).await {
            Err(e) if is_auth_error(&e) => out.push(Finding::bad(
                "credentials",
                "rejected",
                format!("{}: {e}", t.provider.name()),
                "check the account SID and auth token (or API key) in the config",
            )),
            Err(e) if e.is_unsupported() => out.push(Finding::ok(
                "number",
                format!("{} cannot look numbers up; skipped", t.provider.name()),
            )),
            Err(e) => out.push(Finding::bad(
                "credentials",
                "unreachable",
                format!("{}: {}", t.provider.name(), telephony_core::error_chain(&e)),
                "check network access to the provider's API",
            )),
            Ok(None) => {
                out.push(Finding::ok(
                    "credentials",
                    "the API accepted the credentials",
                ));
                out.push(Finding::bad(
                    "number",
                    problem_name(FindingKind::NumberNotFound),
                    format!("{number} is not a number of this account"),
                    "set fromNumber to a number of this account, or buy one in the console",
                ));
            }
            Ok(Some(config)) => {
                out.push(Finding::ok(
                    "credentials",
                    "the API accepted the credentials",
                ));
                out.push(Finding::ok("number", format!("{number} is {}", config.id)));
                let findings = check(&config, &t.targets);
                if findings.is_empty() {
                    out.push(Finding::ok(
                        "number-setup",
                        format!("{number} points at {}", t.targets.messaging_url),
                    ));
                }
                for f in findings {
                    out.push(Finding::bad(
                        "number-setup",
                        problem_name(f.kind),
                        format!(
                            "{}: found {}, expected {}",
                            f.setting,
                            f.found.as_deref().unwrap_or("(nothing)"),
                            f.expected.as_deref().unwrap_or("(nothing)")
                        ),
                        f.fix,
                    ));
                }
                out.push(webhook_failures(t.provider, number).await);
            }
        },
    }
    let Some(base) = &t.public_url else {
        out.push(Finding::bad(
            "public-url",
            "missing",
            "no public URL: the provider cannot reach this gateway",
            "set publicUrl, or a tunnel (tunnel.provider: ngrok | tailscale-funnel)",
        ));
        return out;
    };
    let mut http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    for (host, addr) in &t.resolve {
        http = http.resolve(host, *addr);
    }
    let http = match http.build() {
        Ok(c) => c,
        Err(e) => {
            out.push(Finding::bad(
                "public-url",
                "client",
                e.to_string(),
                "report this",
            ));
            return out;
        }
    };
    let funnel_fix = |path: &str| -> Option<String> {
        base.contains(".ts.net").then(|| {
            format!(
                "tailscale funnel --bg --yes --https=443 --set-path={path} http://127.0.0.1:{}{path}",
                t.local_port
            )
        })
    };
    let health = format!("{base}/health");
    match http.get(&health).send().await {
        Ok(r) if r.status().is_success() => out.push(Finding::ok(
            "public-url",
            format!("{health} answered {}", r.status()),
        )),
        Ok(r) => out.push(Finding::bad(
            "public-url",
            "unreachable",
            format!("{health} answered {}", r.status()),
            funnel_fix("/health").unwrap_or_else(|| {
                "make the public URL forward to the gateway's public listener".into()
            }),
        )),
        Err(e) => out.push(Finding::bad(
            "public-url",
            "unreachable",
            format!("{health}: {}", telephony_core::error_chain(&e)),
            funnel_fix("/health")
                .unwrap_or_else(|| "start the tunnel or proxy, and check publicUrl".into()),
        )),
    }
    let Some(sign) = &t.sign else {
        out.push(Finding::ok(
            "signed-probe",
            format!(
                "skipped: {} signs webhooks with its own key",
                t.provider.name()
            ),
        ));
        return out;
    };
    let url = format!("{base}{}", t.webhook_path);
    let (body, header, value) = sign(&url);
    let sent = http
        .post(&url)
        .header(PROBE_HEADER, "1")
        .header(header, value)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            if status.is_success() && body.trim() == PROBE_ANSWER {
                out.push(Finding::ok(
                    "signed-probe",
                    format!("{url} verified a signed probe"),
                ));
            } else if status.as_u16() == 403 {
                out.push(Finding::bad(
                    "signed-probe",
                    "signature-mismatch",
                    format!("{url} refused the signed probe (403): the gateway computes the signed URL differently from {url}"),
                    "set publicUrl to exactly the URL the provider calls (scheme, host, port), or webhookSecurity.allowedHosts + trustForwardingHeaders behind a proxy",
                ));
            } else {
                out.push(Finding::bad(
                    "signed-probe",
                    "not-this-gateway",
                    format!("{url} answered {status} without the probe's answer"),
                    funnel_fix(&t.webhook_path).unwrap_or_else(|| {
                        "the public URL does not reach this gateway's webhook path; check the proxy or tunnel routes".into()
                    }),
                ));
            }
        }
        Err(e) => out.push(Finding::bad(
            "signed-probe",
            "unreachable",
            format!("{url}: {}", telephony_core::error_chain(&e)),
            funnel_fix(&t.webhook_path)
                .unwrap_or_else(|| "start the tunnel or proxy, and check publicUrl".into()),
        )),
    }
    out
}

/// Whether a provider error is the provider refusing the credentials.
pub fn is_auth_error(e: &ProviderError) -> bool {
    matches!(e.http_status(), Some(401 | 403))
}

/// The probe for a gateway described by `config`, running as `runtime` when it is running
/// (its URLs, and in sandbox mode its simulator and credentials): the provider, and what
/// to check. Errors are configuration errors (missing credentials).
pub fn for_gateway(
    config: &crate::config::Config,
    runtime: Option<&crate::runtime::RuntimeInfo>,
) -> Result<(std::sync::Arc<dyn Provider>, ProbeParts), crate::providers::BuildError> {
    use crate::config::ProviderKind;
    let sandbox = runtime.filter(|r| r.sandbox);
    let (provider, twilio_creds) = match (sandbox, config.provider) {
        (Some(rt), ProviderKind::Twilio) => {
            let sid = rt.sandbox_account_sid.clone().unwrap_or_default();
            let token = rt.sandbox_auth_token.clone().unwrap_or_default();
            let mut tc = crate::providers::twilio_config(config);
            tc.account_sid = sid.clone();
            tc.auth_token = telephony_core::Secret::new(token.clone());
            tc.credentials = telephony_twilio::Credentials::AuthToken;
            if let Some(u) = &rt.simulator_url {
                tc = tc.api_base_url(u.clone());
            }
            if tc.from_number.is_none() {
                tc = tc.from_number(
                    PhoneNumber::parse(crate::providers::sandbox_from(ProviderKind::Twilio))
                        .expect("valid sandbox number"),
                );
            }
            let p = telephony_twilio::TwilioProvider::new(tc).map_err(|e| {
                crate::providers::BuildError::Provider {
                    provider: "twilio",
                    reason: telephony_core::error_chain(&e),
                }
            })?;
            (
                std::sync::Arc::new(p) as std::sync::Arc<dyn Provider>,
                Some((sid, token)),
            )
        }
        _ => {
            let p = crate::providers::provider(config)?;
            let creds = (config.provider == ProviderKind::Twilio).then(|| {
                (
                    config.twilio.account_sid.clone().unwrap_or_default(),
                    config
                        .twilio
                        .auth_token
                        .as_ref()
                        .map(|t| t.expose().to_string())
                        .unwrap_or_default(),
                )
            });
            (p, creds)
        }
    };
    let number = config.from_number.clone().or_else(|| {
        sandbox
            .and_then(|_| PhoneNumber::parse(crate::providers::sandbox_from(config.provider)).ok())
    });
    let voice = config.voice.enabled.unwrap_or(false);
    let (public_url, local_port) = match runtime {
        // The running gateway's own URL: its tunnel's when one runs (a publicUrl set as
        // well has no effect then), else publicUrl or the local listener.
        Some(rt) => (
            rt.webhook_url
                .strip_suffix(&config.serve.path)
                .map(str::to_string)
                .or_else(|| config.public_url.clone()),
            rt.public_addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(config.serve.port),
        ),
        None => (config.public_url.clone(), config.serve.port),
    };
    let base = public_url.clone().unwrap_or_default();
    let targets = WebhookTargets {
        messaging_url: format!("{base}{}", config.serve.path),
        voice_url: voice.then(|| format!("{base}{}", config.serve.path)),
        // A commands provider (Telnyx) sends every call event, statuses included, to
        // the one voice URL.
        voice_status_url: (voice
            && provider.voice_control() == telephony_core::voice::VoiceControl::Markup)
            .then(|| format!("{base}{}", config.serve.status_path)),
    };
    Ok((
        provider,
        ProbeParts {
            number,
            targets,
            public_url,
            webhook_path: config.serve.path.clone(),
            local_port,
            resolve: Vec::new(),
            twilio: twilio_creds,
        },
    ))
}

/// What [`for_gateway`] found to check; [`ProbeParts::target`] makes the [`ProbeTarget`].
#[derive(Clone)]
pub struct ProbeParts {
    /// The gateway's number.
    pub number: Option<PhoneNumber>,
    /// Its URLs.
    pub targets: WebhookTargets,
    /// The public base URL.
    pub public_url: Option<String>,
    /// `serve.path`.
    pub webhook_path: String,
    /// The public listener's port.
    pub local_port: u16,
    /// See [`ProbeTarget::resolve`].
    pub resolve: Vec<(String, std::net::SocketAddr)>,
    twilio: Option<(String, String)>,
}

impl std::fmt::Debug for ProbeParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeParts")
            .field("number", &self.number)
            .field("targets", &self.targets)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl ProbeParts {
    /// The probe of `provider` with these parts (Twilio: a signed probe SMS webhook).
    pub fn target<'a>(&'a self, provider: &'a dyn Provider) -> ProbeTarget<'a> {
        let sign: Option<Box<SignProbe<'a>>> = self.twilio.as_ref().map(|(sid, token)| {
            let number = self.number.clone();
            Box::new(move |url: &str| {
                let sms = telephony_twilio_simulator::InboundSms {
                    account_sid: sid.clone(),
                    from: "+15005550006".into(),
                    to: number
                        .as_ref()
                        .map(|n| n.as_str().to_string())
                        .unwrap_or_default(),
                    body: "telephony status --probe".into(),
                    message_sid: Some(telephony_twilio_simulator::new_message_sid()),
                    media: vec![],
                };
                let (body, sig) = sms.signed(token, url);
                (body, "x-twilio-signature".to_string(), sig)
            }) as Box<SignProbe<'a>>
        });
        ProbeTarget {
            provider,
            number: self.number.clone(),
            targets: self.targets.clone(),
            public_url: self.public_url.clone(),
            webhook_path: self.webhook_path.clone(),
            local_port: self.local_port,
            resolve: self.resolve.clone(),
            sign,
        }
    }
}

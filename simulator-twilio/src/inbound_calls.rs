//! Calls that ring one of the account's numbers: placed by a test, driven like Twilio
//! drives them (see the [crate docs](crate#driven-calls)).

use telephony_core::redact::redact_url;
use telephony_twilio::resources::CallResource;
use time::OffsetDateTime;

use crate::call_state::{CallMeta, DEFAULT_TIME_LIMIT_SECS};
use crate::dates::rfc2822;
use crate::driver;
use crate::script::{CallOutcome, DriveError, InboundCall};
use crate::sids::new_sid;
use crate::simulator::Simulator;

impl Simulator {
    /// Rings `call.to` from `call.from` and drives the call to its end, as Twilio would
    /// (see the [crate docs](crate#driven-calls)); returns what happened.
    ///
    /// The call is stored in the Calls resource first (`direction` `inbound`, `status`
    /// `ringing`), so `GET …/Calls/{Sid}.json` sees it, and hanging it up with
    /// `POST …/Calls/{Sid}.json` `Status=completed` stops it at its next step. When it
    /// ends, its `completed` status callback (with `CallDuration`) goes to
    /// [`InboundCall::status_callback`] if set, subject to
    /// [`drop_call_callbacks`](Self::drop_call_callbacks), before this returns.
    ///
    /// The call runs in its own task: dropping the returned future leaves it running
    /// (see [`start_inbound_call`](Self::start_inbound_call)).
    ///
    /// # Errors
    ///
    /// [`DriveError`] when the call cannot be placed (a voice URL that is not absolute
    /// `http(s)`, an empty number). Whatever the gateway answers is part of the
    /// [`CallOutcome`] (see [`CallOutcome::error`]), never an `Err`.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::routing::post;
    /// use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A stand-in gateway: greets, asks, thanks.
    /// let app = axum::Router::new()
    ///     .route("/voice", post(|| async {
    ///         ([("content-type", "text/xml")],
    ///          r#"<Response><Say>Hello!</Say><Gather input="speech" action="/answer"><Say>How can I help?</Say></Gather></Response>"#)
    ///     }))
    ///     .route("/answer", post(|| async {
    ///         ([("content-type", "text/xml")], "<Response><Say>Thanks, bye.</Say><Hangup/></Response>")
    ///     }));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let gateway = format!("http://{}", listener.local_addr()?);
    /// tokio::spawn(async move { axum::serve(listener, app).await });
    ///
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// let outcome = sim
    ///     .place_inbound_call(
    ///         InboundCall::new("+15550005678", "+15550001234", format!("{gateway}/voice"))
    ///             .script(CallScript::new().say("Book a table")),
    ///     )
    ///     .await?;
    /// assert_eq!(outcome.status, "completed");
    /// assert_eq!(outcome.heard(), ["Hello!", "How can I help?", "Thanks, bye."]);
    /// assert_eq!(outcome.gathers[0].action.as_deref(), Some(format!("{gateway}/answer").as_str()));
    /// assert_eq!(outcome.documents.len(), 2);
    /// assert_eq!(sim.call(&outcome.call_sid).unwrap().direction.as_deref(), Some("inbound"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn place_inbound_call(&self, call: InboundCall) -> Result<CallOutcome, DriveError> {
        let (sid, task) = self.spawn_inbound_call(call)?;
        if task.await.is_err() {
            return Err(DriveError::Abandoned(sid));
        }
        match self.call_outcome(&sid) {
            Some(outcome) => Ok(outcome),
            None => Err(DriveError::Abandoned(sid)),
        }
    }

    /// Like [`place_inbound_call`](Self::place_inbound_call), but returns the call's SID
    /// as soon as the call exists (`ringing`), its webhook not requested yet; follow it with
    /// [`call_outcome`](Self::call_outcome) or [`wait_for_call`](Self::wait_for_call).
    ///
    /// ```
    /// use telephony_twilio_simulator::{InboundCall, Simulator, SimulatorConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// // Nothing listens on port 9: the webhook fails (11200) and the call never answers.
    /// let sid = sim
    ///     .start_inbound_call(InboundCall::new("+15550005678", "+15550001234", "http://127.0.0.1:9/voice"))
    ///     .unwrap();
    /// let outcome = sim.wait_for_call(&sid, std::time::Duration::from_secs(20)).await.unwrap();
    /// assert_eq!((outcome.status.as_str(), outcome.error_code()), ("failed", Some(11200)));
    /// # }
    /// ```
    pub fn start_inbound_call(&self, call: InboundCall) -> Result<String, DriveError> {
        self.spawn_inbound_call(call).map(|(sid, _)| sid)
    }

    fn spawn_inbound_call(
        &self,
        call: InboundCall,
    ) -> Result<(String, tokio::task::JoinHandle<()>), DriveError> {
        let url = reqwest::Url::parse(&call.voice_url).map_err(|e| DriveError::InvalidUrl {
            url: call.voice_url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DriveError::InvalidUrl {
                url: call.voice_url.clone(),
                reason: format!("the scheme is {:?}", url.scheme()),
            });
        }
        if call.from.trim().is_empty() || call.to.trim().is_empty() {
            return Err(DriveError::MissingNumber);
        }
        let config = &self.config();
        let sid = new_sid("CA");
        let now = rfc2822(OffsetDateTime::now_utc());
        let resource = CallResource {
            sid: sid.clone(),
            account_sid: Some(config.account_sid.clone()),
            api_version: Some("2010-04-01".into()),
            date_created: Some(now.clone()),
            date_updated: Some(now.clone()),
            direction: Some("inbound".into()),
            from: Some(call.from),
            start_time: Some(now),
            status: Some("ringing".into()),
            to: Some(call.to),
            price_unit: Some("USD".into()),
            uri: Some(format!(
                "/2010-04-01/Accounts/{}/Calls/{sid}.json",
                config.account_sid
            )),
            ..Default::default()
        };
        let meta = CallMeta {
            status_callback: call.status_callback,
            created: Some(std::time::Instant::now()),
            ..Default::default()
        };
        self.lock().calls.insert(resource, meta);
        tracing::info!(call_sid = %sid, url = %redact_url(&call.voice_url), "simulator: inbound call ringing");
        let method = if call.voice_method.eq_ignore_ascii_case("GET") {
            "GET"
        } else {
            "POST"
        };
        let task = tokio::spawn(driver::run(
            self.clone(),
            sid.clone(),
            driver::Instructions::Fetch {
                url: call.voice_url,
                method: method.to_string(),
            },
            call.script,
            false,
            DEFAULT_TIME_LIMIT_SECS,
        ));
        Ok((sid, task))
    }
}

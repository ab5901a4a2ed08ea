//! Derived views: what the server and the CLI read off a loaded config (paths, chunking,
//! the gateway's voice settings, the listener's limits, missing credentials, the redacted
//! JSON that `config check` prints).

use std::path::PathBuf;

use super::{
    ChunkModeName, Config, ForwardSection, ProviderKind, ServeSection, VoiceSection, accounts,
};

impl Config {
    /// True when the active provider's `autoConfigureWebhooks` is on.
    pub fn auto_configure_webhooks(&self) -> bool {
        match self.provider {
            ProviderKind::Twilio => self.twilio.auto_configure_webhooks == Some(true),
            ProviderKind::Telnyx => self.telnyx.auto_configure_webhooks == Some(true),
        }
    }
}

impl Config {
    /// True when a tunnel is configured (a `tunnel` section whose `provider` is not
    /// `"none"`): it makes a loopback listener reachable from the internet.
    pub fn tunnel_configured(&self) -> bool {
        self.tunnel
            .as_ref()
            .is_some_and(|t| t.provider.as_deref() != Some("none"))
    }

    /// The tunnel `telephony serve` starts (`ngrok`, `tailscale-funnel`,
    /// `tailscale-serve`), or `None` (no `tunnel` section, `provider` absent, `static` or
    /// `none`: the public URL is `publicUrl`).
    ///
    /// ```
    /// use telephony::config::Config;
    /// let cfg = Config::from_json5_str("{ tunnel: { provider: 'tailscale-funnel' } }")?;
    /// assert_eq!(cfg.tunnel_provider(), Some("tailscale-funnel"));
    /// let cfg = Config::from_json5_str("{ publicUrl: 'https://gw.example.com', tunnel: { provider: 'static' } }")?;
    /// assert_eq!(cfg.tunnel_provider(), None);
    /// # Ok::<(), telephony::config::ConfigError>(())
    /// ```
    pub fn tunnel_provider(&self) -> Option<&str> {
        self.tunnel
            .as_ref()
            .and_then(|t| t.provider.as_deref())
            .filter(|p| matches!(*p, "ngrok" | "tailscale-funnel" | "tailscale-serve"))
    }

    /// True when forwarding headers may build the signed URL (`trustForwardingHeaders`
    /// with at least one `allowedHosts` entry).
    pub fn trusts_forwarding_headers(&self) -> bool {
        self.webhook_security.trust_forwarding_headers
            && !self.webhook_security.allowed_hosts.is_empty()
    }

    /// The normalized `allowFrom` list (validated when the config was loaded).
    pub fn allow_list(&self) -> telephony_core::AllowList {
        telephony_core::AllowList::parse(&self.allow_from).unwrap_or_default()
    }

    /// Chunking options: `sms.*`, with `textChunkLimit` lowering `sms.maxLength`.
    pub fn chunk_options(&self) -> telephony_core::sms::ChunkOptions {
        use telephony_core::sms::{ChunkMode, ChunkOptions};
        ChunkOptions {
            mode: match self.sms.chunk_mode {
                ChunkModeName::Auto => ChunkMode::Auto,
                ChunkModeName::Single => ChunkMode::Single,
                ChunkModeName::Multi => ChunkMode::Multi,
            },
            max_length: [
                self.text_chunk_limit,
                self.sms.max_length,
                Some(self.provider.limits().max_body_chars()),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(usize::MAX),
            segment_numbering: self.sms.segment_numbering,
        }
    }

    /// The data directory (default `./telephony-data`).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("telephony-data"))
    }

    /// The SQLite database path (default `{dataDir}/telephony.db`; an account's,
    /// `{dataDir}/accounts/{name}/telephony.db`).
    pub fn database_path(&self) -> PathBuf {
        match (&self.store.path, &self.account) {
            (Some(p), _) => p.clone(),
            (None, Some(name)) => accounts::account_store_path(&self.data_dir(), name),
            (None, None) => self.data_dir().join("telephony.db"),
        }
    }

    /// Settings missing for talking to the configured provider (empty when complete).
    pub fn missing_credentials(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.provider == ProviderKind::Telnyx {
            if self.telnyx.api_key.as_ref().is_none_or(|t| t.is_empty()) {
                missing.push("telnyx.apiKey (or TELNYX_API_KEY)");
            }
            if self.telnyx.public_key.as_ref().is_none_or(|k| k.is_empty()) {
                missing.push("telnyx.publicKey (or TELNYX_PUBLIC_KEY)");
            }
            if self.from_number.is_none() && self.telnyx.messaging_profile_id.is_none() {
                missing.push(
                    "fromNumber or telnyx.messagingProfileId (or TELNYX_MESSAGING_PROFILE_ID)",
                );
            }
            return missing;
        }
        if self.twilio.account_sid.is_none() {
            missing.push("twilio.accountSid (or TWILIO_ACCOUNT_SID)");
        }
        if self.twilio.auth_token.as_ref().is_none_or(|t| t.is_empty()) {
            missing.push("twilio.authToken (or TWILIO_AUTH_TOKEN)");
        }
        if self.twilio.api_key_sid.is_some()
            && self
                .twilio
                .api_key_secret
                .as_ref()
                .is_none_or(|s| s.is_empty())
        {
            missing.push("twilio.apiKeySecret (or TWILIO_API_KEY_SECRET)");
        }
        if self.from_number.is_none() && self.twilio.messaging_service_sid.is_none() {
            missing.push(
                "fromNumber (or TWILIO_PHONE_NUMBER) or twilio.messagingServiceSid (or TWILIO_MESSAGING_SERVICE_SID)",
            );
        }
        missing
    }

    /// The config as JSON with every secret replaced by `"[redacted]"`.
    pub fn redacted_json(&self) -> serde_json::Value {
        // Secret's Serialize impl always writes "[redacted]".
        let mut v = serde_json::to_value(self).expect("config serializes");
        if !self.accounts_resolved.is_empty() {
            let accounts: serde_json::Map<String, serde_json::Value> = self
                .accounts_resolved
                .iter()
                .map(|c| {
                    let mut one = serde_json::to_value(c).expect("config serializes");
                    one["account"] = serde_json::Value::from(c.account.clone());
                    one["database"] =
                        serde_json::Value::from(c.database_path().display().to_string());
                    (c.account.clone().unwrap_or_default(), one)
                })
                .collect();
            v["account"] = serde_json::Value::from(self.account.clone());
            v["accounts"] = serde_json::Value::Object(accounts);
        }
        v
    }
}

impl VoiceSection {
    /// `relay` mode's endpoint: `voice.relayUrl`, else `forward.url`.
    pub fn relay_endpoint(&self, forward: Option<&ForwardSection>) -> Option<String> {
        self.relay_url
            .clone()
            .or_else(|| forward.map(|f| f.url.clone()))
    }

    /// The gateway's voice settings, with `maxConcurrentSessions`.
    pub fn settings(&self, max_concurrent_sessions: Option<u32>) -> telephony_serve::VoiceSettings {
        let mut v = telephony_serve::VoiceSettings::default();
        v.enabled = self.enabled.unwrap_or(false);
        if let Some(g) = &self.greeting {
            v = v.greeting(g.clone());
        }
        if let Some(c) = &self.closing {
            v = v.closing(c.clone());
        }
        if let Some(t) = &self.transfer_failed_message {
            v = v.transfer_failed_message(t.clone());
        }
        if let Some(x) = &self.voice {
            v = v.voice(x.clone());
        }
        if let Some(l) = &self.language {
            v = v.language(l.clone());
        }
        if let Some(secs) = self.max_duration_seconds {
            v = v.max_duration((secs > 0).then(|| std::time::Duration::from_secs(secs)));
        }
        if let Some(ms) = self.handler_timeout_ms {
            v = v.handler_timeout(std::time::Duration::from_millis(ms));
        }
        if let Some(n) = max_concurrent_sessions {
            v = v.max_concurrent_sessions(Some(n as usize));
        }
        if let Some(yes) = self.preconnect {
            v = v.preconnect(yes);
        }
        match (self.mode.as_deref(), &self.stream_url) {
            (Some("relay"), _) => v = v.mode(telephony_serve::VoiceMode::Relay),
            (Some("stream"), Some(url)) => v = v.stream_to(url.clone()),
            _ => {}
        }
        if let Some(m) = self
            .on_machine
            .as_deref()
            .and_then(telephony_serve::OnMachine::parse)
        {
            v = v.on_machine(m);
        }
        if let Some(text) = &self.voicemail_message {
            v = v.voicemail_message(text.clone());
        }
        // Validated at load (`voice.recordChannels`).
        let channels = self
            .record_channels
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(v.record_channels);
        v = v.recordings(self.record, channels);
        v
    }
}

impl ServeSection {
    /// The public listener's limits (`serve.headerTimeoutMs` … `serve.maxInFlight`; the
    /// body limit is the gateway's, `serve.maxBodyBytes`).
    pub fn listener_limits(&self) -> crate::listener::ListenerLimits {
        use std::time::Duration;
        crate::listener::ListenerLimits {
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections,
            max_in_flight: self.max_in_flight,
        }
    }
}

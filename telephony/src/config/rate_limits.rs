//! `rateLimits.*`: checked and turned into the gateway's
//! [`RateLimits`](telephony_serve::rate_limit::RateLimits), and `rateLimits.invalidRequests`
//! into the listener's quota.

use telephony_core::PhoneNumber;
use telephony_serve::rate_limit::outbound::slack_burst;
use telephony_serve::rate_limit::{NumberKind, OutboundLimits, Rate, RateLimits};

use super::validation::is_sid;
use super::{Config, ConfigError, RateLimitsSection, RateSpec};

fn rule(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Rule {
        key: key.into(),
        reason: reason.into(),
    }
}

impl RateSpec {
    /// The rate this spec sets; `key` (e.g. `rateLimits.default`) names it in errors, and
    /// `default_burst` gives the burst from the events per second when none is set.
    fn to_rate(
        &self,
        key: &str,
        default_burst: impl Fn(&Rate) -> u32,
    ) -> Result<Rate, ConfigError> {
        let rate =
            match (self.per_second, self.per_minute) {
                (Some(n), None) => Rate::per_second(n)
                    .map_err(|e| rule(format!("{key}.perSecond"), e.to_string()))?,
                (None, Some(n)) => Rate::per_minute(n)
                    .map_err(|e| rule(format!("{key}.perMinute"), e.to_string()))?,
                (Some(_), Some(_)) => {
                    return Err(rule(
                        key,
                        "has both perSecond and perMinute; set exactly one",
                    ));
                }
                (None, None) => return Err(rule(key, "needs perSecond or perMinute")),
            };
        let burst = self.burst.unwrap_or_else(|| default_burst(&rate));
        rate.with_burst(burst)
            .map_err(|e| rule(format!("{key}.burst"), e.to_string()))
    }
}

/// The count per configured period, rounded up: the burst of a limiter on requests when
/// none is set (`{ perMinute: 10 }` lets 10 go at once).
fn own_count(spec: &RateSpec) -> impl Fn(&Rate) -> u32 + '_ {
    move |_| {
        let n = spec.per_second.or(spec.per_minute).unwrap_or(1.0);
        n.ceil().clamp(1.0, u32::MAX as f64) as u32
    }
}

/// A Telnyx messaging profile id: a UUID (8-4-4-4-12 hex digits).
fn is_profile_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The sender a `perNumber` key names, normalized as the provider reports it (E.164
/// numbers without punctuation), or why it names none.
fn sender_key(key: &str) -> Result<String, String> {
    let trimmed = key.trim();
    if NumberKind::recognize(trimmed) == Some(NumberKind::ShortCode) {
        return Ok(trimmed.trim_start_matches('+').to_string());
    }
    if is_sid(trimmed, "MG") || is_profile_id(trimmed) {
        return Ok(trimmed.to_string());
    }
    if trimmed.starts_with('+') {
        return PhoneNumber::parse(trimmed)
            .map(|n| n.to_string())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "{key:?} is not an E.164 number (+15550001234), a 5–6 digit short code, a Messaging \
         Service SID (MG followed by 32 characters) or a Telnyx messaging profile id (a UUID)"
    ))
}

impl RateLimitsSection {
    /// The gateway's rate limits; an error names the key at fault (e.g.
    /// `rateLimits.perNumber."+15550001234".perSecond`).
    ///
    /// ```
    /// use telephony::config::Config;
    /// let cfg = Config::from_json5_str(r#"{ rateLimits: {
    ///     perNumber: { "+18005550100": { perSecond: 10 } },
    ///     inboundPerSender: { perMinute: 5 },
    /// } }"#)?;
    /// let limits = cfg.rate_limits.to_rate_limits()?;
    /// assert_eq!(limits.outbound.rate_for("+18005550100").to_string(), "10/s, burst 1");
    /// assert_eq!(limits.inbound_per_sender.to_string(), "5/min, burst 5");
    /// # Ok::<(), telephony::config::ConfigError>(())
    /// ```
    pub fn to_rate_limits(&self) -> Result<RateLimits, ConfigError> {
        let outbound_burst = |r: &Rate| slack_burst(r.per_second_value());
        let mut outbound = OutboundLimits::default();
        if let Some(spec) = &self.default {
            outbound.default = Some(spec.to_rate("rateLimits.default", outbound_burst)?);
        }
        for (key, spec) in &self.per_number {
            let path = format!("rateLimits.perNumber.{key:?}");
            let sender = sender_key(key).map_err(|reason| rule(&path, reason))?;
            let rate = spec.to_rate(&path, outbound_burst)?;
            if outbound.per_sender.insert(sender.clone(), rate).is_some() {
                return Err(rule(
                    path,
                    format!("names the same sender as another key ({sender})"),
                ));
            }
        }
        if let Some(kind) = &self.number_kind {
            outbound.number_kind = Some(NumberKind::parse(kind).ok_or_else(|| {
                rule(
                    "rateLimits.numberKind",
                    format!("{kind:?} is not one of long-code, toll-free, short-code"),
                )
            })?);
        }
        let mut limits = RateLimits {
            outbound,
            ..RateLimits::default()
        };
        if let Some(spec) = &self.inbound_per_sender {
            limits.inbound_per_sender =
                spec.to_rate("rateLimits.inboundPerSender", own_count(spec))?;
        }
        if let Some(spec) = &self.status_callbacks {
            limits.status_callbacks =
                spec.to_rate("rateLimits.statusCallbacks", own_count(spec))?;
        }
        // rateLimits.invalidRequests is checked and read by the listener's limiter
        // (`Config::invalid_requests_limit`).
        Ok(limits)
    }
}

/// `rateLimits.invalidRequests` as a quota; the default
/// ([`DEFAULT_INVALID_REQUESTS`](telephony_serve::limits::DEFAULT_INVALID_REQUESTS)) when unset.
pub(super) fn invalid_requests_quota(
    limits: &RateLimitsSection,
) -> Result<telephony_serve::limits::Quota, ConfigError> {
    use std::num::NonZeroU32;
    use telephony_serve::limits::Quota;
    const KEY: &str = "rateLimits.invalidRequests";
    let Some(spec) = &limits.invalid_requests else {
        return Ok(telephony_serve::limits::DEFAULT_INVALID_REQUESTS);
    };
    let rule = |key: String, reason: String| ConfigError::Rule { key, reason };
    let (count, period_secs, which) = match (spec.per_second, spec.per_minute) {
        (Some(n), None) => (n, 1.0, "perSecond"),
        (None, Some(n)) => (n, 60.0, "perMinute"),
        _ => {
            return Err(rule(
                KEY.into(),
                "set exactly one of perSecond and perMinute".into(),
            ));
        }
    };
    if !count.is_finite() || count <= 0.0 || count > 1e6 {
        return Err(rule(
            format!("{KEY}.{which}"),
            format!("{count} must be a number above 0 and at most 1000000"),
        ));
    }
    let burst = match spec.burst {
        Some(0) => return Err(rule(format!("{KEY}.burst"), "must be at least 1".into())),
        Some(b) => b,
        // The rate's own count, at least 1.
        None => (count.ceil() as u32).max(1),
    };
    let quota = Quota::with_period(std::time::Duration::from_secs_f64(period_secs / count))
        .ok_or_else(|| {
            rule(
                format!("{KEY}.{which}"),
                format!("{count} is too high a rate"),
            )
        })?;
    Ok(quota.allow_burst(NonZeroU32::new(burst).expect("burst checked above")))
}

impl Config {
    /// `rateLimits.invalidRequests` (validated at load), or its default: 60 a minute per
    /// client IP, bursts of 30.
    pub fn invalid_requests_limit(&self) -> telephony_serve::limits::Quota {
        invalid_requests_quota(&self.rate_limits)
            .unwrap_or(telephony_serve::limits::DEFAULT_INVALID_REQUESTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(json: &str) -> Result<RateLimits, ConfigError> {
        Config::from_json5_str(&format!("{{ rateLimits: {json} }}"))
            .map(|c| c.rate_limits.to_rate_limits().expect("validated at load"))
    }

    fn err(json: &str) -> (String, String) {
        match limits(json) {
            Err(ConfigError::Rule { key, reason }) => (key, reason),
            other => panic!("expected a rule error for {json}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let l = limits("{}").unwrap();
        assert_eq!(l, RateLimits::default());
        let l = limits(
            r#"{ default: { perSecond: 2 }, numberKind: "toll-free",
                 perNumber: { "+1 (555) 000-1234": { perMinute: 30, burst: 3 },
                              "22395": { perSecond: 200 },
                              "MG00000000000000000000000000000001": { perSecond: 4 },
                              "40017f8e-49bd-4f16-9e3d-ef103f916228": { perSecond: 6 } },
                 inboundPerSender: { perMinute: 4.5 },
                 statusCallbacks: { perSecond: 50, burst: 7 } }"#,
        )
        .unwrap();
        let o = &l.outbound;
        assert_eq!(o.rate_for("+15550001234").to_string(), "30/min, burst 3");
        assert_eq!(o.rate_for("22395").to_string(), "200/s, burst 10");
        assert_eq!(
            o.rate_for("MG00000000000000000000000000000001").to_string(),
            "4/s, burst 1"
        );
        assert_eq!(
            o.rate_for("40017f8e-49bd-4f16-9e3d-ef103f916228")
                .to_string(),
            "6/s, burst 1"
        );
        assert_eq!(o.rate_for("+15559999999").to_string(), "2/s, burst 1");
        assert_eq!(o.number_kind, Some(NumberKind::TollFree));
        assert_eq!(l.inbound_per_sender.to_string(), "4.5/min, burst 5");
        assert_eq!(l.status_callbacks.to_string(), "50/s, burst 7");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                r#"{ perNumber: { "+15550001234": { perSecond: 0 } } }"#,
                r#"rateLimits.perNumber."+15550001234".perSecond"#,
                "must be a number greater than 0, not 0",
            ),
            (
                r#"{ perNumber: { "+15550001234": { perSecond: 1, burst: 0 } } }"#,
                r#"rateLimits.perNumber."+15550001234".burst"#,
                "must be at least 1",
            ),
            (
                r#"{ default: { perSecond: 1, perMinute: 60 } }"#,
                "rateLimits.default",
                "has both perSecond and perMinute; set exactly one",
            ),
            (
                r#"{ inboundPerSender: { burst: 3 } }"#,
                "rateLimits.inboundPerSender",
                "needs perSecond or perMinute",
            ),
            (
                r#"{ statusCallbacks: { perMinute: -5 } }"#,
                "rateLimits.statusCallbacks.perMinute",
                "must be a number greater than 0, not -5",
            ),
            (
                r#"{ numberKind: "tollfree" }"#,
                "rateLimits.numberKind",
                r#""tollfree" is not one of long-code, toll-free, short-code"#,
            ),
            (
                r#"{ perNumber: { "+1555000123": { perSecond: 1 }, "+1 555 000 123": { perSecond: 2 } } }"#,
                r#"rateLimits.perNumber."+1555000123""#,
                "names the same sender as another key (+1555000123)",
            ),
        ];
        for (json, key, reason) in cases {
            assert_eq!(err(json), (key.to_string(), reason.to_string()), "{json}");
        }
        let (key, reason) = err(r#"{ perNumber: { "5550001234": { perSecond: 1 } } }"#);
        assert_eq!(key, r#"rateLimits.perNumber."5550001234""#);
        assert!(
            reason.starts_with(r#""5550001234" is not an E.164 number"#),
            "{reason}"
        );
        let (key, reason) = err(r#"{ perNumber: { "+15550001234x": { perSecond: 1 } } }"#);
        assert_eq!(key, r#"rateLimits.perNumber."+15550001234x""#);
        assert!(reason.contains("not a digit"), "{reason}");
    }
}

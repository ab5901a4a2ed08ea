//! A full webhook URL split into the native `publicUrl` (scheme, host and any prefix a
//! proxy strips) and `serve.path`.

use super::mapping::Keys;

/// The native `publicUrl` and `serve.path` for an account.
pub(super) fn split_url(
    url: Option<&str>,
    explicit_path: Option<&str>,
    keys: &Keys,
    key_prefix: &str,
) -> Result<(Option<String>, String), String> {
    if let Some(p) = explicit_path {
        if !p.starts_with('/') {
            return Err(format!(
                "{key_prefix}{}: {p:?} must start with '/'",
                keys.webhook_path.unwrap_or("webhookPath")
            ));
        }
    }
    let Some(url) = url else {
        return Ok((None, explicit_path.unwrap_or(keys.default_path).to_string()));
    };
    let key = format!("{key_prefix}{}", keys.public_url);
    // Twilio sends the query with the request, and never the fragment.
    let bare = url.split(['?', '#']).next().unwrap_or(url);
    let Some(scheme_end) = bare.find("://") else {
        return Err(format!(
            "{key}: {url:?} is not a URL; expected e.g. \"https://gateway.example.com{}\"",
            keys.default_path
        ));
    };
    let authority_end = bare[scheme_end + 3..]
        .find('/')
        .map_or(bare.len(), |i| scheme_end + 3 + i);
    let origin = &bare[..authority_end];
    let url_path = Some(&bare[authority_end..]).filter(|p| !p.is_empty() && *p != "/");
    match (url_path, explicit_path) {
        (Some(up), Some(wp)) if up == wp => Ok((Some(origin.to_string()), wp.to_string())),
        (Some(up), Some(wp)) if up.ends_with(wp) => Ok((
            Some(format!("{origin}{}", &up[..up.len() - wp.len()])),
            wp.to_string(),
        )),
        (Some(up), Some(wp)) => Err(format!(
            "{key}: its path {up:?} does not end with {key_prefix}{} {wp:?}: the gateway checks signatures against the URL the request arrives on, so the public path must be the local path (or end with it, behind a proxy that strips a prefix)",
            keys.webhook_path.unwrap_or("webhookPath")
        )),
        (Some(up), None) => Ok((Some(origin.to_string()), up.to_string())),
        (None, _) if keys.url_needs_path => Err(format!(
            "{key}: {url:?} has no path; expected the full URL Twilio calls, e.g. \"{origin}{}\"",
            explicit_path.unwrap_or(keys.default_path)
        )),
        (None, wp) => Ok((
            Some(origin.to_string()),
            wp.unwrap_or(keys.default_path).to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_urls_split_into_public_url_and_path() {
        let sms = Keys::SMS;
        let kp = "channels.sms.";
        assert_eq!(
            split_url(
                Some("https://gw.example.com/webhooks/sms?x=1#f"),
                None,
                &sms,
                kp
            )
            .unwrap(),
            (
                Some("https://gw.example.com".to_string()),
                "/webhooks/sms".to_string()
            )
        );
        assert_eq!(
            split_url(
                Some("https://gw.example.com/edge/webhooks/sms/support"),
                Some("/webhooks/sms/support"),
                &sms,
                kp
            )
            .unwrap(),
            (
                Some("https://gw.example.com/edge".to_string()),
                "/webhooks/sms/support".to_string()
            )
        );
        assert_eq!(
            split_url(None, None, &sms, kp).unwrap(),
            (None, "/webhooks/sms".to_string())
        );
        assert_eq!(
            split_url(
                Some("https://gw.example.com/api/sms"),
                Some("/webhooks/sms"),
                &sms,
                kp
            )
            .unwrap_err(),
            "channels.sms.publicWebhookUrl: its path \"/api/sms\" does not end with channels.sms.webhookPath \"/webhooks/sms\": the gateway checks signatures against the URL the request arrives on, so the public path must be the local path (or end with it, behind a proxy that strips a prefix)"
        );
        assert_eq!(
            split_url(Some("https://gw.example.com"), None, &sms, kp).unwrap_err(),
            "channels.sms.publicWebhookUrl: \"https://gw.example.com\" has no path; expected the full URL Twilio calls, e.g. \"https://gw.example.com/webhooks/sms\""
        );
        let tw = Keys::TWILIO_SMS;
        assert_eq!(
            split_url(Some("https://sms.example.com"), None, &tw, "x.").unwrap(),
            (
                Some("https://sms.example.com".to_string()),
                "/twilio-sms/webhook".to_string()
            )
        );
    }
}

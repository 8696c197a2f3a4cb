//! The optional chat alert: one Slack-compatible message (`{"text": …}`, which Slack, Mattermost,
//! Teams workflows and most chat webhooks accept) per run that found new problems.

use std::time::Duration;

use super::Problem;

/// Lines listed in one message; the rest are counted, and all of them are in the logs.
const MAX_LINES: usize = 20;

/// Posts alerts to an incoming-webhook URL. The URL is a secret (it carries the token), so it is
/// never logged, shown in errors or Debug output.
pub struct Webhook {
    client: reqwest::Client,
    url: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &"<redacted>")
            .finish()
    }
}

/// Where the webhook URL comes from at run time (a Secrets Manager secret when deployed).
pub trait WebhookUrlSource: Send + Sync {
    /// The URL; an error names what failed, never the value.
    fn load(&self) -> impl std::future::Future<Output = Result<String, String>> + Send;
}

/// A URL known up front (tests, local runs).
pub struct FixedWebhookUrl(pub String);

impl WebhookUrlSource for FixedWebhookUrl {
    async fn load(&self) -> Result<String, String> {
        Ok(self.0.clone())
    }
}

impl Webhook {
    /// Refuses anything but `https`, the token would travel in clear; plain `http` only to a
    /// loopback address (a local chat stand-in). The error never echoes the URL.
    pub fn new(url: impl Into<String>) -> Result<Webhook, String> {
        let url = url.into();
        let parsed =
            url::Url::parse(url.trim()).map_err(|_| "the alert webhook is not a URL".to_owned())?;
        let loopback = matches!(
            parsed.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        ) || parsed.host_str() == Some("localhost");
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err("the alert webhook must be an https URL".to_owned()),
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(snowflake::user_agent())
            .build()
            .expect("an HTTP client with default TLS settings");
        Ok(Webhook {
            client,
            url: parsed.to_string(),
        })
    }

    /// Posts `text`; the error says what went wrong without the URL.
    pub async fn post(&self, text: &str) -> Result<(), String> {
        let response = self
            .client
            .post(&self.url)
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .map_err(|e| {
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                format!("alert webhook {kind}")
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("alert webhook answered HTTP {}", status.as_u16()))
        }
    }
}

/// A short human summary of a run's new problems.
pub fn alert_text(pipeline: &str, problems: &[Problem]) -> String {
    let mut text = format!(
        ":rotating_light: {pipeline}: {} new problem{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for problem in problems.iter().take(MAX_LINES) {
        text.push_str("\n• ");
        text.push_str(&problem.summary());
    }
    if problems.len() > MAX_LINES {
        text.push_str(&format!(
            "\n… and {} more (see the monitor's logs)",
            problems.len() - MAX_LINES
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "https://hooks.example/services/T0/B0/secret-token";

    #[test]
    fn debug_output_holds_no_webhook_url() {
        let shown = format!("{:?}", Webhook::new(SECRET).unwrap());
        assert!(!shown.contains("secret-token"), "{shown}");
    }

    #[test]
    fn a_plain_http_webhook_is_refused_without_echoing_it() {
        let err = Webhook::new("http://hooks.example/services/secret-token").unwrap_err();
        assert_eq!(err, "the alert webhook must be an https URL");
        let err = Webhook::new("hooks.example/secret-token").unwrap_err();
        assert!(!err.contains("secret-token"), "{err}");
        assert!(Webhook::new("http://127.0.0.1:9/services/x").is_ok());
    }
}

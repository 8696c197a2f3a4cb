//! The optional chat alert: one Slack-compatible message (`{"text": …}`, which Slack, Mattermost,
//! Teams workflows and most chat webhooks accept) per run that found new problems.

use std::time::Duration;

use super::Problem;

/// Lines listed in one message; the rest are counted, and all of them are in the logs.
const MAX_LINES: usize = 20;

/// Posts alerts to an incoming-webhook URL. The URL is a secret (it carries the token), so it is
/// never logged or shown in errors.
pub struct Webhook {
    client: reqwest::Client,
    url: String,
}

impl Webhook {
    pub fn new(url: impl Into<String>) -> Webhook {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(snowflake::user_agent())
            .build()
            .expect("an HTTP client with default TLS settings");
        Webhook {
            client,
            url: url.into(),
        }
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

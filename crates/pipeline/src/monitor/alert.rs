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
        if !snowflake::is_https_or_loopback(&parsed) {
            return Err("the alert webhook must be an https URL".to_owned());
        }
        // No redirects: a URL that passed the https check must not bounce the alert to plain
        // http or to an internal address (reqwest follows up to 10 by default,
        // https://docs.rs/reqwest/latest/reqwest/redirect/index.html).
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
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
        text.push_str(&problem.alert_line());
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

    #[test]
    fn alert_text_quotes_no_row_values_from_snowflake_errors() {
        let problems = [
            Problem::LoadFailed {
                file: "customer_1.csv".into(),
                status: "LOAD_FAILED".into(),
                first_error: Some("Timestamp 'ann@x.io' is not recognized".into()),
                rows_loaded: Some(0),
                errors: Some(1),
                last_load_time: "2026-12-06T00:00:00Z".into(),
            },
            Problem::TaskFailed {
                task: "TSK_SCD_RAW".into(),
                state: "FAILED".into(),
                query_id: None,
                error_code: Some("100038".into()),
                error_message: Some("Numeric value 'Ann Lee' is not recognized".into()),
                scheduled_time: "2026-12-06T00:00:00Z".into(),
            },
        ];
        let text = alert_text("pipeline", &problems);
        assert!(
            !text.contains("ann@x.io") && !text.contains("Ann Lee"),
            "{text}"
        );
        assert!(text.contains("customer_1.csv LOAD_FAILED"), "{text}");
        assert!(text.contains("error 100038"), "{text}");
    }

    #[tokio::test]
    async fn a_redirect_from_the_webhook_is_not_followed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let seen = String::from_utf8_lossy(&buf[..n])
                            .matches(" HTTP/1.1\r\n")
                            .count();
                        for _ in 0..seen {
                            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let answer = "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n";
                            if socket.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        let webhook = Webhook::new(format!("http://127.0.0.1:{port}/hook")).unwrap();
        let err = webhook.post("text").await.unwrap_err();
        assert_eq!(err, "alert webhook answered HTTP 302");
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}

//! A scripted Snowflake HTTP fake (Snowpipe REST, SQL API): records every request and answers
//! from a script (status codes, slow answers, dropped connections), then with a Snowpipe
//! `SUCCESS`. For client and handler tests; the full Snowflake stand-in (loads, history, SQL)
//! is a separate piece.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The answer Snowpipe gives a queued insertFiles request.
pub const SUCCESS: &str = r#"{"requestId":"fake","responseCode":"SUCCESS"}"#;

/// What the fake does with the next request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, String),
    /// Answers `SUCCESS` after a pause.
    Slow(Duration),
    /// Closes the connection without answering.
    Reset,
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Status(status, body.to_owned())
    }
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Seen {
    /// A query parameter's raw value.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

/// The running fake. Dropping it stops the server.
pub struct SnowflakeFake {
    base_url: String,
    script: Arc<Script>,
    server: JoinHandle<()>,
}

impl SnowflakeFake {
    pub async fn start(replies: Vec<Reply>) -> std::io::Result<SnowflakeFake> {
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            seen: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = script.clone();
        let service = hyper::service::service_fn(move |req| answer(shared.clone(), req));
        let server = crate::http::serve(listener, service, "Snowpipe fake");
        Ok(SnowflakeFake {
            base_url,
            script,
            server,
        })
    }

    /// `http://127.0.0.1:<port>`: the client's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().expect("not poisoned").clone()
    }

    /// Appends replies to the script.
    pub fn then(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script
            .replies
            .lock()
            .expect("not poisoned")
            .extend(replies);
    }
}

impl Drop for SnowflakeFake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    script: Arc<Script>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    script.seen.lock().expect("not poisoned").push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        at: Instant::now(),
    });
    let reply = script.replies.lock().expect("not poisoned").pop_front();
    let (status, text) = match reply.unwrap_or_else(|| Reply::status(200, SUCCESS)) {
        Reply::Status(status, text) => (status, text),
        Reply::Slow(pause) => {
            tokio::time::sleep(pause).await;
            (200, SUCCESS.to_owned())
        }
        Reply::Reset => return Err(std::io::Error::other("connection dropped by the fake")),
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    Ok(response)
}

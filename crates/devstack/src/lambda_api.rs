//! Lambda Runtime API stand-in: hands events to a function binary the way the Lambda service
//! does (long-polled `GET …/invocation/next`, then `POST …/{id}/response` or `…/{id}/error`), so
//! a function's real `main` (runtime, JSON logs, EMF metrics) runs locally and in tests.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

const PREFIX: &str = "/2018-06-01/runtime";

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function's response body.
    Response(Bytes),
    /// The function reported an error (its JSON error body).
    Error(Bytes),
    /// The function reported an initialisation error and will not take events.
    InitError(Bytes),
    /// No answer within the invocation's timeout.
    TimedOut,
}

struct Pending {
    request_id: String,
    body: Bytes,
    deadline_ms: u128,
}

struct State {
    queue: Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: std::sync::Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: std::sync::Mutex<Option<Bytes>>,
    /// How many times the function asked for its next event.
    polls: tokio::sync::watch::Sender<u64>,
}

/// The running stand-in. Dropping it stops the server.
pub struct RuntimeApiStandIn {
    addr: SocketAddr,
    state: Arc<State>,
    queue: mpsc::UnboundedSender<Pending>,
    next_id: AtomicU64,
    server: JoinHandle<()>,
}

impl RuntimeApiStandIn {
    pub async fn start() -> io::Result<RuntimeApiStandIn> {
        let (queue, rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            queue: Mutex::new(rx),
            waiting: std::sync::Mutex::new(HashMap::new()),
            init_error: std::sync::Mutex::new(None),
            polls: tokio::sync::watch::Sender::new(0),
        });
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server_state = state.clone();
        let service = hyper::service::service_fn(move |req| route(server_state.clone(), req));
        let server = crate::http::serve(listener, service, "runtime API stand-in");
        Ok(RuntimeApiStandIn {
            addr,
            state,
            queue,
            next_id: AtomicU64::new(1),
            server,
        })
    }

    /// The variables the Lambda service sets for a function process (`AWS_LAMBDA_RUNTIME_API`
    /// pointing here, the function's name, memory and version).
    pub fn function_env(&self, function_name: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", function_name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_owned()),
        ]
    }

    /// Queues `event` for the function and waits for its answer, at most `timeout`.
    /// Returns the request id it was given and the outcome.
    pub async fn invoke(&self, event: impl Into<Bytes>, timeout: Duration) -> (String, Outcome) {
        let request_id = format!(
            "00000000-0000-4000-8000-{:012x}",
            self.next_id.fetch_add(1, Ordering::SeqCst)
        );
        let (tx, rx) = oneshot::channel();
        self.state
            .waiting
            .lock()
            .expect("not poisoned")
            .insert(request_id.clone(), tx);
        let deadline_ms = (SystemTime::now() + timeout)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let pending = Pending {
            request_id: request_id.clone(),
            body: event.into(),
            deadline_ms,
        };
        if self.queue.send(pending).is_err() {
            return (request_id, Outcome::TimedOut);
        }
        let outcome = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => match self.state.init_error.lock().expect("not poisoned").clone() {
                Some(body) => Outcome::InitError(body),
                None => Outcome::TimedOut,
            },
        };
        (request_id, outcome)
    }
}

impl RuntimeApiStandIn {
    /// Waits until the function has finished everything it was given and asks for more, the
    /// point where Lambda freezes it (work after the response, such as the metrics flush, is
    /// done by then).
    pub async fn until_idle(&self, timeout: Duration) -> bool {
        let invoked = self.next_id.load(Ordering::SeqCst) - 1;
        let mut polls = self.state.polls.subscribe();
        tokio::time::timeout(timeout, polls.wait_for(|n| *n > invoked))
            .await
            .is_ok()
    }
}

impl RuntimeApiStandIn {
    /// A command running a function binary as Lambda would, against this stand-in and `s3`:
    /// only the runtime's variables, the S3 endpoint and credentials, JSON logs; stdout piped.
    /// Add the function's own configuration with `.env(…)`.
    pub fn function_command(
        &self,
        binary: &str,
        function_name: &str,
        s3: &crate::S3StandIn,
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env_clear()
            .envs(self.function_env(function_name))
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_ENDPOINT_URL", s3.endpoint())
            .env("AWS_ACCESS_KEY_ID", crate::s3::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", crate::s3::SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }
}

/// Stops a function process and returns what it printed, one JSON value per line (panics on a
/// line that is not JSON: with JSON logging every line must be).
pub async fn stop_and_read_json_lines(mut child: tokio::process::Child) -> Vec<serde_json::Value> {
    use tokio::io::AsyncReadExt;
    let _ = child.start_kill();
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out).await;
    }
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

impl Drop for RuntimeApiStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn route(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(reply(StatusCode::NOT_FOUND, Bytes::new()));
    };
    if method == Method::GET && rest == "/invocation/next" {
        state.polls.send_modify(|n| *n += 1);
        let next = state.queue.lock().await.recv().await;
        let Some(pending) = next else {
            // No more events will come: hold the poll open, as Lambda freezes an idle
            // function, rather than answer without the headers the runtime requires.
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes");
        };
        let mut response = reply(StatusCode::OK, pending.body);
        let headers = response.headers_mut();
        let value = |v: String| v.parse().expect("valid header value");
        headers.insert("lambda-runtime-aws-request-id", value(pending.request_id));
        headers.insert(
            "lambda-runtime-deadline-ms",
            value(pending.deadline_ms.to_string()),
        );
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            value("arn:aws:lambda:us-east-1:000000000000:function:local".into()),
        );
        headers.insert(
            "lambda-runtime-trace-id",
            value("Root=1-00000000-000000000000000000000000".into()),
        );
        return Ok(response);
    }
    if method != Method::POST {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, Bytes::new()));
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if rest == "/init/error" {
        *state.init_error.lock().expect("not poisoned") = Some(body);
        return Ok(reply(StatusCode::ACCEPTED, Bytes::new()));
    }
    let answer = rest
        .strip_prefix("/invocation/")
        .and_then(|r| r.rsplit_once('/'))
        .and_then(|(id, kind)| match kind {
            "response" => Some((id.to_owned(), Outcome::Response(body.clone()))),
            "error" => Some((id.to_owned(), Outcome::Error(body.clone()))),
            _ => None,
        });
    let Some((request_id, outcome)) = answer else {
        return Ok(reply(StatusCode::NOT_FOUND, Bytes::new()));
    };
    if let Some(tx) = state
        .waiting
        .lock()
        .expect("not poisoned")
        .remove(&request_id)
    {
        let _ = tx.send(outcome);
    }
    Ok(reply(StatusCode::ACCEPTED, Bytes::new()))
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

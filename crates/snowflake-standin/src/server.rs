//! The HTTP face: Snowpipe REST (`/v1/data/pipes/{pipe}/insertFiles|insertReport|
//! loadHistoryScan`) and SQL API v2 (`/api/v2/statements`, polling, cancel), with Snowflake's
//! status codes and bodies (reference §2, §3). Every request must carry a JWT the registered
//! keys accept.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::{Fault, Shared, auth, statements};

type Reply = Response<Full<Bytes>>;

pub(crate) fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(shared, req).await) }
    });
    devstack::http::serve(listener, service, "Snowflake stand-in")
}

fn reply(status: StatusCode, body: Value) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}

fn snowpipe_error(status: StatusCode, code: &str, message: &str) -> Reply {
    reply(
        status,
        json!({"data": null, "code": code, "message": message, "success": false, "headers": null}),
    )
}

async fn answer(shared: Arc<Shared>, req: Request<Incoming>) -> Reply {
    let now = Utc::now();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let users = shared.users.lock().expect("not poisoned").clone();
    let subject = match auth::verify(authorization.as_deref(), &users, now.timestamp()) {
        Ok(subject) => subject,
        Err(why) => {
            tracing::info!(%why, "stand-in refused a JWT");
            let body: Value = serde_json::from_str(&auth::refused_body()).expect("valid JSON");
            return reply(StatusCode::UNAUTHORIZED, body);
        }
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return snowpipe_error(StatusCode::BAD_REQUEST, "400", "unreadable body"),
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (_, ["v1", "data", "pipes", pipe, operation]) => {
            let fault = shared.faults.lock().expect("not poisoned").pop_front();
            if let Some(fault) = fault {
                match fault {
                    Fault::Status(status) => {
                        let status =
                            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                        return snowpipe_error(
                            status,
                            &status.as_u16().to_string(),
                            "injected fault",
                        );
                    }
                    Fault::Slow(pause) => tokio::time::sleep(pause).await,
                }
            }
            snowpipe(&shared, pipe, operation, &method, &query, &body, now)
        }
        (&Method::POST, ["api", "v2", "statements"]) => {
            statement(shared, &body, &query, &subject).await
        }
        (&Method::GET, ["api", "v2", "statements", handle]) => {
            match shared.results.lock().expect("not poisoned").get(*handle) {
                Some(result) => reply(StatusCode::OK, result.clone()),
                None => reply(
                    StatusCode::NOT_FOUND,
                    json!({"code": "000709", "message": format!("Statement {handle} not found")}),
                ),
            }
        }
        (&Method::POST, ["api", "v2", "statements", handle, "cancel"]) => reply(
            StatusCode::OK,
            json!({"code": "000604", "message": "Statement executed successfully.", "statementHandle": handle}),
        ),
        _ => snowpipe_error(StatusCode::NOT_FOUND, "404", "unknown endpoint"),
    }
}

fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn snowpipe(
    shared: &Shared,
    pipe_name: &str,
    operation: &str,
    method: &Method,
    query: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Reply {
    let request_id = query_value(query, "requestId").unwrap_or("none").to_owned();
    let mut pipe = shared.pipe.lock().expect("not poisoned");
    if !pipe_name.eq_ignore_ascii_case(&pipe.name) {
        return snowpipe_error(
            StatusCode::NOT_FOUND,
            "390404",
            &format!(
                "Specified object does not exist or not authorized. Pipe not found: {pipe_name}"
            ),
        );
    }
    match (method, operation) {
        (&Method::POST, "insertFiles") => {
            let Ok(request) = serde_json::from_slice::<Value>(body) else {
                return snowpipe_error(StatusCode::BAD_REQUEST, "400", "the body is not JSON");
            };
            let Some(files) = request["files"].as_array() else {
                return snowpipe_error(StatusCode::BAD_REQUEST, "400", "no files array");
            };
            if files.len() > 5000 {
                return snowpipe_error(
                    StatusCode::BAD_REQUEST,
                    "400",
                    "more than 5000 files in one request",
                );
            }
            let paths: Option<Vec<String>> = files
                .iter()
                .map(|f| f["path"].as_str().map(str::to_owned))
                .collect();
            let Some(paths) = paths else {
                return snowpipe_error(StatusCode::BAD_REQUEST, "400", "a file has no path");
            };
            let skipped = pipe.insert_files(&paths, now);
            let mut answer = json!({"requestId": request_id, "responseCode": "SUCCESS"});
            if query_value(query, "showSkippedFiles") == Some("true") {
                answer["skippedFiles"] = json!(
                    skipped
                        .iter()
                        .map(|p| json!({"path": p}))
                        .collect::<Vec<_>>()
                );
            }
            reply(StatusCode::OK, answer)
        }
        (&Method::GET, "insertReport") => reply(
            StatusCode::OK,
            json!({
                "pipe": pipe.name,
                "completeResult": true,
                "nextBeginMark": format!("1_{}", now.timestamp()),
                "files": pipe.recent_events(now),
                "statistics": {"activeFiles": pipe.pending()},
            }),
        ),
        (&Method::GET, "loadHistoryScan") => {
            let parse = |name| {
                query_value(query, name)
                    .map(|v| v.replace("%3A", ":"))
                    .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
                    .map(|t| t.to_utc())
            };
            let Some(start) = parse("startTimeInclusive") else {
                return snowpipe_error(
                    StatusCode::BAD_REQUEST,
                    "400",
                    "startTimeInclusive is required",
                );
            };
            let end = parse("endTimeExclusive").unwrap_or(now).min(now);
            reply(
                StatusCode::OK,
                json!({
                    "pipe": pipe.name,
                    "completeResult": true,
                    "startTimeInclusive": start.to_rfc3339(),
                    "endTimeExclusive": end.to_rfc3339(),
                    "files": pipe.events_between(start, end),
                }),
            )
        }
        _ => snowpipe_error(StatusCode::NOT_FOUND, "404", "unknown Snowpipe operation"),
    }
}

/// `subject` is the JWT's `ACCOUNT.USER`.
async fn statement(shared: Arc<Shared>, body: &[u8], query: &str, subject: &str) -> Reply {
    let request_id = query_value(query, "requestId").unwrap_or("none").to_owned();
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"code": "391903", "message": "Unable to parse the request body."}),
        );
    };
    let Some(sql) = request["statement"].as_str().map(str::to_owned) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"code": "391904", "message": "statement is required."}),
        );
    };
    let handle = uuid::Uuid::new_v4().to_string();
    let bindings = request["bindings"].clone();
    let text = |field: &str| request[field].as_str().map(str::to_ascii_uppercase);
    let session = statements::Session {
        user: subject.split_once('.').map(|(_, user)| user.to_owned()),
        role: text("role"),
        warehouse: text("warehouse"),
        database: text("database"),
        schema: text("schema"),
    };
    let worker = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        worker.refresh_catalog()?;
        statements::execute_as(&worker.engine, &sql, &bindings, &session)
    })
    .await
    .expect("statement worker");
    match result {
        Ok(table) => {
            let row_type: Vec<Value> = table
                .columns
                .iter()
                .map(|(name, kind, scale)| {
                    json!({"name": name, "type": kind, "scale": scale, "precision": 38, "nullable": true, "length": null, "byteLength": null})
                })
                .collect();
            let answer = json!({
                "resultSetMetaData": {
                    "numRows": table.rows.len(),
                    "format": "jsonv2",
                    "partitionInfo": [{"rowCount": table.rows.len(), "uncompressedSize": 0}],
                    "rowType": row_type,
                },
                "data": table.rows,
                "code": "090001",
                "statementStatusUrl": format!("/api/v2/statements/{handle}?requestId={request_id}"),
                "requestId": request_id,
                "sqlState": "00000",
                "statementHandle": handle,
                "message": "Statement executed successfully.",
                "createdOn": Utc::now().timestamp_millis(),
            });
            shared
                .results
                .lock()
                .expect("not poisoned")
                .insert(handle, answer.clone());
            reply(StatusCode::OK, answer)
        }
        Err(err) => reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "code": err.code,
                "message": err.message,
                "sqlState": err.sql_state,
                "statementHandle": handle,
            }),
        ),
    }
}

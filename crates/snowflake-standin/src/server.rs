//! The HTTP face: Snowpipe REST (`/v1/data/pipes/{pipe}/insertFiles|insertReport|
//! loadHistoryScan`, https://docs.snowflake.com/en/user-guide/data-load-snowpipe-rest-apis) and
//! SQL API v2 (`/api/v2/statements`, polling, cancel,
//! https://docs.snowflake.com/en/developer-guide/sql-api/reference), with Snowflake's status codes
//! and bodies. Every request runs as the user its JWT authenticates, with that user's role.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::catalog::Kind;
use crate::error::SqlError;
use crate::session::Session;
use crate::{Fault, Pipe, Shared, access, auth, statements};

type Reply = Response<Full<Bytes>>;

/// A SQL API statement by handle: still running (with its cancel flag), or answered.
pub(crate) enum Statement {
    Running {
        cancelled: Arc<AtomicBool>,
        status_url: String,
    },
    Done(StatusCode, Value),
}

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
    let verified = {
        let catalog = shared.engine.catalog();
        auth::verify(
            authorization.as_deref(),
            &shared.options.account.name,
            &catalog,
            now.timestamp(),
        )
    };
    let user = match verified {
        Ok(user) => user,
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
            let pipe = percent_decode(pipe);
            snowpipe(
                &shared, &user, &pipe, operation, &method, &query, &body, now,
            )
        }
        (&Method::POST, ["api", "v2", "statements"]) => submit(shared, &body, &query, &user).await,
        (&Method::GET, ["api", "v2", "statements", handle]) => status_of(&shared, handle),
        (&Method::POST, ["api", "v2", "statements", handle, "cancel"]) => cancel(&shared, handle),
        _ => snowpipe_error(StatusCode::NOT_FOUND, "404", "unknown endpoint"),
    }
}

fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn percent_decode(text: &str) -> String {
    text.replace("%22", "\"")
        .replace("%2E", ".")
        .replace("%2e", ".")
}

/// A Snowpipe request, authorised for the user's default role: Snowpipe REST has no role
/// parameter, and Snowflake recommends a user whose default role holds the pipe privileges
/// (https://docs.snowflake.com/en/user-guide/data-load-snowpipe-rest-gs). The pipe name is
/// "Case-sensitive, fully qualified" (…/data-load-snowpipe-rest-apis).
#[allow(clippy::too_many_arguments)]
fn snowpipe(
    shared: &Shared,
    user: &str,
    pipe_name: &str,
    operation: &str,
    method: &Method,
    query: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Reply {
    let request_id = query_value(query, "requestId").unwrap_or("none").to_owned();
    let not_found = || {
        snowpipe_error(
            StatusCode::NOT_FOUND,
            "390404",
            &format!(
                "Specified object does not exist or not authorized. Pipe not found: {pipe_name}"
            ),
        )
    };
    if let Err(why) = snowpipe_allowed(shared, user, pipe_name, operation) {
        tracing::info!(user, pipe = pipe_name, operation, %why, "stand-in refused a Snowpipe call");
        return not_found();
    }
    let mut pipes = shared.pipes.lock().expect("not poisoned");
    let Some(pipe) = pipes.get_mut(pipe_name) else {
        return not_found();
    };
    match (method, operation) {
        (&Method::POST, "insertFiles") => insert_files(pipe, body, query, request_id, now),
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
        (&Method::GET, "loadHistoryScan") => load_history_scan(pipe, query, now),
        _ => snowpipe_error(StatusCode::NOT_FOUND, "404", "unknown Snowpipe operation"),
    }
}

/// Whether the user's default role may make this Snowpipe call on the pipe; why not, if not.
fn snowpipe_allowed(
    shared: &Shared,
    user: &str,
    pipe_name: &str,
    operation: &str,
) -> Result<(), String> {
    let catalog = shared.engine.catalog();
    let role = access::session_role(&catalog, user, None).map_err(|e| e.message);
    match (catalog.get(Kind::Pipe, pipe_name), role) {
        (Some(pipe), Ok(role)) => access::may_call_snowpipe(&catalog, &role, pipe, operation)
            .map_err(|why| format!("role {role}: {why}")),
        (None, _) => Err("no such pipe (names are case-sensitive)".into()),
        (_, Err(why)) => Err(why),
    }
}

/// insertFiles: at most 5,000 files, each with a path; paths loaded within 14 days are skipped
/// (and listed with `showSkippedFiles=true`).
fn insert_files(
    pipe: &mut Pipe,
    body: &[u8],
    query: &str,
    request_id: String,
    now: DateTime<Utc>,
) -> Reply {
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

/// loadHistoryScan: the pipe's load events from `startTimeInclusive` (required) to
/// `endTimeExclusive` (default now).
fn load_history_scan(pipe: &Pipe, query: &str, now: DateTime<Utc>) -> Reply {
    let parse = |name| {
        query_value(query, name)
            .map(|v| v.replace("%3A", ":").replace("%2B", "+"))
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
    let files = pipe.events_between(start, end);
    // "rangeStartTime … of the oldest entry in the files included in the response",
    // "rangeEndTime … of the latest entry".
    let range = |pick: fn(&[crate::LoadRecord]) -> Option<&crate::LoadRecord>| {
        pick(&files).map(|f| f.last_insert_time.clone())
    };
    reply(
        StatusCode::OK,
        json!({
            "pipe": pipe.name,
            "completeResult": true,
            "startTimeInclusive": start.to_rfc3339(),
            "endTimeExclusive": end.to_rfc3339(),
            "rangeStartTime": range(|f| f.first()),
            "rangeEndTime": range(|f| f.last()),
            "files": files,
        }),
    )
}

/// POST /api/v2/statements: runs the statement as the user, with the request's role (or the
/// user's default), warehouse, database and schema. "The value in this field is case-sensitive.
/// If you omit this field, the SQL API uses the value of the DEFAULT_ROLE property of the user"
/// (https://docs.snowflake.com/en/developer-guide/sql-api/reference). A statement still running
/// after `async_after` answers 202 with code 333334 and is polled
/// (…/sql-api/handling-responses).
async fn submit(shared: Arc<Shared>, body: &[u8], query: &str, user: &str) -> Reply {
    let request_id = query_value(query, "requestId").unwrap_or("none").to_owned();
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"code": "390142", "message": "Incoming request does not contain a valid payload."}),
        );
    };
    let Some(sql) = request["statement"].as_str().map(str::to_owned) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"code": "390142", "message": "Incoming request does not contain a valid payload."}),
        );
    };
    let handle = uuid::Uuid::new_v4().to_string();
    let status_url = format!("/api/v2/statements/{handle}?requestId={request_id}");
    let cancelled = Arc::new(AtomicBool::new(false));
    shared.statements.lock().expect("not poisoned").insert(
        handle.clone(),
        Statement::Running {
            cancelled: cancelled.clone(),
            status_url: status_url.clone(),
        },
    );
    let bindings = request["bindings"].clone();
    let field = |name: &str| request[name].as_str().map(str::to_owned);
    let (role, warehouse, database, schema) = (
        field("role"),
        field("warehouse"),
        field("database"),
        field("schema"),
    );
    let worker = shared.clone();
    let user = user.to_owned();
    let job_handle = handle.clone();
    let job = tokio::task::spawn_blocking(move || {
        let result = (|| {
            // Cancelled while waiting for the warehouse: never runs.
            if cancelled.load(Ordering::SeqCst) {
                return Err(SqlError::cancelled());
            }
            let mut session = Session::open(
                &worker.engine.catalog(),
                &user,
                role.as_deref(),
                warehouse.as_deref(),
                database.as_deref(),
                schema.as_deref(),
            )?;
            worker.refresh_pipe_status()?;
            let result = statements::run(&worker.engine, &mut session, &sql, &bindings);
            worker.sync_pipes().map_err(SqlError::execution)?;
            result
        })();
        let answered = answer_for(result, &job_handle, &request_id, &status_url);
        let mut statements = worker.statements.lock().expect("not poisoned");
        if !cancelled.load(Ordering::SeqCst) {
            statements.insert(job_handle, Statement::Done(answered.0, answered.1));
        }
    });
    let after = shared.options.async_after;
    let _ = tokio::time::timeout(after, job).await;
    status_of(&shared, &handle)
}

fn answer_for(
    result: Result<statements::ResultTable, SqlError>,
    handle: &str,
    request_id: &str,
    status_url: &str,
) -> (StatusCode, Value) {
    match result {
        Ok(table) => {
            let row_type: Vec<Value> = table
                .columns
                .iter()
                .map(|(name, kind, scale)| {
                    json!({"name": name, "type": kind, "scale": scale, "precision": 38, "nullable": true, "length": null, "byteLength": null})
                })
                .collect();
            (
                StatusCode::OK,
                json!({
                    "resultSetMetaData": {
                        "numRows": table.rows.len(),
                        "format": "jsonv2",
                        "partitionInfo": [{"rowCount": table.rows.len(), "uncompressedSize": 0}],
                        "rowType": row_type,
                    },
                    "data": table.rows,
                    "code": "090001",
                    "statementStatusUrl": status_url,
                    "requestId": request_id,
                    "sqlState": "00000",
                    "statementHandle": handle,
                    "message": "Statement executed successfully.",
                    "createdOn": Utc::now().timestamp_millis(),
                }),
            )
        }
        Err(err) => (
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

/// GET /api/v2/statements/{handle}: 202 while running, then the answer. An unknown handle is
/// answered as the cancel endpoint documents it: 422, code 000709 (unverified for GET,
/// docs/stand-ins.md).
fn status_of(shared: &Shared, handle: &str) -> Reply {
    match shared.statements.lock().expect("not poisoned").get(handle) {
        Some(Statement::Running { status_url, .. }) => reply(
            StatusCode::ACCEPTED,
            json!({
                "code": "333334",
                "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
                "statementHandle": handle,
                "statementStatusUrl": status_url,
            }),
        ),
        Some(Statement::Done(status, body)) => reply(*status, body.clone()),
        None => unknown_handle(handle),
    }
}

fn unknown_handle(handle: &str) -> Reply {
    reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"code": "000709", "message": format!("Statement {handle} not found"), "sqlState": "02000", "statementHandle": handle}),
    )
}

/// POST …/cancel: a statement not yet answered is cancelled: one still waiting never runs, one
/// already executing runs to its end but its answer is the cancel error (the stand-in does not
/// interrupt DuckDB); 200 with code 000604 as the reference shows it.
fn cancel(shared: &Shared, handle: &str) -> Reply {
    let mut statements = shared.statements.lock().expect("not poisoned");
    let status_url = match statements.get(handle) {
        None => return unknown_handle(handle),
        Some(Statement::Running {
            cancelled,
            status_url,
        }) => {
            cancelled.store(true, Ordering::SeqCst);
            status_url.clone()
        }
        Some(Statement::Done(..)) => {
            // Finished already: nothing to cancel, the answer stays.
            return reply(
                StatusCode::OK,
                json!({"code": "000604", "sqlState": "57014", "message": "SQL execution canceled", "statementHandle": handle}),
            );
        }
    };
    let err = SqlError::cancelled();
    statements.insert(
        handle.to_owned(),
        Statement::Done(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"code": err.code, "message": err.message, "sqlState": err.sql_state, "statementHandle": handle}),
        ),
    );
    reply(
        StatusCode::OK,
        json!({"code": "000604", "sqlState": "57014", "message": "SQL execution canceled", "statementHandle": handle, "statementStatusUrl": status_url}),
    )
}

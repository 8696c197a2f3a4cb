//! Snowpipe REST (reference §2): `insertFiles`, `insertReport`, `loadHistoryScan` for one pipe.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::client::{Call, SnowflakeClient};
use crate::error::SnowflakeError;

/// Snowpipe's limits for one insertFiles request.
pub const MAX_FILES_PER_REQUEST: usize = 5_000;
pub const MAX_PATH_BYTES: usize = 1_024;

/// A file to load: its path relative to the pipe's stage, and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StagedFile {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The answer to one insertFiles request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InsertFilesResponse {
    pub request_id: String,
    pub response_code: Option<String>,
    /// The docs' spelling of success (`"success"`); the SDKs read `responseCode`.
    pub status: Option<String>,
    /// Paths the pipe already loaded (asked for with `showSkippedFiles=true`).
    pub skipped_files: Vec<SkippedFile>,
    /// Paths outside the pipe's PATTERN: they will never load.
    pub unmatched_pattern_files: Vec<SkippedFile>,
    /// Attempts the request took (1 without retries); not part of Snowflake's answer.
    #[serde(skip)]
    pub attempts: u32,
}

/// Skipped and unmatched entries are objects with a path (older answers: bare strings).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SkippedFile {
    Path(String),
    Entry { path: String },
}

impl SkippedFile {
    pub fn path(&self) -> &str {
        match self {
            SkippedFile::Path(path) | SkippedFile::Entry { path } => path,
        }
    }
}

impl InsertFilesResponse {
    fn succeeded(&self) -> bool {
        self.response_code.as_deref() == Some("SUCCESS")
            || self.status.as_deref() == Some("success")
    }
}

/// One file's load history entry (insertReport and loadHistoryScan).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileLoad {
    pub path: String,
    pub stage_location: Option<String>,
    pub file_size: Option<u64>,
    pub time_received: Option<String>,
    pub last_insert_time: Option<String>,
    pub rows_inserted: Option<u64>,
    pub rows_parsed: Option<u64>,
    pub errors_seen: Option<u64>,
    pub error_limit: Option<u64>,
    pub complete: Option<bool>,
    /// LOAD_IN_PROGRESS, LOADED, LOAD_FAILED or PARTIALLY_LOADED.
    pub status: Option<String>,
    pub first_error: Option<String>,
    pub first_error_line_num: Option<u64>,
    pub first_error_character_pos: Option<u64>,
    pub first_error_column_name: Option<String>,
    pub system_error: Option<String>,
}

/// insertReport: recent load events (10 minutes, 10,000 events at most).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InsertReport {
    pub pipe: Option<String>,
    /// False when events were missed between `beginMark` and the first one returned.
    pub complete_result: Option<bool>,
    pub next_begin_mark: Option<String>,
    pub files: Vec<FileLoad>,
}

/// loadHistoryScan: load history between two instants (10,000 entries at most).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadHistory {
    pub pipe: Option<String>,
    /// False when more entries exist: scan again from `range_end_time`.
    pub complete_result: Option<bool>,
    pub range_start_time: Option<String>,
    pub range_end_time: Option<String>,
    pub files: Vec<FileLoad>,
}

/// One pipe, addressed by its fully qualified, case-sensitive name (`DB.SCHEMA.PIPE`).
#[derive(Debug, Clone)]
pub struct Snowpipe {
    client: Arc<SnowflakeClient>,
    pipe: String,
}

impl Snowpipe {
    pub fn new(client: Arc<SnowflakeClient>, pipe: impl Into<String>) -> Snowpipe {
        Snowpipe {
            client,
            pipe: pipe.into(),
        }
    }

    pub fn pipe(&self) -> &str {
        &self.pipe
    }

    /// Queues `files` for loading in as few requests as the 5,000-file limit allows. A 200
    /// means queued, not loaded; already-loaded paths come back in `skipped_files`. Retrying is
    /// safe: the pipe never loads a path twice within 14 days.
    pub async fn insert_files(
        &self,
        files: &[StagedFile],
        deadline: Instant,
    ) -> Result<Vec<InsertFilesResponse>, SnowflakeError> {
        if let Some(long) = files
            .iter()
            .find(|f| f.path.len() > MAX_PATH_BYTES || f.path.is_empty())
        {
            return Err(SnowflakeError::InvalidRequest(format!(
                "insertFiles: path '{}…' must be 1 to {MAX_PATH_BYTES} bytes",
                long.path.chars().take(80).collect::<String>()
            )));
        }
        let mut responses = Vec::new();
        for batch in files.chunks(MAX_FILES_PER_REQUEST) {
            let request_id = uuid::Uuid::new_v4().to_string();
            let body = serde_json::json!({ "files": batch });
            let call = Call {
                operation: "insertFiles",
                method: Method::POST,
                path_and_query: format!(
                    "/v1/data/pipes/{}/insertFiles?requestId={request_id}&showSkippedFiles=true",
                    self.pipe
                ),
                json_body: Some(&body),
                request_id: &request_id,
                mark_resends: false,
            };
            let answer = self.client.execute(&call, deadline).await?;
            let mut response: InsertFilesResponse = decode(&call, &answer.body)?;
            if !response.succeeded() {
                return Err(SnowflakeError::UnexpectedResponse {
                    operation: call.operation,
                    message: format!("no SUCCESS in {}", String::from_utf8_lossy(&answer.body)),
                    request_id,
                });
            }
            response.attempts = answer.attempts;
            if response.request_id.is_empty() {
                response.request_id = request_id;
            }
            responses.push(response);
        }
        Ok(responses)
    }

    /// Load events since `begin_mark` (or the last 10 minutes).
    pub async fn insert_report(
        &self,
        begin_mark: Option<&str>,
        deadline: Instant,
    ) -> Result<InsertReport, SnowflakeError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mark = begin_mark
            .map(|m| format!("&beginMark={}", encode_query(m)))
            .unwrap_or_default();
        let call = Call {
            operation: "insertReport",
            method: Method::GET,
            path_and_query: format!(
                "/v1/data/pipes/{}/insertReport?requestId={request_id}{mark}",
                self.pipe
            ),
            json_body: None,
            request_id: &request_id,
            mark_resends: false,
        };
        let answer = self.client.execute(&call, deadline).await?;
        decode(&call, &answer.body)
    }

    /// Load history in `[start, end)` (end defaults to now). Rate limited: scan narrow windows.
    pub async fn load_history_scan(
        &self,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        deadline: Instant,
    ) -> Result<LoadHistory, SnowflakeError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let iso = |t: DateTime<Utc>| encode_query(&t.to_rfc3339_opts(SecondsFormat::Millis, true));
        let end = end
            .map(|e| format!("&endTimeExclusive={}", iso(e)))
            .unwrap_or_default();
        let call = Call {
            operation: "loadHistoryScan",
            method: Method::GET,
            path_and_query: format!(
                "/v1/data/pipes/{}/loadHistoryScan?requestId={request_id}&startTimeInclusive={}{end}",
                self.pipe,
                iso(start)
            ),
            json_body: None,
            request_id: &request_id,
            mark_resends: false,
        };
        let answer = self.client.execute(&call, deadline).await?;
        decode(&call, &answer.body)
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    call: &Call<'_>,
    body: &[u8],
) -> Result<T, SnowflakeError> {
    serde_json::from_slice(body).map_err(|e| SnowflakeError::UnexpectedResponse {
        operation: call.operation,
        message: format!(
            "{e} in {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
        request_id: call.request_id.to_owned(),
    })
}

/// Percent-encodes a query value (timestamps carry `:` and `+`, marks may carry anything).
fn encode_query(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

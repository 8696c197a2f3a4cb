//! SQL API v2 (reference §3): one statement per request with typed bindings, asynchronous
//! completion (202 and polling, cancel at the deadline), multi-partition results, and cells
//! decoded by their column type.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use tokio::time::Instant;

use crate::client::{Call, SnowflakeClient};
use crate::error::SnowflakeError;

/// Where statements run. Names are case-sensitive, as `SHOW …` prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementContext {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub warehouse: Option<String>,
    pub role: Option<String>,
}

/// A value bound to a `?` placeholder. Bind times as text and convert in SQL
/// (`TO_TIMESTAMP_NTZ(?)`): never build SQL with values in it.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    Text(String),
    Fixed(i64),
    Real(f64),
    Boolean(bool),
}

impl Binding {
    fn to_json(&self) -> Json {
        let (kind, value) = match self {
            Binding::Text(v) => ("TEXT", v.clone()),
            Binding::Fixed(v) => ("FIXED", v.to_string()),
            Binding::Real(v) => ("REAL", v.to_string()),
            Binding::Boolean(v) => ("BOOLEAN", v.to_string()),
        };
        json!({ "type": kind, "value": value })
    }
}

/// A decoded cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Integer(i128),
    /// FIXED with a scale, or REAL.
    Float(f64),
    Boolean(bool),
    Date(NaiveDate),
    Time(NaiveTime),
    /// TIMESTAMP_NTZ and TIMESTAMP_LTZ, as UTC.
    Timestamp(DateTime<Utc>),
    TimestampTz(DateTime<FixedOffset>),
    /// VARIANT, OBJECT, ARRAY.
    Json(Json),
}

/// As a person reads it: timestamps in RFC 3339, NULL as `NULL`.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Text(s) => f.write_str(s),
            Value::Integer(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Date(d) => write!(f, "{d}"),
            Value::Time(t) => write!(f, "{t}"),
            Value::Timestamp(t) => {
                f.write_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
            Value::TimestampTz(t) => {
                f.write_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
            Value::Json(j) => write!(f, "{j}"),
        }
    }
}

impl Value {
    /// As JSON: numbers, booleans and null as themselves, everything else as its text.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Integer(n) => {
                i64::try_from(*n).map_or_else(|_| Json::String(n.to_string()), Json::from)
            }
            Value::Float(x) => json!(x),
            Value::Boolean(b) => Json::Bool(*b),
            Value::Json(j) => j.clone(),
            other => Json::String(other.to_string()),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }
}

/// A column of a result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub scale: Option<i64>,
}

/// A statement's whole result, all partitions stitched together.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    pub statement_handle: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

impl ResultSet {
    /// The cell of `row` in the column called `name` (case-insensitive).
    pub fn get(&self, row: usize, name: &str) -> Option<&Value> {
        let index = self
            .columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))?;
        self.rows.get(row)?.get(index)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResult {
    statement_handle: Option<String>,
    result_set_meta_data: Option<RawMeta>,
    #[serde(default)]
    data: Vec<Vec<Option<String>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    row_type: Vec<Column>,
    #[serde(default)]
    partition_info: Vec<Json>,
}

/// Polling a running statement: from `first` doubling to `max`.
const POLL_FIRST: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(5);

/// Statements for one account and user.
#[derive(Debug, Clone)]
pub struct SqlApi {
    client: Arc<SnowflakeClient>,
    context: StatementContext,
}

impl SqlApi {
    pub fn new(client: Arc<SnowflakeClient>, context: StatementContext) -> SqlApi {
        SqlApi { client, context }
    }

    /// Runs `statement` with `bindings` (`?` placeholders, in order), waiting for it up to
    /// `deadline`; a statement still running then is cancelled. `timeout` is Snowflake's own
    /// limit for the statement.
    pub async fn query(
        &self,
        statement: &str,
        bindings: &[Binding],
        timeout: Duration,
        deadline: Instant,
    ) -> Result<ResultSet, SnowflakeError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut body = json!({ "statement": statement, "timeout": timeout.as_secs() });
        for (field, value) in [
            ("database", &self.context.database),
            ("schema", &self.context.schema),
            ("warehouse", &self.context.warehouse),
            ("role", &self.context.role),
        ] {
            if let Some(value) = value {
                body[field] = json!(value);
            }
        }
        if !bindings.is_empty() {
            body["bindings"] = bindings
                .iter()
                .enumerate()
                .map(|(i, b)| ((i + 1).to_string(), b.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        let submit = Call {
            operation: "executeStatement",
            method: Method::POST,
            path_and_query: format!("/api/v2/statements?requestId={request_id}"),
            json_body: Some(&body),
            request_id: &request_id,
            mark_resends: true,
        };
        let mut answer = self.client.execute(&submit, deadline).await?;
        let mut poll_delay = POLL_FIRST;
        while answer.status == 202 {
            let handle = handle_of(&answer.body, &request_id)?;
            if Instant::now() + poll_delay >= deadline {
                self.cancel(&handle, &request_id).await;
                return Err(SnowflakeError::DeadlineExceeded {
                    operation: "executeStatement",
                    attempts: 1,
                    last: Box::new(SnowflakeError::UnexpectedResponse {
                        operation: "executeStatement",
                        message: format!("statement {handle} still running; cancelled"),
                        request_id: request_id.clone(),
                    }),
                });
            }
            tokio::time::sleep(poll_delay).await;
            poll_delay = (poll_delay * 2).min(POLL_MAX);
            answer = self.get(&handle, None, &request_id, deadline).await?;
        }
        let first: RawResult = decode(&answer.body, &request_id)?;
        let handle = first.statement_handle.clone().unwrap_or_default();
        let meta =
            first
                .result_set_meta_data
                .ok_or_else(|| SnowflakeError::UnexpectedResponse {
                    operation: "executeStatement",
                    message: "no resultSetMetaData in the result".into(),
                    request_id: request_id.clone(),
                })?;
        let mut raw_rows = first.data;
        for partition in 1..meta.partition_info.len() {
            let answer = self
                .get(&handle, Some(partition), &request_id, deadline)
                .await?;
            raw_rows.extend(decode::<RawResult>(&answer.body, &request_id)?.data);
        }
        let rows = raw_rows
            .iter()
            .map(|row| decode_row(&meta.row_type, row))
            .collect::<Result<_, _>>()
            .map_err(|message| SnowflakeError::UnexpectedResponse {
                operation: "executeStatement",
                message,
                request_id: request_id.clone(),
            })?;
        Ok(ResultSet {
            statement_handle: handle,
            columns: meta.row_type,
            rows,
        })
    }

    async fn get(
        &self,
        handle: &str,
        partition: Option<usize>,
        request_id: &str,
        deadline: Instant,
    ) -> Result<crate::client::Answer, SnowflakeError> {
        let query = partition
            .map(|p| format!("?partition={p}"))
            .unwrap_or_default();
        let call = Call {
            operation: "getStatementStatus",
            method: Method::GET,
            path_and_query: format!("/api/v2/statements/{handle}{query}"),
            json_body: None,
            request_id,
            mark_resends: false,
        };
        self.client.execute(&call, deadline).await
    }

    /// Best effort: the statement is abandoned either way.
    async fn cancel(&self, handle: &str, request_id: &str) {
        let call = Call {
            operation: "cancelStatement",
            method: Method::POST,
            path_and_query: format!("/api/v2/statements/{handle}/cancel"),
            json_body: None,
            request_id,
            mark_resends: false,
        };
        let _ = self
            .client
            .execute(&call, Instant::now() + Duration::from_secs(5))
            .await;
    }
}

fn handle_of(body: &[u8], request_id: &str) -> Result<String, SnowflakeError> {
    let raw: RawResult = decode(body, request_id)?;
    raw.statement_handle
        .ok_or_else(|| SnowflakeError::UnexpectedResponse {
            operation: "executeStatement",
            message: "202 without a statementHandle".into(),
            request_id: request_id.to_owned(),
        })
}

fn decode<T: serde::de::DeserializeOwned>(
    body: &[u8],
    request_id: &str,
) -> Result<T, SnowflakeError> {
    serde_json::from_slice(body).map_err(|e| SnowflakeError::UnexpectedResponse {
        operation: "executeStatement",
        message: format!(
            "{e} in {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
        request_id: request_id.to_owned(),
    })
}

fn decode_row(columns: &[Column], row: &[Option<String>]) -> Result<Vec<Value>, String> {
    if row.len() != columns.len() {
        return Err(format!(
            "a row has {} cells for {} columns",
            row.len(),
            columns.len()
        ));
    }
    columns
        .iter()
        .zip(row)
        .map(|(column, cell)| decode_cell(column, cell.as_deref()))
        .collect()
}

/// Decodes one jsonv2 cell (every cell is a string or null).
pub fn decode_cell(column: &Column, cell: Option<&str>) -> Result<Value, String> {
    let Some(text) = cell else {
        return Ok(Value::Null);
    };
    let bad = || {
        format!(
            "column {}: '{text}' is not a valid {}",
            column.name, column.kind
        )
    };
    let value = match column.kind.to_ascii_lowercase().as_str() {
        "fixed" if column.scale.unwrap_or(0) == 0 => {
            Value::Integer(text.parse().map_err(|_| bad())?)
        }
        "fixed" | "real" => Value::Float(text.parse().map_err(|_| bad())?),
        "boolean" => Value::Boolean(text.eq_ignore_ascii_case("true") || text == "1"),
        "date" => {
            let days: i64 = text.parse().map_err(|_| bad())?;
            Value::Date(DateTime::UNIX_EPOCH.date_naive() + TimeDelta::days(days))
        }
        "time" => {
            let nanos = epoch_nanos(text).ok_or_else(bad)?;
            let secs = u32::try_from(nanos.div_euclid(1_000_000_000)).map_err(|_| bad())?;
            let frac = nanos.rem_euclid(1_000_000_000) as u32;
            Value::Time(NaiveTime::from_num_seconds_from_midnight_opt(secs, frac).ok_or_else(bad)?)
        }
        "timestamp_ntz" | "timestamp_ltz" => {
            Value::Timestamp(timestamp(epoch_nanos(text).ok_or_else(bad)?).ok_or_else(bad)?)
        }
        "timestamp_tz" => {
            let (instant, offset) = text.split_once(' ').ok_or_else(bad)?;
            let minutes: i32 = offset.parse::<i32>().map_err(|_| bad())? - 1440;
            let offset = FixedOffset::east_opt(minutes * 60).ok_or_else(bad)?;
            let utc = timestamp(epoch_nanos(instant).ok_or_else(bad)?).ok_or_else(bad)?;
            Value::TimestampTz(utc.with_timezone(&offset))
        }
        "variant" | "object" | "array" => {
            Value::Json(serde_json::from_str(text).map_err(|_| bad())?)
        }
        _ => Value::Text(text.to_owned()),
    };
    Ok(value)
}

/// `"1718000000.123000000"` (possibly negative) as nanoseconds since the epoch.
fn epoch_nanos(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if fraction.len() > 9 {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let fraction: i128 = format!("{fraction:0<9}").parse().ok()?;
    let nanos = whole * 1_000_000_000 + fraction;
    Some(if negative { -nanos } else { nanos })
}

fn timestamp(nanos: i128) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(secs, nanos.rem_euclid(1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(kind: &str, scale: Option<i64>) -> Column {
        Column {
            name: "C".into(),
            kind: kind.into(),
            scale,
        }
    }

    #[test]
    fn decodes_each_cell_type() {
        let cases = [
            (column("FIXED", Some(0)), "42", Value::Integer(42)),
            (column("fixed", Some(2)), "1.50", Value::Float(1.5)),
            (column("real", None), "2.5", Value::Float(2.5)),
            (column("text", None), "abc", Value::Text("abc".into())),
            (column("boolean", None), "true", Value::Boolean(true)),
            (
                column("date", None),
                "18262",
                Value::Date(NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()),
            ),
            (
                column("time", None),
                "3723.500000000",
                Value::Time(NaiveTime::from_hms_milli_opt(1, 2, 3, 500).unwrap()),
            ),
            (
                column("timestamp_ntz", None),
                "1795428300.250000000",
                Value::Timestamp("2026-11-23T10:05:00.250Z".parse().unwrap()),
            ),
            (
                column("timestamp_tz", None),
                "1795428300.000000000 1500",
                Value::TimestampTz("2026-11-23T11:05:00+01:00".parse().unwrap()),
            ),
            (
                column("variant", None),
                "{\"a\":1}",
                Value::Json(json!({"a": 1})),
            ),
        ];
        for (column, cell, expected) in cases {
            assert_eq!(
                decode_cell(&column, Some(cell)),
                Ok(expected),
                "{} {cell}",
                column.kind
            );
        }
        assert_eq!(decode_cell(&column("text", None), None), Ok(Value::Null));
    }

    #[test]
    fn negative_epoch_times_count_backwards() {
        assert_eq!(epoch_nanos("-1.500000000"), Some(-1_500_000_000));
        assert_eq!(
            timestamp(epoch_nanos("-1.5").unwrap()),
            Some("1969-12-31T23:59:58.500Z".parse().unwrap())
        );
    }

    #[test]
    fn refuses_malformed_cells() {
        assert!(decode_cell(&column("fixed", Some(0)), Some("x")).is_err());
        assert!(decode_cell(&column("timestamp_tz", None), Some("12.0")).is_err());
    }
}

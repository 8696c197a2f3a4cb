//! Streams on DuckDB: an append-only stream reads past an offset in its table, a standard
//! stream is the difference between the table and a snapshot taken at the last consuming
//! commit; a committing transaction consumes the streams it read.

use chrono::NaiveDateTime;

use crate::catalog::{Kind, StreamSpec};
use crate::ddl::short;
use crate::engine::Engine;
use crate::error::SqlError;

impl Engine {
    /// An append-only stream reads rows past an offset in the table (DuckDB's rowid grows with
    /// appends, and RAW is never updated or deleted from), from 0 with SHOW_INITIAL_ROWS; a
    /// standard stream is the difference between the table and a snapshot taken at the last
    /// consuming commit. A replaced stream starts afresh.
    pub(crate) fn create_stream(&self, name: &str, stream: &StreamSpec) -> Result<(), SqlError> {
        let table = short(&stream.table);
        let sql = if stream.append_only {
            let start = if stream.initial_rows {
                "SELECT 0".to_owned()
            } else {
                format!("SELECT coalesce(max(rowid) + 1, 0) FROM {table}")
            };
            format!(
                "INSERT OR REPLACE INTO __standin_stream_offsets (name, row_offset, version_offset, consumed_at)
                 SELECT '{name}', ({start}), (SELECT coalesce(max(rowid) + 1, 0) FROM {table}), CAST(now() AS TIMESTAMP);
                 CREATE OR REPLACE VIEW {name} AS
                 SELECT *, 'INSERT' AS \"METADATA$ACTION\", FALSE AS \"METADATA$ISUPDATE\", CAST(rowid AS VARCHAR) AS \"METADATA$ROW_ID\"
                 FROM {table}
                 WHERE rowid >= (SELECT row_offset FROM __standin_stream_offsets WHERE name = '{name}');"
            )
        } else {
            let snapshot = format!("__standin_snapshot_{name}");
            let same_key = if stream.key.is_empty() {
                "FALSE".to_owned()
            } else {
                stream
                    .key
                    .iter()
                    .map(|k| format!("o.{k} = n.{k}"))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            };
            format!(
                "CREATE OR REPLACE TABLE {snapshot} AS SELECT * FROM {table};
                 CREATE OR REPLACE VIEW {name} AS
                 WITH n AS (SELECT * FROM {table} EXCEPT ALL SELECT * FROM {snapshot}),
                      o AS (SELECT * FROM {snapshot} EXCEPT ALL SELECT * FROM {table})
                 SELECT n.*, 'INSERT' AS \"METADATA$ACTION\",
                        EXISTS (SELECT 1 FROM o WHERE {same_key}) AS \"METADATA$ISUPDATE\",
                        CAST(md5(CAST(n AS VARCHAR)) AS VARCHAR) AS \"METADATA$ROW_ID\"
                 FROM n
                 UNION ALL
                 SELECT o.*, 'DELETE', EXISTS (SELECT 1 FROM n WHERE {same_key}), CAST(md5(CAST(o AS VARCHAR)) AS VARCHAR)
                 FROM o;"
            )
        };
        self.execute_ddl(&sql)
    }

    /// `SYSTEM$STREAM_HAS_DATA` for a stream's full or short name. The function "performs a
    /// diff of the table version metadata (between the stream offset and the current
    /// transactional time)"
    /// (https://docs.snowflake.com/en/sql-reference/functions/system_stream_has_data). For an
    /// append-only stream that is whether the table gained rows since the version the stream
    /// was created or last consumed at: a fresh SHOW_INITIAL_ROWS stream, whose initial rows
    /// predate it, answers FALSE until the table changes (the docs do not say which answer it
    /// gets; the stand-in takes the one that breaks code relying on TRUE). A standard stream
    /// answers whether it has rows.
    pub fn stream_has_data(&self, stream: &str) -> Result<bool, SqlError> {
        let name = short(stream);
        let spec = self
            .catalog()
            .of_kind(Kind::Stream)
            .find(|o| o.short_name() == name)
            .and_then(|o| o.stream().cloned());
        let sql = match spec {
            Some(spec) if spec.append_only => format!(
                "SELECT (SELECT coalesce(max(rowid) + 1, 0) FROM {table})
                      > (SELECT coalesce(version_offset, row_offset) FROM __standin_stream_offsets WHERE name = '{name}')",
                table = short(&spec.table)
            ),
            _ => format!("SELECT count(*) > 0 FROM {name}"),
        };
        let has_data: Option<bool> =
            self.with_connection(|conn| conn.query_row(&sql, [], |r| r.get(0)))?;
        Ok(has_data.unwrap_or(false))
    }

    /// When an append-only stream goes stale: its offset (creation or last consuming commit)
    /// plus 14 days. A stream goes stale once its offset falls outside its table's data
    /// retention (https://docs.snowflake.com/en/user-guide/streams-intro), and "The
    /// MAX_DATA_EXTENSION_TIME_IN_DAYS parameter sets the maximum number of days Snowflake can
    /// extend the data retention period for tables … to prevent streams from becoming stale",
    /// default 14, against a DATA_RETENTION_TIME_IN_DAYS default of 1
    /// (https://docs.snowflake.com/en/release-notes/bcr-bundles/2023_05/bcr-1146). `None` for a
    /// standard stream (not modelled) or one without an offset record.
    pub fn stream_stale_after(&self, stream: &str) -> Result<Option<NaiveDateTime>, SqlError> {
        let name = short(stream).to_owned();
        let found: Result<String, duckdb::Error> = self.with_connection(|conn| {
            conn.query_row(
                "SELECT CAST(coalesce(consumed_at, CAST(now() AS TIMESTAMP)) + INTERVAL 14 DAY AS VARCHAR) FROM __standin_stream_offsets WHERE name = ?",
                [&name],
                |r| r.get(0),
            )
        });
        match found {
            Ok(at) => Ok(NaiveDateTime::parse_from_str(&at, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(&at, "%Y-%m-%d %H:%M:%S"))
                .ok()),
            Err(duckdb::Error::QueryReturnedNoRows) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// An empty stream that SYSTEM$STREAM_HAS_DATA found without data does not go stale: its
    /// offset time moves to now.
    pub(crate) fn keep_stream_fresh(&self, stream: &str) {
        let name = short(stream).to_owned();
        let updated = self.with_connection(|conn| {
            conn.execute(
                "UPDATE __standin_stream_offsets SET consumed_at = CAST(now() AS TIMESTAMP) WHERE name = ?",
                [&name],
            )
        });
        if let Err(error) = updated {
            tracing::error!(%error, "keeping a stream fresh failed");
        }
    }

    /// Moves a stream's offset time `days` into the past, as if it had not been consumed for
    /// that long (for tests of staleness, which takes 14 days).
    pub fn age_stream(&self, stream: &str, days: i64) -> Result<(), SqlError> {
        let name = short(stream).to_owned();
        self.with_connection(|conn| {
            conn.execute(
                &format!("UPDATE __standin_stream_offsets SET consumed_at = coalesce(consumed_at, CAST(now() AS TIMESTAMP)) - INTERVAL {days} DAY WHERE name = ?"),
                [&name],
            )
        })?;
        Ok(())
    }

    /// Every stream: full name and definition.
    pub fn streams(&self) -> Vec<(String, StreamSpec)> {
        self.catalog()
            .of_kind(Kind::Stream)
            .filter_map(|o| o.stream().map(|s| (o.name.clone(), s.clone())))
            .collect()
    }
}

/// What a committing transaction runs to consume `stream` (full name): an append-only stream's
/// offset moves past the table's last row; a standard stream's snapshot becomes the table.
pub(crate) fn consume_stream_sql(name: &str, stream: &StreamSpec) -> String {
    let name = short(name);
    let table = short(&stream.table);
    if stream.append_only {
        format!(
            "UPDATE __standin_stream_offsets SET row_offset = (SELECT coalesce(max(rowid) + 1, 0) FROM {table}), version_offset = (SELECT coalesce(max(rowid) + 1, 0) FROM {table}), consumed_at = CAST(now() AS TIMESTAMP) WHERE name = '{name}'"
        )
    } else {
        format!(
            "DELETE FROM __standin_snapshot_{name}; INSERT INTO __standin_snapshot_{name} SELECT * FROM {table}"
        )
    }
}

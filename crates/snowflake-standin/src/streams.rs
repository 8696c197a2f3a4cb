//! Streams on DuckDB: an append-only stream reads past an offset in its table, a standard
//! stream is the difference between the table and a snapshot taken at the last consuming
//! commit; a committing transaction consumes the streams it read.

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
                "INSERT OR REPLACE INTO __standin_stream_offsets SELECT '{name}', ({start});
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

    /// `SYSTEM$STREAM_HAS_DATA` for a stream's full or short name.
    pub fn stream_has_data(&self, stream: &str) -> Result<bool, SqlError> {
        let count: i64 = self.with_connection(|conn| {
            conn.query_row(
                &format!("SELECT count(*) FROM {}", short(stream)),
                [],
                |r| r.get(0),
            )
        })?;
        Ok(count > 0)
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
            "UPDATE __standin_stream_offsets SET row_offset = (SELECT coalesce(max(rowid) + 1, 0) FROM {table}) WHERE name = '{name}'"
        )
    } else {
        format!(
            "DELETE FROM __standin_snapshot_{name}; INSERT INTO __standin_snapshot_{name} SELECT * FROM {table}"
        )
    }
}

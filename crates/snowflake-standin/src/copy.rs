//! A pipe's COPY with a transformation, as Snowflake defines it: the named CSV file format's
//! options read the file, the SELECT list picks `$n` fields and METADATA$ columns, and each value
//! is converted to its target column's type, where the first error fails the file under
//! ON_ERROR = SKIP_FILE.
//!
//! - Options: https://docs.snowflake.com/en/sql-reference/sql/create-file-format
//! - "When transforming data during loading (that is, using a query as the source for the COPY
//!   INTO <table> command), this option [ERROR_ON_COLUMN_COUNT_MISMATCH] is ignored. There is no
//!   requirement for your data files to have the same number and ordering of columns as your
//!   target table" (https://docs.snowflake.com/en/sql-reference/sql/copy-into-table): a `$n`
//!   past the end of a short row is NULL, extra fields are not loaded
//!   (https://docs.snowflake.com/en/user-guide/querying-stage, example 1).
//! - METADATA$START_SCAN_TIME is "Start timestamp of operation for each record in the staged data
//!   file. Returned as TIMESTAMP_LTZ" (https://docs.snowflake.com/en/user-guide/querying-metadata).
//! - Timestamp formats: https://docs.snowflake.com/en/sql-reference/date-time-input-output.

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::SqlError;
use crate::translate::Column;

/// One record after the header: its 1-based line and its fields (`None` for NULL).
pub type Record = (u64, Vec<Option<String>>);

/// A CSV file format's options that the stand-in reads; any other option is refused when the
/// format is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFormat {
    pub skip_header: usize,
    pub delimiter: u8,
    pub enclosed_by: Option<u8>,
    /// ESCAPE, for enclosed fields (default NONE).
    pub escape: Option<u8>,
    /// ESCAPE_UNENCLOSED_FIELD, for unenclosed fields (default backslash).
    pub escape_unenclosed: Option<u8>,
    pub empty_field_as_null: bool,
    pub null_if: Vec<String>,
    pub compression: String,
    pub timestamp_format: String,
}

impl CsvFormat {
    /// Reads and checks `CREATE FILE FORMAT` options (defaults as documented).
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<CsvFormat, SqlError> {
        let mut format = CsvFormat {
            skip_header: 0,
            delimiter: b',',
            enclosed_by: None,
            escape: None,
            escape_unenclosed: Some(b'\\'),
            empty_field_as_null: true,
            null_if: vec!["\\N".into()],
            compression: "AUTO".into(),
            timestamp_format: "AUTO".into(),
        };
        let single_byte = |name: &str, value: &str| -> Result<u8, SqlError> {
            match value.as_bytes() {
                // '\\' as written in SQL is one backslash.
                [b] | [b'\\', b @ b'\\'] => Ok(*b),
                _ => Err(SqlError::not_modelled(format!(
                    "{name} = '{value}' (one character)"
                ))),
            }
        };
        let optional_byte = |name: &str, value: &str| -> Result<Option<u8>, SqlError> {
            match value {
                "NONE" => Ok(None),
                value => single_byte(name, value).map(Some),
            }
        };
        for (name, value) in options {
            match name.as_str() {
                "TYPE" if value == "CSV" => {}
                "SKIP_HEADER" => {
                    format.skip_header = value
                        .parse()
                        .map_err(|_| SqlError::compilation(format!("SKIP_HEADER = {value}")))?
                }
                "FIELD_DELIMITER" => format.delimiter = single_byte(name, value)?,
                "FIELD_OPTIONALLY_ENCLOSED_BY" => format.enclosed_by = optional_byte(name, value)?,
                "ESCAPE" => format.escape = optional_byte(name, value)?,
                "ESCAPE_UNENCLOSED_FIELD" => format.escape_unenclosed = optional_byte(name, value)?,
                "EMPTY_FIELD_AS_NULL" => format.empty_field_as_null = value == "TRUE",
                "NULL_IF" => {
                    format.null_if = crate::parse::tokenize(value)?
                        .into_iter()
                        .filter_map(|t| match t.token {
                            crate::parse::Token::Str(s) => Some(s),
                            _ => None,
                        })
                        .collect()
                }
                "COMPRESSION" if matches!(value.as_str(), "AUTO" | "GZIP" | "NONE") => {
                    format.compression = value.clone()
                }
                "ENCODING" if matches!(value.as_str(), "UTF8" | "UTF-8") => {}
                "TIMESTAMP_FORMAT" => {
                    check_timestamp_format(value)?;
                    format.timestamp_format = value.clone();
                }
                // Ignored by a COPY with a transformation, the only COPY a pipe here runs.
                "ERROR_ON_COLUMN_COUNT_MISMATCH" | "COMMENT" => {}
                other => {
                    return Err(SqlError::not_modelled(format!(
                        "the file format option {other} = {value}"
                    )));
                }
            }
        }
        Ok(format)
    }

    /// The file's records after the header lines, as fields (`None` for NULL), with the
    /// 1-based line number of each. An error carries the line it happened on.
    pub fn records(&self, bytes: &[u8]) -> Result<Vec<Record>, (u64, String)> {
        let mut text = Vec::new();
        let gzip = bytes.starts_with(&[0x1f, 0x8b]);
        let bytes = if self.compression == "GZIP" || (self.compression == "AUTO" && gzip) {
            flate2::read::MultiGzDecoder::new(bytes)
                .read_to_end(&mut text)
                .map_err(|e| {
                    (
                        1,
                        format!("Invalid data encountered during decompression for file: {e}"),
                    )
                })?;
            &text[..]
        } else {
            bytes
        };
        let syntax = crate::csv_fields::Syntax {
            delimiter: self.delimiter,
            enclosed_by: self.enclosed_by,
            escape: self.escape,
            escape_unenclosed: self.escape_unenclosed,
        };
        let mut records = Vec::new();
        for (line, fields) in crate::csv_fields::split(syntax, bytes)? {
            if line as usize <= self.skip_header {
                continue;
            }
            let mut values = Vec::with_capacity(fields.len());
            for field in fields {
                let text = String::from_utf8(field.data)
                    .map_err(|_| (line, "Invalid UTF8 detected in string".to_owned()))?;
                values.push((!self.is_null(&field.written, field.enclosed)).then_some(text));
            }
            records.push((line, values));
        }
        Ok(records)
    }

    /// EMPTY_FIELD_AS_NULL: "two successive delimiters (e.g. ,,)" are NULL, so an enclosed
    /// empty field ("") is an empty string unless NULL_IF lists ''. NULL_IF compares the field
    /// as written, before the escape character is applied (so the default '\\N' matches `\N`
    /// under the default backslash escape); whether Snowflake also compares an enclosed field's
    /// text is not documented (docs/not-verified.md), and the stand-in does.
    fn is_null(&self, written: &[u8], enclosed: bool) -> bool {
        (written.is_empty() && !enclosed && self.empty_field_as_null)
            || self.null_if.iter().any(|n| n.as_bytes() == written)
    }
}

/// What a SELECT-list expression reads for one record.
pub struct RecordContext<'a> {
    pub fields: &'a [Option<String>],
    pub file_name: &'a str,
    pub row_number: u64,
    pub scan_time: DateTime<Utc>,
}

/// A COPY SELECT-list expression the stand-in evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expression {
    /// `$n`, 1-based.
    Field(usize),
    FileName,
    /// Counted from the first record after the header: the documentation does not say whether
    /// skipped header lines count (unverified, docs/stand-ins.md).
    FileRowNumber,
    StartScanTime,
}

impl Expression {
    pub fn parse(expression: &str) -> Result<Expression, SqlError> {
        match expression {
            "METADATA$FILENAME" => Ok(Expression::FileName),
            "METADATA$FILE_ROW_NUMBER" => Ok(Expression::FileRowNumber),
            "METADATA$START_SCAN_TIME" => Ok(Expression::StartScanTime),
            field => match field.strip_prefix('$').map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => Ok(Expression::Field(n)),
                _ => Err(SqlError::not_modelled(format!(
                    "the COPY expression {expression} ($n and METADATA$FILENAME, METADATA$FILE_ROW_NUMBER, METADATA$START_SCAN_TIME are modelled)"
                ))),
            },
        }
    }

    pub fn evaluate(self, record: &RecordContext) -> Option<Cell> {
        match self {
            Expression::FileName => Some(Cell::Text(record.file_name.to_owned())),
            Expression::FileRowNumber => Some(Cell::Text(record.row_number.to_string())),
            Expression::StartScanTime => Some(Cell::Time(record.scan_time)),
            Expression::Field(n) => record.fields.get(n - 1).cloned().flatten().map(Cell::Text),
        }
    }
}

/// A value as text for DuckDB, or `None` for NULL.
pub enum Cell {
    Text(String),
    Time(DateTime<Utc>),
}

/// Converts a cell to `column`'s type as COPY does; the error is COPY's message.
pub fn convert(
    cell: Option<Cell>,
    column: &Column,
    format: &CsvFormat,
) -> Result<Option<String>, String> {
    let Some(cell) = cell else {
        return if column.nullable {
            Ok(None)
        } else {
            Err(format!(
                "NULL result in a non-nullable column {}",
                column.name
            ))
        };
    };
    let kind = column.data_type.as_str();
    // A timestamp (METADATA$START_SCAN_TIME) converts as a timestamp: the file format's
    // TIMESTAMP_FORMAT reads text fields only.
    let value = match cell {
        Cell::Time(at) if kind.starts_with("TIMESTAMP_NTZ") => {
            return Ok(Some(at.naive_utc().to_string()));
        }
        Cell::Time(at) => return Ok(Some(at.to_rfc3339())),
        Cell::Text(text) => text,
    };
    if kind.starts_with("NUMBER") || kind.starts_with("INT") || kind.starts_with("DECIMAL") {
        if value.trim().parse::<i128>().is_err() {
            return Err(format!("Numeric value '{value}' is not recognized"));
        }
    } else if kind.starts_with("VARCHAR") {
        if let Some(limit) = length_limit(kind)
            && value.chars().count() > limit
        {
            return Err(format!(
                "User character length limit ({limit}) exceeded by string '{value}'"
            ));
        }
    } else if kind.starts_with("TIMESTAMP_NTZ") {
        let parsed = parse_timestamp(&value, &format.timestamp_format)
            .ok_or_else(|| format!("Timestamp '{value}' is not recognized"))?;
        return Ok(Some(parsed.to_string()));
    } else if kind.starts_with("BOOLEAN") {
        let truth = [
            "TRUE", "T", "YES", "Y", "ON", "1", "FALSE", "F", "NO", "N", "OFF", "0",
        ];
        if !truth.contains(&value.to_ascii_uppercase().as_str()) {
            return Err(format!("Boolean value '{value}' is not recognized"));
        }
    }
    Ok(Some(value))
}

fn length_limit(kind: &str) -> Option<usize> {
    kind.split_once('(')?
        .1
        .trim_end_matches(')')
        .trim()
        .parse()
        .ok()
}

/// The AUTO formats for timestamps without a time zone ("Supported formats for AUTO
/// detection"): none of them ends in a literal `Z`.
const AUTO_FORMATS: &[&str] = &[
    "YYYY-MM-DD\"T\"HH24:MI:SS.FFTZH:TZM",
    "YYYY-MM-DD\"T\"HH24:MI:SS.FF",
    "YYYY-MM-DD\"T\"HH24:MI:SSTZH:TZM",
    "YYYY-MM-DD\"T\"HH24:MI:SS",
    "YYYY-MM-DD HH24:MI:SS.FFTZH:TZM",
    "YYYY-MM-DD HH24:MI:SS.FF",
    "YYYY-MM-DD HH24:MI:SSTZH:TZM",
    "YYYY-MM-DD HH24:MI:SS",
];

/// Parses `value` with a Snowflake timestamp format (or AUTO). An offset is dropped, as
/// TIMESTAMP_NTZ "internally stores 'wallclock' time"
/// (https://docs.snowflake.com/en/sql-reference/data-types-datetime).
pub fn parse_timestamp(value: &str, format: &str) -> Option<NaiveDateTime> {
    if format.eq_ignore_ascii_case("AUTO") {
        return AUTO_FORMATS.iter().find_map(|f| parse_timestamp(value, f));
    }
    let pattern = chrono_pattern(format).ok()?;
    if pattern.contains("%:z") {
        DateTime::parse_from_str(value, &pattern)
            .ok()
            .map(|t| t.naive_local())
    } else {
        NaiveDateTime::parse_from_str(value, &pattern).ok()
    }
}

fn check_timestamp_format(format: &str) -> Result<(), SqlError> {
    if format.eq_ignore_ascii_case("AUTO") {
        return Ok(());
    }
    chrono_pattern(format).map(drop)
}

/// A Snowflake format as a chrono pattern: YYYY MM DD HH24 MI SS FF[0-9] TZH:TZM and
/// double-quoted literals ("Anything in the format between double quotes … is parsed/formatted
/// without being interpreted").
fn chrono_pattern(format: &str) -> Result<String, SqlError> {
    let mut out = String::new();
    let mut rest = format;
    let elements = [
        ("YYYY", "%Y"),
        ("MM", "%m"),
        ("DD", "%d"),
        ("HH24", "%H"),
        ("MI", "%M"),
        ("SS", "%S"),
        ("TZH:TZM", "%:z"),
    ];
    'outer: while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| SqlError::compilation(format!("unclosed literal in '{format}'")))?;
            out.push_str(&quoted[..end].replace('%', "%%"));
            rest = &quoted[end + 1..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("FF") {
            // ".FF": one to nine digits ("You can enter fewer digits than you specified").
            if out.ends_with('.') {
                out.pop();
            }
            out.push_str("%.f");
            rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
            continue;
        }
        for (element, pattern) in elements {
            if let Some(after) = rest.strip_prefix(element) {
                out.push_str(pattern);
                rest = after;
                continue 'outer;
            }
        }
        let c = rest.chars().next().expect("not empty");
        if c.is_ascii_alphabetic() {
            return Err(SqlError::not_modelled(format!(
                "the timestamp format element at '{rest}' in '{format}'"
            )));
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_format_reads_a_trailing_z_as_a_literal() {
        let format = "YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"";
        assert_eq!(
            parse_timestamp("2026-11-23T10:14:51Z", format)
                .unwrap()
                .to_string(),
            "2026-11-23 10:14:51"
        );
        assert_eq!(parse_timestamp("2026-11-23T10:14:51.5Z", format), None);
    }

    #[test]
    fn auto_does_not_read_a_trailing_z() {
        assert_eq!(parse_timestamp("2026-11-23T10:14:51Z", "AUTO"), None);
        assert!(parse_timestamp("2026-11-23T10:14:51+00:00", "AUTO").is_some());
        assert!(parse_timestamp("2026-11-23 10:14:51.123", "AUTO").is_some());
    }

    #[test]
    fn a_short_row_reads_missing_fields_as_null_and_extra_fields_are_ignored() {
        let format = CsvFormat::from_options(&BTreeMap::from([(
            "SKIP_HEADER".to_owned(),
            "1".to_owned(),
        )]))
        .unwrap();
        let records = format.records(b"a,b,c\n1,x\n1,x,y,z\n").unwrap();
        let at = |row: usize, n: &str| {
            let context = RecordContext {
                fields: &records[row].1,
                file_name: "f",
                row_number: 1,
                scan_time: Utc::now(),
            };
            match Expression::parse(n).unwrap().evaluate(&context) {
                Some(Cell::Text(t)) => Some(t),
                _ => None,
            }
        };
        assert_eq!(at(0, "$2").as_deref(), Some("x"));
        assert_eq!(at(0, "$3"), None);
        assert_eq!(at(1, "$3").as_deref(), Some("y"));
        assert_eq!(records[0].0, 2, "line numbers count the header");
    }

    #[test]
    fn an_unknown_option_is_refused_with_its_name() {
        let err = CsvFormat::from_options(&BTreeMap::from([(
            "TRIM_SPACE".to_owned(),
            "TRUE".to_owned(),
        )]))
        .unwrap_err();
        assert!(err.message.contains("TRIM_SPACE"), "{}", err.message);
    }
}

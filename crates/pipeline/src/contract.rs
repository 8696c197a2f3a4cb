//! The customer CSV contract (docs/contract.md): the one place that spells the columns, their order
//! and their rules. The generator writes through it, the validator and the SQL check against it.
//!
//! UTF-8, LF (CRLF accepted on read), RFC 4180 quoting, one header row, exactly [`COLUMNS`].

use std::fmt;
use std::io::{self, Read, Write};

use chrono::{DateTime, NaiveDateTime, Utc};

/// The header, in order. Nothing else in the project spells this list.
pub const COLUMNS: [&str; 10] = [
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "street",
    "city",
    "state",
    "country",
    "updated_at",
    "op",
];

/// Largest valid `customer_id` (2^53: the largest integer a double holds exactly, so ids survive
/// JSON and JavaScript consumers unchanged).
pub const MAX_CUSTOMER_ID: u64 = 1 << 53;
/// Byte limit for names, street, city, state and country.
pub const MAX_TEXT_BYTES: usize = 256;
/// Byte limit for email (RFC 5321 path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// One column of the contract; `Column::ALL[i]` is the i-th CSV field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    CustomerId,
    FirstName,
    LastName,
    Email,
    Street,
    City,
    State,
    Country,
    UpdatedAt,
    Op,
}

impl Column {
    pub const ALL: [Column; 10] = [
        Column::CustomerId,
        Column::FirstName,
        Column::LastName,
        Column::Email,
        Column::Street,
        Column::City,
        Column::State,
        Column::Country,
        Column::UpdatedAt,
        Column::Op,
    ];

    /// The header name, as in the file.
    pub const fn name(self) -> &'static str {
        COLUMNS[self as usize]
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `op`: `U` inserts or updates the customer, `D` deletes it (soft delete downstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Upsert,
    Delete,
}

impl Op {
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Upsert => "U",
            Op::Delete => "D",
        }
    }
}

/// One row of the contract. For `Op::Delete` the text fields may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    pub customer_id: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub street: String,
    pub city: String,
    pub state: String,
    pub country: String,
    /// Source change time, whole seconds or finer, always UTC.
    pub updated_at: DateTime<Utc>,
    pub op: Op,
}

impl Default for CustomerRecord {
    fn default() -> Self {
        CustomerRecord {
            customer_id: 1,
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            street: String::new(),
            city: String::new(),
            state: String::new(),
            country: String::new(),
            updated_at: DateTime::UNIX_EPOCH,
            op: Op::Upsert,
        }
    }
}

impl CustomerRecord {
    fn text(&self, column: Column) -> &str {
        match column {
            Column::FirstName => &self.first_name,
            Column::LastName => &self.last_name,
            Column::Email => &self.email,
            Column::Street => &self.street,
            Column::City => &self.city,
            Column::State => &self.state,
            Column::Country => &self.country,
            Column::CustomerId | Column::UpdatedAt | Column::Op => "",
        }
    }

    fn text_mut(&mut self, column: Column) -> Option<&mut String> {
        match column {
            Column::FirstName => Some(&mut self.first_name),
            Column::LastName => Some(&mut self.last_name),
            Column::Email => Some(&mut self.email),
            Column::Street => Some(&mut self.street),
            Column::City => Some(&mut self.city),
            Column::State => Some(&mut self.state),
            Column::Country => Some(&mut self.country),
            Column::CustomerId | Column::UpdatedAt | Column::Op => None,
        }
    }

    /// Parses and checks one row's fields against every rule of the contract. All problems of
    /// the row are reported, not only the first.
    pub fn from_fields<'a, I>(fields: I) -> Result<CustomerRecord, RowError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut texts: [&str; 10] = [""; 10];
        let mut found = 0;
        for value in fields {
            if let Some(slot) = texts.get_mut(found) {
                *slot = value;
            }
            found += 1;
        }
        if found != COLUMNS.len() {
            return Err(RowError::ColumnCount { found });
        }
        let mut problems = Vec::new();
        check_fields(&texts, |column, problem| {
            problems.push(FieldError::new(column, problem, texts[column as usize]))
        });
        if !problems.is_empty() {
            return Err(RowError::Fields(problems));
        }
        let value = |column: Column| texts[column as usize];
        let checked = "checked by check_fields";
        let mut record = CustomerRecord {
            customer_id: parse_customer_id(value(Column::CustomerId)).expect(checked),
            updated_at: parse_updated_at(value(Column::UpdatedAt)).expect(checked),
            op: parse_op(value(Column::Op)).expect(checked),
            ..CustomerRecord::default()
        };
        for column in Column::ALL {
            if let Some(slot) = record.text_mut(column) {
                slot.push_str(value(column));
            }
        }
        Ok(record)
    }
}

/// Checks one row's ten fields (in [`COLUMNS`] order) against every rule, calling `problem` for
/// each violation in column order. Allocates nothing, so the validator can run it on every row.
pub fn check_fields(fields: &[&str; 10], mut problem: impl FnMut(Column, Problem)) {
    let value = |column: Column| fields[column as usize];
    let op = parse_op(value(Column::Op));
    // Required-ness depends on op; an unparseable op is reported once, not as missing values.
    let required = op == Ok(Op::Upsert);
    for column in Column::ALL {
        let result = match column {
            Column::CustomerId => parse_customer_id(value(column)).map(drop),
            Column::UpdatedAt => parse_updated_at(value(column)).map(drop),
            Column::Op => op.map(drop),
            _ => check_text(column, value(column), required),
        };
        if let Err(p) = result {
            problem(column, p);
        }
    }
}

/// What is wrong with one field. `code()` names the kind for counting; `Display` explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Problem {
    Missing,
    TooLong { bytes: usize, max: usize },
    NotAnInteger,
    IdOutOfRange,
    EmailNoAt,
    EmailSeveralAt,
    EmailEmptyLocalPart,
    EmailBadDomain,
    NotUtcTimestamp,
    UnknownOp,
}

impl Problem {
    /// A stable machine name for the kind of problem (used for counts in reports and metrics).
    pub const fn code(self) -> &'static str {
        match self {
            Problem::Missing => "missing_value",
            Problem::TooLong { .. } => "too_long",
            Problem::NotAnInteger => "not_an_integer",
            Problem::IdOutOfRange => "id_out_of_range",
            Problem::EmailNoAt => "email_no_at",
            Problem::EmailSeveralAt => "email_several_at",
            Problem::EmailEmptyLocalPart => "email_empty_local_part",
            Problem::EmailBadDomain => "email_bad_domain",
            Problem::NotUtcTimestamp => "not_utc_timestamp",
            Problem::UnknownOp => "unknown_op",
        }
    }
}

/// A problem with one field, with the offending value (shortened) so a person can find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub column: Column,
    pub problem: Problem,
    pub value: String,
}

const SHOWN_VALUE_CHARS: usize = 60;

impl FieldError {
    pub fn new(column: Column, problem: Problem, value: &str) -> Self {
        let mut shown: String = value.chars().take(SHOWN_VALUE_CHARS).collect();
        if shown.len() < value.len() {
            shown.push('…');
        }
        FieldError {
            column,
            problem,
            value: shown,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.value;
        write!(f, "column {}: ", self.column)?;
        match self.problem {
            Problem::Missing
                if self.column == Column::CustomerId || self.column == Column::UpdatedAt =>
            {
                write!(f, "is empty")
            }
            Problem::Missing if self.column == Column::Op => write!(f, "is empty, expected U or D"),
            Problem::Missing => write!(f, "is empty but required when op is U"),
            Problem::TooLong { bytes, max } => {
                write!(f, "'{v}' is {bytes} bytes, at most {max} allowed")
            }
            Problem::NotAnInteger => write!(f, "'{v}' is not a whole number"),
            Problem::IdOutOfRange => write!(f, "'{v}' is outside 1..={MAX_CUSTOMER_ID}"),
            Problem::EmailNoAt => write!(f, "'{v}' has no @"),
            Problem::EmailSeveralAt => write!(f, "'{v}' has more than one @"),
            Problem::EmailEmptyLocalPart => write!(f, "'{v}' has nothing before the @"),
            Problem::EmailBadDomain => write!(f, "'{v}' has no domain with a dot after the @"),
            Problem::NotUtcTimestamp => {
                write!(
                    f,
                    "'{v}' is not a UTC timestamp to the second like 2026-01-31T09:30:00Z"
                )
            }
            Problem::UnknownOp => write!(f, "'{v}' is not U or D"),
        }
    }
}

/// Why a row does not satisfy the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("has {found} columns, expected {}", COLUMNS.len())]
    ColumnCount { found: usize },
    #[error("{}", join_problems(.0))]
    Fields(Vec<FieldError>),
}

fn join_problems(problems: &[FieldError]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn parse_customer_id(value: &str) -> Result<u64, Problem> {
    if value.is_empty() {
        return Err(Problem::Missing);
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotAnInteger);
    }
    match value.parse::<u64>() {
        Ok(id) if (1..=MAX_CUSTOMER_ID).contains(&id) => Ok(id),
        _ => Err(Problem::IdOutOfRange),
    }
}

/// RFC 3339 in UTC to the second, `YYYY-MM-DDTHH:MM:SSZ` (e.g. `2026-01-31T09:30:00Z`): exactly
/// what the pipe's TIMESTAMP_FORMAT (`'YYYY-MM-DD"T"HH24:MI:SS"Z"'`, sql/03_ingest.sql) reads.
/// Snowflake formats have no optional part, so fractions, which that format would fail to load,
/// are refused here, before the file reaches the pipe.
pub fn parse_updated_at(value: &str) -> Result<DateTime<Utc>, Problem> {
    if value.is_empty() {
        return Err(Problem::Missing);
    }
    let bytes = value.as_bytes();
    if bytes.len() != 20 || bytes[10] != b'T' || !value.ends_with('Z') {
        return Err(Problem::NotUtcTimestamp);
    }
    parse_whole_seconds(bytes).ok_or(Problem::NotUtcTimestamp)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form the generator writes: read the digits directly (this runs
/// on every row the validator sees) and let chrono check the calendar.
fn parse_whole_seconds(b: &[u8]) -> Option<DateTime<Utc>> {
    let layout_ok = [4, 7].iter().all(|&i| b[i] == b'-') && b[13] == b':' && b[16] == b':';
    let number = |from: usize, len: usize| {
        b[from..from + len].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    if !layout_ok {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 2)?, number(8, 2)?)?;
    let time = chrono::NaiveTime::from_hms_opt(number(11, 2)?, number(14, 2)?, number(17, 2)?)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

pub fn parse_op(value: &str) -> Result<Op, Problem> {
    match value {
        "U" => Ok(Op::Upsert),
        "D" => Ok(Op::Delete),
        "" => Err(Problem::Missing),
        _ => Err(Problem::UnknownOp),
    }
}

/// Checks a text column. `required` is true for `op=U`.
pub fn check_text(column: Column, value: &str, required: bool) -> Result<(), Problem> {
    if value.is_empty() {
        return if required {
            Err(Problem::Missing)
        } else {
            Ok(())
        };
    }
    let max = if column == Column::Email {
        MAX_EMAIL_BYTES
    } else {
        MAX_TEXT_BYTES
    };
    if value.len() > max {
        return Err(Problem::TooLong {
            bytes: value.len(),
            max,
        });
    }
    if column == Column::Email {
        check_email(value)?;
    }
    Ok(())
}

/// Plausible, not RFC 5322: one `@`, a non-empty local part, a domain with an inner dot.
pub fn check_email(value: &str) -> Result<(), Problem> {
    let mut parts = value.split('@');
    let local = parts.next().unwrap_or_default();
    let Some(domain) = parts.next() else {
        return Err(Problem::EmailNoAt);
    };
    if parts.next().is_some() {
        return Err(Problem::EmailSeveralAt);
    }
    if local.is_empty() {
        return Err(Problem::EmailEmptyLocalPart);
    }
    let dot_inside = domain
        .find('.')
        .is_some_and(|i| i > 0 && i + 1 < domain.len());
    if !dot_inside || domain.ends_with('.') || domain.contains(char::is_whitespace) {
        return Err(Problem::EmailBadDomain);
    }
    Ok(())
}

/// Formats a timestamp the way the contract writes it: `YYYY-MM-DDTHH:MM:SSZ` (whole seconds).
/// Hand-formatted because it runs once per generated row and chrono's formatter dominated the
/// profile; years outside 0..=9999 are not representable in RFC 3339 and are clamped by callers.
pub fn format_updated_at(ts: &DateTime<Utc>, out: &mut [u8; 20]) {
    use chrono::{Datelike, Timelike};
    let t: NaiveDateTime = ts.naive_utc();
    let mut put = |at: usize, value: u32, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, t.year().clamp(0, 9999) as u32, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    out[4] = b'-';
    out[7] = b'-';
    out[10] = b'T';
    out[13] = b':';
    out[16] = b':';
    out[19] = b'Z';
}

/// Writes contract CSV: the header first (unless resuming a file), then one line per record.
pub struct CustomerWriter<W: Write> {
    csv: csv::Writer<W>,
    id_buf: itoa::Buffer,
}

impl<W: Write> CustomerWriter<W> {
    /// Starts a new file: writes the header row.
    pub fn new(out: W) -> io::Result<Self> {
        let csv = csv::WriterBuilder::new()
            .has_headers(false)
            .terminator(csv::Terminator::Any(b'\n'))
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(out);
        let mut writer = CustomerWriter {
            csv,
            id_buf: itoa::Buffer::new(),
        };
        writer.csv.write_record(COLUMNS)?;
        Ok(writer)
    }

    pub fn write(&mut self, record: &CustomerRecord) -> io::Result<()> {
        let mut ts = [0u8; 20];
        format_updated_at(&record.updated_at, &mut ts);
        self.csv
            .write_field(self.id_buf.format(record.customer_id))?;
        for column in &Column::ALL[1..8] {
            self.csv.write_field(record.text(*column))?;
        }
        self.csv.write_field(ts)?;
        self.csv.write_field(record.op.as_str())?;
        self.csv.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.csv.into_inner().map_err(|e| e.into_error())
    }
}

/// Why a file cannot be read as contract CSV.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the file is empty (no header row)")]
    Empty,
    #[error("line 1: header is '{found}', expected '{}'", COLUMNS.join(","))]
    Header { found: String },
    #[error("line {line}: {source}")]
    Csv {
        line: u64,
        #[source]
        source: csv::Error,
    },
    #[error("line {line}: {source}")]
    Row {
        line: u64,
        #[source]
        source: RowError,
    },
}

/// Reads contract CSV strictly: exact header, then records checked against every rule.
pub struct CustomerReader<R: Read> {
    csv: csv::Reader<R>,
    record: csv::StringRecord,
}

impl<R: Read> CustomerReader<R> {
    pub fn new(input: R) -> Result<Self, ReadError> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut header = csv::StringRecord::new();
        let has_header = csv
            .read_record(&mut header)
            .map_err(|source| ReadError::Csv { line: 1, source })?;
        if !has_header {
            return Err(ReadError::Empty);
        }
        if !header.iter().eq(COLUMNS) {
            return Err(ReadError::Header {
                found: header.iter().collect::<Vec<_>>().join(","),
            });
        }
        Ok(CustomerReader {
            csv,
            record: csv::StringRecord::new(),
        })
    }
}

impl<R: Read> Iterator for CustomerReader<R> {
    type Item = Result<CustomerRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = self.csv.position().line();
        match self.csv.read_record(&mut self.record) {
            Ok(false) => None,
            Err(source) => Some(Err(ReadError::Csv { line, source })),
            Ok(true) => {
                let line = self.record.position().map_or(line, |p| p.line());
                Some(
                    CustomerRecord::from_fields(self.record.iter())
                        .map_err(|source| ReadError::Row { line, source }),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(id: u64) -> CustomerRecord {
        CustomerRecord {
            customer_id: id,
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: "ada.lovelace@example.com".into(),
            street: "12 St James's Square, Flat 3".into(),
            city: "London".into(),
            state: "Greater London".into(),
            country: "United Kingdom".into(),
            updated_at: "2026-11-23T10:15:00Z".parse().unwrap(),
            op: Op::Upsert,
        }
    }

    fn row(line: &str) -> Result<CustomerRecord, RowError> {
        CustomerRecord::from_fields(line.split(','))
    }

    fn problems(line: &str) -> Vec<(Column, Problem)> {
        match row(line) {
            Err(RowError::Fields(list)) => {
                list.into_iter().map(|p| (p.column, p.problem)).collect()
            }
            other => panic!("expected field problems, got {other:?}"),
        }
    }

    #[test]
    fn header_is_the_documented_column_list() {
        assert_eq!(
            COLUMNS.join(","),
            "customer_id,first_name,last_name,email,street,city,state,country,updated_at,op"
        );
        for (i, column) in Column::ALL.iter().enumerate() {
            assert_eq!(column.name(), COLUMNS[i]);
        }
    }

    #[test]
    fn written_records_read_back_identically() {
        let records = vec![upsert(1), {
            let mut d = CustomerRecord {
                customer_id: MAX_CUSTOMER_ID,
                op: Op::Delete,
                ..CustomerRecord::default()
            };
            d.updated_at = "2026-11-23T10:16:00Z".parse().unwrap();
            d
        }];
        let mut writer = CustomerWriter::new(Vec::new()).unwrap();
        for r in &records {
            writer.write(r).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(&(COLUMNS.join(",") + "\n")));
        assert!(text.contains("\"12 St James's Square, Flat 3\""), "{text}");
        assert!(
            text.ends_with("9007199254740992,,,,,,,,2026-11-23T10:16:00Z,D\n"),
            "{text}"
        );
        let back: Vec<_> = CustomerReader::new(&bytes[..])
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, records);
    }

    #[test]
    fn reads_crlf_line_endings() {
        let text = format!(
            "{}\r\n1,A,B,a@b.io,S,C,St,Co,2026-01-01T00:00:00Z,U\r\n",
            COLUMNS.join(",")
        );
        let rows: Vec<_> = CustomerReader::new(text.as_bytes()).unwrap().collect();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].is_ok());
    }

    #[test]
    fn rejects_header_in_another_order() {
        let text =
            "first_name,customer_id,last_name,email,street,city,state,country,updated_at,op\n";
        let err = CustomerReader::new(text.as_bytes()).err().unwrap();
        assert!(matches!(err, ReadError::Header { .. }), "{err}");
    }

    #[test]
    fn rejects_empty_file() {
        assert!(matches!(
            CustomerReader::new(&b""[..]).err(),
            Some(ReadError::Empty)
        ));
    }

    #[test]
    fn reports_line_number_of_bad_row() {
        let text = format!(
            "{}\n1,A,B,a@b.io,S,C,St,Co,2026-01-01T00:00:00Z,U\n2,A,B,bob.example.com,S,C,St,Co,2026-01-01T00:00:00Z,U\n",
            COLUMNS.join(",")
        );
        let results: Vec<_> = CustomerReader::new(text.as_bytes()).unwrap().collect();
        let err = results[1].as_ref().unwrap_err().to_string();
        assert_eq!(err, "line 3: column email: 'bob.example.com' has no @");
    }

    #[test]
    fn rejects_wrong_column_count() {
        assert_eq!(row("1,A,B"), Err(RowError::ColumnCount { found: 3 }));
    }

    #[test]
    fn rejects_customer_id_zero_and_above_2_pow_53() {
        let ok = "S,C,St,Co,2026-01-01T00:00:00Z,U";
        assert_eq!(
            problems(&format!("0,A,B,a@b.io,{ok}")),
            [(Column::CustomerId, Problem::IdOutOfRange)]
        );
        assert_eq!(
            problems(&format!("9007199254740993,A,B,a@b.io,{ok}")),
            [(Column::CustomerId, Problem::IdOutOfRange)]
        );
        assert_eq!(
            problems(&format!("-4,A,B,a@b.io,{ok}")),
            [(Column::CustomerId, Problem::NotAnInteger)]
        );
        assert_eq!(
            problems(&format!("1.5,A,B,a@b.io,{ok}")),
            [(Column::CustomerId, Problem::NotAnInteger)]
        );
    }

    #[test]
    fn rejects_implausible_emails() {
        for (email, problem) in [
            ("bob.example.com", Problem::EmailNoAt),
            ("a@b@c.io", Problem::EmailSeveralAt),
            ("@example.com", Problem::EmailEmptyLocalPart),
            ("bob@localhost", Problem::EmailBadDomain),
            ("bob@.com", Problem::EmailBadDomain),
            ("bob@example.", Problem::EmailBadDomain),
        ] {
            assert_eq!(check_email(email), Err(problem), "{email}");
        }
        assert_eq!(check_email("o'neil+tag@mail.example.co.uk"), Ok(()));
    }

    #[test]
    fn rejects_timestamps_that_are_not_utc_rfc3339() {
        for ts in [
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00+00:00",
            "2026-01-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:6xZ",
            "2026/01/01T00:00:00Z",
            "yesterday",
            // The pipe's TIMESTAMP_FORMAT reads whole seconds only.
            "2026-01-01T00:00:00.123Z",
        ] {
            assert_eq!(parse_updated_at(ts), Err(Problem::NotUtcTimestamp), "{ts}");
        }
        assert_eq!(
            parse_updated_at("2024-02-29T23:59:59Z"),
            Ok(DateTime::parse_from_rfc3339("2024-02-29T23:59:59Z")
                .unwrap()
                .to_utc())
        );
    }

    #[test]
    fn upsert_requires_every_text_column() {
        assert_eq!(
            problems("7,,B,a@b.io,S,C,St,,2026-01-01T00:00:00Z,U"),
            [
                (Column::FirstName, Problem::Missing),
                (Column::Country, Problem::Missing)
            ]
        );
    }

    #[test]
    fn delete_requires_only_id_and_updated_at() {
        let record = row("7,,,,,,,,2026-01-01T00:00:00Z,D").unwrap();
        assert_eq!(record.op, Op::Delete);
        assert_eq!(
            problems("7,,,,,,,,,D"),
            [(Column::UpdatedAt, Problem::Missing)]
        );
    }

    #[test]
    fn rejects_unknown_op_without_blaming_other_columns() {
        assert_eq!(
            problems("7,,,,,,,,2026-01-01T00:00:00Z,X"),
            [(Column::Op, Problem::UnknownOp)]
        );
    }

    #[test]
    fn enforces_byte_limits() {
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            problems(&format!(
                "7,{long},B,a@b.io,S,C,St,Co,2026-01-01T00:00:00Z,U"
            )),
            [(
                Column::FirstName,
                Problem::TooLong {
                    bytes: 257,
                    max: 256
                }
            )]
        );
        let email = format!("{}@example.com", "a".repeat(250));
        assert!(matches!(
            check_text(Column::Email, &email, true),
            Err(Problem::TooLong { max: 254, .. })
        ));
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "é".repeat(100);
        let err = FieldError::new(Column::City, Problem::Missing, &long);
        assert_eq!(err.value.chars().count(), SHOWN_VALUE_CHARS + 1);
    }
}

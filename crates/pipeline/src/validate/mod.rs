//! The streaming validator: one pass over a file's bytes, memory bounded by one record, every
//! rule of the contract. Bytes are pushed in pieces of any size, so the same code serves a file,
//! stdin, or an S3 body read asynchronously.

mod input;
mod tokenizer;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};

use crate::contract::{COLUMNS, Column, FieldError, check_fields};
pub use input::{FileValidator, SizeLimits, validate_read};
pub use tokenizer::MAX_RECORD_BYTES;
use tokenizer::{Record, Syntax, Tokenizer};

/// How many problems a report lists in detail; all are counted.
pub const MAX_PROBLEMS_SHOWN: usize = 100;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A column name or a problem code: the validator's own constants, or read back from a
/// stored report (the quarantine report beside a file).
pub type Code = Cow<'static, str>;

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemDetail {
    /// 1-based line the record starts on (0 for problems of the whole file).
    pub line: u64,
    pub column: Option<Code>,
    /// Stable code of the kind of problem, as counted in `problem_counts`.
    pub kind: Code,
    /// A sentence for people, e.g. "line 42, column email: 'bob.example.com' has no @".
    pub message: String,
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub valid: bool,
    /// Data rows (records after the header).
    pub rows: u64,
    pub valid_rows: u64,
    pub invalid_rows: u64,
    /// Bytes read as stored (compressed, for gzip).
    pub bytes: u64,
    /// CSV bytes after decompression.
    pub csv_bytes: u64,
    pub gzip: bool,
    /// Every problem counted by kind.
    pub problem_counts: BTreeMap<Code, u64>,
    /// The first [`MAX_PROBLEMS_SHOWN`] problems, in file order.
    pub problems: Vec<ProblemDetail>,
}

impl ValidationReport {
    pub fn problem_total(&self) -> u64 {
        self.problem_counts.values().sum()
    }
}

/// Validates CSV bytes (already decompressed). Feed it with [`Validator::feed`] or as a writer.
pub struct Validator {
    tokenizer: Tokenizer,
    findings: Findings,
    /// The first bytes, held until there are enough to recognise a byte-order mark.
    start: Option<Vec<u8>>,
}

#[derive(Default)]
struct Findings {
    header: HeaderState,
    rows: u64,
    invalid_rows: u64,
    csv_bytes: u64,
    counts: BTreeMap<&'static str, u64>,
    total: u64,
    problems: Vec<ProblemDetail>,
}

#[derive(Default, PartialEq, Eq)]
enum HeaderState {
    #[default]
    Pending,
    Good,
    Bad,
}

impl Default for Validator {
    fn default() -> Self {
        Validator {
            tokenizer: Tokenizer::default(),
            findings: Findings::default(),
            start: Some(Vec::with_capacity(BOM.len())),
        }
    }
}

impl Validator {
    pub fn feed(&mut self, data: &[u8]) {
        self.findings.csv_bytes += data.len() as u64;
        let Some(start) = self.start.as_mut() else {
            self.tokenize(data);
            return;
        };
        let wanted = BOM.len() - start.len();
        start.extend_from_slice(&data[..wanted.min(data.len())]);
        if start.len() < BOM.len() {
            return;
        }
        let start = self.start.take().expect("present");
        self.tokenize_start(&start);
        self.tokenize(&data[wanted..]);
    }

    fn tokenize_start(&mut self, start: &[u8]) {
        if start.starts_with(BOM) {
            self.findings.problem(0, None, "byte_order_mark", || {
                "the file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM".into()
            });
            self.tokenize(&start[BOM.len()..]);
        } else {
            self.tokenize(start);
        }
    }

    fn tokenize(&mut self, data: &[u8]) {
        let findings = &mut self.findings;
        self.tokenizer
            .feed(data, &mut |record| findings.record(&record));
    }

    /// CSV bytes fed so far.
    pub fn csv_bytes(&self) -> u64 {
        self.findings.csv_bytes
    }

    pub fn finish(mut self, bytes: u64, gzip: bool) -> ValidationReport {
        if let Some(start) = self.start.take() {
            self.tokenize_start(&start);
        }
        let findings = &mut self.findings;
        self.tokenizer
            .finish(&mut |record| findings.record(&record));
        let mut f = self.findings;
        if f.csv_bytes == 0 {
            f.problem(0, None, "empty_file", || {
                "the file is empty; expected a header row and data rows".into()
            });
        } else if f.rows == 0 && f.header == HeaderState::Good {
            f.problem(0, None, "header_only", || {
                "the file has a header but no data rows".into()
            });
        }
        f.report(bytes, gzip)
    }

    /// The report on what was judged so far, when validation stops early: the record in
    /// progress is cut off, not wrong, so it is left out.
    pub fn abandon(self, bytes: u64, gzip: bool) -> ValidationReport {
        self.findings.report(bytes, gzip)
    }
}

impl Findings {
    fn report(self, bytes: u64, gzip: bool) -> ValidationReport {
        ValidationReport {
            valid: self.counts.is_empty(),
            rows: self.rows,
            valid_rows: self.rows - self.invalid_rows,
            invalid_rows: self.invalid_rows,
            bytes,
            csv_bytes: self.csv_bytes,
            gzip,
            problem_counts: self
                .counts
                .into_iter()
                .map(|(kind, n)| (Cow::Borrowed(kind), n))
                .collect(),
            problems: self.problems,
        }
    }
}

impl io::Write for Validator {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.feed(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Findings {
    /// Counts a problem; builds its message only while the report still lists problems.
    fn problem(
        &mut self,
        line: u64,
        column: Option<Column>,
        kind: &'static str,
        message: impl FnOnce() -> String,
    ) {
        *self.counts.entry(kind).or_default() += 1;
        self.total += 1;
        if self.problems.len() < MAX_PROBLEMS_SHOWN {
            self.problems.push(ProblemDetail {
                line,
                column: column.map(|c| Cow::Borrowed(c.name())),
                kind: Cow::Borrowed(kind),
                message: message(),
            });
        }
    }

    fn record(&mut self, record: &Record<'_>) {
        if self.header == HeaderState::Pending {
            self.header(record);
            return;
        }
        self.rows += 1;
        if self.header == HeaderState::Bad {
            // Without the right header the columns cannot be trusted; the header problem says so.
            self.invalid_rows += 1;
            return;
        }
        let line = record.line;
        let before = self.total;
        if let Some(syntax) = record.syntax {
            let (kind, text) = describe(syntax);
            self.problem(line, None, kind, || format!("line {line}: {text}"));
        } else if record.ends.len() != COLUMNS.len() {
            let found = record.ends.len();
            self.problem(line, None, "wrong_column_count", || {
                format!(
                    "line {line}: has {found} columns, expected {}",
                    COLUMNS.len()
                )
            });
        } else {
            self.fields(record);
        }
        if self.total > before {
            self.invalid_rows += 1;
        }
    }

    fn fields(&mut self, record: &Record<'_>) {
        let line = record.line;
        // One UTF-8 check over the whole record, plus char boundaries at the field ends, is
        // equivalent to checking each field and much cheaper on short fields.
        let whole = std::str::from_utf8(record.buf).ok();
        let Some(text) = whole.filter(|t| record.ends.iter().all(|&e| t.is_char_boundary(e)))
        else {
            self.not_utf8(record);
            return;
        };
        let mut texts: [&str; 10] = [""; 10];
        let mut start = 0;
        for (slot, &end) in texts.iter_mut().zip(record.ends) {
            *slot = &text[start..end];
            start = end;
        }
        check_fields(&texts, |column, problem| {
            self.problem(line, Some(column), problem.code(), || {
                format!(
                    "line {line}, {}",
                    FieldError::new(column, problem, texts[column as usize])
                )
            });
        });
    }

    /// Reports each field that is not valid UTF-8 (the rare path).
    fn not_utf8(&mut self, record: &Record<'_>) {
        let line = record.line;
        for (i, column) in Column::ALL.into_iter().enumerate() {
            if let Err(err) = std::str::from_utf8(record.field(i)) {
                let at = err.valid_up_to();
                let byte = record.field(i)[at];
                self.problem(line, Some(column), "not_utf8", || {
                    format!("line {line}, column {column}: is not valid UTF-8 (byte 0x{byte:02X} at position {at})")
                });
            }
        }
    }

    fn header(&mut self, record: &Record<'_>) {
        let matches = record.syntax.is_none()
            && record.ends.len() == COLUMNS.len()
            && COLUMNS
                .iter()
                .enumerate()
                .all(|(i, name)| record.field(i) == name.as_bytes());
        if matches {
            self.header = HeaderState::Good;
            return;
        }
        self.header = HeaderState::Bad;
        let found: String = (0..record.ends.len())
            .map(|i| String::from_utf8_lossy(record.field(i)))
            .collect::<Vec<_>>()
            .join(",")
            .chars()
            .take(200)
            .collect();
        let line = record.line;
        self.problem(line, None, "bad_header", || {
            format!(
                "line {line}: header is '{found}', expected '{}'",
                COLUMNS.join(",")
            )
        });
    }
}

fn describe(syntax: Syntax) -> (&'static str, String) {
    match syntax {
        Syntax::BlankLine => ("blank_line", "is blank".into()),
        Syntax::StrayQuote => (
            "stray_quote",
            "has a double quote inside an unquoted field".into(),
        ),
        Syntax::TextAfterClosingQuote => (
            "text_after_closing_quote",
            "has text after a closing double quote (write \"\" for a quote inside a quoted field)"
                .into(),
        ),
        Syntax::UnterminatedQuote => (
            "unterminated_quote",
            "opens a quoted field that is never closed (the file ends inside it)".into(),
        ),
        Syntax::StrayCarriageReturn => (
            "stray_carriage_return",
            "has a carriage return that is not part of a CRLF line ending".into(),
        ),
        Syntax::RecordTooLong => (
            "line_too_long",
            format!("is longer than {MAX_RECORD_BYTES} bytes, more than any valid row"),
        ),
        Syntax::TooManyColumns => (
            "wrong_column_count",
            format!("has far more than {} columns", COLUMNS.len()),
        ),
    }
}

//! Where the bytes come from: plain or gzip (by magic bytes, checked against the key's suffix),
//! pushed in pieces of any size, within size limits that bound the work one file can cause.

use std::io::{self, Read, Write};
use std::time::Instant;

use flate2::write::MultiGzDecoder;

use super::{ValidationReport, Validator};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Compressed bytes handed to the gzip decoder at once. Deflate expands at most about 1,032:1,
/// so one slice decodes to at most ~16 MiB before the content limit is checked again.
const GZIP_SLICE: usize = 16 * 1024;

/// The largest file validation takes on. Past either limit a file is invalid and validation
/// stops, so a gzip bomb or a huge upload costs bounded time and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// Bytes as stored (compressed, for gzip).
    pub max_object_bytes: u64,
    /// CSV bytes after decompression.
    pub max_csv_bytes: u64,
}

impl SizeLimits {
    /// Snowflake recommends loading files of roughly 100-250 MB compressed; 256 MiB stored and
    /// 1 GiB of CSV leave room above that while keeping one file's validation to seconds.
    pub const DEFAULT: SizeLimits = SizeLimits {
        max_object_bytes: 256 * 1024 * 1024,
        max_csv_bytes: 1024 * 1024 * 1024,
    };
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits::DEFAULT
    }
}

/// Why validation stopped before the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    ObjectTooLarge,
    CsvTooLarge,
}

/// Validates one stored file: decompresses gzip on the fly, so memory stays bounded too.
pub struct FileValidator {
    stage: Stage,
    /// The name says `.gz`: the content must be gzip.
    expect_gzip: bool,
    bytes: u64,
    limits: SizeLimits,
    stopped: Option<Stop>,
}

enum Stage {
    /// Fewer than two bytes seen: gzip or not is still open.
    Sniffing(Vec<u8>),
    Plain(Validator),
    Gzip(Box<MultiGzDecoder<Validator>>),
    /// The gzip stream broke; what was decoded so far was validated.
    BrokenGzip(Validator, String),
    Taken,
}

impl FileValidator {
    /// `name` is the key or path: a `.gz` suffix means the content must be gzip. The default
    /// [`SizeLimits`] apply.
    pub fn new(name: &str) -> FileValidator {
        FileValidator::with_limits(name, SizeLimits::DEFAULT)
    }

    pub fn with_limits(name: &str, limits: SizeLimits) -> FileValidator {
        FileValidator {
            stage: Stage::Sniffing(Vec::with_capacity(2)),
            expect_gzip: name.ends_with(".gz"),
            bytes: 0,
            limits,
            stopped: None,
        }
    }

    /// The report on a file known to be over the object limit without reading it: `size` is
    /// its stored size as announced or listed.
    pub fn too_large(name: &str, size: u64, limits: SizeLimits) -> ValidationReport {
        let mut validator = FileValidator::with_limits(name, limits);
        validator.bytes = size;
        validator.stopped = Some(Stop::ObjectTooLarge);
        validator.finish()
    }

    /// True once a limit was passed: further bytes are ignored, so the caller can stop reading.
    pub fn stopped(&self) -> bool {
        self.stopped.is_some()
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.feed_before(data, None);
    }

    /// Feeds `data` unless `deadline` passes first; the deadline is checked after every
    /// decompression slice, so one call past it costs at most one slice (~16 MiB of output),
    /// however large `data` is. `false`: the deadline passed and the rest of `data` was not
    /// fed, so the file cannot be judged.
    pub fn feed_before(&mut self, data: &[u8], deadline: Option<Instant>) -> bool {
        if self.stopped.is_some() {
            return true;
        }
        self.bytes += data.len() as u64;
        if self.bytes > self.limits.max_object_bytes {
            self.stopped = Some(Stop::ObjectTooLarge);
            return true;
        }
        if let Stage::Sniffing(start) = &mut self.stage {
            start.extend_from_slice(data);
            if start.len() < GZIP_MAGIC.len() {
                return true;
            }
            let start = std::mem::take(start);
            self.stage = if start.starts_with(&GZIP_MAGIC) {
                Stage::Gzip(Box::new(MultiGzDecoder::new(Validator::default())))
            } else {
                Stage::Plain(Validator::default())
            };
            return self.push(&start, deadline);
        }
        self.push(data, deadline)
    }

    fn push(&mut self, data: &[u8], deadline: Option<Instant>) -> bool {
        let max_csv = self.limits.max_csv_bytes;
        match &mut self.stage {
            Stage::Plain(validator) => {
                validator.feed(data);
                if validator.csv_bytes() > max_csv {
                    self.stopped = Some(Stop::CsvTooLarge);
                }
            }
            Stage::Gzip(decoder) => {
                for slice in data.chunks(GZIP_SLICE) {
                    if let Err(err) = decoder.write_all(slice) {
                        self.break_gzip(err);
                        return true;
                    }
                    if decoder.get_ref().csv_bytes() > max_csv {
                        self.stopped = Some(Stop::CsvTooLarge);
                        return true;
                    }
                    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                        return false;
                    }
                }
            }
            Stage::BrokenGzip(..) | Stage::Sniffing(_) | Stage::Taken => {}
        }
        true
    }

    fn break_gzip(&mut self, err: io::Error) {
        if let Stage::Gzip(decoder) = std::mem::replace(&mut self.stage, Stage::Taken) {
            // The decoder's output so far was already handed to the validator.
            let validator = decoder.finish().unwrap_or_else(|_| Validator::default());
            self.stage = Stage::BrokenGzip(validator, err.to_string());
        }
    }

    pub fn finish(mut self) -> ValidationReport {
        if self.stopped.is_some() {
            return self.finish_stopped();
        }
        if let Stage::Gzip(decoder) = &mut self.stage
            && let Err(err) = decoder.try_finish()
        {
            self.break_gzip(err);
        }
        let gzip = matches!(self.stage, Stage::Gzip(_) | Stage::BrokenGzip(..));
        let (validator, broken) = match std::mem::replace(&mut self.stage, Stage::Taken) {
            Stage::Sniffing(start) => {
                let mut validator = Validator::default();
                validator.feed(&start);
                (validator, None)
            }
            Stage::Plain(validator) => (validator, None),
            Stage::Gzip(decoder) => match decoder.finish() {
                Ok(validator) => (validator, None),
                Err(err) => (Validator::default(), Some(err.to_string())),
            },
            Stage::BrokenGzip(validator, err) => (validator, Some(err)),
            Stage::Taken => unreachable!("finish runs once"),
        };
        let mut report = validator.finish(self.bytes, gzip);
        self.file_problems(&mut report, broken);
        report
    }

    /// The report on a file validation gave up on at a limit: what was seen up to there, with
    /// the limit as the first problem. The record cut in half at the limit is not judged.
    fn finish_stopped(mut self) -> ValidationReport {
        let gzip = matches!(self.stage, Stage::Gzip(_) | Stage::BrokenGzip(..));
        let validator = match std::mem::replace(&mut self.stage, Stage::Taken) {
            Stage::Plain(validator) | Stage::BrokenGzip(validator, _) => validator,
            Stage::Gzip(mut decoder) => std::mem::take(decoder.get_mut()),
            Stage::Sniffing(_) | Stage::Taken => Validator::default(),
        };
        let mut report = validator.abandon(self.bytes, gzip);
        let (kind, message) = match self.stopped {
            Some(Stop::ObjectTooLarge) => (
                "object_too_large",
                format!(
                    "the file is larger than the {} bytes ingest accepts (MAX_OBJECT_BYTES); split it into smaller files",
                    self.limits.max_object_bytes
                ),
            ),
            _ => (
                "content_too_large",
                format!(
                    "the content is larger than the {} bytes ingest accepts (MAX_CSV_BYTES); validation stopped there. Split it into smaller files",
                    self.limits.max_csv_bytes
                ),
            ),
        };
        add_file_problem(&mut report, kind, message);
        report
    }

    fn file_problems(&self, report: &mut ValidationReport, broken: Option<String>) {
        if let Some(err) = broken {
            add_file_problem(
                report,
                "bad_gzip",
                format!("the gzip stream is broken or truncated: {err}"),
            );
        }
        if self.expect_gzip && !report.gzip && self.bytes > 0 {
            add_file_problem(
                report,
                "not_gzip",
                "the name ends in .gz but the content is not gzip".into(),
            );
        }
    }
}

/// A problem of the whole file: listed first, counted, and the file invalid.
fn add_file_problem(report: &mut ValidationReport, kind: &'static str, message: String) {
    report.valid = false;
    *report.problem_counts.entry(kind.into()).or_default() += 1;
    report.problems.insert(
        0,
        super::ProblemDetail {
            line: 0,
            column: None,
            kind: kind.into(),
            message,
        },
    );
    report.problems.truncate(super::MAX_PROBLEMS_SHOWN);
}

/// Validates everything `input` yields; `name` is the file's key or path.
pub fn validate_read(name: &str, mut input: impl Read) -> io::Result<ValidationReport> {
    let mut validator = FileValidator::new(name);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(validator.finish()),
            Ok(n) => {
                validator.feed(&buf[..n]);
                if validator.stopped() {
                    return Ok(validator.finish());
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

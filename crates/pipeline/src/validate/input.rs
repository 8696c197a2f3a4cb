//! Where the bytes come from: plain or gzip (by magic bytes, checked against the key's suffix),
//! pushed in pieces of any size.

use std::io::{self, Read, Write};

use flate2::write::MultiGzDecoder;

use super::{ValidationReport, Validator};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Validates one stored file: decompresses gzip on the fly, so memory stays bounded too.
pub struct FileValidator {
    stage: Stage,
    /// The name says `.gz`: the content must be gzip.
    expect_gzip: bool,
    bytes: u64,
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
    /// `name` is the key or path: a `.gz` suffix means the content must be gzip.
    pub fn new(name: &str) -> FileValidator {
        FileValidator {
            stage: Stage::Sniffing(Vec::with_capacity(2)),
            expect_gzip: name.ends_with(".gz"),
            bytes: 0,
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        if let Stage::Sniffing(start) = &mut self.stage {
            start.extend_from_slice(data);
            if start.len() < GZIP_MAGIC.len() {
                return;
            }
            let start = std::mem::take(start);
            self.stage = if start.starts_with(&GZIP_MAGIC) {
                Stage::Gzip(Box::new(MultiGzDecoder::new(Validator::default())))
            } else {
                Stage::Plain(Validator::default())
            };
            self.push(&start);
            return;
        }
        self.push(data);
    }

    fn push(&mut self, data: &[u8]) {
        match &mut self.stage {
            Stage::Plain(validator) => validator.feed(data),
            Stage::Gzip(decoder) => {
                if let Err(err) = decoder.write_all(data) {
                    self.break_gzip(err);
                }
            }
            Stage::BrokenGzip(..) | Stage::Sniffing(_) | Stage::Taken => {}
        }
    }

    fn break_gzip(&mut self, err: io::Error) {
        if let Stage::Gzip(decoder) = std::mem::replace(&mut self.stage, Stage::Taken) {
            // The decoder's output so far was already handed to the validator.
            let validator = decoder.finish().unwrap_or_else(|_| Validator::default());
            self.stage = Stage::BrokenGzip(validator, err.to_string());
        }
    }

    pub fn finish(mut self) -> ValidationReport {
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
        let mut file_problem = |kind: &'static str, message: String| {
            report.valid = false;
            *report.problem_counts.entry(kind).or_default() += 1;
            report.problems.insert(
                0,
                super::ProblemDetail {
                    line: 0,
                    column: None,
                    kind,
                    message,
                },
            );
            report.problems.truncate(super::MAX_PROBLEMS_SHOWN);
        };
        if let Some(err) = broken {
            file_problem(
                "bad_gzip",
                format!("the gzip stream is broken or truncated: {err}"),
            );
        }
        if self.expect_gzip && !gzip && self.bytes > 0 {
            file_problem(
                "not_gzip",
                "the name ends in .gz but the content is not gzip".into(),
            );
        }
        report
    }
}

/// Validates everything `input` yields; `name` is the file's key or path.
pub fn validate_read(name: &str, mut input: impl Read) -> io::Result<ValidationReport> {
    let mut validator = FileValidator::new(name);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(validator.finish()),
            Ok(n) => validator.feed(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

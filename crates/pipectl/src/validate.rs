//! `pipectl validate`: the ingest function's validator on local files.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use pipectl::error::CliError;
use pipeline::validate::{FileValidator, ValidationReport};
use serde::Serialize;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Files to check (`-` for stdin); `.csv.gz` and gzip content are decompressed.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// One JSON report per line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct FileReport<'a> {
    file: &'a str,
    #[serde(flatten)]
    report: &'a ValidationReport,
}

/// Exit status: 0 all valid, 1 any invalid, 2 when a file could not be read.
pub fn run(args: ValidateArgs) -> Result<(), CliError> {
    let mut invalid = 0;
    let mut unreadable = 0;
    let stdout = io::stdout();
    for path in &args.files {
        let name = path.display().to_string();
        let started = Instant::now();
        let report = match open(path).and_then(|input| validate(&name, input)) {
            Ok(report) => report,
            Err(err) => {
                eprintln!("error: {name}: {err}");
                unreadable += 1;
                continue;
            }
        };
        invalid += usize::from(!report.valid);
        let mut out = stdout.lock();
        let written = if args.json {
            serde_json::to_writer(
                &mut out,
                &FileReport {
                    file: &name,
                    report: &report,
                },
            )
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
        } else {
            print_text(&mut out, &name, &report, started.elapsed().as_secs_f64())
        };
        if written.is_err() {
            // stdout is gone (a closed pipe): nowhere left to report to.
            return Err(CliError::Reported { usage: true });
        }
    }
    // Each file's verdict, or why it could not be read, is printed already.
    match (unreadable, invalid) {
        (0, 0) => Ok(()),
        (0, _) => Err(CliError::Reported { usage: false }),
        _ => Err(CliError::Reported { usage: true }),
    }
}

fn open(path: &PathBuf) -> io::Result<Box<dyn Read>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(io::stdin().lock()))
    } else {
        Ok(Box::new(File::open(path)?))
    }
}

/// Reads in 256 KiB pieces, within the ingest function's default size limits; on a terminal,
/// shows progress for large inputs.
fn validate(name: &str, mut input: Box<dyn Read>) -> io::Result<ValidationReport> {
    let mut validator = FileValidator::new(name);
    let mut buf = vec![0u8; 256 * 1024];
    let show_progress = io::stderr().is_terminal();
    let (mut read, mut next_report) = (0u64, 1u64 << 30);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        validator.feed(&buf[..n]);
        read += n as u64;
        if validator.stopped() {
            // Past a size limit: the report says which; the rest is not read.
            break;
        }
        if show_progress && read >= next_report {
            eprint!("\r{name}: {} MiB read", read >> 20);
            next_report += 1 << 30;
        }
    }
    if show_progress && read >= 1 << 30 {
        eprintln!();
    }
    Ok(validator.finish())
}

fn print_text(
    out: &mut impl Write,
    name: &str,
    r: &ValidationReport,
    seconds: f64,
) -> io::Result<()> {
    let encoding = if r.gzip { "gzip" } else { "plain" };
    let speed = r.csv_bytes as f64 / seconds.max(1e-9) / 1e6;
    if r.valid {
        return writeln!(
            out,
            "{name}: valid, {} rows, {} bytes ({encoding}), {speed:.0} MB/s",
            r.rows, r.bytes
        );
    }
    writeln!(
        out,
        "{name}: INVALID, {} rows ({} invalid), {} problems",
        r.rows,
        r.invalid_rows,
        r.problem_total()
    )?;
    for p in &r.problems {
        writeln!(out, "  {}", p.message)?;
    }
    if r.problem_total() > r.problems.len() as u64 {
        writeln!(
            out,
            "  … and {} more",
            r.problem_total() - r.problems.len() as u64
        )?;
    }
    let counts: Vec<String> = r
        .problem_counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    writeln!(out, "  problems by kind: {}", counts.join(", "))
}

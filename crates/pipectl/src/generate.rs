//! `pipectl generate`: the generator Lambda's code, writing to a file or stdout.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use clap::Args;
use pipeline::generator::{CustomerStream, FileId, GeneratorSettings, write_file};

use pipectl::error::CliError;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Rows in the file.
    #[arg(long, env = "ROWS_PER_FILE", default_value_t = GeneratorSettings::default().rows)]
    rows: u64,
    /// Seed of the random stream (with the time and id it fixes the bytes).
    #[arg(long, env = "SEED", default_value_t = GeneratorSettings::default().seed)]
    seed: u64,
    /// Scheduled time (RFC 3339), as in the event's `time`. Default: now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<DateTime<Utc>>,
    /// Event id (a UUID or its first 8 hex digits), as in the event's `id`. Default: derived
    /// from the seed and time.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Ids are drawn from 1..=ID_SPACE [default: 10000, or --rows when that is more]
    #[arg(long, env = "ID_SPACE")]
    id_space: Option<u64>,
    /// Share of rows that are deletes (op=D).
    #[arg(long, env = "DELETE_RATE", default_value_t = GeneratorSettings::default().delete_rate)]
    delete_rate: f64,
    /// Share of rows that are new customers.
    #[arg(long, env = "NEW_RATE", default_value_t = GeneratorSettings::default().new_rate)]
    new_rate: f64,
    /// Write .csv.gz.
    #[arg(long)]
    gzip: bool,
    /// Output file, or - for stdout. Default: the object's file name in the current folder.
    #[arg(long, value_name = "FILE|-")]
    out: Option<PathBuf>,
}

pub fn run(args: GenerateArgs) -> Result<(), CliError> {
    let id_space = args.id_space.unwrap_or_else(|| {
        let fitting = GeneratorSettings::id_space_fitting(args.rows);
        if fitting > GeneratorSettings::default().id_space {
            eprintln!("note: ids are drawn from 1..={fitting}, one per row (--id-space to choose)");
        }
        fitting
    });
    let settings = GeneratorSettings {
        rows: args.rows,
        id_space,
        delete_rate: args.delete_rate,
        new_rate: args.new_rate,
        seed: args.seed,
    };
    settings
        .check()
        .map_err(|problem| CliError::Usage(problem.replace("ROWS_PER_FILE", "--rows")))?;
    let at = args.at.unwrap_or_else(Utc::now);
    let file = match &args.id {
        Some(id) => {
            FileId::from_event(at, id).map_err(|e| CliError::Usage(format!("--id: {e}")))?
        }
        None => FileId::derived(at, args.seed),
    };
    let key = file.object_key("", args.gzip);
    let stream = CustomerStream::new(&settings, &file);
    let started = Instant::now();
    let show_progress = io::stderr().is_terminal() && args.rows >= 1_000_000;
    let mut progress = |rows: u64| {
        if show_progress {
            eprint!("\r{rows} / {} rows", args.rows);
        }
    };
    let (rows, target) = match args.out.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            let stdout = io::stdout().lock();
            (
                write_file(stream, args.gzip, BufWriter::new(stdout), &mut progress),
                "stdout".to_owned(),
            )
        }
        path => {
            let path = path.map_or_else(|| PathBuf::from(&key), PathBuf::from);
            let out = File::create(&path)
                .map_err(|e| CliError::failed(format!("cannot create {}: {e}", path.display())))?;
            (
                write_file(
                    stream,
                    args.gzip,
                    BufWriter::with_capacity(1 << 16, out),
                    &mut progress,
                ),
                path.display().to_string(),
            )
        }
    };
    let rows = rows.map_err(|e| CliError::failed(format!("writing {target} failed: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    if show_progress {
        eprintln!();
    }
    eprintln!(
        "wrote {rows} rows to {target} in {seconds:.2} s ({:.0} rows/s); object key: stream_data/{key}",
        rows as f64 / seconds.max(1e-9)
    );
    io::stderr().flush().ok();
    Ok(())
}

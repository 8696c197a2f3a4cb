//! Peak memory of putting a large generated file into S3 the way the generator Lambda does
//! (multipart, parts built while generating), against the in-process S3 stand-in.
//!
//!     cargo run --release -p pipeline --example upload_memory -- 5000000
//!
//! Prints rows, bytes, parts, seconds and the process's peak RSS (VmHWM). The stand-in runs in
//! the same process, so the figure is an upper bound for the function alone.

use devstack::S3StandIn;
use pipeline::aws::{S3Store, s3_client_for_endpoint};
use pipeline::generator::{CsvChunks, CustomerStream, FileId, GeneratorSettings};
use pipeline::upload::{MULTIPART_THRESHOLD, upload_chunks};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rows: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().expect("rows: a whole number"));
    let gzip = std::env::args().any(|a| a == "--gzip");
    let s3 = S3StandIn::start_in_temp_dir(&["bench"])
        .await
        .expect("S3 stand-in");
    let client = s3_client_for_endpoint(
        &s3.endpoint(),
        devstack::s3::ACCESS_KEY,
        devstack::s3::SECRET_KEY,
    );
    let store = S3Store::new(client, "bench");
    let settings = GeneratorSettings {
        rows,
        id_space: rows.max(10_000) * 2,
        ..GeneratorSettings::default()
    };
    let file = FileId::new("2026-11-23T10:15:00Z".parse().unwrap(), 0x5b3a9c1e);
    let started = std::time::Instant::now();
    let chunks = CsvChunks::new(
        CustomerStream::new(&settings, &file),
        gzip,
        MULTIPART_THRESHOLD,
    );
    let uploaded = upload_chunks(&store, "big.csv", "text/csv", chunks)
        .await
        .expect("upload");
    println!(
        "rows={} bytes={} parts={} seconds={:.2} peak_rss_mib={:.1}",
        uploaded.rows,
        uploaded.bytes,
        uploaded.parts,
        started.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
}

//! Validation throughput on a generated file held in memory (docs/performance.md):
//! `cargo bench -p pipeline --bench validate`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pipeline::generator::{FileId, GeneratorSettings, generate_bytes};
use pipeline::validate::FileValidator;

const ROWS: u64 = 200_000;

fn file(gzip: bool) -> Vec<u8> {
    let settings = GeneratorSettings {
        rows: ROWS,
        id_space: 1_000_000,
        ..GeneratorSettings::default()
    };
    let id = FileId::new("2026-11-23T10:15:00Z".parse().unwrap(), 0x5b3a9c1e);
    generate_bytes(&settings, &id, gzip)
}

/// Feeds the bytes in 256 KiB pieces, as the file and S3 readers do.
fn validate(name: &str, bytes: &[u8]) -> bool {
    let mut validator = FileValidator::new(name);
    for piece in bytes.chunks(256 * 1024) {
        validator.feed(piece);
    }
    validator.finish().valid
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    group.sample_size(20);
    let plain = file(false);
    group.throughput(Throughput::Bytes(plain.len() as u64));
    group.bench_function("csv", |b| b.iter(|| assert!(validate("f.csv", &plain))));
    // Throughput counted in CSV bytes, so the two figures compare.
    let gzip = file(true);
    group.bench_function("csv_gz", |b| {
        b.iter(|| assert!(validate("f.csv.gz", &gzip)))
    });
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);

//! Generation throughput to an in-memory sink (docs/performance.md): `cargo bench -p pipeline`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pipeline::generator::{CsvChunks, CustomerStream, FileId, GeneratorSettings, write_file};

const ROWS: u64 = 100_000;

fn settings() -> GeneratorSettings {
    GeneratorSettings {
        rows: ROWS,
        id_space: 1_000_000,
        ..GeneratorSettings::default()
    }
}

fn file() -> FileId {
    FileId::new("2026-11-23T10:15:00Z".parse().unwrap(), 0x5b3a9c1e)
}

fn generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(20);
    let settings = settings();
    for gzip in [false, true] {
        let name = if gzip {
            "csv_gz_to_memory"
        } else {
            "csv_to_memory"
        };
        group.bench_function(name, |b| {
            let mut out = Vec::with_capacity(16 << 20);
            b.iter(|| {
                out.clear();
                write_file(
                    CustomerStream::new(&settings, &file()),
                    gzip,
                    &mut out,
                    &mut |_| {},
                )
                .unwrap()
            })
        });
    }
    group.bench_function("csv_in_8mib_chunks", |b| {
        b.iter(|| {
            let mut chunks =
                CsvChunks::new(CustomerStream::new(&settings, &file()), false, 8 << 20);
            let mut bytes = 0;
            while let Some(chunk) = chunks.next_chunk().unwrap() {
                bytes += chunk.bytes.len();
            }
            bytes
        })
    });
    group.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);

//! Turning a [`CustomerStream`] into file bytes: whole (to any writer) or in bounded chunks (for
//! multipart uploads), with the same bytes either way.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::CustomerStream;
use crate::contract::{CustomerRecord, CustomerWriter};

/// Encodes the CSV plain or through gzip. Flushing never forces a gzip sync block (csv flushes
/// its writer on `into_inner`), so chunked and whole-file output stay byte-identical.
enum Encoder<W: Write> {
    Plain(W),
    // Boxed: the compressor state is large and the encoder is made once per file.
    Gzip(Box<GzEncoder<W>>),
}

impl<W: Write> Encoder<W> {
    fn new(gzip: bool, out: W) -> Encoder<W> {
        if gzip {
            // Default gzip header: no name, mtime 0, so the bytes are reproducible.
            Encoder::Gzip(Box::new(GzEncoder::new(out, Compression::default())))
        } else {
            Encoder::Plain(out)
        }
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(out) => Ok(out),
            Encoder::Gzip(enc) => enc.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(out) => out.write(data),
            Encoder::Gzip(enc) => enc.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(out) => out.flush(),
            Encoder::Gzip(_) => Ok(()),
        }
    }
}

/// A piece of a file. Concatenating all chunks in order gives the whole file.
#[derive(Debug)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// True for the final chunk (which may be the only one).
    pub last: bool,
}

/// The chunk producer's output buffer, shared with the encoder that writes into it, so bytes
/// can be taken out while one CSV writer and one compressor run for the whole file. (Restarting
/// the writer per chunk changed the write boundaries the compressor saw, and zlib's output
/// depends on them.)
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    fn len(&self) -> usize {
        self.0.lock().expect("not poisoned").len()
    }

    fn take(&self, capacity: usize) -> Vec<u8> {
        std::mem::replace(
            &mut *self.0.lock().expect("not poisoned"),
            Vec::with_capacity(capacity),
        )
    }
}

impl Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Produces a file in chunks of at least `chunk_bytes` (except the last), holding about one
/// chunk in memory whatever the row count.
pub struct CsvChunks {
    stream: CustomerStream,
    record: CustomerRecord,
    writer: Option<CustomerWriter<Encoder<SharedBuf>>>,
    output: SharedBuf,
    chunk_bytes: usize,
    rows: u64,
}

impl CsvChunks {
    pub fn new(stream: CustomerStream, gzip: bool, chunk_bytes: usize) -> CsvChunks {
        let output = SharedBuf::default();
        let writer = CustomerWriter::new(Encoder::new(gzip, output.clone()))
            .expect("writing the header to memory cannot fail");
        CsvChunks {
            stream,
            record: CustomerRecord::default(),
            writer: Some(writer),
            output,
            chunk_bytes,
            rows: 0,
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next chunk, or `None` after the last one was returned.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(None);
        };
        // A little headroom: a chunk ends on the row that crosses the threshold.
        let capacity = self.chunk_bytes + self.chunk_bytes / 8;
        while self.stream.next_into(&mut self.record) {
            writer.write(&self.record)?;
            self.rows += 1;
            // Checked every 64 rows: cheap, and a row is far smaller than the headroom.
            if self.rows.is_multiple_of(64)
                && self.output.len() >= self.chunk_bytes
                && self.stream.rows_left() > 0
            {
                let bytes = self.output.take(capacity);
                return Ok(Some(Chunk { bytes, last: false }));
            }
        }
        if let Some(writer) = self.writer.take() {
            writer.into_inner()?.finish()?;
        }
        Ok(Some(Chunk {
            bytes: self.output.take(0),
            last: true,
        }))
    }
}

/// How often [`write_file`] reports progress, in rows.
pub const PROGRESS_EVERY_ROWS: u64 = 100_000;

/// Writes a whole file to `out` (a file, stdout): the bytes the chunks would add up to.
/// `progress` is called with the rows written so far every [`PROGRESS_EVERY_ROWS`] rows.
/// Returns the number of rows written.
pub fn write_file<W: Write>(
    mut stream: CustomerStream,
    gzip: bool,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    let mut writer = CustomerWriter::new(Encoder::new(gzip, out))?;
    let mut record = CustomerRecord::default();
    let mut rows: u64 = 0;
    while stream.next_into(&mut record) {
        writer.write(&record)?;
        rows += 1;
        if rows.is_multiple_of(PROGRESS_EVERY_ROWS) {
            progress(rows);
        }
    }
    writer.into_inner()?.finish()?.flush()?;
    Ok(rows)
}

/// A whole file in memory (small files, samples, tests).
pub fn generate_bytes(
    settings: &super::GeneratorSettings,
    file: &super::FileId,
    gzip: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    write_file(
        CustomerStream::new(settings, file),
        gzip,
        &mut out,
        &mut |_| {},
    )
    .expect("writing to memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{FileId, GeneratorSettings};

    fn stream(rows: u64) -> CustomerStream {
        let settings = GeneratorSettings {
            rows,
            id_space: 1_000_000,
            ..GeneratorSettings::default()
        };
        CustomerStream::new(
            &settings,
            &FileId::new("2026-11-23T10:15:00Z".parse().unwrap(), 0xabcdef01),
        )
    }

    fn chunks(rows: u64, gzip: bool, size: usize) -> Vec<Chunk> {
        let mut producer = CsvChunks::new(stream(rows), gzip, size);
        let mut out = Vec::new();
        while let Some(chunk) = producer.next_chunk().unwrap() {
            out.push(chunk);
        }
        out
    }

    #[test]
    fn chunks_concatenate_to_the_whole_file() {
        for gzip in [false, true] {
            let mut whole = Vec::new();
            write_file(stream(20_000), gzip, &mut whole, &mut |_| {}).unwrap();
            let parts = chunks(20_000, gzip, 64 * 1024);
            assert!(parts.len() > 3, "gzip={gzip}: {} chunks", parts.len());
            assert!(
                parts[..parts.len() - 1]
                    .iter()
                    .all(|c| !c.last && c.bytes.len() >= 64 * 1024)
            );
            assert!(parts.last().unwrap().last);
            let joined: Vec<u8> = parts.into_iter().flat_map(|c| c.bytes).collect();
            assert_eq!(joined, whole, "gzip={gzip}");
        }
    }

    #[test]
    fn small_file_is_one_last_chunk() {
        let parts = chunks(10, false, 8 << 20);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].last);
    }

    #[test]
    fn file_ending_exactly_on_a_boundary_still_ends_with_a_last_chunk() {
        // Whatever the sizes, the final chunk is flagged, and no empty non-final chunk appears.
        for size in [1usize, 100, 4096] {
            let parts = chunks(128, false, size);
            assert!(parts.last().unwrap().last);
            assert!(parts.iter().all(|c| !c.bytes.is_empty()));
        }
    }
}

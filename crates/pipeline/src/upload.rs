//! Puts a generated file into the store: one conditional PUT when it fits in one chunk,
//! otherwise a multipart upload built while generating, so memory stays at about one chunk.

use bytes::Bytes;
use tracing::{info, warn};

use crate::aws::S3Store;
use crate::generator::CsvChunks;
use crate::ports::{PutOutcome, StoreError};

/// Files up to this size go up in one PUT; larger ones as multipart parts of this size.
/// S3 parts must be at least 5 MiB (except the last) and at most 10,000, so files up to
/// 80 GB fit.
pub const MULTIPART_THRESHOLD: usize = 8 << 20;

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub outcome: PutOutcome,
    pub rows: u64,
    pub bytes: u64,
    pub parts: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("generating {key} failed: {source}")]
    Generate {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

impl UploadError {
    pub fn retryable(&self) -> bool {
        match self {
            UploadError::Store(e) => e.retryable,
            UploadError::Generate { .. } => false,
        }
    }
}

/// Uploads everything `chunks` produces to `key`, create-only.
pub async fn upload_chunks(
    store: &S3Store,
    key: &str,
    content_type: &str,
    mut chunks: CsvChunks,
) -> Result<Uploaded, UploadError> {
    let generate_err = |source| UploadError::Generate {
        key: key.to_owned(),
        source,
    };
    let first = chunks
        .next_chunk()
        .map_err(generate_err)?
        .expect("a file has at least a header");
    let mut bytes = first.bytes.len() as u64;
    if first.last {
        let outcome = store
            .put_if_absent(key, Bytes::from(first.bytes), content_type)
            .await?;
        return Ok(Uploaded {
            outcome,
            rows: chunks.rows(),
            bytes,
            parts: 1,
        });
    }
    let upload_id = store.create_multipart(key, content_type).await?;
    // `None` while the producer is generating the next part on a blocking thread.
    let mut producer = Some(chunks);
    let result = async {
        let mut parts = Vec::new();
        let mut current = Some(first);
        while let Some(chunk) = current.take() {
            let number = parts.len() as i32 + 1;
            // The next part is generated while this one uploads, so the two overlap; at most
            // two parts are in memory.
            let generating = match (chunk.last, producer.take()) {
                (false, Some(mut chunks)) => Some(tokio::task::spawn_blocking(move || {
                    let next = chunks.next_chunk();
                    (chunks, next)
                })),
                (_, chunks) => {
                    producer = chunks;
                    None
                }
            };
            let uploaded = store
                .upload_part(key, &upload_id, number, Bytes::from(chunk.bytes))
                .await;
            if let Some(generating) = generating {
                let (chunks, next) = generating.await.expect("generating a part does not panic");
                producer = Some(chunks);
                current = next.map_err(generate_err)?;
                bytes += current.as_ref().map_or(0, |c| c.bytes.len() as u64);
            }
            parts.push(uploaded?);
            info!(key, part = number, "uploaded part");
        }
        let outcome = store
            .complete_multipart_if_absent(key, &upload_id, &parts)
            .await?;
        Ok::<_, UploadError>((outcome, parts))
    }
    .await;
    let rows = producer.as_ref().map_or(0, CsvChunks::rows);
    match result {
        Ok((outcome, parts)) => {
            if outcome == PutOutcome::AlreadyExists {
                abort_quietly(store, key, &upload_id).await;
            }
            Ok(Uploaded {
                outcome,
                rows,
                bytes,
                parts: parts.len(),
            })
        }
        Err(err) => {
            // Incomplete uploads cost storage until aborted; the bucket's lifecycle rule is the
            // backstop if this abort fails too.
            abort_quietly(store, key, &upload_id).await;
            Err(err)
        }
    }
}

async fn abort_quietly(store: &S3Store, key: &str, upload_id: &str) {
    if let Err(err) = store.abort_multipart(key, upload_id).await {
        warn!(key, upload_id, error = %err, "could not abort multipart upload");
    }
}

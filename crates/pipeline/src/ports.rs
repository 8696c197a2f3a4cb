//! The small traits the handlers depend on where a part has more than one implementation (the
//! ingest queue: SQS or in-process), and the object-store types `aws::S3Store` speaks in. The
//! bucket itself is `aws::S3Store`, with no trait: it has one implementation, and tests run it
//! against the S3 stand-in over real HTTP.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

/// An object's bytes, read as they arrive.
pub type ObjectReader = Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// An object opened for reading, with its size as S3 states it in the GetObject response
/// (Content-Length, "Size of the body in bytes",
/// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). Unlike the `size` of a
/// queued notification, which anyone allowed to send to the queue can write, this is S3's word.
pub struct OpenedObject {
    pub reader: ObjectReader,
    pub size: Option<u64>,
}

/// Result of a create-only write (`If-None-Match: *`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// The key already existed: nothing was written.
    AlreadyExists,
}

/// A small object read whole, with the version tag a conditional replace compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedObject {
    pub body: Bytes,
    pub e_tag: String,
}

/// Result of a compare-and-swap write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapOutcome {
    Written,
    /// Someone changed (or created) the object since it was read: nothing was written.
    Conflict,
}

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: i32,
    pub e_tag: String,
}

/// A failed object-store call, classified so callers know whether a retry can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} s3://{bucket}/{key} failed: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub bucket: String,
    pub key: String,
    pub message: String,
    /// Throttling, 5xx, timeouts and connection errors: worth retrying.
    pub retryable: bool,
}

/// A failed send to the ingest queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SendMessage to {queue} failed: {message}")]
pub struct QueueError {
    pub queue: String,
    pub message: String,
}

/// The ingest queue as reconciliation uses it: each body becomes one message, read by the
/// ingest function like the bucket's own notifications.
pub trait NotificationQueue: Send + Sync {
    fn send(&self, body: String) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// An ingest queue inside the process, for `pipectl dev` and tests: bodies wait until taken.
#[derive(Debug, Clone, Default)]
pub struct InProcessQueue {
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl InProcessQueue {
    /// Every body sent so far, oldest first; the queue is left empty.
    pub fn take_all(&self) -> Vec<String> {
        std::mem::take(&mut *self.bodies.lock().expect("not poisoned"))
    }
}

impl NotificationQueue for InProcessQueue {
    async fn send(&self, body: String) -> Result<(), QueueError> {
        self.bodies.lock().expect("not poisoned").push(body);
        Ok(())
    }
}

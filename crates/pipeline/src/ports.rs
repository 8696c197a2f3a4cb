//! The small traits the handlers depend on, so tests and `pipectl` run them against stand-ins.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

/// An object's bytes, read as they arrive.
pub type ObjectReader = Pin<Box<dyn tokio::io::AsyncRead + Send>>;

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

/// One bucket: create-only writes, streaming reads, copies and deletes.
pub trait ObjectStore: Send + Sync {
    fn bucket(&self) -> &str;

    /// Opens an object for reading; `Ok(None)` when the key does not exist.
    fn get_object(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectReader>, StoreError>> + Send;

    /// Reads a small object whole with its ETag; `Ok(None)` when the key does not exist.
    fn get_versioned(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<VersionedObject>, StoreError>> + Send;

    /// Writes `body` only if the object is still the version read (`If-Match: <e_tag>`), or, for
    /// `None`, only if it does not exist yet (`If-None-Match: *`): two writers that read the same
    /// version cannot both succeed.
    fn replace_if_unchanged(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        read_e_tag: Option<&str>,
    ) -> impl Future<Output = Result<SwapOutcome, StoreError>> + Send;

    /// Every object whose key starts with `prefix`, in key order (all pages).
    fn list_objects(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ListedObject>, StoreError>> + Send;

    /// Copies an object within the bucket (overwriting the target).
    fn copy_object(
        &self,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes an object; deleting a missing key succeeds, as on S3.
    fn delete_object(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn put_if_absent(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send;

    /// Starts a multipart upload; returns its upload id.
    fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> impl Future<Output = Result<UploadedPart, StoreError>> + Send;

    /// Completes the upload only if the key does not exist yet.
    fn complete_multipart_if_absent(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send;

    fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
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

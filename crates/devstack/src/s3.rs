//! S3 stand-in: s3s-fs serving a folder on 127.0.0.1, wrapped so that create-only writes
//! (`If-None-Match: *`) are atomic and every created object is reported to subscribers (the
//! ingest wiring turns those reports into S3 event notifications).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Credentials the stand-in accepts (requests are SigV4-checked like S3 does).
pub const ACCESS_KEY: &str = "devstack";
pub const SECRET_KEY: &str = "devstack-secret-key";

/// A completed PutObject or CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// `ObjectCreated:Put` or `ObjectCreated:CompleteMultipartUpload`, as in S3 events.
    pub event_name: &'static str,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub e_tag: String,
    /// Increases with every event, like S3's sequencer for one key.
    pub sequencer: u64,
}

/// Which requests an injected fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Operation {
    /// PutObject, UploadPart and CompleteMultipartUpload.
    Put,
    /// GetObject.
    Get,
}

/// An error the stand-in answers instead of doing a request, as S3 does now and then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Fault {
    /// 503 SlowDown: S3 throttling a prefix.
    SlowDown,
    /// 500 InternalError.
    InternalError,
    /// No answer at all, as from a connection that hangs: the caller's own timeout ends it.
    Stall,
    /// 403 AccessDenied: the caller lacks a permission the request needs.
    AccessDenied,
}

/// The running stand-in. Dropping it stops the server.
pub struct S3StandIn {
    addr: SocketAddr,
    root: PathBuf,
    events: std::sync::Arc<Subscribers>,
    faults: std::sync::Arc<FaultQueue>,
    write_once: std::sync::Arc<WriteOncePolicy>,
    missing_keys_denied: std::sync::Arc<std::sync::atomic::AtomicBool>,
    server: JoinHandle<()>,
    /// Removed when the stand-in is dropped (for `start_in_temp_dir`).
    _temp_dir: Option<tempfile::TempDir>,
}

impl S3StandIn {
    /// Serves a new temporary folder, removed again when the stand-in is dropped, with the
    /// given buckets created.
    pub async fn start_in_temp_dir(buckets: &[&str]) -> io::Result<S3StandIn> {
        let dir = tempfile::tempdir()?;
        let mut s3 = S3StandIn::start(dir.path()).await?;
        for bucket in buckets {
            s3.create_bucket(bucket)?;
        }
        s3._temp_dir = Some(dir);
        Ok(s3)
    }

    /// Serves `root` (one sub-folder per bucket) on an ephemeral port of 127.0.0.1.
    pub async fn start(root: impl Into<PathBuf>) -> io::Result<S3StandIn> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        let events = std::sync::Arc::new(Subscribers::default());
        let faults = std::sync::Arc::new(FaultQueue::default());
        let write_once = std::sync::Arc::new(WriteOncePolicy::default());
        let missing_keys_denied = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let fs = s3s_fs::FileSystem::new(&root).map_err(|e| io::Error::other(format!("{e:?}")))?;
        let wrapped = ConditionalFs {
            fs,
            root: root.clone(),
            events: events.clone(),
            faults: faults.clone(),
            write_once: write_once.clone(),
            missing_keys_denied: missing_keys_denied.clone(),
            write_lock: tokio::sync::Mutex::new(()),
        };
        let mut builder = S3ServiceBuilder::new(wrapped);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();

        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = crate::http::serve(listener, service, "s3 stand-in");
        Ok(S3StandIn {
            addr,
            root,
            events,
            faults,
            write_once,
            missing_keys_denied,
            server,
            _temp_dir: None,
        })
    }

    /// `http://127.0.0.1:<port>`: point an S3 client here with path-style addressing.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a bucket (a folder) if it does not exist.
    pub fn create_bucket(&self, bucket: &str) -> io::Result<()> {
        std::fs::create_dir_all(self.root.join(bucket))
    }

    /// The path of an object's bytes on disk.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    /// Receives every object created from now on.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<ObjectCreated> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.events.senders.lock().expect("not poisoned").push(tx);
        rx
    }

    /// The next `faults.len()` requests of kind `operation` on a key starting with `key_prefix`
    /// (in `bucket`) are answered with these errors, in order, instead of being carried out.
    pub fn inject(
        &self,
        operation: S3Operation,
        bucket: &str,
        key_prefix: &str,
        faults: impl IntoIterator<Item = S3Fault>,
    ) {
        let mut pending = self.faults.pending.lock().expect("not poisoned");
        for fault in faults {
            pending.push_back(PendingFault {
                operation,
                path_prefix: format!("{bucket}/{key_prefix}"),
                fault,
            });
        }
    }

    /// How many injected faults have been answered so far.
    pub fn faults_served(&self) -> u64 {
        self.faults.served.load(Ordering::SeqCst)
    }

    /// Applies the template's write-once bucket policy to `prefix` of `bucket`: a PutObject or
    /// CompleteMultipartUpload without `If-None-Match` is refused with 403 AccessDenied, and so
    /// is a CopyObject into it, as
    /// https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html
    /// describes for a policy that enforces conditional writes. The multipart steps before the
    /// completion stay allowed, as the policy exempts them.
    pub fn write_once(&self, bucket: &str, prefix: &str) {
        self.write_once
            .paths
            .lock()
            .expect("not poisoned")
            .push(format!("{bucket}/{prefix}"));
    }

    /// Answers GetObject and HeadObject of a missing key with 403 AccessDenied instead of 404
    /// NoSuchKey, as S3 does for a caller without s3:ListBucket on the bucket: "If you don't
    /// have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Forbidden
    /// error" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html; GetObject's
    /// page says the same of NoSuchKey). Whether a ListBucket grant limited by an `s3:prefix`
    /// condition counts is not documented, so code must handle both answers.
    pub fn deny_missing_keys(&self, deny: bool) {
        self.missing_keys_denied.store(deny, Ordering::SeqCst);
    }

    /// Writes the write-once policy refused so far.
    pub fn refused_writes(&self) -> u64 {
        self.write_once.refused.load(Ordering::SeqCst)
    }
}

/// The bucket-policy statements the stand-in enforces (see [`S3StandIn::write_once`]).
#[derive(Default)]
struct WriteOncePolicy {
    paths: Mutex<Vec<String>>,
    refused: AtomicU64,
}

impl WriteOncePolicy {
    fn check(&self, bucket: &str, key: &str, conditional: bool) -> S3Result<()> {
        let path = format!("{bucket}/{key}");
        let covered = self
            .paths
            .lock()
            .expect("not poisoned")
            .iter()
            .any(|prefix| path.starts_with(prefix));
        if covered && !conditional {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(s3s::s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(())
    }
}

impl Drop for S3StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Default)]
struct Subscribers {
    senders: Mutex<Vec<mpsc::UnboundedSender<ObjectCreated>>>,
    sequencer: AtomicU64,
}

impl Subscribers {
    fn publish(
        &self,
        event_name: &'static str,
        bucket: String,
        key: String,
        size: u64,
        e_tag: Option<String>,
    ) {
        let event = ObjectCreated {
            event_name,
            bucket,
            key,
            size,
            e_tag: e_tag.unwrap_or_default(),
            sequencer: self.sequencer.fetch_add(1, Ordering::SeqCst) + 1,
        };
        let mut senders = self.senders.lock().expect("not poisoned");
        senders.retain(|tx| tx.send(event.clone()).is_ok());
    }
}

struct PendingFault {
    operation: S3Operation,
    path_prefix: String,
    fault: S3Fault,
}

#[derive(Default)]
struct FaultQueue {
    pending: Mutex<std::collections::VecDeque<PendingFault>>,
    served: AtomicU64,
}

impl FaultQueue {
    /// The error to answer this request with, if a fault is waiting for it; a stall never
    /// answers.
    async fn check(&self, operation: S3Operation, bucket: &str, key: &str) -> S3Result<()> {
        let path = format!("{bucket}/{key}");
        let fault = {
            let mut pending = self.pending.lock().expect("not poisoned");
            let Some(index) = pending
                .iter()
                .position(|f| f.operation == operation && path.starts_with(&f.path_prefix))
            else {
                return Ok(());
            };
            pending.remove(index).map(|f| f.fault)
        };
        self.served.fetch_add(1, Ordering::SeqCst);
        Err(match fault {
            Some(S3Fault::SlowDown) => s3s::s3_error!(SlowDown, "Please reduce your request rate."),
            Some(S3Fault::Stall) => std::future::pending().await,
            Some(S3Fault::AccessDenied) => s3s::s3_error!(AccessDenied, "Access Denied"),
            _ => s3s::s3_error!(
                InternalError,
                "We encountered an internal error. Please try again."
            ),
        })
    }
}

/// s3s-fs checks `If-None-Match: *` before writing but not atomically; this wrapper serialises
/// create-only writes so two racing writers cannot both succeed, as on S3.
struct ConditionalFs {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
    events: std::sync::Arc<Subscribers>,
    faults: std::sync::Arc<FaultQueue>,
    write_once: std::sync::Arc<WriteOncePolicy>,
    missing_keys_denied: std::sync::Arc<std::sync::atomic::AtomicBool>,
    write_lock: tokio::sync::Mutex<()>,
}

impl ConditionalFs {
    fn exists(&self, bucket: &str, key: &str) -> bool {
        self.root.join(bucket).join(key).is_file()
    }

    /// Checks a write like S3 does before it touches anything. For create-only writes the
    /// returned guard is held until the write is done, so the existence check and the write are
    /// one atomic step.
    async fn admit_write(
        &self,
        bucket: &str,
        key: &str,
        if_none_match: Option<&IfNoneMatch>,
        if_match: Option<&IfMatch>,
    ) -> S3Result<Option<tokio::sync::MutexGuard<'_, ()>>> {
        self.require_bucket(bucket)?;
        self.write_once
            .check(bucket, key, if_none_match.is_some())?;
        let create_only = if_none_match.is_some_and(|c| c.is_any());
        if !create_only && if_match.is_none() {
            return Ok(None);
        }
        // For If-Match, s3s-fs compares the ETag itself; holding the lock makes that compare
        // and the write one step.
        let guard = self.write_lock.lock().await;
        if create_only && self.exists(bucket, key) {
            return Err(s3s::s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        Ok(Some(guard))
    }

    /// s3s-fs creates missing bucket folders on write; S3 answers NoSuchBucket.
    fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        if self.root.join(bucket).is_dir() {
            Ok(())
        } else {
            Err(s3s::s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            ))
        }
    }

    /// 403 for a missing key when [`S3StandIn::deny_missing_keys`] is on.
    fn deny_if_missing(&self, bucket: &str, key: &str) -> S3Result<()> {
        if self.missing_keys_denied.load(Ordering::SeqCst) && !self.exists(bucket, key) {
            return Err(s3s::s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(())
    }

    fn size(&self, bucket: &str, key: &str) -> u64 {
        std::fs::metadata(self.root.join(bucket).join(key)).map_or(0, |m| m.len())
    }
}

#[async_trait::async_trait]
impl S3 for ConditionalFs {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.faults.check(S3Operation::Put, &bucket, &key).await?;
        let _guard = self
            .admit_write(
                &bucket,
                &key,
                req.input.if_none_match.as_ref(),
                req.input.if_match.as_ref(),
            )
            .await?;
        let response = self.fs.put_object(req).await?;
        let e_tag = response.output.e_tag.as_ref().map(|t| t.value().to_owned());
        let size = self.size(&bucket, &key);
        self.events
            .publish("ObjectCreated:Put", bucket, key, size, e_tag);
        Ok(response)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.faults.check(S3Operation::Put, &bucket, &key).await?;
        let _guard = self
            .admit_write(
                &bucket,
                &key,
                req.input.if_none_match.as_ref(),
                req.input.if_match.as_ref(),
            )
            .await?;
        let response = self.fs.complete_multipart_upload(req).await?;
        let e_tag = response.output.e_tag.as_ref().map(|t| t.value().to_owned());
        let size = self.size(&bucket, &key);
        let event = "ObjectCreated:CompleteMultipartUpload";
        self.events.publish(event, bucket, key, size, e_tag);
        Ok(response)
    }

    // Everything else is s3s-fs as it is.

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.faults
            .check(S3Operation::Get, &req.input.bucket, &req.input.key)
            .await?;
        self.deny_if_missing(&req.input.bucket, &req.input.key)?;
        self.fs.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.deny_if_missing(&req.input.bucket, &req.input.key)?;
        self.fs.head_object(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.write_once
            .check(&req.input.bucket, &req.input.key, false)?;
        self.fs.copy_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.require_bucket(&req.input.bucket)?;
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.faults
            .check(S3Operation::Put, &req.input.bucket, &req.input.key)
            .await?;
        self.fs.upload_part(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }
}

impl ObjectCreated {
    /// The id of the SQS message that carries this notification in [`sqs_batch`]: what a
    /// batch response names to have it delivered again.
    pub fn message_id(&self) -> String {
        format!("standin-{}", self.sequencer)
    }

    /// The S3 event notification record AWS sends for this object (key URL-encoded as S3 does:
    /// spaces as `+`, reserved characters as `%XX`).
    pub fn notification_record(&self) -> serde_json::Value {
        let key: String = url_encode_key(&self.key);
        serde_json::json!({
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "eventName": self.event_name,
            "userIdentity": {"principalId": "AWS:STANDIN"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": format!("{:016X}", self.sequencer), "x-amz-id-2": "standin"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "customer-files",
                "bucket": {"name": self.bucket, "ownerIdentity": {"principalId": "STANDIN"}, "arn": format!("arn:aws:s3:::{}", self.bucket)},
                "object": {"key": key, "size": self.size, "eTag": self.e_tag.trim_matches('"'), "sequencer": format!("{:018X}", self.sequencer)},
            },
        })
    }
}

/// An SQS batch as Lambda receives it from the queue the bucket notifies: one message per
/// notification, each body an S3 event with one record.
pub fn sqs_batch(objects: &[ObjectCreated]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = objects
        .iter()
        .map(|object| {
            let body = serde_json::json!({"Records": [object.notification_record()]});
            serde_json::json!({
                "messageId": object.message_id(),
                "receiptHandle": format!("standin-{}", object.sequencer),
                "body": body.to_string(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "STANDIN", "ApproximateFirstReceiveTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:customer-ingest",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::json!({"Records": records})
}

fn url_encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

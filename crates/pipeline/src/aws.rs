//! AWS adapters for the ports: S3 through aws-sdk-s3.

pub use aws_config::SdkConfig;
use aws_sdk_s3::Client;
pub use aws_sdk_s3::Client as S3Client;
use aws_sdk_s3::config::http::HttpResponse;
pub use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use crate::ports::{
    ListedObject, OpenedObject, PutOutcome, StoreError, SwapOutcome, UploadedPart, VersionedObject,
};
use crate::snowflake_settings::{FixedSettings, SettingsError, SettingsSource, SnowflakeSettings};

/// The AWS configuration of the Lambda environment (region, role credentials), loaded once.
pub async fn config_from_env() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Builds an S3 client from the Lambda environment (region, role credentials).
pub async fn s3_client_from_env() -> Client {
    Client::new(&config_from_env().await)
}

/// Snowflake settings from a Secrets Manager secret (JSON, see [`SnowflakeSettings`]).
pub struct SecretsManagerSettings {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    /// `SNOWFLAKE_PIPE`, replacing the secret's `pipe`.
    pipe: Option<String>,
}

impl SecretsManagerSettings {
    pub fn new(
        config: &aws_config::SdkConfig,
        secret_id: impl Into<String>,
        pipe: Option<String>,
    ) -> Self {
        SecretsManagerSettings {
            client: aws_sdk_secretsmanager::Client::new(config),
            secret_id: secret_id.into(),
            pipe,
        }
    }
}

/// Settings from either place, as the configuration says: one type, so a handler holding two
/// sources (the monitor's own, and reconciliation's Snowpipe user) names one.
pub enum ConfiguredSettings {
    Secret(SecretsManagerSettings),
    Fixed(FixedSettings),
}

impl ConfiguredSettings {
    pub fn new(config: &aws_config::SdkConfig, source: crate::config::SnowflakeSource) -> Self {
        match source {
            crate::config::SnowflakeSource::Secret { id, pipe, .. } => {
                ConfiguredSettings::Secret(SecretsManagerSettings::new(config, id, pipe))
            }
            crate::config::SnowflakeSource::Fixed(settings) => {
                ConfiguredSettings::Fixed(FixedSettings(settings))
            }
        }
    }
}

impl SettingsSource for ConfiguredSettings {
    async fn load(&self) -> Result<SnowflakeSettings, SettingsError> {
        match self {
            ConfiguredSettings::Secret(source) => source.load().await,
            ConfiguredSettings::Fixed(source) => source.load().await,
        }
    }
}

impl SettingsSource for SecretsManagerSettings {
    async fn load(&self) -> Result<SnowflakeSettings, SettingsError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|err| SettingsError::SecretUnreadable {
                secret_id: self.secret_id.clone(),
                reason: err.code().unwrap_or("no response").to_owned(),
                retryable: !matches!(
                    err.code(),
                    Some(
                        "ResourceNotFoundException" | "AccessDeniedException" | "DecryptionFailure"
                    )
                ),
            })?;
        let json = output
            .secret_string()
            .ok_or_else(|| SettingsError::SecretUnreadable {
                secret_id: self.secret_id.clone(),
                reason: "the secret has no string value".into(),
                retryable: false,
            })?;
        SnowflakeSettings::from_secret_json(json, self.pipe.as_deref())
    }
}

/// An S3 client for an S3-compatible endpoint (the local stand-in): path-style addressing and
/// static credentials.
pub fn s3_client_for_endpoint(endpoint: &str, access_key: &str, secret_key: &str) -> Client {
    let credentials =
        aws_sdk_s3::config::Credentials::new(access_key, secret_key, None, None, "static");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// One S3 bucket, through aws-sdk-s3: the only object store the pipeline has, so a type and not
/// a trait. Tests point it at the S3 stand-in (`s3_client_for_endpoint`).
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
        }
    }

    fn error<E>(
        &self,
        operation: &'static str,
        key: &str,
        err: SdkError<E, HttpResponse>,
    ) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let retryable = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(service) => {
                is_retryable_status(service.raw().status().as_u16(), service.err().code())
            }
            _ => false,
        };
        let message = match err.code() {
            Some(code) => format!("{code}: {}", err.message().unwrap_or("no message")),
            None => aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
        };
        StoreError {
            operation,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            message,
            retryable,
        }
    }
}

/// 409 ConditionalRequestConflict means a concurrent write raced ours: retry. Throttling and
/// server errors are transient too.
fn is_retryable_status(status: u16, code: Option<&str>) -> bool {
    matches!(status, 408 | 409 | 429 | 500..=599)
        || matches!(
            code,
            Some("SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable")
        )
}

fn is_precondition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("PreconditionFailed")
}

/// The bucket operations the pipeline relies on: create-only writes, compare-and-swap
/// replaces, streaming reads, listings, copies and deletes.
impl S3Store {
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Opens an object for reading, with its size from the response; `Ok(None)` when the key
    /// does not exist.
    pub async fn get_object(&self, key: &str) -> Result<Option<OpenedObject>, StoreError> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(OpenedObject {
                size: output.content_length.and_then(|n| u64::try_from(n).ok()),
                reader: Box::pin(output.body.into_async_read()),
            })),
            Err(err) if err.code() == Some("NoSuchKey") => Ok(None),
            Err(err) if err.code() == Some("AccessDenied") && self.is_missing(key).await? => {
                Ok(None)
            }
            Err(err) => Err(self.error("GetObject", key, err)),
        }
    }

    /// Whether `key` is absent, by listing it: S3 answers a missing key with 404 NoSuchKey only
    /// to "an identity that has the s3:ListBucket permission on the bucket. For any other
    /// identity, Amazon S3 returns an access denied error instead"
    /// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). The functions hold
    /// ListBucket only under an `s3:prefix` condition, which a GetObject request does not carry;
    /// whether S3 then answers 404 or 403 is not documented, so a 403 is confirmed here with a
    /// listing the condition does allow (template.yaml, the roles' ListBucket statements).
    async fn is_missing(&self, key: &str) -> Result<bool, StoreError> {
        let listed = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await
            .map_err(|err| self.error("ListObjectsV2", key, err))?;
        Ok(!listed.contents().iter().any(|o| o.key() == Some(key)))
    }

    /// Reads a small object whole with its ETag; `Ok(None)` when the key does not exist.
    pub async fn get_versioned(&self, key: &str) -> Result<Option<VersionedObject>, StoreError> {
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) if err.code() == Some("NoSuchKey") => return Ok(None),
            Err(err) if err.code() == Some("AccessDenied") && self.is_missing(key).await? => {
                return Ok(None);
            }
            Err(err) => return Err(self.error("GetObject", key, err)),
        };
        let e_tag = output.e_tag.clone().unwrap_or_default();
        let body = output.body.collect().await.map_err(|err| StoreError {
            operation: "GetObject",
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            message: format!("reading the body failed: {err}"),
            retryable: true,
        })?;
        Ok(Some(VersionedObject {
            body: body.into_bytes(),
            e_tag,
        }))
    }

    /// Every object whose key starts with `prefix`, in key order (all pages).
    pub async fn list_objects(&self, prefix: &str) -> Result<Vec<ListedObject>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| self.error("ListObjectsV2", prefix, err))?;
            for object in page.contents() {
                let (Some(key), Some(modified)) = (object.key(), object.last_modified()) else {
                    continue;
                };
                objects.push(ListedObject {
                    key: key.to_owned(),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                    last_modified: chrono::DateTime::from_timestamp(
                        modified.secs(),
                        modified.subsec_nanos(),
                    )
                    .unwrap_or_default(),
                });
            }
        }
        Ok(objects)
    }

    /// Writes `body` only if the object is still the version read (`If-Match: <e_tag>`), or, for
    /// `None`, only if it does not exist yet (`If-None-Match: *`): two writers that read the same
    /// version cannot both succeed.
    pub async fn replace_if_unchanged(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        read_e_tag: Option<&str>,
    ) -> Result<SwapOutcome, StoreError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        let request = match read_e_tag {
            Some(e_tag) => request.if_match(e_tag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(_) => Ok(SwapOutcome::Written),
            // 409 ConditionalRequestConflict: a concurrent conditional write is in flight; one of
            // the two will win, and it is not this one yet. Treat as lost, not as an error.
            Err(err)
                if is_precondition_failed(&err)
                    || err.code() == Some("ConditionalRequestConflict") =>
            {
                Ok(SwapOutcome::Conflict)
            }
            Err(err) => Err(self.error("PutObject", key, err)),
        }
    }

    /// Copies an object within the bucket (overwriting the target).
    pub async fn copy_object(&self, from: &str, to: &str) -> Result<(), StoreError> {
        // CopySource is `bucket/key`: "The value must be URL-encoded"
        // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html), and the SDK does
        // not encode it. Percent-encoding, not form encoding: a form-encoded space is `+`,
        // which a percent-decoder reads as a literal plus, another key.
        const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~')
            .remove(b'/');
        let source = format!(
            "{}/{}",
            self.bucket,
            percent_encoding::utf8_percent_encode(from, KEEP)
        );
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| self.error("CopyObject", from, err))
    }

    /// Deletes an object; deleting a missing key succeeds, as on S3.
    pub async fn delete_object(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| self.error("DeleteObject", key, err))
    }

    pub async fn put_if_absent(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<PutOutcome, StoreError> {
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Created),
            Err(err) if is_precondition_failed(&err) => Ok(PutOutcome::AlreadyExists),
            Err(err) => Err(self.error("PutObject", key, err)),
        }
    }

    /// Starts a multipart upload; returns its upload id.
    pub async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, StoreError> {
        let output = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|err| self.error("CreateMultipartUpload", key, err))?;
        output.upload_id.ok_or_else(|| StoreError {
            operation: "CreateMultipartUpload",
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            message: "response had no upload id".into(),
            retryable: true,
        })
    }

    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<UploadedPart, StoreError> {
        let output = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|err| self.error("UploadPart", key, err))?;
        Ok(UploadedPart {
            number,
            e_tag: output.e_tag.unwrap_or_default(),
        })
    }

    /// Completes the upload only if the key does not exist yet.
    pub async fn complete_multipart_if_absent(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<PutOutcome, StoreError> {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.number)
                            .e_tag(&p.e_tag)
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .if_none_match("*")
            .multipart_upload(completed)
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Created),
            Err(err) if is_precondition_failed(&err) => Ok(PutOutcome::AlreadyExists),
            Err(err) => Err(self.error("CompleteMultipartUpload", key, err)),
        }
    }

    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| self.error("AbortMultipartUpload", key, err))
    }
}

/// The ingest queue through aws-sdk-sqs: one SendMessage per notification.
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        SqsQueue {
            client: aws_sdk_sqs::Client::new(config),
            url: url.into(),
        }
    }
}

impl crate::ports::NotificationQueue for SqsQueue {
    async fn send(&self, body: String) -> Result<(), crate::ports::QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| crate::ports::QueueError {
                queue: self.url.clone(),
                message: aws_sdk_sqs::error::DisplayErrorContext(&err).to_string(),
            })
    }
}

/// The alert webhook URL, read from a Secrets Manager secret whose value is the URL itself.
pub struct SecretsManagerWebhookUrl {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerWebhookUrl {
    pub fn new(config: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        SecretsManagerWebhookUrl {
            client: aws_sdk_secretsmanager::Client::new(config),
            secret_id: secret_id.into(),
        }
    }
}

impl crate::monitor::alert::WebhookUrlSource for SecretsManagerWebhookUrl {
    async fn load(&self) -> Result<String, String> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|err| {
                format!(
                    "reading secret {} failed: {}",
                    self.secret_id,
                    err.code().unwrap_or("no response")
                )
            })?;
        output
            .secret_string()
            .map(|url| url.trim().to_owned())
            .ok_or_else(|| format!("secret {} has no string value", self.secret_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        assert!(is_retryable_status(503, None));
        assert!(is_retryable_status(409, Some("ConditionalRequestConflict")));
        assert!(is_retryable_status(400, Some("RequestTimeout")));
        assert!(!is_retryable_status(403, Some("AccessDenied")));
        assert!(!is_retryable_status(404, Some("NoSuchBucket")));
    }
}

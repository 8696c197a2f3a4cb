//! Which bucket `pipectl` works on, and an S3 client for it: AWS by default, or any
//! S3-compatible endpoint (such as `pipectl dev --serve`'s stand-in).

use clap::Args;
use pipeline::aws::S3Store;
use pipeline::ingest::IngestSettings;

#[derive(Args, Debug, Clone)]
pub struct BucketArgs {
    /// The landing bucket
    #[arg(long, env = "BUCKET")]
    pub bucket: String,
    /// The stage prefix customer files land under
    #[arg(long, env = "PREFIX", default_value = "stream_data/")]
    pub prefix: String,
    /// Where invalid files and their reports go
    #[arg(long, env = "QUARANTINE_PREFIX", default_value = "quarantine/")]
    pub quarantine_prefix: String,
    /// An S3-compatible endpoint instead of AWS (credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY) [env: AWS_ENDPOINT_URL]
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
}

impl BucketArgs {
    pub async fn store(&self) -> S3Store {
        S3Store::new(s3_client(self.s3_endpoint.as_deref()).await, &self.bucket)
    }

    pub fn ingest_settings(&self) -> IngestSettings {
        IngestSettings {
            stage_prefix: self.prefix.clone(),
            quarantine_prefix: self.quarantine_prefix.clone(),
            ..IngestSettings::default()
        }
    }
}

/// The client for `endpoint` (path-style, credentials from the environment), or for AWS.
pub async fn s3_client(endpoint: Option<&str>) -> pipeline::aws::S3Client {
    match endpoint {
        Some(endpoint) => pipeline::aws::s3_client_for_endpoint(
            endpoint,
            &std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            &std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
        ),
        None => pipeline::aws::s3_client_from_env().await,
    }
}

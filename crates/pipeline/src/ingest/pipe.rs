//! The ingest function's pipe: built from the Snowflake settings and cached for the container's
//! life with a time-to-live, so a rotated secret takes effect without a redeploy.

use std::sync::Arc;
use std::time::Duration;

use snowflake::{InsertFilesResponse, RetryPolicy, Snowpipe, StagedFile};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{IngestError, PipeLoader};
use crate::snowflake_settings::SettingsSource;

/// The pipe, rebuilt from its source after `ttl` or after an authentication or not-found error
/// (a rotated key or a renamed pipe), so one cold start does not pin old credentials.
pub struct CachedPipe<S: SettingsSource> {
    source: S,
    ttl: Duration,
    policy: RetryPolicy,
    current: Mutex<Option<(Arc<Snowpipe>, Instant)>>,
}

impl<S: SettingsSource> CachedPipe<S> {
    pub fn new(source: S, ttl: Duration, policy: RetryPolicy) -> Self {
        CachedPipe {
            source,
            ttl,
            policy,
            current: Mutex::new(None),
        }
    }

    async fn pipe(&self) -> Result<Arc<Snowpipe>, IngestError> {
        let mut current = self.current.lock().await;
        if let Some((pipe, loaded)) = current.as_ref()
            && loaded.elapsed() < self.ttl
        {
            return Ok(pipe.clone());
        }
        let pipe = Arc::new(self.source.load().await?.snowpipe(self.policy)?);
        *current = Some((pipe.clone(), Instant::now()));
        Ok(pipe)
    }
}

impl<S: SettingsSource> PipeLoader for CachedPipe<S> {
    async fn insert_files(
        &self,
        files: &[StagedFile],
        deadline: Instant,
    ) -> Result<Vec<InsertFilesResponse>, IngestError> {
        let pipe = self.pipe().await?;
        let result = pipe.insert_files(files, deadline).await;
        if let Err(err) = &result
            && matches!(err.status(), Some(401 | 403 | 404))
        {
            *self.current.lock().await = None;
        }
        Ok(result?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snowflake_settings::{SettingsError, SnowflakeSettings};
    use devstack::SnowflakeFake;
    use devstack::snowflake_fake::Reply;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Counts how often the settings were (re)loaded.
    struct CountingSource {
        settings: SnowflakeSettings,
        loads: AtomicU32,
    }

    impl SettingsSource for &CountingSource {
        async fn load(&self) -> Result<SnowflakeSettings, SettingsError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            Ok(self.settings.clone())
        }
    }

    fn settings(base_url: &str) -> SnowflakeSettings {
        crate::snowflake_settings::test_settings(base_url)
    }

    fn files() -> Vec<StagedFile> {
        vec![StagedFile {
            path: "a.csv".into(),
            size: Some(1),
        }]
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn loads_settings_once_within_the_ttl() {
        let fake = SnowflakeFake::start(vec![]).await.unwrap();
        let source = CountingSource {
            settings: settings(fake.base_url()),
            loads: AtomicU32::new(0),
        };
        let pipe = CachedPipe::new(&source, Duration::from_secs(3600), RetryPolicy::default());
        for _ in 0..3 {
            pipe.insert_files(&files(), soon()).await.unwrap();
        }
        assert_eq!(source.loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn reloads_after_the_ttl_so_rotation_takes_effect() {
        let fake = SnowflakeFake::start(vec![]).await.unwrap();
        let source = CountingSource {
            settings: settings(fake.base_url()),
            loads: AtomicU32::new(0),
        };
        let pipe = CachedPipe::new(&source, Duration::ZERO, RetryPolicy::default());
        pipe.insert_files(&files(), soon()).await.unwrap();
        pipe.insert_files(&files(), soon()).await.unwrap();
        assert_eq!(source.loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn reloads_after_a_not_found_pipe() {
        let fake = SnowflakeFake::start(vec![Reply::status(404, r#"{"message":"no such pipe"}"#)])
            .await
            .unwrap();
        let source = CountingSource {
            settings: settings(fake.base_url()),
            loads: AtomicU32::new(0),
        };
        let pipe = CachedPipe::new(&source, Duration::from_secs(3600), RetryPolicy::default());
        assert!(pipe.insert_files(&files(), soon()).await.is_err());
        pipe.insert_files(&files(), soon()).await.unwrap();
        assert_eq!(source.loads.load(Ordering::SeqCst), 2);
    }
}

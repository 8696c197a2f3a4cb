//! One invocation: parse the delivery (S3, SQS batch or EventBridge), ingest the announced
//! objects, and answer the way the trigger expects: per-message failures for SQS, an error for
//! a direct event that must be retried, a loud configuration error when no retry can help.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use lambda_runtime::Diagnostic;
use pipeline::config::IngestConfig;
use pipeline::ingest::events::UnknownEvent;
use pipeline::ingest::{
    Delivery, IngestError, IngestSettings, ObjectRef, Outcome, PipeLoader, ingest_objects,
    parse_delivery,
};
use pipeline::ports::ObjectStore;
use serde_json::{Value, json};
use tokio::time::Instant;

pub(crate) struct Ingest<S, P> {
    store: S,
    pipe: P,
    settings: IngestSettings,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum IngestFailure {
    /// A setting is wrong: retrying cannot help until it is fixed.
    #[error("configuration error ({hint}): {error}")]
    Configuration { hint: String, error: IngestError },
    /// Retry later (Lambda's async retries, then the on-failure destination).
    #[error("{failed} of {total} files could not be ingested yet; first error: {first}")]
    Transient {
        failed: usize,
        total: usize,
        first: IngestError,
    },
    #[error(transparent)]
    UnknownEvent(#[from] UnknownEvent),
}

impl From<IngestFailure> for Diagnostic {
    fn from(failure: IngestFailure) -> Diagnostic {
        let error_type = match failure {
            IngestFailure::Configuration { .. } => "ConfigurationError",
            IngestFailure::Transient { .. } => "TransientError",
            IngestFailure::UnknownEvent(_) => "UnknownEvent",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: failure.to_string(),
        }
    }
}

impl<S: ObjectStore, P: PipeLoader> Ingest<S, P> {
    pub(crate) fn new(store: S, pipe: P, config: &IngestConfig) -> Self {
        Ingest {
            store,
            pipe,
            settings: config.settings.clone(),
        }
    }

    pub(crate) async fn handle(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> Result<Value, IngestFailure> {
        match parse_delivery(payload)? {
            Delivery::Direct(objects) => {
                let outcomes = self.ingest(&objects, deadline).await?;
                let failed: Vec<&IngestError> = failures(&outcomes).collect();
                if let Some(first) = failed.first() {
                    return Err(IngestFailure::Transient {
                        failed: failed.len(),
                        total: outcomes.len(),
                        first: (*first).clone(),
                    });
                }
                Ok(summary(&outcomes))
            }
            Delivery::Sqs(items) => {
                // One ingest for the whole batch, so its valid files share insertFiles calls.
                let mut objects = Vec::new();
                let mut owner = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    for object in item.objects.as_deref().unwrap_or_default() {
                        objects.push(object.clone());
                        owner.push(i);
                    }
                }
                let outcomes = self.ingest(&objects, deadline).await?;
                let mut failed_items = vec![false; items.len()];
                for (i, item) in items.iter().enumerate() {
                    if let Err(reason) = &item.objects {
                        tracing::error!(message_id = %item.message_id, reason, "message is not an S3 notice; left for the dead-letter queue");
                        failed_items[i] = true;
                    }
                }
                for (outcome, &i) in outcomes.iter().zip(&owner) {
                    failed_items[i] |= matches!(outcome, Outcome::Failed { .. });
                }
                let mut response = SqsBatchResponse::default();
                response.batch_item_failures = items
                    .iter()
                    .zip(failed_items)
                    .filter(|(_, failed)| *failed)
                    .map(|(item, _)| {
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = item.message_id.clone();
                        failure
                    })
                    .collect();
                Ok(serde_json::to_value(response).expect("a batch response serialises"))
            }
        }
    }

    async fn ingest(
        &self,
        objects: &[ObjectRef],
        deadline: Instant,
    ) -> Result<Vec<Outcome>, IngestFailure> {
        let (outcomes, stats) =
            ingest_objects(&self.store, &self.pipe, &self.settings, objects, deadline).await;
        pipeline::metrics::record_ingest(&outcomes, &stats);
        if let Some((hint, error)) =
            failures(&outcomes).find_map(|e| e.configuration_hint().map(|h| (h, e.clone())))
        {
            tracing::error!(hint, error = %error, "configuration error: no retry can fix this");
            return Err(IngestFailure::Configuration { hint, error });
        }
        Ok(outcomes)
    }
}

fn failures(outcomes: &[Outcome]) -> impl Iterator<Item = &IngestError> {
    outcomes.iter().filter_map(|o| match o {
        Outcome::Failed { error, .. } => Some(error),
        _ => None,
    })
}

fn summary(outcomes: &[Outcome]) -> Value {
    let keys = |f: fn(&Outcome) -> Option<&str>| outcomes.iter().filter_map(f).collect::<Vec<_>>();
    json!({
        "submitted": keys(|o| match o { Outcome::Submitted { key, .. } => Some(key), _ => None }),
        "already_loaded": keys(|o| match o { Outcome::AlreadyLoaded { key } => Some(key), _ => None }),
        "quarantined": keys(|o| match o { Outcome::Quarantined { key, .. } => Some(key), _ => None }),
        "skipped": keys(|o| match o { Outcome::Skipped { key, .. } => Some(key), _ => None }),
    })
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;

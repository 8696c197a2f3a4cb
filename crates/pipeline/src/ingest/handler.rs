//! One invocation of the ingest function: parse the delivery (S3, SQS batch or EventBridge),
//! ingest the announced objects, and answer the way the trigger expects: per-message failures
//! for SQS, an error for a direct event that must be retried, a loud configuration error when
//! no retry can help. The Lambda binary and `pipectl dev` both run this.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::events::{SqsItem, UnknownEvent};
use super::{
    Delivery, IngestError, IngestSettings, IngestStats, ObjectRef, Outcome, PipeLoader,
    ingest_objects, parse_delivery,
};
use crate::aws::S3Store;

pub struct Ingest<P> {
    store: S3Store,
    pipe: P,
    settings: IngestSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestFailure {
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

impl IngestFailure {
    /// The kind of failure, as Lambda's error type: what operators filter and alarm on.
    pub fn error_type(&self) -> &'static str {
        match self {
            IngestFailure::Configuration { .. } => "ConfigurationError",
            IngestFailure::Transient { .. } => "TransientError",
            IngestFailure::UnknownEvent(_) => "UnknownEvent",
        }
    }
}

/// What one invocation did: each object's outcome, the counts, and the answer for the trigger.
#[derive(Debug)]
pub struct Handled {
    pub outcomes: Vec<Outcome>,
    pub stats: IngestStats,
    pub answer: Answer,
}

/// The invocation's answer: a summary for a direct event, the failed message ids for SQS.
#[derive(Debug)]
pub enum Answer {
    Summary(Value),
    Batch(SqsBatchResponse),
}

impl Answer {
    /// The JSON Lambda returns to the trigger.
    pub fn into_json(self) -> Value {
        match self {
            Answer::Summary(summary) => summary,
            Answer::Batch(response) => {
                serde_json::to_value(response).expect("a batch response serialises")
            }
        }
    }
}

impl<P: PipeLoader> Ingest<P> {
    pub fn new(store: S3Store, pipe: P, settings: IngestSettings) -> Self {
        Ingest {
            store,
            pipe,
            settings,
        }
    }

    pub fn store(&self) -> &S3Store {
        &self.store
    }

    /// The invocation as Lambda sees it: the delivery in, the answer's JSON out.
    pub async fn handle(&self, payload: &Value, deadline: Instant) -> Result<Value, IngestFailure> {
        Ok(self
            .handle_delivery(payload, deadline)
            .await?
            .answer
            .into_json())
    }

    /// The invocation with everything it did, for callers that count (`pipectl dev`).
    pub async fn handle_delivery(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> Result<Handled, IngestFailure> {
        match parse_delivery(payload)? {
            Delivery::Direct(objects) => {
                let (outcomes, stats) = self.ingest(&objects, deadline).await?;
                let failed: Vec<&IngestError> = failures(&outcomes).collect();
                if let Some(first) = failed.first() {
                    return Err(IngestFailure::Transient {
                        failed: failed.len(),
                        total: outcomes.len(),
                        first: (*first).clone(),
                    });
                }
                let answer = Answer::Summary(summary(&outcomes));
                Ok(Handled {
                    outcomes,
                    stats,
                    answer,
                })
            }
            Delivery::Sqs(items) => {
                // One ingest for the whole batch, so its valid files share insertFiles calls.
                let (objects, owner): (Vec<ObjectRef>, Vec<usize>) = items
                    .iter()
                    .enumerate()
                    .flat_map(|(i, item)| {
                        let objects = item.objects.as_deref().unwrap_or_default();
                        objects.iter().map(move |object| (object.clone(), i))
                    })
                    .unzip();
                let (outcomes, stats) = self.ingest(&objects, deadline).await?;
                let answer = Answer::Batch(batch_response(&items, &outcomes, &owner));
                Ok(Handled {
                    outcomes,
                    stats,
                    answer,
                })
            }
        }
    }

    async fn ingest(
        &self,
        objects: &[ObjectRef],
        deadline: Instant,
    ) -> Result<(Vec<Outcome>, IngestStats), IngestFailure> {
        let (outcomes, stats) =
            ingest_objects(&self.store, &self.pipe, &self.settings, objects, deadline).await;
        crate::metrics::record_ingest(&outcomes, &stats);
        if let Some((hint, error)) =
            failures(&outcomes).find_map(|e| e.configuration_hint().map(|h| (h, e.clone())))
        {
            tracing::error!(hint, error = %error, "configuration error: no retry can fix this");
            return Err(IngestFailure::Configuration { hint, error });
        }
        Ok((outcomes, stats))
    }
}

/// The messages SQS must deliver again: those that are not S3 notices (they reach the
/// dead-letter queue), and those with an object that failed. `owner[i]` is the message of the
/// object whose outcome is `outcomes[i]`.
fn batch_response(items: &[SqsItem], outcomes: &[Outcome], owner: &[usize]) -> SqsBatchResponse {
    let mut failed_items = vec![false; items.len()];
    for (i, item) in items.iter().enumerate() {
        if let Err(reason) = &item.objects {
            tracing::error!(message_id = %item.message_id, reason, "message is not an S3 notice; left for the dead-letter queue");
            failed_items[i] = true;
        }
    }
    for (outcome, &i) in outcomes.iter().zip(owner) {
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
    response
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

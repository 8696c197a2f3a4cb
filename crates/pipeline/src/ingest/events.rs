//! The three ways an object-created notice reaches the ingest function: S3 notifications
//! directly, the same wrapped in SQS messages (a batch), and S3 events from EventBridge.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use serde::Deserialize;
use serde_json::Value;

/// The `detail` of EventBridge's S3 "Object Created" event (aws_lambda_events has no type for
/// it); the key is as stored, not URL-encoded.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct ObjectCreatedDetail {
    pub bucket: BucketName,
    pub object: CreatedObject,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct BucketName {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct CreatedObject {
    pub key: String,
    #[serde(default)]
    pub size: Option<u64>,
}

/// An EventBridge S3 "Object Created" event.
pub type ObjectCreatedEvent = EventBridgeEvent<ObjectCreatedDetail>;

/// An object to ingest; `key` is decoded (notifications URL-encode it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
}

/// One SQS message and what it announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsItem {
    pub message_id: String,
    /// `Err` with a reason when the body is not an S3 notice: retrying cannot fix it, so the
    /// message goes back and, after the queue's retries, to its dead-letter queue for a look.
    pub objects: Result<Vec<ObjectRef>, String>,
}

/// What one invocation carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sqs(Vec<SqsItem>),
    /// S3 notifications or an EventBridge event: one unit, retried whole.
    Direct(Vec<ObjectRef>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an S3, SQS or EventBridge object-created event: {0}")]
pub struct UnknownEvent(pub String);

pub fn parse_delivery(payload: &Value) -> Result<Delivery, UnknownEvent> {
    let first_source = payload["Records"][0]["eventSource"].as_str();
    if first_source == Some("aws:sqs") {
        let event: SqsEvent =
            serde_json::from_value(payload.clone()).map_err(|e| UnknownEvent(e.to_string()))?;
        let items = event
            .records
            .into_iter()
            .map(|message| SqsItem {
                message_id: message.message_id.unwrap_or_default(),
                objects: message
                    .body
                    .as_deref()
                    .ok_or_else(|| "the message has no body".to_owned())
                    .and_then(|body| {
                        serde_json::from_str::<Value>(body)
                            .map_err(|e| format!("body is not JSON: {e}"))
                    })
                    .and_then(|body| objects_in(&body)),
            })
            .collect();
        return Ok(Delivery::Sqs(items));
    }
    objects_in(payload)
        .map(Delivery::Direct)
        .map_err(UnknownEvent)
}

/// The objects an S3 notification, S3 test event or EventBridge S3 event announces.
fn objects_in(value: &Value) -> Result<Vec<ObjectRef>, String> {
    if value["Event"] == "s3:TestEvent" {
        // Sent once when a notification is configured; nothing to do.
        return Ok(Vec::new());
    }
    if value.get("Records").is_some() {
        let event: S3Event = serde_json::from_value(value.clone())
            .map_err(|e| format!("not an S3 notification: {e}"))?;
        return Ok(event
            .records
            .into_iter()
            .filter(|r| {
                r.event_name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("ObjectCreated"))
            })
            .map(|r| ObjectRef {
                bucket: r.s3.bucket.name.unwrap_or_default(),
                key: decode_key(r.s3.object.key.as_deref().unwrap_or_default()),
                size: r.s3.object.size.and_then(|s| u64::try_from(s).ok()),
            })
            .collect());
    }
    if value["source"] == "aws.s3" && value["detail-type"] == "Object Created" {
        let event: ObjectCreatedEvent = serde_json::from_value(value.clone())
            .map_err(|e| format!("not an EventBridge S3 'Object Created' event: {e}"))?;
        return Ok(vec![ObjectRef {
            bucket: event.detail.bucket.name,
            key: event.detail.object.key,
            size: event.detail.object.size,
        }]);
    }
    Err("neither S3 notification Records nor an EventBridge 'Object Created' event".into())
}

/// The body S3 sends to a queue when `key` is created, with one record, as
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
/// shows it: reconciliation announces a file nothing loaded in the very form ingest reads.
pub fn object_created_notification(
    bucket: &str,
    key: &str,
    size: u64,
    time: chrono::DateTime<chrono::Utc>,
) -> String {
    use aws_lambda_events::event::s3::{S3Entity, S3EventRecord};
    let mut entity = S3Entity::default();
    entity.schema_version = Some("1.0".into());
    entity.configuration_id = Some("reconciliation".into());
    entity.bucket.name = Some(bucket.to_owned());
    entity.bucket.arn = Some(format!("arn:aws:s3:::{bucket}"));
    // "The object key name value is URL encoded" (same page), form-style as decode_key reads it.
    entity.object.key = Some(url::form_urlencoded::byte_serialize(key.as_bytes()).collect());
    entity.object.size = i64::try_from(size).ok();
    let mut record = S3EventRecord::default();
    record.event_version = Some("2.1".into());
    record.event_source = Some("aws:s3".into());
    record.event_time = time;
    record.event_name = Some("ObjectCreated:Put".into());
    record.s3 = entity;
    let mut event = S3Event::default();
    event.records = vec![record];
    serde_json::to_string(&event).expect("an S3 event serialises")
}

/// Notifications URL-encode keys form-style: `+` is a space, `%XX` a byte.
pub fn decode_key(key: &str) -> String {
    url::form_urlencoded::parse(format!("k={key}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_record(key: &str, size: u64) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-23T10:15:01.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                   "bucket": {"name": "landing", "ownerIdentity": {"principalId": "X"}, "arn": "arn:aws:s3:::landing"},
                   "object": {"key": key, "size": size, "eTag": "e", "sequencer": "01"}}
        })
    }

    #[test]
    fn a_reconciliation_notification_reads_back_as_the_object_it_announces() {
        let key = "stream_data/a b+c%.csv";
        let body = object_created_notification("landing", key, 42, chrono::Utc::now());
        let payload = json!({"Records": [
            {"messageId": "m1", "eventSource": "aws:sqs", "body": body},
        ]});
        let Delivery::Sqs(items) = parse_delivery(&payload).unwrap() else {
            panic!("not read as SQS")
        };
        assert_eq!(
            items[0].objects,
            Ok(vec![ObjectRef {
                bucket: "landing".into(),
                key: key.into(),
                size: Some(42)
            }])
        );
    }

    #[test]
    fn decodes_form_encoded_keys() {
        assert_eq!(
            decode_key("stream_data/my+file%2B1%3A2.csv"),
            "stream_data/my file+1:2.csv"
        );
        assert_eq!(decode_key("plain.csv"), "plain.csv");
    }

    #[test]
    fn reads_direct_s3_notifications() {
        let payload = json!({"Records": [s3_record("stream_data/a+b.csv", 10)]});
        assert_eq!(
            parse_delivery(&payload).unwrap(),
            Delivery::Direct(vec![ObjectRef {
                bucket: "landing".into(),
                key: "stream_data/a b.csv".into(),
                size: Some(10)
            }])
        );
    }

    #[test]
    fn reads_sqs_batches_with_test_events_and_bad_bodies() {
        let body = json!({"Records": [s3_record("stream_data/x.csv", 5)]}).to_string();
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "landing"})
            .to_string();
        let payload = json!({"Records": [
            {"messageId": "m1", "eventSource": "aws:sqs", "body": body},
            {"messageId": "m2", "eventSource": "aws:sqs", "body": test},
            {"messageId": "m3", "eventSource": "aws:sqs", "body": "not json"},
        ]});
        let Delivery::Sqs(items) = parse_delivery(&payload).unwrap() else {
            panic!()
        };
        assert_eq!(
            items[0].objects.as_ref().unwrap()[0].key,
            "stream_data/x.csv"
        );
        assert_eq!(items[1].objects, Ok(vec![]));
        assert!(items[2].objects.as_ref().unwrap_err().contains("not JSON"));
    }

    #[test]
    fn reads_eventbridge_object_created() {
        let payload = json!({
            "version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
            "account": "1", "time": "2026-11-23T10:15:01Z", "region": "us-east-1", "resources": [],
            "detail": {"bucket": {"name": "landing"}, "object": {"key": "stream_data/a b.csv", "size": 7}}
        });
        assert_eq!(
            parse_delivery(&payload).unwrap(),
            Delivery::Direct(vec![ObjectRef {
                bucket: "landing".into(),
                key: "stream_data/a b.csv".into(),
                size: Some(7)
            }])
        );
    }

    #[test]
    fn ignores_non_create_notifications_and_rejects_unknown_payloads() {
        let mut record = s3_record("k.csv", 1);
        record["eventName"] = json!("ObjectRemoved:Delete");
        assert_eq!(
            parse_delivery(&json!({"Records": [record]})).unwrap(),
            Delivery::Direct(vec![])
        );
        assert!(parse_delivery(&json!({"hello": "world"})).is_err());
    }
}

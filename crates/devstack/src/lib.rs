//! Local stand-ins for the services the pipeline talks to, speaking their real protocols on
//! 127.0.0.1 so the real clients run unchanged (docs/stand-ins.md). Test and demo tools, not
//! replacements.

pub mod http;
pub mod lambda_api;
pub mod monitor_replies;
pub mod s3;
pub mod snowflake_fake;

pub use lambda_api::{Outcome, RuntimeApiStandIn};
pub use s3::{ObjectCreated, S3Fault, S3Operation, S3StandIn};
pub use snowflake_fake::SnowflakeFake;

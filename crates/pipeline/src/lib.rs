//! The customer pipeline's domain: the CSV contract, the generator, the ports the Lambda
//! handlers depend on, their AWS adapters, configuration and metrics.

pub mod aws;
pub mod config;
pub mod contract;
pub mod generator;
pub mod ingest;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod metrics;
pub mod monitor;
pub mod ports;
pub mod quarantine;
pub mod snowflake_settings;
pub mod sql;
pub mod upload;
pub mod validate;

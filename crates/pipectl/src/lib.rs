//! The parts of `pipectl` that tests drive in-process (`pipectl dev`), and the one error type
//! every command returns.

pub mod dev;
pub mod error;

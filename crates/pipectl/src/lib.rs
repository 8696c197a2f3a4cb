//! The parts of `pipectl` that tests drive in-process: `pipectl dev`.

pub mod dev;

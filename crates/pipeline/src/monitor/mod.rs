//! The monitor: health checks over the SQL API ([`checks`]), the state that makes each problem
//! reported once ([`state`]), the optional chat alert ([`alert`]), and one run tying them
//! together ([`run`]).

pub mod alert;
pub mod checks;
pub mod run;
pub mod state;

pub use checks::{Health, MonitorTarget, Problem, Warehouse, check_health};
pub use run::{Monitor, MonitorError, MonitorSettings, RunReport};
pub use state::MonitorState;

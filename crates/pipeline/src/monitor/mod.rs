//! The monitor: health checks over the SQL API ([`checks`]), the state that makes each problem
//! reported once ([`state`]), the optional chat alert ([`alert`]), one run tying them together
//! ([`run`]), and the announcing again of stage files nothing has loaded ([`reconcile`]).

pub mod alert;
pub mod checks;
pub mod handler;
pub mod reconcile;
pub mod run;
pub mod state;

pub use checks::{Health, MERGE_LAG_VIEW, MonitorTarget, Problem, Warehouse, check_health};
pub use reconcile::{ReconcileReport, ReconcileSettings, reconcile};
pub use run::{Monitor, MonitorError, MonitorSettings, RunReport};
pub use state::MonitorState;

//! CUSTOMER_HISTORY recomputed from CUSTOMER_RAW in Rust, by the rule sql/04_scd.sql states, so
//! the report compares the table with an implementation that shares no SQL with the task (the
//! rows come sorted by an ORDER BY; the rule itself is the code below). Per customer, rows in
//! (UPDATED_AT, _FILE_NAME, _FILE_ROW_NUMBER, _LOADED_AT) order, the last row at each instant
//! winning; an upsert unlike the open version (or with none open) opens a version and closes
//! the open one; a delete closes the open version.

use std::collections::HashSet;

use snowflake_standin::SnowflakeStandIn;

use super::report::Check;
use crate::error::{CliError, CliResult};

/// END_TIME of the open version, 9999-12-31, as the stand-in prints a timestamp.
const OPEN_END: &str = "253402214400.000000000";

const ATTRIBUTES: &str = "FIRST_NAME, LAST_NAME, EMAIL, STREET, CITY, STATE, COUNTRY";

type Cells = Vec<Option<String>>;

/// A version: customer id, attributes, start, end, current.
type Version = (String, Cells, String, String, bool);

/// The expected versions of every customer in RAW.
fn expected(raw: &[Cells]) -> Vec<Version> {
    // Columns: id, the seven attributes, UPDATED_AT, OP; sorted by id, then the rule's order.
    let mut versions = Vec::new();
    let mut rows = raw.iter().peekable();
    while let Some(first) = rows.next() {
        let id = first[0].clone().unwrap_or_default();
        let mut customer = vec![first];
        while let Some(next) = rows.next_if(|r| r[0] == first[0]) {
            customer.push(next);
        }
        let mut open: Option<(String, Cells)> = None;
        let mut close = |open: &mut Option<(String, Cells)>, at: &str| {
            if let Some((start, attributes)) = open.take() {
                versions.push((id.clone(), attributes, start, at.to_owned(), false));
            }
        };
        for (i, row) in customer.iter().enumerate() {
            let at = row[8].clone().unwrap_or_default();
            // At one instant the last row wins.
            if customer.get(i + 1).is_some_and(|next| next[8] == row[8]) {
                continue;
            }
            let attributes: Cells = row[1..8].to_vec();
            if row[9].as_deref() == Some("D") {
                close(&mut open, &at);
            } else if open
                .as_ref()
                .is_none_or(|(_, current)| *current != attributes)
            {
                close(&mut open, &at);
                open = Some((at, attributes));
            }
        }
        if let Some((start, attributes)) = open {
            versions.push((id.clone(), attributes, start, OPEN_END.to_owned(), true));
        }
    }
    versions
}

fn rows(snowflake: &SnowflakeStandIn, sql: &str) -> CliResult<Vec<Cells>> {
    Ok(snowflake
        .query(sql)
        .map_err(|e| CliError::usage(format!("{sql}: {e}")))?
        .rows)
}

/// Whether CUSTOMER_HISTORY is exactly the oracle's timeline of CUSTOMER_RAW (blocking).
pub fn history_check(snowflake: &SnowflakeStandIn) -> CliResult<Check> {
    let raw = rows(
        snowflake,
        &format!(
            "SELECT CAST(CUSTOMER_ID AS VARCHAR), {ATTRIBUTES}, UPDATED_AT, OP FROM CUSTOMER_RAW
             ORDER BY CUSTOMER_ID, UPDATED_AT, _FILE_NAME, _FILE_ROW_NUMBER, _LOADED_AT"
        ),
    )?;
    let expected = expected(&raw);
    let actual: Vec<Version> = rows(
        snowflake,
        &format!(
            "SELECT CAST(CUSTOMER_ID AS VARCHAR), {ATTRIBUTES}, START_TIME, END_TIME, IS_CURRENT
             FROM CUSTOMER_HISTORY ORDER BY CUSTOMER_ID, START_TIME"
        ),
    )?
    .into_iter()
    .map(|r| {
        let text = |i: usize| r[i].clone().unwrap_or_default();
        (
            text(0),
            r[1..8].to_vec(),
            text(8),
            text(9),
            text(10) == "true",
        )
    })
    .collect();
    let (expected_set, actual_set): (HashSet<&Version>, HashSet<&Version>) =
        (expected.iter().collect(), actual.iter().collect());
    let differing: HashSet<&String> = expected_set
        .symmetric_difference(&actual_set)
        .map(|v| &v.0)
        .collect();
    // Equal sets of equal size: a duplicated version is a difference too.
    Ok(Check {
        guarantee: "CUSTOMER_HISTORY is the timeline of every loaded row (independent oracle)",
        passed: differing.is_empty() && expected.len() == actual.len(),
        detail: format!(
            "{} versions expected from CUSTOMER_RAW, {} in CUSTOMER_HISTORY, {} customers differ",
            expected.len(),
            actual.len(),
            differing.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str, at: &str, op: &str) -> Cells {
        let mut cells = vec![Some(id.to_owned()), Some(name.to_owned())];
        cells.extend(std::iter::repeat_n(None, 6));
        cells.extend([Some(at.to_owned()), Some(op.to_owned())]);
        cells
    }

    #[test]
    fn follows_the_rule_through_equal_upserts_deletes_and_one_instant() {
        let raw = [
            row("1", "Ann", "1", "U"),
            row("1", "Ann", "2", "U"),
            row("1", "Bea", "3", "U"),
            row("1", "Ann", "4", "U"),
            row("1", "Ann", "4", "D"),
            row("1", "Cid", "5", "U"),
        ];
        let versions: Vec<(String, String, String, bool)> = expected(&raw)
            .into_iter()
            .map(|(_, a, start, end, current)| (a[0].clone().unwrap(), start, end, current))
            .collect();
        let v = |name: &str, start: &str, end: &str, current| {
            (name.to_owned(), start.to_owned(), end.to_owned(), current)
        };
        assert_eq!(
            versions,
            [
                v("Ann", "1", "3", false),
                v("Bea", "3", "4", false),
                v("Cid", "5", OPEN_END, true)
            ]
        );
    }
}

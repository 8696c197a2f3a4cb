//! The Snowflake scripts agree with the CSV contract, so the CSV, the pipe and the tables cannot
//! drift apart, and the merge procedure the task and the rebuild call can be found.

use pipeline::contract::COLUMNS;
use pipeline::sql::{marked, table_columns};

const TABLES: &str = include_str!("../../../sql/02_tables.sql");
const INGEST: &str = include_str!("../../../sql/03_ingest.sql");
const SCD: &str = include_str!("../../../sql/04_scd.sql");

fn contract_columns(except: &[&str]) -> Vec<String> {
    COLUMNS
        .iter()
        .filter(|c| !except.contains(c))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn with(mut columns: Vec<String>, extra: &[&str]) -> Vec<String> {
    columns.extend(extra.iter().map(|c| c.to_string()));
    columns
}

#[test]
fn customer_raw_holds_the_contract_columns_then_load_metadata() {
    assert_eq!(
        table_columns(TABLES, "CUSTOMER_RAW").unwrap(),
        with(
            contract_columns(&[]),
            &["_FILE_NAME", "_FILE_ROW_NUMBER", "_LOADED_AT"]
        )
    );
}

#[test]
fn customer_holds_the_attributes_and_updated_at_without_op() {
    assert_eq!(
        table_columns(TABLES, "CUSTOMER").unwrap(),
        with(
            contract_columns(&["op"]),
            &[
                "IS_DELETED",
                "_FILE_NAME",
                "_FILE_ROW_NUMBER",
                "_MERGED_AT",
                "_LOADED_AT"
            ]
        )
    );
}

#[test]
fn customer_history_holds_the_attributes_and_validity() {
    assert_eq!(
        table_columns(TABLES, "CUSTOMER_HISTORY").unwrap(),
        with(
            contract_columns(&["updated_at", "op"]),
            &["START_TIME", "END_TIME", "IS_CURRENT"]
        )
    );
}

#[test]
fn pipe_copies_every_contract_column_in_file_order() {
    let copy = &INGEST[INGEST.find("COPY INTO CUSTOMER_RAW (").unwrap()..];
    let list = &copy[copy.find('(').unwrap() + 1..copy.find(')').unwrap()];
    let targets: Vec<String> = list.split(',').map(|c| c.trim().to_owned()).collect();
    assert_eq!(
        targets,
        with(
            contract_columns(&[]),
            &["_FILE_NAME", "_FILE_ROW_NUMBER", "_LOADED_AT"]
        )
    );
    for i in 1..=COLUMNS.len() {
        assert!(
            copy.contains(&format!("f.${i},")),
            "the COPY must select file column ${i}"
        );
    }
}

#[test]
fn the_merge_is_one_transaction_that_rolls_back_and_reraises() {
    let body = marked(SCD, "procedure:SP_APPLY_RAW_CHANGES").expect("the body is marked");
    let code: String = body
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(code.starts_with("$$\nBEGIN"), "{code}");
    let at = |what: &str| {
        code.find(what)
            .unwrap_or_else(|| panic!("the body has no {what}"))
    };
    assert!(at("BEGIN TRANSACTION;") < at("COMMIT;"));
    assert!(at("COMMIT;") < at("WHEN OTHER THEN"));
    assert!(at("WHEN OTHER THEN") < at("ROLLBACK;"));
    assert!(at("ROLLBACK;") < at("RAISE;"));
    // One statement reads the stream; the rest read the working set it fills.
    assert_eq!(code.matches("CUSTOMER_RAW_CHANGES").count(), 1, "{code}");
    for target in [
        ".CUSTOMER AS tgt",
        "DELETE FROM <% database %>.<% schema %>.CUSTOMER_HISTORY",
        "INSERT INTO <% database %>.<% schema %>.CUSTOMER_HISTORY",
    ] {
        assert!(at("BEGIN TRANSACTION;") < at(target) && at(target) < at("COMMIT;"));
    }
}

#[test]
fn none_of_the_tutorials_defects_survive() {
    let all = [TABLES, INGEST, SCD].concat();
    for forbidden in [
        "TRUNCATE",
        "ERROR_ON_NONDETERMINISTIC_MERGE",
        "ALTER SESSION",
        "CREATE OR REPLACE PIPE",
        "CREATE OR REPLACE STREAM",
    ] {
        let code: String = all
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!code.contains(forbidden), "sql/ must not use {forbidden}");
    }
}

#[test]
fn every_script_names_the_role_that_runs_it() {
    // The stand-in runs each script as the role its `snow sql … --role NAME` header names.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let header: Vec<&str> = text.lines().take_while(|l| l.starts_with("--")).collect();
        assert!(
            header.iter().any(|l| l.contains(" --role ")),
            "{} names no --role in its header",
            path.display()
        );
    }
}

#[test]
fn the_task_calls_the_merge_procedure_and_90_calls_it_too() {
    let task = &SCD[SCD.find("CREATE OR ALTER TASK TSK_SCD_RAW").unwrap()..];
    assert!(task.contains("CALL <% database %>.<% schema %>.SP_APPLY_RAW_CHANGES();"));
    let rebuild = include_str!("../../../sql/90_rebuild_history.sql");
    assert!(rebuild.contains("\nCALL SP_APPLY_RAW_CHANGES();\n"));
}

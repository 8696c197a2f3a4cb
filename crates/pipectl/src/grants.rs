//! The privileges each service user's roles need, as sql/06_grants.sql grants them, and the
//! comparison with what `SHOW GRANTS TO ROLE` lists: `pipectl doctor` names each missing grant
//! as the statement that adds it.

use snowflake::ResultSet;

/// Whom a configuration signs in as: it decides which privileges are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UserKind {
    /// The ingest function: Snowpipe REST with its default role, no queries.
    Ingest,
    /// The monitor: SQL API with its role (SNOWFLAKE_ROLE); it makes no Snowpipe calls (its
    /// reconciliation announces files on the ingest queue).
    Monitor,
}

/// One privilege on one object (full name) that a role needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    pub privilege: &'static str,
    /// As GRANT … ON names it: PIPE, STAGE, TABLE, TASK, STREAM, VIEW, WAREHOUSE.
    pub kind: &'static str,
    pub object: String,
    /// What fails without it.
    pub why: &'static str,
}

fn need(privilege: &'static str, kind: &'static str, object: String, why: &'static str) -> Needed {
    Needed {
        privilege,
        kind,
        object,
        why,
    }
}

/// The pipeline's object names, qualified with the pipe's database and schema.
pub struct Objects {
    /// DATABASE.SCHEMA.
    pub schema: String,
    pub pipe: String,
    pub stage: String,
    pub file_format: String,
    pub table: String,
    pub tasks: Vec<String>,
    pub streams: Vec<String>,
    pub warehouse: Option<String>,
}

impl Objects {
    /// USAGE on the database and the schema: every name in them needs both.
    fn containers(&self, why: &'static str) -> [Needed; 2] {
        let database = self.schema.split('.').next().unwrap_or_default().to_owned();
        [
            need("USAGE", "DATABASE", database, why),
            need("USAGE", "SCHEMA", self.schema.clone(), why),
        ]
    }

    fn full(&self, name: &str) -> String {
        if name.contains('.') {
            name.to_owned()
        } else {
            format!("{}.{name}", self.schema)
        }
    }
}

/// What a Snowpipe REST caller's role needs ("Calling the Snowpipe REST endpoints requires a role
/// with the following minimum privileges", https://docs.snowflake.com/en/user-guide/data-load-snowpipe-rest-gs).
pub fn snowpipe_caller(objects: &Objects) -> Vec<Needed> {
    let mut needed = objects.containers("to name the pipe").to_vec();
    needed.extend([
        need(
            "OPERATE",
            "PIPE",
            objects.full(&objects.pipe),
            "insertFiles",
        ),
        need(
            "USAGE",
            "STAGE",
            objects.full(&objects.stage),
            "insertFiles",
        ),
        need(
            "USAGE",
            "FILE FORMAT",
            objects.full(&objects.file_format),
            "insertFiles (the stage and the pipe name it)",
        ),
        need(
            "INSERT",
            "TABLE",
            objects.full(&objects.table),
            "insertFiles",
        ),
        need(
            "SELECT",
            "TABLE",
            objects.full(&objects.table),
            "insertFiles",
        ),
        need(
            "MONITOR",
            "PIPE",
            objects.full(&objects.pipe),
            "insertReport and loadHistoryScan",
        ),
    ]);
    needed
}

/// What the monitor's SQL role needs for its checks.
pub fn monitor_queries(objects: &Objects) -> Vec<Needed> {
    let mut needed = objects.containers("to name anything in them").to_vec();
    needed.extend(objects.tasks.iter().map(|task| {
        need(
            "MONITOR",
            "TASK",
            objects.full(task),
            "TASK_HISTORY and SHOW TASKS",
        )
    }));
    needed.push(need(
        "MONITOR",
        "PIPE",
        objects.full(&objects.pipe),
        "SYSTEM$PIPE_STATUS",
    ));
    needed.push(need(
        "REFERENCES",
        "TABLE",
        objects.full(&objects.table),
        "COPY_HISTORY",
    ));
    needed.extend(objects.streams.iter().map(|stream| {
        need(
            "SELECT",
            "STREAM",
            objects.full(stream),
            "SHOW STREAMS (the stale-stream check)",
        )
    }));
    needed.push(need(
        "SELECT",
        "VIEW",
        objects.full(pipeline::monitor::MERGE_LAG_VIEW),
        "the merge-lag check",
    ));
    if let Some(warehouse) = &objects.warehouse {
        needed.push(need(
            "USAGE",
            "WAREHOUSE",
            warehouse.clone(),
            "every history query",
        ));
    }
    needed
}

/// The needed privileges `SHOW GRANTS TO ROLE` does not list (OWNERSHIP covers everything on
/// its object; REFERENCES is satisfied by any table privilege, as COPY_HISTORY asks for "any
/// privilege on table").
pub fn missing<'a>(needed: &'a [Needed], shown: &ResultSet) -> Vec<&'a Needed> {
    let rows: Vec<(String, String)> = (0..shown.rows.len())
        .filter_map(|row| {
            let text = |column: &str| {
                shown
                    .get(row, column)?
                    .as_str()
                    .map(str::to_ascii_uppercase)
            };
            Some((text("privilege")?, text("name")?))
        })
        .collect();
    needed
        .iter()
        .filter(|n| {
            let on_object: Vec<&str> = rows
                .iter()
                .filter(|(_, name)| name.eq_ignore_ascii_case(&n.object))
                .map(|(privilege, _)| privilege.as_str())
                .collect();
            let any_table_privilege = n.privilege == "REFERENCES" && !on_object.is_empty();
            !(on_object.contains(&n.privilege)
                || on_object.contains(&"OWNERSHIP")
                || any_table_privilege)
        })
        .collect()
}

/// `GRANT <privilege> ON <kind> <object> TO ROLE <role>;` for each missing privilege.
pub fn statements(missing: &[&Needed], role: &str) -> String {
    missing
        .iter()
        .map(|n| {
            format!(
                "GRANT {} ON {} {} TO ROLE {role}; -- {}",
                n.privilege, n.kind, n.object, n.why
            )
        })
        .collect::<Vec<_>>()
        .join("\n      ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects() -> Objects {
        Objects {
            schema: "CUSTOMERS.RAW".into(),
            pipe: "CUSTOMER_PIPE".into(),
            stage: "CUSTOMER_STAGE".into(),
            file_format: "CUSTOMER_CSV".into(),
            table: "CUSTOMER_RAW".into(),
            tasks: vec!["TSK_SCD_RAW".into()],
            streams: vec!["CUSTOMER_RAW_CHANGES".into()],
            warehouse: Some("PIPELINE_WH".into()),
        }
    }

    /// Every privilege the doctor expects is granted by sql/06_grants.sql or 01_account.sql to
    /// the role that needs it, so the two cannot drift apart.
    #[test]
    fn the_expectations_are_what_the_scripts_grant() {
        let scripts = [
            include_str!("../../../sql/01_account.sql"),
            include_str!("../../../sql/06_grants.sql"),
        ]
        .concat();
        let granted = |needed: &Needed, role: &str| {
            let short = needed.object.rsplit('.').next().unwrap_or_default();
            scripts.lines().any(|line| {
                line.starts_with("GRANT ")
                    && line.contains(needed.privilege)
                    && (line.contains(&format!("ON {} {short} ", needed.kind))
                        || line.contains(&format!("ON {} <% ", needed.kind)))
                    && line.ends_with(&format!("TO ROLE {role};"))
            })
        };
        let mut checks = vec![];
        for n in snowpipe_caller(&objects()) {
            checks.push((n, "CUSTOMER_PIPELINE_INGEST"));
        }
        for n in monitor_queries(&objects()) {
            checks.push((n, "CUSTOMER_PIPELINE_MONITOR"));
        }
        for (needed, role) in checks {
            assert!(granted(&needed, role), "no grant of {needed:?} to {role}");
        }
    }

    #[test]
    fn ownership_and_any_table_privilege_count() {
        let shown = ResultSet {
            statement_handle: String::new(),
            columns: ["privilege", "name"]
                .iter()
                .map(|n| snowflake::sql_api::Column {
                    name: n.to_string(),
                    kind: "text".into(),
                    scale: None,
                })
                .collect(),
            rows: vec![
                vec![
                    snowflake::sql_api::Value::Text("OWNERSHIP".into()),
                    snowflake::sql_api::Value::Text("CUSTOMERS.RAW.CUSTOMER_PIPE".into()),
                ],
                vec![
                    snowflake::sql_api::Value::Text("SELECT".into()),
                    snowflake::sql_api::Value::Text("CUSTOMERS.RAW.CUSTOMER_RAW".into()),
                ],
            ],
        };
        let needed = monitor_queries(&objects());
        let missing: Vec<String> = missing(&needed, &shown)
            .iter()
            .map(|n| format!("{} {}", n.privilege, n.object))
            .collect();
        assert!(!missing.contains(&"MONITOR CUSTOMERS.RAW.CUSTOMER_PIPE".to_owned()));
        assert!(!missing.contains(&"REFERENCES CUSTOMERS.RAW.CUSTOMER_RAW".to_owned()));
        assert!(missing.contains(&"MONITOR CUSTOMERS.RAW.TSK_SCD_RAW".to_owned()));
    }
}

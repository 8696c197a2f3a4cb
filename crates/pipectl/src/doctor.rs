//! `pipectl doctor`: checks a configuration end to end, one line per check, and for each failure
//! says in plain words what is wrong and what to do.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use snowflake::{ResultSet, SnowflakeClient, SnowflakeError, Snowpipe, SqlApi};
use tokio::time::Instant;

use crate::connection::{ConnectionArgs, Resolved};
use crate::grants::{self, Objects, UserKind};
use pipectl::error::CliError;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The pipe, DATABASE.SCHEMA.PIPE (or PIPE with --database and --schema)
    #[arg(long, env = "SNOWFLAKE_PIPE", default_value = "CUSTOMER_PIPE")]
    pipe: String,
    /// The tasks that must exist and run, comma-separated
    #[arg(long, env = "MONITOR_TASKS", default_value = "TSK_SCD_RAW")]
    tasks: String,
    /// Whose privileges to check: `ingest` (Snowpipe REST only) or `monitor` (SQL API with
    /// SNOWFLAKE_ROLE); default: monitor when a role is configured, else ingest
    #[arg(long, value_enum)]
    user_kind: Option<UserKind>,
    /// The stage the pipe reads
    #[arg(long, default_value = "CUSTOMER_STAGE")]
    stage: String,
    /// The named file format the stage and the pipe read with
    #[arg(long, default_value = "CUSTOMER_CSV")]
    file_format: String,
    /// The pipe's target table
    #[arg(long, default_value = "CUSTOMER_RAW")]
    table: String,
    /// The streams the monitor watches, comma-separated
    #[arg(long, default_value = "CUSTOMER_RAW_CHANGES")]
    streams: String,
    /// The landing bucket; its check is skipped without it
    #[arg(long, env = "BUCKET")]
    bucket: Option<String>,
    /// The stage prefix the bucket check lists
    #[arg(long, env = "PREFIX", default_value = "stream_data/")]
    prefix: String,
    /// An S3-compatible endpoint instead of AWS (credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY)
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
}

/// One check's result.
enum Verdict {
    Pass(String),
    /// What is wrong, and what to do about it.
    Fail(String, String),
    Skip(String),
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Exit status: 0 every check passed, 1 one failed, 2 the settings are incomplete.
pub fn run(args: DoctorArgs) -> Result<(), CliError> {
    let resolved = args.connection.resolve()?;
    let runtime = crate::single_thread_runtime();
    let verdicts = runtime.block_on(diagnose(&args, &resolved));
    let mut failed = false;
    for (check, verdict) in &verdicts {
        match verdict {
            Verdict::Pass(detail) => println!("ok    {check:<9} {detail}"),
            Verdict::Skip(why) => println!("skip  {check:<9} {why}"),
            Verdict::Fail(what, fix) => {
                failed = true;
                println!("FAIL  {check:<9} {what}\n      {:<9} fix: {fix}", "");
            }
        }
    }
    if failed {
        println!("\nSome checks failed; fix the first one first, the others often follow from it.");
        return Err(CliError::Reported { usage: false });
    }
    println!("\nAll checks passed.");
    Ok(())
}

/// Every check in order; a check that cannot run because an earlier one failed is skipped,
/// and the bucket is checked whatever happened before.
async fn diagnose(args: &DoctorArgs, resolved: &Resolved) -> Vec<(&'static str, Verdict)> {
    let mut verdicts = Vec::new();
    if let Some(named) = &resolved.named {
        verdicts.push(("settings", Verdict::Pass(format!("from {named}"))));
    }
    verdicts.extend(diagnose_snowflake(args, resolved).await);
    verdicts.push(("bucket", check_bucket(args).await));
    verdicts
}

/// key, auth, warehouse, grants, pipe, tasks.
async fn diagnose_snowflake(
    args: &DoctorArgs,
    resolved: &Resolved,
) -> Vec<(&'static str, Verdict)> {
    let skip_rest = |verdicts: &mut Vec<(&'static str, Verdict)>, why: &str| {
        for check in ["auth", "warehouse", "grants", "pipe", "tasks"] {
            if verdicts.iter().all(|(done, _)| *done != check) {
                verdicts.push((check, Verdict::Skip(format!("skipped: {why}"))));
            }
        }
    };
    let mut verdicts = Vec::new();
    let (key, client) = check_key(resolved);
    verdicts.push(("key", key));
    let Some(client) = client else {
        skip_rest(&mut verdicts, "no usable key");
        return verdicts;
    };
    let api = SqlApi::new(client.clone(), resolved.context());
    let kind = args.user_kind.unwrap_or(if resolved.role.is_some() {
        UserKind::Monitor
    } else {
        UserKind::Ingest
    });
    let (auth, signed_in) = check_auth(&api, kind, resolved, &client).await;
    verdicts.push(("auth", auth));
    let Some((role, warehouse)) = signed_in else {
        skip_rest(&mut verdicts, "not signed in");
        return verdicts;
    };
    verdicts.push(("warehouse", check_warehouse(kind, warehouse.clone())));
    let pipe = resolved.qualified_pipe(&args.pipe);
    let Some(objects) = objects(args, warehouse, pipe.as_deref()) else {
        verdicts.push((
            "pipe",
            Verdict::Fail(
                "the pipe name is not fully qualified".into(),
                "pass --pipe DATABASE.SCHEMA.PIPE, or --database and --schema".into(),
            ),
        ));
        return verdicts;
    };
    match kind {
        UserKind::Ingest => {
            let needed = grants::snowpipe_caller(&objects);
            verdicts.push(("grants", check_grants(&api, &role, &needed).await));
            verdicts.push(("pipe", check_pipe(client, &objects.pipe).await));
            verdicts.push((
                "tasks",
                Verdict::Skip("skipped: the ingest user does not watch tasks".into()),
            ));
        }
        UserKind::Monitor => {
            let needed = grants::monitor_queries(&objects);
            verdicts.push(("grants", check_grants(&api, &role, &needed).await));
            verdicts.push(("pipe", check_pipe_status(&api, &objects.pipe).await));
            verdicts.push(("tasks", check_tasks(&api, &objects).await));
        }
    }
    verdicts
}

/// The key file reads and a client is built from it (no network yet).
fn check_key(resolved: &Resolved) -> (Verdict, Option<Arc<SnowflakeClient>>) {
    let built = resolved.key_pair().and_then(|key| {
        let fingerprint = key.fingerprint().to_owned();
        resolved.client().map(|client| (client, fingerprint))
    });
    match built {
        Ok((client, fingerprint)) => (
            Verdict::Pass(format!(
                "{} readable, fingerprint {fingerprint}",
                resolved.private_key_path.display()
            )),
            Some(Arc::new(client)),
        ),
        Err(err) => (
            Verdict::Fail(
                err.to_string(),
                "point --private-key-path (or SNOWFLAKE_PRIVATE_KEY_PATH) at the PKCS#8 key \
                 whose public half is registered; `pipectl key` shows its fingerprint"
                    .into(),
            ),
            None,
        ),
    }
}

/// Snowflake accepts the JWT: the session's role and warehouse, when signed in.
async fn check_auth(
    api: &SqlApi,
    kind: UserKind,
    resolved: &Resolved,
    client: &SnowflakeClient,
) -> (Verdict, Option<(String, Option<String>)>) {
    let who = query(
        api,
        "SELECT CURRENT_USER() AS USER_NAME, CURRENT_ROLE() AS ROLE_NAME, CURRENT_WAREHOUSE() AS WAREHOUSE_NAME",
    )
    .await;
    match who {
        Ok(result) => {
            let cell = |name: &str| {
                result
                    .get(0, name)
                    .and_then(|v| v.as_str().map(str::to_owned))
            };
            let role = cell("ROLE_NAME").unwrap_or_else(|| "PUBLIC".into());
            let verdict = Verdict::Pass(format!(
                "JWT accepted: user {}, role {role} ({kind:?} checks)",
                cell("USER_NAME").unwrap_or_default(),
            ));
            (verdict, Some((role, cell("WAREHOUSE_NAME"))))
        }
        Err(err) => (
            Verdict::Fail(err.to_string(), auth_fix(&err, resolved, client)),
            None,
        ),
    }
}

/// The pipeline's names, qualified with the pipe's database and schema.
/// `warehouse` is the one in use (CURRENT_WAREHOUSE(): the configured one, or the user's
/// default).
fn objects(args: &DoctorArgs, warehouse: Option<String>, pipe: Option<&str>) -> Option<Objects> {
    let name: snowflake::PipeName = pipe?.parse().ok()?;
    let schema = format!("{}.{}", name.database, name.schema);
    let pipe = name.to_string();
    let list = |text: &str| {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Some(Objects {
        schema,
        pipe,
        stage: args.stage.clone(),
        file_format: args.file_format.clone(),
        table: args.table.clone(),
        tasks: list(&args.tasks),
        streams: list(&args.streams),
        warehouse,
    })
}

fn check_warehouse(kind: UserKind, warehouse: Option<String>) -> Verdict {
    match (kind, warehouse) {
        (UserKind::Ingest, _) => Verdict::Skip(
            "skipped: the ingest user runs no queries (Snowpipe needs no warehouse)".into(),
        ),
        (UserKind::Monitor, Some(warehouse)) => Verdict::Pass(format!("{warehouse} in use")),
        (UserKind::Monitor, None) => Verdict::Fail(
            "no warehouse in use: the monitor's history queries need one".into(),
            "pass --warehouse (or SNOWFLAKE_WAREHOUSE), or ALTER USER … SET \
             DEFAULT_WAREHOUSE, and GRANT USAGE on it to the role"
                .into(),
        ),
    }
}

/// `SHOW GRANTS TO ROLE <role>` against what `needed` lists; each missing grant is named.
async fn check_grants(api: &SqlApi, role: &str, needed: &[grants::Needed]) -> Verdict {
    let plain = role
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !plain {
        return Verdict::Skip(format!("skipped: role '{role}' is not a plain identifier"));
    }
    let shown = match query(api, &format!("SHOW GRANTS TO ROLE {role}")).await {
        Ok(shown) => shown,
        Err(err) => {
            return Verdict::Fail(
                format!("cannot list the grants of role {role}: {err}"),
                "run `SHOW GRANTS TO ROLE` as an administrator and compare with sql/06_grants.sql"
                    .into(),
            );
        }
    };
    let missing = grants::missing(needed, &shown);
    if missing.is_empty() {
        Verdict::Pass(format!(
            "role {role} holds the {} privileges it needs",
            needed.len()
        ))
    } else {
        Verdict::Fail(
            format!("role {role} lacks {} privilege(s)", missing.len()),
            format!(
                "as the objects' owner (sql/06_grants.sql):\n      {}",
                grants::statements(&missing, role)
            ),
        )
    }
}

async fn query(api: &SqlApi, statement: &str) -> Result<ResultSet, SnowflakeError> {
    api.query(statement, &[], TIMEOUT, Instant::now() + TIMEOUT)
        .await
}

/// What to do when Snowflake does not let us in.
fn auth_fix(err: &SnowflakeError, resolved: &Resolved, client: &SnowflakeClient) -> String {
    let fingerprint = client.signer().fingerprint();
    match err.status() {
        Some(401) => format!(
            "Snowflake did not accept the JWT for user {user} of account {account}. Check that \
             user's RSA_PUBLIC_KEY_FP is {fingerprint} (DESC USER {user}); if not, register this \
             key with the statement `pipectl key --user {user}` prints. If the fingerprint \
             matches, the account in the JWT may be wrong: try --jwt-account with the account \
             locator",
            user = resolved.user,
            account = resolved.account,
        ),
        Some(403) => "the user may not use the SQL API or the role: GRANT the role to the user \
                      and check network policies"
            .into(),
        Some(404) => format!(
            "no Snowflake account answers at this address: check the account identifier \
             '{}' (orgname-accountname, or the locator with region)",
            resolved.account
        ),
        _ if err.retryable() => "Snowflake could not be reached: check the network, a proxy, \
                                 and the account identifier"
            .into(),
        _ => err
            .configuration_hint()
            .unwrap_or("see the message above")
            .to_owned(),
    }
}

/// The pipe through the Snowpipe REST API, as the ingest function reaches it.
async fn check_pipe(client: Arc<SnowflakeClient>, pipe: &str) -> Verdict {
    let snowpipe = Snowpipe::new(client, pipe.to_owned());
    match snowpipe.insert_report(None, Instant::now() + TIMEOUT).await {
        Ok(report) => Verdict::Pass(format!(
            "{pipe} visible to the REST API ({} recent loads reported)",
            report.files.len()
        )),
        Err(err) if err.status() == Some(404) => Verdict::Fail(
            format!("{pipe} was not found by the REST API"),
            "create it with sql/03_ingest.sql, and grant the ingest role what sql/06_grants.sql \
             grants (the grants check above names what is missing); pipe names are \
             case-sensitive"
                .into(),
        ),
        Err(err) => Verdict::Fail(
            err.to_string(),
            "the ingest role needs what sql/06_grants.sql grants it (see the grants check)".into(),
        ),
    }
}

/// SYSTEM$PIPE_STATUS, as the monitor reads it.
async fn check_pipe_status(api: &SqlApi, pipe: &str) -> Verdict {
    let statement = format!("SELECT SYSTEM$PIPE_STATUS('{pipe}') AS STATUS");
    match query(api, &statement).await {
        Ok(result) => {
            let status: serde_json::Value = result
                .get(0, "STATUS")
                .and_then(|v| v.as_str())
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            match status["executionState"].as_str() {
                Some("RUNNING") => Verdict::Pass(format!("{pipe} is RUNNING")),
                Some(state) => Verdict::Fail(
                    format!("{pipe} is {state}"),
                    "see SYSTEM$PIPE_STATUS's documentation for the state; ALTER PIPE … SET \
                     PIPE_EXECUTION_PAUSED = FALSE resumes a paused pipe"
                        .into(),
                ),
                None => Verdict::Fail(
                    format!("{pipe}: no executionState in {status}"),
                    "check the pipe".into(),
                ),
            }
        }
        Err(err) => Verdict::Fail(
            err.to_string(),
            "the monitor role needs MONITOR on the pipe (sql/06_grants.sql)".into(),
        ),
    }
}

async fn check_tasks(api: &SqlApi, objects: &Objects) -> Verdict {
    let schema = &objects.schema;
    let plain = |name: &str| {
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
    };
    if !plain(schema) {
        return Verdict::Fail(
            format!("'{schema}' is not a plain DATABASE.SCHEMA name"),
            "use unquoted identifiers".into(),
        );
    }
    let shown = match query(api, &format!("SHOW TASKS IN SCHEMA {schema}")).await {
        Ok(shown) => shown,
        Err(err) => {
            return Verdict::Fail(
                err.to_string(),
                "the monitor role needs MONITOR on the tasks (sql/06_grants.sql)".into(),
            );
        }
    };
    let state = |task: &str| {
        (0..shown.rows.len()).find_map(|row| {
            let name = shown.get(row, "name")?.as_str()?;
            name.eq_ignore_ascii_case(task)
                .then(|| shown.get(row, "state")?.as_str().map(str::to_owned))?
        })
    };
    let mut problems = Vec::new();
    for task in &objects.tasks {
        match state(task).as_deref() {
            Some(s) if s.parse() == Ok(snowflake::TaskState::Started) => {}
            Some(s) => problems.push(format!("{task} is {s}")),
            None => problems.push(format!("{task} does not exist (or is not visible)")),
        }
    }
    if problems.is_empty() {
        Verdict::Pass(format!("{} started in {schema}", objects.tasks.join(",")))
    } else {
        Verdict::Fail(
            problems.join("; "),
            "run sql/04_scd.sql, then ALTER TASK … RESUME for the children before the root \
             (the script's last statements do this)"
                .into(),
        )
    }
}

async fn check_bucket(args: &DoctorArgs) -> Verdict {
    let Some(bucket) = &args.bucket else {
        return Verdict::Skip("skipped: no --bucket (or BUCKET)".into());
    };
    let client = crate::bucket::s3_client(args.s3_endpoint.as_deref()).await;
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&args.prefix)
        .max_keys(1)
        .send()
        .await;
    match listed {
        Ok(_) => Verdict::Pass(format!("s3://{bucket}/{} reachable", args.prefix)),
        Err(err) => {
            use pipeline::aws::ProvideErrorMetadata;
            let code = err.code().unwrap_or("no answer").to_owned();
            let fix = match code.as_str() {
                "NoSuchBucket" => "check the bucket name (and region)",
                "AccessDenied" => {
                    "these credentials may not list the bucket: check the role's policy"
                }
                _ => "check AWS credentials, region and network",
            };
            Verdict::Fail(format!("listing s3://{bucket} failed: {code}"), fix.into())
        }
    }
}

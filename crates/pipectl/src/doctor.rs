//! `pipectl doctor`: checks a configuration end to end, one line per check, and for each failure
//! says in plain words what is wrong and what to do.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use snowflake::{ResultSet, SnowflakeClient, SnowflakeError, Snowpipe, SqlApi};
use tokio::time::Instant;

use crate::connection::{ConnectionArgs, Resolved};

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The pipe, DATABASE.SCHEMA.PIPE (or PIPE with --database and --schema)
    #[arg(long, env = "SNOWFLAKE_PIPE", default_value = "CUSTOMER_PIPE")]
    pipe: String,
    /// The tasks that must exist and run, comma-separated
    #[arg(
        long,
        env = "MONITOR_TASKS",
        default_value = "TSK_SCD_RAW,TSK_SCD_HIST"
    )]
    tasks: String,
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
pub fn run(args: DoctorArgs) -> ExitCode {
    let resolved = match args.connection.resolve() {
        Ok(resolved) => resolved,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
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
        ExitCode::from(1)
    } else {
        println!("\nAll checks passed.");
        ExitCode::SUCCESS
    }
}

async fn diagnose(args: &DoctorArgs, resolved: &Resolved) -> Vec<(&'static str, Verdict)> {
    let mut verdicts = Vec::new();
    if let Some(named) = &resolved.named {
        verdicts.push(("settings", Verdict::Pass(format!("from {named}"))));
    }
    let client = match resolved.key_pair().and_then(|key| {
        let fingerprint = key.fingerprint().to_owned();
        resolved.client().map(|client| (client, fingerprint))
    }) {
        Ok((client, fingerprint)) => {
            verdicts.push((
                "key",
                Verdict::Pass(format!(
                    "{} readable, fingerprint {fingerprint}",
                    resolved.private_key_path.display()
                )),
            ));
            Arc::new(client)
        }
        Err(message) => {
            verdicts.push((
                "key",
                Verdict::Fail(
                    message,
                    "point --private-key-path (or SNOWFLAKE_PRIVATE_KEY_PATH) at the PKCS#8 key \
                     whose public half is registered; `pipectl key` shows its fingerprint"
                        .into(),
                ),
            ));
            let skipped = "skipped: no usable key".to_owned();
            for check in ["auth", "warehouse", "pipe", "tasks"] {
                verdicts.push((check, Verdict::Skip(skipped.clone())));
            }
            verdicts.push(("bucket", check_bucket(args).await));
            return verdicts;
        }
    };
    let api = SqlApi::new(client.clone(), resolved.context());
    let who = query(
        &api,
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
            verdicts.push((
                "auth",
                Verdict::Pass(format!(
                    "JWT accepted: user {}, role {}",
                    cell("USER_NAME").unwrap_or_default(),
                    cell("ROLE_NAME").unwrap_or_else(|| "(none)".into())
                )),
            ));
            verdicts.push((
                "warehouse",
                match cell("WAREHOUSE_NAME") {
                    Some(warehouse) => Verdict::Pass(format!("{warehouse} in use")),
                    None => Verdict::Fail(
                        "no warehouse in use: the monitor's history queries need one".into(),
                        "pass --warehouse (or SNOWFLAKE_WAREHOUSE), or ALTER USER … SET \
                         DEFAULT_WAREHOUSE, and GRANT USAGE on it to the role"
                            .into(),
                    ),
                },
            ));
        }
        Err(err) => {
            verdicts.push((
                "auth",
                Verdict::Fail(err.to_string(), auth_fix(&err, resolved, &client)),
            ));
            for check in ["warehouse", "pipe", "tasks"] {
                verdicts.push((check, Verdict::Skip("skipped: not signed in".into())));
            }
            verdicts.push(("bucket", check_bucket(args).await));
            return verdicts;
        }
    }
    let pipe = resolved.qualified_pipe(&args.pipe);
    verdicts.push(("pipe", check_pipe(client, pipe.as_deref()).await));
    verdicts.push((
        "tasks",
        check_tasks(&api, pipe.as_deref(), &args.tasks).await,
    ));
    verdicts.push(("bucket", check_bucket(args).await));
    verdicts
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

/// The pipe as DATABASE.SCHEMA.PIPE, or `None` when it cannot be qualified.
async fn check_pipe(client: Arc<SnowflakeClient>, pipe: Option<&str>) -> Verdict {
    let Some(pipe) = pipe else {
        return Verdict::Fail(
            "the pipe name is not fully qualified".into(),
            "pass --pipe DATABASE.SCHEMA.PIPE, or --database and --schema".into(),
        );
    };
    let snowpipe = Snowpipe::new(client, pipe.to_owned());
    match snowpipe.insert_report(None, Instant::now() + TIMEOUT).await {
        Ok(report) => Verdict::Pass(format!(
            "{pipe} visible to the REST API ({} recent loads reported)",
            report.files.len()
        )),
        Err(err) if err.status() == Some(404) => Verdict::Fail(
            format!("{pipe} was not found by the REST API"),
            "create it with sql/03_ingest.sql, and GRANT MONITOR and OPERATE on the pipe to the \
             ingest role (sql/06_grants.sql); names are case-sensitive when quoted"
                .into(),
        ),
        Err(err) => Verdict::Fail(
            err.to_string(),
            "the ingest role needs OPERATE and MONITOR on the pipe (sql/06_grants.sql)".into(),
        ),
    }
}

async fn check_tasks(api: &SqlApi, pipe: Option<&str>, tasks: &str) -> Verdict {
    let Some((schema, _)) = pipe.and_then(|p| p.rsplit_once('.')) else {
        return Verdict::Skip("skipped: no schema (the pipe is not qualified)".into());
    };
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
    for task in tasks.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match state(task).as_deref() {
            Some(s) if s.eq_ignore_ascii_case("started") => {}
            Some(s) => problems.push(format!("{task} is {s}")),
            None => problems.push(format!("{task} does not exist (or is not visible)")),
        }
    }
    if problems.is_empty() {
        Verdict::Pass(format!("{tasks} started in {schema}"))
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

//! `pipectl sql`: one statement through the SQL API v2, printed as a table or JSON.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use snowflake::{Connection, KeyPair, RetryPolicy, SnowflakeClient, SqlApi, StatementContext};

/// Where and as whom to connect; every option can come from its `SNOWFLAKE_*` variable.
#[derive(Args, Debug)]
pub struct ConnectionArgs {
    /// Account identifier as in the host name, e.g. xy12345.us-east-2.aws.
    #[arg(long, env = "SNOWFLAKE_ACCOUNT")]
    account: String,
    #[arg(long, env = "SNOWFLAKE_USER")]
    user: String,
    /// PKCS#8 PEM private key (the passphrase, if any, from SNOWFLAKE_PRIVATE_KEY_PASSPHRASE).
    #[arg(long, env = "SNOWFLAKE_PRIVATE_KEY_PATH", value_name = "FILE")]
    private_key_path: std::path::PathBuf,
    /// The account in the JWT claims, when it differs from the normalised identifier.
    #[arg(long, env = "SNOWFLAKE_JWT_ACCOUNT")]
    jwt_account: Option<String>,
    /// Default https://<account>.snowflakecomputing.com.
    #[arg(long, env = "SNOWFLAKE_BASE_URL")]
    base_url: Option<String>,
    #[arg(long, env = "SNOWFLAKE_DATABASE")]
    database: Option<String>,
    #[arg(long, env = "SNOWFLAKE_SCHEMA")]
    schema: Option<String>,
    #[arg(long, env = "SNOWFLAKE_WAREHOUSE")]
    warehouse: Option<String>,
    #[arg(long, env = "SNOWFLAKE_ROLE")]
    role: Option<String>,
}

impl ConnectionArgs {
    pub fn sql_api(&self) -> Result<SqlApi, String> {
        let pem = std::fs::read_to_string(&self.private_key_path).map_err(|e| {
            format!(
                "cannot read the private key {}: {e}",
                self.private_key_path.display()
            )
        })?;
        let passphrase = std::env::var("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE").ok();
        let key = KeyPair::from_pem(&pem, passphrase.as_deref()).map_err(|e| e.to_string())?;
        let connection = Connection {
            account: self.account.clone(),
            user: self.user.clone(),
            jwt_account: self.jwt_account.clone(),
            base_url: self.base_url.clone(),
        };
        let client = SnowflakeClient::connect(&connection, key, RetryPolicy::default())
            .map_err(|e| e.to_string())?;
        let context = StatementContext {
            database: self.database.clone(),
            schema: self.schema.clone(),
            warehouse: self.warehouse.clone(),
            role: self.role.clone(),
        };
        Ok(SqlApi::new(Arc::new(client), context))
    }
}

#[derive(Args, Debug)]
pub struct SqlArgs {
    /// One SQL statement (no USE or ALTER SESSION: pass --database, --role… instead).
    statement: String,
    /// Print the rows as a JSON array of objects.
    #[arg(long)]
    json: bool,
    /// Give up (and cancel the statement) after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// Exit status: 0 done, 1 the statement or the call failed, 2 bad arguments or settings.
pub fn run(args: SqlArgs) -> ExitCode {
    let api = match args.connection.sql_api() {
        Ok(api) => api,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let timeout = Duration::from_secs(args.timeout);
    let result = runtime.block_on(api.query(
        &args.statement,
        &[],
        timeout,
        tokio::time::Instant::now() + timeout,
    ));
    let result = match result {
        Ok(result) => result,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(1);
        }
    };
    if args.json {
        let rows: Vec<serde_json::Value> = result
            .rows
            .iter()
            .map(|row| {
                result
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| (c.name.clone(), v.to_json()))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        print_table(&result);
    }
    ExitCode::SUCCESS
}

fn print_table(result: &snowflake::ResultSet) {
    let cells: Vec<Vec<String>> = result
        .rows
        .iter()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect();
    let widths: Vec<usize> = result
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", padded.join(" | ").trim_end());
    };
    line(result.columns.iter().map(|c| c.name.as_str()).collect());
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    eprintln!("({} rows)", result.rows.len());
}

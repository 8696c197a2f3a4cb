//! `pipectl sql`: one statement through the SQL API v2, printed as a table or JSON.

use std::time::Duration;

use clap::Args;

use crate::connection::ConnectionArgs;
use pipectl::error::CliError;

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
pub fn run(args: SqlArgs) -> Result<(), CliError> {
    let api = args.connection.resolve()?.sql_api()?;
    let runtime = crate::single_thread_runtime();
    let timeout = Duration::from_secs(args.timeout);
    let result = runtime.block_on(api.query(
        &args.statement,
        &[],
        timeout,
        tokio::time::Instant::now() + timeout,
    ));
    let result = result.map_err(CliError::failed)?;
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
    Ok(())
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

//! Reading the shipped Snowflake scripts (`sql/`): tests check the merge procedure's body and
//! the tables against the CSV contract.

/// A marked part of a script: the text between `-- <marker> begin` and `-- <marker> end`, such
/// as `procedure:SP_APPLY_RAW_CHANGES`.
pub fn marked<'a>(script: &'a str, marker: &str) -> Option<&'a str> {
    let begin = format!("-- {marker} begin");
    let end = format!("-- {marker} end");
    let start = script.find(&begin)? + begin.len();
    let stop = start + script[start..].find(&end)?;
    Some(script[start..stop].trim())
}

/// The column names of `CREATE TABLE [IF NOT EXISTS] <table> (…)`, in order (constraints left out).
pub fn table_columns(script: &str, table: &str) -> Option<Vec<String>> {
    let head = [
        format!("CREATE TABLE IF NOT EXISTS {table} ("),
        format!("CREATE TABLE {table} ("),
    ]
    .into_iter()
    .find_map(|h| script.find(&h).map(|at| at + h.len()))?;
    let body = &script[head..];
    let body = &body[..body.find("\n)")?];
    Some(
        body.lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|word| {
                !matches!(
                    *word,
                    "PRIMARY" | "UNIQUE" | "CONSTRAINT" | "FOREIGN" | "--"
                )
            })
            .map(|word| word.trim_end_matches(',').to_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_marked_part() {
        let script =
            "CREATE TASK T AS\n-- task:T begin\nMERGE INTO X USING Y ON TRUE;\n-- task:T end\n";
        assert_eq!(
            marked(script, "task:T"),
            Some("MERGE INTO X USING Y ON TRUE;")
        );
        assert_eq!(marked(script, "task:OTHER"), None);
    }

    #[test]
    fn reads_column_names_and_skips_constraints() {
        let script = "CREATE TABLE IF NOT EXISTS T (\n    A NUMBER NOT NULL,\n    B VARCHAR,\n    PRIMARY KEY (A)\n)\nCOMMENT = 'x';";
        assert_eq!(
            table_columns(script, "T"),
            Some(vec!["A".to_owned(), "B".to_owned()])
        );
    }
}

//! The whole translation from the shipped Snowflake SQL to DuckDB, kept deliberately small:
//! placeholders filled, statements split, type names mapped, COMMENT clauses and (unenforced in
//! Snowflake anyway) PRIMARY KEY constraints dropped. Functions DuckDB lacks are macros in
//! [`PRELUDE`], not rewrites. Anything else must already be portable SQL.

/// What Snowflake has and DuckDB does not, as macros; `IF NOT EXISTS` because table defaults
/// depend on them when a state folder is reopened. Extension autoloading is off: DuckDB would
/// otherwise download extensions (ICU, for time zone functions) from the internet.
pub const PRELUDE: &str = "
SET autoinstall_known_extensions = false;
SET autoload_known_extensions = false;
CREATE MACRO IF NOT EXISTS sysdate() AS CAST(now() AS TIMESTAMP);
CREATE MACRO IF NOT EXISTS to_timestamp_ltz(s) AS CAST(s AS TIMESTAMP);
CREATE MACRO IF NOT EXISTS to_varchar(t, f) AS strftime(t, '%Y-%m-%dT%H:%M:%S.%g+00:00');
";

/// Snowflake type spellings used in `sql/` and their DuckDB equivalents, longest first.
const TYPES: &[(&str, &str)] = &[
    ("TIMESTAMP_NTZ(9)", "TIMESTAMP"),
    ("TIMESTAMP_NTZ", "TIMESTAMP"),
    ("TIMESTAMP_LTZ(9)", "TIMESTAMPTZ"),
    ("TIMESTAMP_LTZ", "TIMESTAMPTZ"),
    ("NUMBER(38, 0)", "DECIMAL(38, 0)"),
    ("NUMBER", "DECIMAL(38, 0)"),
];

/// `<% name %>` placeholders (the Snowflake CLI's templating) filled from `values`.
pub fn fill_placeholders(script: &str, values: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(start) = rest.find("<%") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("%>")
            .ok_or("an unclosed <% placeholder")?;
        let name = rest[start + 2..start + end].trim();
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("no value for the placeholder <% {name} %>"))?;
        out.push_str(value.1);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits a script into statements at `;` outside quotes, `$$` strings and comments; comments
/// outside `$$` strings are dropped.
pub fn split_statements(script: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    let mut in_quote = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                current.push(c);
            }
            // A dollar-quoted string runs to the next `$$`, comments and `;` included
            // (https://docs.snowflake.com/en/sql-reference/data-types-text#dollar-quoted-string-constants).
            '$' if !in_quote && chars.peek() == Some(&'$') => {
                chars.next();
                current.push_str("$$");
                let mut previous = ' ';
                for c in chars.by_ref() {
                    current.push(c);
                    if previous == '$' && c == '$' {
                        break;
                    }
                    previous = c;
                }
            }
            '-' if !in_quote && chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            ';' if !in_quote => {
                let statement = current.trim();
                if !statement.is_empty() {
                    statements.push(statement.to_owned());
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    let statement = current.trim();
    if !statement.is_empty() {
        statements.push(statement.to_owned());
    }
    statements
}

/// A column as CREATE TABLE declares it, in Snowflake's terms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    /// The declared type, e.g. `NUMBER(38, 0)`, `VARCHAR(256)`, `TIMESTAMP_NTZ(9)`.
    pub data_type: String,
    pub nullable: bool,
}

/// The columns of `CREATE TABLE … ( … )`, one per line as `sql/` writes them; constraints are
/// left out.
pub fn column_definitions(statement: &str) -> Vec<Column> {
    let Some(open) = statement.find('(') else {
        return Vec::new();
    };
    let Some(close) = statement.rfind(')') else {
        return Vec::new();
    };
    statement[open + 1..close]
        .lines()
        .map(|line| {
            line.split("--")
                .next()
                .unwrap_or_default()
                .trim()
                .trim_end_matches(',')
        })
        .filter(|line| !line.is_empty())
        .filter(|line| !line.starts_with("PRIMARY KEY") && !line.starts_with("CONSTRAINT"))
        .filter_map(|line| {
            let (name, rest) = line.split_once(char::is_whitespace)?;
            let rest = rest.trim();
            let end = rest
                .find(" NOT NULL")
                .or_else(|| rest.find(" DEFAULT"))
                .or_else(|| rest.find(" PRIMARY KEY"))
                .unwrap_or(rest.len());
            Some(Column {
                name: name.to_ascii_uppercase(),
                data_type: rest[..end].trim().to_ascii_uppercase(),
                nullable: !rest.contains("NOT NULL") && !rest.contains("PRIMARY KEY"),
            })
        })
        .collect()
}

/// A table definition translated for DuckDB, with the primary key it declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub sql: String,
    pub primary_key: Vec<String>,
    /// A table's `DATA_RETENTION_TIME_IN_DAYS = n` (Time Travel, which DuckDB lacks).
    pub retention_days: Option<u32>,
}

/// Translates one CREATE TABLE or CREATE VIEW statement (or any statement: only type names and
/// COMMENT clauses are touched).
pub fn translate(statement: &str) -> Translated {
    let mut sql = drop_comment_clauses(statement);
    for (snowflake, duckdb) in TYPES {
        sql = replace_word(&sql, snowflake, duckdb);
    }
    // Transience and Time Travel are catalog facts here (ddl/create.rs), not DuckDB's.
    let sql = replace_word(&replace_word(&sql, "TRANSIENT", ""), "COPY GRANTS", "");
    let (sql, retention_days) = take_retention(&sql);
    let (sql, primary_key) = drop_primary_keys(&sql);
    Translated {
        sql,
        primary_key,
        retention_days,
    }
}

/// Removes `DATA_RETENTION_TIME_IN_DAYS = <n>`, returning n.
fn take_retention(sql: &str) -> (String, Option<u32>) {
    const WORD: &str = "DATA_RETENTION_TIME_IN_DAYS";
    let Some(at) = find_word(sql, WORD) else {
        return (sql.to_owned(), None);
    };
    let after = sql[at + WORD.len()..].trim_start();
    let Some(value) = after.strip_prefix('=').map(str::trim_start) else {
        return (sql.to_owned(), None);
    };
    let digits = value.len() - value.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let days = value[..digits].parse().ok();
    (
        format!("{}\n{}", sql[..at].trim_end(), &value[digits..]),
        days,
    )
}

/// Removes `COMMENT = '…'` (with `''` escapes) wherever it appears.
fn drop_comment_clauses(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = find_word(rest, "COMMENT") {
        let after = rest[at + "COMMENT".len()..].trim_start();
        let Some(value) = after.strip_prefix('=').map(str::trim_start) else {
            out.push_str(&rest[..at + "COMMENT".len()]);
            rest = &rest[at + "COMMENT".len()..];
            continue;
        };
        let Some(body) = value.strip_prefix('\'') else {
            out.push_str(&rest[..at + "COMMENT".len()]);
            rest = &rest[at + "COMMENT".len()..];
            continue;
        };
        let mut end = 0;
        let bytes = body.as_bytes();
        while end < bytes.len() {
            if bytes[end] == b'\'' {
                if bytes.get(end + 1) == Some(&b'\'') {
                    end += 2;
                    continue;
                }
                break;
            }
            end += 1;
        }
        out.push_str(rest[..at].trim_end());
        out.push('\n');
        rest = &body[(end + 1).min(body.len())..];
    }
    out.push_str(rest);
    out
}

/// Drops `PRIMARY KEY` column constraints and `PRIMARY KEY (…)` table constraints, returning the
/// key's columns. Snowflake does not enforce them; DuckDB would, and its MERGE then rejects
/// updates Snowflake accepts.
fn drop_primary_keys(sql: &str) -> (String, Vec<String>) {
    let mut key = Vec::new();
    let mut lines = Vec::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if let Some(columns) = trimmed.strip_prefix("PRIMARY KEY") {
            key = columns
                .trim()
                .trim_start_matches('(')
                .trim_end_matches([')', ','])
                .split(',')
                .map(|c| c.trim().to_owned())
                .collect();
            // The previous line's comma now ends the list.
            if let Some(last) = lines.last_mut() {
                let text: &mut String = last;
                if text.trim_end().ends_with(',') {
                    let cut = text.trim_end().len() - 1;
                    text.truncate(cut);
                }
            }
            continue;
        }
        if let Some(at) = trimmed.find(" PRIMARY KEY") {
            key = vec![
                trimmed
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ];
            let indent = &line[..line.len() - line.trim_start().len()];
            lines.push(format!(
                "{indent}{}{}",
                &trimmed[..at],
                &trimmed[at + " PRIMARY KEY".len()..]
            ));
            continue;
        }
        lines.push(line.to_owned());
    }
    (lines.join("\n"), key)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// The byte offset of `word` in `text` as a whole word (case-sensitive: `sql/` is upper case).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let starts = before.is_none_or(|c| !is_word_char(c));
        let ends = word.ends_with(')') || after.is_none_or(|c| !is_word_char(c) && c != '(');
        if starts && ends {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_word(rest, word) {
        out.push_str(&rest[..at]);
        out.push_str(with);
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_and_names_a_missing_one() {
        let filled = fill_placeholders(
            "USE SCHEMA <% database %>.<% schema %>;",
            &[("database", "D"), ("schema", "S")],
        );
        assert_eq!(filled.unwrap(), "USE SCHEMA D.S;");
        let err = fill_placeholders("<% warehouse %>", &[]).unwrap_err();
        assert_eq!(err, "no value for the placeholder <% warehouse %>");
    }

    #[test]
    fn splits_at_semicolons_outside_quotes_and_drops_comments() {
        let script = "-- a; comment\nSELECT 'a;b';\nSELECT 2; -- trailing\n";
        assert_eq!(split_statements(script), ["SELECT 'a;b'", "SELECT 2"]);
    }

    #[test]
    fn maps_types_and_drops_comment_clauses_and_keys() {
        let ddl = "CREATE TABLE IF NOT EXISTS C (\n    ID NUMBER(38, 0) NOT NULL PRIMARY KEY,\n    AT TIMESTAMP_NTZ(9) NOT NULL DEFAULT SYSDATE()\n)\nCOMMENT = 'it''s; here'";
        let t = translate(ddl);
        assert_eq!(
            t.sql,
            "CREATE TABLE IF NOT EXISTS C (\n    ID DECIMAL(38, 0) NOT NULL,\n    AT TIMESTAMP NOT NULL DEFAULT SYSDATE()\n)"
        );
        assert_eq!(t.primary_key, ["ID"]);
    }

    #[test]
    fn reads_column_types_and_nullability() {
        let ddl = "CREATE TABLE T (\n    ID NUMBER(38, 0) NOT NULL PRIMARY KEY,\n    NAME VARCHAR(256),\n    AT TIMESTAMP_NTZ(9) NOT NULL\n)";
        let columns = column_definitions(ddl);
        assert_eq!(columns.len(), 3);
        assert_eq!(columns[0].data_type, "NUMBER(38, 0)");
        assert!(!columns[0].nullable);
        assert_eq!(columns[1].data_type, "VARCHAR(256)");
        assert!(columns[1].nullable);
    }

    #[test]
    fn drops_a_table_level_primary_key() {
        let ddl = "CREATE TABLE H (\n    ID NUMBER(38, 0) NOT NULL,\n    START_TIME TIMESTAMP_NTZ(9) NOT NULL,\n    PRIMARY KEY (ID, START_TIME)\n)";
        let t = translate(ddl);
        assert_eq!(t.primary_key, ["ID", "START_TIME"]);
        assert!(
            t.sql.ends_with("START_TIME TIMESTAMP NOT NULL\n)"),
            "{}",
            t.sql
        );
    }

    #[test]
    fn leaves_casts_to_types_alone_except_for_the_name() {
        let t = translate("SELECT CAST(NULL AS TIMESTAMP_NTZ(9)) AS END_TIME, NUMBER_OF_THINGS");
        assert_eq!(
            t.sql,
            "SELECT CAST(NULL AS TIMESTAMP) AS END_TIME, NUMBER_OF_THINGS"
        );
    }
}

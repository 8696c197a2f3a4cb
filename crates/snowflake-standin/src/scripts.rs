//! Running `sql/` as deployed: each script as its `snow sql` command would, as the role its
//! header names.

use std::collections::BTreeMap;

use crate::engine::Engine;
use crate::error::SqlError;
use crate::session::Session;
use crate::translate::{fill_placeholders, split_statements};

impl Engine {
    /// Runs a script as its documented command would: placeholders filled from `variables`,
    /// every statement in order, as `user` with the role named by the script's `--role` in its
    /// header comment. The first failing statement stops it, named in the error.
    pub fn run_script(
        &self,
        name: &str,
        text: &str,
        user: &str,
        variables: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let role = script_role(text).ok_or_else(|| {
            format!("{name}: the header names no role (`--role NAME` in the snow sql command)")
        })?;
        let values: Vec<(&str, &str)> = variables
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let text = fill_placeholders(text, &values).map_err(|e| format!("{name}: {e}"))?;
        let mut session = {
            let catalog = self.catalog();
            Session::open(
                &catalog,
                &user.to_ascii_uppercase(),
                Some(&role),
                None,
                None,
                None,
            )
            .map_err(|e| format!("{name}: --role {role}: {}", e.message))?
        };
        for (number, statement) in split_statements(&text).iter().enumerate() {
            let head: String = statement
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>()
                .join(" ");
            let role = session.role.clone();
            let failed = |e: SqlError| {
                format!(
                    "{name}, statement {} ({head} …), as role {role}: {} {}",
                    number + 1,
                    e.code,
                    e.message
                )
            };
            match crate::ddl::execute(self, &mut session, statement) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    crate::statements::execute_as(
                        self,
                        statement,
                        &serde_json::Value::Null,
                        &session,
                    )
                    .map_err(failed)?;
                }
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(())
    }
}

/// The role of `snow sql … --role NAME` in the script's header comment.
pub fn script_role(script: &str) -> Option<String> {
    script
        .lines()
        .take_while(|l| l.trim_start().starts_with("--") || l.trim().is_empty())
        .find_map(|l| {
            let at = l.find("--role ")?;
            l[at + "--role ".len()..]
                .split_whitespace()
                .next()
                .map(|r| r.to_ascii_uppercase())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_comes_from_the_scripts_snow_sql_command() {
        let script = "-- 06: grants\n--   snow sql -f sql/06.sql --role CUSTOMER_PIPELINE_ADMIN -D a=b\n\nGRANT X;";
        assert_eq!(
            script_role(script).as_deref(),
            Some("CUSTOMER_PIPELINE_ADMIN")
        );
        assert_eq!(script_role("-- no role\nSELECT 1;"), None);
    }
}

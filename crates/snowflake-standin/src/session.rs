//! Who runs a statement and in which context: the authenticated user, the current role, and the
//! current warehouse, database and schema.

use crate::access;
use crate::catalog::Catalog;
use crate::error::SqlError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    /// The primary role: it alone authorises CREATE.
    pub role: String,
    /// Secondary roles: they authorise everything else too.
    pub secondary: Vec<String>,
    pub warehouse: Option<String>,
    pub database: Option<String>,
    pub schema: Option<String>,
}

impl Session {
    /// A session for `user` as a request opens it: the requested role (or the user's default),
    /// the requested warehouse (or the user's default), database and schema.
    pub fn open(
        catalog: &Catalog,
        user: &str,
        role: Option<&str>,
        warehouse: Option<&str>,
        database: Option<&str>,
        schema: Option<&str>,
    ) -> Result<Session, SqlError> {
        let role = access::session_role(catalog, user, role)?;
        let default_warehouse = catalog
            .users
            .get(user)
            .and_then(|u| u.default_warehouse.clone());
        Ok(Session {
            user: user.to_owned(),
            secondary: access::secondary_roles(catalog, user, &role),
            role,
            warehouse: warehouse.map(str::to_owned).or(default_warehouse),
            database: database.map(str::to_owned),
            schema: schema.map(str::to_owned),
        })
    }

    /// The primary role, then the secondary roles.
    pub fn roles(&self) -> Vec<String> {
        std::iter::once(self.role.clone())
            .chain(self.secondary.iter().cloned())
            .collect()
    }

    /// `CURRENT_USER()` and its siblings replaced by the session's values (NULL when unset).
    pub fn fill_context_functions(&self, sql: &str) -> String {
        let mut sql = sql.to_owned();
        let role = Some(self.role.clone());
        let user = Some(self.user.clone());
        for (function, value) in [
            ("CURRENT_USER()", &user),
            ("CURRENT_ROLE()", &role),
            ("CURRENT_WAREHOUSE()", &self.warehouse),
            ("CURRENT_DATABASE()", &self.database),
            ("CURRENT_SCHEMA()", &self.schema),
        ] {
            // Typed: duckdb-rs cannot read a column of DuckDB's untyped NULL.
            let literal = value
                .as_ref()
                .map_or("CAST(NULL AS VARCHAR)".to_owned(), |v| {
                    format!("'{}'", v.replace('\'', "''"))
                });
            while let Some(at) = sql.to_ascii_uppercase().find(function) {
                sql.replace_range(at..at + function.len(), &literal);
            }
        }
        sql
    }

    /// A schema object's full name: `NAME` and `SCHEMA.NAME` completed from the session.
    pub fn qualify(&self, name: &str) -> Result<String, SqlError> {
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            [_, _, _] => Ok(name.to_owned()),
            [schema, object] => {
                let database = self.database.as_deref().ok_or_else(no_database)?;
                Ok(format!("{database}.{schema}.{object}"))
            }
            [object] => {
                let database = self.database.as_deref().ok_or_else(no_database)?;
                let schema = self.schema.as_deref().ok_or_else(no_schema)?;
                Ok(format!("{database}.{schema}.{object}"))
            }
            _ => Err(SqlError::syntax(format!("'{name}' is not an object name"))),
        }
    }

    /// A schema's full name: `SCHEMA` completed with the session's database.
    pub fn qualify_schema(&self, name: &str) -> Result<String, SqlError> {
        if name.contains('.') {
            Ok(name.to_owned())
        } else {
            let database = self.database.as_deref().ok_or_else(no_database)?;
            Ok(format!("{database}.{name}"))
        }
    }
}

fn no_database() -> SqlError {
    SqlError::compilation(
        "Cannot perform operation. This session does not have a current database. Call 'USE DATABASE', or use a qualified name.",
    )
}

fn no_schema() -> SqlError {
    SqlError::compilation(
        "Cannot perform operation. This session does not have a current schema. Call 'USE SCHEMA', or use a qualified name.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_functions_answer_with_the_sessions_user_role_and_warehouse() {
        let session = Session {
            user: "PIPELINE".into(),
            role: "R".into(),
            warehouse: Some("WH".into()),
            ..Session::default()
        };
        assert_eq!(
            session.fill_context_functions(
                "SELECT current_user() AS U, CURRENT_ROLE() AS R, CURRENT_DATABASE() AS D"
            ),
            "SELECT 'PIPELINE' AS U, 'R' AS R, CAST(NULL AS VARCHAR) AS D"
        );
    }

    #[test]
    fn names_are_completed_from_the_session() {
        let session = Session {
            database: Some("DB".into()),
            schema: Some("S".into()),
            ..Session::default()
        };
        assert_eq!(session.qualify("T").unwrap(), "DB.S.T");
        assert_eq!(session.qualify("X.T").unwrap(), "DB.X.T");
        assert_eq!(session.qualify_schema("X").unwrap(), "DB.X");
        assert!(Session::default().qualify("T").is_err());
    }
}

//! A pipe's fully qualified name, `DATABASE.SCHEMA.PIPE`: parsed here once. The Snowpipe REST
//! endpoints take the pipe by that name (`/v1/data/pipes/<pipe>/insertFiles`), and the SQL API
//! statements run in its database and schema.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeName {
    pub database: String,
    pub schema: String,
    pub pipe: String,
}

/// The text was not `DATABASE.SCHEMA.PIPE` with three non-empty parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pipe '{0}' is not a fully qualified DATABASE.SCHEMA.PIPE name")]
pub struct NotQualified(pub String);

impl FromStr for PipeName {
    type Err = NotQualified;

    fn from_str(text: &str) -> Result<PipeName, NotQualified> {
        match text.trim().split('.').collect::<Vec<_>>()[..] {
            [database, schema, pipe] if [database, schema, pipe].iter().all(|p| !p.is_empty()) => {
                Ok(PipeName {
                    database: database.to_owned(),
                    schema: schema.to_owned(),
                    pipe: pipe.to_owned(),
                })
            }
            _ => Err(NotQualified(text.to_owned())),
        }
    }
}

impl fmt::Display for PipeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.database, self.schema, self.pipe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_three_parts_and_prints_them_back() {
        let name: PipeName = "CUSTOMERS.RAW.CUSTOMER_PIPE".parse().unwrap();
        assert_eq!(
            (
                name.database.as_str(),
                name.schema.as_str(),
                name.pipe.as_str()
            ),
            ("CUSTOMERS", "RAW", "CUSTOMER_PIPE")
        );
        assert_eq!(name.to_string(), "CUSTOMERS.RAW.CUSTOMER_PIPE");
    }

    #[test]
    fn refuses_a_name_without_database_and_schema() {
        for text in ["CUSTOMER_PIPE", "RAW.CUSTOMER_PIPE", "A..P", "A.B.C.D"] {
            assert_eq!(
                text.parse::<PipeName>(),
                Err(NotQualified(text.into())),
                "{text}"
            );
        }
    }
}

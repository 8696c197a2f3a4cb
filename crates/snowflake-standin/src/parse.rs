//! Snowflake statements as tokens, and a cursor to read DDL and DCL from them. Unquoted
//! identifiers are upper-cased, as Snowflake stores and resolves them; quoted ones keep their
//! case (https://docs.snowflake.com/en/sql-reference/identifiers-syntax).

use crate::error::SqlError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A keyword or identifier (dotted names are one word), upper-cased unless quoted.
    Word(String),
    /// A string literal, unescaped.
    Str(String),
    /// Punctuation: `( ) , = ;` and the rest.
    Sym(char),
}

/// A token and the byte offset of its first character in the statement.
#[derive(Debug, Clone)]
pub struct Located {
    pub token: Token,
    pub at: usize,
}

/// Splits `statement` into tokens; `--` and `/* */` comments are skipped.
pub fn tokenize(statement: &str) -> Result<Vec<Located>, SqlError> {
    let bytes = statement.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if statement[i..].starts_with("--") {
            i = statement[i..].find('\n').map_or(bytes.len(), |n| i + n);
        } else if statement[i..].starts_with("/*") {
            i = statement[i..].find("*/").map_or(bytes.len(), |n| i + n + 2);
        } else if statement[i..].starts_with("$$") {
            // A dollar-quoted string constant: everything up to the next `$$`, as written.
            let close = statement[i + 2..]
                .find("$$")
                .ok_or_else(|| SqlError::syntax("a $$ string is not closed"))?;
            tokens.push(Located {
                token: Token::Str(statement[i + 2..i + 2 + close].to_owned()),
                at: start,
            });
            i += close + 4;
        } else if c == b'\'' {
            let mut value = String::new();
            i += 1;
            loop {
                let Some(&b) = bytes.get(i) else {
                    return Err(SqlError::syntax("a string literal is not closed"));
                };
                if b == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        value.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                let ch = statement[i..].chars().next().expect("inside the string");
                value.push(ch);
                i += ch.len_utf8();
            }
            tokens.push(Located {
                token: Token::Str(value),
                at: start,
            });
        } else if is_word_byte(c) || c == b'"' || c == b'@' {
            let mut word = String::new();
            loop {
                match bytes.get(i) {
                    Some(b'"') => {
                        let close = statement[i + 1..]
                            .find('"')
                            .ok_or_else(|| SqlError::syntax("a quoted identifier is not closed"))?;
                        word.push_str(&statement[i + 1..i + 1 + close]);
                        i += close + 2;
                    }
                    Some(&b) if is_word_byte(b) || b == b'@' => {
                        word.push(char::from(b).to_ascii_uppercase());
                        i += 1;
                    }
                    Some(b'.') => {
                        word.push('.');
                        i += 1;
                    }
                    _ => break,
                }
            }
            tokens.push(Located {
                token: Token::Word(word),
                at: start,
            });
        } else {
            let ch = statement[i..].chars().next().expect("a character");
            i += ch.len_utf8();
            tokens.push(Located {
                token: Token::Sym(ch),
                at: start,
            });
        }
    }
    Ok(tokens)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// A value of a `NAME = value` property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Word(String),
    Str(String),
    /// `( … )`: the raw text between the parentheses.
    List(String),
}

impl Value {
    pub fn text(&self) -> &str {
        match self {
            Value::Word(s) | Value::Str(s) | Value::List(s) => s,
        }
    }
}

/// Reads a statement token by token.
pub struct Cursor<'a> {
    pub sql: &'a str,
    tokens: Vec<Located>,
    next: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(sql: &'a str) -> Result<Cursor<'a>, SqlError> {
        Ok(Cursor {
            sql,
            tokens: tokenize(sql)?,
            next: 0,
        })
    }

    pub fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|t| &t.token)
    }

    pub fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.next + ahead).map(|t| &t.token)
    }

    pub fn at_end(&self) -> bool {
        self.next >= self.tokens.len()
    }

    /// Whether the next words are `words`; consumes them if so.
    pub fn eat(&mut self, words: &[&str]) -> bool {
        let matches = words
            .iter()
            .enumerate()
            .all(|(k, w)| matches!(self.peek_at(k), Some(Token::Word(found)) if found == w));
        if matches {
            self.next += words.len();
        }
        matches
    }

    pub fn expect(&mut self, words: &[&str]) -> Result<(), SqlError> {
        if self.eat(words) {
            Ok(())
        } else {
            Err(SqlError::syntax(format!(
                "expected {} near {}",
                words.join(" "),
                self.near()
            )))
        }
    }

    pub fn eat_sym(&mut self, sym: char) -> bool {
        if self.peek() == Some(&Token::Sym(sym)) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    /// The next word (an identifier or keyword).
    pub fn word(&mut self) -> Result<String, SqlError> {
        match self.peek().cloned() {
            Some(Token::Word(w)) => {
                self.next += 1;
                Ok(w)
            }
            _ => Err(SqlError::syntax(format!(
                "expected a name near {}",
                self.near()
            ))),
        }
    }

    /// `a, b, c` words.
    pub fn word_list(&mut self) -> Result<Vec<String>, SqlError> {
        let mut words = vec![self.word()?];
        while self.eat_sym(',') {
            words.push(self.word()?);
        }
        Ok(words)
    }

    /// `NAME = value` pairs until a token that does not start one.
    pub fn properties(&mut self) -> Result<Vec<(String, Value)>, SqlError> {
        let mut properties = Vec::new();
        while let (Some(Token::Word(name)), Some(Token::Sym('='))) =
            (self.peek().cloned(), self.peek_at(1).cloned())
        {
            self.next += 2;
            let value = match self.peek().cloned() {
                Some(Token::Word(w)) => {
                    self.next += 1;
                    Value::Word(w)
                }
                Some(Token::Str(s)) => {
                    self.next += 1;
                    Value::Str(s)
                }
                Some(Token::Sym('(')) => Value::List(self.parenthesized()?.trim().to_owned()),
                _ => {
                    return Err(SqlError::syntax(format!(
                        "{name} = has no value near {}",
                        self.near()
                    )));
                }
            };
            properties.push((name, value));
        }
        Ok(properties)
    }

    /// Consumes `( … )` and returns the raw text inside.
    pub fn parenthesized(&mut self) -> Result<&'a str, SqlError> {
        if !self.eat_sym('(') {
            return Err(SqlError::syntax(format!("expected ( near {}", self.near())));
        }
        let start = self.tokens[self.next - 1].at + 1;
        let mut depth = 1;
        while let Some(token) = self.tokens.get(self.next) {
            self.next += 1;
            match token.token {
                Token::Sym('(') => depth += 1,
                Token::Sym(')') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(&self.sql[start..token.at]);
                    }
                }
                _ => {}
            }
        }
        Err(SqlError::syntax("unbalanced parentheses"))
    }

    /// Skips to the first top-level word `word` and consumes it; returns the raw text skipped.
    pub fn until_word(&mut self, word: &str) -> Option<&'a str> {
        let start = self.offset();
        let mut depth = 0;
        while let Some(token) = self.tokens.get(self.next) {
            match &token.token {
                Token::Sym('(') => depth += 1,
                Token::Sym(')') => depth -= 1,
                Token::Word(w) if depth == 0 && w == word => {
                    let skipped = &self.sql[start..token.at];
                    self.next += 1;
                    return Some(skipped);
                }
                _ => {}
            }
            self.next += 1;
        }
        None
    }

    /// The raw text from the next token to the end.
    pub fn rest(&mut self) -> &'a str {
        let start = self.offset();
        self.next = self.tokens.len();
        &self.sql[start..]
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.next).map_or(self.sql.len(), |t| t.at)
    }

    pub fn finish(&self) -> Result<(), SqlError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(SqlError::syntax(format!(
                "unexpected text near {}",
                self.near()
            )))
        }
    }

    fn near(&self) -> String {
        let rest = &self.sql[self.offset()..];
        let cut: String = rest.chars().take(40).collect();
        if cut.is_empty() {
            "the end".into()
        } else {
            format!("'{cut}'")
        }
    }
}

/// Every word of `sql` outside string literals and comments (dotted names kept whole).
pub fn words(sql: &str) -> Vec<String> {
    tokenize(sql)
        .map(|tokens| {
            tokens
                .into_iter()
                .filter_map(|t| match t.token {
                    Token::Word(w) => Some(w),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_cases_unquoted_words_and_keeps_quoted_ones() {
        let tokens: Vec<Token> = tokenize("grant usage on stage db.\"Mixed\".s to role r -- x\n")
            .unwrap()
            .into_iter()
            .map(|t| t.token)
            .collect();
        assert_eq!(tokens[4], Token::Word("DB.Mixed.S".into()));
        assert_eq!(tokens.len(), 8);
    }

    #[test]
    fn reads_properties_with_strings_words_and_lists() {
        let mut c =
            Cursor::new("TYPE = CSV SKIP_HEADER = 1 NULL_IF = ('\\N', 'it''s') AS X").unwrap();
        let properties = c.properties().unwrap();
        assert_eq!(properties[0], ("TYPE".into(), Value::Word("CSV".into())));
        assert_eq!(properties[2].1, Value::List("'\\N', 'it''s'".into()));
        assert!(c.eat(&["AS"]));
    }

    #[test]
    fn finds_the_top_level_as_of_a_task() {
        let mut c =
            Cursor::new("WHEN SYSTEM$STREAM_HAS_DATA('S') AS MERGE INTO T USING (SELECT 1 AS A)")
                .unwrap();
        assert_eq!(
            c.until_word("AS"),
            Some("WHEN SYSTEM$STREAM_HAS_DATA('S') ")
        );
        assert_eq!(c.rest(), "MERGE INTO T USING (SELECT 1 AS A)");
    }
}

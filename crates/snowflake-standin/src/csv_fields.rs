//! Splitting a CSV file into records and fields the way a Snowflake CSV file format does, with
//! the options that change where a field ends and what it holds
//! (https://docs.snowflake.com/en/sql-reference/sql/create-file-format, "Format type options",
//! TYPE = CSV):
//! - FIELD_OPTIONALLY_ENCLOSED_BY: a field may be enclosed; inside, the enclosing character is
//!   doubled to stand for itself, and delimiters and newlines are data.
//! - ESCAPE (default NONE): an escape character for enclosed fields only.
//! - ESCAPE_UNENCLOSED_FIELD (default backslash): an escape character for unenclosed fields
//!   only; the character after it is data, so `a\,b` is one field `a,b`.
//! - NULL_IF and EMPTY_FIELD_AS_NULL are applied by the caller, which needs to know whether a
//!   field was enclosed and how it was written: [`Field`] keeps both.
//!
//! Not modelled (docs/stand-ins.md): the escape sequences (`\t`, `\n`, octal, hex) that a
//! backslash ESCAPE_UNENCLOSED_FIELD may also introduce, RECORD_DELIMITER other than newline,
//! SKIP_BLANK_LINES (a blank line is skipped, as before).

/// One field as read: its data after unquoting and unescaping, the text as written between the
/// delimiters (without the enclosing characters), and whether it was enclosed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub data: Vec<u8>,
    pub written: Vec<u8>,
    pub enclosed: bool,
}

/// The characters that decide where fields end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syntax {
    pub delimiter: u8,
    pub enclosed_by: Option<u8>,
    pub escape: Option<u8>,
    pub escape_unenclosed: Option<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unenclosed,
    UnenclosedEscape,
    Enclosed,
    EnclosedEscape,
    /// An enclosing character inside an enclosed field: doubled, or the field's end.
    QuoteInEnclosed,
}

/// A record's 1-based number (header included) and its fields.
pub type FieldRecord = (u64, Vec<Field>);

/// The record a syntax error happened in, and Snowflake's message for it.
pub type SyntaxError = (u64, String);

/// The records of `bytes` as fields. A syntax error carries the record it happened in.
pub fn split(syntax: Syntax, bytes: &[u8]) -> Result<Vec<FieldRecord>, SyntaxError> {
    let mut records = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    let mut field = empty(false);
    let mut state = State::FieldStart;
    let mut number = 1u64;
    let mut finish_record = |fields: &mut Vec<Field>, number: &mut u64| {
        let blank = fields.len() == 1 && fields[0].written.is_empty() && !fields[0].enclosed;
        if !blank {
            records.push((*number, std::mem::take(fields)));
            *number += 1;
        }
        fields.clear();
    };
    for &b in bytes {
        match state {
            State::FieldStart | State::Unenclosed => {
                if b == syntax.delimiter {
                    fields.push(end_unenclosed(&mut field));
                    state = State::FieldStart;
                } else if b == b'\n' {
                    fields.push(end_unenclosed(&mut field));
                    finish_record(&mut fields, &mut number);
                    state = State::FieldStart;
                } else if state == State::FieldStart && Some(b) == syntax.enclosed_by {
                    field = empty(true);
                    state = State::Enclosed;
                } else if Some(b) == syntax.escape_unenclosed {
                    field.written.push(b);
                    state = State::UnenclosedEscape;
                } else {
                    field.written.push(b);
                    field.data.push(b);
                    state = State::Unenclosed;
                }
            }
            State::UnenclosedEscape => {
                field.written.push(b);
                field.data.push(b);
                state = State::Unenclosed;
            }
            State::Enclosed => {
                if Some(b) == syntax.enclosed_by {
                    state = State::QuoteInEnclosed;
                } else if Some(b) == syntax.escape {
                    field.written.push(b);
                    state = State::EnclosedEscape;
                } else {
                    field.written.push(b);
                    field.data.push(b);
                }
            }
            State::EnclosedEscape => {
                field.written.push(b);
                field.data.push(b);
                state = State::Enclosed;
            }
            State::QuoteInEnclosed => {
                if Some(b) == syntax.enclosed_by {
                    field.written.extend([b, b]);
                    field.data.push(b);
                    state = State::Enclosed;
                } else if b == syntax.delimiter {
                    fields.push(std::mem::replace(&mut field, empty(false)));
                    state = State::FieldStart;
                } else if b == b'\n' {
                    fields.push(std::mem::replace(&mut field, empty(false)));
                    finish_record(&mut fields, &mut number);
                    state = State::FieldStart;
                } else if b != b'\r' {
                    return Err((
                        number,
                        format!(
                            "Found character '{}' instead of field delimiter '{}'",
                            b as char, syntax.delimiter as char
                        ),
                    ));
                }
            }
        }
    }
    match state {
        State::Enclosed | State::EnclosedEscape => {
            return Err((
                number,
                "End of record reached while expected to parse column".to_owned(),
            ));
        }
        State::QuoteInEnclosed => fields.push(field),
        State::Unenclosed | State::UnenclosedEscape => fields.push(end_unenclosed(&mut field)),
        State::FieldStart if !fields.is_empty() => fields.push(end_unenclosed(&mut field)),
        State::FieldStart => {}
    }
    if !fields.is_empty() {
        finish_record(&mut fields, &mut number);
    }
    Ok(records)
}

fn empty(enclosed: bool) -> Field {
    Field {
        data: Vec::new(),
        written: Vec::new(),
        enclosed,
    }
}

/// Ends an unenclosed field; the carriage return of a CRLF line end is not data.
fn end_unenclosed(field: &mut Field) -> Field {
    if field.written.last() == Some(&b'\r') {
        field.written.pop();
        field.data.pop();
    }
    std::mem::replace(field, empty(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNOWFLAKE_DEFAULTS: Syntax = Syntax {
        delimiter: b',',
        enclosed_by: Some(b'"'),
        escape: None,
        escape_unenclosed: Some(b'\\'),
    };
    const NO_ESCAPES: Syntax = Syntax {
        escape_unenclosed: None,
        ..SNOWFLAKE_DEFAULTS
    };

    fn data(syntax: Syntax, input: &str) -> Vec<Vec<String>> {
        split(syntax, input.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(_, fields)| {
                fields
                    .into_iter()
                    .map(|f| String::from_utf8(f.data).unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_default_unenclosed_escape_joins_two_fields_into_one() {
        assert_eq!(data(SNOWFLAKE_DEFAULTS, "a\\,b,c\n"), [["a,b", "c"]]);
        assert_eq!(data(SNOWFLAKE_DEFAULTS, "a\\\\,c\n"), [["a\\", "c"]]);
    }

    #[test]
    fn without_an_unenclosed_escape_a_backslash_is_data() {
        assert_eq!(data(NO_ESCAPES, "a\\,b,c\n"), [["a\\", "b", "c"]]);
        assert_eq!(data(NO_ESCAPES, "\\N,\\\n"), [["\\N", "\\"]]);
    }

    #[test]
    fn enclosed_fields_keep_delimiters_newlines_and_doubled_quotes() {
        assert_eq!(
            data(NO_ESCAPES, "\"a,b\",\"x\ny\",\"say \"\"hi\"\"\"\n"),
            [["a,b", "x\ny", "say \"hi\""]]
        );
    }

    #[test]
    fn an_enclosed_empty_field_is_told_apart_from_an_empty_one() {
        let records = split(NO_ESCAPES, b"\"\",\n").unwrap();
        let fields = &records[0].1;
        assert!(fields[0].enclosed && fields[0].data.is_empty());
        assert!(!fields[1].enclosed && fields[1].data.is_empty());
    }

    #[test]
    fn crlf_line_ends_and_a_missing_last_newline_are_read() {
        assert_eq!(
            data(NO_ESCAPES, "a,b\r\nc,\"d\"\r\ne,f"),
            [["a", "b"], ["c", "d"], ["e", "f"]]
        );
    }

    #[test]
    fn text_after_a_closing_quote_and_an_open_quote_are_errors_with_their_record() {
        assert_eq!(split(NO_ESCAPES, b"h\n\"a\"b\n").unwrap_err().0, 2);
        assert_eq!(split(NO_ESCAPES, b"h\n\"a\n").unwrap_err().0, 2);
    }
}

//! A strict, push-based RFC 4180 tokenizer with bounded memory.
//!
//! Written here rather than taken from `csv-core` because the contract (and Snowflake's COPY)
//! reject things `csv-core` accepts silently: a byte-order mark, blank lines, a quote inside an
//! unquoted field, text after a closing quote, an unterminated quote at the end of the file.
//! It reports those with the line they start on and keeps at most one record of
//! [`MAX_RECORD_BYTES`] in memory, however long a line is.

/// The longest record kept; a valid record (ten fields within the contract's limits, quoted)
/// is well under this. Longer records are reported, not stored.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;
/// More fields than this are not stored (the record is reported as having too many columns).
const MAX_FIELDS: usize = 64;

/// What is wrong with a record's syntax (the first problem found in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    BlankLine,
    StrayQuote,
    TextAfterClosingQuote,
    UnterminatedQuote,
    StrayCarriageReturn,
    RecordTooLong,
    TooManyColumns,
}

/// One record: its fields are `buf[ends[i-1]..ends[i]]`. With a syntax problem the fields may
/// be incomplete.
pub struct Record<'a> {
    /// The line the record starts on (1-based).
    pub line: u64,
    pub buf: &'a [u8],
    pub ends: &'a [usize],
    pub syntax: Option<Syntax>,
}

impl Record<'_> {
    pub fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: either an escaped quote or the field's end.
    QuoteInQuoted,
    /// A carriage return outside quotes: must be followed by a line feed.
    CarriageReturn,
}

/// Bytes that end a run of ordinary unquoted bytes.
const SPECIAL_UNQUOTED: [bool; 256] = {
    let mut t = [false; 256];
    t[b',' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'"' as usize] = true;
    t
};

pub struct Tokenizer {
    state: State,
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// Line of the current position (1-based).
    line: u64,
    record_line: u64,
    record_bytes: usize,
    syntax: Option<Syntax>,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer {
            state: State::FieldStart,
            buf: Vec::with_capacity(MAX_RECORD_BYTES),
            ends: Vec::with_capacity(MAX_FIELDS),
            line: 1,
            record_line: 1,
            record_bytes: 0,
            syntax: None,
        }
    }
}

impl Tokenizer {
    /// Consumes `data`, calling `on_record` for every record it completes.
    pub fn feed(&mut self, data: &[u8], on_record: &mut impl FnMut(Record<'_>)) {
        let mut i = 0;
        while i < data.len() {
            match self.state {
                State::Unquoted | State::FieldStart if !SPECIAL_UNQUOTED[data[i] as usize] => {
                    // Fast path: a run of ordinary bytes.
                    let run = data[i..]
                        .iter()
                        .position(|&b| SPECIAL_UNQUOTED[b as usize])
                        .unwrap_or(data.len() - i);
                    self.push(&data[i..i + run]);
                    self.state = State::Unquoted;
                    i += run;
                    continue;
                }
                State::Quoted if data[i] != b'"' && data[i] != b'\n' => {
                    let run = memchr::memchr2(b'"', b'\n', &data[i..]).unwrap_or(data.len() - i);
                    self.push(&data[i..i + run]);
                    i += run;
                    continue;
                }
                _ => {}
            }
            let b = data[i];
            i += 1;
            self.step(b, on_record);
        }
    }

    /// Ends the input: emits a last record without a line terminator, if any.
    pub fn finish(&mut self, on_record: &mut impl FnMut(Record<'_>)) {
        match self.state {
            State::FieldStart if self.record_bytes == 0 && self.ends.is_empty() => {}
            State::Quoted => {
                self.flag(Syntax::UnterminatedQuote);
                self.end_record(on_record);
            }
            State::CarriageReturn => {
                self.flag(Syntax::StrayCarriageReturn);
                self.end_record(on_record);
            }
            _ => self.end_record(on_record),
        }
    }

    fn step(&mut self, b: u8, on_record: &mut impl FnMut(Record<'_>)) {
        match (self.state, b) {
            (State::FieldStart, b'"') => {
                self.count(1);
                self.state = State::Quoted;
            }
            (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b',') => {
                self.count(1);
                self.end_field();
            }
            (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b'\n') => {
                self.end_record(on_record)
            }
            (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b'\r') => {
                self.state = State::CarriageReturn;
            }
            (State::Unquoted, b'"') => {
                self.flag(Syntax::StrayQuote);
                self.push(b"\"");
            }
            (State::Quoted, b'"') => {
                self.count(1);
                self.state = State::QuoteInQuoted;
            }
            (State::Quoted, b'\n') => {
                self.line += 1;
                self.push(b"\n");
            }
            (State::QuoteInQuoted, b'"') => {
                self.push(b"\"");
                self.state = State::Quoted;
            }
            (State::QuoteInQuoted, _) => {
                self.flag(Syntax::TextAfterClosingQuote);
                self.push(&[b]);
                self.state = State::Unquoted;
            }
            (State::CarriageReturn, b'\n') => self.end_record(on_record),
            (State::CarriageReturn, _) => {
                self.flag(Syntax::StrayCarriageReturn);
                self.push(b"\r");
                self.state = State::Unquoted;
                self.step(b, on_record);
            }
            (_, _) => {
                self.push(&[b]);
                if self.state == State::FieldStart {
                    self.state = State::Unquoted;
                }
            }
        }
    }

    fn count(&mut self, n: usize) {
        self.record_bytes += n;
        if self.record_bytes > MAX_RECORD_BYTES {
            self.flag(Syntax::RecordTooLong);
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        if self.syntax != Some(Syntax::RecordTooLong) {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn flag(&mut self, syntax: Syntax) {
        // The first problem of a record is the one reported, except that an overlong record
        // stops storing, so it must always be known.
        if self.syntax.is_none() || syntax == Syntax::RecordTooLong {
            self.syntax = Some(syntax);
        }
        if syntax == Syntax::RecordTooLong {
            self.buf.clear();
            self.ends.clear();
        }
    }

    fn end_field(&mut self) {
        if self.syntax != Some(Syntax::RecordTooLong) {
            if self.ends.len() == MAX_FIELDS {
                self.flag(Syntax::TooManyColumns);
            } else {
                self.ends.push(self.buf.len());
            }
        }
        self.state = State::FieldStart;
    }

    fn end_record(&mut self, on_record: &mut impl FnMut(Record<'_>)) {
        if self.record_bytes == 0 && self.ends.is_empty() && self.syntax.is_none() {
            self.syntax = Some(Syntax::BlankLine);
        } else {
            self.end_field();
        }
        on_record(Record {
            line: self.record_line,
            buf: &self.buf,
            ends: &self.ends,
            syntax: self.syntax,
        });
        self.buf.clear();
        self.ends.clear();
        self.syntax = None;
        self.record_bytes = 0;
        self.line += 1;
        self.record_line = self.line;
        self.state = State::FieldStart;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as (line, fields, syntax), feeding the input in pieces of `piece` bytes.
    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<(u64, Vec<String>, Option<Syntax>)> {
        let mut out = Vec::new();
        let mut tok = Tokenizer::default();
        let mut collect = |r: Record<'_>| {
            let fields = (0..r.ends.len())
                .map(|i| String::from_utf8_lossy(r.field(i)).into_owned())
                .collect();
            out.push((r.line, fields, r.syntax));
        };
        for chunk in input.chunks(piece.max(1)) {
            tok.feed(chunk, &mut collect);
        }
        tok.finish(&mut collect);
        out
    }

    fn parse(input: &[u8]) -> Vec<(u64, Vec<String>, Option<Syntax>)> {
        let whole = parse_in_pieces(input, usize::MAX);
        for piece in [1, 2, 3, 7] {
            assert_eq!(
                parse_in_pieces(input, piece),
                whole,
                "split into {piece}-byte pieces"
            );
        }
        whole
    }

    fn fields(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn splits_plain_and_quoted_fields() {
        let got = parse(b"a,b\n\"x,y\"\"z\",\"multi\nline\"\n,\r\n");
        assert_eq!(
            got,
            vec![
                (1, fields(&["a", "b"]), None),
                (2, fields(&["x,y\"z", "multi\nline"]), None),
                (4, fields(&["", ""]), None),
            ]
        );
    }

    #[test]
    fn last_record_needs_no_terminator() {
        assert_eq!(
            parse(b"a,b\nc,d"),
            vec![
                (1, fields(&["a", "b"]), None),
                (2, fields(&["c", "d"]), None)
            ]
        );
    }

    #[test]
    fn reports_blank_line_with_its_number() {
        let got = parse(b"a\n\nb\r\n\r\n");
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].2, Some(Syntax::BlankLine));
        assert_eq!(got[2], (3, fields(&["b"]), None));
        assert_eq!((got[3].0, got[3].2), (4, Some(Syntax::BlankLine)));
    }

    #[test]
    fn reports_quote_problems() {
        assert_eq!(parse(b"a,b\"c\n")[0].2, Some(Syntax::StrayQuote));
        assert_eq!(
            parse(b"a,\"bc\"d\n")[0].2,
            Some(Syntax::TextAfterClosingQuote)
        );
        let got = parse(b"a,b\nc,\"open\nd,e\n");
        assert_eq!((got[1].0, got[1].2), (2, Some(Syntax::UnterminatedQuote)));
    }

    #[test]
    fn reports_carriage_return_without_line_feed() {
        assert_eq!(parse(b"a\rb\n")[0].2, Some(Syntax::StrayCarriageReturn));
    }

    #[test]
    fn overlong_record_is_reported_without_being_stored() {
        let mut input = vec![b'x'; MAX_RECORD_BYTES * 3];
        input.extend_from_slice(b"\nnext\n");
        let got = parse_in_pieces(&input, 4096);
        assert_eq!(got[0].2, Some(Syntax::RecordTooLong));
        assert!(got[0].1.is_empty());
        assert_eq!(got[1], (2, fields(&["next"]), None));
    }

    #[test]
    fn too_many_columns_are_reported() {
        let input = ",".repeat(MAX_FIELDS + 5) + "\n";
        assert_eq!(parse(input.as_bytes())[0].2, Some(Syntax::TooManyColumns));
    }
}

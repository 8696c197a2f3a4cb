//! The streaming validator against a corpus of malformed files, generated files, and mutations.

use std::collections::BTreeSet;
use std::path::Path;

use pipeline::contract::CustomerReader;
use pipeline::generator::{FileId, GeneratorSettings, generate_bytes};
use pipeline::validate::{FileValidator, SizeLimits, ValidationReport, validate_read};
use proptest::prelude::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn validate_file(path: &Path) -> ValidationReport {
    let name = path.file_name().unwrap().to_str().unwrap();
    validate_read(name, std::fs::File::open(path).unwrap()).unwrap()
}

fn validate_bytes(name: &str, bytes: &[u8]) -> ValidationReport {
    validate_read(name, bytes).unwrap()
}

fn generated(rows: u64, gzip: bool) -> Vec<u8> {
    let settings = GeneratorSettings {
        rows,
        id_space: rows * 4,
        delete_rate: 0.1,
        ..GeneratorSettings::default()
    };
    let file = FileId::new("2026-11-23T10:15:00Z".parse().unwrap(), 0x5b3a9c1e);
    generate_bytes(&settings, &file, gzip)
}

#[test]
fn each_malformed_file_is_rejected_with_its_reason() {
    let dir = Path::new(DATA).join("malformed");
    let manifest = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut checked = 0;
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, kind, at, message) =
            (cols[0], cols[1], cols[2].parse::<u64>().unwrap(), cols[3]);
        let report = validate_file(&dir.join(file));
        assert!(!report.valid, "{file} was reported valid");
        let problem = report
            .problems
            .iter()
            .find(|p| p.kind == kind)
            .unwrap_or_else(|| panic!("{file}: no {kind} problem in {:#?}", report.problems));
        assert_eq!(problem.line, at, "{file}: {problem:?}");
        assert!(
            problem.message.contains(message),
            "{file}: '{}' lacks '{message}'",
            problem.message
        );
        if !file.starts_with("broken_gzip") {
            let kinds: BTreeSet<&str> = report.problem_counts.keys().map(|k| k.as_ref()).collect();
            assert_eq!(
                kinds,
                BTreeSet::from([kind]),
                "{file}: unexpected extra problems"
            );
        }
        checked += 1;
    }
    let files = std::fs::read_dir(&dir).unwrap().count() - 1;
    assert_eq!(checked, files, "every corpus file has an expectation");
}

#[test]
fn valid_file_passes_with_its_row_counts() {
    let report = validate_file(&Path::new(DATA).join("valid.csv"));
    assert!(report.valid, "{:#?}", report.problems);
    assert_eq!(
        (report.rows, report.valid_rows, report.invalid_rows),
        (3, 3, 0)
    );
    assert!(report.problems.is_empty());
}

#[test]
fn generated_files_are_valid_plain_and_gzip() {
    for gzip in [false, true] {
        let bytes = generated(2_000, gzip);
        let report = validate_bytes(if gzip { "f.csv.gz" } else { "f.csv" }, &bytes);
        assert!(report.valid, "gzip={gzip}: {:#?}", report.problems);
        assert_eq!(report.rows, 2_000);
        assert_eq!(report.gzip, gzip);
        assert_eq!(report.bytes, bytes.len() as u64);
    }
}

#[test]
fn gzip_is_recognised_by_content_whatever_the_name() {
    let report = validate_bytes("no-suffix.csv", &generated(10, true));
    assert!(report.valid && report.gzip);
}

#[test]
fn lists_the_first_hundred_problems_and_counts_all() {
    let mut text = String::from_utf8(generated(300, false))
        .unwrap()
        .replace("@", "-at-");
    text.push('\n');
    let report = validate_bytes("f.csv", text.as_bytes());
    let bad_emails = report.problem_counts["email_no_at"];
    assert!(bad_emails > 200, "{bad_emails}");
    assert_eq!(report.problems.len(), 100);
    assert_eq!(
        report.problem_total(),
        report.problem_counts.values().sum::<u64>()
    );
    assert!(report.problems.windows(2).all(|w| w[0].line <= w[1].line));
}

#[test]
fn feeding_in_tiny_pieces_gives_the_same_report() {
    let bytes = std::fs::read(Path::new(DATA).join("malformed/not_utf8.csv")).unwrap();
    let whole = validate_bytes("f.csv", &bytes);
    let mut validator = FileValidator::new("f.csv");
    for b in bytes.chunks(1) {
        validator.feed(b);
    }
    assert_eq!(validator.finish(), whole);
}

#[test]
fn report_serialises_as_documented() {
    let report = validate_file(&Path::new(DATA).join("malformed/bad_email.csv"));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["rows"], 2);
    assert_eq!(json["invalid_rows"], 1);
    assert_eq!(json["problem_counts"]["email_no_at"], 1);
    assert_eq!(json["problems"][0]["line"], 3);
    assert_eq!(json["problems"][0]["column"], "email");
    assert_eq!(json["problems"][0]["kind"], "email_no_at");
}

/// Values that break the contract for each column (text columns: for op=U rows).
fn bad_values(column: usize) -> &'static [&'static str] {
    match column {
        0 => &["0", "-1", "12a", "9007199254740993", ""],
        3 => &["no-at", "a@b", "@example.com", "", "x@y@z.io"],
        8 => &[
            "2026-13-01T00:00:00Z",
            "yesterday",
            "2026-11-23T10:14:52",
            "",
        ],
        9 => &["X", "", "u"],
        _ => &["", "\u{1}too long"],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn never_panics_and_valid_implies_readable(bytes in proptest::collection::vec(any::<u8>(), 0..2048), gz in any::<bool>()) {
        let name = if gz { "f.csv.gz" } else { "f.csv" };
        let report = validate_bytes(name, &bytes);
        if report.valid {
            let rows = CustomerReader::new(&bytes[..]).map(|r| r.collect::<Result<Vec<_>, _>>());
            prop_assert!(matches!(rows, Ok(Ok(ref v)) if v.len() as u64 == report.rows), "valid but unreadable");
        }
    }

    #[test]
    fn mutating_a_field_to_a_bad_value_is_caught_on_its_line(
        row in 0usize..40,
        column in 0usize..10,
        pick in any::<prop::sample::Index>(),
        extra_or_missing in 0u8..3,
    ) {
        let text = String::from_utf8(generated(40, false)).unwrap();
        prop_assume!(!text.contains('"'));
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let target = row + 1;
        let mut fields: Vec<String> = lines[target].split(',').map(str::to_owned).collect();
        let is_delete = fields[9] == "D";
        match extra_or_missing {
            1 => fields.push("extra".into()),
            2 => { fields.pop(); }
            _ => {
                prop_assume!(!(is_delete && matches!(column, 1..=7)));
                let value = pick.get(bad_values(column));
                fields[column] = if value.starts_with('\u{1}') { "x".repeat(257) } else { (*value).to_owned() };
            }
        }
        lines[target] = fields.join(",");
        let mutated = lines.join("\n") + "\n";
        let report = validate_bytes("f.csv", mutated.as_bytes());
        prop_assert!(!report.valid, "mutation not caught: {}", lines[target]);
        prop_assert_eq!(report.problems[0].line, target as u64 + 1);
    }
}

/// A gzip bomb: `decompressed` zero bytes compress about 1,000:1.
fn gzip_of_zeros(decompressed: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..decompressed / zeros.len() {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap()
}

/// Feeds `bytes` in `chunk`-sized pieces as a reader would, stopping when the validator does;
/// the report and how many bytes were fed.
fn feed_until_stopped(
    name: &str,
    limits: SizeLimits,
    bytes: &[u8],
    chunk: usize,
) -> (ValidationReport, usize) {
    let mut validator = FileValidator::with_limits(name, limits);
    let mut fed = 0;
    for piece in bytes.chunks(chunk) {
        validator.feed(piece);
        fed += piece.len();
        if validator.stopped() {
            break;
        }
    }
    (validator.finish(), fed)
}

#[test]
fn gzip_bomb_stops_at_the_content_limit() {
    let bomb = gzip_of_zeros(64 * 1024 * 1024);
    let limits = SizeLimits {
        max_object_bytes: u64::MAX,
        max_csv_bytes: 1024 * 1024,
    };
    let (report, fed) = feed_until_stopped("bomb.csv.gz", limits, &bomb, 4 * 1024);
    assert!(!report.valid);
    assert_eq!(report.problems[0].kind, "content_too_large");
    assert!(report.problems[0].message.contains("MAX_CSV_BYTES"));
    // Work is bounded by the limit plus one slice given to the decoder (~16 MiB at most).
    assert!(report.csv_bytes <= limits.max_csv_bytes + 17 * 1024 * 1024);
    assert!(fed < bomb.len(), "read all {fed} bytes");
}

#[test]
fn a_read_past_the_deadline_decodes_at_most_one_slice_of_a_bomb() {
    let bomb = gzip_of_zeros(64 * 1024 * 1024);
    let limits = SizeLimits {
        max_object_bytes: u64::MAX,
        max_csv_bytes: u64::MAX,
    };
    let mut validator = FileValidator::with_limits("bomb.csv.gz", limits);
    // The whole bomb in one piece, as one large read would hand it over, with no time left.
    let in_time = validator.feed_before(&bomb, Some(std::time::Instant::now()));
    assert!(!in_time);
    let report = validator.finish();
    assert!(
        report.csv_bytes <= 17 * 1024 * 1024,
        "decoded {} bytes past the deadline",
        report.csv_bytes
    );
}

#[test]
fn plain_file_over_the_object_limit_stops_reading() {
    let bytes = generated(20_000, false);
    let limits = SizeLimits {
        max_object_bytes: 100_000,
        max_csv_bytes: u64::MAX,
    };
    let (report, fed) = feed_until_stopped("big.csv", limits, &bytes, 8 * 1024);
    assert_eq!(report.problem_counts.get("object_too_large"), Some(&1));
    assert_eq!(report.problem_total(), 1, "the cut-off row is not judged");
    assert!(fed <= 100_000 + 8 * 1024);
}

#[test]
fn object_announced_over_the_limit_is_judged_unread() {
    let limits = SizeLimits {
        max_object_bytes: 1_000,
        max_csv_bytes: u64::MAX,
    };
    let report = FileValidator::too_large("huge.csv.gz", 5_000, limits);
    assert!(!report.valid);
    assert_eq!(report.bytes, 5_000);
    assert_eq!(report.rows, 0);
    assert_eq!(report.problems[0].kind, "object_too_large");
}

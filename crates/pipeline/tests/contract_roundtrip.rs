//! Writing records through the contract and reading them back gives the same records, whatever
//! the text holds (commas, quotes, line breaks, non-ASCII).

use chrono::DateTime;
use pipeline::contract::{CustomerReader, CustomerRecord, CustomerWriter, MAX_CUSTOMER_ID, Op};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Printable text with the characters CSV must quote; 1..=60 chars stays within 256 bytes.
    proptest::collection::vec(
        prop_oneof![
            Just(','),
            Just('"'),
            Just('\n'),
            Just('\r'),
            Just(' '),
            Just('é'),
            Just('ß'),
            Just('東'),
            proptest::char::range('a', 'z'),
            proptest::char::range('A', 'Z'),
            proptest::char::range('0', '9'),
        ],
        1..=60,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn word(
    chars: &'static [char],
    len: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(chars), len)
        .prop_map(|c| c.into_iter().collect())
}

fn email() -> impl Strategy<Value = String> {
    const LOCAL: &[char] = &['a', 'z', '0', '9', '.', '_', '+', '\'', '-'];
    const HOST: &[char] = &['a', 'm', 'z', '0', '-'];
    (
        word(LOCAL, 1..=20),
        word(HOST, 1..=20),
        word(&['c', 'o', 'm'], 2..=6),
    )
        .prop_map(|(local, host, tld)| format!("{local}@{host}.{tld}"))
}

prop_compose! {
    fn record()(
        customer_id in 1..=MAX_CUSTOMER_ID,
        names in (text(), text()),
        email in email(),
        address in (text(), text(), text(), text()),
        seconds in 0i64..253_402_300_799,
        delete in any::<bool>(),
    ) -> CustomerRecord {
        let updated_at = DateTime::from_timestamp(seconds, 0).unwrap();
        if delete {
            return CustomerRecord { customer_id, updated_at, op: Op::Delete, ..CustomerRecord::default() };
        }
        CustomerRecord {
            customer_id,
            first_name: names.0,
            last_name: names.1,
            email,
            street: address.0,
            city: address.1,
            state: address.2,
            country: address.3,
            updated_at,
            op: Op::Upsert,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn written_records_read_back_unchanged(records in proptest::collection::vec(record(), 0..8)) {
        let mut writer = CustomerWriter::new(Vec::new()).unwrap();
        for r in &records {
            writer.write(r).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let back: Vec<CustomerRecord> = CustomerReader::new(&bytes[..])
            .unwrap()
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, records);
    }
}

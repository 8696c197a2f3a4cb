//! Realistic customer values from the `fake` crate, kept consistent within a row: the street,
//! city and state come from the same country's data, and the email is made from the name.

use fake::Fake;
use fake::faker::address::raw::{BuildingNumber, CityName, StateName, StreetName};
use fake::faker::impls::address::CityNameGenFn;
use fake::faker::internet::raw::FreeEmailProvider;
use fake::faker::name::raw::{FirstName, LastName};
use fake::locales::{DE_DE, Data, EN, IT_IT, NL_NL};
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

use crate::contract::CustomerRecord;

/// The countries customers live in, with the `fake` locale whose data fits each. Only locales
/// whose `fake` data has its own cities and states are used, so addresses fit together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Country {
    UnitedStates,
    Germany,
    Italy,
    Netherlands,
}

impl Country {
    /// Weighted towards the United States, like the tutorial's data set.
    pub fn pick(rng: &mut Xoshiro256PlusPlus) -> Country {
        match rng.random_range(0..10u8) {
            0..=5 => Country::UnitedStates,
            6 | 7 => Country::Germany,
            8 => Country::Italy,
            _ => Country::Netherlands,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Country::UnitedStates => "United States",
            Country::Germany => "Germany",
            Country::Italy => "Italy",
            Country::Netherlands => "Netherlands",
        }
    }
}

/// Dispatches to the generic body with the country's locale type.
macro_rules! with_locale {
    ($country:expr, $l:ident => $body:expr) => {
        match $country {
            Country::UnitedStates => {
                let $l = EN;
                $body
            }
            Country::Germany => {
                let $l = DE_DE;
                $body
            }
            Country::Italy => {
                let $l = IT_IT;
                $body
            }
            Country::Netherlands => {
                let $l = NL_NL;
                $body
            }
        }
    };
}

trait Locale: Data + CityNameGenFn + Copy {}
impl<L: Data + CityNameGenFn + Copy> Locale for L {}

/// Fills every attribute of a new customer living in `country`.
pub fn fill_profile(country: Country, rng: &mut Xoshiro256PlusPlus, record: &mut CustomerRecord) {
    with_locale!(country, l => {
        set(&mut record.first_name, FirstName(l).fake_with_rng::<&str, _>(rng));
        set(&mut record.last_name, LastName(l).fake_with_rng::<&str, _>(rng));
        new_email(l, rng, record);
        move_home(l, country, rng, record);
    })
}

/// The kinds of change an existing customer goes through between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// New provider or number; the name stays.
    Email,
    /// Moved to another city (street, city and state change; same country).
    MovedAway,
    /// Moved within the city.
    MovedStreet,
    /// Changed last name (marriage); the email follows.
    LastName,
}

impl Change {
    pub fn pick(rng: &mut Xoshiro256PlusPlus) -> Change {
        match rng.random_range(0..100u8) {
            0..40 => Change::Email,
            40..70 => Change::MovedAway,
            70..90 => Change::MovedStreet,
            _ => Change::LastName,
        }
    }
}

/// Applies one change to an existing customer's values.
pub fn apply_change(
    change: Change,
    country: Country,
    rng: &mut Xoshiro256PlusPlus,
    record: &mut CustomerRecord,
) {
    with_locale!(country, l => match change {
        Change::Email => new_email(l, rng, record),
        Change::MovedAway => move_home(l, country, rng, record),
        Change::MovedStreet => new_street(l, country, rng, record),
        Change::LastName => {
            set(&mut record.last_name, LastName(l).fake_with_rng::<&str, _>(rng));
            new_email(l, rng, record);
        }
    })
}

fn move_home<L: Locale>(
    l: L,
    country: Country,
    rng: &mut Xoshiro256PlusPlus,
    record: &mut CustomerRecord,
) {
    new_street(l, country, rng, record);
    record.city = CityName(l).fake_with_rng::<String, _>(rng);
    set(
        &mut record.state,
        StateName(l).fake_with_rng::<&str, _>(rng),
    );
    set(&mut record.country, country.name());
}

fn new_street<L: Locale>(
    l: L,
    country: Country,
    rng: &mut Xoshiro256PlusPlus,
    record: &mut CustomerRecord,
) {
    let street: String = StreetName(l).fake_with_rng(rng);
    let number: String = BuildingNumber(l).fake_with_rng(rng);
    record.street.clear();
    // "1234 Main Street" in the US, "Hauptstraße 12" in Europe.
    let (first, second) = match country {
        Country::UnitedStates => (number.as_str(), street.as_str()),
        _ => (street.as_str(), number.as_str()),
    };
    record.street.push_str(first);
    record.street.push(' ');
    record.street.push_str(second);
}

fn new_email<L: Locale>(l: L, rng: &mut Xoshiro256PlusPlus, record: &mut CustomerRecord) {
    let email = &mut record.email;
    email.clear();
    push_ascii_folded(email, &record.first_name);
    email.push('.');
    push_ascii_folded(email, &record.last_name);
    if email.len() == 1 {
        email.clear();
        email.push_str("customer");
    }
    if rng.random_bool(0.5) {
        email.push_str(itoa::Buffer::new().format(rng.random_range(1..100u8)));
    }
    email.push('@');
    email.push_str(FreeEmailProvider(l).fake_with_rng::<&str, _>(rng));
}

fn set(field: &mut String, value: &str) {
    field.clear();
    field.push_str(value);
}

/// Lower-case ASCII letters and digits for an email's local part; common Latin accents folded.
fn push_ascii_folded(out: &mut String, name: &str) {
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        let folded = match c.to_lowercase().next().unwrap_or(c) {
            'ä' => "ae",
            'ö' => "oe",
            'ü' => "ue",
            'ß' => "ss",
            'à' | 'á' | 'â' | 'ã' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ø' => "o",
            'ù' | 'ú' | 'û' => "u",
            'ý' | 'ÿ' => "y",
            _ => "",
        };
        out.push_str(folded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::check_email;
    use rand::SeedableRng;

    #[test]
    fn emails_are_made_from_the_name() {
        let mut record = CustomerRecord {
            first_name: "Jürgen".into(),
            last_name: "Großmann".into(),
            ..CustomerRecord::default()
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        new_email(DE_DE, &mut rng, &mut record);
        assert!(
            record.email.starts_with("juergen.grossmann"),
            "{}",
            record.email
        );
        assert_eq!(check_email(&record.email), Ok(()));
    }

    #[test]
    fn profiles_keep_address_within_the_country() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let mut record = CustomerRecord::default();
        for country in [
            Country::UnitedStates,
            Country::Germany,
            Country::Italy,
            Country::Netherlands,
        ] {
            fill_profile(country, &mut rng, &mut record);
            assert_eq!(record.country, country.name());
            let states: &[&str] = with_locale!(country, l => { let _ = l; state_list(l) });
            assert!(
                states.contains(&record.state.as_str()),
                "{country:?}: {}",
                record.state
            );
        }
    }

    fn state_list<L: Data>(_: L) -> &'static [&'static str] {
        L::ADDRESS_STATE
    }
}

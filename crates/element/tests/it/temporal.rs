//! The hand-written date and time rules against their slow twin, R4's regular expressions:
//! they agree on every input, except that the calendar also rejects days a month lacks.

use proptest::prelude::*;
use regex::Regex;
use spfhir_element::temporal::{self, NO_SUCH_DAY};

fn r4(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).unwrap()
}

const YEAR: &str = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)";

fn agree(
    rule: fn(&str) -> Result<(), &'static str>,
    re: &Regex,
    s: &str,
) -> Result<(), TestCaseError> {
    let ok = rule(s);
    prop_assert_eq!(
        re.is_match(s),
        ok.is_ok() || ok == Err(NO_SUCH_DAY),
        "{:?}: regex {} rule {:?}",
        s,
        re.is_match(s),
        ok
    );
    Ok(())
}

/// Strings near the forms: digits, separators and zone letters in date-like positions.
fn near() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{4}(-[0-1][0-9](-[0-3][0-9](T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,3})?(Z|[+-][0-1][0-9]:[0-6][0-9])?)?)?)?",
        "[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,3})?",
        "[0-9T:Z+.-]{0,28}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]
    #[test]
    fn rules_match_the_r4_patterns(s in near()) {
        let date = r4(&format!(r"{YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"));
        let date_time = r4(&format!(r"{YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"));
        let instant = r4(&format!(r"{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"));
        let time = r4(r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?");
        agree(temporal::date, &date, &s)?;
        agree(temporal::date_time, &date_time, &s)?;
        agree(temporal::instant, &instant, &s)?;
        agree(temporal::time, &time, &s)?;
    }
}

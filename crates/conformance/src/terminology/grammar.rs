//! Code systems whose codes are a grammar or a standard's list, not concepts in a loaded
//! CodeSystem: UCUM units, BCP-47 language tags, BCP-13 media types and ISO 4217
//! currencies. R4's ValueSets include them whole (`all-languages`, `mimetypes`,
//! `currencies`, `ucum-units`), and no FHIR package enumerates them, so a code is checked by
//! its grammar (and the standard's registry where there is one) instead of being looked up.

use std::str::FromStr;

/// One such code system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grammar {
    /// UCUM units (`kg/m2`): parsed, and every symbol looked up in UCUM's tables.
    Ucum,
    /// BCP-47 language tags (`en-GB`): well-formed (RFC 5646), and every subtag in the
    /// IANA Language Subtag Registry.
    Language,
    /// BCP-13 media types (`application/pdf`, `text/plain; charset=utf-8`): RFC 6838's
    /// `type/subtype` with optional parameters.
    MediaType,
    /// ISO 4217 currency codes (`GBP`), current and superseded.
    Currency,
}

impl Grammar {
    pub const ALL: [Grammar; 4] = [
        Grammar::Ucum,
        Grammar::Language,
        Grammar::MediaType,
        Grammar::Currency,
    ];

    /// The grammar whose system URL is `system`.
    pub fn of(system: &str) -> Option<Grammar> {
        // A `match` (a length test, then one comparison), since every Coding asks.
        match system {
            super::UCUM => Some(Grammar::Ucum),
            "urn:ietf:bcp:47" => Some(Grammar::Language),
            "urn:ietf:bcp:13" => Some(Grammar::MediaType),
            "urn:iso:std:iso:4217" => Some(Grammar::Currency),
            _ => None,
        }
    }

    /// The system's URL, as Codings and ValueSets name it.
    pub fn system(self) -> &'static str {
        match self {
            Grammar::Ucum => super::UCUM,
            Grammar::Language => "urn:ietf:bcp:47",
            Grammar::MediaType => "urn:ietf:bcp:13",
            Grammar::Currency => "urn:iso:std:iso:4217",
        }
    }

    /// Is `code` one of the system's codes?
    pub fn is_code(self, code: &str) -> bool {
        match self {
            Grammar::Ucum => super::is_ucum_unit(code),
            Grammar::Language => {
                language_tags::LanguageTag::parse(code).is_ok_and(|t| t.is_valid())
            }
            // `mime` reads the grammar (type, subtype, parameters) but lets an empty subtype
            // through; RFC 6838 names need at least one character. A code never has
            // surrounding spaces.
            Grammar::MediaType => {
                code.trim() == code
                    && mime::Mime::from_str(code).is_ok_and(|m| {
                        !m.type_().as_str().is_empty() && !m.subtype().as_str().is_empty()
                    })
            }
            Grammar::Currency => iso_currency::Currency::from_code(code).is_some(),
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`Grammar`]s: those a ValueSet includes whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grammars(u8);

impl Grammars {
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, g: Grammar) -> bool {
        self.0 & g.bit() != 0
    }

    pub fn insert(&mut self, g: Grammar) {
        self.0 |= g.bit();
    }

    pub fn remove(&mut self, g: Grammar) {
        self.0 &= !g.bit();
    }

    /// Those of `other` too.
    pub fn union(self, other: Grammars) -> Grammars {
        Grammars(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Grammar> {
        Grammar::ALL.into_iter().filter(move |g| self.contains(*g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_each_grammar() {
        let cases: &[(Grammar, &str, bool)] = &[
            (Grammar::Ucum, "kg/m2", true),
            (Grammar::Ucum, "kgg", false),
            (Grammar::Language, "en", true),
            (Grammar::Language, "en-GB", true),
            (Grammar::Language, "cy-gb", true),
            (Grammar::Language, "zh-Hant-TW", true),
            (Grammar::Language, "english", false),
            (Grammar::Language, "en-QQQ", false),
            (Grammar::Language, "en_GB", false),
            (Grammar::Language, "", false),
            (Grammar::MediaType, "application/pdf", true),
            (
                Grammar::MediaType,
                "application/fhir+json; fhirVersion=4.0",
                true,
            ),
            (Grammar::MediaType, "text/plain;charset=utf-8", true),
            (Grammar::MediaType, "pdf", false),
            (Grammar::MediaType, "application/", false),
            (Grammar::MediaType, "/pdf", false),
            (Grammar::MediaType, " text/plain", false),
            (Grammar::MediaType, "text plain/x", false),
            (Grammar::Currency, "GBP", true),
            (Grammar::Currency, "EUR", true),
            (Grammar::Currency, "gbp", false),
            (Grammar::Currency, "QQQ", false),
            (Grammar::Currency, "POUND", false),
        ];
        for (g, code, expected) in cases {
            assert_eq!(g.is_code(code), *expected, "{g:?} {code:?}");
        }
    }

    #[test]
    fn each_grammar_is_found_by_its_system_and_set_bits_are_apart() {
        let mut set = Grammars::default();
        for g in Grammar::ALL {
            assert_eq!(Grammar::of(g.system()), Some(g));
            assert!(!set.contains(g));
            set.insert(g);
            assert!(set.contains(g));
        }
        assert_eq!(set.iter().count(), 4);
        set.remove(Grammar::Language);
        assert!(!set.contains(Grammar::Language) && set.contains(Grammar::MediaType));
        assert_eq!(Grammar::of("http://snomed.info/sct"), None);
    }

    #[test]
    fn a_union_keeps_what_either_side_holds() {
        let one = |g| {
            let mut s = Grammars::default();
            s.insert(g);
            s
        };
        assert!(Grammars::default().is_empty());
        assert!(!one(Grammar::Ucum).is_empty());
        // A grammar on both sides stays (two includes of the same system whole).
        let both = one(Grammar::Language).union(one(Grammar::Language));
        assert!(both.contains(Grammar::Language));
        let mixed = one(Grammar::Language).union(one(Grammar::Currency));
        assert_eq!(
            mixed.iter().collect::<Vec<_>>(),
            [Grammar::Language, Grammar::Currency]
        );
        let mut emptied = one(Grammar::Currency);
        emptied.remove(Grammar::Currency);
        assert!(emptied.is_empty());
    }
}

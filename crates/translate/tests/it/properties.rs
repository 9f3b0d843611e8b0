//! Property tests: generated domain values survive domain → FHIR (both Bundle kinds) → JSON
//! text → FHIR → domain unchanged, with no warnings on the way back.
//!
//! The generators cover every field of the three records, with values a sender may put there:
//! any non-empty Unicode text, NHS numbers with a right check digit, dates at every precision.
//! 256 cases each by default; `PROPTEST_CASES=5000 cargo test --test properties` searches longer.

use proptest::prelude::*;
use rust_decimal::Decimal;

use spfhir_domain::instrument::ItemKind;
use spfhir_domain::*;
use spfhir_element::parse;
use spfhir_translate::{BundleKind, ToFhir, WriteOptions, careplan, outcome, referral};

/// Non-empty text: letters, digits, punctuation, accents, other scripts; never blank.
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9À-ž\u{0600}-\u{0620}\u{4e00}-\u{4e10}][ A-Za-z0-9À-ž'\"\\\\,.&/()-]{0,24}"
}

fn code() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.-]{0,11}"
}

fn uri() -> impl Strategy<Value = String> {
    "https://example\\.org/[a-z]{1,8}(/[a-z0-9-]{1,8})?"
}

fn identifier() -> impl Strategy<Value = Identifier> {
    (uri(), code()).prop_map(|(system, value)| Identifier { system, value })
}

fn nhs_number() -> impl Strategy<Value = NhsNumber> {
    proptest::array::uniform9(0u32..10).prop_filter_map("check digit 10 is invalid", |d| {
        let sum: u32 = d.iter().enumerate().map(|(i, v)| v * (10 - i as u32)).sum();
        let check = match 11 - sum % 11 {
            11 => 0,
            10 => return None,
            c => c,
        };
        let s: String = d.iter().chain([&check]).map(|v| v.to_string()).collect();
        NhsNumber::try_from(s).ok()
    })
}

fn date() -> impl Strategy<Value = FhirDate> {
    (1900u32..2100, 1u32..13, 1u32..29, 0..3).prop_map(|(y, m, d, precision)| {
        let s = match precision {
            0 => format!("{y:04}"),
            1 => format!("{y:04}-{m:02}"),
            _ => format!("{y:04}-{m:02}-{d:02}"),
        };
        FhirDate::try_from(s).unwrap()
    })
}

fn date_time() -> impl Strategy<Value = FhirDateTime> {
    prop_oneof![
        date().prop_map(|d| FhirDateTime::try_from(d.as_str()).unwrap()),
        (
            1900u32..2100,
            1u32..13,
            1u32..29,
            0u32..24,
            0u32..60,
            0u32..60,
            prop_oneof![Just("Z"), Just("+00:00"), Just("+01:00"), Just("-05:30")],
        )
            .prop_map(|(y, mo, d, h, mi, s, tz)| {
                FhirDateTime::try_from(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{tz}"))
                    .unwrap()
            }),
    ]
}

/// A concept a sender can code: SNOMED (the default system, so left out) or another
/// system's code, a display alone, free text, or both.
fn concept() -> impl Strategy<Value = Concept> {
    prop_oneof![
        (
            code(),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(|(code, display, text)| Concept {
                system: None,
                code: Some(code),
                display,
                text,
            }),
        (uri(), code(), proptest::option::of(text())).prop_map(|(system, code, display)| {
            Concept {
                system: Some(system),
                code: Some(code),
                display,
                text: None,
            }
        }),
        text().prop_map(|t| Concept {
            text: Some(t),
            ..Concept::default()
        }),
        (text(), proptest::option::of(text())).prop_map(|(d, t)| Concept {
            display: Some(d),
            text: t,
            ..Concept::default()
        }),
    ]
}

macro_rules! one_of {
    ($($v:expr),+ $(,)?) => { prop_oneof![$(Just($v)),+] };
}

fn human_name() -> impl Strategy<Value = HumanName> {
    (
        proptest::collection::vec(text(), 0..2),
        proptest::collection::vec(text(), 0..3),
        proptest::option::of(text()),
    )
        .prop_filter("a name has some part", |(p, g, f)| {
            !p.is_empty() || !g.is_empty() || f.is_some()
        })
        .prop_map(|(prefix, given, family)| HumanName {
            prefix,
            given,
            family,
        })
}

fn address() -> impl Strategy<Value = Address> {
    (
        proptest::collection::vec(text(), 0..3),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of("[A-Z]{1,2}[0-9]{1,2} [0-9][A-Z]{2}"),
    )
        .prop_filter("an address has some part", |(l, c, d, p)| {
            !l.is_empty() || c.is_some() || d.is_some() || p.is_some()
        })
        .prop_map(|(lines, city, district, postcode)| Address {
            lines,
            city,
            district,
            postcode,
        })
}

fn contact_point() -> impl Strategy<Value = ContactPoint> {
    (
        one_of![
            ContactSystem::Phone,
            ContactSystem::Email,
            ContactSystem::Sms,
            ContactSystem::Other
        ],
        text(),
        proptest::option::of(one_of![
            ContactUse::Home,
            ContactUse::Work,
            ContactUse::Mobile,
            ContactUse::Temp
        ]),
    )
        .prop_map(|(system, value, use_)| ContactPoint {
            system,
            value,
            use_,
        })
}

fn person() -> impl Strategy<Value = Person> {
    (
        proptest::option::of(nhs_number()),
        proptest::option::of(human_name()),
        proptest::option::of(date()),
        proptest::option::of(one_of![
            Gender::Male,
            Gender::Female,
            Gender::Other,
            Gender::Unknown
        ]),
        proptest::option::of(address()),
        proptest::collection::vec(contact_point(), 0..3),
        proptest::option::of(
            ("[a-z]{2}(-[A-Z]{2})?", proptest::option::of(text()))
                .prop_map(|(code, display)| Language { code, display }),
        ),
        proptest::option::of(any::<bool>()),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(
            |(nhs, name, birth, gender, address, telecom, lang, interp, needs)| Person {
                nhs_number: nhs,
                name,
                birth_date: birth,
                gender,
                address,
                telecom,
                preferred_language: lang,
                interpreter_required: interp,
                accessibility_needs: needs,
            },
        )
}

fn organisation() -> impl Strategy<Value = Organisation> {
    (
        proptest::option::of("[A-Z][A-Z0-9]{2,5}"),
        proptest::option::of(text()),
    )
        .prop_filter("an organisation is named or coded", |(o, n)| {
            o.is_some() || n.is_some()
        })
        .prop_map(|(ods_code, name)| Organisation { ods_code, name })
}

fn practitioner() -> impl Strategy<Value = Practitioner> {
    (
        proptest::option::of("[0-9]{12}"),
        proptest::option::of("[0-9]{12}"),
        proptest::option::of(human_name()),
        proptest::option::of(concept()),
        proptest::option::of(organisation()),
    )
        .prop_map(|(user, role_id, name, role, org)| Practitioner {
            sds_user_id: user,
            sds_role_profile_id: role_id,
            name,
            role,
            organisation: org,
        })
}

fn service() -> impl Strategy<Value = Service> {
    (
        proptest::option::of("[0-9]{4,10}"),
        proptest::option::of(code()),
        proptest::option::of(text()),
        proptest::option::of(organisation()),
    )
        .prop_filter("a service is identified or named", |(d, o, n, _)| {
            d.is_some() || o.is_some() || n.is_some()
        })
        .prop_map(|(dos_id, oruk_id, name, organisation)| Service {
            dos_id,
            oruk_id,
            name,
            organisation,
        })
}

fn period() -> impl Strategy<Value = Period> {
    (
        proptest::option::of(date_time()),
        proptest::option::of(date_time()),
    )
        .prop_filter("a period has a start or an end", |(s, e)| {
            s.is_some() || e.is_some()
        })
        .prop_map(|(start, end)| Period { start, end })
}

fn request_status() -> impl Strategy<Value = RequestStatus> {
    one_of![
        RequestStatus::Draft,
        RequestStatus::Active,
        RequestStatus::OnHold,
        RequestStatus::Revoked,
        RequestStatus::Completed,
        RequestStatus::EnteredInError,
        RequestStatus::Unknown,
    ]
}

fn referral_value() -> impl Strategy<Value = Referral> {
    let consent = (
        any::<bool>(),
        proptest::option::of(date_time()),
        one_of![
            ConsentPurpose::DirectCare,
            ConsentPurpose::SocialPrescribing,
            ConsentPurpose::OutcomeReporting,
            ConsentPurpose::Research
        ],
        proptest::collection::vec(organisation(), 0..3),
    )
        .prop_map(|(given, date, purpose, shared_with)| Consent {
            given,
            date,
            purpose,
            shared_with,
        });
    let risk = (
        one_of![
            RiskCategory::Safeguarding,
            RiskCategory::StaffSafety,
            RiskCategory::InfectionRisk,
            RiskCategory::Other
        ],
        text(),
    )
        .prop_map(|(category, description)| RiskFlag {
            category,
            description,
        });
    (
        (identifier(), request_status(), date_time()),
        one_of![
            Priority::Routine,
            Priority::Urgent,
            Priority::Asap,
            Priority::Stat
        ],
        person(),
        (
            // The referrer's practitioner works at the referrer organisation (one requester).
            proptest::option::of(practitioner().prop_map(|p| Practitioner {
                organisation: None,
                ..p
            })),
            organisation(),
            proptest::option::of("[0-9]{4,10}"),
        ),
        proptest::collection::vec(concept(), 0..4),
        proptest::option::of(text()),
        proptest::collection::vec(consent, 0..3),
        proptest::collection::vec(risk, 0..3),
        proptest::option::of(service()),
    )
        .prop_map(
            |(
                (identifier, status, date),
                priority,
                person,
                (practitioner, organisation, dos_id),
                needs,
                notes,
                consent,
                risks,
                service,
            )| Referral {
                identifier,
                status,
                date,
                priority,
                person,
                referrer: Referrer {
                    practitioner,
                    organisation,
                    dos_id,
                },
                needs,
                notes,
                consent,
                risks,
                service,
            },
        )
}

fn careplan_value() -> impl Strategy<Value = CarePlan> {
    let goal = (
        "[a-z][a-z0-9-]{0,8}",
        concept(),
        one_of![
            GoalStatus::Proposed,
            GoalStatus::Planned,
            GoalStatus::Accepted,
            GoalStatus::Active,
            GoalStatus::OnHold,
            GoalStatus::Completed,
            GoalStatus::Cancelled,
            GoalStatus::EnteredInError,
            GoalStatus::Rejected,
        ],
        proptest::option::of(date()),
    )
        .prop_map(|(id, description, status, target_date)| Goal {
            id,
            description,
            status,
            target_date,
        });
    let activity = (
        concept(),
        one_of![
            ActivityStatus::NotStarted,
            ActivityStatus::Scheduled,
            ActivityStatus::InProgress,
            ActivityStatus::OnHold,
            ActivityStatus::Completed,
            ActivityStatus::Cancelled,
            ActivityStatus::Stopped,
            ActivityStatus::Unknown,
            ActivityStatus::EnteredInError,
        ],
        proptest::option::of(service()),
        proptest::collection::vec(0usize..4, 0..3),
        proptest::option::of(period()),
    );
    (
        (identifier(), request_status(), person()),
        proptest::option::of(identifier()),
        proptest::option::of(text()),
        proptest::collection::vec(goal, 0..4),
        proptest::collection::vec(activity, 0..4),
        proptest::option::of(date()),
        proptest::option::of(practitioner()),
        proptest::option::of(period()),
        proptest::option::of(date_time()),
    )
        .prop_map(
            |(
                (identifier, status, person),
                referral,
                what_matters,
                mut goals,
                activities,
                review_date,
                link_worker,
                period,
                created,
            )| {
                // Goal ids are unique within a plan; activities point at goals by id.
                goals.sort_by(|a, b| a.id.cmp(&b.id));
                goals.dedup_by(|a, b| a.id == b.id);
                let activities = activities
                    .into_iter()
                    .map(|(description, status, service, goal_refs, period)| {
                        let mut ids: Vec<String> = goal_refs
                            .iter()
                            .filter_map(|&i| goals.get(i).map(|g| g.id.clone()))
                            .collect();
                        ids.dedup();
                        Activity {
                            description,
                            status,
                            service,
                            goals: ids,
                            period,
                        }
                    })
                    .collect();
                CarePlan {
                    identifier,
                    status,
                    person,
                    referral,
                    what_matters,
                    goals,
                    activities,
                    review_date,
                    link_worker,
                    period,
                    created,
                }
            },
        )
}

fn outcome_value() -> impl Strategy<Value = OutcomeResponse> {
    let instrument = one_of![
        Instrument::Ons4,
        Instrument::Wemwbs,
        Instrument::Swemwbs,
        Instrument::Ucla3,
        Instrument::Pam
    ];
    let answers = instrument.prop_flat_map(|ins| {
        let items: Vec<_> = ins
            .items()
            .iter()
            .map(|spec| {
                let (min, max) = (spec.min, spec.max);
                let value: BoxedStrategy<Decimal> = match spec.kind {
                    ItemKind::Decimal => (min * 10..=max * 10)
                        .prop_map(|v| Decimal::new(v, 1))
                        .boxed(),
                    ItemKind::Integer | ItemKind::Choice(_) => {
                        (min..=max).prop_map(Decimal::from).boxed()
                    }
                };
                (any::<bool>(), value).prop_map(move |(present, value)| {
                    present.then(|| Answer {
                        link_id: spec.link_id.to_string(),
                        value,
                    })
                })
            })
            .collect();
        (Just(ins), items)
    });
    (
        (identifier(), answers),
        one_of![Timepoint::Baseline, Timepoint::FollowUp, Timepoint::Other],
        one_of![
            OutcomeStatus::InProgress,
            OutcomeStatus::Completed,
            OutcomeStatus::Amended,
            OutcomeStatus::EnteredInError,
            OutcomeStatus::Stopped
        ],
        date_time(),
        person(),
        proptest::option::of(identifier()),
    )
        .prop_map(
            |((identifier, (instrument, answers)), timepoint, status, date, person, referral)| {
                OutcomeResponse {
                    identifier,
                    instrument,
                    timepoint,
                    status,
                    date,
                    person,
                    referral,
                    answers: answers.into_iter().flatten().collect(),
                    scores: Scores::default(),
                }
            },
        )
}

fn opts(bundle: BundleKind) -> WriteOptions {
    WriteOptions {
        bundle,
        timestamp: Some("2026-11-02T09:31:00Z".into()),
    }
}

/// domain → FHIR → JSON text → FHIR → domain, failing the case on any error or warning. The
/// text comes from the fast path (arena tree written directly) and must equal the owned
/// tree's.
fn round_trip<T: ToFhir, R>(value: &T, bundle: BundleKind, read: R) -> Result<T, TestCaseError>
where
    R: Fn(
        &spfhir_element::Json,
    ) -> Result<(T, Vec<spfhir_element::issue::Issue>), Vec<spfhir_element::issue::Issue>>,
{
    let text = value
        .to_fhir_text(&opts(bundle), false)
        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?
        .text;
    let owned = value
        .to_fhir(&opts(bundle))
        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert_eq!(&text, &owned.fhir.to_compact());
    let fhir = parse(&text).unwrap();
    let (back, issues) = read(&fhir).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert!(issues.is_empty(), "{:#?}", issues);
    Ok(back)
}

fn bundles() -> impl Strategy<Value = BundleKind> {
    one_of![BundleKind::Message, BundleKind::Transaction]
}

proptest! {
    #[test]
    fn referral_round_trips(r in referral_value(), bundle in bundles()) {
        // A message needs both endpoints; without them it is refused, naming what is missing.
        let no_source = r.referrer.dos_id.is_none() && r.referrer.organisation.ods_code.is_none();
        let no_destination = r.service.as_ref().is_none_or(|s| s.dos_id.is_none() && s.oruk_id.is_none());
        if bundle == BundleKind::Message && (no_source || no_destination) {
            let errors = Referral::to_fhir(&r, &opts(bundle)).unwrap_err();
            let ids: Vec<&str> = errors.iter().map(|e| e.id).collect();
            let mut expected = Vec::new();
            if no_source { expected.push("TRANSLATE_NO_SOURCE_ENDPOINT"); }
            if no_destination { expected.push("TRANSLATE_NO_DESTINATION"); }
            prop_assert_eq!(ids, expected);
            return Ok(());
        }
        let back = round_trip(&r, bundle, referral::to_domain)?;
        prop_assert_eq!(back, r);
    }

    #[test]
    fn careplan_round_trips(cp in careplan_value(), bundle in bundles()) {
        let back = round_trip(&cp, bundle, careplan::to_domain)?;
        prop_assert_eq!(back, cp);
    }

    #[test]
    fn outcome_round_trips(o in outcome_value(), bundle in bundles()) {
        let back = round_trip(&o, bundle, outcome::to_domain)?;
        let mut expected = o.clone();
        expected.scores = o.score().unwrap_or_default();
        prop_assert_eq!(back, expected);
    }
}

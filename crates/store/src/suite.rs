//! The behaviour every backend must have. Each backend's integration tests call [`run`]
//! on a fresh, empty store, so SQLite and PostgreSQL are held to the same tests.

use crate::{
    AuditEntry, AuditField, AuditMatch, AuditQuery, Clause, Error, IndexRow, Match, Order, Prefix,
    Query, Remembered, Store, Write,
};

const T0: i64 = 1_700_000_000_000_000;

/// Run every check on `store`, which must be empty. Panics on the first failure, naming it.
pub async fn run(store: &dyn Store) {
    exact_text_and_versions(store).await;
    conflicts_change_nothing(store).await;
    a_failing_commit_among_concurrent_ones_fails_alone(store).await;
    deletes_and_history(store).await;
    searches(store).await;
    paging_is_stable_while_data_changes(store).await;
    a_resource_matching_the_driver_twice_is_listed_once(store).await;
    remembered_responses(store).await;
    claims(store).await;
    audit_log(store).await;
    audit_times_follow_the_order_appended(store).await;
    store.ping().await.expect("ping");
}

async fn exact_text_and_versions(store: &dyn Store) {
    // Decimals, member order and spacing come back exactly as given.
    let body = r#"{"resourceType":"Observation","id":"o1","valueQuantity":{"value":1.50,"unit":"kg"},  "status":"final"}"#;
    let saved = store
        .commit(
            vec![Write::put("Observation", "o1", body, vec![]).expecting(0)],
            T0,
        )
        .await
        .unwrap();
    assert_eq!((saved[0].version, saved[0].last_updated), (1, T0));
    let read = store.read("Observation", "o1").await.unwrap().unwrap();
    assert_eq!(read.body, body, "the exact text is kept");
    assert!(!read.deleted);
    let body2 = body.replace("1.50", "1.500");
    let saved = store
        .commit(
            vec![Write::put("Observation", "o1", &body2, vec![]).expecting(1)],
            T0 + 1,
        )
        .await
        .unwrap();
    assert_eq!(saved[0].version, 2);
    assert_eq!(
        store
            .vread("Observation", "o1", 1)
            .await
            .unwrap()
            .unwrap()
            .body,
        body
    );
    assert_eq!(
        store
            .vread("Observation", "o1", 2)
            .await
            .unwrap()
            .unwrap()
            .body,
        body2
    );
    assert!(store.vread("Observation", "o1", 3).await.unwrap().is_none());
    assert!(store.read("Observation", "nobody").await.unwrap().is_none());
}

async fn conflicts_change_nothing(store: &dyn Store) {
    let put = |id: &str| {
        Write::put(
            "Patient",
            id,
            &format!(r#"{{"resourceType":"Patient","id":"{id}"}}"#),
            vec![],
        )
    };
    store.commit(vec![put("c1")], T0).await.unwrap();
    // A stale If-Match.
    let e = store
        .commit(vec![put("c1").expecting(7)], T0)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { found: Some(1), .. }), "{e}");
    // A create over an existing resource.
    assert!(matches!(
        store.commit(vec![put("c1").expecting(0)], T0).await,
        Err(Error::Conflict { .. })
    ));
    // All or nothing: the first write of a failing list is not applied.
    let e = store
        .commit(vec![put("c2"), put("c1").expecting(5)], T0)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }));
    assert!(
        store.read("Patient", "c2").await.unwrap().is_none(),
        "rolled back"
    );
    assert_eq!(
        store.read("Patient", "c1").await.unwrap().unwrap().version,
        1
    );
}

/// Commits arriving together (which a backend may apply in one transaction) succeed or
/// fail each on its own: one conflict rolls back its own writes, nobody else's.
async fn a_failing_commit_among_concurrent_ones_fails_alone(store: &dyn Store) {
    let task = |id: &str| {
        Write::put(
            "Task",
            id,
            &format!(r#"{{"resourceType":"Task","id":"{id}"}}"#),
            vec![IndexRow::token("status", None, "ready")],
        )
    };
    store.commit(vec![task("g0")], T0).await.unwrap();
    let commits = (0..12).map(|i| {
        let writes = match i {
            // A new Task, then a stale update of g0: the whole commit must fail.
            6 => vec![task("partial").expecting(0), task("g0").expecting(5)],
            _ => vec![task(&format!("c{i}")).expecting(0)],
        };
        store.commit(writes, T0 + 1)
    });
    let results = futures_util::future::join_all(commits).await;
    for (i, r) in results.iter().enumerate() {
        match i {
            6 => assert!(matches!(r, Err(Error::Conflict { .. })), "commit 6: {r:?}"),
            _ => assert!(r.is_ok(), "commit {i} failed with its neighbour: {r:?}"),
        }
    }
    assert!(store.read("Task", "partial").await.unwrap().is_none());
    assert_eq!(store.read("Task", "g0").await.unwrap().unwrap().version, 1);
    for i in (0..12).filter(|&i| i != 6) {
        assert_eq!(
            store
                .read("Task", &format!("c{i}"))
                .await
                .unwrap()
                .unwrap()
                .version,
            1
        );
    }
    // Their index rows are there too: g0 and the eleven, not the rolled-back one.
    let q = Query::new("Task").with(Clause::new(
        "status",
        Match::Token {
            system: None,
            code: "ready".into(),
        },
    ));
    let ids = search_ids(store, &q).await;
    assert_eq!(ids.len(), 12, "{ids:?}");
    assert!(!ids.iter().any(|id| id == "partial"), "{ids:?}");
}

async fn deletes_and_history(store: &dyn Store) {
    let body = r#"{"resourceType":"Goal","id":"g1"}"#;
    store
        .commit(
            vec![Write::put(
                "Goal",
                "g1",
                body,
                vec![IndexRow::token("lifecycle-status", None, "active")],
            )],
            T0,
        )
        .await
        .unwrap();
    let gone = store
        .commit(vec![Write::delete("Goal", "g1")], T0 + 5)
        .await
        .unwrap();
    assert_eq!((gone[0].version, gone[0].deleted), (2, true));
    let read = store.read("Goal", "g1").await.unwrap().unwrap();
    assert!(read.deleted && read.body.is_empty());
    // Deleting again changes nothing.
    let again = store
        .commit(vec![Write::delete("Goal", "g1")], T0 + 6)
        .await
        .unwrap();
    assert_eq!(again[0].version, 2);
    // A deleted resource is not found by search, and may be created again.
    let q = Query::new("Goal").with(Clause::new(
        "lifecycle-status",
        Match::Token {
            system: None,
            code: "active".into(),
        },
    ));
    assert!(store.search(&q).await.unwrap().records.is_empty());
    let back = store
        .commit(
            vec![Write::put("Goal", "g1", body, vec![]).expecting(0)],
            T0 + 7,
        )
        .await
        .unwrap();
    assert_eq!(back[0].version, 3);
    let h = store.history("Goal", Some("g1"), 10).await.unwrap();
    assert_eq!(
        h.iter().map(|r| (r.version, r.deleted)).collect::<Vec<_>>(),
        [(3, false), (2, true), (1, false)]
    );
    assert_eq!(store.history("Goal", Some("g1"), 1).await.unwrap().len(), 1);
    assert_eq!(store.history("Goal", None, 10).await.unwrap().len(), 3);
}

async fn searches(store: &dyn Store) {
    let nhs = "https://fhir.nhs.uk/Id/nhs-number";
    let day = 86_400_000_000i64;
    for (id, number, family, gp, born) in [
        ("s1", "9434765919", "smith", "Organization/A81001", 0i64),
        ("s2", "9434765870", "smithson", "Organization/A81002", 10),
        ("s3", "9434765828", "jones", "Organization/A81001", 20),
    ] {
        let index = vec![
            IndexRow::token("identifier", Some(nhs), number),
            IndexRow::string("family", family),
            IndexRow::reference("general-practitioner", gp),
            IndexRow::date("birthdate", T0 + born * day, T0 + (born + 1) * day - 1),
            IndexRow::uri("url", &format!("https://example.org/{id}")),
        ];
        let body = format!(r#"{{"resourceType":"Patient","id":"{id}"}}"#);
        store
            .commit(vec![Write::put("Person", id, &body, index)], T0 + born)
            .await
            .unwrap();
    }
    let ids = |q: Query| async move { search_ids(store, &q).await };
    let q = |c: Clause| Query::new("Person").with(c);
    let token = |system: Option<&str>, code: &str| Match::Token {
        system: system.map(Into::into),
        code: code.into(),
    };
    assert_eq!(
        ids(q(Clause::new("identifier", token(Some(nhs), "9434765919")))).await,
        ["s1"]
    );
    assert_eq!(
        ids(q(Clause::new("identifier", token(None, "9434765870")))).await,
        ["s2"]
    );
    assert!(
        ids(q(Clause::new(
            "identifier",
            token(Some("other"), "9434765919")
        )))
        .await
        .is_empty()
    );
    assert!(
        ids(q(Clause::new("identifier", token(Some(""), "9434765919"))))
            .await
            .is_empty(),
        "|code: no system"
    );
    // Any of a comma's values.
    let either = Clause {
        param: "identifier".into(),
        any_of: vec![token(None, "9434765919"), token(None, "9434765828")],
    };
    assert_eq!(ids(q(either)).await, ["s1", "s3"]);
    // Strings: starts with, or exact; LIKE's wildcards are literal.
    assert_eq!(
        ids(q(Clause::new(
            "family",
            Match::String {
                value: "smith".into(),
                exact: false
            }
        )))
        .await,
        ["s1", "s2"]
    );
    assert_eq!(
        ids(q(Clause::new(
            "family",
            Match::String {
                value: "smith".into(),
                exact: true
            }
        )))
        .await,
        ["s1"]
    );
    assert!(
        ids(q(Clause::new(
            "family",
            Match::String {
                value: "sm%".into(),
                exact: false
            }
        )))
        .await
        .is_empty()
    );
    assert!(
        ids(q(Clause::new(
            "family",
            Match::String {
                value: "_mith".into(),
                exact: false
            }
        )))
        .await
        .is_empty()
    );
    assert_eq!(
        ids(q(Clause::new(
            "general-practitioner",
            Match::Reference("Organization/A81001".into())
        )))
        .await,
        ["s1", "s3"]
    );
    assert_eq!(
        ids(q(Clause::new(
            "url",
            Match::Uri("https://example.org/s2".into())
        )))
        .await,
        ["s2"]
    );
    // Dates: the stored day against the searched day, by prefix.
    let date = |prefix, d: i64| Match::Date {
        prefix,
        low: T0 + d * day,
        high: T0 + (d + 1) * day - 1,
    };
    assert_eq!(
        ids(q(Clause::new("birthdate", date(Prefix::Eq, 10)))).await,
        ["s2"]
    );
    assert_eq!(
        ids(q(Clause::new("birthdate", date(Prefix::Ne, 10)))).await,
        ["s1", "s3"]
    );
    assert_eq!(
        ids(q(Clause::new("birthdate", date(Prefix::Gt, 10)))).await,
        ["s3"]
    );
    assert_eq!(
        ids(q(Clause::new("birthdate", date(Prefix::Ge, 10)))).await,
        ["s2", "s3"]
    );
    assert_eq!(
        ids(q(Clause::new("birthdate", date(Prefix::Lt, 10)))).await,
        ["s1"]
    );
    assert_eq!(
        ids(q(Clause::new("birthdate", date(Prefix::Le, 10)))).await,
        ["s1", "s2"]
    );
    assert_eq!(
        ids(q(Clause::new("birthdate", date(Prefix::Sa, 10)))).await,
        ["s3"]
    );
    assert_eq!(
        ids(q(Clause::new("birthdate", date(Prefix::Eb, 10)))).await,
        ["s1"]
    );
    // Parameters AND together; _id and _lastUpdated.
    let both = q(Clause::new(
        "general-practitioner",
        Match::Reference("Organization/A81001".into()),
    ))
    .with(Clause::new(
        "family",
        Match::String {
            value: "jo".into(),
            exact: false,
        },
    ));
    assert_eq!(ids(both).await, ["s3"]);
    let mut by_id = Query::new("Person");
    by_id.ids = Some(vec!["s2".into(), "s3".into(), "zz".into()]);
    assert_eq!(ids(by_id.clone()).await, ["s2", "s3"]);
    by_id.last_updated = vec![(Prefix::Gt, T0 + 10, T0 + 10)];
    assert_eq!(ids(by_id).await, ["s3"]);
    assert_eq!(store.count(&Query::new("Person")).await.unwrap(), 3);
    // A re-index replaces the old rows.
    store
        .commit(
            vec![Write::put(
                "Person",
                "s1",
                "{}",
                vec![IndexRow::string("family", "brown")],
            )],
            T0 + 30,
        )
        .await
        .unwrap();
    assert_eq!(
        ids(q(Clause::new(
            "family",
            Match::String {
                value: "smith".into(),
                exact: false
            }
        )))
        .await,
        ["s2"]
    );
    // A create (expecting no current version) is indexed like any write, alone or
    // among others.
    let new_one = |id: &str| {
        Write::put(
            "Patient",
            id,
            "{}",
            vec![IndexRow::token("identifier", Some("https://x"), "new-1")],
        )
        .expecting(0)
    };
    store.commit(vec![new_one("n1")], T0 + 40).await.unwrap();
    store
        .commit(
            vec![new_one("n2"), Write::put("Patient", "s2", "{}", vec![])],
            T0 + 41,
        )
        .await
        .unwrap();
    let by_identifier = Query::new("Patient").with(Clause::new(
        "identifier",
        Match::Token {
            system: Some("https://x".into()),
            code: "new-1".into(),
        },
    ));
    assert_eq!(search_ids(store, &by_identifier).await, ["n1", "n2"]);
    let again = store.commit(vec![new_one("n1")], T0 + 42).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
}

async fn paging_is_stable_while_data_changes(store: &dyn Store) {
    for i in 0..25 {
        let id = format!("p{i:02}");
        store
            .commit(vec![Write::put("Page", &id, "{}", vec![])], T0 + i)
            .await
            .unwrap();
    }
    for order in [Order::Id, Order::LastUpdatedDesc, Order::LastUpdatedAsc] {
        let mut q = Query::new("Page");
        q.count = 10;
        q.order = order;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.search(&q).await.unwrap();
            assert!(page.records.len() <= 10);
            seen.extend(page.records.iter().map(|r| r.id.clone()));
            pages += 1;
            if pages == 1 && order == Order::Id {
                // Between pages: one already seen is deleted, one not yet seen is added
                // after the cursor, and one before it.
                store
                    .commit(
                        vec![
                            Write::delete("Page", "p00"),
                            Write::put("Page", "p99", "{}", vec![]),
                            Write::put("Page", "p005", "{}", vec![]),
                        ],
                        T0 + 100,
                    )
                    .await
                    .unwrap();
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "{order:?}: no resource twice");
        for i in 1..25 {
            assert!(
                seen.contains(&format!("p{i:02}")),
                "{order:?}: p{i:02} not skipped"
            );
        }
    }
}

async fn remembered_responses(store: &dyn Store) {
    assert!(store.recall("req-1").await.unwrap().is_none());
    let first = Remembered {
        status: 200,
        body: "{\"a\":1}".into(),
    };
    store.remember("req-1", &first).await.unwrap();
    store
        .remember(
            "req-1",
            &Remembered {
                status: 500,
                body: "x".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.recall("req-1").await.unwrap(),
        Some(first),
        "the first stays"
    );
    // Remembered with its writes: both, or (when the writes fail) neither.
    let ok = Remembered {
        status: 200,
        body: "done".into(),
    };
    store
        .commit_remembering(
            vec![Write::put("Msg", "m1", "{}", vec![]).expecting(0)],
            T0,
            vec![
                ("message:a".into(), ok.clone()),
                ("request:a".into(), ok.clone()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.recall("message:a").await.unwrap(), Some(ok.clone()));
    assert_eq!(store.recall("request:a").await.unwrap(), Some(ok));
    assert!(store.read("Msg", "m1").await.unwrap().is_some());
    let conflict = store
        .commit_remembering(
            vec![Write::put("Msg", "m1", "{}", vec![]).expecting(0)],
            T0,
            vec![(
                "message:b".into(),
                Remembered {
                    status: 200,
                    body: "never".into(),
                },
            )],
        )
        .await;
    assert!(
        matches!(conflict, Err(Error::Conflict { .. })),
        "{conflict:?}"
    );
    assert!(
        store.recall("message:b").await.unwrap().is_none(),
        "a failed commit remembers nothing"
    );
}

/// An equality parameter drives a search in id order; a resource with several rows for it
/// (one code under three systems) comes once, and pages stay full and complete.
async fn a_resource_matching_the_driver_twice_is_listed_once(store: &dyn Store) {
    for i in 0..7 {
        let id = format!("d{i}");
        let index = vec![
            IndexRow::token("code", Some("https://a.example"), "x"),
            IndexRow::token("code", Some("https://b.example"), "x"),
            IndexRow::token("code", None, "x"),
            IndexRow::string("name", if i % 2 == 0 { "even" } else { "odd" }),
        ];
        store
            .commit(vec![Write::put("Dup", &id, "{}", index)], T0 + i)
            .await
            .unwrap();
    }
    let code = Clause::new(
        "code",
        Match::Token {
            system: None,
            code: "x".into(),
        },
    );
    let even = Clause::new(
        "name",
        Match::String {
            value: "ev".into(),
            exact: false,
        },
    );
    for (q, want) in [
        (
            Query::new("Dup").with(code.clone()),
            vec!["d0", "d1", "d2", "d3", "d4", "d5", "d6"],
        ),
        (
            Query::new("Dup").with(even.clone()).with(code.clone()),
            vec!["d0", "d2", "d4", "d6"],
        ),
    ] {
        let mut q = q;
        q.count = 2;
        let mut pages = Vec::new();
        loop {
            let page = store.search(&q).await.unwrap();
            pages.push(
                page.records
                    .iter()
                    .map(|r| r.id.clone())
                    .collect::<Vec<_>>(),
            );
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        let want_pages: Vec<Vec<String>> = want
            .chunks(2)
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect();
        assert_eq!(
            pages, want_pages,
            "each resource once, full pages, in id order"
        );
        q.after = None;
        assert_eq!(store.count(&q).await.unwrap(), want.len() as u64);
    }
}

async fn claims(store: &dyn Store) {
    assert!(
        store.claim("jti:a", 1_000, 900).await.unwrap(),
        "the first claim wins"
    );
    assert!(
        !store.claim("jti:a", 1_000, 901).await.unwrap(),
        "a second claim of a live key loses"
    );
    assert!(
        store.claim("jti:b", 1_000, 902).await.unwrap(),
        "keys are separate"
    );
    // Once its time has passed, a claim is forgotten and the key may be claimed again.
    assert!(store.claim("jti:a", 2_000, 1_001).await.unwrap());
    assert!(!store.claim("jti:a", 2_000, 1_002).await.unwrap());
    // Claims race: of many at once, exactly one wins.
    let wins = futures_claims(store).await;
    assert_eq!(wins, 1, "exactly one of eight concurrent claims wins");
}

async fn futures_claims(store: &dyn Store) -> usize {
    let attempts = (0..8).map(|_| store.claim("jti:race", 5_000, 3_000));
    let mut wins = 0;
    for r in futures_util::future::join_all(attempts).await {
        wins += usize::from(r.unwrap());
    }
    wins
}

async fn audit_log(store: &dyn Store) {
    let entry = |n: i64, entity: &str, who: &str, status: i64| AuditEntry {
        seq: 0,
        recorded: T0 + n,
        interaction: if n % 2 == 0 { "read" } else { "update" }.into(),
        action: if n % 2 == 0 { "R" } else { "U" }.into(),
        entity: entity.into(),
        who: who.into(),
        certificate: (n == 3).then(|| "CN=gp-system".to_owned()),
        status,
    };
    let everything = AuditQuery::default();
    assert_eq!(store.audit_count(&everything).await.unwrap(), 0);
    store.audit(Vec::new()).await.expect("an empty append");
    store
        .audit(vec![
            entry(0, "Patient/a", "client-1", 200),
            entry(1, "Patient/a", "client-2", 412),
            entry(2, "Patient/b", "client-1", 404),
        ])
        .await
        .unwrap();
    store
        .audit(vec![entry(3, "Patient/a", "client-1", 500)])
        .await
        .unwrap();
    let all = store.audit_search(&everything).await.unwrap();
    assert_eq!(all.entries.len(), 4);
    assert!(all.next.is_none());
    // In the order appended, each with a larger seq, every field kept.
    assert!(all.entries.windows(2).all(|w| w[0].seq < w[1].seq));
    let mut expected = entry(3, "Patient/a", "client-1", 500);
    expected.seq = all.entries[3].seq;
    assert_eq!(all.entries[3], expected);
    assert_eq!(all.entries[0].certificate, None);
    let found = |q: AuditQuery| async move {
        store
            .audit_search(&q)
            .await
            .unwrap()
            .entries
            .iter()
            .map(|e| e.recorded - T0)
            .collect::<Vec<_>>()
    };
    let one = |m: AuditMatch| AuditQuery {
        clauses: vec![vec![m]],
        ..AuditQuery::default()
    };
    let text = |f: AuditField, v: &str| AuditMatch::Text(f, v.into());
    assert_eq!(
        found(one(text(AuditField::Entity, "Patient/a"))).await,
        [0, 1, 3]
    );
    assert_eq!(
        found(one(text(AuditField::Who, "client-1"))).await,
        [0, 2, 3]
    );
    assert_eq!(found(one(text(AuditField::Action, "U"))).await, [1, 3]);
    assert_eq!(
        found(one(text(AuditField::Interaction, "read"))).await,
        [0, 2]
    );
    assert_eq!(
        found(one(text(AuditField::Certificate, "CN=gp-system"))).await,
        [3]
    );
    assert_eq!(found(one(AuditMatch::Status(400, 499))).await, [1, 2]);
    assert_eq!(
        found(one(AuditMatch::Recorded(Prefix::Ge, T0 + 2, T0 + 2))).await,
        [2, 3]
    );
    assert_eq!(
        found(one(AuditMatch::Recorded(Prefix::Lt, T0 + 1, T0 + 1))).await,
        [0]
    );
    assert_eq!(found(one(AuditMatch::Seq(all.entries[2].seq))).await, [2]);
    // Clauses are ANDed, a clause's matches ORed.
    let q = AuditQuery {
        clauses: vec![
            vec![
                text(AuditField::Entity, "Patient/a"),
                text(AuditField::Entity, "Patient/b"),
            ],
            vec![text(AuditField::Who, "client-1")],
            vec![AuditMatch::Status(200, 299), AuditMatch::Status(500, 599)],
        ],
        ..AuditQuery::default()
    };
    assert_eq!(found(q.clone()).await, [0, 3]);
    assert_eq!(store.audit_count(&q).await.unwrap(), 2);
    // Pages, oldest or newest first: each entry once, whatever is appended meanwhile.
    for newest_first in [false, true] {
        let mut q = AuditQuery {
            count: 3,
            newest_first,
            ..AuditQuery::default()
        };
        let first = store.audit_search(&q).await.unwrap();
        assert_eq!(first.entries.len(), 3);
        store
            .audit(vec![entry(9, "Patient/c", "client-3", 200)])
            .await
            .unwrap();
        q.after = first.next;
        let second = store.audit_search(&q).await.unwrap();
        let seen: Vec<i64> = first
            .entries
            .iter()
            .chain(&second.entries)
            .map(|e| e.recorded - T0)
            .collect();
        // Oldest first, the entry appended after the first page comes on the second; newest
        // first, the one appended then is before the first page, and no entry repeats.
        if newest_first {
            assert_eq!(seen, [9, 3, 2, 1, 0], "newest first");
        } else {
            assert_eq!(seen, [0, 1, 2, 3, 9], "oldest first");
        }
        assert_eq!(second.next, None);
    }
}

/// An entry whose time is earlier than the entry appended before it is recorded at that
/// entry's time (in a batch and across batches), so `seq` order is `recorded` order. Runs
/// after [`audit_log`], whose latest entry is at `T0 + 9`.
async fn audit_times_follow_the_order_appended(store: &dyn Store) {
    let entry = |n: i64| AuditEntry {
        seq: 0,
        recorded: T0 + n,
        interaction: "read".into(),
        action: "R".into(),
        entity: format!("Patient/late-{n}"),
        who: "client-9".into(),
        certificate: None,
        status: 200,
    };
    store
        .audit(vec![entry(5), entry(12), entry(11)])
        .await
        .unwrap();
    store.audit(vec![entry(10), entry(13)]).await.unwrap();
    let q = AuditQuery {
        clauses: vec![vec![AuditMatch::Text(AuditField::Who, "client-9".into())]],
        ..AuditQuery::default()
    };
    let page = store.audit_search(&q).await.unwrap();
    let got: Vec<(String, i64)> = page
        .entries
        .iter()
        .map(|e| (e.entity.clone(), e.recorded - T0))
        .collect();
    let want = [(5, 9), (12, 12), (11, 12), (10, 12), (13, 13)]
        .map(|(n, at)| (format!("Patient/late-{n}"), at));
    assert_eq!(got, want, "recorded held to the latest before it");
    let all = store.audit_search(&AuditQuery::default()).await.unwrap();
    assert!(
        all.entries
            .windows(2)
            .all(|w| w[0].recorded <= w[1].recorded),
        "seq order is recorded order"
    );
}

/// An AuditEvent as versions before the audit log stored it: a resource (`AuditEvent/ae1`,
/// last updated at [`LEGACY_AUDIT_AT`]), which the audit log's migration moves into the log.
pub const LEGACY_AUDIT_EVENT: &str = r#"{"resourceType":"AuditEvent","id":"ae1","meta":{"versionId":"1","lastUpdated":"2023-11-14T22:13:20.000+00:00"},"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest","display":"RESTful Operation"},"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"vread"}],"action":"R","recorded":"2023-11-14T22:13:20.000+00:00","outcome":"4","outcomeDesc":"HTTP 410","agent":[{"who":{"identifier":{"value":"client-7"}},"altId":"certificate CN=gp-system","requestor":true}],"source":{"observer":{"display":"spfhir"}},"entity":[{"what":{"reference":"Patient/p9"}}]}"#;
/// When [`LEGACY_AUDIT_EVENT`] was stored.
pub const LEGACY_AUDIT_AT: i64 = T0;

/// After the audit log's migration ran over a store holding [`LEGACY_AUDIT_EVENT`]: the
/// event is an entry of the log, every field kept, and no longer a resource.
pub async fn legacy_audit_moved(store: &dyn Store) {
    let page = store.audit_search(&AuditQuery::default()).await.unwrap();
    assert_eq!(page.entries.len(), 1, "{page:?}");
    let e = &page.entries[0];
    assert_eq!(
        (
            e.recorded,
            e.interaction.as_str(),
            e.action.as_str(),
            e.entity.as_str(),
            e.who.as_str(),
            e.certificate.as_deref(),
            e.status
        ),
        (
            LEGACY_AUDIT_AT,
            "vread",
            "R",
            "Patient/p9",
            "client-7",
            Some("CN=gp-system"),
            410
        )
    );
    assert!(store.read("AuditEvent", "ae1").await.unwrap().is_none());
    let q = Query::new("AuditEvent");
    assert_eq!(store.count(&q).await.unwrap(), 0);
}

/// The ids one page of `q` finds, sorted.
async fn search_ids(store: &dyn Store, q: &Query) -> Vec<String> {
    let mut v: Vec<String> = store
        .search(q)
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.id)
        .collect();
    v.sort();
    v
}

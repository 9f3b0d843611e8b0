//! Whole flows: CRUD with versions, conditional create, search and paging, history,
//! transactions (atomic), `$validate`, `$process-message`, and the CapabilityStatement.

use serde_json::{Value, json};

use crate::{Server, patient, referral_message};

#[tokio::test]
async fn create_read_update_delete_with_versions() {
    let s = Server::open().await;
    let r = s
        .send("POST", "/Patient", Some(&patient("9434765919", "Smith")))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("etag"), "W/\"1\"");
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(
        r.header("location")
            .ends_with(&format!("/Patient/{id}/_history/1"))
    );
    assert_eq!(r.body["meta"]["versionId"], "1");

    let read = s.send("GET", &format!("/Patient/{id}"), None).await;
    assert_eq!(
        (read.status, read.body["name"][0]["family"].as_str()),
        (200, Some("Smith"))
    );

    // Update with the right If-Match, then a stale one.
    let mut body = read.body.clone();
    body["name"][0]["family"] = json!("Smyth");
    let put = |if_match: &'static str, body: Value| {
        let s = &s;
        let id = id.clone();
        async move {
            crate::Reply::of(
                s.http
                    .put(s.url(&format!("/Patient/{id}")))
                    .header("content-type", "application/fhir+json")
                    .header("if-match", if_match)
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let r = put("W/\"1\"", body.clone()).await;
    assert_eq!((r.status, r.header("etag")), (200, "W/\"2\""), "{}", r.body);
    let r = put("W/\"1\"", body.clone()).await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(r.ids(), ["SERVER_PRECONDITION"]);

    // Versions and history.
    let v1 = s
        .send("GET", &format!("/Patient/{id}/_history/1"), None)
        .await;
    assert_eq!(v1.body["name"][0]["family"], "Smith");
    let h = s
        .send("GET", &format!("/Patient/{id}/_history"), None)
        .await;
    assert_eq!(
        (h.body["type"].as_str(), h.body["total"].as_u64()),
        (Some("history"), Some(2))
    );

    // Delete: gone (410), not found by search, its history kept.
    assert_eq!(
        s.send("DELETE", &format!("/Patient/{id}"), None)
            .await
            .status,
        204
    );
    let gone = s.send("GET", &format!("/Patient/{id}"), None).await;
    assert_eq!(
        (gone.status, gone.ids()),
        (410, vec!["SERVER_GONE".to_owned()])
    );
    let found = s.send("GET", "/Patient?family=smyth", None).await;
    assert!(found.body["entry"].is_null(), "{}", found.body);
    assert_eq!(
        s.send("GET", &format!("/Patient/{id}/_history"), None)
            .await
            .body["total"],
        3
    );
}

#[tokio::test]
async fn the_exact_json_is_kept() {
    let s = Server::open().await;
    let text = r#"{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"Walk 1.50 km"},"subject":{"reference":"Patient/p1"},"target":[{"measure":{"text":"distance"},"detailQuantity":{"value":1.50,"unit":"km"}}]}"#;
    let r = crate::Reply::of(
        s.http
            .post(s.url("/Goal"))
            .header("content-type", "application/fhir+json")
            .body(text)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let raw = s
        .http
        .get(s.url(&format!("/Goal/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        raw.contains(r#""value":1.50"#),
        "the decimal's text is kept: {raw}"
    );
    let order = ["lifecycleStatus", "description", "subject", "target"];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| raw.find(&format!("\"{k}\"")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "member order is kept: {raw}"
    );
}

#[tokio::test]
async fn conditional_create_is_idempotent() {
    let s = Server::open().await;
    let send = || async {
        crate::Reply::of(
            s.http
                .post(s.url("/Patient"))
                .header("content-type", "application/fhir+json")
                .header(
                    "if-none-exist",
                    "identifier=https://fhir.nhs.uk/Id/nhs-number|9434765870",
                )
                .body(patient("9434765870", "Jones").to_string())
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let (a, b) = (send().await, send().await);
    assert_eq!((a.status, b.status), (201, 200));
    assert_eq!(a.body["id"], b.body["id"]);
    let count = s.send("GET", "/Patient?_summary=count", None).await;
    assert_eq!(count.body["total"], 1);
}

#[tokio::test]
async fn search_pages_stay_stable_and_complete() {
    let s = Server::open().await;
    for i in 0..25 {
        let goal = json!({"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": format!("goal {i}")}, "subject": {"reference": "Patient/p1"}});
        assert_eq!(s.send("POST", "/Goal", Some(&goal)).await.status, 201);
    }
    let mut next = Some(s.url("/Goal?patient=Patient/p1&_count=10"));
    let mut ids = Vec::new();
    let mut pages = 0;
    while let Some(url) = next {
        let r = crate::Reply::of(s.http.get(url).send().await.unwrap()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        for e in r.body["entry"].as_array().into_iter().flatten() {
            assert_eq!(e["search"]["mode"], "match");
            ids.push(e["resource"]["id"].as_str().unwrap().to_owned());
        }
        if pages == 1 {
            // A new match while paging does not shift the pages.
            let goal = json!({"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "late"}, "subject": {"reference": "Patient/p1"}});
            s.send("POST", "/Goal", Some(&goal)).await;
        }
        next = r.body["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_owned());
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no resource twice");
    assert!(ids.len() >= 25);
    assert_eq!(
        s.send("GET", "/Goal?_summary=count", None).await.body["total"],
        26
    );
    assert_eq!(
        s.send("GET", "/Goal?patient=Patient/nobody", None)
            .await
            .body["entry"],
        Value::Null
    );
}

#[tokio::test]
async fn a_transaction_resolves_references_and_is_all_or_nothing() {
    let s = Server::open().await;
    let pid = "urn:uuid:6d1b7d3a-7e0e-4d0f-9d8e-1b2c3d4e5f60";
    let sr = json!({
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "subject": {"reference": pid}
    });
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": pid, "resource": patient("9434765828", "Brown"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": sr, "request": {"method": "POST", "url": "ServiceRequest"}}
    ]});
    let r = s.send("POST", "/", Some(&tx)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["type"], "transaction-response");
    let locations: Vec<&str> = r.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["location"].as_str().unwrap())
        .collect();
    assert!(
        locations[0].contains("/Patient/") && locations[1].contains("/ServiceRequest/"),
        "{locations:?}"
    );
    let patient_id = locations[0].split('/').rev().nth(2).unwrap();
    let stored = s.send("GET", "/ServiceRequest?_count=5", None).await;
    assert_eq!(
        stored.body["entry"][0]["resource"]["subject"]["reference"],
        format!("Patient/{patient_id}")
    );
    // _include and _revinclude follow the link both ways.
    let inc = s
        .send(
            "GET",
            "/ServiceRequest?_include=ServiceRequest:subject",
            None,
        )
        .await;
    let modes: Vec<&str> = inc.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["search"]["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["match", "include"], "{}", inc.body);
    let rev = s
        .send(
            "GET",
            &format!("/Patient?_id={patient_id}&_revinclude=ServiceRequest:subject"),
            None,
        )
        .await;
    assert_eq!(
        rev.body["entry"].as_array().unwrap().len(),
        2,
        "{}",
        rev.body
    );

    // One invalid entry: nothing at all is stored.
    let before = s.send("GET", "/Patient?_summary=count", None).await.body["total"].clone();
    let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient("9434765919", "Green"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "gender": "robot"}, "request": {"method": "POST", "url": "Patient"}}
    ]});
    let r = s.send("POST", "/", Some(&bad)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["issue"]
            .to_string()
            .contains("Bundle.entry[1].resource.gender"),
        "{}",
        r.body
    );
    assert_eq!(
        s.send("GET", "/Patient?_summary=count", None).await.body["total"],
        before
    );
    // A reference to an entry that is not there.
    let dangling = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "ServiceRequest", "status": "active", "intent": "order", "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}}, "request": {"method": "POST", "url": "ServiceRequest"}}
    ]});
    let r = s.send("POST", "/", Some(&dangling)).await;
    assert_eq!(
        (r.status, r.ids()),
        (400, vec!["SERVER_REFERENCE_UNRESOLVED".to_owned()])
    );
}

#[tokio::test]
async fn validate_reports_issues_with_line_and_column() {
    let s = Server::open().await;
    let text = "{\n  \"resourceType\": \"Patient\",\n  \"gender\": \"robot\"\n}";
    let r = crate::Reply::of(
        s.http
            .post(s.url("/Patient/$validate"))
            .header("content-type", "application/fhir+json")
            .body(text)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let issue = r.body["issue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["severity"] == "error")
        .unwrap();
    let ext = |suffix: &str| {
        issue["extension"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["url"].as_str().unwrap().ends_with(suffix))
            .unwrap()
            .clone()
    };
    assert_eq!(ext("issue-line")["valueInteger"], 3);
    assert_eq!(ext("issue-col")["valueInteger"], 13);
    assert_eq!(ext("message-id")["valueString"], "BINDING_REQUIRED");
    // As a Parameters, with a profile.
    let params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient", "gender": "female"}},
        {"name": "profile", "valueUri": "https://example.org/no-such-profile"}
    ]});
    let r = s.send("POST", "/$validate", Some(&params)).await;
    assert!(
        r.ids().contains(&"PROFILE_UNKNOWN".to_owned()),
        "{}",
        r.body
    );
    // The URL's type must be the resource's.
    let r = s
        .send(
            "POST",
            "/Observation/$validate",
            Some(&patient("9434765919", "Smith")),
        )
        .await;
    assert_eq!(
        (r.status, r.ids()),
        (400, vec!["SERVER_TYPE_MISMATCH".to_owned()])
    );
    // FHIR XML in: the same rules at the XML's lines, its own problems too; JSON out.
    let xml = "<Patient xmlns=\"http://hl7.org/fhir\">\n  <gender value=\"robot\"/>\n  <active value=\"true\"/>\n</Patient>";
    let post_xml = |body: &'static str| {
        s.http
            .post(s.url("/Patient/$validate"))
            .header("content-type", "application/fhir+xml")
            .body(body)
            .send()
    };
    let r = crate::Reply::of(post_xml(xml).await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids = r.ids();
    assert!(
        ids.contains(&"BINDING_REQUIRED".to_owned()) && ids.contains(&"XML_ORDER".to_owned()),
        "{ids:?}"
    );
    let line_of = |id: &str| {
        r.body["issue"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["extension"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["valueString"] == id)
            })
            .and_then(|i| {
                i["extension"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["url"].as_str().unwrap().ends_with("issue-line"))
            })
            .map(|e| e["valueInteger"].clone())
    };
    assert_eq!(line_of("BINDING_REQUIRED"), Some(json!(2)));
    assert_eq!(line_of("XML_ORDER"), Some(json!(3)));
    let r = crate::Reply::of(
        post_xml("<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"true\">")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.ids()), (400, vec!["XML_SYNTAX".to_owned()]));
}

#[tokio::test]
async fn process_message_stores_the_referral_once_and_answers_as_bars_does() {
    let s = Server::open().await;
    let message = referral_message();
    let post = |request_id: &'static str, body: Value| {
        let s = &s;
        async move {
            crate::Reply::of(
                s.http
                    .post(s.url("/$process-message"))
                    .header("content-type", "application/fhir+json")
                    .header("x-request-id", request_id)
                    .header("x-correlation-id", "corr-1")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let r = post("req-1", message.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.header("x-request-id"), r.header("x-correlation-id")),
        ("req-1", "corr-1")
    );
    assert_eq!(r.body["type"], "message");
    let header = &r.body["entry"][0]["resource"];
    assert_eq!(header["resourceType"], "MessageHeader");
    assert_eq!(header["response"]["code"], "ok");
    let request_header = message["entry"][0]["fullUrl"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:uuid:");
    assert_eq!(header["response"]["identifier"], request_header);
    let stored = s.send("GET", "/ServiceRequest?_summary=count", None).await;
    assert_eq!(stored.body["total"], 1);
    // The same request again: the first response, nothing changed.
    let again = post("req-1", message.clone()).await;
    assert_eq!(again.body, r.body);
    let sr = s.send("GET", "/ServiceRequest", None).await;
    assert_eq!(sr.body["entry"][0]["resource"]["meta"]["versionId"], "1");
    // An invalid message: 422, BaRS's code, nothing stored.
    let mut bad = message.clone();
    bad["identifier"]["value"] = json!("another-message");
    for e in bad["entry"].as_array_mut().unwrap() {
        if e["resource"]["resourceType"] == "ServiceRequest" {
            e["resource"]["status"] = json!("bogus");
            e["resource"]["id"] = json!("another-id");
        }
    }
    let r = post("req-2", bad).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.to_string().contains("REC_UNPROCESSABLE_ENTITY"));
    assert_eq!(
        s.send("GET", "/ServiceRequest?_summary=count", None)
            .await
            .body["total"],
        1
    );
}

#[tokio::test]
async fn a_message_for_another_receiver_is_refused() {
    let config = spfhir_server::Config {
        identities: vec!["NOT-US".into()],
        ..Default::default()
    };
    let s = Server::start(spfhir_server::auth::Auth::Off, config).await;
    let r = s
        .send("POST", "/$process-message", Some(&referral_message()))
        .await;
    assert_eq!(
        (r.status, r.ids()),
        (422, vec!["SERVER_NOT_FOR_US".to_owned()])
    );
}

#[tokio::test]
async fn every_advertised_interaction_answers() {
    let s = Server::open().await;
    let cs = s.send("GET", "/metadata", None).await;
    assert_eq!(cs.body["resourceType"], "CapabilityStatement");
    let resources = cs.body["rest"][0]["resource"].as_array().unwrap();
    assert!(resources.len() >= 13);
    for r in resources {
        let ty = r["type"].as_str().unwrap();
        for i in r["interaction"].as_array().unwrap() {
            let (method, path) = match i["code"].as_str().unwrap() {
                "read" => ("GET", format!("/{ty}/x1")),
                "vread" => ("GET", format!("/{ty}/x1/_history/1")),
                "update" => ("PUT", format!("/{ty}/x1")),
                "delete" => ("DELETE", format!("/{ty}/x1")),
                "history-instance" => ("GET", format!("/{ty}/x1/_history")),
                "history-type" => ("GET", format!("/{ty}/_history")),
                "create" => ("POST", format!("/{ty}")),
                "search-type" => ("GET", format!("/{ty}")),
                other => panic!("unexpected interaction {other}"),
            };
            let body = json!({"resourceType": ty, "id": "x1"});
            let reply = s
                .send(
                    method,
                    &path,
                    matches!(method, "PUT" | "POST").then_some(&body),
                )
                .await;
            assert!(
                ![404, 405, 501].contains(&reply.status)
                    || reply
                        .ids()
                        .iter()
                        .any(|i| i == "SERVER_NOT_FOUND" && method == "GET"),
                "{method} {path}: {} {}",
                reply.status,
                reply.body
            );
            assert_ne!(reply.status, 405, "{method} {path}");
        }
        // Every advertised search parameter is accepted.
        for p in r["searchParam"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            let value = match p["type"].as_str().unwrap() {
                "date" => "ge2020-01-01",
                "reference" => "Patient/x1",
                _ => "x",
            };
            let reply = s.send("GET", &format!("/{ty}?{name}={value}"), None).await;
            assert_eq!(reply.status, 200, "{ty}?{name}: {}", reply.body);
        }
    }
    for op in cs.body["rest"][0]["operation"].as_array().unwrap() {
        let name = op["name"].as_str().unwrap();
        let reply = s
            .send(
                "POST",
                &format!("/${name}"),
                Some(&json!({"resourceType": "Bundle", "type": "message"})),
            )
            .await;
        assert!(
            ![404, 405].contains(&reply.status),
            "${name}: {}",
            reply.status
        );
    }
}

#[tokio::test]
async fn a_client_past_its_rate_gets_429_with_retry_after() {
    let config = spfhir_server::Config {
        limits: spfhir_server::Limits {
            rate_per_second: 5,
            rate_burst: 5,
            ..Default::default()
        },
        ..Default::default()
    };
    let s = Server::start(spfhir_server::auth::Auth::Off, config).await;
    let mut limited = None;
    for _ in 0..20 {
        let r = s.send("GET", "/metadata", None).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("20 requests at once exceed 5 per second");
    assert_eq!(r.ids(), ["SERVER_RATE_LIMIT"]);
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert!(r.body.to_string().contains("REC_TOO_MANY_REQUESTS"));
}

/// `serve_tls` with `tls` on a loopback port (no auth): the port, the sender that stops it,
/// and its task.
async fn start_tls(
    tls: spfhir_server::Tls,
) -> (
    u16,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let store = spfhir_store_sqlite::SqliteStore::open(":memory:")
        .await
        .unwrap();
    let validator = spfhir_validate::Validator::new(crate::registry(), Default::default());
    let state = spfhir_server::AppState::new(
        validator,
        std::sync::Arc::new(store),
        Default::default(),
        spfhir_server::auth::Auth::Off,
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(spfhir_server::serve_tls(
        listener,
        state,
        tls,
        async {
            let _ = rx.await;
        },
        std::time::Duration::from_secs(5),
    ));
    (port, tx, server)
}

#[tokio::test]
async fn https_with_rustls() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let tls = spfhir_server::Tls {
        cert_pem: cert.cert.pem().into_bytes(),
        key_pem: cert.key_pair.serialize_pem().into_bytes(),
        client_ca_pem: None,
    };
    let (port, tx, server) = start_tls(tls).await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!("https://localhost:{port}/metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port gets no FHIR answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/metadata"))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    let _ = tx.send(());
    server.await.unwrap().unwrap();
}

/// A CA, and a client certificate it signs (PEM: the certificate, then its key).
fn client_ca_and_identity() -> (String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["gp-a.example".to_owned()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "gp-a.example");
    let client = params.signed_by(&client_key, &ca, &ca_key).unwrap();
    (
        ca.pem(),
        format!("{}{}", client.pem(), client_key.serialize_pem()),
    )
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (ca, identity) = client_ca_and_identity();
    let (_, stranger) = client_ca_and_identity();
    let tls = spfhir_server::Tls {
        cert_pem: cert.cert.pem().into_bytes(),
        key_pem: cert.key_pair.serialize_pem().into_bytes(),
        client_ca_pem: Some(ca.into_bytes()),
    };
    let (port, tx, server) = start_tls(tls).await;
    let client = |identity: Option<&str>| {
        let mut b = reqwest::Client::builder().add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap(),
        );
        if let Some(pem) = identity {
            b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        b.build().unwrap()
    };
    let url = format!("https://localhost:{port}/metadata");
    let ok = client(Some(&identity)).get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    for (why, id) in [
        ("no certificate", None),
        ("another CA's certificate", Some(stranger.as_str())),
    ] {
        let refused = client(id).get(&url).send().await;
        assert!(
            refused.as_ref().map_or(true, |r| r.status() != 200),
            "{why}: {:?}",
            refused.map(|r| r.status())
        );
    }
    // The certificate names the caller: its subject is the AuditEvent agent's altId.
    let made = client(Some(&identity))
        .post(format!("https://localhost:{port}/Patient"))
        .header("content-type", "application/fhir+json")
        .body(r#"{"resourceType":"Patient","gender":"female"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let search = format!(
        "https://localhost:{port}/AuditEvent?entity=Patient/{}",
        made["id"].as_str().unwrap()
    );
    let mut audit = Value::Null;
    for _ in 0..100 {
        audit = client(Some(&identity))
            .get(&search)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if audit["entry"][0].is_object() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        audit["entry"][0]["resource"]["agent"][0]["altId"], "certificate CN=gp-a.example",
        "{audit}"
    );
    let _ = tx.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn translate_goes_both_ways() {
    let s = Server::open().await;
    let (_, _, referral) = spfhir_testkit::domain_fixtures()
        .into_iter()
        .find(|(n, _, _)| n == "referral.json")
        .unwrap();
    let r = crate::Reply::of(
        s.http
            .post(s.url("/$translate?kind=referral&to=fhir"))
            .header("content-type", "application/json")
            .body(referral.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["resourceType"].as_str(), r.body["type"].as_str()),
        (Some("Bundle"), Some("message"))
    );
    let back = s
        .send("POST", "/$translate?kind=referral&to=domain", Some(&r.body))
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    let original: Value = serde_json::from_str(&referral).unwrap();
    assert_eq!(back.body["record"]["identifier"], original["identifier"]);
    // A record that cannot be sent: 422 with the reasons.
    let bad = s
        .send(
            "POST",
            "/$translate?kind=referral&to=fhir",
            Some(&json!({"identifier": 5})),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.ids().contains(&"DOMAIN_INVALID".to_owned()),
        "{}",
        bad.body
    );
    let bad = s
        .send("POST", "/$translate?kind=letter&to=fhir", Some(&json!({})))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn every_openapi_route_answers_and_the_domain_schemas_resolve() {
    let s = Server::open().await;
    let r = crate::Reply::of(s.http.get(s.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    let doc = r.body;
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path
                .replace("{type}", "Patient")
                .replace("{id}", "x1")
                .replace("{vid}", "1");
            let body = json!({"resourceType": "Patient", "id": "x1"});
            let reply = s
                .send(
                    &method.to_uppercase(),
                    &concrete,
                    matches!(method.as_str(), "post" | "put").then_some(&body),
                )
                .await;
            assert_ne!(reply.status, 405, "{method} {path}");
            assert!(
                reply.status != 404 || reply.ids() == ["SERVER_NOT_FOUND"] && method == "get",
                "{method} {path}: {}",
                reply.body
            );
        }
    }
    // Every $ref points at a schema that is there.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(
            schemas.contains_key(name),
            "{name} is referred to but not defined"
        );
    }
    assert!(schemas.contains_key("Referral") && schemas.contains_key("OutcomeResponse"));
}

#[tokio::test]
async fn every_read_and_write_leaves_a_searchable_audit_event() {
    let s = Server::open().await;
    let made = s
        .send("POST", "/Patient", Some(&patient("9434765919", "Smith")))
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    s.send("GET", &format!("/Patient/{id}"), None).await;
    s.send("GET", "/Patient/nobody", None).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let events = loop {
        let r = s
            .send("GET", &format!("/AuditEvent?entity=Patient/{id}"), None)
            .await;
        let entries = r.body["entry"].as_array().cloned().unwrap_or_default();
        if entries.len() >= 2 || std::time::Instant::now() > deadline {
            break entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut kinds: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["resource"]["subtype"][0]["code"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                e["resource"]["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("create".to_owned(), "0".to_owned()),
            ("read".to_owned(), "0".to_owned())
        ]
    );
    assert_eq!(
        events[0]["resource"]["agent"][0]["who"]["identifier"]["value"],
        "insecure-dev"
    );
    // A failed read is audited too, with its outcome.
    let failed = s
        .send("GET", "/AuditEvent?entity=Patient/nobody", None)
        .await;
    assert_eq!(
        failed.body["entry"][0]["resource"]["outcome"], "4",
        "{}",
        failed.body
    );
    // $validate and /metadata are not audited.
    s.send("GET", "/metadata", None).await;
    let all = s.send("GET", "/AuditEvent?_summary=count", None).await;
    assert!(all.body["total"].as_u64().unwrap() <= 8, "{}", all.body);
}

/// Wait until `path` (an AuditEvent search) finds at least `n` entries (the audit log is
/// appended in batches, after the responses).
async fn audited(s: &Server, path: &str, n: usize) -> crate::Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = s.send("GET", path, None).await;
        let found = r.body["entry"].as_array().map_or(0, Vec::len);
        if found >= n || std::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_audit_log_is_read_paged_and_filtered_but_never_written_by_clients() {
    let s = Server::open().await;
    let made = s
        .send("POST", "/Patient", Some(&patient("9434765919", "Smith")))
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    for _ in 0..4 {
        s.send("GET", &format!("/Patient/{id}"), None).await;
    }
    s.send("GET", "/Patient/nobody", None).await;
    let all = audited(&s, &format!("/AuditEvent?patient={id}&_count=2"), 2).await;
    // Five entries for the patient (a create, four reads), two a page, oldest first.
    let mut seen = Vec::new();
    let mut page = all;
    loop {
        for e in page.body["entry"].as_array().unwrap() {
            seen.push((
                e["resource"]["id"].as_str().unwrap().to_owned(),
                e["resource"]["subtype"][0]["code"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ));
        }
        let next = page.body["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_owned());
        let Some(next) = next else { break };
        let path = &next[next.find("/AuditEvent").unwrap()..];
        page = s.send("GET", path, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
    let subtypes: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(subtypes, ["create", "read", "read", "read", "read"]);
    let newest = s
        .send(
            "GET",
            &format!("/AuditEvent?entity=Patient/{id}&_sort=-date&_count=1"),
            None,
        )
        .await;
    assert_eq!(
        newest.body["entry"][0]["resource"]["id"],
        seen[4].0.as_str()
    );
    // Each entry reads back by its id, as version 1.
    let (first, _) = &seen[0];
    let one = s.send("GET", &format!("/AuditEvent/{first}"), None).await;
    assert_eq!(one.status, 200);
    assert_eq!(
        one.body["entity"][0]["what"]["reference"],
        format!("Patient/{id}").as_str()
    );
    assert_eq!(one.body["meta"]["versionId"], "1");
    let v1 = s
        .send("GET", &format!("/AuditEvent/{first}/_history/1"), None)
        .await;
    assert_eq!(v1.body, one.body);
    assert_eq!(
        s.send("GET", &format!("/AuditEvent/{first}/_history/2"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        s.send("GET", "/AuditEvent/999999999", None).await.status,
        404
    );
    // Filters: by client, action, outcome, interaction and time.
    let count = |q: String| {
        let s = &s;
        async move {
            let r = s
                .send("GET", &format!("/AuditEvent?{q}&_summary=count"), None)
                .await;
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            r.body["total"].as_u64().unwrap()
        }
    };
    assert_eq!(
        count(format!("patient={id}&agent:identifier=insecure-dev")).await,
        5
    );
    assert_eq!(
        count(format!("patient={id}&agent:identifier=someone-else")).await,
        0
    );
    assert_eq!(count(format!("patient={id}&action=C")).await, 1);
    assert_eq!(
        count(format!(
            "patient={id}&subtype=http://hl7.org/fhir/restful-interaction|read"
        ))
        .await,
        4
    );
    assert_eq!(count(format!("patient={id}&outcome=0")).await, 5);
    assert_eq!(count("entity=Patient/nobody&outcome=4".into()).await, 1);
    assert_eq!(
        count(format!("patient={id}&date=ge2020-01-01&type=rest")).await,
        5
    );
    assert_eq!(count(format!("patient={id}&date=lt2020-01-01")).await, 0);
    assert_eq!(count(format!("patient={id}&type=other")).await, 0);
    assert_eq!(count(format!("_id={first}")).await, 1);
    assert_eq!(
        s.send("GET", "/AuditEvent?name=Smith", None).await.status,
        400,
        "an unknown parameter"
    );
    // Clients never write the log.
    let forged = json!({"resourceType": "AuditEvent", "id": first});
    for (method, path) in [
        ("POST", "/AuditEvent".to_owned()),
        ("PUT", format!("/AuditEvent/{first}")),
        ("DELETE", format!("/AuditEvent/{first}")),
        ("GET", format!("/AuditEvent/{first}/_history")),
    ] {
        let r = s
            .send(
                method,
                &path,
                matches!(method, "POST" | "PUT").then_some(&forged),
            )
            .await;
        assert_eq!(
            (r.status, r.ids()),
            (405, vec!["SERVER_METHOD".to_owned()]),
            "{method} {path}"
        );
    }
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "AuditEvent"}, "request": {"method": "POST", "url": "AuditEvent"}}
    ]});
    assert_eq!(s.send("POST", "/", Some(&tx)).await.status, 405);
    // Reading it inside a transaction or a batch is a read like any other.
    for kind in ["transaction", "batch"] {
        let read = json!({"resourceType": "Bundle", "type": kind, "entry": [
            {"request": {"method": "GET", "url": format!("AuditEvent/{first}")}}
        ]});
        let r = s.send("POST", "/", Some(&read)).await;
        assert_eq!(r.status, 200, "{kind}: {}", r.body);
        let location = r.body["entry"][0]["response"]["location"]
            .as_str()
            .unwrap_or_default();
        assert!(
            location.ends_with(&format!("/AuditEvent/{first}/_history/1")),
            "{kind}: {}",
            r.body
        );
    }
    assert_eq!(
        s.send("GET", &format!("/AuditEvent/{first}"), None)
            .await
            .body,
        one.body
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_shape_and_time_the_store() {
    let s = Server::open().await;
    let made = s
        .send("POST", "/Patient", Some(&patient("9434765919", "Smith")))
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    s.send("GET", &format!("/Patient/{id}"), None).await;
    let text = s
        .http
        .get(s.url("/metrics"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"spfhir_http_requests_total{route="/Patient/*",method="GET",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"spfhir_http_requests_total{route="/Patient",method="POST",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("spfhir_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"spfhir_store_duration_seconds_count{operation="commit"}"#),
        "{text}"
    );
    assert!(!text.contains(&id), "metrics hold no ids");
}

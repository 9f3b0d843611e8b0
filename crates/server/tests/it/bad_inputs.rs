//! A table of bad requests, each with the status and message id it must get. Every answer
//! is an OperationOutcome in FHIR JSON, never an HTML page or a bare string.

use serde_json::json;

use crate::{Reply, Server};

struct Case {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Option<String>,
    status: u16,
    id: &'static str,
}

const FHIR: &[(&str, &str)] = &[("content-type", "application/fhir+json")];

fn case(
    what: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<&str>,
    status: u16,
    id: &'static str,
) -> Case {
    Case {
        what,
        method,
        path,
        headers: FHIR,
        body: body.map(str::to_owned),
        status,
        id,
    }
}

#[tokio::test]
async fn each_bad_input_gets_its_status_and_outcome() {
    let s = Server::start(
        spfhir_server::auth::Auth::Off,
        spfhir_server::Config {
            limits: spfhir_server::Limits {
                body_bytes: 64 * 1024,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    // Something to update, delete and read.
    let made = s
        .send(
            "POST",
            "/Patient",
            Some(&crate::patient("9434765919", "Smith")),
        )
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    s.send("POST", "/Goal", Some(&json!({"resourceType": "Goal", "id": "g-gone", "lifecycleStatus": "active", "description": {"text": "x"}, "subject": {"reference": "Patient/p"}}))).await;
    let huge = format!(
        r#"{{"resourceType":"Patient","name":[{{"family":"{}"}}]}}"#,
        "x".repeat(100 * 1024)
    );
    let patient_text = crate::patient("9434765919", "Smith").to_string();
    let mut cases = vec![
        case(
            "malformed JSON",
            "POST",
            "/Patient",
            Some("{\"resourceType\": \"Patient\",}"),
            400,
            "JSON_SYNTAX",
        ),
        case(
            "not JSON at all",
            "POST",
            "/Patient",
            Some("hello"),
            400,
            "JSON_SYNTAX",
        ),
        case(
            "an empty body",
            "POST",
            "/Patient",
            Some(""),
            400,
            "JSON_SYNTAX",
        ),
        case(
            "truncated JSON",
            "POST",
            "/Patient",
            Some("{\"resourceType\": \"Pat"),
            400,
            "JSON_SYNTAX",
        ),
        case(
            "JSON but not FHIR",
            "POST",
            "/Patient",
            Some("{\"name\": \"Smith\"}"),
            400,
            "STRUCTURE_NO_RESOURCE_TYPE",
        ),
        case(
            "a JSON array",
            "POST",
            "/Patient",
            Some("[1,2]"),
            400,
            "STRUCTURE_NO_RESOURCE_TYPE",
        ),
        case(
            "the wrong resource type for the URL",
            "POST",
            "/Patient",
            Some(r#"{"resourceType":"Goal"}"#),
            400,
            "SERVER_TYPE_MISMATCH",
        ),
        case(
            "an unknown type",
            "GET",
            "/Spaceship/1",
            None,
            404,
            "SERVER_UNKNOWN_TYPE",
        ),
        case(
            "an unknown type to create",
            "POST",
            "/Spaceship",
            Some(r#"{"resourceType":"Spaceship"}"#),
            404,
            "SERVER_UNKNOWN_TYPE",
        ),
        case(
            "a type R4 has but this server does not serve",
            "GET",
            "/Observation",
            None,
            404,
            "SERVER_UNKNOWN_TYPE",
        ),
        case(
            "a resource never written",
            "GET",
            "/Patient/nobody",
            None,
            404,
            "SERVER_NOT_FOUND",
        ),
        case(
            "a version never written",
            "GET",
            "/Goal/g-gone/_history/9",
            None,
            404,
            "SERVER_NOT_FOUND",
        ),
        case(
            "a version that is not a number",
            "GET",
            "/Goal/g-gone/_history/one",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "an address that does not exist",
            "GET",
            "/Patient/1/2/3/4",
            None,
            404,
            "SERVER_NOT_FOUND",
        ),
        case(
            "PATCH",
            "PATCH",
            "/Patient/1",
            Some("{}"),
            405,
            "SERVER_METHOD",
        ),
        case(
            "DELETE on a type",
            "DELETE",
            "/Patient",
            None,
            405,
            "SERVER_METHOD",
        ),
        case(
            "GET on $validate",
            "GET",
            "/$validate",
            None,
            405,
            "SERVER_METHOD",
        ),
        case(
            "an invalid resource (reject)",
            "POST",
            "/Patient",
            Some(r#"{"resourceType":"Patient","gender":"robot"}"#),
            422,
            "BINDING_REQUIRED",
        ),
        case(
            "an unknown element",
            "POST",
            "/Patient",
            Some(r#"{"resourceType":"Patient","colour":"blue"}"#),
            422,
            "STRUCTURE_UNKNOWN_ELEMENT",
        ),
        case(
            "a duplicate key",
            "POST",
            "/Patient",
            Some(r#"{"resourceType":"Patient","gender":"female","gender":"male"}"#),
            422,
            "STRUCTURE_DUPLICATE_KEY",
        ),
        case(
            "an unsafe narrative",
            "POST",
            "/Patient",
            Some(
                r#"{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>x</script>hi</div>"}}"#,
            ),
            422,
            "XHTML_ACTIVE_CONTENT",
        ),
        case(
            "an impossible date",
            "POST",
            "/Patient",
            Some(r#"{"resourceType":"Patient","birthDate":"1948-02-30"}"#),
            422,
            "TYPE_PRIMITIVE",
        ),
        case(
            "an unknown search parameter",
            "GET",
            "/Patient?colour=blue",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "_count of zero",
            "GET",
            "/Patient?_count=0",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "_count that is not a number",
            "GET",
            "/Patient?_count=lots",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "_count too large",
            "GET",
            "/Patient?_count=100000",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "an unsupported _sort",
            "GET",
            "/Patient?_sort=family",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "a bad date",
            "GET",
            "/Patient?birthdate=1950-13-01",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "a bad date prefix",
            "GET",
            "/Patient?birthdate=xx1950",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "an unsupported modifier",
            "GET",
            "/Patient?gender:missing=true",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "a reference without a type",
            "GET",
            "/ServiceRequest?subject=123",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "an _include of nothing",
            "GET",
            "/ServiceRequest?_include=ServiceRequest:nothing",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "a forged cursor",
            "GET",
            "/Patient?_cursor=abc",
            None,
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "an update without an id in the body",
            "PUT",
            "/Patient/abc",
            Some(r#"{"resourceType":"Patient"}"#),
            400,
            "SERVER_ID_MISMATCH",
        ),
        case(
            "an update whose body names another id",
            "PUT",
            "/Patient/abc",
            Some(r#"{"resourceType":"Patient","id":"xyz"}"#),
            400,
            "SERVER_ID_MISMATCH",
        ),
        case(
            "an update to an invalid id",
            "PUT",
            "/Patient/bad_id!",
            Some(r#"{"resourceType":"Patient","id":"bad_id!"}"#),
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "a conditional update with no condition",
            "PUT",
            "/Patient",
            Some(r#"{"resourceType":"Patient"}"#),
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "a Bundle that is not a transaction",
            "POST",
            "/",
            Some(r#"{"resourceType":"Bundle","type":"collection"}"#),
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "POST / with a Patient",
            "POST",
            "/",
            Some(r#"{"resourceType":"Patient"}"#),
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "a transaction entry without a request",
            "POST",
            "/",
            Some(
                r#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"}}]}"#,
            ),
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "a transaction entry with a bad method",
            "POST",
            "/",
            Some(
                r#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"PATCH","url":"Patient"}}]}"#,
            ),
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "a transaction on an unserved type",
            "POST",
            "/",
            Some(
                r#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Observation"},"request":{"method":"POST","url":"Observation"}}]}"#,
            ),
            404,
            "SERVER_UNKNOWN_TYPE",
        ),
        case(
            "a dangling urn:uuid in a transaction",
            "POST",
            "/",
            Some(
                r#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"x"},"subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"}},"request":{"method":"POST","url":"Goal"}}]}"#,
            ),
            400,
            "SERVER_REFERENCE_UNRESOLVED",
        ),
        case(
            "$process-message with a Patient",
            "POST",
            "/$process-message",
            Some(r#"{"resourceType":"Patient"}"#),
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "$process-message without a MessageHeader",
            "POST",
            "/$process-message",
            Some(
                r#"{"resourceType":"Bundle","type":"message","entry":[{"resource":{"resourceType":"Patient"}}]}"#,
            ),
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "$validate with a bad mode",
            "POST",
            "/$validate?mode=sideways",
            Some(&patient_text),
            400,
            "SERVER_BAD_REQUEST",
        ),
        case(
            "$validate with a Parameters lacking a resource",
            "POST",
            "/$validate",
            Some(
                r#"{"resourceType":"Parameters","parameter":[{"name":"profile","valueUri":"x"}]}"#,
            ),
            400,
            "SERVER_BAD_REQUEST",
        ),
        Case {
            what: "an oversized body",
            method: "POST",
            path: "/Patient",
            headers: FHIR,
            body: Some(huge),
            status: 413,
            id: "SERVER_TOO_LARGE",
        },
        Case {
            what: "XML",
            method: "POST",
            path: "/Patient",
            headers: &[("content-type", "application/fhir+xml")],
            body: Some("<Patient/>".into()),
            status: 415,
            id: "SERVER_MEDIA_TYPE",
        },
        Case {
            what: "no content type",
            method: "POST",
            path: "/Patient",
            headers: &[],
            body: Some(patient_text.clone()),
            status: 415,
            id: "SERVER_MEDIA_TYPE",
        },
        Case {
            what: "text/plain",
            method: "POST",
            path: "/Patient",
            headers: &[("content-type", "text/plain")],
            body: Some(patient_text.clone()),
            status: 415,
            id: "SERVER_MEDIA_TYPE",
        },
        Case {
            what: "asking for XML",
            method: "GET",
            path: "/metadata",
            headers: &[("accept", "application/fhir+xml")],
            body: None,
            status: 406,
            id: "SERVER_NOT_ACCEPTABLE",
        },
        Case {
            what: "_format=xml",
            method: "GET",
            path: "/metadata?_format=xml",
            headers: &[],
            body: None,
            status: 406,
            id: "SERVER_NOT_ACCEPTABLE",
        },
        Case {
            what: "a stale If-Match",
            method: "PUT",
            path: "",
            headers: &[
                ("content-type", "application/fhir+json"),
                ("if-match", "W/\"7\""),
            ],
            body: None,
            status: 412,
            id: "SERVER_PRECONDITION",
        },
        Case {
            what: "an If-Match that is not an ETag",
            method: "PUT",
            path: "",
            headers: &[
                ("content-type", "application/fhir+json"),
                ("if-match", "yesterday"),
            ],
            body: None,
            status: 400,
            id: "SERVER_BAD_REQUEST",
        },
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let update_path: &'static str = Box::leak(format!("/Patient/{id}").into_boxed_str());
    let update_body = json!({"resourceType": "Patient", "id": id}).to_string();
    for c in &mut cases {
        if c.path.is_empty() {
            c.path = update_path;
            c.body = Some(update_body.clone());
        }
    }
    let mut failures = Vec::new();
    for c in &cases {
        let mut req = s.http.request(c.method.parse().unwrap(), s.url(c.path));
        for (k, v) in c.headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = &c.body {
            req = req.body(b.clone());
        }
        let r = Reply::of(req.send().await.unwrap()).await;
        let ok = r.status == c.status
            && r.ids().iter().any(|i| i == c.id)
            && r.header("content-type")
                .starts_with("application/fhir+json")
            && r.body["resourceType"] == "OperationOutcome";
        if !ok {
            failures.push(format!(
                "{}: {} {} → {} {:?} {}",
                c.what,
                c.method,
                c.path,
                r.status,
                r.ids(),
                r.body
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

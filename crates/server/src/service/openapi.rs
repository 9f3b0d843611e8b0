//! `GET /openapi.json`: an OpenAPI 3.1 description of every route, the FHIR ones and the
//! non-FHIR parts (`$translate`'s domain records, with their schemas from schemars).

use serde_json::{Value, json};
use spfhir_domain::RecordKind;

use super::Service;
use crate::SERVED_TYPES;

/// Every route: (path, method, summary, needs a token).
pub const ROUTES: &[(&str, &str, &str, bool)] = &[
    ("/", "get", "The validator web page", false),
    ("/", "post", "A transaction or batch Bundle", true),
    ("/metadata", "get", "The CapabilityStatement", false),
    ("/healthz", "get", "The process is up", false),
    ("/readyz", "get", "The store answers", false),
    ("/openapi.json", "get", "This description", false),
    ("/metrics", "get", "Prometheus metrics", false),
    (
        "/token",
        "post",
        "SMART Backend Services: a signed client assertion for an access token",
        false,
    ),
    (
        "/.well-known/smart-configuration",
        "get",
        "SMART discovery: the token endpoint and what it accepts",
        false,
    ),
    (
        "/$validate",
        "post",
        "Validate a resource (bare or in a Parameters)",
        false,
    ),
    (
        "/$process-message",
        "post",
        "Process a BaRS message Bundle",
        true,
    ),
    (
        "/$translate",
        "post",
        "Translate a domain record to FHIR, or FHIR to a domain record",
        false,
    ),
    ("/{type}", "get", "Search", true),
    (
        "/{type}",
        "post",
        "Create (If-None-Exist for a conditional create)",
        true,
    ),
    ("/{type}", "put", "Conditional update", true),
    ("/{type}/_search", "post", "Search", true),
    ("/{type}/_history", "get", "The type's history", true),
    (
        "/{type}/$validate",
        "post",
        "Validate a resource of this type",
        false,
    ),
    ("/{type}/{id}", "get", "Read", true),
    (
        "/{type}/{id}",
        "put",
        "Update (If-Match for a versioned update)",
        true,
    ),
    ("/{type}/{id}", "delete", "Delete", true),
    (
        "/{type}/{id}/$validate",
        "post",
        "Validate a resource as an update of this one",
        false,
    ),
    (
        "/{type}/{id}/_history",
        "get",
        "The resource's history",
        true,
    ),
    ("/{type}/{id}/_history/{vid}", "get", "Read a version", true),
];

/// The record kinds' schemas, their `$defs` hoisted into `components.schemas`.
fn domain_schemas(schemas: &mut serde_json::Map<String, Value>) {
    for (name, kind) in [
        ("Referral", RecordKind::Referral),
        ("CarePlan", RecordKind::Careplan),
        ("OutcomeResponse", RecordKind::Outcome),
    ] {
        let text = spfhir_domain::schema_json(kind).replace("#/$defs/", "#/components/schemas/");
        let Ok(Value::Object(mut schema)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let Some(Value::Object(defs)) = schema.remove("$defs") {
            schemas.extend(defs);
        }
        schema.remove("$schema");
        schemas.insert(name.to_owned(), Value::Object(schema));
    }
}

impl Service {
    pub fn openapi(&self, base: &str) -> Value {
        let fhir = json!({"application/fhir+json": {"schema": {"$ref": "#/components/schemas/FhirResource"}}});
        let outcome = json!({"description": "An OperationOutcome saying why", "content": {"application/fhir+json": {"schema": {"$ref": "#/components/schemas/FhirResource"}}}});
        let mut paths = serde_json::Map::new();
        // The token endpoint is described only where there is one.
        let own_tokens = matches!(self.auth, crate::auth::Auth::Smart { .. });
        for (path, method, summary, secured) in ROUTES {
            if !own_tokens && matches!(*path, "/token" | "/.well-known/smart-configuration") {
                continue;
            }
            let mut op = json!({
                "summary": summary,
                "responses": {"200": {"description": "Success", "content": fhir.clone()}, "4XX": outcome.clone(), "5XX": outcome.clone()}
            });
            let mut params = Vec::new();
            for (name, what) in [
                ("type", "A served resource type"),
                ("id", "The resource id"),
                ("vid", "The version"),
            ] {
                if path.contains(&format!("{{{name}}}")) {
                    let mut p = json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}, "description": what});
                    if name == "type" {
                        // The audit log (AuditEvent) is read and searched, never written
                        // or listed by history.
                        let writes = (*method != "get" && !path.contains('$'))
                            || path.ends_with("/_history");
                        let types: Vec<&str> = SERVED_TYPES
                            .iter()
                            .copied()
                            .filter(|t| !writes || crate::is_stored(t))
                            .collect();
                        p["schema"]["enum"] = json!(types);
                    }
                    params.push(p);
                }
            }
            if *path == "/token" {
                op["requestBody"] = json!({"required": true, "content": {
                    "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/TokenRequest"}}
                }});
                op["responses"] = json!({
                    "200": {"description": "An access token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Granted"}}}},
                    "4XX": {"description": "Refused (RFC 6749)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenError"}}}}
                });
            } else if *path == "/.well-known/smart-configuration" {
                op["responses"] = json!({"200": {"description": "SMART configuration", "content": {"application/json": {"schema": {"type": "object"}}}}, "4XX": outcome.clone()});
            } else if *path == "/$translate" {
                params.push(json!({"name": "kind", "in": "query", "required": true, "schema": {"enum": ["referral", "careplan", "outcome"]}}));
                params.push(json!({"name": "to", "in": "query", "required": true, "schema": {"enum": ["fhir", "domain"]}}));
                params.push(json!({"name": "bundle", "in": "query", "schema": {"enum": ["message", "transaction"]}}));
                op["requestBody"] = json!({"required": true, "content": {
                    "application/json": {"schema": {"oneOf": [
                        {"$ref": "#/components/schemas/Referral"},
                        {"$ref": "#/components/schemas/CarePlan"},
                        {"$ref": "#/components/schemas/OutcomeResponse"},
                        {"$ref": "#/components/schemas/FhirResource"}
                    ]}}
                }});
            } else if path.ends_with("$validate") {
                // FHIR XML in as well (the answer is JSON).
                op["requestBody"] = json!({"required": true, "content": {
                    "application/fhir+json": {"schema": {"$ref": "#/components/schemas/FhirResource"}},
                    "application/fhir+xml": {"schema": {"type": "string"}}
                }});
            } else if *method == "post" || *method == "put" {
                op["requestBody"] = json!({"required": true, "content": fhir.clone()});
            }
            if !params.is_empty() {
                op["parameters"] = Value::Array(params);
            }
            if *secured {
                op["security"] = json!([{"bearer": []}]);
            }
            paths.entry(path.to_string()).or_insert_with(|| json!({}))[*method] = op;
        }
        let mut schemas = serde_json::Map::new();
        schemas.insert(
            "FhirResource".into(),
            json!({"type": "object", "description": "A FHIR R4 resource (JSON)", "required": ["resourceType"], "properties": {"resourceType": {"type": "string"}}}),
        );
        domain_schemas(&mut schemas);
        for (name, schema) in [
            (
                "TokenRequest",
                schemars::schema_for!(crate::token::TokenRequest),
            ),
            ("Granted", schemars::schema_for!(crate::token::Granted)),
            (
                "TokenError",
                schemars::schema_for!(crate::token::TokenError),
            ),
        ] {
            let mut v = serde_json::to_value(schema).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.remove("$schema");
            }
            schemas.insert(name.into(), v);
        }
        json!({
            "openapi": "3.1.0",
            "info": {"title": "spfhir", "version": env!("CARGO_PKG_VERSION"), "description": "FHIR R4 REST API for social prescribing: validation, BaRS messaging, storage and translation."},
            "servers": [{"url": base}],
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A JWT with SMART system scopes (system/ServiceRequest.write, system/*.read, system/Patient.cruds)"}}
            }
        })
    }
}

//! `GET /metadata`: the CapabilityStatement, generated from what is served (the types, the
//! interactions the router routes, the search parameters the store indexes, the operations),
//! so it cannot drift from the server.

use spfhir_element::Json;

use super::Service;
use crate::SERVED_TYPES;

/// The interactions routed for every served type.
pub const TYPE_INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// The interactions of the audit log (AuditEvent), which only the server writes.
pub const AUDIT_INTERACTIONS: &[&str] = &["read", "vread", "search-type"];

/// The operations served, with the definitions they implement.
pub const OPERATIONS: &[(&str, &str)] = &[
    (
        "validate",
        "http://hl7.org/fhir/OperationDefinition/Resource-validate",
    ),
    (
        "process-message",
        "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
    ),
];

impl Service {
    /// `rest.security`: SMART-on-FHIR, and the token endpoint when spfhir is its own.
    fn security(&self, base: &str) -> Json {
        let mut security = Json::obj()
            .with(
                "service",
                Json::arr().item(Json::obj().with(
                    "coding",
                    Json::arr().item(
                        Json::obj()
                            .with("system", "http://terminology.hl7.org/CodeSystem/restful-security-service")
                            .with("code", "SMART-on-FHIR"),
                    ),
                )),
            )
            .with("description", "Bearer JWTs with SMART system scopes; $validate and /metadata need none.");
        if matches!(self.auth, crate::auth::Auth::Smart { .. }) {
            security = security.with(
                "extension",
                Json::arr().item(
                    Json::obj()
                        .with(
                            "url",
                            "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                        )
                        .with(
                            "extension",
                            Json::arr().item(
                                Json::obj()
                                    .with("url", "token")
                                    .with("valueUri", format!("{base}/token").as_str()),
                            ),
                        ),
                ),
            );
        }
        security
    }

    pub fn capability_statement(&self, base: &str) -> String {
        let mut resources = Json::arr();
        for ty in SERVED_TYPES {
            if *ty == crate::AUDIT_TYPE {
                resources = resources.item(audit_resource());
                continue;
            }
            let mut interactions = Json::arr();
            for i in TYPE_INTERACTIONS {
                interactions = interactions.item(Json::obj().with("code", *i));
            }
            let mut params = Json::arr();
            for p in self.search.of(ty) {
                params = params.item(
                    Json::obj()
                        .with("name", p.code.as_str())
                        .with("definition", p.url.as_str())
                        .with("type", p.kind.as_str()),
                );
            }
            let mut includes = Json::arr();
            let mut revincludes = Json::arr();
            for p in self
                .search
                .of(ty)
                .filter(|p| p.kind == crate::search::Kind::Reference)
            {
                includes = includes.item(format!("{ty}:{}", p.code).as_str());
            }
            for other in SERVED_TYPES {
                for p in self.search.of(other).filter(|p| {
                    p.kind == crate::search::Kind::Reference && p.targets.iter().any(|t| t == ty)
                }) {
                    revincludes = revincludes.item(format!("{other}:{}", p.code).as_str());
                }
            }
            resources = resources.item(
                Json::obj()
                    .with("type", *ty)
                    .with_list(
                        "interaction",
                        interactions.as_array().unwrap_or(&[]).to_vec(),
                    )
                    .with("versioning", "versioned-update")
                    .with("readHistory", true)
                    .with("updateCreate", true)
                    .with("conditionalCreate", true)
                    .with("conditionalUpdate", true)
                    .with("conditionalDelete", "not-supported")
                    .with_list("searchInclude", includes.as_array().unwrap_or(&[]).to_vec())
                    .with_list(
                        "searchRevInclude",
                        revincludes.as_array().unwrap_or(&[]).to_vec(),
                    )
                    .with_list("searchParam", params.as_array().unwrap_or(&[]).to_vec())
                    .with(
                        "operation",
                        Json::arr().item(
                            Json::obj()
                                .with("name", "validate")
                                .with("definition", OPERATIONS[0].1),
                        ),
                    ),
            );
        }
        let mut ops = Json::arr();
        for (name, def) in OPERATIONS {
            ops = ops.item(Json::obj().with("name", *name).with("definition", *def));
        }
        let cs = Json::obj()
            .with("resourceType", "CapabilityStatement")
            .with("status", "active")
            .with(
                "date",
                crate::dates::instant(crate::dates::now_micros())
                    .get(..10)
                    .unwrap_or("2026-01-01"),
            )
            .with("kind", "instance")
            .with(
                "software",
                Json::obj()
                    .with("name", "spfhir")
                    .with("version", env!("CARGO_PKG_VERSION")),
            )
            .with(
                "implementation",
                Json::obj()
                    .with("description", "spfhir FHIR R4 server")
                    .with("url", base),
            )
            .with("fhirVersion", "4.0.1")
            .with(
                "format",
                Json::arr().item("application/fhir+json").item("json"),
            )
            .with(
                "rest",
                Json::arr().item(
                    Json::obj()
                        .with("mode", "server")
                        .with("security", self.security(base))
                        .with("resource", resources)
                        .with(
                            "interaction",
                            Json::arr()
                                .item(Json::obj().with("code", "transaction"))
                                .item(Json::obj().with("code", "batch")),
                        )
                        .with("operation", ops),
                ),
            );
        let mut out = String::new();
        spfhir_element::write_compact(&cs, &mut out);
        out
    }
}

/// The audit log's entry: read, vread and search by the parameters its columns answer.
fn audit_resource() -> Json {
    let mut interactions = Json::arr();
    for i in AUDIT_INTERACTIONS {
        interactions = interactions.item(Json::obj().with("code", *i));
    }
    let mut params = Json::arr();
    for (code, kind, doc) in crate::audit::PARAMS {
        let definition = match code.strip_prefix('_') {
            Some(rest) => format!("http://hl7.org/fhir/SearchParameter/Resource-{rest}"),
            None => format!("http://hl7.org/fhir/SearchParameter/AuditEvent-{code}"),
        };
        params = params.item(
            Json::obj()
                .with("name", *code)
                .with("definition", definition.as_str())
                .with("type", *kind)
                .with("documentation", *doc),
        );
    }
    Json::obj()
        .with("type", crate::AUDIT_TYPE)
        .with(
            "documentation",
            "One for every read and write of a resource, recorded by this server; clients read and search them.",
        )
        .with_list(
            "interaction",
            interactions.as_array().unwrap_or(&[]).to_vec(),
        )
        .with("versioning", "versioned")
        .with("readHistory", false)
        .with("updateCreate", false)
        .with("conditionalCreate", false)
        .with("conditionalUpdate", false)
        .with("conditionalDelete", "not-supported")
        .with_list("searchParam", params.as_array().unwrap_or(&[]).to_vec())
}

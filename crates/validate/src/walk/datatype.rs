//! Rules of particular datatypes that R4 states beyond their structure: URIs that must be
//! absolute where they stand (an Identifier's `system`, and its `value` under
//! `urn:ietf:rfc:3986`; a canonical resource's own `url`), canonicals that name a resource
//! of an allowed type, and an Attachment's `size` agreeing with its `data`.

use super::*;
use crate::primitive::is_absolute_uri;
use crate::profile::Node;
use base64::Engine;

/// The R4 resource types whose `url` is their canonical URL ("An absolute URI that is used
/// to identify this …" in each definition; MessageDefinition's says "business identifier",
/// but `MessageHeader.definition` refers to it by canonical all the same). Sorted.
const CANONICAL_URL: &[&str] = &[
    "ActivityDefinition.url",
    "CapabilityStatement.url",
    "ChargeItemDefinition.url",
    "CodeSystem.url",
    "CompartmentDefinition.url",
    "ConceptMap.url",
    "EffectEvidenceSynthesis.url",
    "EventDefinition.url",
    "Evidence.url",
    "EvidenceVariable.url",
    "ExampleScenario.url",
    "GraphDefinition.url",
    "ImplementationGuide.url",
    "Library.url",
    "Measure.url",
    "MessageDefinition.url",
    "OperationDefinition.url",
    "PlanDefinition.url",
    "Questionnaire.url",
    "ResearchDefinition.url",
    "ResearchElementDefinition.url",
    "RiskEvidenceSynthesis.url",
    "SearchParameter.url",
    "StructureDefinition.url",
    "StructureMap.url",
    "TerminologyCapabilities.url",
    "TestScript.url",
    "ValueSet.url",
];

impl<'a> Walk<'a> {
    /// R4 Identifier: `system` is the namespace's URI, so a local name (`nhs-number`) names
    /// nothing; and "if the value is a full URI, then the system SHALL be
    /// urn:ietf:rfc:3986", which works both ways: under that system the value is a URI.
    pub(super) fn identifier(&mut self, at: &str, v: &Json) {
        let Some(system) = v.get_str("system") else {
            return;
        };
        if !is_absolute_uri(system) {
            self.error(
                msg::IDENTIFIER_SYSTEM_RELATIVE,
                &format!("{at}.system"),
                v.get("system").unwrap_or(v),
                format!("{at}.system must be an absolute URI naming the identifier's namespace, not a local name"),
            );
        } else if system == "urn:ietf:rfc:3986"
            && let Some(value) = v.get_str("value")
            && !is_absolute_uri(value)
        {
            self.error(
                msg::IDENTIFIER_VALUE_NOT_URI,
                &format!("{at}.value"),
                v.get("value").unwrap_or(v),
                format!(
                    "{at}.value must be an absolute URI, since its system is urn:ietf:rfc:3986"
                ),
            );
        }
    }

    /// A canonical resource's `url` (`CodeSystem.url`, `Questionnaire.url`, …) is the
    /// absolute URI every canonical reference to it uses; a relative one cannot be referred
    /// to. `base_path` is the element's path in the base resource.
    pub(super) fn canonical_url(&mut self, base_path: &str, at: &str, v: &Json) {
        // Every uri value comes here (each Coding's system): the path test is a
        // binary search, and only for a resource's own `url`.
        let b = base_path.as_bytes();
        if b.len() > 4
            && b[b.len() - 4..] == *b".url"
            && CANONICAL_URL.binary_search(&base_path).is_ok()
            && let Some(url) = v.as_str()
            && !is_absolute_uri(url)
        {
            self.error(
                msg::URL_NOT_ABSOLUTE,
                at,
                v,
                format!("{at} must be an absolute URI: it is this resource's canonical URL"),
            );
        }
    }

    /// A `system` (of a Coding, an Identifier, a Quantity, a ValueSet's include…) in HL7's
    /// namespaces names something loaded: HL7 publishes every code system, value set and
    /// naming system under `http://hl7.org/fhir/` and `http://terminology.hl7.org/`, so one
    /// that is not known is a slip (`…/CodeSystem/v2-0203x`, `https://` for `http://`) or from
    /// a package that is not loaded, and its codes cannot be checked. The reference validator
    /// reports these as errors too ("URL value … does not resolve").
    pub(super) fn system_uri(&mut self, base_path: &str, at: &str, v: &Json) {
        if !base_path.ends_with(".system") {
            return;
        }
        let Some(uri) = v.as_str() else { return };
        let hl7 = |rest: &str| {
            rest.starts_with("hl7.org/fhir/") || rest.starts_with("terminology.hl7.org/")
        };
        if uri
            .strip_prefix("http://")
            .or_else(|| uri.strip_prefix("https://"))
            .is_some_and(hl7)
            && !self.v.registry().knows_uri(uri)
        {
            self.error(
                msg::SYSTEM_UNKNOWN,
                at,
                v,
                format!("{at} is {uri}, in HL7's namespace, but no loaded code system, value set or naming system has that URL: check its spelling, or load the package that defines it"),
            );
        }
    }

    /// A canonical that names a loaded resource names one of the types its element allows
    /// (`meta.profile` a StructureDefinition, `answerValueSet` a ValueSet, …). One not
    /// loaded is not checked.
    pub(super) fn canonical_target(&mut self, p: &Arc<Profile>, n: &Node, at: &str, v: &Json) {
        let Some(url) = v.as_str() else { return };
        // `meta.profile` is looked up when the walk applies the profile, and a URL naming
        // something else is reported there; the questionnaire has its own message.
        if url.starts_with('#')
            || n.base_path == "Meta.profile"
            || n.base_path == "QuestionnaireResponse.questionnaire"
        {
            return;
        }
        let Some(found) = self.v.registry().entry(url) else {
            return;
        };
        let t = found.resource_type.as_str();
        let mut allowed = self.target_types(n, "canonical").peekable();
        if allowed.peek().is_none() {
            return;
        }
        let allowed: Vec<&str> = allowed.collect();
        if allowed.iter().any(|a| {
            *a == t
                || matches!(
                    *a,
                    "?" | "Resource" | "DomainResource" | "MetadataResource" | "CanonicalResource"
                )
        }) {
            return;
        }
        self.error_in(
            p,
            msg::CANONICAL_TARGET_TYPE,
            at,
            v,
            format!(
                "{at} names a {t}, but only {} may be named here",
                allowed.join(", ")
            ),
        );
    }

    /// R4 Attachment: `size` is "the number of bytes of data that make up this attachment
    /// (before base64 encoding, if that is done)", so with `data` present the two agree.
    /// (An answer's attachment has QR_ATTACHMENT_DATA, which checks its `hash` as well.)
    pub(super) fn attachment(&mut self, at: &str, v: &Json) {
        let (Some(data), Some(size)) = (v.get_str("data"), v.get("size").and_then(Json::as_i64))
        else {
            return;
        };
        let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact) else {
            return; // not base64: TYPE_PRIMITIVE says so
        };
        if size != bytes.len() as i64 {
            self.error(
                msg::ATTACHMENT_SIZE,
                &format!("{at}.size"),
                v.get("size").unwrap_or(v),
                format!(
                    "{at}.size is {size} bytes, but its data decodes to {} bytes",
                    bytes.len()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn canonical_url_paths_are_sorted_for_binary_search() {
        assert!(super::CANONICAL_URL.windows(2).all(|w| w[0] < w[1]));
    }
}

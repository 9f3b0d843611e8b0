//! The SDC rules a Questionnaire item's extensions add to its answers: how many times an
//! item may occur (`minOccurs`, `maxOccurs`), decimal places, attachments (`mimeType`,
//! `maxSize`, and `size`/`hash` agreeing with `data`), exclusive answer options,
//! `referenceResource` target types, and quantity units (`unitOption`, `unit`,
//! `unitValueSet`).

use base64::Engine;
use sha1::Digest;
use spfhir_element::msg;

use crate::issue::Issue;
use crate::json::Json;
use crate::terminology::Membership;

use super::{Check, answers, extension, same_answer, value_x};

const EXT_MIN_OCCURS: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-minOccurs";
const EXT_MAX_OCCURS: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs";
const EXT_MAX_DECIMALS: &str = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces";
const EXT_MIME_TYPE: &str = "http://hl7.org/fhir/StructureDefinition/mimeType";
const EXT_MAX_SIZE: &str = "http://hl7.org/fhir/StructureDefinition/maxSize";
const EXT_EXCLUSIVE: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-optionExclusive";
const EXT_REFERENCE_RESOURCE: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource";
const EXT_UNIT_OPTION: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption";
const EXT_UNIT: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit";
const EXT_UNIT_VALUE_SET: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-unitValueSet";

/// Every value of a repeating extension on `item`.
fn extensions<'j>(item: &'j Json, url: &'j str) -> impl Iterator<Item = &'j Json> {
    item.get("extension")
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .filter(move |e| e.get_str("url") == Some(url))
}

fn integer(item: &Json, url: &str) -> Option<i64> {
    extension(item, url)?.get("valueInteger")?.as_i64()
}

impl<'a> Check<'_, 'a> {
    /// `minOccurs`/`maxOccurs` of item `q`: for a group the times it appears at this level
    /// (`appears`), for a question its answers across those items. The minimum is checked
    /// in a completed response once the item is there at all (an absent item is
    /// `required`'s business); the maximum always.
    pub(super) fn occurs(&mut self, q: &Json, r_items: &'a [Json], parent: &'a Json, at: &str) {
        let (min, max) = (integer(q, EXT_MIN_OCCURS), integer(q, EXT_MAX_OCCURS));
        if min.is_none() && max.is_none() {
            return;
        }
        let link = q.get_str("linkId");
        let present = r_items.iter().filter(|r| r.get_str("linkId") == link);
        let (count, has, what) = if q.get_str("type") == Some("group") {
            (present.count() as i64, "appears", "times")
        } else {
            let n = present.map(|r| answers(r).len()).sum::<usize>();
            (n as i64, "has", "answers")
        };
        let problem = match (min, max) {
            (Some(m), _) if self.complete && count > 0 && count < m => {
                Some(format!("at least {m} are required"))
            }
            (_, Some(m)) if count > m => Some(format!("at most {m} are allowed")),
            _ => None,
        };
        let what = if count == 1 {
            what.trim_end_matches('s')
        } else {
            what
        };
        if let Some(rule) = problem {
            self.push(
                Issue::error(
                    msg::QR_ITEM_OCCURS,
                    format!("item {} {has} {count} {what}, but {rule}", self.label(q)),
                )
                .at(at)
                .at_node(parent),
            );
        }
    }

    /// An answer option marked exclusive must be the item's only answer.
    pub(super) fn exclusive(&mut self, q: &Json, r: &'a Json, at: &str) {
        let given = answers(r);
        if given.len() < 2 {
            return;
        }
        let exclusive = q
            .get("answerOption")
            .and_then(Json::as_array)
            .unwrap_or(&[])
            .iter()
            .filter(|o| {
                extension(o, EXT_EXCLUSIVE)
                    .and_then(|e| e.get("valueBoolean"))
                    .and_then(Json::as_bool)
                    == Some(true)
            })
            .filter_map(|o| value_x(o, "value"));
        for (ot, ov) in exclusive {
            if let Some(j) = given.iter().position(|a| {
                value_x(a, "value").is_some_and(|(vt, v)| vt == ot && same_answer(vt, ov, v))
            }) {
                self.push(
                    Issue::error(
                        msg::QR_ANSWER_EXCLUSIVE,
                        format!(
                            "item {} has {} answers, but answer {} is an exclusive option, which must be the only answer",
                            self.label(q),
                            given.len(),
                            j + 1
                        ),
                    )
                    .at(format!("{at}.answer[{j}]"))
                    .at_node(&given[j]),
                );
            }
        }
    }

    /// The rules one answer value of type `vt` meets by its item's extensions.
    pub(super) fn sdc_answer(&mut self, q: &Json, vt: &str, v: &'a Json, at: &str) {
        match vt {
            "Decimal" => self.decimals(q, v, at),
            "Attachment" => self.attachment(q, v, at),
            "Reference" => self.reference_type(q, v, at),
            "Quantity" => self.unit(q, v, at),
            _ => {}
        }
    }

    fn decimals(&mut self, q: &Json, v: &'a Json, at: &str) {
        let (Some(max), Some(text)) = (integer(q, EXT_MAX_DECIMALS), v.as_number_text()) else {
            return;
        };
        if text.contains(['e', 'E']) {
            return; // exponent form: its places are not the written ones
        }
        let places = text.split_once('.').map_or(0, |(_, f)| f.len()) as i64;
        if places > max {
            self.push(
                Issue::error(
                    msg::QR_ANSWER_DECIMALS,
                    format!(
                        "the answer to item {} has {places} decimal places; at most {max} are allowed",
                        self.label(q)
                    ),
                )
                .at(at)
                .at_node(v),
            );
        }
    }

    fn attachment(&mut self, q: &Json, v: &'a Json, at: &str) {
        let types: Vec<&str> = extensions(q, EXT_MIME_TYPE)
            .filter_map(|e| e.get_str("valueCode"))
            .collect();
        let content_type = v.get_str("contentType");
        let media = |t: &str| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        };
        if !types.is_empty()
            && !content_type.is_some_and(|c| types.iter().any(|t| media(t) == media(c)))
        {
            self.push(
                Issue::error(
                    msg::QR_ATTACHMENT_TYPE,
                    format!(
                        "the attachment answering item {} {}; the item takes only {}",
                        self.label(q),
                        if content_type.is_some() {
                            "is of another type"
                        } else {
                            "states no contentType"
                        },
                        types.join(", ")
                    ),
                )
                .at(format!("{at}.contentType"))
                .at_node(v.get("contentType").unwrap_or(v)),
            );
        }
        let data = v.get_str("data").and_then(|d| {
            base64::engine::general_purpose::STANDARD
                .decode(d.trim())
                .ok()
        });
        let stated = v.get("size").and_then(Json::as_i64);
        if let Some(bytes) = &data {
            if let Some(size) = stated.filter(|&s| s != bytes.len() as i64) {
                self.push(
                    Issue::error(
                        msg::QR_ATTACHMENT_DATA,
                        format!(
                            "the attachment's size is given as {size} bytes, but its data has {}",
                            bytes.len()
                        ),
                    )
                    .at(format!("{at}.size"))
                    .at_node(v.get("size").unwrap_or(v)),
                );
            }
            if let Some(hash) = v.get_str("hash") {
                let digest = sha1::Sha1::digest(bytes);
                let want = base64::engine::general_purpose::STANDARD.encode(digest);
                if hash.trim() != want {
                    self.push(
                        Issue::error(
                            msg::QR_ATTACHMENT_DATA,
                            "the attachment's hash is not the SHA-1 of its data (base64)",
                        )
                        .at(format!("{at}.hash"))
                        .at_node(v.get("hash").unwrap_or(v)),
                    );
                }
            }
        }
        let max = extension(q, EXT_MAX_SIZE)
            .and_then(|e| e.get("valueDecimal"))
            .and_then(Json::as_number_text)
            .and_then(|n| n.parse::<f64>().ok());
        let size = data.as_ref().map(|d| d.len() as i64).or(stated);
        if let (Some(max), Some(size)) = (max, size)
            && size as f64 > max
        {
            self.push(
                Issue::error(
                    msg::QR_ATTACHMENT_SIZE,
                    format!(
                        "the attachment answering item {} has {size} bytes; at most {max} are allowed",
                        self.label(q)
                    ),
                )
                .at(at)
                .at_node(v),
            );
        }
    }

    fn reference_type(&mut self, q: &Json, v: &'a Json, at: &str) {
        let allowed: Vec<&str> = extensions(q, EXT_REFERENCE_RESOURCE)
            .filter_map(|e| e.get_str("valueCode"))
            .collect();
        if allowed.is_empty() || allowed.contains(&"Resource") {
            return;
        }
        // The target's type: `type`, else the reference's `Type/id` (absolute or relative;
        // a contained `#id` or a `urn:` reference does not say).
        let from_reference = v.get_str("reference").and_then(|r| {
            let r = r
                .split(['?', '#'])
                .next()
                .filter(|p| !p.is_empty() && !r.starts_with("urn:"))?;
            let mut parts = r.rsplit('/');
            let (_id, ty) = (parts.next()?, parts.next()?);
            let ty = if ty == "_history" { parts.nth(1)? } else { ty };
            ty.starts_with(|c: char| c.is_ascii_uppercase())
                .then_some(ty)
        });
        let Some(ty) = v.get_str("type").or(from_reference) else {
            return;
        };
        if !allowed.contains(&ty) {
            self.push(
                Issue::error(
                    msg::QR_REFERENCE_TYPE,
                    format!(
                        "the answer to item {} refers to {ty}; the item takes a reference to {}",
                        self.label(q),
                        allowed.join(" or ")
                    ),
                )
                .at(at)
                .at_node(v),
            );
        }
    }

    fn unit(&mut self, q: &Json, v: &'a Json, at: &str) {
        let options: Vec<&Json> = extensions(q, EXT_UNIT_OPTION)
            .chain(extensions(q, EXT_UNIT))
            .filter_map(|e| e.get("valueCoding"))
            .collect();
        let (system, code) = (v.get_str("system"), v.get_str("code"));
        if !options.is_empty() {
            let fits = options.iter().any(|o| {
                o.get_str("code") == code
                    && code.is_some()
                    && match (o.get_str("system"), system) {
                        (Some(a), Some(b)) => a == b,
                        (Some(_), None) => false,
                        (None, _) => true,
                    }
            });
            if !fits {
                let listed: Vec<&str> = options.iter().filter_map(|o| o.get_str("code")).collect();
                self.push(
                    Issue::error(
                        msg::QR_ANSWER_UNIT,
                        format!(
                            "the answer to item {} is not in one of the item's units ({})",
                            self.label(q),
                            listed.join(", ")
                        ),
                    )
                    .at(at)
                    .at_node(v),
                );
            }
        }
        let Some(vs) = extension(q, EXT_UNIT_VALUE_SET).and_then(|e| e.get_str("valueCanonical"))
        else {
            return;
        };
        let Some(code) = code else {
            self.push(
                Issue::error(
                    msg::QR_ANSWER_UNIT,
                    format!(
                        "the answer to item {} has no coded unit; the item takes a unit from {vs}",
                        self.label(q)
                    ),
                )
                .at(at)
                .at_node(v),
            );
            return;
        };
        match self.w.v.terminology().member(vs, system, code) {
            Membership::Member => {}
            Membership::Unknown(why) => self.w.unchecked(at, v, vs, &why),
            Membership::NotMember => self.push(
                Issue::error(
                    msg::QR_ANSWER_UNIT,
                    format!(
                        "the answer to item {} is in a unit that is not in its unit value set {vs}",
                        self.label(q)
                    ),
                )
                .at(at)
                .at_node(v),
            ),
        }
    }
}

//! The message catalogue: every diagnostic id spfhir can emit, with the FHIR IssueType code
//! it always carries. `conformance/messages.md` describes each; a test keeps the two in step
//! (none missing, none stale). Ids never change meaning; new ones are added at the end of
//! their group.

use crate::issue::IssueType;

/// A message id and its IssueType code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Msg {
    pub id: &'static str,
    pub code: IssueType,
}

macro_rules! catalogue {
    ($($name:ident: $code:ident),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "` (", stringify!($code), ").")]
            pub const $name: Msg = Msg { id: stringify!($name), code: IssueType::$code };
        )*
        /// Every message, in catalogue order.
        pub const ALL: &[Msg] = &[$($name),*];
    };
}

catalogue! {
    JSON_SYNTAX: Structure,
    INTERNAL_ERROR: Exception,
    DOMAIN_INVALID: Structure,
    TRANSLATE_NO_SOURCE_ENDPOINT: Required,
    TRANSLATE_NO_DESTINATION: Required,
    TRANSLATE_UNKNOWN_GOAL: Value,
    TRANSLATE_DUPLICATE_GOAL: Value,
    OUTCOME_INVALID: Value,
    OUTCOME_INCOMPLETE: Incomplete,
    OUTCOME_NO_TIMEPOINT: Incomplete,
    OUTCOME_SCORE_MISMATCH: BusinessRule,
    TRANSLATE_NO_RECORD: NotFound,
    TRANSLATE_MANY_RECORDS: NotSupported,
    TRANSLATE_NO_QUESTIONNAIRE: Required,
    TRANSLATE_UNKNOWN_QUESTIONNAIRE: NotSupported,
    TRANSLATE_MISSING: Required,
    TRANSLATE_BAD_VALUE: Value,
    TRANSLATE_SECURITY_LABEL: Security,
    TRANSLATE_DUPLICATE_KEY: Structure,
    TRANSLATE_UNKNOWN_CODE: CodeInvalid,
    TRANSLATE_DATE_FALLBACK: Incomplete,
    TRANSLATE_NO_IDENTIFIER: Informational,
    TRANSLATE_REFERENCE_UNRESOLVED: NotFound,
    TRANSLATE_NHS_NUMBER_CHECKSUM: Value,
    TRANSLATE_NOT_MAPPED: Informational,
    TRANSLATE_ENTRY_NOT_USED: Informational,
    STRUCTURE_NOT_OBJECT: Structure,
    STRUCTURE_NO_RESOURCE_TYPE: Structure,
    STRUCTURE_UNKNOWN_RESOURCE_TYPE: Structure,
    STRUCTURE_UNKNOWN_ELEMENT: Structure,
    STRUCTURE_DUPLICATE_KEY: Structure,
    STRUCTURE_EMPTY_OBJECT: Structure,
    STRUCTURE_EMPTY_ARRAY: Structure,
    STRUCTURE_NOT_ARRAY: Structure,
    STRUCTURE_ARRAY: Structure,
    STRUCTURE_NULL: Structure,
    STRUCTURE_EXT_ALIGN: Structure,
    STRUCTURE_CHOICE_REPEATED: Structure,
    TYPE_PRIMITIVE: Value,
    CARDINALITY_MIN: Required,
    CARDINALITY_MAX: Structure,
    VALUE_FIXED: Value,
    VALUE_PATTERN: Value,
    VALUE_MAX_LENGTH: Value,
    BINDING_REQUIRED: CodeInvalid,
    BINDING_EXTENSIBLE: CodeInvalid,
    BINDING_NO_CODE: CodeInvalid,
    TERMINOLOGY_NOT_CHECKED: NotSupported,
    SLICE_MIN: Required,
    SLICE_MAX: Structure,
    SLICE_CLOSED: Structure,
    SLICE_ORDER: Structure,
    SLICE_OPEN_AT_END: Structure,
    EXTENSION_UNKNOWN: NotFound,
    EXTENSION_UNKNOWN_MODIFIER: Structure,
    EXTENSION_NOT_EXTENSION: Structure,
    EXTENSION_CONTEXT: Structure,
    EXTENSION_CONTEXT_INVARIANT: Structure,
    EXTENSION_CONTEXT_INVARIANT_ERROR: Processing,
    REFERENCE_FORMAT: Value,
    REFERENCE_TARGET_TYPE: Structure,
    REFERENCE_UNRESOLVED: NotFound,
    INVARIANT: Invariant,
    INVARIANT_ERROR: Processing,
    FHIRPATH_BUDGET: TooCostly,
    VALIDATION_TIME_LIMIT: TooCostly,
    PROFILE_UNKNOWN: NotFound,
    PROFILE_NEEDS_UNKNOWN: NotFound,
    PROFILE_WRONG_TYPE: Structure,
    PROFILE_INVALID: Structure,
    BUNDLE_FULLURL_FORM: Value,
    BUNDLE_FULLURL_DUPLICATE: Duplicate,
    BUNDLE_FULLURL_MISMATCH: Value,
    BUNDLE_ENTRY_REQUEST: Required,
    BUNDLE_MESSAGE_HEADER: Structure,
    QR_QUESTIONNAIRE_UNKNOWN: NotFound,
    QR_QUESTIONNAIRE_WRONG_TYPE: Invalid,
    QR_ITEM_UNKNOWN: Structure,
    QR_ITEM_ORDER: Structure,
    QR_ITEM_REPEATS: Structure,
    QR_ITEM_REQUIRED: Required,
    QR_ITEM_DISABLED: BusinessRule,
    QR_ANSWER_TYPE: Structure,
    QR_ANSWER_NOT_ALLOWED: Structure,
    QR_ANSWER_REPEATS: Structure,
    QR_ANSWER_OPTION: CodeInvalid,
    QR_ANSWER_VALUESET: CodeInvalid,
    QR_ANSWER_RANGE: Value,
    QR_ANSWER_LENGTH: Value,
    QR_ANSWER_REGEX: Value,
    QR_REGEX_INVALID: Processing,
    QR_ENABLE_WHEN_EXPRESSION: Processing,
    TRANSLATE_REFERRER_ORG_CONFLICT: Invariant,
    XHTML_SYNTAX: Structure,
    XHTML_NAMESPACE: Structure,
    XHTML_ELEMENT: Structure,
    XHTML_ATTRIBUTE: Structure,
    XHTML_ACTIVE_CONTENT: Security,
    XHTML_EMPTY: Required,
}

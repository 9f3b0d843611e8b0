//! The FHIRPath function library as an enum: each function's name and how many arguments
//! it takes, resolved when an expression is parsed, so an unknown function or a wrong
//! number of arguments is a syntax error with its column, not a failure met only when (and
//! if) that part of the expression is evaluated.

/// A FHIRPath function (N1 and the FHIR R4 additions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    Empty,
    Exists,
    All,
    AllTrue,
    AnyTrue,
    AllFalse,
    AnyFalse,
    SubsetOf,
    SupersetOf,
    Count,
    Distinct,
    IsDistinct,
    Where,
    Select,
    Repeat,
    OfType,
    Is,
    As,
    Single,
    First,
    Last,
    Tail,
    Skip,
    Take,
    Intersect,
    Exclude,
    Union,
    Combine,
    Iif,
    ToBoolean,
    ConvertsToBoolean,
    ToInteger,
    ConvertsToInteger,
    ToDecimal,
    ConvertsToDecimal,
    ToString,
    ConvertsToString,
    ToDate,
    ConvertsToDate,
    ToDateTime,
    ConvertsToDateTime,
    ToTime,
    ConvertsToTime,
    ToQuantity,
    ConvertsToQuantity,
    IndexOf,
    Substring,
    StartsWith,
    EndsWith,
    Contains,
    Upper,
    Lower,
    Replace,
    Matches,
    MatchesFull,
    ReplaceMatches,
    Length,
    ToChars,
    Split,
    Trim,
    Encode,
    Decode,
    Escape,
    Unescape,
    Join,
    Abs,
    Ceiling,
    Exp,
    Floor,
    Ln,
    Log,
    Power,
    Round,
    Sqrt,
    Truncate,
    Children,
    Descendants,
    Trace,
    Now,
    Today,
    TimeOfDay,
    Aggregate,
    Type,
    Not,
    Extension,
    HasValue,
    GetValue,
    Resolve,
    ConformsTo,
    MemberOf,
    HtmlChecks,
    HtmlChecksLower,
    LowBoundary,
    HighBoundary,
    Precision,
    Comparable,
    Sort,
}

impl Func {
    /// Every function, in the specification's order.
    pub const ALL: &[Func] = &[
        Func::Empty,
        Func::Exists,
        Func::All,
        Func::AllTrue,
        Func::AnyTrue,
        Func::AllFalse,
        Func::AnyFalse,
        Func::SubsetOf,
        Func::SupersetOf,
        Func::Count,
        Func::Distinct,
        Func::IsDistinct,
        Func::Where,
        Func::Select,
        Func::Repeat,
        Func::OfType,
        Func::Is,
        Func::As,
        Func::Single,
        Func::First,
        Func::Last,
        Func::Tail,
        Func::Skip,
        Func::Take,
        Func::Intersect,
        Func::Exclude,
        Func::Union,
        Func::Combine,
        Func::Iif,
        Func::ToBoolean,
        Func::ConvertsToBoolean,
        Func::ToInteger,
        Func::ConvertsToInteger,
        Func::ToDecimal,
        Func::ConvertsToDecimal,
        Func::ToString,
        Func::ConvertsToString,
        Func::ToDate,
        Func::ConvertsToDate,
        Func::ToDateTime,
        Func::ConvertsToDateTime,
        Func::ToTime,
        Func::ConvertsToTime,
        Func::ToQuantity,
        Func::ConvertsToQuantity,
        Func::IndexOf,
        Func::Substring,
        Func::StartsWith,
        Func::EndsWith,
        Func::Contains,
        Func::Upper,
        Func::Lower,
        Func::Replace,
        Func::Matches,
        Func::MatchesFull,
        Func::ReplaceMatches,
        Func::Length,
        Func::ToChars,
        Func::Split,
        Func::Trim,
        Func::Encode,
        Func::Decode,
        Func::Escape,
        Func::Unescape,
        Func::Join,
        Func::Abs,
        Func::Ceiling,
        Func::Exp,
        Func::Floor,
        Func::Ln,
        Func::Log,
        Func::Power,
        Func::Round,
        Func::Sqrt,
        Func::Truncate,
        Func::Children,
        Func::Descendants,
        Func::Trace,
        Func::Now,
        Func::Today,
        Func::TimeOfDay,
        Func::Aggregate,
        Func::Type,
        Func::Not,
        Func::Extension,
        Func::HasValue,
        Func::GetValue,
        Func::Resolve,
        Func::ConformsTo,
        Func::MemberOf,
        Func::HtmlChecks,
        Func::HtmlChecksLower,
        Func::LowBoundary,
        Func::HighBoundary,
        Func::Precision,
        Func::Comparable,
        Func::Sort,
    ];

    /// The function called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "empty" => Func::Empty,
            "exists" => Func::Exists,
            "all" => Func::All,
            "allTrue" => Func::AllTrue,
            "anyTrue" => Func::AnyTrue,
            "allFalse" => Func::AllFalse,
            "anyFalse" => Func::AnyFalse,
            "subsetOf" => Func::SubsetOf,
            "supersetOf" => Func::SupersetOf,
            "count" => Func::Count,
            "distinct" => Func::Distinct,
            "isDistinct" => Func::IsDistinct,
            "where" => Func::Where,
            "select" => Func::Select,
            "repeat" => Func::Repeat,
            "ofType" => Func::OfType,
            "is" => Func::Is,
            "as" => Func::As,
            "single" => Func::Single,
            "first" => Func::First,
            "last" => Func::Last,
            "tail" => Func::Tail,
            "skip" => Func::Skip,
            "take" => Func::Take,
            "intersect" => Func::Intersect,
            "exclude" => Func::Exclude,
            "union" => Func::Union,
            "combine" => Func::Combine,
            "iif" => Func::Iif,
            "toBoolean" => Func::ToBoolean,
            "convertsToBoolean" => Func::ConvertsToBoolean,
            "toInteger" => Func::ToInteger,
            "convertsToInteger" => Func::ConvertsToInteger,
            "toDecimal" => Func::ToDecimal,
            "convertsToDecimal" => Func::ConvertsToDecimal,
            "toString" => Func::ToString,
            "convertsToString" => Func::ConvertsToString,
            "toDate" => Func::ToDate,
            "convertsToDate" => Func::ConvertsToDate,
            "toDateTime" => Func::ToDateTime,
            "convertsToDateTime" => Func::ConvertsToDateTime,
            "toTime" => Func::ToTime,
            "convertsToTime" => Func::ConvertsToTime,
            "toQuantity" => Func::ToQuantity,
            "convertsToQuantity" => Func::ConvertsToQuantity,
            "indexOf" => Func::IndexOf,
            "substring" => Func::Substring,
            "startsWith" => Func::StartsWith,
            "endsWith" => Func::EndsWith,
            "contains" => Func::Contains,
            "upper" => Func::Upper,
            "lower" => Func::Lower,
            "replace" => Func::Replace,
            "matches" => Func::Matches,
            "matchesFull" => Func::MatchesFull,
            "replaceMatches" => Func::ReplaceMatches,
            "length" => Func::Length,
            "toChars" => Func::ToChars,
            "split" => Func::Split,
            "trim" => Func::Trim,
            "encode" => Func::Encode,
            "decode" => Func::Decode,
            "escape" => Func::Escape,
            "unescape" => Func::Unescape,
            "join" => Func::Join,
            "abs" => Func::Abs,
            "ceiling" => Func::Ceiling,
            "exp" => Func::Exp,
            "floor" => Func::Floor,
            "ln" => Func::Ln,
            "log" => Func::Log,
            "power" => Func::Power,
            "round" => Func::Round,
            "sqrt" => Func::Sqrt,
            "truncate" => Func::Truncate,
            "children" => Func::Children,
            "descendants" => Func::Descendants,
            "trace" => Func::Trace,
            "now" => Func::Now,
            "today" => Func::Today,
            "timeOfDay" => Func::TimeOfDay,
            "aggregate" => Func::Aggregate,
            "type" => Func::Type,
            "not" => Func::Not,
            "extension" => Func::Extension,
            "hasValue" => Func::HasValue,
            "getValue" => Func::GetValue,
            "resolve" => Func::Resolve,
            "conformsTo" => Func::ConformsTo,
            "memberOf" => Func::MemberOf,
            "htmlChecks" => Func::HtmlChecks,
            "htmlchecks" => Func::HtmlChecksLower,
            "lowBoundary" => Func::LowBoundary,
            "highBoundary" => Func::HighBoundary,
            "precision" => Func::Precision,
            "comparable" => Func::Comparable,
            "sort" => Func::Sort,
            _ => return None,
        })
    }

    /// The name as written in expressions.
    pub fn name(self) -> &'static str {
        match self {
            Func::Empty => "empty",
            Func::Exists => "exists",
            Func::All => "all",
            Func::AllTrue => "allTrue",
            Func::AnyTrue => "anyTrue",
            Func::AllFalse => "allFalse",
            Func::AnyFalse => "anyFalse",
            Func::SubsetOf => "subsetOf",
            Func::SupersetOf => "supersetOf",
            Func::Count => "count",
            Func::Distinct => "distinct",
            Func::IsDistinct => "isDistinct",
            Func::Where => "where",
            Func::Select => "select",
            Func::Repeat => "repeat",
            Func::OfType => "ofType",
            Func::Is => "is",
            Func::As => "as",
            Func::Single => "single",
            Func::First => "first",
            Func::Last => "last",
            Func::Tail => "tail",
            Func::Skip => "skip",
            Func::Take => "take",
            Func::Intersect => "intersect",
            Func::Exclude => "exclude",
            Func::Union => "union",
            Func::Combine => "combine",
            Func::Iif => "iif",
            Func::ToBoolean => "toBoolean",
            Func::ConvertsToBoolean => "convertsToBoolean",
            Func::ToInteger => "toInteger",
            Func::ConvertsToInteger => "convertsToInteger",
            Func::ToDecimal => "toDecimal",
            Func::ConvertsToDecimal => "convertsToDecimal",
            Func::ToString => "toString",
            Func::ConvertsToString => "convertsToString",
            Func::ToDate => "toDate",
            Func::ConvertsToDate => "convertsToDate",
            Func::ToDateTime => "toDateTime",
            Func::ConvertsToDateTime => "convertsToDateTime",
            Func::ToTime => "toTime",
            Func::ConvertsToTime => "convertsToTime",
            Func::ToQuantity => "toQuantity",
            Func::ConvertsToQuantity => "convertsToQuantity",
            Func::IndexOf => "indexOf",
            Func::Substring => "substring",
            Func::StartsWith => "startsWith",
            Func::EndsWith => "endsWith",
            Func::Contains => "contains",
            Func::Upper => "upper",
            Func::Lower => "lower",
            Func::Replace => "replace",
            Func::Matches => "matches",
            Func::MatchesFull => "matchesFull",
            Func::ReplaceMatches => "replaceMatches",
            Func::Length => "length",
            Func::ToChars => "toChars",
            Func::Split => "split",
            Func::Trim => "trim",
            Func::Encode => "encode",
            Func::Decode => "decode",
            Func::Escape => "escape",
            Func::Unescape => "unescape",
            Func::Join => "join",
            Func::Abs => "abs",
            Func::Ceiling => "ceiling",
            Func::Exp => "exp",
            Func::Floor => "floor",
            Func::Ln => "ln",
            Func::Log => "log",
            Func::Power => "power",
            Func::Round => "round",
            Func::Sqrt => "sqrt",
            Func::Truncate => "truncate",
            Func::Children => "children",
            Func::Descendants => "descendants",
            Func::Trace => "trace",
            Func::Now => "now",
            Func::Today => "today",
            Func::TimeOfDay => "timeOfDay",
            Func::Aggregate => "aggregate",
            Func::Type => "type",
            Func::Not => "not",
            Func::Extension => "extension",
            Func::HasValue => "hasValue",
            Func::GetValue => "getValue",
            Func::Resolve => "resolve",
            Func::ConformsTo => "conformsTo",
            Func::MemberOf => "memberOf",
            Func::HtmlChecks => "htmlChecks",
            Func::HtmlChecksLower => "htmlchecks",
            Func::LowBoundary => "lowBoundary",
            Func::HighBoundary => "highBoundary",
            Func::Precision => "precision",
            Func::Comparable => "comparable",
            Func::Sort => "sort",
        }
    }

    /// The fewest and most arguments it takes (`None`: no upper bound).
    pub fn arity(self) -> (usize, Option<usize>) {
        match self {
            Func::Empty
            | Func::AllTrue
            | Func::AnyTrue
            | Func::AllFalse
            | Func::AnyFalse
            | Func::Count
            | Func::Distinct
            | Func::IsDistinct
            | Func::Single
            | Func::First
            | Func::Last
            | Func::Tail
            | Func::Upper
            | Func::Lower
            | Func::Length
            | Func::ToChars
            | Func::Trim
            | Func::Abs
            | Func::Ceiling
            | Func::Exp
            | Func::Floor
            | Func::Ln
            | Func::Sqrt
            | Func::Truncate
            | Func::Children
            | Func::Descendants
            | Func::Now
            | Func::Today
            | Func::TimeOfDay
            | Func::Type
            | Func::Not
            | Func::HasValue
            | Func::GetValue
            | Func::Resolve
            | Func::HtmlChecks
            | Func::HtmlChecksLower
            | Func::Precision => (0, Some(0)),
            Func::Exists
            | Func::ToBoolean
            | Func::ConvertsToBoolean
            | Func::ToInteger
            | Func::ConvertsToInteger
            | Func::ToDecimal
            | Func::ConvertsToDecimal
            | Func::ToString
            | Func::ConvertsToString
            | Func::ToDate
            | Func::ConvertsToDate
            | Func::ToDateTime
            | Func::ConvertsToDateTime
            | Func::ToTime
            | Func::ConvertsToTime
            | Func::ToQuantity
            | Func::ConvertsToQuantity
            | Func::Join
            | Func::Round
            | Func::LowBoundary
            | Func::HighBoundary => (0, Some(1)),
            Func::All
            | Func::SubsetOf
            | Func::SupersetOf
            | Func::Where
            | Func::Select
            | Func::Repeat
            | Func::OfType
            | Func::Is
            | Func::As
            | Func::Skip
            | Func::Take
            | Func::Intersect
            | Func::Exclude
            | Func::Union
            | Func::Combine
            | Func::IndexOf
            | Func::StartsWith
            | Func::EndsWith
            | Func::Contains
            | Func::Matches
            | Func::MatchesFull
            | Func::Split
            | Func::Encode
            | Func::Decode
            | Func::Escape
            | Func::Unescape
            | Func::Log
            | Func::Power
            | Func::Extension
            | Func::ConformsTo
            | Func::MemberOf
            | Func::Comparable => (1, Some(1)),
            Func::Iif => (2, Some(3)),
            Func::Substring | Func::Trace | Func::Aggregate => (1, Some(2)),
            Func::Replace | Func::ReplaceMatches => (2, Some(2)),
            Func::Sort => (0, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Func;

    #[test]
    fn names_round_trip() {
        for f in Func::ALL {
            assert_eq!(Func::from_name(f.name()), Some(*f));
        }
        assert_eq!(Func::from_name("nosuch"), None);
    }

    #[test]
    fn unknown_functions_and_wrong_arity_are_syntax_errors_with_their_column() {
        let e = crate::parser::parse("Patient.name.nosuch(1)").unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (13, "unknown function 'nosuch()'")
        );
        let e = crate::parser::parse("name.where()").unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (5, "where() takes 1 argument, not 0")
        );
        let e = crate::parser::parse("iif(true)").unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (0, "iif() takes 2 to 3 arguments, not 1")
        );
        // Never evaluated, still an error: the whole expression is checked when compiled.
        assert!(crate::parser::parse("true or x.nosuch()").is_err());
        assert!(crate::parser::parse("name.sort(a, b, c)").is_ok());
    }
}

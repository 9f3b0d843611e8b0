//! FHIR R4's narrative rules for `Narrative.div`, the ones behind `txt-1` and `txt-2`
//! (whose FHIRPath is `htmlChecks()`).
//!
//! A narrative is what a receiving system shows a clinician, so what it may hold is
//! narrow: well-formed XML whose root is a `div` in the XHTML namespace; only the HTML 4.0
//! formatting elements and attributes that R4's `txt-1` lists; no scripts, event
//! attributes, frames, forms, objects, `base`/`link` or DOCTYPE; no `javascript:` (or other
//! active) URLs; and some non-whitespace content or an image (`txt-2`).
//!
//! [`check`] returns every problem found, each with a message that names elements and
//! attributes but never quotes the narrative's text or attribute values (they may be
//! patient data).
//!
//! ```
//! use spfhir_xhtml::{check, Kind};
//!
//! let ok = r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>Referred for <b>loneliness</b>.</p></div>"#;
//! assert!(check(ok).is_empty());
//!
//! let bad = r#"<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="steal()">Hi</p></div>"#;
//! let problems = check(bad);
//! assert_eq!(problems[0].kind, Kind::ActiveContent);
//! assert!(problems[0].message.contains("onclick"));
//! ```
#![forbid(unsafe_code)]

use base64::{Engine, engine::general_purpose::STANDARD};
use roxmltree::{Document, Node, ParsingOptions};

/// The XHTML namespace every element of a narrative must be in.
pub const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// At most this many problems are reported for one narrative (each distinct one once).
pub const MAX_PROBLEMS: usize = 20;

/// What kind of rule a narrative breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Not well-formed XML, or a DOCTYPE.
    Syntax,
    /// The root is not a `div`, or an element is outside the XHTML namespace.
    Namespace,
    /// An element `txt-1` does not allow.
    Element,
    /// An attribute `txt-1` does not allow.
    Attribute,
    /// Something a browser would run or load: scripts, event attributes, frames, objects,
    /// forms, `base`/`link`/`meta`, or a `javascript:`-like URL.
    ActiveContent,
    /// No non-whitespace text and no image (`txt-2`).
    Empty,
    /// A link that goes nowhere: an empty `href`, or (reported by the caller, from
    /// [`InternalLink`]s) a `#fragment` no element of the resource answers.
    Link,
    /// An element where HTML 4.0's content model does not put it: a block in a paragraph
    /// or phrase, a list item outside a list, a table part outside its table, content in
    /// an empty element.
    Structure,
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: Kind,
    /// Plain English, naming elements and attributes, never quoting content.
    pub message: String,
    /// Line and column within the narrative text (1-based), where known.
    pub line_col: Option<(u32, u32)>,
}

/// The elements `txt-1` allows (R4's Narrative definition), sorted for binary search.
const ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "area",
    "b",
    "bdo",
    "big",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "map",
    "ol",
    "p",
    "pre",
    "q",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "ul",
    "var",
];

/// The attributes `txt-1` allows on any element (HTML 4.0's core, i18n and table cell
/// attributes), sorted for binary search; with [`ELEMENT_ATTRIBUTES`], the lists the
/// reference validator holds HTML 4.0's chapters 7-11 and 15 to.
const ATTRIBUTES: &[&str] = &[
    "abbr",
    "accesskey",
    "align",
    "axis",
    "char",
    "charoff",
    "class",
    "colspan",
    "dir",
    "headers",
    "id",
    "lang",
    "rowspan",
    "scope",
    "span",
    "style",
    "tabindex",
    "title",
    "valign",
    "width",
];

/// Attributes `txt-1` allows on one element only (`element.attribute`), sorted for binary
/// search: links and anchors, images and image maps, quotations, and table layout.
const ELEMENT_ATTRIBUTES: &[&str] = &[
    "a.charset",
    "a.coords",
    "a.href",
    "a.hreflang",
    "a.name",
    "a.rel",
    "a.rev",
    "a.shape",
    "a.type",
    "area.alt",
    "area.coords",
    "area.href",
    "area.nohref",
    "area.shape",
    "blockquote.cite",
    "img.alt",
    "img.border",
    "img.height",
    "img.ismap",
    "img.longdesc",
    "img.src",
    "img.usemap",
    "img.width",
    "map.name",
    "pre.space",
    "q.cite",
    "table.border",
    "table.cellpadding",
    "table.cellspacing",
    "table.frame",
    "table.rules",
    "table.summary",
    "table.width",
    "td.nowrap",
];

/// Elements that are not merely unlisted but active or document-level: the spec names
/// them ("scripts, forms, base/link/xlink, frames, iframes and objects").
const ACTIVE_ELEMENTS: &[&str] = &[
    "applet", "base", "embed", "form", "frame", "frameset", "iframe", "input", "link", "meta",
    "object", "script", "style",
];

/// URL schemes that run code or carry a document.
const ACTIVE_SCHEMES: &[&str] = &["javascript:", "vbscript:", "livescript:", "data:"];

/// Attributes whose value is a URL.
const URL_ATTRIBUTES: &[&str] = &["cite", "href", "longdesc", "src"];

/// Elements a paragraph may not hold, sorted for binary search. HTML 4.0: "The P element
/// … cannot contain block-level elements (including P itself)". These are the ones the
/// reference validator rejects there; HTML 4.0's other blocks (headings, `pre`, `dl`,
/// `hr`) are let through, since rejecting what the reference accepts costs users more
/// than a missed error.
const BLOCKS: &[&str] = &["blockquote", "div", "ol", "p", "table", "ul"];

/// A link within the narrative to a fragment of the resource (`<a href="#id">`, or an
/// image's `<img src="#id">`, typically a contained Binary) that no
/// `id` or `<a name>` in the narrative itself answers: the caller looks for it among the
/// resource's element ids (and, in a Bundle, the Bundle's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalLink {
    pub fragment: String,
    pub line_col: Option<(u32, u32)>,
}

/// Check a `Narrative.div` value against R4's narrative rules.
pub fn check(div: &str) -> Vec<Problem> {
    check_with_links(div).0
}

/// [`check`], and the narrative's internal links that it does not answer itself.
pub fn check_with_links(div: &str) -> (Vec<Problem>, Vec<InternalLink>) {
    let mut out = Problems::default();
    let mut links = Vec::new();
    let options = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    let doc = match Document::parse_with_options(div, options) {
        Ok(doc) => doc,
        Err(e) => {
            let pos = e.pos();
            out.push(Kind::Syntax, syntax_message(&e), Some((pos.row, pos.col)));
            return (out.0, links);
        }
    };
    let root = doc.root_element();
    let at = |n: Node| {
        let p = doc.text_pos_at(n.range().start);
        Some((p.row, p.col))
    };
    if root.tag_name().name() != "div" {
        out.push(
            Kind::Namespace,
            "the narrative's root element must be <div>".into(),
            at(root),
        );
    }
    let mut has_content = false;
    for n in root.descendants() {
        if n.is_text() {
            has_content |= n.text().is_some_and(|t| !t.trim().is_empty());
            continue;
        }
        if n.is_pi() {
            out.push(
                Kind::Element,
                "the narrative holds an XML processing instruction, which is not allowed".into(),
                at(n),
            );
            continue;
        }
        if !n.is_element() {
            continue;
        }
        let name = n.tag_name().name();
        let el = shown(name);
        // A root outside the namespace is reported once, not again for each child of it.
        let ns = n.tag_name().namespace();
        if ns != Some(XHTML_NS) && (n == root || ns != root.tag_name().namespace()) {
            let msg = if n == root {
                format!(
                    "the narrative's <div> must be in the XHTML namespace (xmlns=\"{XHTML_NS}\")"
                )
            } else {
                format!("<{el}> is not in the XHTML namespace")
            };
            out.push(Kind::Namespace, msg, at(n));
        }
        if ACTIVE_ELEMENTS.contains(&name.to_ascii_lowercase().as_str()) {
            out.push(
                Kind::ActiveContent,
                format!("<{el}> is not allowed in a narrative (no scripts, frames, objects, forms, base, link or meta)"),
                at(n),
            );
        } else if ELEMENTS.binary_search(&name).is_err() {
            out.push(
                Kind::Element,
                format!("<{el}> is not one of the HTML elements a narrative may use (txt-1)"),
                at(n),
            );
        }
        if name == "img" && n.attribute("src").is_some() {
            has_content = true;
        }
        let target = match name {
            "a" => n.attribute("href"),
            "img" => n.attribute("src"),
            _ => None,
        };
        if let Some(href) = target {
            let attr = if name == "a" { "href" } else { "src" };
            if href.trim().is_empty() {
                out.push(
                    Kind::Link,
                    format!("an <{name}> has an empty {attr}"),
                    at(n),
                );
            } else if let Some(why) = url_problem(href) {
                out.push(Kind::Link, format!("<{name} {attr}> {why}"), at(n));
            } else if let Some(fragment) = href.strip_prefix('#')
                && !fragment.is_empty()
                && !root.descendants().any(|d| {
                    d.attribute("id") == Some(fragment)
                        || (d.tag_name().name() == "a" && d.attribute("name") == Some(fragment))
                })
            {
                links.push(InternalLink {
                    fragment: fragment.to_string(),
                    line_col: at(n),
                });
            }
        }
        for a in n.attributes() {
            let aname = a.name();
            let ashown = shown(aname);
            let lower = aname.to_ascii_lowercase();
            match a.namespace() {
                // xml:lang and xml:space are XML's own.
                Some("http://www.w3.org/XML/1998/namespace")
                    if matches!(aname, "lang" | "space") =>
                {
                    continue;
                }
                Some(_) => {
                    out.push(
                        Kind::Attribute,
                        format!("<{el}> has the namespaced attribute {ashown} (no xlink or other namespaces)"),
                        at(n),
                    );
                    continue;
                }
                None => {}
            }
            if lower.starts_with("on") {
                out.push(
                    Kind::ActiveContent,
                    format!(
                        "<{el}> has the event attribute {ashown}; narratives must not run scripts"
                    ),
                    at(n),
                );
                continue;
            }
            if ATTRIBUTES.binary_search(&aname).is_err()
                && !aname.starts_with("xmlns")
                && ELEMENT_ATTRIBUTES
                    .binary_search(&format!("{name}.{aname}").as_str())
                    .is_err()
            {
                out.push(
                    Kind::Attribute,
                    format!(
                        "<{el}> has the attribute {ashown}, which a narrative may not use (txt-1)"
                    ),
                    at(n),
                );
                continue;
            }
            if URL_ATTRIBUTES.contains(&aname)
                && is_active_url(a.value(), name == "img" && aname == "src")
            {
                out.push(
                    Kind::ActiveContent,
                    format!("<{el} {ashown}> is a script or embedded-document URL, which a narrative may not hold"),
                    at(n),
                );
            }
            if aname == "style" && is_active_style(a.value()) {
                out.push(
                    Kind::ActiveContent,
                    format!("<{el}> has a style that runs script or loads a binding"),
                    at(n),
                );
            }
        }
    }
    structure(root, &mut out, &at);
    if !has_content {
        out.push(
            Kind::Empty,
            "the narrative must have some non-whitespace text or an image (txt-2)".into(),
            at(root),
        );
    }
    (out.0, links)
}

/// HTML 4.0's content models, as the reference validator checks them: what may sit inside a
/// paragraph, heading or phrase (no `div`, `pre`, `table`, `ul` or `ol` at any depth; no
/// phrase inside the same phrase, as `<a>` in `<a>`), what lists, tables and definition
/// lists hold (`li`; `caption`, `col`, `colgroup`, `thead`, `tbody`, `tfoot`, `tr`; `tr` holds
/// `td` and `th`; `dt` and `dd`; `area` in a `map`) and where their parts may stand, and
/// empty elements (`br`, `hr`, `img`, `area`) left empty. Text that is only whitespace is
/// layout, not content. `col` may stand in a `colgroup` as well as a `table`, as HTML 4.0 has it.
fn structure(root: Node, out: &mut Problems, at: &dyn Fn(Node) -> Option<(u32, u32)>) {
    // One walk, no recursion and no scans of descendants: a narrative may nest deeply. On
    // the way down, the paragraphs, headings and phrases open around the current element,
    // and how many of each phrase.
    let mut holders: Vec<&str> = Vec::new();
    let mut open = [0u32; PHRASES.len()];
    let mut paragraphs = 0u32;
    let mut stack = vec![(root, false)];
    while let Some((c, leaving)) = stack.pop() {
        let name = c.tag_name().name();
        let phrase = PHRASES.iter().position(|p| *p == name);
        if leaving {
            paragraphs -= u32::from(name == "p");
            if HOLDERS.contains(&name) {
                holders.pop();
            }
            if let Some(k) = phrase {
                open[k] -= 1;
            }
            continue;
        }
        if c != root {
            if paragraphs > 0 && BLOCKS.binary_search(&name).is_ok() {
                let el = shown(name);
                out.push(
                    Kind::Element,
                    format!("<{el}> is inside a <p>, which holds no block elements (HTML 4.0)"),
                    at(c),
                );
            }
            let parent = c.parent().map_or("", |p| p.tag_name().name());
            content_model(
                c,
                name,
                parent,
                &holders,
                phrase.is_some_and(|k| open[k] > 0),
                out,
                at,
            );
        }
        paragraphs += u32::from(name == "p");
        if HOLDERS.contains(&name) {
            holders.push(name);
        }
        if let Some(k) = phrase {
            open[k] += 1;
        }
        stack.push((c, true));
        let first = stack.len();
        stack.extend(c.children().filter(Node::is_element).map(|k| (k, false)));
        stack[first..].reverse();
    }
}

/// Phrases, which hold no block and not themselves.
const PHRASES: [&str; 20] = [
    "a", "abbr", "acronym", "b", "bdo", "big", "cite", "code", "dfn", "em", "i", "kbd", "q",
    "samp", "small", "strong", "sub", "sup", "tt", "var",
];

/// Elements that hold no block: paragraphs, headings and phrases.
const HOLDERS: [&str; 33] = [
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "address", "span", "caption", "dt", "dd", "a",
    "abbr", "acronym", "b", "bdo", "big", "cite", "code", "dfn", "em", "i", "kbd", "q", "samp",
    "small", "strong", "sub", "sup", "tt", "var",
];

/// One element `c` against its content model ([`structure`]): `holder`s are the paragraphs,
/// headings and phrases open around it, `nested` whether it is a phrase inside itself.
fn content_model(
    c: Node,
    name: &str,
    parent: &str,
    holders: &[&str],
    nested: bool,
    out: &mut Problems,
    at: &dyn Fn(Node) -> Option<(u32, u32)>,
) {
    let el = shown(name);
    let mut problem = |message: String| out.push(Kind::Structure, message, at(c));
    if let Some(h) = holders.last()
        && matches!(name, "div" | "pre" | "table" | "ul" | "ol")
    {
        problem(format!(
            "<{}> holds a <{el}>, but a paragraph, heading or phrase holds no block",
            shown(h)
        ));
    }
    if nested {
        problem(format!("<{el}> stands inside another <{el}>"));
    }
    let only = |allowed: &[&str], problem: &mut dyn FnMut(String)| {
        for k in c.children() {
            if k.is_text() && k.text().is_some_and(|t| !t.trim().is_empty()) {
                problem(format!(
                    "<{el}> holds text directly; it holds only <{}>",
                    allowed.join(">, <")
                ));
            } else if k.is_element() && !allowed.contains(&k.tag_name().name()) {
                problem(format!(
                    "<{el}> holds a <{}>; it holds only <{}>",
                    shown(k.tag_name().name()),
                    allowed.join(">, <")
                ));
            }
        }
    };
    let within = |allowed: &[&str], problem: &mut dyn FnMut(String)| {
        if !allowed.contains(&parent) {
            problem(format!(
                "<{el}> stands in a <{}>, but belongs in a <{}>",
                shown(parent),
                allowed.join("> or <")
            ));
        }
    };
    match name {
        "br" | "hr" | "img" | "area"
            if c.children()
                .any(|k| k.is_element() || k.text().is_some_and(|t| !t.trim().is_empty())) =>
        {
            problem(format!("<{el}> is an empty element, but holds content"));
        }
        "table" => only(
            &[
                "caption", "col", "colgroup", "thead", "tbody", "tfoot", "tr",
            ],
            &mut problem,
        ),
        "tr" => {
            within(&["table", "thead", "tbody", "tfoot"], &mut problem);
            only(&["td", "th"], &mut problem);
        }
        "thead" | "tbody" | "tfoot" => {
            within(&["table"], &mut problem);
            only(&["tr"], &mut problem);
        }
        "ul" | "ol" => only(&["li"], &mut problem),
        "caption" | "colgroup" => within(&["table"], &mut problem),
        "col" => within(&["table", "colgroup"], &mut problem),
        "td" | "th" => within(&["tr", "thead", "tfoot"], &mut problem),
        "li" => within(&["ul", "ol"], &mut problem),
        "dl" => only(&["dt", "dd"], &mut problem),
        "dt" | "dd" => within(&["dl"], &mut problem),
        "map" => only(&["area"], &mut problem),
        _ => {}
    }
}

/// Does the narrative meet every rule? (FHIRPath's `htmlChecks()`.)
pub fn is_valid(div: &str) -> bool {
    check(div).is_empty()
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, kind: Kind, message: String, line_col: Option<(u32, u32)>) {
        if self.0.len() < MAX_PROBLEMS && !self.0.iter().any(|p| p.message == message) {
            self.0.push(Problem {
                kind,
                message,
                line_col,
            });
        }
    }
}

/// An element or attribute name as a message may show it: XML names are structure, but a
/// long or unusual one is left out rather than echoed.
fn shown(name: &str) -> &str {
    if name.len() <= 24 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        name
    } else {
        "…"
    }
}

/// Why a link's URL is malformed, if it is: a URL (RFC 3986; an IRI may add letters of any
/// script) holds only letters, digits and `;?:@&=+$.,/%-_~#[]!'()*|`, so a space, a quote,
/// `<`, `>`, `{`, `}`, `\\`, `^` or a backtick must be percent-encoded. A `data:` URL
/// (RFC 2397) is a media type, then one comma, then its data, in base64 when it says
/// `;base64`. The URL itself is never quoted: a narrative is patient data.
fn url_problem(url: &str) -> Option<&'static str> {
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((head, data)) = rest.split_once(',') else {
            return Some("is a data: URL without the comma that starts its data");
        };
        let data = data.trim_end_matches(',');
        if data.is_empty() {
            return Some("is a data: URL without data");
        }
        if data.contains(',') {
            return Some("is a data: URL with more than one comma");
        }
        let (media, base64) = match head.strip_suffix(";base64") {
            Some(m) => (m, true),
            None => (head, false),
        };
        if base64 && Engine::decode(&STANDARD, data).is_err() {
            return Some("is a data: URL whose data is not base64");
        }
        let media = media.trim();
        if !media.is_empty() && !is_media_type(media) {
            return Some("is a data: URL whose media type is not type/subtype");
        }
        return None;
    }
    const MARKS: &str = ";?:@&=+$.,/%-_~#[]!'()*|";
    if !url
        .chars()
        .all(|c| c.is_alphanumeric() || MARKS.contains(c))
    {
        return Some(
            "has a character a URL may not hold (a space, a quote, <, >, {, }, \\, ^ or `): percent-encode it",
        );
    }
    None
}

/// A media type (`image/png`, `text/plain;charset=utf-8`): a top-level type and a subtype
/// of RFC 2045 token characters, then any parameters.
fn is_media_type(s: &str) -> bool {
    let essence = s.split(';').next().unwrap_or_default();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    essence
        .split_once('/')
        .is_some_and(|(ty, sub)| token(ty) && token(sub))
}

/// The URL, with what browsers ignore removed (whitespace and control characters), starts
/// with an active scheme. `data:image/…` is allowed as an image's source.
fn is_active_url(value: &str, image_source: bool) -> bool {
    let compact: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .take(32)
        .flat_map(char::to_lowercase)
        .collect();
    ACTIVE_SCHEMES.iter().any(|s| compact.starts_with(s))
        && !(image_source
            && compact.starts_with("data:image/")
            && !compact.starts_with("data:image/svg"))
}

/// A style attribute that runs script (old IE `expression()`, `javascript:` URLs) or loads
/// a binding.
fn is_active_style(value: &str) -> bool {
    let lower: String = value
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    [
        "expression(",
        "javascript:",
        "vbscript:",
        "-moz-binding",
        "behavior:",
        "@import",
    ]
    .iter()
    .any(|s| lower.contains(s))
}

/// What is wrong with XML that does not parse, without quoting it.
fn syntax_message(e: &roxmltree::Error) -> String {
    use roxmltree::Error as E;
    let what = match e {
        E::DtdDetected => "has a DOCTYPE, which a narrative may not".to_owned(),
        E::UnknownEntityReference(..) => {
            "uses an entity XML does not define (only &lt; &gt; &amp; &quot; &apos; and numeric references like &#160; are allowed)".to_owned()
        }
        E::UnexpectedCloseTag(..) => "has a closing tag that does not match its opening tag".to_owned(),
        E::UnexpectedEndOfStream => "ends before its elements are closed".to_owned(),
        E::UnknownNamespace(..) => "uses a namespace prefix it does not declare".to_owned(),
        E::NoRootNode => "has no root element".to_owned(),
        E::DuplicatedAttribute(..) => "has an attribute twice on one element".to_owned(),
        _ => "is not well-formed XML".to_owned(),
    };
    format!("the narrative {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(ELEMENTS.windows(2).all(|w| w[0] < w[1]));
        assert!(ATTRIBUTES.windows(2).all(|w| w[0] < w[1]));
        assert!(BLOCKS.windows(2).all(|w| w[0] < w[1]));
        assert!(ELEMENT_ATTRIBUTES.windows(2).all(|w| w[0] < w[1]));
        assert!(PHRASES.iter().all(|p| HOLDERS.contains(p)));
    }

    fn div(inner: &str) -> String {
        format!(r#"<div xmlns="{XHTML_NS}">{inner}</div>"#)
    }

    /// Each `(inner, bad)`: whether the narrative `wrap(inner)` has a problem of `kind`.
    fn expect(kind: Kind, wrap: impl Fn(&str) -> String, cases: &[(&str, bool)]) {
        for (inner, bad) in cases {
            let problems = check(&div(&wrap(inner)));
            assert_eq!(
                problems.iter().any(|p| p.kind == kind),
                *bad,
                "{inner}: {problems:?}"
            );
        }
    }

    #[test]
    fn blocks_inside_paragraphs() {
        expect(
            Kind::Element,
            |i| i.to_string(),
            &[
                ("<p>a</p><div>b</div>", false),
                ("<div><p>a</p></div>", false),
                ("<p><b>a</b><br/>b</p>", false),
                ("<p>a<div>b</div></p>", true),
                (
                    "<p><span><table><tr><td>a</td></tr></table></span></p>",
                    true,
                ),
                ("<p>a<p>b</p></p>", true),
            ],
        );
    }

    #[test]
    fn links() {
        let (problems, links) = check_with_links(&div(
            r##"<p id="top">a <a href="#top">up</a> <a name="n"/><a href="#n">n</a> <a href="#dob">born</a> <a href="http://x">x</a> <a href="#">self</a> <img src="#photo"/></p>"##,
        ));
        assert!(problems.is_empty(), "{problems:?}");
        let fragments: Vec<&str> = links.iter().map(|l| l.fragment.as_str()).collect();
        assert_eq!(fragments, ["dob", "photo"]);
        let (problems, _) = check_with_links(&div(r#"<p><a href="">a</a></p>"#));
        assert_eq!(problems[0].kind, Kind::Link);
        assert_eq!(problems[0].message, "an <a> has an empty href");
        let (problems, _) = check_with_links(&div(r#"<p>x<img src=""/></p>"#));
        assert_eq!(problems[0].message, "an <img> has an empty src");
    }

    #[test]
    fn content_models() {
        expect(
            Kind::Structure,
            |i| i.to_string(),
            &[
                (
                    "<p>a <b>b</b> <a href=\"#x\">c</a></p><ul><li>d</li></ul>",
                    false,
                ),
                (
                    "<table>\n <caption>t</caption>\n <colgroup><col/></colgroup>\n <thead><tr><th>h</th></tr></thead>\n <tbody><tr><td>d</td></tr></tbody>\n</table>",
                    false,
                ),
                (
                    "<dl><dt>a</dt><dd>b</dd></dl><p>x<br/>y</p><map name=\"m\"><area alt=\"a\"/></map>",
                    false,
                ),
                ("<ul>text<li>a</li></ul>", true),
                ("<ol><p>a</p></ol>", true),
                ("<table><td>a</td></table>", true),
                ("<table><tr><p>a</p></tr></table>", true),
                ("<li>a</li>", true),
                ("<p>x</p><td>a</td>", true),
                ("<b>a<b>b</b></b>", true),
                (
                    "<a href=\"#y\">a<span><a href=\"#z\">b</a></span></a>",
                    true,
                ),
                ("<span><ul><li>a</li></ul></span>", true),
                ("<h1><pre>a</pre></h1>", true),
                ("<p>x<br>y</br></p>", true),
                ("<dl><li>a</li></dl>", true),
                ("<dt>a</dt>", true),
                // Each content model alone.
                ("<table>text</table>", true),
                ("<table><tbody><td>a</td></tbody></table>", true),
                ("<tbody><tr><td>a</td></tr></tbody>", true),
                ("<caption>a</caption>", true),
                ("<colgroup/>", true),
                ("<col/>", true),
                ("<dl>text</dl>", true),
                ("<map name=\"m\"><span>a</span></map>", true),
            ],
        );
    }

    #[test]
    fn attributes_by_element() {
        expect(
            Kind::Attribute,
            |inner| format!("<div>x{inner}</div>"),
            &[
                (
                    r#"<p class="c" style="s" id="i" lang="en" dir="ltr" title="t">a</p>"#,
                    false,
                ),
                (
                    r#"<table border="1" cellpadding="2" summary="s"><tr><td nowrap="nowrap" colspan="2" valign="top">a</td></tr></table>"#,
                    false,
                ),
                (
                    r#"<img src="x.png" alt="a" usemap="m" ismap="ismap"/>"#,
                    false,
                ),
                (
                    r#"<pre space="preserve">a</pre><q cite="https://x.org">q</q><a type="text/html" rel="next" href="https://x.org">a</a>"#,
                    false,
                ),
                (r#"<p bgcolor="red">a</p>"#, true),
                (r#"<span href="https://x.org">a</span>"#, true),
                (r#"<th nowrap="nowrap">a</th>"#, true),
                (r#"<td height="3">a</td>"#, true),
                (r#"<ol start="3"><li>a</li></ol>"#, true),
            ],
        );
    }

    #[test]
    fn link_urls() {
        expect(
            Kind::Link,
            |inner| format!("<p>x{inner}</p>"),
            &[
                (r#"<a href="https://x.org/a?b=c&amp;d=[1]#f">a</a>"#, false),
                (r#"<a href="mailto:a@b.org">a</a>"#, false),
                (r#"<a href="Patient/p1">a</a>"#, false),
                (r#"<a href="https://x.org/caf%C3%A9/café">a</a>"#, false),
                (r#"<img src="data:image/png;base64,aGVsbG8="/>"#, false),
                (r#"<img src="data:image/gif,GIF89a"/>"#, false),
                (r#"<a href="https://x.org/a b">a</a>"#, true),
                (r#"<a href=" https://x.org/">a</a>"#, true),
                (r#"<a href="https://x.org/{a}">a</a>"#, true),
                (r#"<img src="my photo.png"/>"#, true),
                (r#"<img src="data:image/png;base64"/>"#, true),
                (r#"<img src="data:image/png;base64,"/>"#, true),
                (r#"<img src="data:image/png;base64,aGVsbG8"/>"#, true),
                (r#"<img src="data:image/png;base64,a!GVsbG8="/>"#, true),
                (r#"<img src="data:image/png;base64,aGVs,bG8="/>"#, true),
                (r#"<img src="data:image;base64,aGVsbG8="/>"#, true),
                (r#"<img src=""/>"#, true),
                (r#"<a href="data:text/plain,hello">a</a>"#, false),
                (r#"<img src="data:image/png;base64,+/8="/>"#, false),
                (r#"<img src="data:image/png;base64,===="/>"#, true),
                (r#"<img src="data:image/;base64,aGVsbG8="/>"#, true),
                (r#"<img src="data:/png;base64,aGVsbG8="/>"#, true),
                (r#"<img src="data:image/p@ng;base64,aGVsbG8="/>"#, true),
            ],
        );
    }
}

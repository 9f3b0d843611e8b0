//! The narrative rules, case by case: every unsafe narrative is caught, every safe one passes.

use spfhir_xhtml::{Kind, check, is_valid};

fn div(inner: &str) -> String {
    format!(r#"<div xmlns="http://www.w3.org/1999/xhtml">{inner}</div>"#)
}

fn kinds(text: &str) -> Vec<Kind> {
    check(text).into_iter().map(|p| p.kind).collect()
}

#[test]
fn safe_narratives_pass() {
    for inner in [
        "Referred for loneliness",
        "<p>Hello <b>there</b> &amp; &lt;all&gt; &#160; &#x2014;</p>",
        r#"<table border="1" cellpadding="2"><thead><tr><th scope="col">Item</th></tr></thead><tbody><tr><td colspan="2">x</td></tr></tbody></table>"#,
        r##"<a href="#x">link</a> <a name="x">anchor</a> <a href="https://example.org/a?b=c">web</a>"##,
        r##"<img src="#photo" alt="photo"/>"##,
        r#"<img src="data:image/png;base64,iVBORw0KGgo=" alt=""/>"#,
        r#"<p style="color: red; font-weight: bold" class="c" id="i" lang="en" xml:lang="en" dir="ltr">x</p>"#,
        "<ul><li>one</li></ul><ol><li>two</li></ol><dl><dt>a</dt><dd>b</dd></dl>",
        "<h1>a</h1><h6>b</h6><pre>c</pre><blockquote cite=\"https://example.org\">q</blockquote><hr/><br/>",
        "<!-- a comment --><span>x</span>",
    ] {
        let text = div(inner);
        assert_eq!(check(&text), vec![], "{text}");
    }
}

#[test]
fn unsafe_narratives_fail() {
    for (inner, kind) in [
        ("<script>alert(1)</script>", Kind::ActiveContent),
        (r#"<img src="x" onerror="alert(1)"/>"#, Kind::ActiveContent),
        (r#"<p onload="x()">a</p>"#, Kind::ActiveContent),
        (r#"<body onload="x()">a</body>"#, Kind::Element),
        (
            r#"<a href="javascript:alert(1)">a</a>"#,
            Kind::ActiveContent,
        ),
        (
            r#"<a href=" JaVa&#x09;Script:alert(1)">a</a>"#,
            Kind::ActiveContent,
        ),
        (r#"<a href="vbscript:x">a</a>"#, Kind::ActiveContent),
        (
            r#"<a href="data:text/html;base64,PHNjcmlwdD4=">a</a>"#,
            Kind::ActiveContent,
        ),
        (
            r#"<img src="data:image/svg+xml;base64,PHN2Zz4="/>"#,
            Kind::ActiveContent,
        ),
        (
            r#"<iframe src="https://evil.example"></iframe>x"#,
            Kind::ActiveContent,
        ),
        (r#"<frame src="x"/>x"#, Kind::ActiveContent),
        (r#"<object data="x"></object>x"#, Kind::ActiveContent),
        (r#"<embed src="x"/>x"#, Kind::ActiveContent),
        (
            r#"<base href="https://evil.example/"/>x"#,
            Kind::ActiveContent,
        ),
        (
            r#"<link rel="stylesheet" href="https://evil.example/a.css"/>x"#,
            Kind::ActiveContent,
        ),
        (
            r#"<meta http-equiv="refresh" content="0"/>x"#,
            Kind::ActiveContent,
        ),
        ("<form><input/></form>x", Kind::ActiveContent),
        ("<style>p{}</style>x", Kind::ActiveContent),
        (
            r#"<p style="width: expression(alert(1))">a</p>"#,
            Kind::ActiveContent,
        ),
        (
            r#"<p style="background: url(javascript:alert(1))">a</p>"#,
            Kind::ActiveContent,
        ),
        ("<marquee>a</marquee>", Kind::Element),
        ("<font>a</font>", Kind::Element),
        ("<ins>a</ins>", Kind::Element),
        (r#"<p foo="bar">a</p>"#, Kind::Attribute),
        (
            r#"<a xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="x">a</a>"#,
            Kind::Attribute,
        ),
        (
            r#"<svg xmlns="http://www.w3.org/2000/svg"><text>a</text></svg>"#,
            Kind::Namespace,
        ),
        ("&nbsp;", Kind::Syntax),
        ("a & b", Kind::Syntax),
        ("&#xZZ;", Kind::Syntax),
        ("<p>a", Kind::Syntax),
        ("<p>a</b>", Kind::Syntax),
        ("   ", Kind::Empty),
        ("<p> </p>", Kind::Empty),
        (r#"<img alt="no source"/>"#, Kind::Empty),
    ] {
        let text = div(inner);
        assert!(kinds(&text).contains(&kind), "{text}: {:?}", check(&text));
        assert!(!is_valid(&text));
    }
}

#[test]
fn the_root_is_an_xhtml_div() {
    assert_eq!(kinds("<div>text</div>"), [Kind::Namespace]);
    assert_eq!(
        kinds(r#"<p xmlns="http://www.w3.org/1999/xhtml">text</p>"#),
        [Kind::Namespace]
    );
    assert_eq!(kinds("plain text"), [Kind::Syntax]);
    assert_eq!(kinds(""), [Kind::Syntax]);
    assert_eq!(
        kinds(r#"<!DOCTYPE html><div xmlns="http://www.w3.org/1999/xhtml">x</div>"#),
        [Kind::Syntax]
    );
}

#[test]
fn messages_name_structure_never_content() {
    let secret = "Mrs Jane Example, NHS 9434765919";
    for inner in [
        format!(r#"<p onclick="{secret}">{secret}</p>"#),
        format!(r#"<a href="javascript:{secret}">{secret}</a>"#),
        format!("<script>{secret}</script>"),
        format!("{secret} &{};", "nbsp"),
        format!("<p>{secret}</b>"),
        format!(r#"<p title="{secret}" data-x="{secret}">x</p>"#),
    ] {
        for p in check(&div(&inner)) {
            assert!(
                !p.message.contains("Jane") && !p.message.contains("9434"),
                "{}",
                p.message
            );
        }
    }
}

#[test]
fn problems_are_bounded_and_positioned() {
    let many: String = (0..1000).map(|i| format!("<x{i}>a</x{i}>")).collect();
    let problems = check(&div(&many));
    assert_eq!(problems.len(), spfhir_xhtml::MAX_PROBLEMS);
    let p = &check(&div("\n<script>x</script>"))[0];
    assert_eq!(p.line_col, Some((2, 1)));
}

#[test]
fn deep_nesting_does_not_overflow() {
    let depth = 100_000;
    let text = div(&format!(
        "{}x{}",
        "<span>".repeat(depth),
        "</span>".repeat(depth)
    ));
    // roxmltree bounds its own depth; either way, no crash and a definite answer.
    let _ = check(&text);
}

mod properties {
    use proptest::prelude::*;

    proptest! {
        /// Any text inside a paragraph, escaped as XML requires, is a valid narrative.
        #[test]
        fn escaped_text_is_always_valid(s in "\\PC{1,60}") {
            prop_assume!(!s.trim().is_empty());
            let escaped = s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let text = super::div(&format!("<p>{escaped}</p>"));
            prop_assert_eq!(spfhir_xhtml::check(&text), vec![]);
        }

        /// Arbitrary input never panics.
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = spfhir_xhtml::check(&s);
            let _ = spfhir_xhtml::check(&super::div(&s));
        }
    }
}

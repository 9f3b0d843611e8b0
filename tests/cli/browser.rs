//! The validator web page in a real browser: headless Chromium (Debian's `chromium`, driven
//! through `chromedriver` over the WebDriver protocol) loads `/` from a real `spfhir serve`,
//! validates a broken referral, and the issue list and its line highlight are checked. A
//! screenshot is saved as `target/screenshots/validator.png`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::TempDir;
use crate::serve::Running;

struct Driver {
    child: Child,
    url: String,
    http: reqwest::blocking::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    fn start() -> Driver {
        let exe = ["chromedriver", "/usr/bin/chromedriver"]
            .into_iter()
            .find(|c| Command::new(c).arg("--version").output().is_ok())
            .expect("chromedriver is needed for the browser test (Debian: apt-get install chromium chromium-driver; .ci/run installs it)");
        let port = free_port();
        let child = Command::new(exe)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while d.http.get(format!("{}/status", d.url)).send().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let text = req.send().unwrap().text().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(v["value"].get("error").is_none(), "{method} {path}: {text}");
        v["value"].clone()
    }
}

/// A headless Chromium session.
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    fn new(driver: &Driver) -> Session<'_> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]});
        if let Some(bin) = chromium {
            options["binary"] = json!(bin);
        }
        let session = driver.call(
            "POST",
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}}}})),
        );
        Session {
            driver,
            id: session["sessionId"].as_str().unwrap().to_owned(),
        }
    }

    fn path(&self, p: &str) -> String {
        format!("/session/{}{p}", self.id)
    }

    fn open(&self, url: &str) {
        self.driver
            .call("POST", &self.path("/url"), Some(json!({"url": url})));
    }

    fn script(&self, code: &str, args: Value) -> Value {
        self.driver.call(
            "POST",
            &self.path("/execute/sync"),
            Some(json!({"script": code, "args": args})),
        )
    }

    /// The browser console's errors so far (chromedriver's log endpoint).
    fn console_errors(&self) -> Vec<String> {
        let log = self.driver.call(
            "POST",
            &self.path("/se/log"),
            Some(json!({"type": "browser"})),
        );
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Save a screenshot as `target/screenshots/NAME.png`.
    fn screenshot(&self, name: &str) {
        let png = self.driver.call("GET", &self.path("/screenshot"), None);
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join(format!("{name}.png")), &bytes).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .http
            .delete(format!("{}{}", self.driver.url, self.path("")))
            .send();
    }
}

#[test]
fn the_validator_page_lists_issues_and_highlights_their_lines() {
    let home = TempDir::new("browser-home");
    let dir = TempDir::new("browser-dir");
    let server = Running::start(&home.0, &dir.0, &[]);
    let driver = Driver::start();
    let session = Session::new(&driver);
    let s = |p: &str| session.path(p);
    let script = |code: &str, args: Value| session.script(code, args);
    session.open(&format!("{}/", server.base));
    assert_eq!(
        script("return document.title;", json!([])),
        "spfhir validator"
    );
    // The loaded profiles are offered, spfhir's own among them.
    let options = script(
        "return Array.from(document.querySelectorAll('#profile option')).map(o => o.value);",
        json!([]),
    );
    assert!(
        options
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o.as_str().is_some_and(|u| u.contains("sp-referral"))),
        "{options}"
    );

    // A referral whose status is not a code (line 13) and whose intent is missing.
    let referral = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fhir/service-request.json"),
    )
    .unwrap();
    let broken = referral.replace("\"status\": \"active\"", "\"status\": \"pending\"");
    let status_line = broken
        .lines()
        .position(|l| l.contains("\"status\": \"pending\""))
        .unwrap()
        + 1;
    let button = driver.call(
        "POST",
        &s("/element"),
        Some(json!({"using": "css selector", "value": "#validate"})),
    );
    let button_id = button
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    // Paste `text`, press Validate, and wait until the script `until` returns something.
    let validate = |text: &str, until: &str| -> Value {
        script(
            "document.getElementById('resource').value = arguments[0];",
            json!([text]),
        );
        driver.call(
            "POST",
            &s(&format!("/element/{button_id}/click")),
            Some(json!({})),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = script(until, json!([]));
            if !found.is_null() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "nothing appeared: {}",
                script("return document.body.innerText;", json!([]))
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let items = validate(
        &broken,
        "const items = Array.from(document.querySelectorAll('#issues li')).map(li => ({text: li.textContent, line: li.dataset.line || null, cls: li.className})); return items.length ? items : null;",
    );
    let items = items.as_array().unwrap();
    let binding = items
        .iter()
        .find(|i| i["text"].as_str().unwrap().contains("BINDING_REQUIRED"))
        .unwrap_or_else(|| panic!("{items:?}"));
    assert_eq!(binding["cls"], "error");
    assert_eq!(binding["line"], status_line.to_string());
    let summary = script(
        "return document.getElementById('summary').textContent;",
        json!([]),
    );
    assert!(summary.as_str().unwrap().contains("1 error,"), "{summary}");
    // Its line is marked in the source view; a click on the issue makes it the current line.
    let marked = script(
        "return document.getElementById('line-' + arguments[0]).className;",
        json!([status_line]),
    );
    assert_eq!(marked, "has-issue");
    script(
        "Array.from(document.querySelectorAll('#issues li')).find(li => li.textContent.includes('BINDING_REQUIRED')).click();",
        json!([]),
    );
    let current = script(
        "return document.querySelector('#source .current').id;",
        json!([]),
    );
    assert_eq!(current, format!("line-{status_line}"));

    // FHIR XML pasted in is sent as XML and checked by the same rules, at its own lines.
    let xml = "<Patient xmlns=\"http://hl7.org/fhir\">\n  <gender value=\"robot\"/>\n  <active value=\"true\"/>\n</Patient>";
    let order = validate(
        xml,
        "const li = Array.from(document.querySelectorAll('#issues li')).find(li => li.textContent.includes('XML_ORDER')); return li ? li.dataset.line : null;",
    );
    assert_eq!(order, "3");

    assert_eq!(session.console_errors(), Vec::<String>::new());
    session.screenshot("validator");
    drop(session);
    server.stop();
}

#[test]
fn the_outcome_report_renders_its_charts_without_console_errors() {
    let home = TempDir::new("report-home");
    let dir = TempDir::new("report-in");
    let mut cmd = crate::command(&home.0);
    cmd.args(["synth", "outcomes", "--people", "2000", "--seed", "7", "-o"])
        .arg(&dir.0);
    assert_eq!(crate::run(cmd, b"").status.code(), Some(0));
    let page = dir.0.join("report.html");
    let mut cmd = crate::command(&home.0);
    cmd.args(["outcomes", "--by", "pcn", "--format", "html", "-o"])
        .arg(&page)
        .arg("--orgs")
        .arg(dir.0.join("orgs.csv"))
        .arg("--input")
        .arg(&dir.0);
    let out = crate::run(cmd, b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let driver = Driver::start();
    let session = Session::new(&driver);
    session.open(&format!("file://{}", page.display()));
    assert_eq!(
        session.script("return document.title;", json!([])),
        "Social prescribing outcomes"
    );
    // Every chart is drawn and has a size: the funnel, a histogram per measure, and a
    // forest plot per measure with a mean for each PCN.
    let charts = session.script(
        "return Array.from(document.querySelectorAll('svg')).map(s => { const b = s.getBoundingClientRect(); \
         return {title: s.querySelector('title').textContent, w: b.width, h: b.height, \
         bars: s.querySelectorAll('rect').length, means: s.querySelectorAll('circle').length}; });",
        json!([]),
    );
    let charts = charts.as_array().unwrap();
    let titled = |t: &str| {
        charts
            .iter()
            .filter(|c| c["title"].as_str().unwrap().contains(t))
            .count()
    };
    assert_eq!(titled("Completeness funnel"), 1, "{charts:?}");
    assert!(titled("baseline and follow-up") >= 5, "{charts:?}");
    assert_eq!(
        titled("change by stratum"),
        titled("baseline and follow-up"),
        "{charts:?}"
    );
    for c in charts {
        assert!(
            c["w"].as_f64().unwrap() > 100.0 && c["h"].as_f64().unwrap() > 50.0,
            "{c}"
        );
        if c["title"].as_str().unwrap().contains("change by stratum") {
            assert_eq!(c["means"], 3, "a mean for each of the three PCNs: {c}");
        } else {
            assert!(c["bars"].as_u64().unwrap() > 2, "{c}");
        }
    }
    assert_eq!(session.console_errors(), Vec::<String>::new());
    // The whole page in the screenshot.
    let height = session.script("return document.documentElement.scrollHeight;", json!([]));
    driver.call(
        "POST",
        &session.path("/window/rect"),
        Some(json!({"width": 1280, "height": height.as_u64().unwrap().min(8000) + 120})),
    );
    session.screenshot("outcomes-report");
}

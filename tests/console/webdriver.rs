//! A small W3C WebDriver client for the console's browser tests.
//!
//! `Browser::start` runs Debian's chromedriver on a free port (killed when
//! the last handle drops); `Browser::session` opens a headless Chromium in a
//! fresh profile, closed when the `Session` drops. Tests find controls as a
//! person does, by label, button name and link text, so a control that can
//! only be found by CSS is itself a finding; `Session::assert_accessible`
//! runs axe-core (tests/browser) over the page.
//!
//! Every method panics with the WebDriver error and what it was doing:
//! tests call them directly.

// A toolkit for all console tests: not every test uses every method.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const REQUIRE: &str = "SENDWELL_REQUIRE_BROWSER";
/// The W3C key under which WebDriver names an element.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/browser/node_modules/axe-core/axe.min.js"
);

/// Keys for `Session::press` (WebDriver's code points for them).
pub mod key {
    pub const TAB: char = '\u{E004}';
    pub const ENTER: char = '\u{E007}';
    pub const SHIFT: char = '\u{E008}';
    pub const ESCAPE: char = '\u{E00C}';
}

/// A running chromedriver. Sessions hold it too, so it outlives them.
pub struct Browser {
    driver: Arc<Driver>,
}

struct Driver {
    child: Child,
    port: u16,
    http: reqwest::Client,
    /// chromedriver's (and Chromium's) stdout and stderr, quoted when they fail.
    log: PathBuf,
    _log_dir: TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Driver {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Browser {
    /// chromedriver on a free port; `None` (with a note) when it is not
    /// installed, unless SENDWELL_REQUIRE_BROWSER says the tests must run.
    pub async fn start() -> Option<Browser> {
        if !Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var_os(REQUIRE).is_none(),
                "{REQUIRE} is set but {CHROMEDRIVER} is missing: \
                 apt-get install chromium chromium-driver"
            );
            eprintln!("skipped: install chromium and chromium-driver to run the browser tests");
            return None;
        }
        // reqwest's TLS (unused here) needs the process's crypto provider.
        sendwell_server::install_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("HTTP client");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port for chromedriver")
            .port();
        let log_dir = tempfile::tempdir().expect("temp dir for chromedriver's log");
        let log = log_dir.path().join("chromedriver.log");
        let out = std::fs::File::create(&log).expect("chromedriver's log file");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file handle"))
            .stderr(out)
            .spawn()
            .expect("chromedriver starts");
        // Nothing may panic between the spawn and here: Driver kills it on drop.
        let mut driver = Driver {
            child,
            port,
            http,
            log,
            _log_dir: log_dir,
        };
        wait_until_ready(&mut driver).await;
        Some(Browser {
            driver: Arc::new(driver),
        })
    }

    /// A new headless Chromium with a profile of its own.
    pub async fn session(&self) -> Session {
        let profile = tempfile::tempdir().expect("temp dir for Chromium's profile");
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,800",
        ]
        .map(String::from)
        .into();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 30_000},
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let root = Wire {
            http: self.driver.http.clone(),
            base: format!("http://127.0.0.1:{}", self.driver.port),
        };
        let started = root
            .call(reqwest::Method::POST, "/session", Some(caps))
            .await;
        let answer = started.unwrap_or_else(|e| {
            panic!(
                "Chromium did not start: {e}\nchromedriver's log:\n{}",
                self.driver.log()
            )
        });
        let id = answer["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Session {
            wire: Arc::new(Wire {
                http: root.http,
                base: format!("{}/session/{id}", root.base),
            }),
            _driver: self.driver.clone(),
            _profile: profile,
        }
    }
}

/// Polls /status for at most 20 s; panics with the log if chromedriver exits or never answers.
async fn wait_until_ready(driver: &mut Driver) {
    let status = format!("http://127.0.0.1:{}/status", driver.port);
    let started = Instant::now();
    loop {
        if let Ok(Some(exit)) = driver.child.try_wait() {
            panic!("chromedriver exited ({exit}):\n{}", driver.log());
        }
        if let Ok(resp) = driver.http.get(&status).send().await {
            let body: Value = resp.json().await.unwrap_or_default();
            if body["value"]["ready"] == true {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver was not ready within 20 s at {status}:\n{}",
            driver.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An error answer from WebDriver: its code and message.
#[derive(Debug)]
pub struct WebDriverError {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // chromedriver's messages often repeat the code.
        let message = self.message.strip_prefix(&format!("{}: ", self.code));
        let message = message.unwrap_or(&self.message).trim_end();
        write!(f, "{}: {message}", self.code)
    }
}

/// HTTP to one WebDriver endpoint (the server, or one session of it).
struct Wire {
    http: reqwest::Client,
    base: String,
}

impl Wire {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let fail = |code: &str, e: reqwest::Error| WebDriverError {
            code: code.to_owned(),
            message: e.to_string(),
        };
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| fail("no answer", e))?;
        let ok = resp.status().is_success();
        let mut answer: Value = resp.json().await.map_err(|e| fail("not JSON", e))?;
        let value = answer["value"].take();
        if ok {
            return Ok(value);
        }
        Err(WebDriverError {
            code: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        })
    }

    async fn get(&self, path: &str, doing: &str) -> Value {
        let answer = self.call(reqwest::Method::GET, path, None).await;
        answer.unwrap_or_else(|e| panic!("{doing}: {e}"))
    }

    async fn post(&self, path: &str, body: Value, doing: &str) -> Value {
        let answer = self.call(reqwest::Method::POST, path, Some(body)).await;
        answer.unwrap_or_else(|e| panic!("{doing}: {e}"))
    }
}

/// One headless Chromium; deleted (and Chromium ended) on drop.
pub struct Session {
    wire: Arc<Wire>,
    /// Keeps chromedriver running while this session needs it.
    _driver: Arc<Driver>,
    _profile: TempDir,
}

impl Drop for Session {
    /// Drop cannot await and may run on the test's runtime: the DELETE goes
    /// from a thread of its own, joined, so Chromium has ended when it returns.
    fn drop(&mut self) {
        let url = self.wire.base.clone();
        let delete = move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to end the session");
            let http = reqwest::Client::builder().no_proxy().build();
            let request = http.map(|h| h.delete(url).timeout(Duration::from_secs(10)));
            runtime.block_on(async { request.ok()?.send().await.ok() })
        };
        std::thread::spawn(delete).join().ok();
    }
}

/// A failed search's message: what was sought and what the page offers.
fn not_found(what: &str, seen: &Value, url: &str) -> String {
    let seen: Vec<String> = seen
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| format!("  “{}”", s.as_str().unwrap_or_default()))
        .collect();
    format!("no {what} on {url}; the page has:\n{}", seen.join("\n"))
}

impl Session {
    pub async fn goto(&self, url: &str) {
        let doing = format!("open {url}");
        self.wire.post("/url", json!({"url": url}), &doing).await;
    }

    pub async fn current_url(&self) -> String {
        let url = self.wire.get("/url", "read the current URL").await;
        url.as_str().unwrap_or_default().to_owned()
    }

    pub async fn title(&self) -> String {
        let title = self.wire.get("/title", "read the title").await;
        title.as_str().unwrap_or_default().to_owned()
    }

    pub async fn source(&self) -> String {
        let source = self.wire.get("/source", "read the page source").await;
        source.as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        match self.try_find(css).await {
            Some(element) => element,
            None => panic!("no element matches `{css}` on {}", self.current_url().await),
        }
    }

    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let query = json!({"using": "css selector", "value": css});
        let found = self
            .wire
            .call(reqwest::Method::POST, "/element", Some(query));
        match found.await {
            Ok(answer) => self.element(&answer, &format!("`{css}`")),
            Err(e) if e.code == "no such element" => None,
            Err(e) => panic!("find `{css}`: {e}"),
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let query = json!({"using": "css selector", "value": css});
        let doing = format!("find all `{css}`");
        let answer = self.wire.post("/elements", query, &doing).await;
        let all = answer.as_array().into_iter().flatten().enumerate();
        all.filter_map(|(i, e)| self.element(e, &format!("`{css}` #{i}")))
            .collect()
    }

    /// Polls for an element matching `css` until `timeout`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let started = Instant::now();
        loop {
            if let Some(element) = self.try_find(css).await {
                return element;
            }
            if started.elapsed() > timeout {
                let url = self.current_url().await;
                panic!("waited {timeout:?} for `{css}` on {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The input, textarea or select whose <label> reads `label`
    /// (whitespace normalised; the label's `for`, or the control inside it).
    pub async fn field(&self, label: &str) -> Element {
        self.find_by_script(FIND_FIELD, label, "field labelled")
            .await
    }

    /// The <button> or submit input whose visible text or value is `name`.
    pub async fn button(&self, name: &str) -> Element {
        self.find_by_script(FIND_BUTTON, name, "button").await
    }

    /// The <a> whose visible text is `name`.
    pub async fn link(&self, name: &str) -> Element {
        self.find_by_script(FIND_LINK, name, "link").await
    }

    async fn find_by_script(&self, script: &str, name: &str, kind: &str) -> Element {
        let answer = self.execute(script, &[json!(name)]).await;
        let what = format!("{kind} “{name}”");
        match self.element(&answer["found"], &what) {
            Some(element) => element,
            None => panic!(
                "{}",
                not_found(&what, &answer["seen"], &self.current_url().await)
            ),
        }
    }

    /// Runs `script` as a function body with `args` (elements as `Element::json`).
    pub async fn execute(&self, script: &str, args: &[Value]) -> Value {
        let body = json!({"script": script, "args": args});
        let doing = format!("run script {}", excerpt(script));
        self.wire.post("/execute/sync", body, &doing).await
    }

    /// Like `execute`, for a script that calls its last argument with its result.
    pub async fn execute_async(&self, script: &str, args: &[Value]) -> Value {
        let body = json!({"script": script, "args": args});
        let doing = format!("run async script {}", excerpt(script));
        self.wire.post("/execute/async", body, &doing).await
    }

    /// The page as a PNG file at `path`.
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        use base64::Engine as _;
        let path = path.as_ref();
        let shot = self.wire.get("/screenshot", "take a screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap_or_default())
            .expect("the screenshot is base64");
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("write the screenshot to {}: {e}", path.display()));
    }

    /// Holds `keys` down in order, then lets them go: `&[key::SHIFT, key::TAB]`.
    pub async fn press(&self, keys: &[char]) {
        let down = keys.iter().map(|k| json!({"type": "keyDown", "value": k}));
        let up = keys
            .iter()
            .rev()
            .map(|k| json!({"type": "keyUp", "value": k}));
        let actions = json!({"actions": [
            {"type": "key", "id": "keyboard", "actions": down.chain(up).collect::<Vec<_>>()}
        ]});
        self.wire.post("/actions", actions, "press keys").await;
    }

    pub async fn press_tab(&self) {
        self.press(&[key::TAB]).await;
    }

    /// The element that has the keyboard focus.
    pub async fn active_element(&self) -> Element {
        let answer = self.wire.get("/element/active", "find the focus").await;
        self.element(&answer, "the focused element")
            .expect("the focused element is an element")
    }

    /// axe-core's violations within `context` (a CSS selector; "" for the
    /// whole document). Empty, with a note, when axe-core is not installed.
    pub async fn axe(&self, context: &str) -> Vec<Violation> {
        let Some(axe) = axe_source() else {
            return Vec::new();
        };
        if self.execute("return typeof axe", &[]).await != "object" {
            self.execute(axe, &[]).await;
        }
        let answer = self.execute_async(AXE_RUN, &[json!(context)]).await;
        if let Some(error) = answer["error"].as_str() {
            panic!("axe-core failed on {}: {error}", self.current_url().await);
        }
        let violations = answer["violations"].as_array().into_iter().flatten();
        violations.map(Violation::from_json).collect()
    }

    /// Panics listing each serious or critical axe-core violation on the page.
    pub async fn assert_accessible(&self, page_name: &str) {
        let grave: Vec<String> = self
            .axe("")
            .await
            .iter()
            .filter(|v| v.is_grave())
            .map(Violation::to_string)
            .collect();
        assert!(
            grave.is_empty(),
            "{page_name} ({}) has serious accessibility faults (axe-core):\n{}",
            self.current_url().await,
            grave.join("\n")
        );
    }

    fn element(&self, answer: &Value, what: &str) -> Option<Element> {
        Some(Element {
            wire: self.wire.clone(),
            id: answer.get(ELEMENT_KEY)?.as_str()?.to_owned(),
            what: what.to_owned(),
        })
    }
}

/// The start of a script, for messages (axe-core's source is half a megabyte).
fn excerpt(script: &str) -> String {
    let line = script.trim().lines().next().unwrap_or_default();
    format!("`{}`", line.chars().take(80).collect::<String>())
}

/// One element of a session's page.
pub struct Element {
    wire: Arc<Wire>,
    id: String,
    /// How the test found it, for messages.
    what: String,
}

impl Element {
    /// This element as a script argument.
    pub fn json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    async fn get(&self, verb: &str, doing: &str) -> Value {
        let doing = format!("{doing} {}", self.what);
        self.wire
            .get(&format!("/element/{}/{verb}", self.id), &doing)
            .await
    }

    async fn post(&self, verb: &str, body: Value, doing: &str) -> Value {
        let doing = format!("{doing} {}", self.what);
        let path = format!("/element/{}/{verb}", self.id);
        self.wire.post(&path, body, &doing).await
    }

    pub async fn click(&self) {
        self.post("click", json!({}), "click").await;
    }

    pub async fn send_keys(&self, text: &str) {
        self.post("value", json!({"text": text}), "type into").await;
    }

    pub async fn clear(&self) {
        self.post("clear", json!({}), "clear").await;
    }

    /// The visible text.
    pub async fn text(&self) -> String {
        let text = self.get("text", "read the text of").await;
        text.as_str().unwrap_or_default().to_owned()
    }

    pub async fn attr(&self, name: &str) -> Option<String> {
        let value = self
            .get(&format!("attribute/{name}"), "read an attribute of")
            .await;
        value.as_str().map(str::to_owned)
    }

    /// A DOM property (`value`, `checked`...).
    pub async fn property(&self, name: &str) -> Value {
        self.get(&format!("property/{name}"), "read a property of")
            .await
    }

    pub async fn tag_name(&self) -> String {
        let name = self.get("name", "read the tag of").await;
        name.as_str().unwrap_or_default().to_lowercase()
    }

    pub async fn is_displayed(&self) -> bool {
        self.get("displayed", "check the visibility of").await == true
    }
}

/// One axe-core rule that the page breaks, and where.
#[derive(Debug, Clone)]
pub struct Violation {
    pub id: String,
    /// "minor", "moderate", "serious" or "critical".
    pub impact: String,
    pub help: String,
    /// A CSS selector per offending node (frames joined by " >> ").
    pub targets: Vec<String>,
}

impl Violation {
    fn from_json(v: &Value) -> Violation {
        let text = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
        let targets = v["targets"].as_array().into_iter().flatten();
        Violation {
            id: text("id"),
            impact: text("impact"),
            help: text("help"),
            targets: targets
                .filter_map(|t| t.as_str())
                .map(str::to_owned)
                .collect(),
        }
    }

    pub fn is_grave(&self) -> bool {
        self.impact == "serious" || self.impact == "critical"
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (id, impact, help) = (&self.id, &self.impact, &self.help);
        write!(f, "  {impact} {id}: {help}, at {}", self.targets.join(", "))
    }
}

/// Whether axe-core is installed (tests/browser, `npm ci`); panics when it
/// is not but SENDWELL_REQUIRE_BROWSER is set.
pub fn axe_installed() -> bool {
    axe_source().is_some()
}

fn axe_source() -> Option<&'static str> {
    static SOURCE: OnceLock<Option<String>> = OnceLock::new();
    let source = SOURCE.get_or_init(|| std::fs::read_to_string(AXE).ok());
    if source.is_none() {
        assert!(
            std::env::var_os(REQUIRE).is_none(),
            "{REQUIRE} is set but axe-core is missing: run `npm ci` in tests/browser"
        );
        eprintln!("skipped: run `npm ci` in tests/browser for the accessibility checks");
    }
    source.as_deref()
}

/// `{found, seen}`: the control of the label reading arguments[0], and every label's text.
const FIND_FIELD: &str = "
  const norm = s => (s || '').replace(/\\s+/g, ' ').trim();
  const own = l => {
    const c = l.cloneNode(true);
    c.querySelectorAll('input, select, textarea, button').forEach(e => e.remove());
    return norm(c.textContent);
  };
  const seen = [];
  for (const label of document.querySelectorAll('label')) {
    const c = label.control, text = own(label);
    const field = c && ['INPUT', 'SELECT', 'TEXTAREA'].includes(c.tagName) ? c : null;
    if (text === arguments[0] && field) return {found: field, seen};
    seen.push(field ? text : text + ' (labels no field)');
  }
  return {found: null, seen};";

const FIND_BUTTON: &str = "
  const norm = s => (s || '').replace(/\\s+/g, ' ').trim();
  const seen = [];
  for (const b of document.querySelectorAll('button, input[type=submit], input[type=button]')) {
    const name = norm(b.tagName === 'BUTTON' ? b.innerText : b.value);
    if (name === arguments[0]) return {found: b, seen};
    seen.push(name);
  }
  return {found: null, seen};";

const FIND_LINK: &str = "
  const norm = s => (s || '').replace(/\\s+/g, ' ').trim();
  const seen = [];
  for (const a of document.querySelectorAll('a')) {
    const name = norm(a.innerText);
    if (name === arguments[0]) return {found: a, seen};
    seen.push(name);
  }
  return {found: null, seen};";

/// Runs axe-core over arguments[0] (a selector, or the document when empty).
const AXE_RUN: &str = "
  const done = arguments[arguments.length - 1];
  axe.run(arguments[0] || document, {resultTypes: ['violations']}).then(
    r => done({violations: r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.map(n => n.target.flat(Infinity).join(' >> ')),
    }))}),
    e => done({error: String(e && e.stack || e)}));";

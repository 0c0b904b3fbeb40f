//! The test harness: `TestApp` spawns a server in this process on port 0.

use reqwest::StatusCode;
use sendwell_core::SystemClock;
use sendwell_screen::dns::{DomainMail, StaticResolver};
use sendwell_server::config::Settings;
use sendwell_server::App;
use serde_json::{json, Value};
use std::sync::Arc;
use tempfile::TempDir;

pub const PG_ENV: &str = "SENDWELL_TEST_DATABASE_URL";

/// DNS for the tests: nothing outside this machine answers here.
pub fn test_dns() -> StaticResolver {
    StaticResolver::new()
        .with(
            "gmail.com",
            DomainMail::Mx(vec!["gmail-smtp-in.l.google.com".into()]),
            3600,
        )
        .with(
            "acme-mail.com",
            DomainMail::Mx(vec!["mx1.acme-mail.com".into()]),
            3600,
        )
        .with("fallback-host.com", DomainMail::AddressFallback, 3600)
        .with("nullmx-domain.com", DomainMail::NullMx, 3600)
}

/// Generates `sqlite` and `postgres` variants of each listed test function.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::support::TestApp::sqlite().await).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(app) = $crate::support::TestApp::postgres().await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// Like `on_both!`, for tests that build their server themselves: each
/// listed function takes the database URL (`None` for SQLite) and runs on
/// a two-thread runtime (the worker and the test's own servers run beside it).
#[macro_export]
macro_rules! on_both_db {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(None).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match $crate::support::postgres_url().await {
                        Some(url) => super::$name(Some(url)).await,
                        None => $crate::support::postgres_skipped(),
                    }
                }
            }
        )*
    };
}

/// Settings that send through the SMTP server at `sink` (plain, no AUTH),
/// with VERP to bounces.sendwell.test and links to mail.sendwell.test.
pub fn relay_to(settings: &mut Settings, sink: std::net::SocketAddr) {
    let d = &mut settings.delivery;
    d.transport.kind = sendwell_server::transport::TransportKind::Smtp;
    d.transport.relay = Some(sendwell_server::transport::Relay {
        host: sink.ip().to_string(),
        port: sink.port(),
        tls: sendwell_server::smtp::TlsMode::None,
        credentials: None,
    });
    d.bounce_domain = Some("bounces.sendwell.test".to_owned());
    settings.public_url = Some("https://mail.sendwell.test".to_owned());
}

/// Composes a plain marketing message from news@acme-mail.com and sends
/// it; its id and how many deliveries were queued.
/// Refuses every `bad...@` recipient as unknown (550 5.1.1) and accepts
/// the rest: a relay for the enforcement runs.
pub struct RefusesBad;

impl sendwell_server::smtp::sink::Script for RefusesBad {
    fn on_rcpt(&self, to: &str) -> sendwell_server::smtp::sink::Action {
        if to.starts_with("bad") {
            sendwell_server::smtp::sink::Action::Reply(550, "5.1.1 no such user".to_owned())
        } else {
            sendwell_server::smtp::sink::Action::Accept
        }
    }
}

/// Imports `good` addresses (`good{i}@receiver-mail.net`) and `bad` ones
/// (`{prefix_bad}{i}@...`) with declared consent, letting the import
/// through when it was quarantined (the runs' premise).
pub async fn import_bad_and_good(
    app: &TestApp,
    ws: &Workspace,
    prefix_bad: &str,
    bad: usize,
    good: usize,
) {
    let mut csv = String::from("email\n");
    for i in 0..good {
        csv.push_str(&format!("good{i}@receiver-mail.net\n"));
    }
    for i in 0..bad {
        csv.push_str(&format!("{prefix_bad}{i}@receiver-mail.net\n"));
    }
    let resp = app
        .client
        .post(app.url(
            "/v1/imports?source=product_users&consent=opt_in&consent_statement=Ticked%20the%20box%20at%20sign-up",
        ))
        .bearer_auth(&ws.key)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    assert!(resp.status().is_success(), "import: {}", resp.status());
    let report: Value = resp.json().await.expect("report");
    if report["status"] == "quarantined" {
        // A list of addresses never seen before looks bought; the operator
        // lets it through here, as the test's premise.
        app.post(
            &format!(
                "/v1/operator/imports/{}/approve",
                report["id"].as_str().expect("id")
            ),
            &app.operator,
            json!({"note": "test data"}),
        )
        .await
        .expect(200);
    }
}

pub async fn send_news(app: &TestApp, ws: &Workspace, name: &str) -> (String, i64) {
    let m = app
        .post(
            "/v1/messages",
            &ws.key,
            json!({"name": name, "kind": "marketing",
                   "from": {"name": "Acme News", "address": "news@acme-mail.com"},
                   "subject": "The spring release",
                   "template": {"layout": "plain", "html": "<p>Hello, here is what is new.</p>"}}),
        )
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    let sent = app
        .post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    (id, sent["queued"].as_i64().expect("queued"))
}

/// The value of the input named `name` on a page (a form's hidden nonce).
pub fn hidden_field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("the page has {name}: {page}"));
    let rest = &page[at + marker.len()..];
    rest[..rest.find('"').expect("closing quote")].to_owned()
}

/// A page's text, fetched as a browser would (no key).
pub async fn page_text(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text")
}

/// Posts `body` as a browser posts a form.
pub async fn post_form(client: &reqwest::Client, url: &str, body: String) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("form post")
}

/// Presses the button on the opt-in page behind `url` as a browser would:
/// loads the page, then posts its form with the nonce the page carries.
pub async fn confirm_opt_in(client: &reqwest::Client, url: &str) -> reqwest::Response {
    let page = page_text(client, url).await;
    let body = format!(
        "nonce={}&expires={}",
        hidden_field(&page, "nonce"),
        hidden_field(&page, "expires")
    );
    post_form(client, url, body).await
}

/// A contact who opted in to marketing through a form; its id.
pub async fn opted_in(app: &TestApp, ws: &Workspace, email: &str) -> String {
    let id = app.contact(&ws.key, json!({"email": email})).await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form",
               "evidence": {"ip": "203.0.113.9", "wording": "Send me news"}}),
    )
    .await
    .expect(201);
    id
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
}

impl Resp {
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }
}

async fn read_resp(resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Resp {
        status,
        body,
        content_type,
    }
}

pub struct Workspace {
    pub id: String,
    pub key: String,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub operator: String,
    pub dir: TempDir,
    pub database_url: Option<String>,
    /// The DNS the server asks, to see what it asked.
    pub dns: Arc<StaticResolver>,
    /// The server's state, for tests that step the worker or use the store.
    pub state: sendwell_server::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

fn random_hex() -> String {
    sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<8>())
}

/// A fresh schema in the PostgreSQL database named by SENDWELL_TEST_DATABASE_URL.
pub async fn postgres_url() -> Option<String> {
    let base = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())?;
    let schema = format!("t_{}", random_hex());
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL does not answer: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// Says that a PostgreSQL variant was skipped, unless PostgreSQL is required.
pub fn postgres_skipped() {
    assert!(
        std::env::var_os("SENDWELL_REQUIRE_POSTGRES").is_none(),
        "SENDWELL_REQUIRE_POSTGRES is set, so {PG_ENV} must name a PostgreSQL database"
    );
    eprintln!("skipped: set {PG_ENV} to run the PostgreSQL variant");
}

/// The system's time, moved on by whatever the test says.
#[derive(Default)]
pub struct ShiftedClock {
    offset_ms: std::sync::atomic::AtomicI64,
}

impl ShiftedClock {
    /// Sets the clock to `at` (RFC 3339); it runs on from there.
    pub fn set(&self, at: &str) {
        let target = sendwell_core::Timestamp::parse(at).expect("an RFC 3339 time");
        let real = sendwell_core::Clock::now(&SystemClock).millis();
        self.offset_ms
            .store(target.millis() - real, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn advance_days(&self, days: i64) {
        self.advance_hours(days * 24);
    }

    pub fn advance_hours(&self, hours: i64) {
        self.offset_ms
            .fetch_add(hours * 3_600_000, std::sync::atomic::Ordering::SeqCst);
    }
}

impl sendwell_core::Clock for ShiftedClock {
    fn now(&self) -> sendwell_core::Timestamp {
        let real = sendwell_core::Clock::now(&SystemClock).millis();
        sendwell_core::Timestamp::from_millis(
            real + self.offset_ms.load(std::sync::atomic::Ordering::SeqCst),
        )
    }
}

impl TestApp {
    pub async fn sqlite() -> Self {
        Self::spawn(None).await
    }

    /// `None` (and a note on stderr) when PostgreSQL tests are not switched on.
    pub async fn postgres() -> Option<Self> {
        match postgres_url().await {
            Some(url) => Some(Self::spawn(Some(url)).await),
            None => {
                assert!(
                    std::env::var_os("SENDWELL_REQUIRE_POSTGRES").is_none(),
                    "SENDWELL_REQUIRE_POSTGRES is set, so {PG_ENV} must name a PostgreSQL database"
                );
                eprintln!("skipped: set {PG_ENV} to run the PostgreSQL variant");
                None
            }
        }
    }

    pub async fn spawn(database_url: Option<String>) -> Self {
        Self::spawn_with(database_url, |_| {}).await
    }

    /// A server with settings changed by `customize` (transport, retries...).
    pub async fn spawn_with(
        database_url: Option<String>,
        customize: impl FnOnce(&mut Settings),
    ) -> Self {
        Self::spawn_with_clock(database_url, Arc::new(SystemClock), customize).await
    }

    /// A server on a clock of the test's own (to let days pass).
    pub async fn spawn_with_clock(
        database_url: Option<String>,
        clock: Arc<dyn sendwell_core::Clock>,
        customize: impl FnOnce(&mut Settings),
    ) -> Self {
        sendwell_server::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::for_data_dir(dir.path());
        settings.database_url = database_url.clone();
        customize(&mut settings);
        let operator = format!("test-operator-{}", random_hex());
        settings.operator_token = Some(operator.clone());
        let dns = Arc::new(test_dns());
        let app = App::prepare_with(settings, clock, dns.clone())
            .await
            .expect("server prepares");
        let listener = app.bind().await.expect("bind");
        let state = app.state.clone();
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.serve(listener, async {
            stopped.await.ok();
        }));
        Self {
            base,
            client: reqwest::Client::new(),
            operator,
            dir,
            database_url,
            dns,
            state,
            stop: Some(stop),
        }
    }

    /// The inbound SMTP listener's address (it starts with the server, in
    /// its own task).
    pub async fn inbound(&self) -> std::net::SocketAddr {
        let started = std::time::Instant::now();
        loop {
            if let Some(a) = self.state.inbound_addr() {
                return a;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the inbound listener runs (set smtp_listen)"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read_resp(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, Some(token), None)
            .await
    }

    /// A new workspace in `onboarding`, with its first admin key.
    pub async fn workspace(&self, name: &str) -> Workspace {
        let body = self
            .post("/v1/workspaces", &self.operator, json!({"name": name}))
            .await
            .expect(201);
        Workspace {
            id: body["id"].as_str().expect("id").to_owned(),
            key: body["api_key"].as_str().expect("api_key").to_owned(),
        }
    }

    /// A workspace that may send: address set, current guidelines accepted.
    pub async fn ready_workspace(&self, name: &str) -> Workspace {
        let ws = self.workspace(name).await;
        self.patch(
            "/v1/workspace",
            &ws.key,
            json!({"physical_address": "Acme Ltd, 1 Main Street, Springfield 12345, USA"}),
        )
        .await
        .expect(200);
        let version = self.get("/v1/guidelines", &ws.key).await.expect(200)["version"].clone();
        self.post(
            "/v1/guidelines/accept",
            &ws.key,
            json!({"version": version, "accepted_by": "Ada Admin"}),
        )
        .await
        .expect(200);
        ws
    }

    /// A workspace that may send and is past warm-up (an established
    /// sender): the premise of tests that send more bulk mail in a day
    /// than a new workspace's warm-up cap lets through.
    pub async fn established_workspace(&self, name: &str) -> Workspace {
        let ws = self.ready_workspace(name).await;
        self.post(
            &format!("/v1/operator/workspaces/{}/warmup", ws.id),
            &self.operator,
            json!({"cap_per_day": null, "note": "an established sender (test premise)"}),
        )
        .await
        .expect(200);
        ws
    }

    /// Creates a contact and returns its id.
    pub async fn contact(&self, key: &str, body: Value) -> String {
        let resp = self.post("/v1/contacts", key, body).await;
        assert!(
            resp.status.is_success(),
            "contact upsert failed: {}",
            resp.body
        );
        resp.body["id"].as_str().expect("id").to_owned()
    }

    pub async fn new_key(&self, admin_key: &str, role: &str) -> String {
        let body = self
            .post(
                "/v1/api-keys",
                admin_key,
                json!({"name": format!("{role} key"), "role": role}),
            )
            .await
            .expect(201);
        body["api_key"].as_str().expect("api_key").to_owned()
    }

    /// Posts a CSV import; `query` is the query string without `?`.
    pub async fn import(&self, key: &str, query: &str, csv: &str) -> Resp {
        let resp = self
            .client
            .post(self.url(&format!("/v1/imports?{query}")))
            .bearer_auth(key)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .expect("import sent");
        read_resp(resp).await
    }

    /// The attribute schema as (name, type) pairs, in name order.
    pub async fn attribute_types(&self, key: &str) -> Vec<(String, String)> {
        let schema = self.get("/v1/attributes", key).await.expect(200);
        schema["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().expect("name").to_owned(),
                    a["type"].as_str().expect("type").to_owned(),
                )
            })
            .collect()
    }

    /// The rejected-rows CSV of an import report.
    pub async fn rejects(&self, key: &str, report: &Value) -> String {
        self.client
            .get(self.url(report["rejects_url"].as_str().expect("rejects_url")))
            .bearer_auth(key)
            .send()
            .await
            .expect("rejects")
            .text()
            .await
            .expect("text")
    }

    /// A connection to this app's own database, for tests that must tamper with it.
    pub async fn raw_db(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        let url = match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.dir.path().join("sendwell.db").display()),
        };
        <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("raw db connection")
    }
}

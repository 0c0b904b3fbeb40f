//! The delivery engine against real SMTP servers: sendwell's own sink on
//! loopback (scripted to refuse, defer, throttle and hang up on cue), a
//! Postfix relay when CI provides one, and DKIM checked by dkimpy.

use crate::support::{opted_in, postgres_url, relay_to, TestApp, Workspace};
use sendwell_server::smtp::sink::{Action, Script, SinkOptions, SmtpSink};
use sendwell_server::transport::TransportKind;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

crate::on_both_db!(
    smtp_delivery_is_dkim_signed_with_a_verp_return_path_and_keeps_every_reply,
    transient_failures_are_retried_with_back_off_and_given_up_with_the_last_reply,
    a_worker_killed_mid_send_loses_nothing_and_repeats_at_most_its_window,
);

/// Deliveries one worker process may have in flight: batch × pipelines.
const WINDOW: usize = 500 * 2;

pub(crate) fn announcement() -> Value {
    json!({
        "name": "Spring",
        "kind": "marketing",
        "from": {"name": "Acme News", "address": "news@acme-mail.com"},
        "subject": "The spring release",
        "template": {"layout": "plain", "html": "<p>Hello, here is what is new this spring.</p>"},
    })
}

pub(crate) async fn counts(app: &TestApp, key: &str, message: &str) -> Value {
    app.get(&format!("/v1/messages/{message}"), key)
        .await
        .expect(200)["counts"]
        .clone()
}

/// Waits until `done` holds for the message's delivery counts.
pub(crate) async fn wait_for(
    app: &TestApp,
    key: &str,
    message: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let c = counts(app, key, message).await;
        if done(&c) {
            return c;
        }
        assert!(
            started.elapsed() < limit,
            "message {message} did not get there in {limit:?}: {c}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn n(c: &Value, state: &str) -> i64 {
    c[state].as_i64().unwrap_or(0)
}

/// dkimpy's verdict on every DKIM signature of `raw`, with the TXT records
/// given here instead of DNS.
fn dkimpy_verifies(raw: &[u8], records: &HashMap<String, String>) -> bool {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        let importable = std::process::Command::new("python3")
            .args(["-c", "import dkim, nacl"])
            .status()
            .is_ok_and(|s| s.success());
        if !importable {
            // A fresh machine gets the independent verifier from PyPI once.
            let _ = std::process::Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "dkimpy", "pynacl"])
                .status();
        }
    });
    let dir = tempfile::tempdir().expect("dir");
    let mail = dir.path().join("mail.eml");
    let recs = dir.path().join("records.json");
    std::fs::write(&mail, raw).expect("write mail");
    std::fs::write(&recs, serde_json::to_vec(records).expect("json")).expect("write records");
    let script = r#"
import json, sys
import dkim
records = json.load(open(sys.argv[2]))
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    return records.get(name.rstrip('.').lower(), '').encode()
msg = open(sys.argv[1], 'rb').read()
d = dkim.DKIM(msg)
count = sum(1 for k, _ in d.headers if k.lower() == b'dkim-signature')
def valid(i):
    try:
        return d.verify(idx=i, dnsfunc=dnsfunc)
    except dkim.ValidationError:
        return False
ok = count > 0 and all(valid(i) for i in range(count))
print('valid' if ok else 'invalid', count)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&mail)
        .arg(&recs)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dkimpy failed to run (pip install dkimpy pynacl): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.starts_with("valid")
}

/// A sender domain with RSA and Ed25519 keys, published in the test DNS
/// and verified; the records, name → TXT.
async fn verified_domain(app: &TestApp, ws: &Workspace, domain: &str) -> HashMap<String, String> {
    let created = app
        .post(
            "/v1/sender-domains",
            &ws.key,
            json!({"domain": domain, "algorithms": ["rsa", "ed25519"]}),
        )
        .await
        .expect(201);
    assert_eq!(created["verified"], false);
    let records = created["dns_records"].as_array().expect("records").clone();
    assert_eq!(records.len(), 2, "{created}");
    // Not published yet: the check says so and the domain stays unverified.
    let check = app
        .post(
            &format!("/v1/sender-domains/{domain}/verify"),
            &ws.key,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(check["verified"], false);
    assert!(check["last_check"]["records"][0]["problem"]
        .as_str()
        .expect("problem")
        .contains("no TXT record"));
    let mut out = HashMap::new();
    for r in &records {
        let name = r["name"].as_str().expect("name").to_owned();
        let txt = r["value"].as_str().expect("value").to_owned();
        assert!(name.ends_with(&format!("._domainkey.{domain}")));
        app.dns.set_txt(&name, vec![txt.clone()]);
        out.insert(name, txt);
    }
    let check = app
        .post(
            &format!("/v1/sender-domains/{domain}/verify"),
            &ws.key,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(check["verified"], true, "{check}");
    out
}

/// Refuses and defers the recipients named so.
struct Scripted;

impl Script for Scripted {
    fn on_rcpt(&self, to: &str) -> Action {
        if to.starts_with("gone@") {
            Action::Reply(550, "5.1.1 no such user here".to_owned())
        } else if to.starts_with("later@") {
            Action::Reply(451, "4.3.0 try again later".to_owned())
        } else {
            Action::Accept
        }
    }
}

async fn smtp_delivery_is_dkim_signed_with_a_verp_return_path_and_keeps_every_reply(
    db: Option<String>,
) {
    let sink = SmtpSink::start(Arc::new(Scripted), SinkOptions::default())
        .await
        .expect("sink");
    let app = TestApp::spawn_with(db, |s| {
        relay_to(s, sink.addr());
        s.delivery.retry_base = Duration::from_secs(600);
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ok@receiver-mail.net").await;
    opted_in(&app, &ws, "gone@receiver-mail.net").await;
    opted_in(&app, &ws, "later@receiver-mail.net").await;
    let m = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();

    // On the smtp transport an unverified sender domain blocks the send.
    let pre = app
        .post(&format!("/v1/messages/{id}/preflight"), &ws.key, json!({}))
        .await
        .expect(200);
    assert!(
        pre["blockers"]
            .as_array()
            .expect("blockers")
            .iter()
            .any(|b| b["code"] == "sender_domain_unverified"),
        "{pre}"
    );
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(409);

    let records = verified_domain(&app, &ws, "acme-mail.com").await;
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let c = wait_for(&app, &ws.key, &id, Duration::from_secs(30), |c| {
        n(c, "delivered") + n(c, "bounced") + n(c, "deferred") == 3
    })
    .await;
    assert_eq!(
        (n(&c, "delivered"), n(&c, "bounced"), n(&c, "deferred")),
        (1, 1, 1),
        "{c}"
    );

    let got = sink.received();
    assert_eq!(got.len(), 1, "only the accepted recipient got the data");
    let mail = &got[0];
    assert_eq!(mail.to, vec!["ok@receiver-mail.net".to_owned()]);
    // The return path names this delivery, signed.
    let delivery = app
        .state
        .verp()
        .delivery_of(&mail.from)
        .unwrap_or_else(|| panic!("{} is not a VERP address of ours", mail.from));
    assert!(
        mail.from.ends_with("@bounces.sendwell.test"),
        "{}",
        mail.from
    );
    assert!(delivery.starts_with(&format!("{id}.")), "{delivery}");
    let raw = String::from_utf8_lossy(&mail.data).into_owned();
    // The Message-ID names the delivery too, with a MAC of its own.
    let message_id = format!(
        "<{}>",
        app.state.verp().message_id(&delivery, "mail.sendwell.test")
    );
    assert!(raw.contains(&format!("Message-ID: {message_id}")), "{raw}");
    assert_eq!(
        app.state
            .verp()
            .delivery_of_message_id(&message_id)
            .as_deref(),
        Some(delivery.as_str())
    );
    assert_eq!(raw.matches("DKIM-Signature:").count(), 2, "RSA and Ed25519");
    assert!(raw.contains("a=rsa-sha256") && raw.contains("a=ed25519-sha256"));
    assert!(
        dkimpy_verifies(&mail.data, &records),
        "dkimpy finds both signatures valid"
    );
    // A changed body no longer verifies.
    let tampered = raw.replacen("here is what is new", "here is what is NEW", 1);
    assert_ne!(tampered, raw);
    assert!(!dkimpy_verifies(tampered.as_bytes(), &records));
    // The list of signed headers covers what the issue names.
    let unfolded_headers = raw.replace("\r\n ", " ").replace("\r\n\t", " ");
    let sig = unfolded_headers
        .lines()
        .find(|l| l.starts_with("DKIM-Signature:") && l.contains("a=rsa-sha256"))
        .expect("the RSA signature");
    let unfolded: String = sig.split_whitespace().collect();
    for h in [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ] {
        assert!(
            unfolded.contains(&format!(":{h}:")) || unfolded.contains(&format!("h={h}:")),
            "{h} is not signed: {unfolded}"
        );
    }

    // Every reply is kept on its delivery, for classification.
    let store = &app.state.store;
    let ids = app.get("/v1/contacts?limit=10", &ws.key).await.expect(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| {
            (
                c["email"].as_str().expect("email").to_owned(),
                c["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect::<HashMap<_, _>>();
    let bounced = store
        .delivery_state(
            &sendwell_core::DeliveryId::parse(&format!("{id}.{}", ids["gone@receiver-mail.net"]))
                .expect("a delivery id"),
        )
        .await
        .expect("read")
        .expect("row");
    assert_eq!(bounced.state, "bounced");
    assert_eq!(bounced.reply_code, Some(550));
    assert_eq!(bounced.enhanced_status.as_deref(), Some("5.1.1"));
    assert!(bounced
        .last_reply
        .as_deref()
        .unwrap_or_default()
        .contains("no such user"));
    let deferred = store
        .delivery_state(
            &sendwell_core::DeliveryId::parse(&format!("{id}.{}", ids["later@receiver-mail.net"]))
                .expect("a delivery id"),
        )
        .await
        .expect("read")
        .expect("row");
    assert_eq!(deferred.state, "deferred");
    assert_eq!(deferred.reply_code, Some(451));
    let wait = deferred.next_attempt_at.millis() - store.now().millis();
    assert!(
        wait > 500_000,
        "the next attempt waits the back-off: {wait} ms"
    );

    // The metrics show the queue and the replies.
    let resp = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&app.operator)
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("text");
    assert!(
        text.contains("sendwell_queue_deliveries{state=\"deferred\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sendwell_deliveries_total{outcome=\"bounced\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sendwell_smtp_replies_total{class=\"5xx\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sendwell_deferrals_total{domain=\"receiver-mail.net\"} 1"),
        "{text}"
    );
    let anonymous = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(anonymous.status(), 401);
    let with_workspace_key = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&ws.key)
        .send()
        .await
        .expect("metrics");
    assert_eq!(
        with_workspace_key.status(),
        403,
        "a workspace key is not the operator's"
    );
}

/// Answers each recipient's attempts as its name says.
#[derive(Default)]
struct Flaky {
    attempts: Mutex<HashMap<String, u32>>,
}

impl Flaky {
    fn attempt(&self, to: &str) -> u32 {
        let mut a = self.attempts.lock().expect("lock");
        let n = a.entry(to.to_owned()).or_insert(0);
        *n += 1;
        *n
    }
}

impl Script for Flaky {
    fn on_rcpt(&self, to: &str) -> Action {
        if to.starts_with("flaky@") && self.attempt(to) == 1 {
            Action::Reply(451, "4.4.1 no answer from host".to_owned())
        } else if to.starts_with("throttled@") && self.attempt(to) == 1 {
            Action::Reply(421, "4.7.0 too many messages, slow down".to_owned())
        } else if to.starts_with("never@") {
            Action::Reply(450, "4.2.0 mailbox busy".to_owned())
        } else {
            Action::Accept
        }
    }

    fn on_data_end(&self, _from: &str, to: &[String], _data: &[u8]) -> Action {
        match to.first() {
            Some(t) if t.starts_with("dropper@") && self.attempt(t) == 1 => Action::Disconnect,
            _ => Action::Accept,
        }
    }
}

async fn transient_failures_are_retried_with_back_off_and_given_up_with_the_last_reply(
    db: Option<String>,
) {
    let script = Arc::new(Flaky::default());
    let sink = SmtpSink::start(script.clone(), SinkOptions::default())
        .await
        .expect("sink");
    let app = TestApp::spawn_with(db, |s| {
        relay_to(s, sink.addr());
        s.delivery.insecure_skip_domain_verification = true;
        s.delivery.retry_base = Duration::from_millis(200);
        s.delivery.give_up_after = Duration::from_secs(6);
        s.worker_idle_ms = 50;
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    for who in ["flaky", "throttled", "never", "dropper", "fine"] {
        opted_in(&app, &ws, &format!("{who}@receiver-mail.net")).await;
    }
    let m = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    // Unverified, but the operator skips the check: a warning, not a blocker.
    let pre = app
        .post(&format!("/v1/messages/{id}/preflight"), &ws.key, json!({}))
        .await
        .expect(200);
    assert!(pre["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .any(|w| w["code"] == "sender_domain_unverified"
            && w["message"]
                .as_str()
                .unwrap_or_default()
                .contains("insecure")));
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let c = wait_for(&app, &ws.key, &id, Duration::from_secs(40), |c| {
        n(c, "delivered") + n(c, "failed") == 5
    })
    .await;
    assert_eq!((n(&c, "delivered"), n(&c, "failed")), (4, 1), "{c}");

    let store = &app.state.store;
    let list = app.get("/v1/contacts?limit=10", &ws.key).await.expect(200);
    let state_of = |email: &str| {
        let contact = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|c| c["email"] == email)
            .expect("contact")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let id = id.clone();
        async move {
            store
                .delivery_state(
                    &sendwell_core::DeliveryId::parse(&format!("{id}.{contact}"))
                        .expect("a delivery id"),
                )
                .await
                .expect("read")
                .expect("row")
        }
    };
    let never = state_of("never@receiver-mail.net").await;
    assert_eq!(never.state, "failed");
    assert!(never.attempts >= 3, "retried before giving up: {never:?}");
    let last = never.last_reply.unwrap_or_default();
    assert!(
        last.contains("gave up") && last.contains("450 4.2.0 mailbox busy"),
        "{last}"
    );
    assert_eq!(never.reply_code, Some(450));
    for who in ["flaky", "throttled", "dropper"] {
        let d = state_of(&format!("{who}@receiver-mail.net")).await;
        assert_eq!(d.state, "delivered", "{who}: {d:?}");
        assert!(d.attempts >= 2, "{who} needed a second attempt: {d:?}");
    }
    let fine = state_of("fine@receiver-mail.net").await;
    assert_eq!(fine.state, "delivered");
    // Each accepted once: the dropped connection's mail was not counted as sent.
    let accepted: Vec<String> = sink.received().iter().flat_map(|r| r.to.clone()).collect();
    for who in ["flaky", "throttled", "dropper", "fine"] {
        let email = format!("{who}@receiver-mail.net");
        assert_eq!(accepted.iter().filter(|t| **t == email).count(), 1, "{who}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_while_suspended_released_when_reinstated_cancelled_when_withdrawn() {
    use sendwell_core::StateEvent;
    use sendwell_server::delivery::{DeliveryWorker, Outcome};
    let app = TestApp::spawn_with(None, |s| s.delivery.serve_worker = false).await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ada@receiver-mail.net").await;
    opted_in(&app, &ws, "bob@receiver-mail.net").await;
    let m = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let store = &app.state.store;
    let wid = sendwell_core::WorkspaceId::parse(&ws.id).expect("id");
    store
        .transition_workspace(&wid, StateEvent::Suspend, "operator", "test")
        .await
        .expect("store")
        .expect("exists")
        .expect("allowed");
    let worker = DeliveryWorker::new(app.state.clone());
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(2));
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!(n(&c, "held"), 2, "{c}");
    assert_eq!(
        worker.release_held().await.expect("release"),
        0,
        "still suspended"
    );
    store
        .transition_workspace(&wid, StateEvent::ReinstateOnProbation, "operator", "test")
        .await
        .expect("store")
        .expect("exists")
        .expect("allowed");
    assert_eq!(worker.release_held().await.expect("release"), 2);
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(2));
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!(n(&c, "delivered"), 2, "{c}");

    // A second message is held, then the workspace is withdrawn: cancelled,
    // each delivery with the reason.
    let m = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let id2 = m["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/messages/{id2}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    store
        .transition_workspace(&wid, StateEvent::Suspend, "operator", "test")
        .await
        .expect("store")
        .expect("exists")
        .expect("allowed");
    worker.run_once().await.expect("batch");
    store
        .transition_workspace(&wid, StateEvent::Withdraw, "operator", "test")
        .await
        .expect("store")
        .expect("exists")
        .expect("allowed");
    worker.release_held().await.expect("release");
    let c = counts(&app, &ws.key, &id2).await;
    assert_eq!((n(&c, "cancelled"), n(&c, "held")), (2, 0), "{c}");
    let contact = app.get("/v1/contacts?limit=1", &ws.key).await.expect(200)["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let d = store
        .delivery_state(
            &sendwell_core::DeliveryId::parse(&format!("{id2}.{contact}")).expect("a delivery id"),
        )
        .await
        .expect("read")
        .expect("row");
    assert!(d.last_reply.unwrap_or_default().contains("withdrawn"));
    let m = app
        .get(&format!("/v1/messages/{id2}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(m["state"], "sent", "nothing is left pending");
}

/// Counts mails by Message-ID, keeping nothing else.
#[derive(Default)]
pub(crate) struct Counter {
    seen: Mutex<HashMap<String, u32>>,
    total: AtomicU32,
}

impl Counter {
    pub(crate) fn distinct(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }
    pub(crate) fn duplicates(&self) -> usize {
        self.total.load(Ordering::SeqCst) as usize - self.distinct()
    }
}

impl Script for Counter {
    fn on_data_end(&self, _from: &str, _to: &[String], data: &[u8]) -> Action {
        let text = String::from_utf8_lossy(&data[..data.len().min(8192)]);
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or("none")
            .to_owned();
        *self.seen.lock().expect("lock").entry(id).or_insert(0) += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        Action::Accept
    }
}

/// A ready workspace whose `count` contacts opted in by import, and a
/// marketing message to them all, queued.
pub(crate) async fn queued_send(app: &TestApp, count: usize) -> (Workspace, String) {
    let ws = app.established_workspace("Acme").await;
    let mut csv = String::from("email\n");
    for i in 0..count {
        csv.push_str(&format!("user{i}@receiver{}.net\n", i % 50));
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
    let m = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    let sent = app
        .post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    assert_eq!(sent["queued"], count as i64);
    (ws, id)
}

/// A sink that counts mails by Message-ID, and a test server (without its
/// own worker) that relays to it: mail goes out through `worker_process`.
pub(crate) async fn counted_sink_and_app(db: Option<String>) -> (Arc<Counter>, SmtpSink, TestApp) {
    let counter = Arc::new(Counter::default());
    let sink = SmtpSink::start(
        counter.clone(),
        SinkOptions {
            auth: None,
            keep: false,
        },
    )
    .await
    .expect("sink");
    let app = TestApp::spawn_with(db, |s| {
        relay_to(s, sink.addr());
        s.delivery.insecure_skip_domain_verification = true;
        s.delivery.serve_worker = false;
    })
    .await;
    (counter, sink, app)
}

/// `sendwell worker` in its own process, on the test server's database.
/// A `sendwell worker` process, killed when dropped: a test that fails
/// must not leave it running (holding the test's output open).
pub(crate) struct WorkerProcess(std::process::Child);

impl std::ops::Deref for WorkerProcess {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for WorkerProcess {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

pub(crate) fn worker_process(app: &TestApp, sink: SocketAddr) -> WorkerProcess {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sendwell"));
    cmd.arg("worker")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SENDWELL_DATA_DIR", app.dir.path())
        .env("SENDWELL_OPERATOR_TOKEN", &app.operator)
        .env("SENDWELL_TRANSPORT", "smtp")
        .env("SENDWELL_SMTP_RELAY", sink.to_string())
        .env("SENDWELL_SMTP_TLS", "none")
        .env("SENDWELL_INSECURE_SKIP_DOMAIN_VERIFICATION", "true")
        // Short, so a killed worker's deliveries come back soon; long
        // enough that three workers sharing two cores finish a batch
        // within it (at 2 s their own leases ran out under load, and the
        // copies sent twice passed the killed worker's window).
        .env("SENDWELL_WORKER_LEASE_SECONDS", "5")
        .env("SENDWELL_PUBLIC_URL", "https://mail.sendwell.test")
        .env("SENDWELL_DNS", "off")
        .env("SENDWELL_LOG", "warn")
        .stdout(std::process::Stdio::null());
    if let Some(url) = &app.database_url {
        cmd.env("SENDWELL_DATABASE_URL", url);
    }
    WorkerProcess(cmd.spawn().expect("sendwell worker starts"))
}

pub(crate) async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_worker_killed_mid_send_loses_nothing_and_repeats_at_most_its_window(db: Option<String>) {
    const MAILS: usize = 20_000;
    let (counter, sink, app) = counted_sink_and_app(db).await;
    let (ws, id) = queued_send(&app, MAILS).await;
    let mut first = worker_process(&app, sink.addr());
    let c = counter.clone();
    wait_until(
        Duration::from_secs(120),
        "a quarter of the mail arriving",
        move || c.distinct() >= MAILS / 4,
    )
    .await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let at_kill = counter.distinct();
    assert!(at_kill < MAILS, "killed in the middle, not after the end");
    let mut second = worker_process(&app, sink.addr());
    let c = wait_for(&app, &ws.key, &id, Duration::from_secs(240), |c| {
        n(c, "delivered") == MAILS as i64
    })
    .await;
    second.kill().ok();
    second.wait().ok();
    assert_eq!(
        n(&c, "failed") + n(&c, "deferred") + n(&c, "sending"),
        0,
        "{c}"
    );
    assert_eq!(counter.distinct(), MAILS, "every mail arrived");
    let dups = counter.duplicates();
    assert!(
        dups <= WINDOW,
        "{dups} second copies; at most the in-flight window of {WINDOW}"
    );
    eprintln!("killed after {at_kill} mails; {dups} second copies");
}

/// Three workers on one PostgreSQL database share a 20,000-mail send; one
/// is killed in the middle; the others finish it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_a_send_on_postgres_and_survive_losing_one() {
    let Some(url) = postgres_url().await else {
        crate::support::postgres_skipped();
        return;
    };
    const MAILS: usize = 20_000;
    let (counter, sink, app) = counted_sink_and_app(Some(url)).await;
    let (ws, id) = queued_send(&app, MAILS).await;
    let mut workers: Vec<_> = (0..3).map(|_| worker_process(&app, sink.addr())).collect();
    let c = counter.clone();
    wait_until(
        Duration::from_secs(120),
        "a third of the mail arriving",
        move || c.distinct() >= MAILS / 3,
    )
    .await;
    workers[0].kill().expect("SIGKILL");
    workers[0].wait().expect("reaped");
    let c = wait_for(&app, &ws.key, &id, Duration::from_secs(240), |c| {
        n(c, "delivered") == MAILS as i64
    })
    .await;
    for w in workers.iter_mut().skip(1) {
        w.kill().ok();
        w.wait().ok();
    }
    assert_eq!(n(&c, "failed") + n(&c, "deferred"), 0, "{c}");
    assert_eq!(counter.distinct(), MAILS, "every mail arrived");
    let dups = counter.duplicates();
    assert!(
        dups <= WINDOW,
        "{dups} second copies; at most one worker's window of {WINDOW}"
    );
    eprintln!("three workers, one killed: {dups} second copies");
}

/// Through a real Postfix on loopback (CI installs and starts it, relaying
/// to 127.0.0.1:2626): the mail arrives with its DKIM signatures intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkim_signed_mail_through_postfix_verifies_with_dkimpy() {
    let Ok(relay) = std::env::var("SENDWELL_TEST_POSTFIX") else {
        assert!(
            std::env::var_os("SENDWELL_REQUIRE_POSTFIX").is_none(),
            "SENDWELL_REQUIRE_POSTFIX is set, so SENDWELL_TEST_POSTFIX must name the Postfix relay"
        );
        eprintln!(
            "skipped: set SENDWELL_TEST_POSTFIX=127.0.0.1:25 (Postfix relaying to 127.0.0.1:2626)"
        );
        return;
    };
    let relay: SocketAddr = relay.parse().expect("SENDWELL_TEST_POSTFIX is HOST:PORT");
    let sink = SmtpSink::start_on(
        "127.0.0.1:2626".parse().expect("addr"),
        Arc::new(sendwell_server::smtp::sink::AcceptAll),
        SinkOptions::default(),
    )
    .await
    .expect("the sink Postfix relays to binds 127.0.0.1:2626");
    let app = TestApp::spawn_with(None, |s| relay_to(s, relay)).await;
    let ws = app.ready_workspace("Acme").await;
    let records = verified_domain(&app, &ws, "acme-mail.com").await;
    opted_in(&app, &ws, "reader@receiver-mail.net").await;
    let m = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    wait_for(&app, &ws.key, &id, Duration::from_secs(30), |c| {
        n(c, "delivered") == 1
    })
    .await;
    let s = &sink;
    wait_until(Duration::from_secs(60), "Postfix relaying the mail", || {
        !s.received().is_empty()
    })
    .await;
    let got = sink.received();
    let raw = &got[0].data;
    let text = String::from_utf8_lossy(raw).into_owned();
    assert!(text.contains("Received: "), "it went through Postfix");
    assert!(
        got[0].from.starts_with("bounces+"),
        "the VERP return path survives"
    );
    assert!(
        dkimpy_verifies(raw, &records),
        "dkimpy verifies the relayed mail"
    );
    let tampered = text.replacen("Subject: The spring release", "Subject: The spring sale", 1);
    assert_ne!(tampered, text);
    assert!(!dkimpy_verifies(tampered.as_bytes(), &records));
}

/// Direct delivery: each recipient domain's MX hosts (here the sink, on
/// its port), A/AAAA fallback, and a null MX that means never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_transport_follows_mx_records_and_never_sends_to_a_null_mx() {
    use sendwell_screen::dns::DomainMail;
    let sink = SmtpSink::start(
        Arc::new(sendwell_server::smtp::sink::AcceptAll),
        SinkOptions::default(),
    )
    .await
    .expect("sink");
    let port = sink.addr().port();
    let app = TestApp::spawn_with(None, |s| {
        s.delivery.transport.kind = TransportKind::Mx;
        s.delivery.transport.mx_port = port;
        // The test's MX host is this machine.
        s.delivery.transport.mx_allow_private = true;
        s.delivery.insecure_skip_domain_verification = true;
        s.delivery.retry_base = Duration::from_secs(600);
        s.public_url = Some("https://mail.sendwell.test".to_owned());
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ada@with-mx.net").await;
    opted_in(&app, &ws, "bob@null-mx.net").await;
    // Address checks ran on the way in; the answers change afterwards, as DNS does.
    app.dns.set(
        "with-mx.net",
        DomainMail::Mx(vec!["127.0.0.1".to_owned()]),
        300,
    );
    app.dns.set("null-mx.net", DomainMail::NullMx, 300);
    let m = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let c = wait_for(&app, &ws.key, &id, Duration::from_secs(30), |c| {
        n(c, "delivered") + n(c, "bounced") == 2
    })
    .await;
    assert_eq!((n(&c, "delivered"), n(&c, "bounced")), (1, 1), "{c}");
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, vec!["ada@with-mx.net".to_owned()]);
    let list = app.get("/v1/contacts?limit=10", &ws.key).await.expect(200);
    let bob = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["email"] == "bob@null-mx.net")
        .expect("bob")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let d = app
        .state
        .store
        .delivery_state(
            &sendwell_core::DeliveryId::parse(&format!("{id}.{bob}")).expect("a delivery id"),
        )
        .await
        .expect("read")
        .expect("row");
    assert_eq!(d.reply_code, Some(556));
    assert_eq!(d.enhanced_status.as_deref(), Some("5.1.10"));
    assert!(d.last_reply.unwrap_or_default().contains("null MX"));
}

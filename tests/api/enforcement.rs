//! The reputation monitor and enforcement: hard-bounce rates put a
//! workspace under review, then suspend it with a review case; the
//! operator reinstates it on probation; a probation that ends with rates
//! still past the lines withdraws it. The campaign circuit breaker pauses
//! a message whose own deliveries bounce too much.

use crate::support::{TestApp, Workspace};
use sendwell_server::smtp::sink::{Action, Script, SinkOptions, SmtpSink};
use sendwell_server::smtp::TlsMode;
use sendwell_server::transport::{Relay, TransportKind};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

on_both_db!(
    bounce_rates_review_then_suspend_and_a_failed_probation_withdraws,
    the_circuit_breaker_pauses_a_message_that_bounces_too_much,
);

/// Refuses every `gone...@` recipient as unknown.
struct Gone;

impl Script for Gone {
    fn on_rcpt(&self, to: &str) -> Action {
        if to.starts_with("gone") {
            Action::Reply(550, "5.1.1 no such user".to_owned())
        } else {
            Action::Accept
        }
    }
}

async fn app_with_sink(db: Option<String>, batch: i64) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start(
        Arc::new(Gone),
        SinkOptions {
            auth: None,
            keep: false,
        },
    )
    .await
    .expect("sink");
    let addr: SocketAddr = sink.addr();
    let app = TestApp::spawn_with(db, move |s| {
        let d = &mut s.delivery;
        d.transport.kind = TransportKind::Smtp;
        d.transport.relay = Some(Relay {
            host: addr.ip().to_string(),
            port: addr.port(),
            tls: TlsMode::None,
            credentials: None,
        });
        d.insecure_skip_domain_verification = true;
        d.batch = batch;
        d.pipelines = 1;
        s.worker_idle_ms = 50;
    })
    .await;
    (app, sink)
}

async fn opted_in(app: &TestApp, ws: &Workspace, email: &str) {
    let id = app.contact(&ws.key, json!({"email": email})).await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form",
               "evidence": {"ip": "203.0.113.9", "wording": "Send me news"}}),
    )
    .await
    .expect(201);
}

async fn send(app: &TestApp, ws: &Workspace, name: &str) -> (String, i64) {
    let m = app
        .post(
            "/v1/messages",
            &ws.key,
            json!({
                "name": name, "kind": "marketing",
                "from": {"name": "Acme News", "address": "news@acme-mail.com"},
                "subject": "News",
                "template": {"layout": "plain", "html": "<p>Hello, here is what is new.</p>"},
            }),
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

async fn settled(app: &TestApp, key: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let m = app
            .get(&format!("/v1/messages/{id}"), key)
            .await
            .expect(200);
        if m["state"] != "sending" {
            return m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{id} settled: {m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn operator_view(app: &TestApp, ws: &Workspace) -> Value {
    app.get(&format!("/v1/workspaces/{}", ws.id), &app.operator)
        .await
        .expect(200)
}

async fn wait_state(app: &TestApp, ws: &Workspace, state: &str) -> Value {
    let started = Instant::now();
    loop {
        let v = operator_view(app, ws).await;
        if v["state"] == state {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not {state}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn bounce_rates_review_then_suspend_and_a_failed_probation_withdraws(db: Option<String>) {
    let (app, _sink) = app_with_sink(db, 500).await;
    // A bad policy is refused, field by field.
    let bad = app
        .send(
            reqwest::Method::PUT,
            "/v1/operator/policy",
            Some(&app.operator),
            Some(json!({"review_hard_bounce_rate": 0.2, "suspend_hard_bounce_rate": 0.1})),
        )
        .await
        .expect(422);
    assert_eq!(bad["errors"][0]["pointer"], "/review_hard_bounce_rate");
    // Rates count from 10 sends in this test (500 by default).
    let policy = app
        .send(
            reqwest::Method::PUT,
            "/v1/operator/policy",
            Some(&app.operator),
            Some(json!({"min_sends": 10})),
        )
        .await
        .expect(200);
    assert_eq!(policy["suspend_hard_bounce_rate"], 0.1);
    assert_eq!(
        app.get("/v1/operator/policy", &app.operator)
            .await
            .expect(200)["min_sends"],
        10
    );
    let ws = app.ready_workspace("Acme").await;
    for i in 0..19 {
        opted_in(&app, &ws, &format!("reader{i}@receiver-mail.net")).await;
    }
    opted_in(&app, &ws, "gone0@receiver-mail.net").await;
    // 1 of 20 bounces hard: 5%, the review line.
    let (first, queued) = send(&app, &ws, "first").await;
    assert_eq!(queued, 20);
    settled(&app, &ws.key, &first).await;
    let v = wait_state(&app, &ws, "under_review").await;
    assert_eq!(v["reputation"]["sends"], 20);
    assert_eq!(v["reputation"]["hard_bounces"], 1);
    assert_eq!(v["reputation"]["verdict"], "review");
    // The refused address is suppressed: it is not mailed again.
    let sup = app
        .get("/v1/suppressions?limit=10", &ws.key)
        .await
        .expect(200);
    assert_eq!(sup["items"][0]["email"], "gone0@receiver-mail.net");
    assert_eq!(sup["items"][0]["reason"], "bounced");
    // Four more unknown addresses: 5 of 43, past the 10% suspend line.
    for i in 1..=4 {
        opted_in(&app, &ws, &format!("gone{i}@receiver-mail.net")).await;
    }
    let (second, queued) = send(&app, &ws, "second").await;
    assert_eq!(queued, 23);
    settled(&app, &ws.key, &second).await;
    let v = wait_state(&app, &ws, "suspended").await;
    assert_eq!(v["reputation"]["verdict"], "suspend");
    let case = v["reputation"]["open_case"].clone();
    assert_eq!(case["state"], "open", "{v}");
    assert!(case["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("suspend line"));
    assert_eq!(
        case["evidence"]["recent_messages"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        case["evidence"]["top_bouncing_domains"][0]["domain"],
        "receiver-mail.net"
    );
    assert!(!case["evidence"]["by_day"]
        .as_array()
        .expect("days")
        .is_empty());
    // A suspended workspace cannot send.
    let m = app
        .post(
            "/v1/messages",
            &ws.key,
            json!({"name": "third", "kind": "marketing",
                   "from": {"name": "Acme", "address": "news@acme-mail.com"},
                   "subject": "More news",
                   "template": {"layout": "plain", "html": "<p>More.</p>"}}),
        )
        .await
        .expect(201);
    app.post(
        &format!("/v1/messages/{}/send", m["id"].as_str().expect("id")),
        &ws.key,
        json!({}),
    )
    .await
    .expect(409);
    // The operator sees the case, adds a note.
    let cases = app
        .get("/v1/operator/cases?state=open", &app.operator)
        .await
        .expect(200);
    assert_eq!(cases["items"].as_array().map(Vec::len), Some(1));
    let case_id = cases["items"][0]["id"].as_str().expect("id").to_owned();
    let noted = app
        .post(
            &format!("/v1/operator/cases/{case_id}/notes"),
            &app.operator,
            json!({"note": "Bought list suspected; asked the customer.", "author": "Dee Operator"}),
        )
        .await
        .expect(200);
    assert_eq!(noted["notes"][0]["author"], "Dee Operator");
    app.post(
        "/v1/operator/cases/case_nope/notes",
        &app.operator,
        json!({"note": "x"}),
    )
    .await
    .expect(404);
    // Workspace keys cannot reach operator endpoints.
    app.get("/v1/operator/cases", &ws.key).await.expect(403);
    // Reinstated on a probation that ends at once, with the rates unchanged:
    // withdrawn automatically.
    let r = app
        .post(
            &format!("/v1/operator/workspaces/{}/reinstate", ws.id),
            &app.operator,
            json!({"probation_days": 0, "note": "One more chance"}),
        )
        .await
        .expect(200);
    assert!(r["open_case"].is_null(), "the case closed: {r}");
    let v = wait_state(&app, &ws, "withdrawn").await;
    assert!(v["reputation"]["open_case"].is_null());
    let audit = app
        .get(
            &format!("/v1/operator/workspaces/{}/audit-log", ws.id),
            &app.operator,
        )
        .await
        .expect(200)
        .to_string();
    for step in ["under_review", "suspended", "probation", "withdrawn"] {
        assert!(audit.contains(step), "{step} is in the audit log: {audit}");
    }
    assert!(audit.contains("reputation-monitor") && audit.contains("did not improve"));
    // Reinstating a withdrawn workspace is refused.
    app.post(
        &format!("/v1/operator/workspaces/{}/reinstate", ws.id),
        &app.operator,
        json!({"note": "no"}),
    )
    .await
    .expect(409);
}

async fn the_circuit_breaker_pauses_a_message_that_bounces_too_much(db: Option<String>) {
    let (app, _sink) = app_with_sink(db, 2).await;
    app.send(
        reqwest::Method::PUT,
        "/v1/operator/policy",
        Some(&app.operator),
        Some(json!({"min_sends": 100000, "breaker_min_deliveries": 4})),
    )
    .await
    .expect(200);
    let ws = app.ready_workspace("Acme").await;
    for i in 0..4 {
        opted_in(&app, &ws, &format!("reader{i}@receiver-mail.net")).await;
    }
    for i in 0..16 {
        opted_in(&app, &ws, &format!("gone{i}@receiver-mail.net")).await;
    }
    let (id, queued) = send(&app, &ws, "risky").await;
    assert_eq!(queued, 20);
    let m = settled(&app, &ws.key, &id).await;
    let c = &m["counts"];
    let done = c["delivered"].as_i64().unwrap_or(0) + c["bounced"].as_i64().unwrap_or(0);
    assert!(done >= 4, "the breaker waited for its sample: {c}");
    assert!(done < 20, "the breaker stopped the rest: {c}");
    assert_eq!(done + c["held"].as_i64().unwrap_or(0), 20, "{c}");
    assert_eq!(m["state"], "held");
    // The workspace itself is judged by its own monitor (too few sends here).
    let v = operator_view(&app, &ws).await;
    assert_eq!(v["state"], "active");
}

//! The reputation monitor and enforcement: hard-bounce rates put a
//! workspace under review, then suspend it with a review case; the
//! operator reinstates it on probation; a probation that ends with rates
//! still past the lines withdraws it. The campaign circuit breaker pauses
//! a message whose own deliveries bounce too much.

use crate::support::{opted_in, relay_to, send_news, TestApp, Workspace};
use sendwell_server::smtp::sink::{Action, Script, SinkOptions, SmtpSink};
use sendwell_server::smtp::TlsMode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

crate::on_both_db!(
    a_thousand_contacts_suspend_and_a_clean_probation_ends_active,
    a_thousand_contacts_suspend_and_bounces_going_on_in_probation_withdraw,
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
        relay_to(s, addr);
        let d = &mut s.delivery;
        d.insecure_skip_domain_verification = true;
        d.batch = batch;
        d.pipelines = 1;
        s.worker_idle_ms = 50;
    })
    .await;
    (app, sink)
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
    let (first, queued) = send_news(&app, &ws, "first").await;
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
    let (second, queued) = send_news(&app, &ws, "second").await;
    assert_eq!(queued, 23);
    settled(&app, &ws.key, &second).await;
    let mut v = wait_state(&app, &ws, "suspended").await;
    // The case is opened just after the state changes (its own write).
    let started = Instant::now();
    while v["reputation"]["open_case"].is_null() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        v = operator_view(&app, &ws).await;
    }
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
    // Reinstated on a probation that ends at once, with no sends since:
    // nothing held against it, so active again.
    let r = app
        .post(
            &format!("/v1/operator/workspaces/{}/reinstate", ws.id),
            &app.operator,
            json!({"probation_days": 0, "note": "One more chance"}),
        )
        .await
        .expect(200);
    assert!(r["open_case"].is_null(), "the case closed: {r}");
    let v = wait_state(&app, &ws, "active").await;
    assert_eq!(
        v["reputation"]["verdict"], "too_few_sends",
        "judged since reinstatement: {v}"
    );
    let audit = app
        .get(
            &format!("/v1/operator/workspaces/{}/audit-log", ws.id),
            &app.operator,
        )
        .await
        .expect(200)
        .to_string();
    for step in ["under_review", "suspended", "probation"] {
        assert!(audit.contains(step), "{step} is in the audit log: {audit}");
    }
    assert!(audit.contains("reputation-monitor"));
    // Only a suspended workspace can be reinstated.
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
    let (id, queued) = send_news(&app, &ws, "risky").await;
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

const BOUNCE_DOMAIN: &str = "bounces.sendwell.test";

fn arf(rcpt: &str, original: &str) -> String {
    format!(
        "From: fbl@receiver-mail.net\r\nTo: abuse@{BOUNCE_DOMAIN}\r\nSubject: complaint\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"ARF\"\r\n\r\n\
         --ARF\r\nContent-Type: text/plain\r\n\r\nAn abuse report.\r\n\r\n\
         --ARF\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\n\
         Version: 1\r\nOriginal-Rcpt-To: <{rcpt}>\r\n\r\n\
         --ARF\r\nContent-Type: message/rfc822\r\n\r\n{original}\r\n--ARF--\r\n"
    )
}

/// The end-to-end run: 1,000 contacts, 12% refused with 550 5.1.1,
/// 0.5% complaining by ARF: suspended, mail held, a case open; reinstated
/// on probation; then either a clean send (`active` when probation ends)
/// or bounces going on (`withdrawn`).
async fn suspension_run(db: Option<String>, bounces_go_on: bool) {
    use crate::support::ShiftedClock;
    use sendwell_server::smtp::client::{ClientOptions, SmtpConnection};
    let sink = SmtpSink::start(Arc::new(crate::support::RefusesBad), SinkOptions::default())
        .await
        .expect("sink");
    let addr = sink.addr();
    let clock = Arc::new(ShiftedClock::default());
    let app = TestApp::spawn_with_clock(db, clock.clone(), move |s| {
        relay_to(s, addr);
        let d = &mut s.delivery;
        d.insecure_skip_domain_verification = true;
        d.batch = 1000;
        d.pipelines = 1;
        s.worker_idle_ms = 50;
        s.smtp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let inbound = app.inbound().await;
    let ws = app.established_workspace("Acme").await;
    crate::support::import_bad_and_good(&app, &ws, "bad", 120, 880).await;
    // The first send goes out in one batch; the second is queued behind it.
    let (first, queued) = send_news(&app, &ws, "first").await;
    assert_eq!(queued, 1000);
    let (second, _) = send_news(&app, &ws, "second").await;
    settled(&app, &ws.key, &first).await;
    // 0.5% complain: five ARF reports to abuse@.
    let mails = sink.received();
    let options = ClientOptions {
        tls: TlsMode::None,
        ..ClientOptions::default()
    };
    for who in 0..5 {
        let rcpt = format!("good{who}@receiver-mail.net");
        let original = mails
            .iter()
            .find(|m| m.to[0] == rcpt)
            .map(|m| String::from_utf8_lossy(&m.data).into_owned())
            .expect("the mail arrived");
        let mut c = SmtpConnection::connect("localhost", inbound, &options)
            .await
            .expect("listener");
        let reply = c
            .send(
                "",
                &format!("abuse@{BOUNCE_DOMAIN}"),
                arf(&rcpt, &original).as_bytes(),
            )
            .await
            .expect("answer");
        assert_eq!(reply.code, 250);
        c.quit().await;
    }
    let v = wait_state(&app, &ws, "suspended").await;
    assert_eq!(v["reputation"]["hard_bounces"], 120, "{v}");
    let started = Instant::now();
    loop {
        let v = operator_view(&app, &ws).await;
        if v["reputation"]["complaints"] == 5 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "complaints counted: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The second message is held, not lost; a case is open.
    let m = settled(&app, &ws.key, &second).await;
    assert_eq!(m["state"], "held", "{m}");
    assert_eq!(m["counts"]["held"], 1000, "{m}");
    let cases = app
        .get("/v1/operator/cases?state=open", &app.operator)
        .await
        .expect(200);
    assert_eq!(cases["items"][0]["workspace_id"], ws.id.as_str());
    // Reinstated on probation: the held message goes, without the 120
    // bounced and 5 complaining addresses (suppressed meanwhile).
    app.post(
        &format!("/v1/operator/workspaces/{}/reinstate", ws.id),
        &app.operator,
        json!({"probation_days": 14, "note": "The customer removed the bought addresses."}),
    )
    .await
    .expect(200);
    let started = Instant::now();
    let m = loop {
        let m = app
            .get(&format!("/v1/messages/{second}"), &ws.key)
            .await
            .expect(200);
        if m["counts"]["held"] == 0 && m["state"] != "sending" {
            break m;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "released: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(m["counts"]["delivered"], 875, "{m}");
    assert_eq!(m["counts"]["skipped"], 125, "{m}");
    if bounces_go_on {
        // New addresses bounce at the same rate during probation.
        crate::support::import_bad_and_good(&app, &ws, "badnew", 120, 0).await;
        let (third, _) = send_news(&app, &ws, "third").await;
        settled(&app, &ws.key, &third).await;
    }
    let v = operator_view(&app, &ws).await;
    assert_eq!(v["state"], "probation", "{v}");
    // Fifteen days later, probation is over.
    clock.advance_days(15);
    let expected = if bounces_go_on { "withdrawn" } else { "active" };
    let v = wait_state(&app, &ws, expected).await;
    if bounces_go_on {
        let audit = app
            .get(
                &format!("/v1/operator/workspaces/{}/audit-log", ws.id),
                &app.operator,
            )
            .await
            .expect(200)
            .to_string();
        assert!(audit.contains("did not improve"), "{audit}");
    } else {
        assert!(v["reputation"]["probation_until"].is_null(), "{v}");
    }
}

async fn a_thousand_contacts_suspend_and_a_clean_probation_ends_active(db: Option<String>) {
    suspension_run(db, false).await;
}

async fn a_thousand_contacts_suspend_and_bounces_going_on_in_probation_withdraw(
    db: Option<String>,
) {
    suspension_run(db, true).await;
}

//! Issue #14: the guarantees sendwell advertises, walked the way a user
//! (or a recipient) would try them.

use crate::hardening::{captured, header, list_unsubscribe};
use crate::support::{opted_in, send_news, TestApp};
use sendwell_server::smtp::client::{ClientOptions, SmtpConnection, TlsMode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

crate::on_both_db!(
    the_mailto_unsubscribe_works_over_smtp,
    a_bare_post_to_an_unsubscribe_link_changes_nothing,
);

/// The reason `email` is on the workspace's suppression list, if it is.
async fn suppression_reason(app: &TestApp, key: &str, email: &str) -> Option<String> {
    let s = app.get("/v1/suppressions", key).await.expect(200);
    s["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["email"] == email)
        .map(|i| i["reason"].as_str().unwrap_or("").to_owned())
}

/// The contact's consent events, in order.
async fn events(app: &TestApp, key: &str, contact: &str) -> Vec<Value> {
    app.get(&format!("/v1/contacts/{contact}/consent"), key)
        .await
        .expect(200)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Item 1: every bulk mail advertises
/// `mailto:unsubscribe@BOUNCE-DOMAIN?subject=unsubscribe%20TOKEN`, and the
/// inbound listener refused that address. Sent over real SMTP, such a mail
/// now records `opt_out` (method `mailto`) and suppresses the address, as
/// the one-click POST does.
async fn the_mailto_unsubscribe_works_over_smtp(db: Option<String>) {
    let app = TestApp::spawn_with(db, |s| {
        s.smtp_listen = Some("127.0.0.1:0".parse().expect("addr"));
        s.delivery.bounce_domain = Some("bounces.sendwell.test".to_owned());
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    let reader = opted_in(&app, &ws, "reader@receiver-mail.net").await;
    let (id, _) = send_news(&app, &ws, "news").await;
    let mails = captured(&app, &ws.key, &id, 1).await;
    let list = header(&mails["reader@receiver-mail.net"], "List-Unsubscribe");
    let mailto = list
        .split(['<', '>'])
        .find(|p| p.starts_with("mailto:"))
        .expect("a mailto address")
        .to_owned();
    let (address, query) = mailto["mailto:".len()..]
        .split_once('?')
        .expect("a subject");
    assert_eq!(address, "unsubscribe@bounces.sendwell.test");
    let subject = query
        .strip_prefix("subject=")
        .expect("subject")
        .replace("%20", " ");
    assert!(subject.starts_with("unsubscribe "), "{subject}");

    // The recipient's mail client sends the mail the mailto URL describes.
    let options = ClientOptions {
        tls: TlsMode::None,
        ..ClientOptions::default()
    };
    let mut c = SmtpConnection::connect("localhost", app.inbound().await, &options)
        .await
        .expect("the inbound listener answers");
    let mail = format!(
        "From: reader@receiver-mail.net\r\nTo: {address}\r\nSubject: {subject}\r\n\r\n\r\n"
    );
    let reply = c
        .send("reader@receiver-mail.net", address, mail.as_bytes())
        .await
        .expect("an answer");
    c.quit().await;
    assert_eq!(reply.code, 250, "{reply:?}");
    let started = Instant::now();
    loop {
        let outs: Vec<Value> = events(&app, &ws.key, &reader)
            .await
            .into_iter()
            .filter(|e| e["action"] == "opt_out")
            .collect();
        if !outs.is_empty() {
            assert_eq!(outs[0]["method"], "mailto");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the mailto unsubscribe was recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let suppressed = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert!(
        suppressed.to_string().contains("reader@receiver-mail.net"),
        "{suppressed}"
    );
    // A forged token, or none, unsubscribes nobody.
    let mut c = SmtpConnection::connect("localhost", app.inbound().await, &options)
        .await
        .expect("connect");
    let forged = subject.replace('A', "B");
    let reply = c
        .send(
            "x@receiver-mail.net",
            address,
            format!("Subject: {forged}\r\n\r\n").as_bytes(),
        )
        .await
        .expect("answer");
    c.quit().await;
    assert_eq!(reply.code, 250, "accepted, and then ignored");
}

/// Item 9: a bare POST to `/u/{token}` (a scanner, a prefetch) used to
/// unsubscribe. Only RFC 8058's body or the page's own form does now.
async fn a_bare_post_to_an_unsubscribe_link_changes_nothing(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    let reader = opted_in(&app, &ws, "reader@receiver-mail.net").await;
    let (id, _) = send_news(&app, &ws, "news").await;
    let mails = captured(&app, &ws.key, &id, 1).await;
    let url = list_unsubscribe(&mails["reader@receiver-mail.net"]);
    for body in ["", "hello", "List-Unsubscribe=Two-Clicks"] {
        let r = app
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 400, "{body:?}");
    }
    assert!(events(&app, &ws.key, &reader)
        .await
        .iter()
        .all(|e| e["action"] != "opt_out"));
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("confirm=all")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200, "the page's own button");
    let outs = events(&app, &ws.key, &reader)
        .await
        .into_iter()
        .filter(|e| e["action"] == "opt_out")
        .count();
    assert_eq!(outs, 1);
}

crate::on_both_db!(a_complaint_after_an_unsubscribe_escalates_the_suppression,);

/// Item 2: the suppression stayed `unsubscribed` after a complaint, so
/// transactional mail still went to someone who complained. The stronger
/// reason now takes the row (erased > complained > bounced > unsubscribed >
/// manual), and lifting a bounce never lifts a person's own opt-out.
async fn a_complaint_after_an_unsubscribe_escalates_the_suppression(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "reader@receiver-mail.net").await;
    opted_in(&app, &ws, "other@receiver-mail.net").await;
    let (id, _) = send_news(&app, &ws, "news").await;
    let mails = captured(&app, &ws.key, &id, 2).await;
    let reader_url = list_unsubscribe(&mails["reader@receiver-mail.net"]);
    let one_click = |url: String| {
        app.client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
    };
    assert_eq!(
        one_click(reader_url.clone()).await.expect("post").status(),
        200
    );
    let receipt = |to: &str| {
        json!({"to": {"email": to}, "from": {"address": "billing@acme-mail.com"},
               "subject": "Receipt", "template": {"layout": "plain", "text": "Thanks."}})
    };
    // Unsubscribed: a receipt still goes.
    app.post(
        "/v1/transactional",
        &ws.key,
        receipt("reader@receiver-mail.net"),
    )
    .await
    .expect(202);
    // Then the person reports the mail (with its signed link): a complaint.
    let r = app
        .client
        .post(app.url("/v1/reports"))
        .json(&json!({"link": reader_url, "reason": "I said stop"}))
        .send()
        .await
        .expect("report");
    assert_eq!(r.status(), 202);

    assert_eq!(
        suppression_reason(&app, &ws.key, "reader@receiver-mail.net")
            .await
            .as_deref(),
        Some("complained")
    );
    let refused = app
        .post(
            "/v1/transactional",
            &ws.key,
            receipt("reader@receiver-mail.net"),
        )
        .await
        .expect(409);
    assert!(refused.to_string().contains("complained"), "{refused}");
    // The other contact: unsubscribed, then a bounce took the row; lifting
    // the bounce leaves the person's own opt-out in force.
    let other_url = list_unsubscribe(&mails["other@receiver-mail.net"]);
    assert_eq!(one_click(other_url).await.expect("post").status(), 200);
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "other@receiver-mail.net", "reason": "bounced"}),
    )
    .await;
    assert_eq!(
        suppression_reason(&app, &ws.key, "other@receiver-mail.net")
            .await
            .as_deref(),
        Some("bounced")
    );
    app.delete("/v1/suppressions/other@receiver-mail.net", &ws.key)
        .await
        .expect(409);
    assert_eq!(
        suppression_reason(&app, &ws.key, "other@receiver-mail.net")
            .await
            .as_deref(),
        Some("unsubscribed")
    );
}

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

crate::on_both_db!(
    an_opt_in_records_what_the_person_saw_once,
    an_unsubscribe_counts_once_and_only_for_joined_topics,
    captured_mail_counts_as_sent,
);

/// Items 7, 8 and 12: the ledger's evidence held the subject template
/// (`News for {{ first_name ... }}`) instead of what the person read; a
/// repeated confirmation wrote a second `opt_in`; an opt-in request without
/// a button went out, and a button without wording was filled in silently.
async fn an_opt_in_records_what_the_person_saw_once(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    let ann = app
        .contact(
            &ws.key,
            json!({"email": "ann@receiver-mail.net", "name": "Ann Lee"}),
        )
        .await;
    let ask = |html: &str| {
        json!({"name": "Ask", "kind": "opt_in_request",
               "from": {"name": "Acme", "address": "hello@acme-mail.com"},
               "subject": "News for {{ first_name | fallback: \"you\" }}",
               "template": {"layout": "plain", "html": html}})
    };
    // A button needs its wording.
    let r = app
        .post(
            "/v1/messages",
            &ws.key,
            ask("<p>May we?</p>{% opt_in_button %}"),
        )
        .await
        .expect(422);
    assert!(r.to_string().contains("opt_in_button \\\""), "{r}");
    // A request with no button cannot be sent: nobody could say yes.
    let m = app
        .post("/v1/messages", &ws.key, ask("<p>May we send you news?</p>"))
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id");
    let pre = app
        .post(&format!("/v1/messages/{id}/preflight"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(pre["ready"], false, "{pre}");
    assert!(pre["blockers"]
        .as_array()
        .expect("blockers")
        .iter()
        .any(|b| b["code"] == "opt_in_button_missing"));
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(409);

    let m = app
        .post(
            "/v1/messages",
            &ws.key,
            ask("<p>May we?</p>{% opt_in_button \"Yes, send me the news\" %}"),
        )
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let mails = captured(&app, &ws.key, &id, 1).await;
    let url = crate::hardening::link_in(
        &mails["ann@receiver-mail.net"],
        &format!("{}/optin/", app.base),
    );
    for _ in 0..2 {
        let r = crate::support::confirm_opt_in(&app.client, &url).await;
        assert!(r.status().is_success(), "{}", r.status());
    }
    let ins: Vec<Value> = events(&app, &ws.key, &ann)
        .await
        .into_iter()
        .filter(|e| e["action"] == "opt_in")
        .collect();
    assert_eq!(ins.len(), 1, "pressing twice records one opt-in: {ins:?}");
    let evidence = &ins[0]["evidence"];
    assert_eq!(evidence["subject"], "News for Ann", "{evidence}");
    assert_eq!(evidence["wording"], "Yes, send me the news");
}

/// Item 8: a second unsubscribe counted again in the message's stats, and
/// an unsubscribe wrote opt-outs for topics the person never joined.
async fn an_unsubscribe_counts_once_and_only_for_joined_topics(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    let reader = opted_in(&app, &ws, "reader@receiver-mail.net").await;
    // Another person joined another topic, so the workspace has two.
    let other = app
        .contact(&ws.key, json!({"email": "other@receiver-mail.net"}))
        .await;
    app.post(
        &format!("/v1/contacts/{other}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form", "topic": "events",
               "evidence": {"ip": "203.0.113.9", "wording": "Invite me to events"}}),
    )
    .await
    .expect(201);
    let (id, _) = send_news(&app, &ws, "news").await;
    let mails = captured(&app, &ws.key, &id, 1).await;
    let url = list_unsubscribe(&mails["reader@receiver-mail.net"]);
    for _ in 0..3 {
        let r = app
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    let outs: Vec<Value> = events(&app, &ws.key, &reader)
        .await
        .into_iter()
        .filter(|e| e["action"] == "opt_out")
        .collect();
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0]["topic"], "marketing");
    let m = app
        .get(&format!("/v1/messages/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(m["events"]["unsubscribe"], 1, "{m}");
    assert_eq!(
        suppression_reason(&app, &ws.key, "reader@receiver-mail.net")
            .await
            .as_deref(),
        Some("unsubscribed")
    );
}

/// Item 15: reputation showed `sends: 0` after captured deliveries while
/// it counted complaints, so every rate was wrong.
async fn captured_mail_counts_as_sent(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    for i in 0..3 {
        opted_in(&app, &ws, &format!("reader{i}@receiver-mail.net")).await;
    }
    let (id, _) = send_news(&app, &ws, "news").await;
    captured(&app, &ws.key, &id, 3).await;
    let started = Instant::now();
    loop {
        let v = app
            .get(&format!("/v1/workspaces/{}", ws.id), &app.operator)
            .await
            .expect(200);
        if v["reputation"]["sends"] == 3 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = app
        .get(&format!("/v1/messages/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(m["counts"]["delivered"], 3, "{m}");
}

crate::on_both_db!(attribute_names_and_sender_names_mean_one_thing,);

/// Item 13: a custom `first_name` was accepted and then never seen by a
/// template; a From name with Liquid went out with its braces.
async fn attribute_names_and_sender_names_mean_one_thing(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    let r = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "ann@receiver-mail.net", "attributes": {"first_name": "Ann"}}),
        )
        .await
        .expect(422);
    assert!(r.to_string().contains("first_name"), "{r}");
    // Nothing was written.
    assert!(app
        .attribute_types(&ws.key)
        .await
        .iter()
        .all(|(n, _)| n != "first_name"));
    // An import's first and last name columns make the contact's name.
    let report = app
        .import(
            &ws.key,
            "source=signup_form",
            "email,first_name,last_name\nbea@receiver-mail.net,Bea,Stone\n",
        )
        .await
        .expect(201);
    assert_eq!(report["counts"]["imported"], 1, "{report}");
    let list = app.get("/v1/contacts", &ws.key).await.expect(200);
    assert!(list.to_string().contains("Bea Stone"), "{list}");
    let r = app
        .post(
            "/v1/messages",
            &ws.key,
            json!({"name": "x", "kind": "marketing",
                   "from": {"name": "{{ workspace_name }} News", "address": "news@acme-mail.com"},
                   "subject": "Hi", "template": {"layout": "plain", "text": "Hi."}}),
        )
        .await
        .expect(422);
    assert_eq!(r["errors"][0]["pointer"], "/from/name", "{r}");
}

crate::on_both_db!(error_texts_speak_to_the_caller,);

/// Item 25: a 413 named the contacts batch limit on every endpoint;
/// serde's type names reached callers; a JSON body with a byte order mark
/// was refused.
async fn error_texts_speak_to_the_caller(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    let send_raw = |path: &str, body: Vec<u8>| {
        app.client
            .post(app.url(path))
            .bearer_auth(&ws.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(br#"{"email": "bom@receiver-mail.net"}"#);
    let r = send_raw("/v1/contacts", bom).await.expect("post");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);

    let huge = format!(r#"{{"name": "x", "subject": "{}"}}"#, "a".repeat(17 << 20));
    let r = send_raw("/v1/messages", huge.into_bytes())
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.expect("json");
    let detail = body["detail"].as_str().expect("detail");
    assert!(detail.contains("POST /v1/messages"), "{detail}");
    assert!(detail.contains("KiB"), "{detail}");
    assert!(!detail.contains("1000 per batch"), "{detail}");

    for (path, body) in [
        ("/v1/messages", json!([1, 2])),
        (
            "/v1/messages",
            json!({"name": "x", "from": "news@acme-mail.com"}),
        ),
        ("/v1/contacts", json!({"email": 5})),
        (
            "/v1/contacts/batch",
            json!({"contacts": [{"email": "a@b.c", "attributes": 3}]}),
        ),
    ] {
        let r = app.post(path, &ws.key, body.clone()).await;
        assert_eq!(r.status.as_u16(), 422, "{body}: {}", r.body);
        let text = r.body.to_string();
        for rust in [
            "struct ",
            "enum ",
            "MessageRequest",
            "ContactInput",
            "ContactRequest",
            "BatchRequest",
        ] {
            assert!(!text.contains(rust), "{body}: {text}");
        }
    }
    // The pointer says where the problem is.
    let r = app
        .post(
            "/v1/contacts/batch",
            &ws.key,
            json!({"contacts": [{"email": "a@receiver-mail.net"}, {"email": 7}]}),
        )
        .await
        .expect(422);
    assert_eq!(r["errors"][0]["pointer"], "/contacts/1/email", "{r}");
}

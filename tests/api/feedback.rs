//! Bounces and complaints coming back by SMTP to the inbound listener:
//! matched to their delivery by the VERP address (or the Message-ID of a
//! complaint report), and turned into suppressions and ledger opt-outs.

use crate::support::{opted_in, relay_to, send_news, TestApp};
use sendwell_server::smtp::client::{ClientOptions, SmtpConnection, TlsMode};
use sendwell_server::smtp::sink::{AcceptAll, SinkOptions, SmtpSink};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

crate::on_both_db!(
    bounces_and_complaints_by_smtp_become_suppressions_and_opt_outs,
    three_soft_bounces_in_the_last_five_sends_suppress_the_address,
    a_recipient_reports_a_message_by_its_footer_link_and_it_counts_as_a_complaint,
    provider_webhooks_are_checked_by_their_signatures_and_applied,
    ses_notifications_through_sns_are_verified_by_the_signing_certificate,
);

const BOUNCE_DOMAIN: &str = "bounces.sendwell.test";

fn dsn(verp: &str, rcpt: &str, status: &str, diagnostic: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.receiver-mail.net (Mail Delivery System)\r\n\
         To: <{verp}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"BOUNDARY\"\r\n\
         \r\n\
         --BOUNDARY\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         This is the mail system at host mx.receiver-mail.net.\r\n\
         I'm sorry to have to inform you that your message could not be delivered.\r\n\
         \r\n\
         --BOUNDARY\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.receiver-mail.net\r\n\
         \r\n\
         Final-Recipient: rfc822; {rcpt}\r\n\
         Original-Recipient: rfc822;{rcpt}\r\n\
         Action: failed\r\n\
         Status: {status}\r\n\
         Remote-MTA: dns; mailstore.receiver-mail.net\r\n\
         Diagnostic-Code: smtp; {diagnostic}\r\n\
         \r\n\
         --BOUNDARY\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         Return-Path: <{verp}>\r\n\
         From: Acme News <news@acme-mail.com>\r\n\
         To: {rcpt}\r\n\
         Subject: The spring release\r\n\
         \r\n\
         --BOUNDARY--\r\n"
    )
}

fn arf(rcpt: &str, original: &str) -> String {
    format!(
        "From: feedback@receiver-mail.net\r\n\
         To: abuse@{BOUNCE_DOMAIN}\r\n\
         Subject: complaint about message from acme-mail.com\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"ARF\"\r\n\
         \r\n\
         --ARF\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         This is an email abuse report for an email message received from IP 192.0.2.1.\r\n\
         \r\n\
         --ARF\r\n\
         Content-Type: message/feedback-report\r\n\
         \r\n\
         Feedback-Type: abuse\r\n\
         User-Agent: ReceiverFBL/1.0\r\n\
         Version: 1\r\n\
         Original-Mail-From: <bounces@{BOUNCE_DOMAIN}>\r\n\
         Original-Rcpt-To: <{rcpt}>\r\n\
         Source-IP: 192.0.2.1\r\n\
         \r\n\
         --ARF\r\n\
         Content-Type: message/rfc822\r\n\
         \r\n\
         {original}\r\n\
         --ARF--\r\n"
    )
}

/// Sends one message to the inbound listener; the final reply.
async fn deliver_to(addr: SocketAddr, rcpt: &str, data: &str) -> u16 {
    let options = ClientOptions {
        tls: TlsMode::None,
        ..ClientOptions::default()
    };
    let mut c = SmtpConnection::connect("localhost", addr, &options)
        .await
        .expect("the inbound listener answers");
    let reply = c
        .send("", rcpt, data.as_bytes())
        .await
        .expect("an SMTP answer");
    c.quit().await;
    reply.code
}

async fn suppressions(app: &TestApp, key: &str) -> HashMap<String, String> {
    app.get("/v1/suppressions?limit=100", key).await.expect(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            (
                s["email"].as_str().unwrap_or_default().to_owned(),
                s["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn bounces_and_complaints_by_smtp_become_suppressions_and_opt_outs(db: Option<String>) {
    let sink = SmtpSink::start(Arc::new(AcceptAll), SinkOptions::default())
        .await
        .expect("sink");
    let app = TestApp::spawn_with(db, |s| {
        relay_to(s, sink.addr());
        s.delivery.insecure_skip_domain_verification = true;
        s.smtp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let inbound = app.inbound().await;
    let ws = app.ready_workspace("Acme").await;
    let mut ids = HashMap::new();
    for who in ["hard", "soft", "complain", "blocked"] {
        let email = format!("{who}@receiver-mail.net");
        ids.insert(who, opted_in(&app, &ws, &email).await);
    }
    let (id, _) = send_news(&app, &ws, "news").await;
    let s = &sink;
    let started = Instant::now();
    while s.received().len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the four mails went out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each recipient's mail and the return path it carried.
    let mails: HashMap<String, (String, String)> = sink
        .received()
        .into_iter()
        .map(|r| {
            (
                r.to[0].split('@').next().unwrap_or_default().to_owned(),
                (
                    r.from.clone(),
                    String::from_utf8_lossy(&r.data).into_owned(),
                ),
            )
        })
        .collect();

    // Never an open relay: other domains, unknown or forged mailboxes are refused.
    let data = dsn(
        "x@example.org",
        "x@example.org",
        "5.1.1",
        "550 5.1.1 unknown",
    );
    for rcpt in [
        "someone@example.org".to_owned(),
        format!("bounces+msg_1.ct_1=00ff@{BOUNCE_DOMAIN}"),
        format!("someone@{BOUNCE_DOMAIN}"),
    ] {
        assert_eq!(
            deliver_to(inbound, &rcpt, &data).await,
            550,
            "{rcpt} refused"
        );
    }

    let (hard_verp, _) = &mails["hard"];
    assert!(hard_verp.ends_with(BOUNCE_DOMAIN));
    let hard_dsn = dsn(
        hard_verp,
        "hard@receiver-mail.net",
        "5.1.1",
        "550 5.1.1 <hard@receiver-mail.net>: Recipient address rejected: User unknown in local recipient table",
    );
    assert_eq!(deliver_to(inbound, hard_verp, &hard_dsn).await, 250);
    let (soft_verp, _) = &mails["soft"];
    let soft_dsn = dsn(
        soft_verp,
        "soft@receiver-mail.net",
        "4.2.2",
        "452 4.2.2 <soft@receiver-mail.net>: Mailbox full, quota exceeded",
    );
    assert_eq!(deliver_to(inbound, soft_verp, &soft_dsn).await, 250);
    let (blocked_verp, _) = &mails["blocked"];
    let blocked_dsn = dsn(
        blocked_verp,
        "blocked@receiver-mail.net",
        "5.7.1",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
    );
    assert_eq!(deliver_to(inbound, blocked_verp, &blocked_dsn).await, 250);
    // The complaint comes to abuse@, with the original mail attached.
    let (_, original) = &mails["complain"];
    let report = arf("complain@receiver-mail.net", original);
    assert_eq!(
        deliver_to(inbound, &format!("abuse@{BOUNCE_DOMAIN}"), &report).await,
        250
    );

    let started = Instant::now();
    let found = loop {
        let s = suppressions(&app, &ws.key).await;
        if s.len() >= 2 {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the hard bounce and the complaint did not suppress: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        found.get("hard@receiver-mail.net").map(String::as_str),
        Some("bounced")
    );
    assert_eq!(
        found.get("complain@receiver-mail.net").map(String::as_str),
        Some("complained")
    );
    // Give the last two a moment; neither suppresses.
    let store = &app.state.store;
    let blocked_delivery = format!("{id}.{}", ids["blocked"]);
    let soft_delivery = format!("{id}.{}", ids["soft"]);
    let started = Instant::now();
    while store
        .delivery_events(&blocked_delivery)
        .await
        .expect("events")
        .is_empty()
        || store
            .delivery_events(&soft_delivery)
            .await
            .expect("events")
            .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "soft and blocked recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let found = suppressions(&app, &ws.key).await;
    assert!(
        !found.contains_key("soft@receiver-mail.net"),
        "one soft bounce only counts"
    );
    assert!(
        !found.contains_key("blocked@receiver-mail.net"),
        "a reputation block is not a bad address"
    );
    let blocked = store
        .delivery_events(&blocked_delivery)
        .await
        .expect("events");
    assert_eq!(blocked[0].0, "bounce");
    assert_eq!(blocked[0].1, "blocked");
    // The hard bounce turned its delivery from delivered into bounced.
    let d = store
        .delivery_state(
            &sendwell_core::DeliveryId::parse(&format!("{id}.{}", ids["hard"]))
                .expect("a delivery id"),
        )
        .await
        .expect("read")
        .expect("row");
    assert_eq!(d.state, "bounced");
    assert_eq!(d.enhanced_status.as_deref(), Some("5.1.1"));
    // The complaint is an opt-out in the ledger, method complaint.
    let contact: Value = app
        .get(&format!("/v1/contacts/{}", ids["complain"]), &ws.key)
        .await
        .expect(200);
    assert_eq!(
        contact["consent"]["marketing"]["status"], "opted_out",
        "{contact}"
    );
    let proof = app
        .get(
            &format!("/v1/contacts/{}/consent", ids["complain"]),
            &ws.key,
        )
        .await
        .expect(200);
    let text = proof.to_string();
    assert!(text.contains("\"complaint\""), "{text}");
    // The same bounce again changes nothing.
    assert_eq!(deliver_to(inbound, hard_verp, &hard_dsn).await, 250);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = store
        .delivery_events(&format!("{id}.{}", ids["hard"]))
        .await
        .expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
}

async fn three_soft_bounces_in_the_last_five_sends_suppress_the_address(db: Option<String>) {
    let sink = SmtpSink::start(Arc::new(AcceptAll), SinkOptions::default())
        .await
        .expect("sink");
    let app = TestApp::spawn_with(db, |s| {
        relay_to(s, sink.addr());
        s.delivery.insecure_skip_domain_verification = true;
        s.smtp_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let inbound = app.inbound().await;
    let ws = app.ready_workspace("Acme").await;
    app.contact(&ws.key, json!({"email": "full@receiver-mail.net"}))
        .await;
    let store = &app.state.store;
    for n in 1..=3 {
        let sent = app
            .post(
                "/v1/transactional",
                &ws.key,
                json!({
                    "to": {"email": "full@receiver-mail.net"},
                    "from": {"name": "Acme", "address": "receipts@acme-mail.com"},
                    "subject": format!("Receipt {n}"),
                    "template": {"layout": "plain", "html": "<p>Thank you for your order.</p>"},
                }),
            )
            .await
            .expect(202);
        let delivery = sent["delivery_id"].as_str().expect("delivery").to_owned();
        let started = Instant::now();
        while sink.received().len() < n {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "receipt {n} went out"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let verp = sink.received()[n - 1].from.clone();
        let bounce = dsn(
            &verp,
            "full@receiver-mail.net",
            "4.2.2",
            "452 4.2.2 <full@receiver-mail.net>: Mailbox full",
        );
        assert_eq!(deliver_to(inbound, &verp, &bounce).await, 250);
        let started = Instant::now();
        while store
            .delivery_events(&delivery)
            .await
            .expect("events")
            .is_empty()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "bounce {n} recorded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let found = suppressions(&app, &ws.key).await;
        if n < 3 {
            assert!(
                found.is_empty(),
                "{n} soft bounces do not suppress yet: {found:?}"
            );
        } else {
            assert_eq!(
                found.get("full@receiver-mail.net").map(String::as_str),
                Some("bounced"),
                "the third soft bounce suppresses"
            );
        }
    }
}

async fn a_recipient_reports_a_message_by_its_footer_link_and_it_counts_as_a_complaint(
    db: Option<String>,
) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "reader@receiver-mail.net").await;
    let (id, _) = send_news(&app, &ws, "news").await;
    let started = Instant::now();
    let entry = loop {
        let out = app
            .get(&format!("/v1/outbox?message_id={id}"), &ws.key)
            .await
            .expect(200);
        if let Some(e) = out["items"].as_array().and_then(|i| i.first()).cloned() {
            break e;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the mail was captured"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let raw = app
        .client
        .get(app.url(&format!(
            "/v1/outbox/{}/raw",
            entry["id"].as_str().expect("id")
        )))
        .bearer_auth(&ws.key)
        .send()
        .await
        .expect("raw")
        .text()
        .await
        .expect("text");
    let link = raw
        .split(['<', '>', '"', ' ', '\r', '\n'])
        .find(|p| p.contains("/u/"))
        .expect("an unsubscribe link")
        .to_owned();
    let anonymous = |body: Value| app.client.post(app.url("/v1/reports")).json(&body).send();
    // Nothing to find the message by: refused, saying what to give.
    let r = anonymous(json!({"reason": "spam"})).await.expect("sent");
    assert_eq!(r.status(), 422);
    let r = anonymous(json!({"link": "https://x/u/forged.token", "reason": "spam"}))
        .await
        .expect("sent");
    assert_eq!(r.status(), 422, "a forged link finds nothing");
    let r = anonymous(json!({"link": link, "reason": "I never signed up for this", "reporter": "reader@receiver-mail.net"}))
        .await
        .expect("sent");
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["workspace_id"], ws.id.as_str());
    // It counts as a complaint: suppressed, opted out.
    let found = suppressions(&app, &ws.key).await;
    assert_eq!(
        found.get("reader@receiver-mail.net").map(String::as_str),
        Some("complained")
    );
    // The operator sees it.
    let listed = app
        .get("/v1/operator/reports", &app.operator)
        .await
        .expect(200);
    assert_eq!(listed["items"][0]["reason"], "I never signed up for this");
    app.get("/v1/operator/reports", &ws.key).await.expect(403);
    // Rate-limited: ten an hour from one address (three were used above).
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = anonymous(json!({"reason": "spam"})).await.expect("sent");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

const MAILGUN_KEY: &str = "key-mailgun-test-0123456789";
const POSTMARK_TOKEN: &str = "postmark-token-0123456789abcdef";

fn mailgun_body(key: &str, ts: i64, event: Value) -> Value {
    use hmac::Mac;
    let token = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(format!("{ts}{token}").as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({"signature": {"timestamp": ts.to_string(), "token": token, "signature": sig}, "event-data": event})
}

async fn provider_webhooks_are_checked_by_their_signatures_and_applied(db: Option<String>) {
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let sendgrid = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("key");
    let mut spki = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    spki.extend_from_slice(sendgrid.public_key().as_ref());
    let sendgrid_key = b64.encode(&spki);
    let app = TestApp::spawn_with(db, |s| {
        s.delivery.providers.mailgun_signing_key = Some(MAILGUN_KEY.to_owned());
        s.delivery.providers.sendgrid_verification_key = Some(sendgrid_key.clone());
        s.delivery.providers.postmark_webhook_token = Some(POSTMARK_TOKEN.to_owned());
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    let mut ids = HashMap::new();
    for who in ["mg", "sg", "pm"] {
        ids.insert(
            who,
            opted_in(&app, &ws, &format!("{who}@receiver-mail.net")).await,
        );
    }
    let (id, _) = send_news(&app, &ws, "news").await;
    let started = Instant::now();
    loop {
        let c = app
            .get(&format!("/v1/messages/{id}"), &ws.key)
            .await
            .expect(200);
        if c["counts"]["delivered"] == 3 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "sent: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mid = |who: &str| format!("<{id}.{}@sendwell.localhost>", ids[who]);
    let now = app.state.store.now().millis() / 1000;
    let post_raw = |path: &str, body: Vec<u8>, headers: Vec<(&'static str, String)>| {
        let mut req = app.client.post(app.url(path)).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };

    // Mailgun: a permanent failure.
    let event = json!({"event": "failed", "severity": "permanent", "recipient": "mg@receiver-mail.net",
        "message": {"headers": {"message-id": mid("mg")}},
        "delivery-status": {"code": 550, "enhanced-code": "5.1.1", "description": "No such user", "message": "550 5.1.1 No such user"}});
    let forged = mailgun_body("not-the-key", now, event.clone());
    let r = post_raw(
        "/v1/webhooks/mailgun",
        forged.to_string().into_bytes(),
        vec![],
    )
    .await
    .expect("sent");
    assert_eq!(r.status(), 401);
    let stale = mailgun_body(MAILGUN_KEY, now - 3600, event.clone());
    let r = post_raw(
        "/v1/webhooks/mailgun",
        stale.to_string().into_bytes(),
        vec![],
    )
    .await
    .expect("sent");
    assert_eq!(r.status(), 401, "an old event is a replay");
    let good = mailgun_body(MAILGUN_KEY, now, event);
    let r = post_raw(
        "/v1/webhooks/mailgun",
        good.to_string().into_bytes(),
        vec![],
    )
    .await
    .expect("sent");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["recorded"], 1, "{body}");

    // SendGrid: a spam report, signed over timestamp and body.
    let events = json!([{"email": "sg@receiver-mail.net", "event": "spamreport", "smtp-id": mid("sg"), "timestamp": now},
                        {"email": "sg@receiver-mail.net", "event": "open", "smtp-id": mid("sg")}]).to_string();
    let ts = now.to_string();
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(events.as_bytes());
    let sig = b64.encode(sendgrid.sign(&rng, &signed).expect("sign").as_ref());
    let headers = |sig: &str| {
        vec![
            ("x-twilio-email-event-webhook-signature", sig.to_owned()),
            ("x-twilio-email-event-webhook-timestamp", ts.clone()),
            ("content-type", "application/json".to_owned()),
        ]
    };
    let tampered = events.replace("spamreport", "delivered");
    let r = post_raw(
        "/v1/webhooks/sendgrid",
        tampered.into_bytes(),
        headers(&sig),
    )
    .await
    .expect("sent");
    assert_eq!(r.status(), 401);
    let r = post_raw(
        "/v1/webhooks/sendgrid",
        events.clone().into_bytes(),
        headers(&sig),
    )
    .await
    .expect("sent");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        (body["recorded"].clone(), body["ignored"].clone()),
        (json!(1), json!(1)),
        "{body}"
    );

    // Postmark: a hard bounce, with the token in the URL.
    let bounce =
        json!({"RecordType": "Bounce", "Type": "HardBounce", "Email": "pm@receiver-mail.net",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
        "Headers": [{"Name": "Message-ID", "Value": mid("pm")}]})
        .to_string();
    let r = post_raw(
        "/v1/webhooks/postmark?token=wrong",
        bounce.clone().into_bytes(),
        vec![],
    )
    .await
    .expect("sent");
    assert_eq!(r.status(), 401);
    let r = post_raw(
        &format!("/v1/webhooks/postmark?token={POSTMARK_TOKEN}"),
        bounce.into_bytes(),
        vec![],
    )
    .await
    .expect("sent");
    assert_eq!(r.status(), 200);
    // A Message-ID of ours with another recipient does not match.
    let wrong = json!({"RecordType": "Bounce", "Type": "HardBounce", "Email": "someone@else.net",
        "Headers": [{"Name": "Message-ID", "Value": mid("mg")}]})
    .to_string();
    let r = post_raw(
        &format!("/v1/webhooks/postmark?token={POSTMARK_TOKEN}"),
        wrong.into_bytes(),
        vec![],
    )
    .await
    .expect("sent");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["unmatched"], 1, "{body}");

    let found = suppressions(&app, &ws.key).await;
    assert_eq!(
        found.get("mg@receiver-mail.net").map(String::as_str),
        Some("bounced")
    );
    assert_eq!(
        found.get("sg@receiver-mail.net").map(String::as_str),
        Some("complained")
    );
    assert_eq!(
        found.get("pm@receiver-mail.net").map(String::as_str),
        Some("bounced")
    );

    // A server without the keys has no such endpoints.
    let plain = TestApp::spawn(None).await;
    let r = plain
        .client
        .post(plain.url("/v1/webhooks/mailgun"))
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 404);
}

/// Signs like SNS (SignatureVersion 2) with openssl, an independent signer.
fn sns_sign(dir: &std::path::Path, v: &mut Value) {
    let kind = v["Type"].as_str().expect("type").to_owned();
    let fields: &[&str] = if kind == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut canonical = String::new();
    for f in fields {
        if let Some(x) = v[*f].as_str() {
            canonical.push_str(&format!("{f}\n{x}\n"));
        }
    }
    let data = dir.join("canonical.txt");
    std::fs::write(&data, canonical).expect("write");
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(dir.join("key.pem"))
        .arg(&data)
        .output()
        .expect("openssl signs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use base64::Engine as _;
    v["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(out.stdout));
}

async fn ses_notifications_through_sns_are_verified_by_the_signing_certificate(db: Option<String>) {
    const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:sendwell-ses";
    const CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem";
    let dir = tempfile::tempdir().expect("dir");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=sns.amazonaws.com",
            "-keyout",
        ])
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .output()
        .expect("openssl makes a certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pem = std::fs::read(dir.path().join("cert.pem")).expect("pem");
    let app = TestApp::spawn_with(db, |s| {
        s.delivery.providers.ses_topic_arns = vec![TOPIC.to_owned()];
    })
    .await;
    let fetched: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let f = fetched.clone();
    app.state.set_sns_fetch(Arc::new(move |url: String| {
        let pem = pem.clone();
        let f = f.clone();
        Box::pin(async move {
            f.lock().expect("lock").push(url.clone());
            Ok(if url == CERT_URL {
                pem
            } else {
                b"confirmed".to_vec()
            })
        })
    }));
    let ws = app.ready_workspace("Acme").await;
    let contact = opted_in(&app, &ws, "ses@receiver-mail.net").await;
    let (id, _) = send_news(&app, &ws, "news").await;
    let started = Instant::now();
    loop {
        let c = app
            .get(&format!("/v1/messages/{id}"), &ws.key)
            .await
            .expect(200);
        if c["counts"]["delivered"] == 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "sent: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = app.state.store.now().to_rfc3339();
    let ses = json!({
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": [
            {"emailAddress": "ses@receiver-mail.net", "status": "5.1.1", "action": "failed",
             "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]},
        "mail": {"messageId": "0100018c-ses-id", "headers": [
            {"name": "Message-ID", "value": format!("<{id}.{contact}@sendwell.localhost>")}]}
    });
    let mut note = json!({
        "Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC, "Message": ses.to_string(), "Timestamp": now,
        "SignatureVersion": "2", "SigningCertURL": CERT_URL,
    });
    sns_sign(dir.path(), &mut note);
    let post = |body: Value| {
        app.client
            .post(app.url("/v1/webhooks/ses"))
            .body(body.to_string())
            .send()
    };
    // Changed after signing: refused.
    let mut forged = note.clone();
    forged["Message"] = json!(ses.to_string().replace("Permanent", "Transient"));
    assert_eq!(post(forged).await.expect("sent").status(), 401);
    // Signed, but by another account's topic: refused.
    let mut other = note.clone();
    other["TopicArn"] = json!("arn:aws:sns:eu-west-1:999999999999:theirs");
    sns_sign(dir.path(), &mut other);
    assert_eq!(post(other).await.expect("sent").status(), 401);
    // A certificate from anywhere but SNS: refused without fetching it.
    let mut elsewhere = note.clone();
    elsewhere["SigningCertURL"] = json!("https://evil.example.com/cert.pem");
    assert_eq!(post(elsewhere).await.expect("sent").status(), 401);
    let r = post(note).await.expect("sent");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["recorded"], 1, "{body}");
    let found = suppressions(&app, &ws.key).await;
    assert_eq!(
        found.get("ses@receiver-mail.net").map(String::as_str),
        Some("bounced")
    );
    // A subscription confirmation is confirmed by fetching its URL.
    let mut sub = json!({
        "Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37", "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37",
        "Timestamp": now, "SignatureVersion": "2", "SigningCertURL": CERT_URL,
    });
    sns_sign(dir.path(), &mut sub);
    assert_eq!(post(sub).await.expect("sent").status(), 200);
    let calls = fetched.lock().expect("lock").clone();
    assert!(
        calls.iter().any(|u| u.contains("ConfirmSubscription")),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|u| u.contains("evil")), "{calls:?}");
}

//! Outgoing webhooks: events signed as Standard Webhooks says, retried
//! after a failure, with a delivery log.

use crate::support::{send_news, TestApp};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

crate::on_both_db!(
    events_reach_a_webhook_signed_retried_and_logged,
    opens_and_clicks_reach_webhooks_naming_the_contact,
);

#[derive(Clone, Default)]
struct Received {
    calls: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

/// An HTTP receiver that fails the first request and takes the rest.
async fn receiver() -> (String, Received) {
    let got = Received::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let mut calls = g.calls.lock().expect("lock");
                calls.push((headers, body));
                if calls.len() == 1 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, got)
}

async fn events_reach_a_webhook_signed_retried_and_logged(db: Option<String>) {
    let (url, got) = receiver().await;
    let app = TestApp::spawn_with(db, |s| {
        s.delivery.webhook_allow_private = true;
        s.delivery.webhook_retry_base = Duration::from_millis(100);
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    let bad = app
        .post(
            "/v1/webhooks",
            &ws.key,
            json!({"url": url, "events": ["bounce", "nonsense"]}),
        )
        .await
        .expect(422);
    assert_eq!(bad["errors"][0]["pointer"], "/events/1");
    let hook = app
        .post(
            "/v1/webhooks",
            &ws.key,
            json!({"url": url, "events": ["delivery", "complaint"]}),
        )
        .await
        .expect(201);
    let secret = hook["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    let listed = app.get("/v1/webhooks", &ws.key).await.expect(200);
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");

    let contact = app
        .contact(&ws.key, json!({"email": "reader@receiver-mail.net"}))
        .await;
    app.post(
        &format!("/v1/contacts/{contact}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form",
               "evidence": {"ip": "203.0.113.9", "wording": "Send me news"}}),
    )
    .await
    .expect(201);
    let (id, _) = send_news(&app, &ws, "news").await;
    // A concern reported by its (signed) Message-ID counts as a complaint.
    let mails = crate::hardening::captured(&app, &ws.key, &id, 1).await;
    let message_id = crate::hardening::header(&mails["reader@receiver-mail.net"], "Message-ID");
    assert!(message_id.contains(&contact), "{message_id}");
    let r = app
        .client
        .post(app.url("/v1/reports"))
        .json(&json!({"message_id": message_id, "reason": "spam"}))
        .send()
        .await
        .expect("report");
    assert_eq!(r.status(), 202);

    // Both events arrive; the first attempt was refused and retried.
    let started = Instant::now();
    let calls = loop {
        let calls = got.calls.lock().expect("lock").clone();
        let types: Vec<String> = calls
            .iter()
            .skip(1)
            .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
            .map(|v| v["type"].as_str().unwrap_or_default().to_owned())
            .collect();
        if types.contains(&"delivery".to_owned()) && types.contains(&"complaint".to_owned()) {
            break calls;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "webhooks arrived: {types:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (headers, body) in &calls {
        let hid = headers["webhook-id"].to_str().expect("id");
        let ts: i64 = headers["webhook-timestamp"]
            .to_str()
            .expect("ts")
            .parse()
            .expect("number");
        let sig = headers["webhook-signature"].to_str().expect("sig");
        assert_eq!(
            sendwell_server::webhooks::sign(&secret, hid, ts, body).as_deref(),
            Some(sig),
            "signed over id.timestamp.body"
        );
        let wrong = sendwell_server::webhooks::sign(&secret, hid, ts, &body.replace("spam", "ham"));
        if body.contains("spam") {
            assert_ne!(wrong.as_deref(), Some(sig));
        }
    }
    let complaint: Value = calls
        .iter()
        .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
        .find(|v| v["type"] == "complaint")
        .expect("complaint");
    assert_eq!(complaint["data"]["contact_id"], contact.as_str());
    assert_eq!(complaint["data"]["suppressed"], "complained");
    assert_eq!(complaint["workspace_id"], ws.id.as_str());
    // The log shows the retried message, once the sender has recorded
    // what the receiver already answered.
    let started = Instant::now();
    let log = loop {
        let log = app
            .get(&format!("/v1/webhooks/{hook_id}/deliveries"), &ws.key)
            .await
            .expect(200);
        let recorded = log["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|i| i["state"] == "delivered"));
        if recorded || started.elapsed() > Duration::from_secs(10) {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let items = log["items"].as_array().expect("items");
    assert!(items.iter().all(|i| i["state"] == "delivered"), "{log}");
    assert!(
        items.iter().any(|i| i["attempts"] == 2),
        "one was retried: {log}"
    );
    assert!(items.iter().all(|i| i["last_status"] == 204), "{log}");
    // Another workspace cannot see or remove it.
    let other = app.ready_workspace("Other").await;
    app.get(&format!("/v1/webhooks/{hook_id}/deliveries"), &other.key)
        .await
        .expect(404);
    app.delete(&format!("/v1/webhooks/{hook_id}"), &other.key)
        .await
        .expect(404);
    app.delete(&format!("/v1/webhooks/{hook_id}"), &ws.key)
        .await
        .expect(204);
    app.get(&format!("/v1/webhooks/{hook_id}/deliveries"), &ws.key)
        .await
        .expect(404);
}

/// Opens and clicks are events too (issue #19), and every payload names
/// the contact by its address and external id as well as its id.
async fn opens_and_clicks_reach_webhooks_naming_the_contact(db: Option<String>) {
    let (url, got) = receiver().await;
    let app = TestApp::spawn_with(db, |s| {
        s.delivery.webhook_allow_private = true;
        s.delivery.webhook_retry_base = Duration::from_millis(100);
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    app.post(
        "/v1/webhooks",
        &ws.key,
        json!({"url": url, "events": ["delivery", "open", "click", "unsubscribe"]}),
    )
    .await
    .expect(201);
    let contact = app
        .contact(
            &ws.key,
            json!({"email": "reader@receiver-mail.net", "external_id": "crm-42"}),
        )
        .await;
    app.post(
        &format!("/v1/contacts/{contact}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form", "evidence": {"wording": "Send me news"}}),
    )
    .await
    .expect(201);
    let m = app
        .post(
            "/v1/messages",
            &ws.key,
            json!({"name": "Sale", "kind": "marketing",
                   "from": {"name": "Acme", "address": "news@acme-mail.com"},
                   "subject": "The sale",
                   "template": {"layout": "plain",
                                "html": "<p>See <a href=\"https://shop.acme-mail.com/sale\">the sale</a>.</p>"}}),
        )
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let mails = crate::hardening::captured(&app, &ws.key, &id, 1).await;
    let raw = &mails["reader@receiver-mail.net"];
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parses");
    let html = parsed.body_html(0).expect("html").to_string();
    let click = crate::messages::link(&html, &format!("{}/c/", app.base)).expect("click link");
    crate::messages::no_redirect_client()
        .get(&click)
        .send()
        .await
        .expect("click");
    let pixel_at = html.find(&format!("{}/o/", app.base)).expect("open pixel");
    let pixel_end = html[pixel_at..].find('"').expect("end") + pixel_at;
    app.client
        .get(&html[pixel_at..pixel_end])
        .send()
        .await
        .expect("open");

    // One-click unsubscribe (RFC 8058): one event, not one per recorder.
    let list_unsubscribe = crate::hardening::header(raw, "List-Unsubscribe");
    let one_click = list_unsubscribe
        .trim_start_matches('<')
        .split('>')
        .next()
        .expect("the https URL first")
        .to_owned();
    let r = app
        .client
        .post(&one_click)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("one-click");
    assert!(r.status().is_success(), "{}", r.status());

    let received = || -> Vec<Value> {
        got.calls
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
            .collect()
    };
    let started = Instant::now();
    let events = loop {
        let events = received();
        let has = |t: &str| events.iter().any(|e| e["type"] == t);
        if has("delivery") && has("open") && has("click") && has("unsubscribe") {
            // Time for a second copy to arrive, were one sent.
            tokio::time::sleep(Duration::from_millis(500)).await;
            break received();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "webhooks arrived: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for e in &events {
        let data = &e["data"];
        assert_eq!(data["contact_id"], contact.as_str(), "{e}");
        assert_eq!(data["email"], "reader@receiver-mail.net", "{e}");
        assert_eq!(data["external_id"], "crm-42", "{e}");
        assert_eq!(data["message_id"], id.as_str(), "{e}");
    }
    let click = events.iter().find(|e| e["type"] == "click").expect("click");
    assert_eq!(click["data"]["url"], "https://shop.acme-mail.com/sale");
    let unsubscribes = events.iter().filter(|e| e["type"] == "unsubscribe").count();
    assert_eq!(unsubscribes, 1, "{events:?}");
}

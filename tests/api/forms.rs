//! Hosted sign-up forms with double opt-in (issue #19), end to end over
//! SMTP: a person signs up on the form, the confirmation mail reaches a
//! real SMTP sink, the link's button records the opt-in with both steps'
//! evidence, and the newsletter then reaches them. Bots, repeats,
//! suppressed addresses and other origins get nothing.

use crate::delivery::announcement;
use crate::support::{hidden_field as field, page_text, relay_to, TestApp};
use sendwell_server::smtp::sink::{AcceptAll, SinkOptions, SmtpSink};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

crate::on_both_db!(
    a_sign_up_is_confirmed_over_smtp_and_recorded_with_both_steps,
    forms_are_checked_and_bots_repeats_and_suppressed_addresses_get_no_mail,
);

async fn app_with_sink(db: Option<String>) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start(Arc::new(AcceptAll), SinkOptions::default())
        .await
        .expect("sink");
    let app = TestApp::spawn_with(db, |s| {
        relay_to(s, sink.addr());
        s.delivery.insecure_skip_domain_verification = true;
        s.worker_idle_ms = 50;
    })
    .await;
    (app, sink)
}

/// The mails the sink took for `to`, as text (soft breaks undone), once
/// `n` are there.
async fn mails_to(sink: &SmtpSink, to: &str, n: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let mails: Vec<String> = sink
            .received()
            .into_iter()
            .filter(|r| r.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .map(|r| {
                String::from_utf8_lossy(&r.data)
                    .replace("=\r\n", "")
                    .replace("=3D", "=")
            })
            .collect();
        if mails.len() >= n {
            return mails;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{n} mails to {to}; got {}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn link_after(text: &str, marker: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {text}"));
    let start = text[..at].rfind("http").expect("the link's start");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

async fn make_form(app: &TestApp, key: &str) -> Value {
    app.post(
        "/v1/attributes",
        key,
        json!({"name": "company", "type": "string"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/forms",
        key,
        json!({"topic": "marketing", "fields": ["name", "company"],
               "wording": "Send me the monthly newsletter. I can unsubscribe at any time.",
               "origins": ["https://www.acme-mail.com"]}),
    )
    .await
    .expect(201)
}

async fn post_form(app: &TestApp, url: &str, body: String) -> reqwest::Response {
    app.client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "SignUpBrowser/1.0")
        .body(body)
        .send()
        .await
        .expect("post")
}

async fn a_sign_up_is_confirmed_over_smtp_and_recorded_with_both_steps(db: Option<String>) {
    let (app, sink) = app_with_sink(db).await;
    let ws = app.ready_workspace("Acme").await;
    let form = make_form(&app, &ws.key).await;
    let endpoint = form["endpoint"]
        .as_str()
        .expect("endpoint")
        .replace("https://mail.sendwell.test", &app.base);
    let snippet = form["snippet"].as_str().expect("snippet");
    assert!(
        snippet.contains("name=\"company\"") && snippet.contains("name=\"website\""),
        "{snippet}"
    );
    assert!(
        snippet.contains("Send me the monthly newsletter."),
        "{snippet}"
    );

    // The hosted page, filled in after a moment as a person would.
    let page = page_text(&app.client, &endpoint).await;
    assert!(
        page.contains("<label for=\"sw-company\">Company</label>"),
        "{page}"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = post_form(
        &app,
        &endpoint,
        format!(
            "email=Ann%40Receiver-Mail.net&name=Ann+Lee&company=Lee+%26+Co&website=&nonce={}&expires={}",
            field(&page, "nonce"),
            field(&page, "expires")
        ),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.expect("text").contains("Check your inbox"));
    // Nobody's contact until confirmed.
    let contacts = app.get("/v1/contacts", &ws.key).await.expect(200);
    assert_eq!(contacts["items"], json!([]), "{contacts}");

    // The confirmation went over SMTP; its link's page has one button.
    let mail = mails_to(&sink, "Ann@Receiver-Mail.net", 1).await.remove(0);
    assert!(
        mail.contains("Subject: Confirm your subscription to Acme"),
        "{mail}"
    );
    assert!(mail.contains("Send me the monthly newsletter."), "{mail}");
    assert!(
        mail.contains("1 Main Street"),
        "the physical address: {mail}"
    );
    // The workspace never sees the confirmation (its members could press
    // its link for the person), nor the address typed in.
    let tests = app.get("/v1/test-mails", &ws.key).await.expect(200);
    assert_eq!(tests["items"], json!([]), "{tests}");
    let link = link_after(&mail, "/confirm/").replace("https://mail.sendwell.test", &app.base);
    let confirm_page = app
        .client
        .get(&link)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(confirm_page.contains("Yes, subscribe me"), "{confirm_page}");
    assert_eq!(
        app.get("/v1/contacts", &ws.key).await.expect(200)["items"],
        json!([]),
        "a GET confirms nothing"
    );
    for _ in 0..2 {
        let r = app
            .client
            .post(&link)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("user-agent", "ConfirmBrowser/2.0")
            .body(format!(
                "nonce={}&expires={}",
                field(&confirm_page, "nonce"),
                field(&confirm_page, "expires")
            ))
            .send()
            .await
            .expect("confirm");
        assert_eq!(r.status().as_u16(), 200);
    }
    let contacts = app.get("/v1/contacts", &ws.key).await.expect(200);
    let contact = &contacts["items"][0];
    assert_eq!(contact["name"], "Ann Lee", "{contacts}");
    assert_eq!(contact["attributes"]["company"], "Lee & Co", "{contacts}");
    let id = contact["id"].as_str().expect("id");
    let events = app
        .get(&format!("/v1/contacts/{id}/consent"), &ws.key)
        .await
        .expect(200)["events"]
        .clone();
    let events = events.as_array().expect("events");
    assert_eq!(events.len(), 1, "pressed twice, recorded once: {events:?}");
    let e = &events[0];
    assert_eq!(
        (
            e["action"].as_str(),
            e["method"].as_str(),
            e["topic"].as_str()
        ),
        (
            Some("double_opt_in_confirmed"),
            Some("double_opt_in"),
            Some("marketing")
        ),
        "{e}"
    );
    assert_eq!(e["actor"], "recipient", "the mail left over SMTP: {e}");
    let ev = &e["evidence"];
    assert_eq!(
        ev["wording"], "Send me the monthly newsletter. I can unsubscribe at any time.",
        "{e}"
    );
    assert_eq!(
        (
            ev["user_agent"].as_str(),
            ev["submitted_user_agent"].as_str()
        ),
        (Some("ConfirmBrowser/2.0"), Some("SignUpBrowser/1.0")),
        "{e}"
    );
    assert!(
        ev["ip"].is_string() && ev["submitted_ip"].is_string() && ev["submitted_at"].is_string(),
        "{e}"
    );

    // The newsletter reaches them now.
    let m = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let sent = app
        .post(
            &format!("/v1/messages/{}/send", m["id"].as_str().expect("id")),
            &ws.key,
            json!({}),
        )
        .await
        .expect(202);
    assert_eq!(sent["queued"], 1, "{sent}");
    let news = mails_to(&sink, "Ann@Receiver-Mail.net", 2).await;
    assert!(news.iter().any(|m| m.contains("The spring release")));
}

async fn forms_are_checked_and_bots_repeats_and_suppressed_addresses_get_no_mail(
    db: Option<String>,
) {
    let (app, sink) = app_with_sink(db).await;
    let ws = app.ready_workspace("Acme").await;
    for (body, pointer) in [
        (
            json!({"topic": "Not A Topic", "wording": "Send me the news, monthly."}),
            "/topic",
        ),
        (json!({"topic": "marketing", "wording": "Yes"}), "/wording"),
        (
            json!({"topic": "marketing", "wording": "Send me the news, monthly.", "fields": ["shoe_size"]}),
            "/fields/0",
        ),
        (
            json!({"topic": "marketing", "wording": "Send me the news, monthly.", "fields": ["email"]}),
            "/fields/0",
        ),
        (
            json!({"topic": "marketing", "wording": "Send me the news, monthly.", "origins": ["https://acme.example/signup"]}),
            "/origins/0",
        ),
        (
            json!({"topic": "marketing", "wording": "Send me the news, monthly.", "redirect_url": "javascript:alert(1)"}),
            "/redirect_url",
        ),
        (
            json!({"topic": "marketing", "wording": "Send me the news: see https://evil.example/win"}),
            "/wording",
        ),
    ] {
        let r = app
            .post("/v1/forms", &ws.key, body.clone())
            .await
            .expect(422);
        assert_eq!(r["errors"][0]["pointer"], pointer, "{body}: {r}");
    }
    let form = make_form(&app, &ws.key).await;
    let id = form["id"].as_str().expect("id");
    let endpoint = format!("{}/f/{id}", app.base);
    // Another workspace cannot see or remove it.
    let other = app.ready_workspace("Other").await;
    app.get(&format!("/v1/forms/{id}"), &other.key)
        .await
        .expect(404);
    app.delete(&format!("/v1/forms/{id}"), &other.key)
        .await
        .expect(404);

    // A bot fills the honeypot; another posts the hosted page at once: no mail.
    let r = post_form(
        &app,
        &endpoint,
        "email=bot1%40receiver-mail.net&website=http%3A%2F%2Fspam".to_owned(),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200, "the same answer as a person");
    let page = page_text(&app.client, &endpoint).await;
    post_form(
        &app,
        &endpoint,
        format!(
            "email=bot2%40receiver-mail.net&nonce={}&expires={}",
            field(&page, "nonce"),
            field(&page, "expires")
        ),
    )
    .await;
    // A forged issue time is refused the same way.
    post_form(
        &app,
        &endpoint,
        "email=bot3%40receiver-mail.net&nonce=00&expires=1".to_owned(),
    )
    .await;
    // A bad address is said to be one.
    let r = post_form(&app, &endpoint, "email=not-an-address".to_owned()).await;
    assert_eq!(r.status().as_u16(), 422);

    // JSON from a listed origin gets CORS; a second sign-up of the same
    // address within the hour gets no second mail.
    for _ in 0..2 {
        let r = app
            .client
            .post(&endpoint)
            .header("origin", "https://www.acme-mail.com")
            .json(&json!({"email": "cy@receiver-mail.net", "name": "Cy"}))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 202);
        assert_eq!(
            r.headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("https://www.acme-mail.com")
        );
    }
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, &endpoint)
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("options");
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // A suppressed address gets nothing.
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "gone@receiver-mail.net", "reason": "manual"}),
    )
    .await
    .expect(201);
    post_form(&app, &endpoint, "email=gone%40receiver-mail.net".to_owned()).await;

    mails_to(&sink, "cy@receiver-mail.net", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to: Vec<String> = sink.received().into_iter().flat_map(|r| r.to).collect();
    assert_eq!(
        to,
        vec!["cy@receiver-mail.net".to_owned()],
        "one mail, to the person only"
    );

    // A removed form's endpoint is gone.
    app.delete(&format!("/v1/forms/{id}"), &ws.key)
        .await
        .expect(204);
    let r = post_form(&app, &endpoint, "email=dee%40receiver-mail.net".to_owned()).await;
    assert_eq!(r.status().as_u16(), 404);
}

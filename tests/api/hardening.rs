//! Regression tests for issue #13: attacks by a co-tenant, a recipient or
//! anyone on the internet that must not work. Each test carries out the
//! attack as it was carried out against the release binary and asserts
//! that it fails.

use crate::support::{opted_in, send_news, TestApp};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

crate::on_both_db!(
    regression_a_bare_message_id_cannot_file_a_complaint_for_a_neighbour,
    regression_a_template_that_crashes_the_engine_fails_one_delivery_and_mail_keeps_flowing,
    regression_a_delivery_whose_worker_died_three_times_fails,
    regression_a_runaway_template_is_refused_when_saved_and_stopped_when_sent,
    regression_the_sender_cannot_forge_opt_in_link_consent,
    regression_webhooks_never_reach_private_addresses,
    regression_an_mx_on_a_private_address_is_never_connected_to,
);

/// A contact with `attributes` who opted in to marketing by a form; its id.
async fn opted_in_with(app: &TestApp, key: &str, email: &str, attributes: Value) -> String {
    let id = app
        .contact(key, json!({"email": email, "attributes": attributes}))
        .await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        key,
        json!({"action": "opt_in", "method": "form",
               "evidence": {"ip": "203.0.113.9", "wording": "Send me news"}}),
    )
    .await
    .expect(201);
    id
}

/// Composes and sends a marketing mail with `html` as its body; its id.
pub async fn send_html(app: &TestApp, key: &str, html: &str) -> String {
    let m = app
        .post(
            "/v1/messages",
            key,
            json!({"name": "news", "kind": "marketing",
                   "from": {"name": "Acme News", "address": "news@acme-mail.com"},
                   "subject": "News", "template": {"layout": "plain", "html": html}}),
        )
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/messages/{id}/send"), key, json!({}))
        .await
        .expect(202);
    id
}

/// The state and last reply of delivery `id`, once it is no longer queued
/// or being sent.
async fn settled(app: &TestApp, id: &str) -> (String, String) {
    let started = Instant::now();
    loop {
        let d = app
            .state
            .store
            .delivery_state(&sendwell_core::DeliveryId::parse(id).expect("a delivery id"))
            .await
            .expect("read")
            .expect("the delivery exists");
        if !matches!(d.state.as_str(), "queued" | "sending") {
            return (d.state.to_string(), d.last_reply.unwrap_or_default());
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "delivery {id} settled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The raw mails captured for message `id`, by recipient, once `n` are there.
pub async fn captured(app: &TestApp, key: &str, id: &str, n: usize) -> HashMap<String, String> {
    let started = Instant::now();
    loop {
        let out = app
            .get(&format!("/v1/outbox?message_id={id}&limit=1000"), key)
            .await
            .expect(200);
        let items = out["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n {
            let mut mails = HashMap::new();
            for item in items {
                let raw = app
                    .client
                    .get(app.url(&format!(
                        "/v1/outbox/{}/raw",
                        item["id"].as_str().expect("id")
                    )))
                    .bearer_auth(key)
                    .send()
                    .await
                    .expect("raw")
                    .text()
                    .await
                    .expect("text");
                mails.insert(item["to"].as_str().expect("to").to_owned(), raw);
            }
            return mails;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{n} mails were captured"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first link under `prefix` in a raw mail (its quoted-printable soft
/// breaks and `=3D` undone).
pub fn link_in(raw: &str, prefix: &str) -> String {
    let raw = raw.replace("=\r\n", "").replace("=3D", "=");
    let at = raw
        .find(prefix)
        .unwrap_or_else(|| panic!("the mail has a link under {prefix}"));
    raw[at..]
        .chars()
        .take_while(|c| !matches!(c, '"' | '<' | '>' | ' ' | '\r' | '\n'))
        .collect()
}

/// The https unsubscribe URL of a raw mail's List-Unsubscribe header.
pub fn list_unsubscribe(raw: &str) -> String {
    header(raw, "List-Unsubscribe")
        .trim_start_matches('<')
        .split('>')
        .next()
        .expect("url")
        .to_owned()
}

/// The value of header `name` in a raw mail, folded lines joined.
pub fn header(raw: &str, name: &str) -> String {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    let mut lines = head
        .split("\r\n")
        .skip_while(|l| !l.to_ascii_lowercase().starts_with(&prefix));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("the mail has a {name} header"));
    let mut value = first[prefix.len()..].trim().to_owned();
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        value.push(' ');
        value.push_str(l.trim());
    }
    value
}

/// Attack 1: Message-IDs named the delivery (`msg_X.ct_Y`), contact ids
/// were a counter, and `POST /v1/reports` took a bare Message-ID, so one
/// recipient filed complaints for the contacts next to them and suspended
/// the workspace in two requests.
async fn regression_a_bare_message_id_cannot_file_a_complaint_for_a_neighbour(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    let mut contacts = Vec::new();
    for who in ["attacker", "next1", "next2"] {
        let email = format!("{who}@receiver-mail.net");
        contacts.push((email.clone(), opted_in(&app, &ws, &email).await));
    }
    let (id, queued) = send_news(&app, &ws, "news").await;
    assert_eq!(queued, 3);
    let mails = captured(&app, &ws.key, &id, 3).await;
    let own = header(&mails["attacker@receiver-mail.net"], "Message-ID");
    assert!(own.contains(&contacts[0].1), "{own}");

    let report = |message_id: String| {
        app.client
            .post(app.url("/v1/reports"))
            .json(&json!({"message_id": message_id, "reason": "spam"}))
            .send()
    };
    // The attack: the attacker's Message-ID with a neighbour's contact id,
    // with and without the attacker's MAC, filed for both neighbours.
    for (_, neighbour) in &contacts[1..] {
        let forged = own.replace(&contacts[0].1, neighbour);
        let bare = format!("<{id}.{neighbour}@sendwell.localhost>");
        for mid in [forged, bare] {
            let r = report(mid.clone()).await.expect("report");
            assert_eq!(r.status(), 202, "kept for the operator: {mid}");
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["proven"], false, "{mid}");
        }
    }
    let suppressed = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert_eq!(suppressed["items"], json!([]), "nobody was suppressed");
    let status = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert_eq!(status["state"], "active", "the workspace still sends");
    let listed = app
        .get("/v1/operator/reports", &app.operator)
        .await
        .expect(200);
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(4),
        "the operator sees them all"
    );

    // The attacker's own, signed Message-ID proves receipt and counts.
    let r = report(own).await.expect("report");
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["proven"], true);
    let suppressed = app.get("/v1/suppressions", &ws.key).await.expect(200);
    let emails: Vec<&str> = suppressed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["email"].as_str())
        .collect();
    assert_eq!(emails, vec!["attacker@receiver-mail.net"]);
}

/// Attack 2: one template that panics inside the template engine ended the
/// worker's pipeline, and after the lease ran out the same deliveries took
/// the restarted worker down again: nobody's mail left. The panic now ends
/// that one delivery, `failed` with the reason, and everyone else's mail
/// (the same message's other contacts, another workspace's) goes out.
async fn regression_a_template_that_crashes_the_engine_fails_one_delivery_and_mail_keeps_flowing(
    db: Option<String>,
) {
    let app = TestApp::spawn(db).await;
    let evil = app.ready_workspace("Evil").await;
    let good = app.ready_workspace("Good").await;
    let fine = opted_in_with(
        &app,
        &evil.key,
        "fine@receiver-mail.net",
        json!({"code": "42"}),
    )
    .await;
    // i64::MIN divided by -1 overflows: the engine panics, in release too.
    let poison = opted_in_with(
        &app,
        &evil.key,
        "poison@receiver-mail.net",
        json!({"code": "-9223372036854775808"}),
    )
    .await;
    opted_in(&app, &good, "reader@receiver-mail.net").await;
    let evil_msg = send_html(
        &app,
        &evil.key,
        "<p>Your code: {{ code | divided_by: -1 }}</p>",
    )
    .await;
    let (good_msg, _) = send_news(&app, &good, "news").await;

    let (state, reason) = settled(&app, &format!("{evil_msg}.{poison}")).await;
    assert_eq!(state, "failed", "{reason}");
    assert!(reason.contains("crashed"), "{reason}");
    let (state, _) = settled(&app, &format!("{evil_msg}.{fine}")).await;
    assert_eq!(state, "delivered");
    let mails = captured(&app, &evil.key, &evil_msg, 1).await;
    assert!(mails["fine@receiver-mail.net"].contains("Your code: -42"));
    captured(&app, &good.key, &good_msg, 1).await;
    // The worker is alive and says so.
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.expect("json");
    assert_eq!(health["worker"], "ok", "{health}");
}

/// A worker that dies while rendering or sending (an abort, the OOM killer)
/// leaves its deliveries `sending` with a lease that runs out; the next
/// worker took them again, and died again. After three such lease
/// expiries the delivery fails instead, with the reason.
async fn regression_a_delivery_whose_worker_died_three_times_fails(db: Option<String>) {
    let app = TestApp::spawn_with(db, |s| s.delivery.serve_worker = false).await;
    let ws = app.ready_workspace("Acme").await;
    let once = opted_in(&app, &ws, "once@receiver-mail.net").await;
    let thrice = opted_in(&app, &ws, "thrice@receiver-mail.net").await;
    let (id, queued) = send_news(&app, &ws, "news").await;
    assert_eq!(queued, 2);
    // What dead workers leave behind: a claim whose lease ran out, once
    // before for one delivery and twice before for the other.
    let mut db = app.raw_db().await;
    for (contact, before) in [(&once, 0), (&thrice, 2)] {
        let sql = format!(
            "UPDATE deliveries SET state = 'sending', lease_owner = 'w-dead', lease_until = 1, \
             lease_expiries = {before} WHERE id = '{id}.{contact}'"
        );
        sqlx::query(&sql).execute(&mut db).await.expect("update");
    }
    let worker = sendwell_server::delivery::DeliveryWorker::new(app.state.clone());
    worker.run_once().await.expect("batch");
    let (state, _) = settled(&app, &format!("{id}.{once}")).await;
    assert_eq!(state, "delivered", "one lost lease is retried");
    let (state, reason) = settled(&app, &format!("{id}.{thrice}")).await;
    assert_eq!(state, "failed");
    assert!(reason.contains("3 times"), "{reason}");
}

/// Attack 3: a 3000 x 3000 nested loop rendered for 10 s and 1.6 GB each
/// time it was previewed or sent. Such a template is refused when saved or
/// composed, naming the limit; one that runs away only for some contacts'
/// data fails those deliveries, naming the limit, and the rest go out.
async fn regression_a_runaway_template_is_refused_when_saved_and_stopped_when_sent(
    db: Option<String>,
) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    let nested = "{% for i in (1..3000) %}{% for j in (1..3000) %}{{ i }}{% endfor %}{% endfor %}";
    let huge = "{% for i in (1..9223372036854775807) %}x{% endfor %}";
    let doubling = "{% assign s = 'xxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s }}";
    for (html, limit) in [
        (nested, "SENDWELL_RENDER_MAX_ITERATIONS"),
        (huge, "SENDWELL_RENDER_MAX_ITERATIONS"),
        (doubling, "SENDWELL_RENDER_MAX_OUTPUT_BYTES"),
    ] {
        let t = app
            .post(
                "/v1/templates",
                &ws.key,
                json!({"name": "t", "template": {"layout": "plain", "html": html}}),
            )
            .await
            .expect(422);
        assert!(t.to_string().contains(limit), "{t}");
        let m = app
            .post(
                "/v1/messages",
                &ws.key,
                json!({"name": "news", "kind": "marketing",
                       "from": {"name": "Acme", "address": "news@acme-mail.com"},
                       "subject": "News", "template": {"layout": "plain", "html": html}}),
            )
            .await
            .expect(422);
        assert!(m.to_string().contains(limit), "{m}");
    }
    // Driven by the contact's data: fine for one, runaway for the other.
    let small = opted_in_with(&app, &ws.key, "small@receiver-mail.net", json!({"reps": 2})).await;
    let big = opted_in_with(
        &app,
        &ws.key,
        "big@receiver-mail.net",
        json!({"reps": 3000}),
    )
    .await;
    let id = send_html(
        &app,
        &ws.key,
        "<p>{% for i in (1..reps) %}{% for j in (1..reps) %}x{% endfor %}{% endfor %}</p>",
    )
    .await;
    let (state, reason) = settled(&app, &format!("{id}.{big}")).await;
    assert_eq!(state, "failed");
    assert!(
        reason.contains("SENDWELL_RENDER_MAX_ITERATIONS"),
        "{reason}"
    );
    let (state, _) = settled(&app, &format!("{id}.{small}")).await;
    assert_eq!(state, "delivered");
    let mails = captured(&app, &ws.key, &id, 1).await;
    assert!(mails["small@receiver-mail.net"].contains("<p>xxxx</p>"));
}

/// `/healthz` said "ok" while no mail moved. A pipeline stuck on a relay
/// that accepts connections and never answers is reported once it has made
/// no progress for the stall limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_healthz_reports_a_worker_that_makes_no_progress() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr");
    let held = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = silent.accept().await {
            keep.lock().await.push(conn);
        }
    });
    let app = TestApp::spawn_with(None, |s| {
        crate::support::relay_to(s, addr);
        s.delivery.insecure_skip_domain_verification = true;
        s.delivery.stall_after = Duration::from_secs(1);
    })
    .await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200, "a fresh worker is fine");
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "reader@receiver-mail.net").await;
    send_news(&app, &ws, "news").await;
    let started = Instant::now();
    loop {
        let r = app
            .client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        if r.status() == 503 {
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["worker"], "stalled", "{body}");
            assert!(body["stalled"][0]["seconds"].as_u64().is_some(), "{body}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the stall was reported"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Attack 5: `{{ opt_in_url }}` worked anywhere (an image URL delivered the
/// token to the sender's pixel server on open), the confirming POST needed
/// nothing but the token and did not look at the message's kind, and every
/// replay appended another opt-in. Now the link exists only as an opt-in
/// request's button, the POST needs the page's nonce, the page cannot be
/// framed, and pressing again records nothing new.
async fn regression_the_sender_cannot_forge_opt_in_link_consent(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    let compose = |kind: &str, html: &str| {
        json!({"name": "ask", "kind": kind, "from": {"address": "hello@acme-mail.com"},
               "subject": "May we?", "template": {"layout": "plain", "html": html}})
    };
    for (kind, html) in [
        ("marketing", "<p><img src=\"https://pixel.acme-mail.com/p.gif?t={{ opt_in_url }}\"></p>"),
        ("opt_in_request", "<p><img src=\"https://pixel.acme-mail.com/{{opt_in_url}}\"></p>{% opt_in_button \"Yes\" %}"),
        ("marketing", "<p>News</p>{% opt_in_button \"Yes\" %}"),
    ] {
        let r = app.post("/v1/messages", &ws.key, compose(kind, html)).await.expect(422);
        assert_eq!(r["errors"][0]["pointer"].as_str().map(|p| p.starts_with("/template")), Some(true), "{r}");
    }
    let contact = app
        .contact(&ws.key, json!({"email": "dee@receiver-mail.net"}))
        .await;
    let m = app
        .post(
            "/v1/messages",
            &ws.key,
            compose(
                "opt_in_request",
                "<p>News?</p>{% opt_in_button \"Yes please\" %}",
            ),
        )
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let mails = captured(&app, &ws.key, &id, 1).await;
    let url = link_in(
        &mails["dee@receiver-mail.net"],
        &format!("{}/optin/", app.base),
    );

    let path = format!("/v1/contacts/{contact}/consent");
    let events = || async {
        app.get(&path, &ws.key).await.expect(200)["events"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    // A blind POST of the token (what a pixel server that collected it
    // would send) records nothing.
    let blind = app.client.post(&url).send().await.expect("post");
    assert_eq!(blind.status(), 403);
    let forged = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nonce=AAAAAAAAAAAAAAAAAAAAAA&expires=99999999999")
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    assert_eq!(events().await, 0);
    // The page cannot be framed and allows no script.
    let page = app.client.get(&url).send().await.expect("page");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    // The person's press counts once, however often it is sent.
    for _ in 0..3 {
        let r = crate::support::confirm_opt_in(&app.client, &url).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(events().await, 1);
    let proof = app
        .get(&format!("/v1/contacts/{contact}/consent"), &ws.key)
        .await
        .expect(200);
    assert_eq!(proof["events"][0]["method"], "opt_in_link");
    assert_eq!(proof["events"][0]["evidence"]["wording"], "Yes please");
}

/// Attack 6: the private-address check read the URL's text once, when the
/// endpoint was made: each of these hosts was accepted, and a webhook to a
/// single-label name reached a listener on loopback. Now the host is
/// checked against every special-purpose range when the endpoint is made
/// and again at every delivery (names through a resolver that only hands
/// out checked addresses).
async fn regression_webhooks_never_reach_private_addresses(db: Option<String>) {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((_conn, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let app = TestApp::spawn_with(db, |s| {
        s.delivery.webhook_retry_base = Duration::from_millis(50);
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    for url in [
        "https://localhost./hook",
        "https://vm/hook",
        "https://[::127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://[fec0::1]/hook",
        "https://0.1.2.3/hook",
        "https://198.18.0.1/hook",
        "https://240.0.0.1/hook",
        "https://127.1/hook",
        "https://2130706433/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://metadata.google.internal/",
        &format!("https://127.0.0.1:{port}/hook"),
    ] {
        let r = app
            .post(
                "/v1/webhooks",
                &ws.key,
                json!({"url": url, "events": ["delivery"]}),
            )
            .await
            .expect(422);
        assert!(
            r.to_string().contains("SENDWELL_WEBHOOK_ALLOW_PRIVATE"),
            "{url}: {r}"
        );
    }
    // An endpoint whose address became private after it was saved (here
    // changed in the database, as a DNS change would) is refused when the
    // event is posted: the listener on loopback hears nothing.
    let hook = app
        .post(
            "/v1/webhooks",
            &ws.key,
            json!({"url": "https://hooks.acme-mail.com/sendwell", "events": ["delivery"]}),
        )
        .await
        .expect(201);
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    let mut db = app.raw_db().await;
    sqlx::query(&format!(
        "UPDATE webhook_endpoints SET url = 'https://127.0.0.1:{port}/hook' WHERE id = '{hook_id}'"
    ))
    .execute(&mut db)
    .await
    .expect("update");
    opted_in(&app, &ws, "reader@receiver-mail.net").await;
    send_news(&app, &ws, "news").await;
    let started = Instant::now();
    let error = loop {
        let log = app
            .get(&format!("/v1/webhooks/{hook_id}/deliveries"), &ws.key)
            .await
            .expect(200);
        if let Some(e) = log["items"][0]["last_error"].as_str() {
            break e.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the webhook was tried: {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(error.contains("special-purpose"), "{error}");
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached loopback"
    );
}

/// A recipient's domain names its MX hosts: one that points at this
/// machine (or a private network) would have sendwell speak SMTP to
/// services behind the firewall. Unless the operator allows private MX
/// hosts, such a delivery bounces with the reason, and nothing connects.
async fn regression_an_mx_on_a_private_address_is_never_connected_to(db: Option<String>) {
    use sendwell_screen::dns::DomainMail;
    use sendwell_server::smtp::sink::{AcceptAll, SinkOptions, SmtpSink};
    let sink = SmtpSink::start(std::sync::Arc::new(AcceptAll), SinkOptions::default())
        .await
        .expect("sink");
    let port = sink.addr().port();
    let app = TestApp::spawn_with(db, |s| {
        s.delivery.transport.kind = sendwell_server::transport::TransportKind::Mx;
        s.delivery.transport.mx_port = port;
        s.delivery.insecure_skip_domain_verification = true;
        s.public_url = Some("https://mail.sendwell.test".to_owned());
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    let eve = opted_in(&app, &ws, "eve@inside-mx.net").await;
    app.dns.set(
        "inside-mx.net",
        DomainMail::Mx(vec!["127.0.0.1".to_owned()]),
        300,
    );
    let (id, _) = send_news(&app, &ws, "news").await;
    let (state, reason) = settled(&app, &format!("{id}.{eve}")).await;
    assert_eq!(state, "bounced", "{reason}");
    assert!(reason.contains("not on the public internet"), "{reason}");
    assert!(
        sink.received().is_empty(),
        "nothing connected to the private MX"
    );
}

/// Attack 8: 1,000 slow-header connections and 200 silent ones stayed open
/// for a minute. Now a connection must send its headers within the header
/// timeout (idle keep-alive connections too), and one client address holds
/// at most so many connections: `/healthz` answers another client at once
/// while one address floods the server, and the flood is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_slow_and_silent_connections_do_not_hold_the_http_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(None, |s| {
        s.http.header_timeout = Duration::from_secs(1);
        s.http.max_per_ip = 40;
        s.http.max_connections = 200;
    })
    .await;
    let addr: std::net::SocketAddr = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    // The flood comes from another loopback address than the health check.
    let mut flood = Vec::new();
    for i in 0..300 {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.2:0".parse().expect("addr"))
            .expect("bind 127.0.0.2");
        let Ok(mut conn) = socket.connect(addr).await else {
            continue;
        };
        if i % 2 == 0 {
            // Slow headers: a start, and never the end.
            let _ = conn
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await;
        }
        flood.push(conn);
    }
    assert_eq!(flood.len(), 300);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let health = client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(health.status(), 200);
    // Within a few header timeouts, every flood connection has been closed
    // by the server (a read ends), none answered with a page.
    let mut closed = 0;
    for conn in &mut flood {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            Ok(Ok(n)) => {
                // hyper may say 408 before closing a slow request.
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(text.starts_with("HTTP/1.1 408"), "{text}");
                closed += 1;
            }
            Err(_) => {}
        }
    }
    assert_eq!(closed, 300, "every slow or silent connection was closed");
    let health = client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(health.status(), 200);
}

mod inbound_smtp {
    //! Attack 7: the inbound listener was the test sink: no idle or command
    //! timeouts, no connection cap, a queue of 1,024 messages of up to
    //! 20 MiB each. It now runs on a server of its own with each limit.

    use sendwell_server::smtp::server::{Inbound, InboundLimits, InboundServer, Recipients};
    use sendwell_server::smtp::{CertCheck, ClientOptions, SmtpConnection, TlsMode};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;
    use tokio::sync::mpsc::UnboundedReceiver;

    async fn server(
        limits: InboundLimits,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> (InboundServer, UnboundedReceiver<Inbound>) {
        let all: Recipients = Arc::new(|_: &str| Ok(()));
        InboundServer::start(
            "127.0.0.1:0".parse().expect("addr"),
            "bounces.sendwell.test",
            limits,
            all,
            tls,
        )
        .await
        .expect("starts")
    }

    /// Connects from `source` (a loopback address) and reads the greeting.
    async fn connect(addr: SocketAddr, source: &str) -> (BufReader<TcpStream>, String) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{source}:0").parse().expect("addr"))
            .expect("bind");
        let stream = socket.connect(addr).await.expect("connect");
        let mut conn = BufReader::new(stream);
        let mut greeting = String::new();
        conn.read_line(&mut greeting).await.expect("greeting");
        (conn, greeting)
    }

    /// One message to the abuse address, from MAIL to the final dot: the
    /// answer to the dot.
    async fn send_message(conn: &mut BufReader<TcpStream>, data: &str) -> String {
        assert!(say(conn, "MAIL FROM:<>").await.starts_with("250"));
        assert!(say(conn, "RCPT TO:<abuse@bounces.sendwell.test>")
            .await
            .starts_with("250"));
        assert!(say(conn, "DATA").await.starts_with("354"));
        conn.get_mut()
            .write_all(data.as_bytes())
            .await
            .expect("write");
        say(conn, "\r\n.").await
    }

    async fn say(conn: &mut BufReader<TcpStream>, line: &str) -> String {
        conn.get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
        let mut out = String::new();
        loop {
            let mut l = String::new();
            if conn.read_line(&mut l).await.expect("read") == 0 {
                return out;
            }
            out.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn idle_sessions_time_out_and_connections_are_capped_per_client_and_in_all() {
        let limits = InboundLimits {
            command_timeout: Duration::from_secs(1),
            max_per_ip: 3,
            max_connections: 5,
            ..InboundLimits::default()
        };
        let (srv, _rx) = server(limits, None).await;
        let mut held = Vec::new();
        for _ in 0..3 {
            let (conn, greeting) = connect(srv.addr(), "127.0.0.1").await;
            assert!(greeting.starts_with("220 "), "{greeting}");
            held.push(conn);
        }
        let (_, over) = connect(srv.addr(), "127.0.0.1").await;
        assert!(
            over.starts_with("421 "),
            "one client holds at most 3: {over}"
        );
        for _ in 0..2 {
            let (conn, greeting) = connect(srv.addr(), "127.0.0.2").await;
            assert!(greeting.starts_with("220 "), "{greeting}");
            held.push(conn);
        }
        let (_, over) = connect(srv.addr(), "127.0.0.3").await;
        assert!(over.starts_with("421 "), "at most 5 in all: {over}");
        // Silent sessions are told and closed after the command timeout.
        for conn in &mut held {
            let mut line = String::new();
            let read =
                tokio::time::timeout(Duration::from_secs(10), conn.read_line(&mut line)).await;
            assert!(line.starts_with("421 4.4.2"), "{read:?} {line}");
            let mut rest = String::new();
            assert_eq!(conn.read_line(&mut rest).await.expect("eof"), 0, "closed");
        }
        let (mut conn, greeting) = connect(srv.addr(), "127.0.0.1").await;
        assert!(
            greeting.starts_with("220 "),
            "slots are free again: {greeting}"
        );
        assert!(say(&mut conn, "QUIT").await.starts_with("221"));
    }

    /// Regression: a line over 8,192 bytes in a small message was answered
    /// "Message larger than ... bytes", which sent the sender looking for
    /// the wrong problem.
    #[tokio::test]
    async fn an_overlong_line_is_refused_for_what_it_is() {
        let (srv, mut rx) = server(InboundLimits::default(), None).await;
        let (mut conn, _) = connect(srv.addr(), "127.0.0.1").await;
        assert!(say(&mut conn, "EHLO mx.receiver-mail.net")
            .await
            .starts_with("250"));
        let long = format!("Subject: x\r\n\r\n{}\r\n", "w".repeat(9_000));
        let short = "Subject: y\r\n\r\nfine\r\n".to_owned();
        let mut answers = Vec::new();
        for data in [&long, &short] {
            answers.push(send_message(&mut conn, data).await);
        }
        assert!(
            answers[0].starts_with("552 5.3.4") && answers[0].contains("line"),
            "{answers:?}"
        );
        assert!(!answers[0].contains("larger than"), "{answers:?}");
        assert!(answers[1].starts_with("250"), "{answers:?}");
        let queued = rx.recv().await.expect("the short one is queued");
        assert!(String::from_utf8_lossy(&queued.data).contains("fine"));
    }

    #[tokio::test]
    async fn messages_are_held_to_the_size_limit_and_the_queue_to_its_bytes() {
        let limits = InboundLimits {
            max_message_bytes: 10_000,
            queue_bytes: 20_000,
            ..InboundLimits::default()
        };
        let (srv, mut rx) = server(limits, None).await;
        let (mut conn, _) = connect(srv.addr(), "127.0.0.1").await;
        assert!(say(&mut conn, "EHLO mx.receiver-mail.net")
            .await
            .contains("SIZE 10000"));
        let big = say(&mut conn, "MAIL FROM:<> SIZE=20000").await;
        assert!(big.starts_with("552"), "{big}");
        let body = format!("Subject: x\r\n\r\n{}\r\n", "y".repeat(7_900));
        let huge = format!("Subject: x\r\n\r\n{}\r\n", "z".repeat(12_000));
        let mut answers = Vec::new();
        for data in [&body, &body, &body, &huge] {
            answers.push(send_message(&mut conn, data).await);
        }
        assert!(
            answers[0].starts_with("250") && answers[1].starts_with("250"),
            "{answers:?}"
        );
        assert!(
            answers[2].starts_with("451 4.3.2"),
            "the queue is full: {answers:?}"
        );
        assert!(answers[3].starts_with("552"), "too big: {answers:?}");
        // Processing the queued messages gives their bytes back.
        let first = rx.recv().await.expect("queued");
        assert_eq!(first.to, ["abuse@bounces.sendwell.test"]);
        drop(first);
        drop(rx.recv().await.expect("queued"));
        assert!(say(&mut conn, "MAIL FROM:<>").await.starts_with("250"));
        assert!(say(&mut conn, "RCPT TO:<abuse@bounces.sendwell.test>")
            .await
            .starts_with("250"));
        assert!(say(&mut conn, "DATA").await.starts_with("354"));
        conn.get_mut()
            .write_all(body.as_bytes())
            .await
            .expect("write");
        assert!(say(&mut conn, "\r\n.").await.starts_with("250"));
    }

    #[tokio::test]
    async fn starttls_is_offered_with_a_certificate_and_mail_comes_through_it() {
        sendwell_server::install_crypto_provider();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/inbound-tls");
        let tls =
            sendwell_server::smtp::server::load_tls(&dir.join("cert.pem"), &dir.join("key.pem"))
                .expect("the fixture identity loads");
        let (srv, mut rx) = server(InboundLimits::default(), Some(tls)).await;
        let (mut plain, _) = connect(srv.addr(), "127.0.0.1").await;
        assert!(say(&mut plain, "EHLO mx.receiver-mail.net")
            .await
            .contains("STARTTLS"));
        let options = ClientOptions {
            tls: TlsMode::StartTls { required: true },
            cert_check: CertCheck::AcceptAny,
            ..ClientOptions::default()
        };
        let mut c = SmtpConnection::connect("bounces.sendwell.test", srv.addr(), &options)
            .await
            .expect("STARTTLS session");
        let reply = c
            .send(
                "",
                "abuse@bounces.sendwell.test",
                b"Subject: over TLS\r\n\r\nhello\r\n",
            )
            .await
            .expect("answer");
        assert_eq!(reply.code, 250);
        let got = rx.recv().await.expect("queued");
        assert!(String::from_utf8_lossy(&got.data).contains("over TLS"));
        // Without a certificate there is no STARTTLS.
        let (srv, _rx) = server(InboundLimits::default(), None).await;
        let (mut plain, _) = connect(srv.addr(), "127.0.0.1").await;
        assert!(!say(&mut plain, "EHLO mx.receiver-mail.net")
            .await
            .contains("STARTTLS"));
        assert!(say(&mut plain, "STARTTLS").await.starts_with("502"));
    }
}

/// A CSV body that arrives one row every `gap`, `rows` rows in all.
fn trickle(rows: usize, gap: Duration) -> reqwest::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tokio::spawn(async move {
        let _ = tx.send(Ok(b"email\n".to_vec())).await;
        for i in 0..rows {
            tokio::time::sleep(gap).await;
            if tx
                .send(Ok(format!("slow{i}@receiver-mail.net\n").into_bytes()))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    reqwest::Body::wrap_stream(stream)
}

crate::on_both_db!(regression_a_trickled_upload_blocks_no_one_elses_writes,);

/// Attack 4: an import held SQLite's only write transaction for as long as
/// its client trickled the CSV, and a recipient's one-click unsubscribe
/// failed after 60 s. The upload is now spooled before the import's
/// transaction opens: an unsubscribe, a consent change and a new workspace
/// go through while it trickles, and the import still lands.
async fn regression_a_trickled_upload_blocks_no_one_elses_writes(db: Option<String>) {
    let app = TestApp::spawn(db).await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "reader@receiver-mail.net").await;
    let other = app
        .contact(&ws.key, json!({"email": "other@receiver-mail.net"}))
        .await;
    let (id, _) = send_news(&app, &ws, "news").await;
    let mails = captured(&app, &ws.key, &id, 1).await;
    let unsubscribe = list_unsubscribe(&mails["reader@receiver-mail.net"]);
    let upload = {
        let url = app.url("/v1/imports?source=product_users");
        let key = ws.key.clone();
        let client = app.client.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .header("content-type", "text/csv")
                .body(trickle(12, Duration::from_millis(500)))
                .send()
                .await
                .expect("import sent")
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let r = quick
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("the unsubscribe answers while the upload trickles");
    assert_eq!(r.status(), 200);
    let r = quick
        .post(app.url(&format!("/v1/contacts/{other}/consent")))
        .bearer_auth(&ws.key)
        .json(&json!({"action": "opt_in", "method": "form", "evidence": {"ip": "203.0.113.9"}}))
        .send()
        .await
        .expect("a consent change answers while the upload trickles");
    assert_eq!(r.status(), 201);
    let r = quick
        .post(app.url("/v1/workspaces"))
        .bearer_auth(&app.operator)
        .json(&json!({"name": "Newco"}))
        .send()
        .await
        .expect("a new workspace answers while the upload trickles");
    assert_eq!(r.status(), 201);
    assert!(!upload.is_finished(), "the upload was still trickling");
    let done = upload.await.expect("upload task");
    assert_eq!(done.status(), 201);
    let body: Value = done.json().await.expect("json");
    assert_eq!(body["counts"]["imported"], 12, "{body}");
    let suppressed = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert!(
        suppressed.to_string().contains("reader@receiver-mail.net"),
        "{suppressed}"
    );
}

/// An upload that is too slow on average, or takes too long in all, is
/// refused with 408 and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_an_upload_has_a_deadline_and_a_minimum_rate() {
    let app = TestApp::spawn_with(None, |s| {
        s.delivery.upload.grace = Duration::from_millis(500);
        s.delivery.upload.min_rate = 10_000;
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    let send = |body: reqwest::Body| {
        app.client
            .post(app.url("/v1/imports?source=product_users"))
            .bearer_auth(&ws.key)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let slow = send(trickle(10, Duration::from_millis(300)))
        .await
        .expect("sent");
    assert_eq!(slow.status(), 408);
    let problem: Value = slow.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("bytes a second"),
        "{problem}"
    );
    let app = TestApp::spawn_with(None, |s| {
        s.delivery.upload.deadline = Duration::from_secs(1);
    })
    .await;
    let ws2 = app.ready_workspace("Acme").await;
    let late = app
        .client
        .post(app.url("/v1/imports?source=product_users"))
        .bearer_auth(&ws2.key)
        .header("content-type", "text/csv")
        .body(trickle(10, Duration::from_millis(300)))
        .send()
        .await
        .expect("sent");
    assert_eq!(late.status(), 408);
    let contacts = app.get("/v1/contacts", &ws2.key).await.expect(200);
    assert_eq!(contacts["items"], json!([]), "nothing was imported");
    let imports = app.get("/v1/imports", &ws2.key).await.expect(200);
    assert_eq!(imports["items"], json!([]), "no import record either");
}

/// An unsubscribe whose write cannot finish (here SQLite's write lock is
/// held by another connection) is answered at once, journaled to disk, and
/// applied once the database takes writes again: never lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_an_unsubscribe_whose_write_fails_is_journaled_and_applied_later() {
    let app = TestApp::spawn(None).await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "reader@receiver-mail.net").await;
    let (id, _) = send_news(&app, &ws, "news").await;
    let mails = captured(&app, &ws.key, &id, 1).await;
    let unsubscribe = list_unsubscribe(&mails["reader@receiver-mail.net"]);
    let mut db = app.raw_db().await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut db)
        .await
        .expect("write lock");
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    let r = quick
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("answered although the database takes no writes");
    assert_eq!(r.status(), 200);
    assert!(
        app.dir.path().join("pending-unsubscribes.jsonl").exists(),
        "journaled"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut db)
        .await
        .expect("release");
    let started = Instant::now();
    loop {
        let s = app.get("/v1/suppressions", &ws.key).await.expect(200);
        if s.to_string().contains("reader@receiver-mail.net") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the journaled unsubscribe was applied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let contact = app
        .get("/v1/contacts?email=reader@receiver-mail.net", &ws.key)
        .await
        .expect(200);
    let cid = contact["items"][0]["id"].as_str().expect("id").to_owned();
    let proof = app
        .get(&format!("/v1/contacts/{cid}/consent"), &ws.key)
        .await
        .expect(200);
    let opt_outs = proof["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == "opt_out")
        .count();
    assert!(opt_outs >= 1, "{proof}");
}

crate::on_both_db!(
    regression_an_import_tells_a_workspace_nothing_about_another_workspaces_suppressions,
);

/// Attack 9: an import's score and the share of its `suppressed_elsewhere`
/// signal moved with one address on another workspace's suppression list
/// (padding defeated the 100-row / 5-match guard). Two imports that differ
/// only in one such address now read back the same to the workspace; the
/// operator sees the difference.
async fn regression_an_import_tells_a_workspace_nothing_about_another_workspaces_suppressions(
    db: Option<String>,
) {
    let app = TestApp::spawn(db).await;
    let victim = app.ready_workspace("Victim").await;
    for i in 0..6 {
        app.post(
            "/v1/suppressions",
            &victim.key,
            json!({"email": format!("known{i}@receiver-mail.net"), "reason": "bounced"}),
        )
        .await
        .expect(201);
    }
    let list = |tag: &str, last: &str| {
        let mut csv = String::from("email\n");
        for i in 0..100 {
            csv.push_str(&format!("{tag}{i}@receiver-mail.net\n"));
        }
        for i in 0..5 {
            csv.push_str(&format!("known{i}@receiver-mail.net\n"));
        }
        csv.push_str(last);
        csv.push('\n');
        csv
    };
    // The same padding of five known addresses; the last row is a fresh
    // address in one import and the probed one in the other.
    let without = app.ready_workspace("Prober A").await;
    let with = app.ready_workspace("Prober B").await;
    let a = app
        .import(
            &without.key,
            "source=product_users",
            &list("pad", "fresh@receiver-mail.net"),
        )
        .await
        .expect(201);
    let b = app
        .import(
            &with.key,
            "source=product_users",
            &list("pad", "known5@receiver-mail.net"),
        )
        .await
        .expect(201);
    for field in ["status", "score", "signals", "counts"] {
        assert_eq!(
            a[field], b[field],
            "{field} tells the probe apart: {a} / {b}"
        );
    }
    let id = b["id"].as_str().expect("id");
    let operator = app
        .get(&format!("/v1/operator/imports/{id}"), &app.operator)
        .await
        .expect(200);
    assert_eq!(operator["counts"]["suppressed_elsewhere"], 6, "{operator}");
    assert_eq!(
        operator["counts"]["cross_tenant"]["suppressed_elsewhere"], 6,
        "{operator}"
    );
}

/// The rest of what #13 closes: the data directory and database files are
/// the server user's alone, webhook secrets are sealed at rest, every
/// answer says nosniff and may not be framed, and a link followed over and
/// over is counted once per person and throttled per client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_files_secrets_headers_and_link_limits() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = TestApp::spawn_with(None, |s| s.delivery.webhook_allow_private = true).await;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(app.dir.path()), 0o700);
    assert_eq!(mode(&app.dir.path().join("sendwell.db")), 0o600);

    let ws = app.ready_workspace("Acme").await;
    let hook = app
        .post(
            "/v1/webhooks",
            &ws.key,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["delivery"]}),
        )
        .await
        .expect(201);
    let secret = hook["secret"].as_str().expect("shown once").to_owned();
    let mut db = app.raw_db().await;
    let stored: (String,) = sqlx::query_as("SELECT secret FROM webhook_endpoints")
        .fetch_one(&mut db)
        .await
        .expect("row");
    assert!(
        stored.0.starts_with("sealed:") && !stored.0.contains(&secret[6..]),
        "{}",
        stored.0
    );

    let r = app
        .client
        .get(app.url("/v1/nothing-here"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .contains("frame-ancestors 'none'"));

    opted_in(&app, &ws, "reader@receiver-mail.net").await;
    let id = send_html(
        &app,
        &ws.key,
        "<p><a href=\"https://acme-mail.com/a\">A</a></p>",
    )
    .await;
    let mails = captured(&app, &ws.key, &id, 1).await;
    let click = link_in(
        &mails["reader@receiver-mail.net"],
        &format!("{}/c/", app.base),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..320 {
        let r = client.get(&click).send().await.expect("click");
        *statuses.entry(r.status().as_u16()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&302), Some(&300), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&20), "{statuses:?}");
    let view = app
        .get(&format!("/v1/messages/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(view["events"]["unique_click"], 1, "{view}");
    assert_eq!(
        view["events"]["click"], 10,
        "recorded at most ten times an hour: {view}"
    );
}

/// The report limit counts the client a trusted proxy names, and a client
/// cannot escape it by naming addresses in X-Forwarded-For itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_the_report_limit_sees_through_trusted_proxies_only() {
    let report = |app: &TestApp, forwarded: &str| {
        app.client
            .post(app.url("/v1/reports"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"reason": "spam"}))
            .send()
    };
    // Not a trusted proxy: the header is ignored, all reports are one client's.
    let app = TestApp::spawn(None).await;
    let mut last = 0;
    for i in 0..11 {
        last = report(&app, &format!("198.51.100.{i}"))
            .await
            .expect("sent")
            .status()
            .as_u16();
    }
    assert_eq!(
        last, 429,
        "forged forwarded addresses do not reset the limit"
    );
    // Behind a trusted proxy (loopback here), each forwarded client has its own.
    let app = TestApp::spawn_with(None, |s| {
        s.trusted_proxies =
            vec![sendwell_server::config::IpNet::parse("127.0.0.0/8").expect("net")];
    })
    .await;
    for _ in 0..10 {
        report(&app, "203.0.113.7").await.expect("sent");
    }
    assert_eq!(
        report(&app, "203.0.113.7").await.expect("sent").status(),
        429
    );
    assert_eq!(
        report(&app, "203.0.113.8").await.expect("sent").status(),
        422,
        "another client"
    );
}

/// Failed authentications are limited per client, and only failures: a
/// valid key from the same address keeps working (a shared NAT must not
/// let one guesser lock everyone out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_failed_logins_are_limited_without_locking_out_valid_keys() {
    let app = TestApp::spawn(None).await;
    let ws = app.ready_workspace("Acme").await;
    let mut statuses = Vec::new();
    for _ in 0..22 {
        let r = app
            .send(
                reqwest::Method::GET,
                "/v1/contacts",
                Some("sw_key_wrong"),
                None,
            )
            .await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        20,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    app.get("/v1/contacts", &ws.key).await.expect(200);
}

//! Content screening in the send path: preflight shows the verdict and the
//! hits, `block` stops a send, `review` waits for the operator, who approves
//! or rejects with a note the workspace sees.

use crate::on_both;
use crate::support::{TestApp, Workspace};
use serde_json::{json, Value};
use std::time::Duration;

on_both!(
    a_scam_is_blocked_with_its_hits_and_nothing_is_queued,
    legitimate_marketing_passes_the_screen,
    a_grey_message_waits_for_the_operator_who_approves_or_rejects_it,
    transactional_mail_is_screened_too,
    sendwell_s_own_additions_are_never_screened_in_any_layout,
);

/// A scam: an inheritance from a long-lost relative, a fee, and bank details.
const SCAM: &str = "Dear friend, I am Barrister James Okoro, solicitor to your long-lost relative who died \
    leaving an inheritance of $15,500,000 (Fifteen Million Five Hundred Thousand Dollars) in a Swiss bank account. \
    As next of kin you will receive 40% of the funds. To release the transfer, send your full name, bank account \
    number and a processing fee of $450. Keep this strictly confidential.";

/// A grey message: a few pushy money signals, nothing that must block.
const GREY: &str =
    "Our spring sale ends tonight. Thirty percent off everything in the shop with code \
    SPRING30. Act now, limited time only!";
const GREY_SUBJECT: &str = "LAST CHANCE TO SAVE BIG!!!";

async fn contact_opted_in(app: &TestApp, ws: &Workspace, email: &str) -> String {
    let id = app
        .contact(&ws.key, json!({"email": email, "name": "Ann"}))
        .await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form", "evidence": {"wording": "News please"}}),
    )
    .await
    .expect(201);
    id
}

fn marketing(name: &str, subject: &str, text: &str) -> Value {
    json!({
        "name": name, "kind": "marketing",
        "from": {"name": "Acme", "address": "news@acme-mail.com"},
        "subject": subject,
        "template": {"layout": "plain", "text": text},
    })
}

async fn compose(app: &TestApp, ws: &Workspace, body: Value) -> String {
    app.post("/v1/messages", &ws.key, body).await.expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn settled(app: &TestApp, ws: &Workspace, id: &str, state: &str) -> Value {
    for _ in 0..400 {
        let m = app
            .get(&format!("/v1/messages/{id}"), &ws.key)
            .await
            .expect(200);
        if m["state"] == state {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {id} never reached {state}");
}

async fn a_scam_is_blocked_with_its_hits_and_nothing_is_queued(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    contact_opted_in(&app, &ws, "ann@gmail.com").await;
    let id = compose(
        &app,
        &ws,
        marketing("Scam", "Confidential: your inheritance", SCAM),
    )
    .await;
    let report = app
        .post(&format!("/v1/messages/{id}/preflight"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(report["content"]["verdict"], "block", "{report}");
    assert_eq!(report["ready"], false);
    let hits = report["content"]["hits"].as_array().expect("hits");
    assert!(
        hits.iter().any(|h| h["rule"]
            .as_str()
            .expect("rule")
            .starts_with("advance_fee.")),
        "{hits:?}"
    );
    for h in hits {
        assert!(!h["explanation"].as_str().expect("explanation").is_empty());
        assert!(!h["snippet"].as_str().expect("snippet").is_empty());
    }
    let refused = app
        .post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(409);
    let blockers = refused["blockers"].as_array().expect("blockers");
    assert!(
        blockers.iter().any(|b| b["code"]
            .as_str()
            .expect("code")
            .starts_with("content.advance_fee.")),
        "{blockers:?}"
    );
    let m = app
        .get(&format!("/v1/messages/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(m["state"], "draft");
    assert_eq!(m["queued"], 0);
}

async fn legitimate_marketing_passes_the_screen(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    contact_opted_in(&app, &ws, "ann@gmail.com").await;
    let text = "Hi {{ first_name }},\n\nOur spring sale starts Friday: 30% off everything in the shop until Sunday \
        with the code SPRING30. New this season: the linen collection and a lighter rain jacket.\n\n\
        Join our webinar on Thursday at 5pm, where our designers show how the collection was made.\n\n\
        Thanks for being a customer,\nThe Acme team";
    let id = compose(
        &app,
        &ws,
        marketing("Spring sale", "Spring sale: 30% off this weekend", text),
    )
    .await;
    let report = app
        .post(&format!("/v1/messages/{id}/preflight"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(report["content"]["verdict"], "send", "{report}");
    let sent = app
        .post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    assert!(sent.get("review").is_none());
    let m = settled(&app, &ws, &id, "sent").await;
    assert_eq!(m["screening"]["verdict"], "send");
}

async fn a_grey_message_waits_for_the_operator_who_approves_or_rejects_it(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    contact_opted_in(&app, &ws, "ann@gmail.com").await;
    let first = compose(&app, &ws, marketing("Grey 1", GREY_SUBJECT, GREY)).await;
    let report = app
        .post(
            &format!("/v1/messages/{first}/preflight"),
            &ws.key,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(report["content"]["verdict"], "review", "{report}");
    assert_eq!(report["ready"], true, "review does not block: {report}");
    let sent = app
        .post(&format!("/v1/messages/{first}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    assert_eq!(sent["review"], "pending");
    assert_eq!(sent["queued"], 1);
    let m = app
        .get(&format!("/v1/messages/{first}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(m["state"], "in_review");
    assert_eq!(m["counts"]["review"], 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let outbox = app
        .get(&format!("/v1/outbox?message_id={first}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(
        outbox["items"].as_array().expect("items").len(),
        0,
        "nothing goes out before review"
    );
    // The operator's queue shows it with the hits; a workspace key cannot see it.
    app.get("/v1/operator/reviews", &ws.key).await.expect(403);
    let queue = app
        .get("/v1/operator/reviews", &app.operator)
        .await
        .expect(200);
    let item = queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["message_id"] == first.as_str())
        .expect("in the queue")
        .clone();
    assert_eq!(item["screening"]["verdict"], "review");
    app.post(
        &format!("/v1/operator/reviews/{first}/approve"),
        &app.operator,
        json!({"note": "An honest club offer; fine."}),
    )
    .await
    .expect(200);
    let m = settled(&app, &ws, &first, "sent").await;
    assert_eq!(m["counts"]["delivered"], 1);
    assert_eq!(m["review"]["state"], "approved");
    assert_eq!(m["review"]["note"], "An honest club offer; fine.");
    // Deciding twice is refused.
    app.post(
        &format!("/v1/operator/reviews/{first}/reject"),
        &app.operator,
        json!({"note": "x"}),
    )
    .await
    .expect(409);
    // A second one is rejected: nothing goes out and the workspace sees why.
    let second = compose(&app, &ws, marketing("Grey 2", GREY_SUBJECT, GREY)).await;
    app.post(&format!("/v1/messages/{second}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    app.post(
        &format!("/v1/operator/reviews/{second}/reject"),
        &app.operator,
        json!({"note": "Income claims without evidence are not allowed."}),
    )
    .await
    .expect(200);
    let m = app
        .get(&format!("/v1/messages/{second}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(m["state"], "rejected");
    assert_eq!(
        m["review"]["note"],
        "Income claims without evidence are not allowed."
    );
    assert_eq!(m["counts"]["skipped"], 1);
    let outbox = app
        .get(&format!("/v1/outbox?message_id={second}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(outbox["items"].as_array().expect("items").len(), 0);
}

async fn transactional_mail_is_screened_too(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    app.contact(&ws.key, json!({"email": "ann@gmail.com", "name": "Ann"}))
        .await;
    let body = |text: &str| {
        json!({"to": {"email": "ann@gmail.com"}, "from": {"address": "billing@acme-mail.com"},
               "subject": "Your account", "template": {"layout": "plain", "text": text}})
    };
    let refused = app
        .post("/v1/transactional", &ws.key, body(SCAM))
        .await
        .expect(409);
    assert!(refused["blockers"]
        .as_array()
        .expect("b")
        .iter()
        .any(|b| b["code"].as_str().expect("code").starts_with("content.")));
    app.post(
        "/v1/transactional",
        &ws.key,
        body("Your receipt for order A-17: 12.50 EUR. Thank you."),
    )
    .await
    .expect(202);
}

/// Issue #18: the screen reads what the workspace wrote, never what
/// sendwell added. A two-line newsletter in every layout, with and without
/// tracking, screens `send`; the footer's words (the workspace's name and
/// address, "Unsubscribe", "Report this email") are not among the
/// classifier's tokens, and no rule fires on sendwell's own links or pixel.
async fn sendwell_s_own_additions_are_never_screened_in_any_layout(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    contact_opted_in(&app, &ws, "ann@gmail.com").await;
    let text = "News for {{ first_name | fallback: \"you\" }}.";
    let layouts = [
        json!({"layout": "plain", "text": text}),
        json!({"layout": "personal", "text": text, "signature": "Anna"}),
        json!({"layout": "announcement", "heading": "Hello", "text": text}),
        json!({"layout": "custom", "html": "<html><body><p>News for you.</p></body></html>", "text": "News for you."}),
    ];
    for template in layouts {
        for tracked in [true, false] {
            let mut body = marketing("Short", "Hello {{ first_name | fallback: \"there\" }}", "x");
            body["template"] = template.clone();
            body["track_clicks"] = json!(tracked);
            body["track_opens"] = json!(tracked);
            let id = compose(&app, &ws, body).await;
            let report = app
                .post(&format!("/v1/messages/{id}/preflight"), &ws.key, json!({}))
                .await
                .expect(200);
            let content = &report["content"];
            assert_eq!(
                content["verdict"], "send",
                "{template} tracked={tracked}: {report}"
            );
            assert_eq!(
                content["hits"],
                json!([]),
                "{template} tracked={tracked}: {report}"
            );
            let tokens = content["top_tokens"].to_string().to_lowercase();
            for footer_word in [
                "unsubscribe",
                "report",
                "usa",
                "ltd",
                "springfield",
                "street",
            ] {
                assert!(
                    !tokens.contains(footer_word),
                    "{template} tracked={tracked}: the footer's {footer_word:?} was screened: {tokens}"
                );
            }
        }
    }
}

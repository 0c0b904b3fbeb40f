//! Audiences, templates, the compliance renderer, signed links, unsubscribe
//! and opt-in, messages and the capture outbox.

use crate::on_both;
use crate::support::{TestApp, Workspace};
use mail_parser::MessageParser;
use serde_json::{json, Value};
use std::time::Duration;

on_both!(
    custom_template_without_footer_gets_unsubscribe_link_and_address_in_both_parts,
    one_click_unsubscribe_follows_rfc_8058_and_excludes_the_contact_from_the_next_send,
    opt_in_request_button_confirm_sets_attribute_records_evidence_and_joins_marketing,
    audience_preview_counts_every_exclusion_and_both_filter_forms_agree,
    audience_filters_compile_every_operator,
    bad_filters_are_422_pointing_at_the_bad_part,
    templates_are_saved_checked_and_warned,
    header_injection_never_adds_a_header_and_non_ascii_round_trips,
    tampered_tokens_are_404_and_click_links_redirect_only_to_their_url,
    send_is_refused_with_blockers_and_preflight_says_why,
    transactional_mail_reaches_unsubscribed_but_not_bounced_contacts,
    messages_and_outbox_are_private_to_their_workspace,
    consent_declared_by_an_import_makes_contacts_eligible_for_marketing,
    regression_unsubscribe_keeps_a_bounce_and_opting_in_again_lifts_the_unsubscribe,
);

crate::on_both_db!(estimated_counts_read_a_sample_and_say_so_while_exact_ones_count_every_contact);

const ADDRESS: &str = "Acme Ltd, 1 Main Street, Springfield 12345, USA";

fn marketing(name: &str, template: Value) -> Value {
    json!({
        "name": name,
        "kind": "marketing",
        "from": {"name": "Acme News", "address": "news@acme-mail.com"},
        "subject": "Hello {{ first_name | fallback: \"there\" }}",
        "template": template,
    })
}

/// A contact who opted in to marketing through a form.
async fn opted_in(app: &TestApp, ws: &Workspace, email: &str, name: &str, attrs: Value) -> String {
    let id = app
        .contact(
            &ws.key,
            json!({"email": email, "name": name, "attributes": attrs}),
        )
        .await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form",
               "evidence": {"ip": "203.0.113.9", "wording": "Send me news"}}),
    )
    .await
    .expect(201);
    id
}

/// Waits until the worker has finished every delivery of a message.
async fn drained(app: &TestApp, key: &str, message: &str) -> Value {
    for _ in 0..400 {
        let m = app
            .get(&format!("/v1/messages/{message}"), key)
            .await
            .expect(200);
        if m["state"] == "sent" {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {message} was not delivered");
}

async fn create_and_send(app: &TestApp, ws: &Workspace, body: Value) -> (String, i64) {
    let m = app.post("/v1/messages", &ws.key, body).await.expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    let sent = app
        .post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    (id, sent["queued"].as_i64().expect("queued"))
}

/// The captured raw mails of a message, in order.
async fn captured(app: &TestApp, ws: &Workspace, message: &str) -> Vec<String> {
    let page = app
        .get(&format!("/v1/outbox?message_id={message}"), &ws.key)
        .await
        .expect(200);
    let mut raws = Vec::new();
    for item in page["items"].as_array().expect("items") {
        let id = item["id"].as_str().expect("id");
        let resp = app
            .client
            .get(app.url(&format!("/v1/outbox/{id}/raw")))
            .bearer_auth(&ws.key)
            .send()
            .await
            .expect("raw");
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().expect("ct"),
            "message/rfc822"
        );
        raws.push(resp.text().await.expect("text"));
    }
    raws
}

fn header_names(raw: &str) -> Vec<String> {
    let parsed = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parses");
    parsed
        .headers()
        .iter()
        .map(|h| h.name().to_ascii_lowercase())
        .collect()
}

fn header<'a>(parsed: &'a mail_parser::Message<'a>, name: &str) -> Option<String> {
    parsed
        .headers()
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| match h.value() {
            mail_parser::HeaderValue::Text(t) => t.to_string(),
            other => format!("{other:?}"),
        })
}

fn raw_header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push_str(line.trim_start());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_owned());
            }
        }
    }
    value
}

/// The first `href` in `html` that starts with `prefix`.
pub(crate) fn link(html: &str, prefix: &str) -> Option<String> {
    let at = html.find(&format!("href=\"{prefix}"))?;
    let rest = &html[at + 6..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

async fn custom_template_without_footer_gets_unsubscribe_link_and_address_in_both_parts(
    app: TestApp,
) {
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ann@gmail.com", "Ann Lee", json!({})).await;
    let template = json!({
        "layout": "custom",
        "html": "<!DOCTYPE html><html><head><title>x</title></head><body><h1>Spring sale</h1><p>Hi {{ first_name }}, see <a href=\"https://shop.acme-mail.com/sale?x=1&amp;y=2\">the sale</a>.</p></body></html>",
    });
    let (id, queued) = create_and_send(&app, &ws, marketing("Spring", template)).await;
    assert_eq!(queued, 1);
    let status = drained(&app, &ws.key, &id).await;
    assert_eq!(status["counts"]["delivered"], 1);
    let raws = captured(&app, &ws, &id).await;
    assert_eq!(raws.len(), 1);
    let raw = &raws[0];
    let parsed = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parses");
    let html = parsed.body_html(0).expect("html part").to_string();
    let text = parsed.body_text(0).expect("text part").to_string();
    let unsubscribe =
        link(&html, &format!("{}/u/", app.base)).expect("unsubscribe link in the HTML");
    assert!(html.contains(ADDRESS), "address in HTML: {html}");
    assert!(
        text.contains(&unsubscribe),
        "unsubscribe link in the text part: {text}"
    );
    assert!(text.contains(ADDRESS), "address in the text part: {text}");
    assert!(html.contains("Hi Ann,"), "personalised: {html}");
    assert_eq!(parsed.subject(), Some("Hello Ann"));
    // The footer sits inside the body, before </body>.
    let footer_at = html.find(ADDRESS).expect("address");
    assert!(
        footer_at
            < html
                .to_ascii_lowercase()
                .rfind("</body>")
                .expect("body end")
    );
    // Bulk headers, as RFC 2369 and RFC 8058 ask.
    let list_unsubscribe = raw_header(raw, "List-Unsubscribe").expect("List-Unsubscribe");
    assert!(
        list_unsubscribe.starts_with(&format!("<{unsubscribe}>")),
        "{list_unsubscribe}"
    );
    assert!(list_unsubscribe.contains("<mailto:"), "{list_unsubscribe}");
    assert_eq!(
        raw_header(raw, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(raw_header(raw, "List-Id").is_some());
    // Links are signed click links that lead back to the original URL.
    let click = link(&html, &format!("{}/c/", app.base)).expect("click link");
    let resp = no_redirect_client()
        .get(&click)
        .send()
        .await
        .expect("click");
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(
        resp.headers()["location"].to_str().expect("location"),
        "https://shop.acme-mail.com/sale?x=1&y=2"
    );
    // The open pixel answers with an image, and both show in the counts.
    let pixel_at = html.find(&format!("{}/o/", app.base)).expect("open pixel");
    let pixel = &html[pixel_at
        ..html[pixel_at..]
            .find('"')
            .map(|e| pixel_at + e)
            .expect("end")];
    let resp = app.client.get(pixel).send().await.expect("pixel");
    assert_eq!(
        resp.headers()["content-type"].to_str().expect("ct"),
        "image/gif"
    );
    let status = app
        .get(&format!("/v1/messages/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(status["events"]["click"], 1);
    assert_eq!(status["events"]["open"], 1);
}

pub(crate) fn no_redirect_client() -> reqwest::Client {
    sendwell_server::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn one_click_unsubscribe_follows_rfc_8058_and_excludes_the_contact_from_the_next_send(
    app: TestApp,
) {
    let ws = app.ready_workspace("Acme").await;
    let ann = opted_in(&app, &ws, "ann@gmail.com", "Ann", json!({})).await;
    opted_in(&app, &ws, "bob@gmail.com", "Bob", json!({})).await;
    let plain = json!({"layout": "plain", "text": "News for {{ first_name }}."});
    let (id, queued) = create_and_send(&app, &ws, marketing("First", plain.clone())).await;
    assert_eq!(queued, 2);
    drained(&app, &ws.key, &id).await;
    let raws = captured(&app, &ws, &id).await;
    let raw = raws
        .iter()
        .find(|r| r.contains("To: Ann <ann@gmail.com>") || r.contains("ann@gmail.com>"))
        .expect("Ann's mail");
    let header = raw_header(raw, "List-Unsubscribe").expect("header");
    let url = header
        .trim_start_matches('<')
        .split('>')
        .next()
        .expect("https URL")
        .to_owned();
    assert!(url.starts_with(&format!("{}/u/", app.base)));
    // A GET shows a page and changes nothing.
    let page = app.client.get(&url).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let contact = app
        .get(&format!("/v1/contacts/{ann}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(contact["consent"]["marketing"]["status"], "opted_in");
    // The exact one-click POST: no credentials, no cookie, no redirect.
    for _ in 0..2 {
        let resp = no_redirect_client()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .expect("one-click");
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.headers().get("location").is_none());
        assert!(resp.headers().get("set-cookie").is_none());
    }
    let contact = app
        .get(&format!("/v1/contacts/{ann}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(contact["consent"]["marketing"]["status"], "opted_out");
    let proof = app
        .get(&format!("/v1/contacts/{ann}/consent"), &ws.key)
        .await
        .expect(200);
    let events = proof["events"].as_array().expect("events");
    let outs: Vec<&Value> = events.iter().filter(|e| e["action"] == "opt_out").collect();
    assert_eq!(outs.len(), 1, "repeating it changes nothing: {events:?}");
    assert_eq!(outs[0]["method"], "one_click");
    assert_eq!(outs[0]["evidence"]["message_id"], id.as_str());
    // Left out of the next send.
    let preview = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing"}),
        )
        .await
        .expect(200);
    assert_eq!(preview["eligible"], 1);
    assert_eq!(preview["excluded"]["unsubscribed"], 1);
    let (second, queued) = create_and_send(&app, &ws, marketing("Second", plain)).await;
    assert_eq!(queued, 1);
    drained(&app, &ws.key, &second).await;
    let raws = captured(&app, &ws, &second).await;
    assert_eq!(raws.len(), 1);
    assert!(raws[0].contains("bob@gmail.com"));
    assert!(!raws[0].contains("ann@gmail.com"));
}

async fn opt_in_request_button_confirm_sets_attribute_records_evidence_and_joins_marketing(
    app: TestApp,
) {
    let ws = app.ready_workspace("Acme").await;
    let cid = app
        .contact(&ws.key, json!({"email": "cat@gmail.com", "name": "Cat"}))
        .await;
    let before = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing"}),
        )
        .await
        .expect(200);
    assert_eq!(before["eligible"], 0);
    assert_eq!(before["excluded"]["no_consent"], 1);
    let body = json!({
        "name": "May we write to you?",
        "kind": "opt_in_request",
        "from": {"name": "Acme", "address": "hello@acme-mail.com"},
        "subject": "May we keep you posted?",
        "template": {"layout": "plain", "html": "<p>Hi {{ first_name }}, would you like our news?</p>{% opt_in_button \"Yes, keep me posted\" %}"},
        "opt_in_attribute": "newsletter_opt_in",
    });
    let (id, queued) = create_and_send(&app, &ws, body.clone()).await;
    assert_eq!(queued, 1);
    drained(&app, &ws.key, &id).await;
    let raws = captured(&app, &ws, &id).await;
    let parsed = MessageParser::default()
        .parse(raws[0].as_bytes())
        .expect("parses");
    let html = parsed.body_html(0).expect("html").to_string();
    assert!(html.contains("Yes, keep me posted"));
    let url = link(&html, &format!("{}/optin/", app.base)).expect("opt-in link");
    // A mail scanner's GET opts no one in.
    let page = app.client.get(&url).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page
        .text()
        .await
        .expect("text")
        .contains("<form method=\"post\">"));
    let contact = app
        .get(&format!("/v1/contacts/{cid}"), &ws.key)
        .await
        .expect(200);
    assert!(contact["consent"].get("marketing").is_none());
    // A POST without the page's nonce (a replayed or forged press) does nothing.
    let forged = app.client.post(&url).send().await.expect("post");
    assert_eq!(forged.status().as_u16(), 403);
    // The confirming press.
    let browser = reqwest::Client::builder()
        .user_agent("TestBrowser/1.0")
        .build()
        .expect("client");
    let resp = crate::support::confirm_opt_in(&browser, &url).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.expect("text").contains("Thank you"));
    let contact = app
        .get(&format!("/v1/contacts/{cid}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(contact["attributes"]["newsletter_opt_in"], true);
    assert_eq!(contact["consent"]["marketing"]["status"], "opted_in");
    let proof = app
        .get(&format!("/v1/contacts/{cid}/consent"), &ws.key)
        .await
        .expect(200);
    let event = &proof["events"][0];
    assert_eq!(event["action"], "opt_in");
    assert_eq!(event["method"], "opt_in_link");
    assert_eq!(event["evidence"]["wording"], "Yes, keep me posted");
    assert_eq!(event["evidence"]["subject"], "May we keep you posted?");
    assert_eq!(event["evidence"]["message_id"], id.as_str());
    assert_eq!(event["evidence"]["user_agent"], "TestBrowser/1.0");
    assert_eq!(
        event["actor"], "captured-mail-reader",
        "a mail the capture transport only stored never reached the person"
    );
    assert!(event["evidence"]["ip"].is_string());
    let after = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing"}),
        )
        .await
        .expect(200);
    assert_eq!(after["eligible"], 1);
    // Asked once: not asked again within the interval, even by a new message.
    let again = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "opt_in_request"}),
        )
        .await
        .expect(200);
    assert_eq!(again["eligible"], 0);
    // With a landing URL, the confirmation redirects there.
    app.patch(
        "/v1/workspace",
        &ws.key,
        json!({"opt_in_landing_url": "https://acme-mail.com/welcome"}),
    )
    .await
    .expect(200);
    let dan = app
        .contact(&ws.key, json!({"email": "dan@gmail.com", "name": "Dan"}))
        .await;
    let (second, _) = create_and_send(&app, &ws, body).await;
    drained(&app, &ws.key, &second).await;
    let raws = captured(&app, &ws, &second).await;
    assert_eq!(raws.len(), 1, "only Dan has no recorded choice");
    let parsed = MessageParser::default()
        .parse(raws[0].as_bytes())
        .expect("parses");
    let url = link(
        &parsed.body_html(0).expect("html"),
        &format!("{}/optin/", app.base),
    )
    .expect("link");
    let resp = crate::support::confirm_opt_in(&no_redirect_client(), &url).await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "https://acme-mail.com/welcome");
    let contact = app
        .get(&format!("/v1/contacts/{dan}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(contact["attributes"]["newsletter_opt_in"], true);
}

async fn audience_preview_counts_every_exclusion_and_both_filter_forms_agree(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    opted_in(
        &app,
        &ws,
        "a1@gmail.com",
        "A1",
        json!({"plan": "pro", "seats": 5}),
    )
    .await;
    opted_in(
        &app,
        &ws,
        "a2@gmail.com",
        "A2",
        json!({"plan": "team", "seats": 50}),
    )
    .await;
    opted_in(
        &app,
        &ws,
        "a3@gmail.com",
        "A3",
        json!({"plan": "free", "seats": 1}),
    )
    .await;
    app.contact(
        &ws.key,
        json!({"email": "no-consent@gmail.com", "attributes": {"plan": "pro"}}),
    )
    .await;
    opted_in(&app, &ws, "bounced@gmail.com", "B", json!({"plan": "pro"})).await;
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "bounced@gmail.com", "reason": "bounced"}),
    )
    .await;
    opted_in(&app, &ws, "gone@gmail.com", "G", json!({"plan": "pro"})).await;
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "gone@gmail.com", "reason": "complained"}),
    )
    .await;
    opted_in(&app, &ws, "left@gmail.com", "L", json!({"plan": "team"})).await;
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "left@gmail.com", "reason": "unsubscribed"}),
    )
    .await;
    opted_in(
        &app,
        &ws,
        "someone@example.com",
        "Invalid",
        json!({"plan": "pro"}),
    )
    .await;
    app.contact(
        &ws.key,
        json!({"external_id": "no-email", "attributes": {"plan": "pro"}}),
    )
    .await;

    let text = "plan in (\"pro\", \"team\")";
    let json_form = json!({"field": "plan", "op": "in", "value": ["pro", "team"]});
    let a = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing", "filter": text}),
        )
        .await
        .expect(200);
    let b = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing", "filter": json_form}),
        )
        .await
        .expect(200);
    for key in ["matched", "eligible", "excluded"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["matched"], 8, "{a}");
    assert_eq!(a["eligible"], 2, "{a}");
    assert_eq!(a["excluded"]["no_consent"], 1);
    assert_eq!(a["excluded"]["bounced"], 1);
    assert_eq!(a["excluded"]["complained"], 1);
    assert_eq!(a["excluded"]["unsubscribed"], 1);
    assert_eq!(
        a["excluded"]["invalid"], 2,
        "reserved domain and no email: {a}"
    );
    let sample: Vec<&str> = a["sample"]
        .as_array()
        .expect("sample")
        .iter()
        .map(|s| s["email"].as_str().expect("email"))
        .collect();
    assert_eq!(sample.len(), 2);
    assert!(sample.contains(&"a1@gmail.com") && sample.contains(&"a2@gmail.com"));
    // Transactional mail needs no opt-in and reaches the unsubscribed, but
    // never a bounced or complaining address.
    let t = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "transactional", "filter": text}),
        )
        .await
        .expect(200);
    assert_eq!(t["eligible"], 4, "{t}");
    assert_eq!(t["excluded"]["bounced"], 1);
    assert_eq!(t["excluded"]["complained"], 1);
    // Opt-in requests never go to anyone who made a choice.
    let r = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "opt_in_request", "filter": text}),
        )
        .await
        .expect(200);
    assert_eq!(
        r["eligible"], 1,
        "only the contact with no recorded choice: {r}"
    );
}

async fn audience_filters_compile_every_operator(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let days_ago = |d: i64| now - d * 86_400;
    app.post(
        "/v1/contacts",
        &ws.key,
        json!({"email": "ann@gmail.com", "name": "Ann Lee", "last_seen_at": days_ago(3),
               "attributes": {"plan": "pro", "seats": 5, "vip": true, "renews_at": "2027-03-01", "company": "Acme Widgets"}}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/contacts",
        &ws.key,
        json!({"email": "bob@acme-mail.com", "name": "Bob Stone", "last_seen_at": days_ago(90),
               "attributes": {"plan": "free", "seats": 1, "vip": false, "renews_at": "2026-01-15", "company": "Stone & Co"}}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/contacts",
        &ws.key,
        json!({"email": "cy@gmail.com", "attributes": {"plan": "team"}}),
    )
    .await
    .expect(201);
    let cases: &[(&str, i64)] = &[
        ("email has any value", 3),
        ("company has no value", 1),
        ("plan is \"pro\"", 1),
        ("plan is not \"pro\"", 2),
        ("company contains \"widget\"", 1),
        ("company does not contain \"widget\"", 2),
        ("email starts with \"bob@\"", 1),
        ("email ends with \"@gmail.com\"", 2),
        ("seats greater than 2", 1),
        ("seats less than 2", 1),
        ("seats between 1 and 5", 2),
        ("plan in (\"pro\", \"team\")", 2),
        ("vip is true", 1),
        ("vip is false", 1),
        ("renews_at before \"2026-06-01\"", 1),
        ("renews_at after \"2026-06-01\"", 1),
        ("renews_at is \"2027-03-01\"", 1),
        ("last_seen_at less than 30 days ago", 1),
        ("last_seen_at more than 30 days ago", 1),
        ("not (plan is \"pro\" or plan is \"free\")", 1),
        (
            "plan is \"pro\" and seats greater than 2 and last_seen_at less than 30 days ago",
            1,
        ),
        ("not vip is true", 2),
    ];
    for (filter, expected) in cases {
        let resp = app
            .post(
                "/v1/audiences/preview",
                &ws.key,
                json!({"kind": "transactional", "filter": filter}),
            )
            .await;
        assert_eq!(resp.status.as_u16(), 200, "{filter}: {}", resp.body);
        let r = resp.body;
        assert_eq!(r["matched"], *expected, "{filter}: {r}");
    }
}

async fn bad_filters_are_422_pointing_at_the_bad_part(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    app.contact(&ws.key, json!({"email": "ann@gmail.com", "attributes": {"plan": "pro"}, "last_seen_at": 1_700_000_000}))
        .await;
    let unknown = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing", "filter": "plna is \"pro\""}),
        )
        .await
        .expect(422);
    let detail = unknown["detail"].as_str().expect("detail");
    assert!(
        detail.contains("plna") && detail.contains("plan"),
        "{detail}"
    );
    let date_vs_number = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing", "filter": {"and": [
                {"field": "plan", "op": "is", "value": "pro"},
                {"field": "last_seen_at", "op": "before", "value": 5}
            ]}}),
        )
        .await
        .expect(422);
    assert_eq!(
        date_vs_number["errors"][0]["pointer"], "/filter/and/1/value",
        "{date_vs_number}"
    );
    let text = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing", "filter": "plan is \"pro\" and last_seen_at greater than 5"}),
        )
        .await
        .expect(422);
    assert!(
        text["detail"].as_str().expect("detail").contains("column"),
        "{text}"
    );
    let kind = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "newsletter"}),
        )
        .await
        .expect(422);
    assert_eq!(kind["errors"][0]["pointer"], "/kind");
    // A message with a bad filter is not stored.
    let mut body = marketing("Bad", json!({"layout": "plain", "text": "x"}));
    body["audience"] = json!({"filter": "plna is \"pro\""});
    let resp = app.post("/v1/messages", &ws.key, body).await.expect(422);
    assert_eq!(resp["errors"][0]["pointer"], "/audience/filter");
    let list = app.get("/v1/messages", &ws.key).await.expect(200);
    assert_eq!(list["items"].as_array().expect("items").len(), 0);
}

async fn templates_are_saved_checked_and_warned(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    app.contact(
        &ws.key,
        json!({"email": "ann@gmail.com", "attributes": {"plan": "pro"}}),
    )
    .await;
    let saved = app
        .post(
            "/v1/templates",
            &ws.key,
            json!({"name": "Welcome", "template": {"layout": "announcement", "heading": "Hi {{ first_name }}",
                   "html": "<p>You are on {{ plan }}; {{ shoe_size }}</p>", "button_text": "Go", "button_url": "https://acme-mail.com/go"}}),
        )
        .await
        .expect(201);
    let id = saved["id"].as_str().expect("id");
    let warnings = saved["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0]["message"]
        .as_str()
        .expect("msg")
        .contains("shoe_size"));
    let got = app
        .get(&format!("/v1/templates/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(got["template"]["heading"], "Hi {{ first_name }}");
    let updated = app
        .send(
            reqwest::Method::PUT,
            &format!("/v1/templates/{id}"),
            Some(&ws.key),
            Some(json!({"name": "Welcome 2", "template": {"layout": "plain", "text": "Hello {{ plan }}"}})),
        )
        .await
        .expect(200);
    assert_eq!(updated["name"], "Welcome 2");
    assert_eq!(updated["warnings"].as_array().expect("w").len(), 0);
    let list = app.get("/v1/templates", &ws.key).await.expect(200);
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
    // A Liquid syntax error: 422 with line and column, nothing saved.
    let bad = app
        .post(
            "/v1/templates",
            &ws.key,
            json!({"name": "Broken", "template": {"layout": "custom", "html": "<html><body>\n<p>{{ first_name | }}</p></body></html>"}}),
        )
        .await
        .expect(422);
    let problem = bad["errors"][0]["detail"].as_str().expect("detail");
    assert!(problem.contains("line 2"), "{problem}");
    assert!(problem.contains("column"), "{problem}");
    assert_eq!(bad["errors"][0]["pointer"], "/template/html");
    // Hiding the unsubscribe link is refused, saying what to change.
    let hidden = app
        .post(
            "/v1/templates",
            &ws.key,
            json!({"name": "Sneaky", "template": {"layout": "custom",
                   "html": "<html><body><p>Hi</p><p style=\"font-size:0\"><a href=\"{{ unsubscribe_url }}\">unsubscribe</a> {{ physical_address }}</p></body></html>"}}),
        )
        .await
        .expect(422);
    assert!(
        hidden["detail"]
            .as_str()
            .expect("detail")
            .contains("unsubscribe link"),
        "{hidden}"
    );
    let list = app.get("/v1/templates", &ws.key).await.expect(200);
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
    // A message can use the saved template by id.
    opted_in(&app, &ws, "bea@gmail.com", "Bea", json!({"plan": "team"})).await;
    let (mid, _) = create_and_send(&app, &ws, marketing("By id", json!({"template_id": id}))).await;
    drained(&app, &ws.key, &mid).await;
    let raws = captured(&app, &ws, &mid).await;
    let parsed = MessageParser::default()
        .parse(raws[0].as_bytes())
        .expect("parses");
    assert!(parsed.body_text(0).expect("text").contains("Hello team"));
}

async fn header_injection_never_adds_a_header_and_non_ascii_round_trips(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    opted_in(
        &app,
        &ws,
        "ann@gmail.com",
        "Ann",
        json!({"company": "Acme\r\nX-Injected: yes", "city": "Köln"}),
    )
    .await;
    for (field, value) in [
        ("subject", json!("Hi\r\nBcc: victim@gmail.com")),
        ("subject", json!("Hi\nX-Evil: 1")),
        ("subject", json!("Hi\u{0}there")),
    ] {
        let mut body = marketing("Inject", json!({"layout": "plain", "text": "x"}));
        body[field] = value;
        let r = app.post("/v1/messages", &ws.key, body).await.expect(422);
        assert_eq!(r["errors"][0]["pointer"], "/subject");
    }
    let mut body = marketing("Inject", json!({"layout": "plain", "text": "x"}));
    body["from"]["name"] = json!("Acme\r\nBcc: victim@gmail.com");
    assert_eq!(
        app.post("/v1/messages", &ws.key, body).await.expect(422)["errors"][0]["pointer"],
        "/from/name"
    );
    let mut body = marketing("Inject", json!({"layout": "plain", "text": "x"}));
    body["reply_to"] = json!("a@gmail.com\r\nBcc: victim@gmail.com");
    assert_eq!(
        app.post("/v1/messages", &ws.key, body).await.expect(422)["errors"][0]["pointer"],
        "/reply_to"
    );
    // Attribute values and encoded-word tricks reach headers only as text.
    let mut body = marketing(
        "Grüße",
        json!({"layout": "plain", "text": "Hallo {{ city }}"}),
    );
    body["from"]["name"] = json!("Jörg von Acme – Team");
    body["subject"] =
        json!("Grüße aus {{ city }} {{ company }} =?utf-8?q?a=0D=0ABcc:_x@gmail.com?= 🎉");
    let (id, _) = create_and_send(&app, &ws, body).await;
    drained(&app, &ws.key, &id).await;
    let raws = captured(&app, &ws, &id).await;
    let raw = &raws[0];
    let names = header_names(raw);
    for bad in ["bcc", "x-injected", "x-evil"] {
        assert!(
            !names.contains(&bad.to_owned()),
            "{bad} header in {names:?}"
        );
    }
    assert_eq!(names.iter().filter(|n| *n == "subject").count(), 1);
    assert!(raw.is_ascii(), "headers and bodies are 7-bit encoded");
    let parsed = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parses");
    let subject = parsed.subject().expect("subject");
    assert!(subject.starts_with("Grüße aus Köln Acme"), "{subject}");
    assert!(
        subject.contains("X-Injected: yes"),
        "kept as text: {subject}"
    );
    assert!(
        subject.contains("=?utf-8?q?a=0D=0ABcc:_x@gmail.com?="),
        "not decoded: {subject}"
    );
    assert!(subject.ends_with("🎉"));
    let from = parsed.from().and_then(|f| f.first()).expect("from");
    assert_eq!(from.name(), Some("Jörg von Acme – Team"));
    let _ = header(&parsed, "To");
}

async fn tampered_tokens_are_404_and_click_links_redirect_only_to_their_url(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ann@gmail.com", "Ann", json!({})).await;
    let template =
        json!({"layout": "plain", "html": "<p><a href=\"https://acme-mail.com/a\">A</a></p>"});
    let (id, _) = create_and_send(&app, &ws, marketing("Links", template)).await;
    // The opt-in button is only for opt-in requests.
    let button = json!({"layout": "plain", "html": "<p>Hi</p>{% opt_in_button \"Yes\" %}"});
    let refused = app
        .post("/v1/messages", &ws.key, marketing("Button", button))
        .await
        .expect(422);
    assert!(refused.to_string().contains("opt_in_request"), "{refused}");
    let carl = app
        .contact(&ws.key, json!({"email": "carl@gmail.com"}))
        .await;
    let ask = json!({"name": "Ask", "kind": "opt_in_request", "from": {"address": "hello@acme-mail.com"},
                     "subject": "May we?", "template": {"layout": "plain", "html": "{% opt_in_button \"Yes\" %}"}});
    let (ask_id, _) = create_and_send(&app, &ws, ask).await;
    drained(&app, &ws.key, &ask_id).await;
    let asked = captured(&app, &ws, &ask_id).await;
    assert!(
        asked[0].contains("carl@gmail.com"),
        "only Carl has no recorded choice ({carl})"
    );
    let asked = MessageParser::default()
        .parse(asked[0].as_bytes())
        .expect("parses");
    drained(&app, &ws.key, &id).await;
    let raws = captured(&app, &ws, &id).await;
    let parsed = MessageParser::default()
        .parse(raws[0].as_bytes())
        .expect("parses");
    let html = parsed.body_html(0).expect("html").to_string();
    let click = link(&html, &format!("{}/c/", app.base)).expect("click");
    let unsub = link(&html, &format!("{}/u/", app.base)).expect("unsubscribe");
    let optin = link(
        &asked.body_html(0).expect("html"),
        &format!("{}/optin/", app.base),
    )
    .expect("opt-in");
    let client = no_redirect_client();
    for url in [&click, &unsub, &optin] {
        // Flip one character of the signature.
        let mut bytes = url.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bytes).expect("ascii");
        let resp = client.get(&bad).send().await.expect("get");
        assert_eq!(resp.status().as_u16(), 404, "{bad}");
        let resp = client
            .post(&bad)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .expect("post");
        assert!(
            resp.status().as_u16() == 404 || resp.status().as_u16() == 405,
            "{bad}"
        );
    }
    // A click token whose URL was edited does not redirect.
    use base64::Engine;
    let token = click.rsplit('/').next().expect("token");
    let (payload, tag) = token.split_once('.').expect("dot");
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let text = String::from_utf8(engine.decode(payload).expect("b64")).expect("utf8");
    assert!(text.contains("https://acme-mail.com/a"));
    let edited =
        engine.encode(text.replace("https://acme-mail.com/a", "https://evil.example.net/"));
    let resp = client
        .get(format!("{}/c/{edited}.{tag}", app.base))
        .send()
        .await
        .expect("edited");
    assert_eq!(resp.status().as_u16(), 404);
    assert!(resp.headers().get("location").is_none());
    let resp = client.get(&click).send().await.expect("click");
    assert_eq!(resp.headers()["location"], "https://acme-mail.com/a");
    // Tracking can be switched off per message.
    let mut body = marketing(
        "Untracked",
        json!({"layout": "plain", "html": "<p><a href=\"https://acme-mail.com/b\">B</a></p>"}),
    );
    body["track_clicks"] = json!(false);
    body["track_opens"] = json!(false);
    let (id, _) = create_and_send(&app, &ws, body).await;
    drained(&app, &ws.key, &id).await;
    let raws = captured(&app, &ws, &id).await;
    let parsed = MessageParser::default()
        .parse(raws[0].as_bytes())
        .expect("parses");
    let html = parsed.body_html(0).expect("html").to_string();
    assert!(html.contains("href=\"https://acme-mail.com/b\""));
    assert!(!html.contains("/c/") && !html.contains("/o/"));
}

async fn send_is_refused_with_blockers_and_preflight_says_why(app: TestApp) {
    let ws = app.workspace("Acme").await;
    app.contact(&ws.key, json!({"email": "ann@gmail.com"}))
        .await;
    let mut body = marketing("Fake reply", json!({"layout": "plain", "text": "x"}));
    body["subject"] = json!("Re: your order");
    body["from"]["name"] = json!("Mom");
    let m = app.post("/v1/messages", &ws.key, body).await.expect(201);
    let id = m["id"].as_str().expect("id");
    let report = app
        .post(&format!("/v1/messages/{id}/preflight"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(report["ready"], false);
    let codes: Vec<&str> = report["blockers"]
        .as_array()
        .expect("blockers")
        .iter()
        .map(|b| b["code"].as_str().expect("code"))
        .collect();
    for code in [
        "physical_address_missing",
        "guidelines_not_accepted",
        "no_eligible_recipients",
        "fake_reply",
        "poses_as_relative",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    assert_eq!(report["compliance"]["list_unsubscribe"], true);
    assert_eq!(report["compliance"]["list_unsubscribe_post"], true);
    assert_eq!(report["compliance"]["html_has_unsubscribe"], true);
    assert_eq!(report["compliance"]["text_has_unsubscribe"], true);
    let refused = app
        .post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(409);
    let blockers: Vec<&str> = refused["blockers"]
        .as_array()
        .expect("blockers")
        .iter()
        .map(|b| b["code"].as_str().expect("code"))
        .collect();
    assert_eq!(blockers, codes);
    let status = app
        .get(&format!("/v1/messages/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(status["state"], "draft");
    assert_eq!(status["queued"], 0);
    // A viewer may read but not send.
    let viewer = app.new_key(&ws.key, "viewer").await;
    app.post(&format!("/v1/messages/{id}/send"), &viewer, json!({}))
        .await
        .expect(403);
    // Sent once, a message cannot be sent again.
    let ready = app.ready_workspace("Ready").await;
    opted_in(&app, &ready, "bob@gmail.com", "Bob", json!({})).await;
    let (sent, _) = create_and_send(
        &app,
        &ready,
        marketing("Once", json!({"layout": "plain", "text": "x"})),
    )
    .await;
    let again = app
        .post(&format!("/v1/messages/{sent}/send"), &ready.key, json!({}))
        .await
        .expect(409);
    assert!(again["blockers"]
        .as_array()
        .expect("b")
        .iter()
        .any(|b| b["code"] == "already_sent"));
}

async fn transactional_mail_reaches_unsubscribed_but_not_bounced_contacts(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    app.contact(
        &ws.key,
        json!({"email": "ann@gmail.com", "external_id": "u-1", "name": "Ann"}),
    )
    .await;
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "ann@gmail.com", "reason": "unsubscribed"}),
    )
    .await;
    app.contact(&ws.key, json!({"email": "bob@gmail.com"}))
        .await;
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "bob@gmail.com", "reason": "bounced"}),
    )
    .await;
    let body = |to: Value| {
        json!({
            "to": to,
            "from": {"name": "Acme Billing", "address": "billing@acme-mail.com"},
            "subject": "Receipt {{ order_id }}",
            "template": {"layout": "plain", "text": "Thanks {{ first_name }}, order {{ order_id }} costs {{ data.total }}."},
            "data": {"order_id": "A-17", "total": "12.50 EUR"},
        })
    };
    let sent = app
        .post(
            "/v1/transactional",
            &ws.key,
            body(json!({"external_id": "u-1"})),
        )
        .await
        .expect(202);
    let mid = sent["message_id"].as_str().expect("id");
    drained(&app, &ws.key, mid).await;
    let raws = captured(&app, &ws, mid).await;
    let parsed = MessageParser::default()
        .parse(raws[0].as_bytes())
        .expect("parses");
    assert_eq!(parsed.subject(), Some("Receipt A-17"));
    let text = parsed.body_text(0).expect("text").to_string();
    assert!(
        text.contains("Thanks Ann, order A-17 costs 12.50 EUR."),
        "{text}"
    );
    assert!(
        text.contains(ADDRESS),
        "transactional mail has the address too"
    );
    assert!(
        raw_header(&raws[0], "List-Unsubscribe").is_none(),
        "not a bulk mail"
    );
    let refused = app
        .post(
            "/v1/transactional",
            &ws.key,
            body(json!({"email": "bob@gmail.com"})),
        )
        .await
        .expect(409);
    assert_eq!(refused["blockers"][0]["code"], "contact_bounced");
    app.post(
        "/v1/transactional",
        &ws.key,
        body(json!({"email": "nobody@gmail.com"})),
    )
    .await
    .expect(404);
    app.post(
        "/v1/transactional",
        &ws.key,
        body(json!({"email": "ann@gmail.com", "external_id": "u-1"})),
    )
    .await
    .expect(422);
}

async fn messages_and_outbox_are_private_to_their_workspace(app: TestApp) {
    let a = app.ready_workspace("A").await;
    let b = app.ready_workspace("B").await;
    opted_in(&app, &a, "ann@gmail.com", "Ann", json!({})).await;
    let (id, _) = create_and_send(
        &app,
        &a,
        marketing("Secret", json!({"layout": "plain", "text": "x"})),
    )
    .await;
    drained(&app, &a.key, &id).await;
    let items = app.get("/v1/outbox", &a.key).await.expect(200)["items"].clone();
    let ob = items[0]["id"].as_str().expect("id").to_owned();
    app.get(&format!("/v1/messages/{id}"), &b.key)
        .await
        .expect(404);
    app.post(&format!("/v1/messages/{id}/send"), &b.key, json!({}))
        .await
        .expect(404);
    app.get(&format!("/v1/outbox/{ob}/raw"), &b.key)
        .await
        .expect(404);
    let theirs = app
        .get(&format!("/v1/outbox?message_id={id}"), &b.key)
        .await
        .expect(200);
    assert_eq!(theirs["items"].as_array().expect("items").len(), 0);
    let preview = app
        .post(
            "/v1/audiences/preview",
            &b.key,
            json!({"kind": "transactional"}),
        )
        .await
        .expect(200);
    assert_eq!(preview["matched"], 0);
}

async fn consent_declared_by_an_import_makes_contacts_eligible_for_marketing(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    let mut csv = String::from("email,name,plan\n");
    for i in 0..40 {
        csv.push_str(&format!(
            "user{i}@gmail.com,User {i},{}\n",
            if i % 2 == 0 { "pro" } else { "free" }
        ));
    }
    let report = app
        .import(
            &ws.key,
            "source=product_users&consent=opt_in&consent_statement=Ticked%20the%20box%20at%20sign-up",
            &csv,
        )
        .await
        .expect(201);
    assert_eq!(report["counts"]["consent_recorded"], 40, "{report}");
    let preview = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing", "filter": "plan is \"pro\""}),
        )
        .await
        .expect(200);
    assert_eq!(preview["eligible"], 20, "{preview}");
    // One of them leaves through the API: the audience follows at once.
    let first = preview["sample"][0]["id"].as_str().expect("id").to_owned();
    app.post(
        &format!("/v1/contacts/{first}/consent"),
        &ws.key,
        json!({"action": "opt_out", "method": "form", "evidence": {"wording": "Stop"}}),
    )
    .await
    .expect(201);
    let preview = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing", "filter": "plan is \"pro\""}),
        )
        .await
        .expect(200);
    assert_eq!(preview["eligible"], 19);
    assert_eq!(preview["excluded"]["unsubscribed"], 1);
    let requests = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "opt_in_request"}),
        )
        .await
        .expect(200);
    assert_eq!(
        requests["eligible"], 0,
        "everyone made a choice: {requests}"
    );
}

async fn regression_unsubscribe_keeps_a_bounce_and_opting_in_again_lifts_the_unsubscribe(
    app: TestApp,
) {
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ann@gmail.com", "Ann", json!({})).await;
    opted_in(&app, &ws, "bob@gmail.com", "Bob", json!({})).await;
    let plain = json!({"layout": "plain", "text": "News."});
    let (id, _) = create_and_send(&app, &ws, marketing("First", plain.clone())).await;
    drained(&app, &ws.key, &id).await;
    let raws = captured(&app, &ws, &id).await;
    let url_of = |who: &str| {
        let raw = raws.iter().find(|r| r.contains(who)).expect("mail");
        raw_header(raw, "List-Unsubscribe")
            .expect("header")
            .trim_start_matches('<')
            .split('>')
            .next()
            .expect("url")
            .to_owned()
    };
    // Ann bounced, then unsubscribed from an older mail: still bounced.
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "ann@gmail.com", "reason": "bounced"}),
    )
    .await;
    let resp = app
        .client
        .post(url_of("ann@gmail.com"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("one-click");
    assert_eq!(resp.status().as_u16(), 200);
    let refused = app
        .post(
            "/v1/transactional",
            &ws.key,
            json!({"to": {"email": "ann@gmail.com"}, "from": {"address": "billing@acme-mail.com"},
                   "subject": "Receipt", "template": {"layout": "plain", "text": "Thanks."}}),
        )
        .await
        .expect(409);
    assert_eq!(refused["blockers"][0]["code"], "contact_bounced");
    // Bob unsubscribed, then opted in again through an opt-in request's button.
    app.client
        .post(url_of("bob@gmail.com"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("one-click");
    let sup = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert!(sup["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|i| i["email"] == "bob@gmail.com" && i["reason"] == "unsubscribed"));
    // An opt-in request never goes to someone who opted out...
    let request = json!({
        "name": "Ask", "kind": "opt_in_request",
        "from": {"address": "hello@acme-mail.com"}, "subject": "May we?",
        "template": {"layout": "plain", "html": "{% opt_in_button \"Yes\" %}"},
    });
    let m = app.post("/v1/messages", &ws.key, request).await.expect(201);
    let blocked = app
        .post(
            &format!("/v1/messages/{}/send", m["id"].as_str().expect("id")),
            &ws.key,
            json!({}),
        )
        .await
        .expect(409);
    assert!(blocked["blockers"]
        .as_array()
        .expect("b")
        .iter()
        .any(|b| b["code"] == "no_eligible_recipients"));
    // ...and no other mail may carry the button...
    let body = json!({"to": {"email": "bob@gmail.com"}, "from": {"address": "hello@acme-mail.com"}, "subject": "Confirm",
                      "template": {"layout": "plain", "html": "{% opt_in_button \"Yes, again\" %}"}});
    app.post("/v1/transactional", &ws.key, body)
        .await
        .expect(422);
    // ...but a person who pressed an opt-in request's button, and
    // unsubscribed since, may press it again; that lifts the unsubscribe.
    let cy = app.contact(&ws.key, json!({"email": "cy@gmail.com"})).await;
    let request = json!({
        "name": "Ask again", "kind": "opt_in_request",
        "from": {"address": "hello@acme-mail.com"}, "subject": "May we?",
        "template": {"layout": "plain", "html": "{% opt_in_button \"Yes\" %}"},
    });
    let (mid, _) = create_and_send(&app, &ws, request).await;
    drained(&app, &ws.key, &mid).await;
    let raws = captured(&app, &ws, &mid).await;
    assert_eq!(raws.len(), 1, "only Cy has no recorded choice");
    let parsed = MessageParser::default()
        .parse(raws[0].as_bytes())
        .expect("parses");
    let url = link(
        &parsed.body_html(0).expect("html"),
        &format!("{}/optin/", app.base),
    )
    .expect("link");
    let unsubscribe = raw_header(&raws[0], "List-Unsubscribe")
        .expect("header")
        .trim_start_matches('<')
        .split('>')
        .next()
        .expect("url")
        .to_owned();
    let press = crate::support::confirm_opt_in(&app.client, &url).await;
    assert_eq!(press.status().as_u16(), 200);
    app.client
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("one-click");
    let sup = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert!(sup["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|i| i["email"] == "cy@gmail.com" && i["reason"] == "unsubscribed"));
    let press = crate::support::confirm_opt_in(&app.client, &url).await;
    assert_eq!(press.status().as_u16(), 200);
    let sup = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert!(!sup["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|i| i["email"] == "cy@gmail.com"));
    let proof = app
        .get(&format!("/v1/contacts/{cy}/consent"), &ws.key)
        .await
        .expect(200);
    let actions: Vec<&str> = proof["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["opt_in", "opt_out", "opt_in"]);
    // Transactional mail to many is refused: it would be bulk mail without consent.
    let mut bulk = marketing("Bulk", json!({"layout": "plain", "text": "x"}));
    bulk["kind"] = json!("transactional");
    let r = app.post("/v1/messages", &ws.key, bulk).await.expect(422);
    assert_eq!(r["errors"][0]["pointer"], "/kind");
}

/// Issue #16: a large workspace's counts at a glance are estimated from a
/// sample (here 640 contacts of 2,000, `audience_sample`), say how many
/// they read, and stay near the exact count; exact counts stay the
/// default; an estimate of nobody eligible is checked exactly before it
/// blocks.
async fn estimated_counts_read_a_sample_and_say_so_while_exact_ones_count_every_contact(
    db: Option<String>,
) {
    let app = TestApp::spawn_with(db.clone(), |s| s.audience_sample = 640).await;
    let ws = app.ready_workspace("Acme").await;
    for batch in 0..2 {
        let contacts: Vec<Value> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                json!({"email": format!("reader{n}@gmail.com"), "attributes": {"n": n}})
            })
            .collect();
        app.post("/v1/contacts/batch", &ws.key, json!({"contacts": contacts}))
            .await
            .expect(200);
    }
    if let Some(url) = &db {
        // PostgreSQL sizes its sample from the table's statistics.
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
            .await
            .expect("connect");
        sqlx::query("ANALYZE contacts")
            .execute(&mut conn)
            .await
            .expect("analyze");
    }
    let preview = |body: Value| {
        let app = &app;
        let key = ws.key.clone();
        async move {
            app.post("/v1/audiences/preview", &key, body)
                .await
                .expect(200)
        }
    };
    let exact = preview(json!({"kind": "transactional"})).await;
    assert_eq!(exact["eligible"], 2000, "{exact}");
    assert!(exact.get("estimated_from").is_none(), "{exact}");

    let estimated = preview(json!({"kind": "transactional", "estimate": true})).await;
    let read = estimated["estimated_from"]
        .as_i64()
        .expect("an estimate says what it read");
    assert!((80..2000).contains(&read), "{estimated}");
    let about = estimated["eligible"].as_i64().expect("eligible");
    assert!((1300..=2700).contains(&about), "{estimated}");
    assert_eq!(
        estimated["sample"].as_array().map(Vec::len),
        Some(10),
        "{estimated}"
    );

    let filtered = preview(json!({
        "kind": "transactional", "estimate": true, "filter": "n less than 1000"
    }))
    .await;
    let half = filtered["eligible"].as_i64().expect("eligible");
    assert!((500..=1500).contains(&half), "{filtered}");

    // A message nobody may receive: the estimate of none is checked
    // exactly, so the blocker names the exact counts.
    let m = app
        .post(
            "/v1/messages",
            &ws.key,
            json!({
                "name": "Nobody", "kind": "marketing",
                "from": {"name": "Acme", "address": "news@acme-mail.com"},
                "subject": "Hello",
                "template": {"layout": "plain", "text": "News."},
            }),
        )
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id");
    let report = app
        .post(
            &format!("/v1/messages/{id}/preflight?estimate=true"),
            &ws.key,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(report["audience"]["eligible"], 0, "{report}");
    assert_eq!(report["audience"]["matched"], 2000, "{report}");
    assert!(report.get("audience_estimated_from").is_none(), "{report}");
    assert_eq!(
        report["blockers"][0]["code"], "no_eligible_recipients",
        "{report}"
    );
    let bad = app
        .post(
            &format!("/v1/messages/{id}/preflight?estimated=yes"),
            &ws.key,
            json!({}),
        )
        .await;
    assert!(
        bad.status.is_client_error(),
        "an unknown query parameter is refused: {}",
        bad.status
    );
}

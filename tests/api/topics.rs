//! Topics as objects and the preference centre (issue #19): a workspace
//! names and describes its topics; the unsubscribe page and the
//! preference centre show the names; a person changes each topic on the
//! preference centre, recorded in the ledger with the page's evidence.

use crate::hardening::{captured, link_in};
use crate::support::{hidden_field, opted_in, page_text, post_form, send_news, TestApp};
use serde_json::{json, Value};

crate::on_both!(
    topics_are_named_checked_and_kept_per_workspace,
    the_preference_centre_shows_names_and_records_each_change,
);

async fn topics_are_named_checked_and_kept_per_workspace(app: TestApp) {
    let ws = app.ready_workspace("Named").await;
    for (body, pointer) in [
        (
            json!({"key": "Product News", "name": "Product news"}),
            "/key",
        ),
        (json!({"key": "product_news", "name": "  "}), "/name"),
        (
            json!({"key": "product_news", "name": "Product\nnews"}),
            "/name",
        ),
        (
            json!({"key": "product_news", "name": "Product news", "description": "x".repeat(501)}),
            "/description",
        ),
    ] {
        let r = app
            .post("/v1/topics", &ws.key, body.clone())
            .await
            .expect(422);
        assert_eq!(r["errors"][0]["pointer"], pointer, "{body}: {r}");
    }
    let made = app
        .post(
            "/v1/topics",
            &ws.key,
            json!({"key": "product_news", "name": " Product news ", "description": "New features, once a month."}),
        )
        .await
        .expect(201);
    assert_eq!(made["name"], "Product news", "{made}");
    let again = app
        .post(
            "/v1/topics",
            &ws.key,
            json!({"key": "product_news", "name": "Other"}),
        )
        .await
        .expect(409);
    assert!(
        again.to_string().contains("PUT /v1/topics/product_news"),
        "{again}"
    );
    let viewer = app.new_key(&ws.key, "viewer").await;
    app.post(
        "/v1/topics",
        &viewer,
        json!({"key": "offers", "name": "Offers"}),
    )
    .await
    .expect(403);
    let renamed = app
        .send(
            reqwest::Method::PUT,
            "/v1/topics/product_news",
            Some(&ws.key),
            Some(json!({"name": "Product updates"})),
        )
        .await
        .expect(200);
    assert_eq!(
        (renamed["name"].as_str(), renamed["description"].as_str()),
        (Some("Product updates"), None)
    );
    app.send(
        reqwest::Method::PUT,
        "/v1/topics/nothing",
        Some(&ws.key),
        Some(json!({"name": "Nothing"})),
    )
    .await
    .expect(404);
    // Another workspace sees none of them and may use the same key.
    let other = app.ready_workspace("Other").await;
    assert_eq!(
        app.get("/v1/topics", &other.key).await.expect(200)["items"],
        json!([])
    );
    app.post(
        "/v1/topics",
        &other.key,
        json!({"key": "product_news", "name": "Theirs"}),
    )
    .await
    .expect(201);
    app.delete("/v1/topics/product_news", &other.key)
        .await
        .expect(204);
    app.delete("/v1/topics/product_news", &other.key)
        .await
        .expect(404);
    let mine = app.get("/v1/topics", &viewer).await.expect(200);
    assert_eq!(mine["items"][0]["name"], "Product updates", "{mine}");
    let audit = app
        .get("/v1/workspace/audit-log", &ws.key)
        .await
        .expect(200);
    assert!(audit.to_string().contains("topic.update"), "{audit}");
}

/// Loads the preference page and presses its button with `topics` ticked.
async fn save_choices(app: &TestApp, url: &str, topics: &[&str]) -> reqwest::Response {
    let page = page_text(&app.client, url).await;
    let mut body = format!(
        "nonce={}&expires={}",
        hidden_field(&page, "nonce"),
        hidden_field(&page, "expires")
    );
    // The topics the page showed, as the browser sends them back.
    let marker = "name=\"shown\" value=\"";
    for part in page.split(marker).skip(1) {
        body.push_str(&format!(
            "&shown={}",
            &part[..part.find('"').expect("quote")]
        ));
    }
    for t in topics {
        body.push_str(&format!("&topic={t}"));
    }
    post_form(&app.client, url, body).await
}

async fn opted_in_to(app: &TestApp, key: &str, contact: &str, topic: &str) {
    app.post(
        &format!("/v1/contacts/{contact}/consent"),
        key,
        json!({"action": "opt_in", "method": "form", "topic": topic,
               "evidence": {"ip": "203.0.113.9", "wording": "Send me offers"}}),
    )
    .await
    .expect(201);
}

async fn consent_events(app: &TestApp, key: &str, contact: &str) -> Vec<Value> {
    app.get(&format!("/v1/contacts/{contact}/consent"), key)
        .await
        .expect(200)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn the_preference_centre_shows_names_and_records_each_change(app: TestApp) {
    let ws = app.ready_workspace("Prefs").await;
    let ann = opted_in(&app, &ws, "ann@receiver-mail.net").await;
    app.post("/v1/topics", &ws.key, json!({"key": "marketing", "name": "Monthly newsletter", "description": "What is new, on the first Monday."}))
        .await
        .expect(201);
    app.post(
        "/v1/topics",
        &ws.key,
        json!({"key": "product_news", "name": "Product news <beta>"}),
    )
    .await
    .expect(201);
    let (id, _) = send_news(&app, &ws, "News").await;
    let mails = captured(&app, &ws.key, &id, 1).await;
    let unsubscribe = link_in(&mails["ann@receiver-mail.net"], &format!("{}/u/", app.base));
    let prefs = unsubscribe.replace("/u/", "/p/");

    // The unsubscribe page names topics and leads to the preference centre.
    let page = page_text(&app.client, &unsubscribe).await;
    assert!(
        page.contains("Monthly newsletter") && page.contains("Product news &lt;beta&gt;"),
        "{page}"
    );
    assert!(page.contains("/p/"), "{page}");

    let page = page_text(&app.client, &prefs).await;
    assert!(page.contains("value=\"marketing\" checked"), "{page}");
    assert!(
        page.contains("value=\"product_news\">"),
        "not ticked: {page}"
    );
    assert!(page.contains("What is new, on the first Monday."), "{page}");
    assert!(!page.contains("<beta>"), "escaped: {page}");
    let before = consent_events(&app, &ws.key, &ann).await.len();

    // A bare or stale POST changes nothing.
    let r = post_form(&app.client, &prefs, "topic=product_news".to_owned()).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(consent_events(&app, &ws.key, &ann).await.len(), before);

    // Product news ticked, the newsletter unticked: two events.
    let r = save_choices(&app, &prefs, &["product_news", "not_a_topic"]).await;
    assert!(r.status().is_success(), "{}", r.status());
    let saved = r.text().await.expect("text");
    assert!(saved.contains("Product news &lt;beta&gt;"), "{saved}");
    let events = consent_events(&app, &ws.key, &ann).await;
    let new: Vec<&Value> = events[before..].iter().collect();
    assert_eq!(new.len(), 2, "{new:?}");
    let by_topic = |t: &str| {
        new.iter()
            .find(|e| e["topic"] == t)
            .unwrap_or_else(|| panic!("an event for {t}: {new:?}"))
    };
    assert_eq!(by_topic("marketing")["action"], "opt_out");
    let opt_in = by_topic("product_news");
    assert_eq!(
        (opt_in["action"].as_str(), opt_in["method"].as_str()),
        (Some("opt_in"), Some("preference_centre")),
        "{opt_in}"
    );
    assert!(
        opt_in["evidence"]["wording"]
            .as_str()
            .is_some_and(|w| w.contains("ticked")),
        "{opt_in}"
    );
    assert_eq!(opt_in["evidence"]["message_id"], id.as_str(), "{opt_in}");
    assert!(opt_in["evidence"]["ip"].is_string(), "{opt_in}");
    assert!(
        !events.iter().any(|e| e["topic"] == "not_a_topic"),
        "unknown keys are ignored"
    );

    // A topic named after the page was shown is left alone by its form.
    let stale = page_text(&app.client, &prefs).await;
    app.post(
        "/v1/topics",
        &ws.key,
        json!({"key": "offers", "name": "Offers"}),
    )
    .await
    .expect(201);
    opted_in_to(&app, &ws.key, &ann, "offers").await;
    let mut body = format!(
        "nonce={}&expires={}",
        hidden_field(&stale, "nonce"),
        hidden_field(&stale, "expires")
    );
    body.push_str("&shown=marketing&shown=product_news&topic=product_news");
    post_form(&app.client, &prefs, body).await;
    let offers: Vec<Value> = consent_events(&app, &ws.key, &ann)
        .await
        .into_iter()
        .filter(|e| e["topic"] == "offers")
        .collect();
    assert_eq!(offers.len(), 1, "only the opt-in, no opt-out: {offers:?}");
    let before = before + 1;

    // The same choices again record nothing; the page shows them.
    save_choices(&app, &prefs, &["product_news", "offers"]).await;
    assert_eq!(consent_events(&app, &ws.key, &ann).await.len(), before + 2);
    let page = page_text(&app.client, &prefs).await;
    assert!(
        page.contains("value=\"product_news\" checked") && page.contains("value=\"marketing\">"),
        "{page}"
    );
    // The address is not suppressed: the person chose, they did not leave.
    let sup = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert_eq!(sup["items"], json!([]), "{sup}");
    // After "unsubscribe from everything" the centre offers no choices
    // that could not bring mail.
    let r = post_form(
        &app.client,
        &unsubscribe,
        "List-Unsubscribe=One-Click".to_owned(),
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    let page = page_text(&app.client, &prefs).await;
    assert!(
        page.contains("gets no emails") && !page.contains("<form"),
        "{page}"
    );
    // A forged token is a bare 404.
    let forged = format!("{}/p/not-a-token", app.base);
    assert_eq!(
        app.client
            .get(&forged)
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        404
    );
}

//! One workspace's key never reaches another workspace's data: every such
//! request is a 404 that reveals nothing, and changes nothing.

use crate::on_both;
use crate::support::TestApp;
use reqwest::Method;
use serde_json::json;

on_both!(another_workspaces_ids_are_not_found);

async fn another_workspaces_ids_are_not_found(app: TestApp) {
    let a = app.ready_workspace("Acme").await;
    let b = app.ready_workspace("Globex").await;
    let secret = app
        .contact(&a.key, json!({"email": "ceo@acme.example", "name": "Secret Person", "attributes": {"salary": 1, "a_only": true}}))
        .await;
    app.post(
        &format!("/v1/contacts/{secret}/consent"),
        &a.key,
        json!({"action": "opt_in", "method": "form", "evidence": {"wording": "Yes"}}),
    )
    .await
    .expect(201);
    let a_keys = app.get("/v1/api-keys", &a.key).await.expect(200);
    let a_key_id = a_keys["items"][0]["id"].as_str().expect("id").to_owned();

    let consent = json!({"action": "opt_out", "method": "api"});
    for (method, path, body) in [
        (Method::GET, format!("/v1/contacts/{secret}"), None),
        (Method::DELETE, format!("/v1/contacts/{secret}"), None),
        (Method::GET, format!("/v1/contacts/{secret}/consent"), None),
        (
            Method::POST,
            format!("/v1/contacts/{secret}/consent"),
            Some(consent),
        ),
        (Method::GET, format!("/v1/contacts/{secret}/export"), None),
        (Method::DELETE, format!("/v1/api-keys/{a_key_id}"), None),
    ] {
        let resp = app.send(method.clone(), &path, Some(&b.key), body).await;
        assert_eq!(resp.status.as_u16(), 404, "{method} {path}: {}", resp.body);
        let text = resp.body.to_string();
        assert!(
            !text.contains("Secret Person") && !text.contains("ceo@acme"),
            "nothing leaks: {text}"
        );
    }
    // Lists and lookups by email see only the caller's own contacts.
    let list = app.get("/v1/contacts", &b.key).await.expect(200);
    assert_eq!(list["items"].as_array().expect("items").len(), 0);
    let by_email = app
        .get("/v1/contacts?email=ceo@acme.example", &b.key)
        .await
        .expect(200);
    assert_eq!(by_email["items"].as_array().expect("items").len(), 0);
    // Upserting the same address in B makes B's own contact, not A's.
    let mine = app
        .post("/v1/contacts", &b.key, json!({"email": "ceo@acme.example"}))
        .await
        .expect(201);
    assert_ne!(mine["id"], secret.as_str());
    assert_eq!(
        mine["consent"],
        json!({}),
        "A's consent does not show through"
    );
    // B's attribute schema is its own: A typed salary as a number.
    app.post(
        "/v1/contacts",
        &b.key,
        json!({"email": "x@globex.example", "attributes": {"salary": "high"}}),
    )
    .await
    .expect(201);
    // A's data is intact.
    let still = app
        .get(&format!("/v1/contacts/{secret}"), &a.key)
        .await
        .expect(200);
    assert_eq!(still["consent"]["marketing"]["status"], "opted_in");
    app.get("/v1/workspace", &a.key).await.expect(200);
    let b_log = app.get("/v1/workspace/audit-log", &b.key).await.expect(200);
    assert!(!b_log.to_string().contains(&a.id));
}

on_both!(every_route_with_an_id_refuses_another_workspaces_ids);

/// Walks every route of `/openapi.json` that takes an id, a domain or an
/// address, with workspace A's values and workspace B's key: each answers
/// 403 or 404 (or 422 for a body it would refuse anyway), shows nothing of
/// A's, and A's data are unchanged afterwards. A new route with a new kind
/// of parameter fails the test until it is added here.
async fn every_route_with_an_id_refuses_another_workspaces_ids(app: TestApp) {
    let a = app.ready_workspace("Acme").await;
    let b = app.ready_workspace("Globex").await;
    let contact = app
        .contact(
            &a.key,
            json!({"email": "ceo@acme-mail.com", "name": "Secret Person"}),
        )
        .await;
    app.post(
        &format!("/v1/contacts/{contact}/consent"),
        &a.key,
        json!({"action": "opt_in", "method": "form", "evidence": {"wording": "Yes"}}),
    )
    .await
    .expect(201);
    let template = app
        .post(
            "/v1/templates",
            &a.key,
            json!({"name": "t", "template": {"layout": "plain", "text": "Hi"}}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (message, _) = crate::support::send_news(&app, &a, "news").await;
    let outbox = crate::hardening::captured(&app, &a.key, &message, 1).await;
    assert_eq!(outbox.len(), 1);
    let outbox_id = app
        .get(&format!("/v1/outbox?message_id={message}"), &a.key)
        .await
        .expect(200)["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let key_id = app.get("/v1/api-keys", &a.key).await.expect(200)["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let webhook = app
        .post(
            "/v1/webhooks",
            &a.key,
            json!({"url": "https://hooks.acme-mail.com/x", "events": ["state_change"]}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.post(
        "/v1/sender-domains",
        &a.key,
        json!({"domain": "acme-mail.com"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/suppressions",
        &a.key,
        json!({"email": "gone@acme-mail.com", "reason": "bounced"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/workspace/team-addresses",
        &a.key,
        json!({"email": "qa@acme-mail.com"}),
    )
    .await
    .expect(201);
    let test_mail = {
        let list = app.get("/v1/test-mails", &a.key).await.expect(200);
        list["items"][0]["id"]
            .as_str()
            .expect("a test mail")
            .to_owned()
    };
    let member = app
        .post(
            "/v1/members",
            &a.key,
            json!({"email": "pat@acme-mail.com", "role": "sender"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .expect("member id")
        .to_owned();
    app.post(
        "/v1/attributes",
        &a.key,
        json!({"name": "tier", "type": "string"}),
    )
    .await;
    let audience = app
        .post(
            "/v1/audiences",
            &a.key,
            json!({"name": "Gold", "filter": "tier is \"gold\""}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .expect("audience id")
        .to_owned();
    let form = app
        .post(
            "/v1/forms",
            &a.key,
            json!({"topic": "marketing", "wording": "Send me the monthly news, please."}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .expect("form id")
        .to_owned();
    app.post(
        "/v1/topics",
        &a.key,
        json!({"key": "a_news", "name": "A's news"}),
    )
    .await
    .expect(201);
    let import = app
        .import(&a.key, "source=product_users", "email\nann@acme-mail.com\n")
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let value_for = |path: &str, param: &str| -> String {
        match (param, path) {
            ("id", p) if p.starts_with("/v1/contacts/") => contact.clone(),
            ("id", p) if p.starts_with("/v1/templates/") => template.clone(),
            ("id", p) if p.starts_with("/v1/messages/") => message.clone(),
            ("id", p) if p.starts_with("/v1/outbox/") => outbox_id.clone(),
            ("id", p) if p.starts_with("/v1/api-keys/") => key_id.clone(),
            ("id", p) if p.starts_with("/v1/webhooks/") => webhook.clone(),
            ("id", p)
                if p.starts_with("/v1/imports/") || p.starts_with("/v1/operator/imports/") =>
            {
                import.clone()
            }
            ("id", p)
                if p.starts_with("/v1/workspaces/")
                    || p.starts_with("/v1/operator/workspaces/") =>
            {
                a.id.clone()
            }
            ("id", p) if p.starts_with("/v1/operator/") => message.clone(),
            ("id", p) if p.starts_with("/v1/test-mails/") => test_mail.clone(),
            ("id", p) if p.starts_with("/v1/members/") => member.clone(),
            ("id", p) if p.starts_with("/v1/audiences/") => audience.clone(),
            ("id", p) if p.starts_with("/v1/forms/") => form.clone(),
            ("key", "/v1/topics/{key}") => "a_news".to_owned(),
            ("email", _) => "qa@acme-mail.com".to_owned(),
            ("domain", _) => "acme-mail.com".to_owned(),
            ("name", "/v1/attributes/{name}") => "a_only".to_owned(),
            ("address", _) => "gone@acme-mail.com".to_owned(),
            other => panic!("no value of workspace A for {other:?}: add one to this test"),
        }
    };
    let doc = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    let mut walked = 0;
    for (template_path, item) in doc["paths"].as_object().expect("paths") {
        if !template_path.contains('{') {
            continue;
        }
        for (method, _) in item.as_object().expect("methods") {
            let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            let mut path = template_path.clone();
            while let Some(start) = path.find('{') {
                let end = path[start..].find('}').expect("closing brace") + start;
                let param = path[start + 1..end].to_owned();
                path.replace_range(start..=end, &value_for(template_path, &param));
            }
            let body =
                matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
            let resp = app.send(method.clone(), &path, Some(&b.key), body).await;
            let status = resp.status.as_u16();
            assert!(
                matches!(status, 403 | 404 | 422),
                "{method} {path} with another workspace's key answered {status}: {}",
                resp.body
            );
            let text = resp.body.to_string();
            // The id the caller gave may be echoed; nothing else of A's.
            assert!(
                !text.contains("Secret Person") && !text.contains("ceo@acme-mail.com"),
                "{method} {path} leaked: {text}"
            );
            walked += 1;
        }
    }
    assert!(walked >= 25, "only {walked} routes were walked");
    // A's things are all still there, unchanged.
    for path in [
        format!("/v1/contacts/{contact}"),
        format!("/v1/templates/{template}"),
        format!("/v1/messages/{message}"),
        format!("/v1/webhooks/{webhook}/deliveries"),
        "/v1/sender-domains/acme-mail.com".to_owned(),
        format!("/v1/imports/{import}"),
    ] {
        app.get(&path, &a.key).await.expect(200);
    }
    let keys = app.get("/v1/api-keys", &a.key).await.expect(200);
    assert!(keys.to_string().contains(&key_id));
    let sup = app.get("/v1/suppressions", &a.key).await.expect(200);
    assert!(sup.to_string().contains("gone@acme-mail.com"));
}

//! API keys, roles, and the line between operator and workspace credentials.

use crate::on_both;
use crate::support::TestApp;
use reqwest::Method;
use serde_json::json;

on_both!(
    a_key_is_shown_once_and_listed_without_its_secret,
    a_revoked_key_is_refused_with_401,
    the_last_admin_key_cannot_be_revoked,
    roles_are_checked_on_every_endpoint,
    operator_and_workspace_credentials_do_not_cross,
    missing_or_malformed_credentials_are_401,
);

async fn a_key_is_shown_once_and_listed_without_its_secret(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let created = app
        .post(
            "/v1/api-keys",
            &ws.key,
            json!({"name": "CRM sync", "role": "sender"}),
        )
        .await
        .expect(201);
    let secret = created["api_key"].as_str().expect("key").to_owned();
    assert_eq!(created["role"], "sender");
    assert_eq!(created["name"], "CRM sync");
    let list = app.get("/v1/api-keys", &ws.key).await.expect(200);
    let text = list.to_string();
    assert!(
        !text.contains(&secret[secret.len() - 64..]),
        "the secret never appears again"
    );
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert!(items
        .iter()
        .any(|k| k["name"] == "CRM sync" && k["role"] == "sender" && k["revoked_at"].is_null()));
    // The new key works, and its use is recorded.
    app.get("/v1/workspace", &secret).await.expect(200);
    // Use is recorded beside the request, so give it a moment.
    let mut recorded = false;
    for _ in 0..100 {
        let list = app.get("/v1/api-keys", &ws.key).await.expect(200);
        let used = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|k| k["name"] == "CRM sync")
            .cloned();
        if used.expect("listed")["last_used_at"].is_string() {
            recorded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(recorded, "the key's use was recorded");

    let bad_role = app
        .post(
            "/v1/api-keys",
            &ws.key,
            json!({"name": "x", "role": "owner"}),
        )
        .await
        .expect(422);
    assert!(bad_role["detail"]
        .as_str()
        .expect("detail")
        .contains("admin, sender, viewer"));
}

async fn a_revoked_key_is_refused_with_401(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let created = app
        .post(
            "/v1/api-keys",
            &ws.key,
            json!({"name": "old", "role": "viewer"}),
        )
        .await
        .expect(201);
    let key = created["api_key"].as_str().expect("key");
    app.get("/v1/workspace", key).await.expect(200);
    let revoked = app
        .delete(
            &format!("/v1/api-keys/{}", created["id"].as_str().expect("id")),
            &ws.key,
        )
        .await
        .expect(200);
    assert!(revoked["revoked_at"].is_string());
    let refused = app.get("/v1/workspace", key).await;
    assert_eq!(refused.status.as_u16(), 401);
    assert_eq!(refused.content_type, "application/problem+json");
    assert!(refused.body["detail"]
        .as_str()
        .expect("detail")
        .contains("revoked"));
    let again = app
        .delete(
            &format!("/v1/api-keys/{}", created["id"].as_str().expect("id")),
            &ws.key,
        )
        .await;
    assert_eq!(again.status.as_u16(), 409);
}

async fn the_last_admin_key_cannot_be_revoked(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let keys = app.get("/v1/api-keys", &ws.key).await.expect(200);
    let first_id = keys["items"][0]["id"].as_str().expect("id").to_owned();
    let refused = app
        .delete(&format!("/v1/api-keys/{first_id}"), &ws.key)
        .await
        .expect(409);
    assert!(refused["detail"]
        .as_str()
        .expect("detail")
        .contains("last admin key"));
    let second = app.new_key(&ws.key, "admin").await;
    app.delete(&format!("/v1/api-keys/{first_id}"), &second)
        .await
        .expect(200);
    assert_eq!(app.get("/v1/workspace", &ws.key).await.status.as_u16(), 401);
}

async fn roles_are_checked_on_every_endpoint(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    let sender = app.new_key(&ws.key, "sender").await;
    let viewer = app.new_key(&ws.key, "viewer").await;
    let contact = app
        .contact(&ws.key, json!({"email": "ann@example.org"}))
        .await;

    // Viewers read, and write nothing.
    app.get("/v1/contacts", &viewer).await.expect(200);
    app.get(&format!("/v1/contacts/{contact}"), &viewer)
        .await
        .expect(200);
    app.get(&format!("/v1/contacts/{contact}/consent"), &viewer)
        .await
        .expect(200);
    app.get("/v1/workspace/sending-status", &viewer)
        .await
        .expect(200);
    let denied = app
        .post("/v1/contacts", &viewer, json!({"email": "bob@example.org"}))
        .await
        .expect(403);
    assert!(denied["detail"]
        .as_str()
        .expect("detail")
        .contains("sender role or higher"));
    let consent =
        json!({"action": "opt_in", "method": "form", "evidence": {"wording": "Yes please"}});
    app.post(
        &format!("/v1/contacts/{contact}/consent"),
        &viewer,
        consent.clone(),
    )
    .await
    .expect(403);
    app.post(
        "/v1/contacts/batch",
        &viewer,
        json!({"contacts": [{"email": "c@example.org"}]}),
    )
    .await
    .expect(403);

    // Senders write contacts and consent, and manage nothing.
    app.post("/v1/contacts", &sender, json!({"email": "bob@example.org"}))
        .await
        .expect(201);
    app.post(&format!("/v1/contacts/{contact}/consent"), &sender, consent)
        .await
        .expect(201);
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/api-keys".to_owned(),
            Some(json!({"name": "x", "role": "viewer"})),
        ),
        (Method::GET, "/v1/api-keys".to_owned(), None),
        (
            Method::PATCH,
            "/v1/workspace".to_owned(),
            Some(json!({"physical_address": "2 Other Street, Springfield"})),
        ),
        (
            Method::POST,
            "/v1/guidelines/accept".to_owned(),
            Some(json!({"version": 1, "accepted_by": "Sam"})),
        ),
        (Method::DELETE, format!("/v1/contacts/{contact}"), None),
        (Method::GET, format!("/v1/contacts/{contact}/export"), None),
    ] {
        let resp = app
            .send(method.clone(), &path, Some(&sender), body.clone())
            .await;
        assert_eq!(
            resp.status.as_u16(),
            403,
            "sender on {method} {path}: {}",
            resp.body
        );
        let resp = app.send(method.clone(), &path, Some(&viewer), body).await;
        assert_eq!(resp.status.as_u16(), 403, "viewer on {method} {path}");
    }
    // The role is checked before the body is read: a viewer learns nothing
    // about what a valid request would look like.
    let resp = app
        .send(
            Method::POST,
            "/v1/api-keys",
            Some(&viewer),
            Some(json!({"nonsense": 1})),
        )
        .await;
    assert_eq!(resp.status.as_u16(), 403, "{}", resp.body);
    // The contact survived the refused erasure.
    app.get(&format!("/v1/contacts/{contact}"), &ws.key)
        .await
        .expect(200);
}

async fn operator_and_workspace_credentials_do_not_cross(app: TestApp) {
    let ws = app.workspace("Acme").await;
    for (method, path) in [
        (Method::POST, "/v1/workspaces"),
        (Method::GET, "/v1/workspaces"),
        (Method::POST, "/v1/operator/guidelines"),
    ] {
        let resp = app
            .send(
                method.clone(),
                path,
                Some(&ws.key),
                Some(json!({"name": "Evil", "text": "x".repeat(40)})),
            )
            .await;
        assert_eq!(
            resp.status.as_u16(),
            403,
            "{method} {path} with a workspace key"
        );
        assert!(resp.body["detail"]
            .as_str()
            .expect("detail")
            .contains("operator"));
    }
    let op_path = format!("/v1/operator/workspaces/{}/audit-log", ws.id);
    assert_eq!(app.get(&op_path, &ws.key).await.status.as_u16(), 403);
    let resp = app.get("/v1/workspace", &app.operator).await;
    assert_eq!(
        resp.status.as_u16(),
        403,
        "the operator token is not a workspace key"
    );
    // Only one workspace exists: the refused creation wrote nothing.
    let list = app.get("/v1/workspaces", &app.operator).await.expect(200);
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
}

async fn missing_or_malformed_credentials_are_401(app: TestApp) {
    let none = app.send(Method::GET, "/v1/workspace", None, None).await;
    assert_eq!(none.status.as_u16(), 401);
    for token in [
        "nonsense",
        "sw_key_01ABC_deadbeef",
        &format!("{}x", app.operator),
    ] {
        let resp = app.get("/v1/workspace", token).await;
        assert_eq!(resp.status.as_u16(), 401, "{token}");
        assert_eq!(resp.content_type, "application/problem+json");
    }
    let ws = app.workspace("Acme").await;
    // Right id, wrong secret.
    let forged = format!("{}{}", &ws.key[..ws.key.len() - 64], "0".repeat(64));
    assert_eq!(app.get("/v1/workspace", &forged).await.status.as_u16(), 401);
}

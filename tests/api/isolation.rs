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
        .contact(&a.key, json!({"email": "ceo@acme.example", "name": "Secret Person", "attributes": {"salary": 1}}))
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

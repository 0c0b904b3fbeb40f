//! Export of everything held on a contact, and erasure that keeps the
//! address suppressed and the ledger verifiable.

use crate::on_both;
use crate::support::TestApp;
use serde_json::json;

on_both!(
    export_holds_everything_on_the_contact,
    erasure_removes_personal_data_and_keeps_the_address_suppressed,
);

async fn export_holds_everything_on_the_contact(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let id = app
        .contact(&ws.key, json!({"email": "ann@example.org", "name": "Ann", "external_id": "42", "attributes": {"plan": "pro"}}))
        .await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form", "evidence": {"ip": "192.0.2.1", "wording": "Yes"}}),
    )
    .await
    .expect(201);
    let export = app
        .get(&format!("/v1/contacts/{id}/export"), &ws.key)
        .await
        .expect(200);
    assert_eq!(export["contact"]["email"], "ann@example.org");
    assert_eq!(export["contact"]["name"], "Ann");
    assert_eq!(export["contact"]["external_id"], "42");
    assert_eq!(export["contact"]["attributes"]["plan"], "pro");
    assert_eq!(export["attribute_types"]["plan"], "string");
    assert_eq!(export["consent_events"][0]["evidence"]["ip"], "192.0.2.1");
    assert_eq!(
        export["contact"]["consent"]["marketing"]["status"],
        "opted_in"
    );
    assert!(export["exported_at"].is_string());
}

async fn erasure_removes_personal_data_and_keeps_the_address_suppressed(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let id = app
        .contact(&ws.key, json!({"email": "Ann@Example.org", "name": "Ann"}))
        .await;
    let keep = app
        .contact(&ws.key, json!({"email": "bob@example.org"}))
        .await;
    for (c, ip) in [(&id, "192.0.2.1"), (&keep, "192.0.2.2"), (&id, "192.0.2.3")] {
        app.post(
            &format!("/v1/contacts/{c}/consent"),
            &ws.key,
            json!({"action": "opt_in", "method": "form", "evidence": {"ip": ip, "user_agent": "UA"}}),
        )
        .await
        .expect(201);
    }
    let erased = app.delete(&format!("/v1/contacts/{id}"), &ws.key).await;
    assert_eq!(erased.status.as_u16(), 204);
    app.get(&format!("/v1/contacts/{id}"), &ws.key)
        .await
        .expect(404);
    app.get(&format!("/v1/contacts/{id}/export"), &ws.key)
        .await
        .expect(404);
    app.get(&format!("/v1/contacts/{id}/consent"), &ws.key)
        .await
        .expect(404);
    app.delete(&format!("/v1/contacts/{id}"), &ws.key)
        .await
        .expect(404);

    // No personal data of Ann's is left in the database.
    let mut db = app.raw_db().await;
    let rows: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT evidence, evidence_salt FROM consent_events WHERE workspace_id = $1 AND contact_id = $2",
    )
    .bind(ws.id.clone())
    .bind(id.clone())
    .fetch_all(&mut db)
    .await
    .expect("query");
    assert_eq!(rows.len(), 2, "the events stay, so the chain stays whole");
    assert!(
        rows.iter().all(|(e, s)| e.is_none() && s.is_none()),
        "their evidence is gone"
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM contacts WHERE workspace_id = $1 AND email_key = 'ann@example.org'",
    )
    .bind(ws.id.clone())
    .fetch_one(&mut db)
    .await
    .expect("count");
    assert_eq!(left, 0);

    // The ledger still verifies, and says how many events were erased.
    let verify = app.get("/v1/consent/verify", &ws.key).await.expect(200);
    assert_eq!(verify["valid"], true, "{verify}");
    assert_eq!(verify["events"], 3);
    assert_eq!(verify["erased_events"], 2);
    let bob = app
        .get(&format!("/v1/contacts/{keep}/consent"), &ws.key)
        .await
        .expect(200);
    assert_eq!(bob["verification"]["valid"], true);
    assert_eq!(bob["events"][0]["evidence"]["ip"], "192.0.2.2");

    // The same address added again, in another case, comes back suppressed.
    let again = app
        .post("/v1/contacts", &ws.key, json!({"email": "ann@EXAMPLE.org"}))
        .await
        .expect(201);
    assert_ne!(again["id"], id.as_str());
    assert_eq!(again["suppression"]["reason"], "erased");
    let batch = app
        .post(
            "/v1/contacts/batch",
            &ws.key,
            json!({"contacts": [{"email": "ann@example.org", "name": "Imported"}]}),
        )
        .await
        .expect(200);
    let again_id = batch["results"][0]["id"].as_str().expect("id");
    let fetched = app
        .get(&format!("/v1/contacts/{again_id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(fetched["suppression"]["reason"], "erased");
    // Another workspace's Ann is not affected.
    let other = app.workspace("Globex").await;
    let theirs = app
        .post(
            "/v1/contacts",
            &other.key,
            json!({"email": "ann@example.org"}),
        )
        .await
        .expect(201);
    assert_eq!(theirs["suppression"], serde_json::Value::Null);
    // The erasure is in the audit log, without the address.
    let log = app
        .get("/v1/workspace/audit-log", &ws.key)
        .await
        .expect(200);
    let text = log.to_string();
    assert!(text.contains("contact.erased"));
    assert!(!text.to_lowercase().contains("ann@example.org"));
}

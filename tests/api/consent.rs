//! The consent ledger: recording, the proof bundle, and tamper detection.

use crate::on_both;
use crate::support::TestApp;
use serde_json::{json, Value};

on_both!(
    opt_in_and_out_are_recorded_with_evidence_and_derive_current_consent,
    sendwell_only_methods_and_empty_opt_ins_are_refused,
    a_changed_event_is_detected_by_proof_and_verify,
    a_deleted_event_is_detected,
    consent_verify_cli_names_the_first_broken_link,
);

fn opt_in(wording: &str) -> Value {
    json!({
        "action": "opt_in",
        "method": "form",
        "evidence": {
            "ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0",
            "source_url": "https://acme.example/signup",
            "wording": wording,
        }
    })
}

async fn opt_in_and_out_are_recorded_with_evidence_and_derive_current_consent(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let id = app
        .contact(&ws.key, json!({"email": "ann@example.org"}))
        .await;
    let path = format!("/v1/contacts/{id}/consent");
    let first = app
        .post(&path, &ws.key, opt_in("Send me the monthly newsletter"))
        .await
        .expect(201);
    assert_eq!(first["event"]["seq"], 1);
    assert_eq!(first["event"]["method"], "form");
    assert_eq!(first["event"]["topic"], "marketing");
    assert_eq!(first["event"]["prev_hash"], "0".repeat(64));
    assert_eq!(
        first["event"]["evidence"]["wording"],
        "Send me the monthly newsletter"
    );
    assert_eq!(first["current"]["marketing"]["status"], "opted_in");
    let news = app
        .post(
            &path,
            &ws.key,
            json!({"action": "double_opt_in_confirmed", "topic": "product-news", "method": "api",
                                     "evidence": {"message_id": "<confirm-1@acme.example>"}}),
        )
        .await
        .expect(201);
    assert_eq!(
        news["event"]["prev_hash"], first["event"]["hash"],
        "each event carries the one before"
    );
    let out = app
        .post(
            &path,
            &ws.key,
            json!({"action": "opt_out", "method": "api"}),
        )
        .await
        .expect(201);
    assert_eq!(out["current"]["marketing"]["status"], "opted_out");
    assert_eq!(out["current"]["product-news"]["status"], "opted_in");
    assert_eq!(out["current"]["product-news"]["double_opt_in"], true);

    let contact = app
        .get(&format!("/v1/contacts/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(contact["consent"]["marketing"]["status"], "opted_out");
    assert_eq!(contact["consent"]["product-news"]["double_opt_in"], true);

    let proof = app.get(&path, &ws.key).await.expect(200);
    assert_eq!(proof["verification"]["valid"], true);
    assert_eq!(proof["verification"]["checked_events"], 3);
    let events = proof["events"].as_array().expect("events");
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["evidence"]["ip"], "203.0.113.9");
    assert_eq!(
        events[0]["evidence"]["source_url"],
        "https://acme.example/signup"
    );
    assert!(events[0]["actor"]
        .as_str()
        .expect("actor")
        .starts_with("key:key_"));
    assert_eq!(proof["current"]["marketing"]["status"], "opted_out");

    let verify = app.get("/v1/consent/verify", &ws.key).await.expect(200);
    assert_eq!(verify["valid"], true);
    assert_eq!(verify["events"], 3);
}

async fn sendwell_only_methods_and_empty_opt_ins_are_refused(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let id = app
        .contact(&ws.key, json!({"email": "ann@example.org"}))
        .await;
    let path = format!("/v1/contacts/{id}/consent");
    for method in [
        "one_click",
        "complaint",
        "opt_in_link",
        "unsubscribe_link",
        "import",
        "operator",
    ] {
        let p = app
            .post(
                &path,
                &ws.key,
                json!({"action": "opt_in", "method": method, "evidence": {"wording": "x"}}),
            )
            .await
            .expect(422);
        assert!(
            p["detail"]
                .as_str()
                .expect("detail")
                .contains("recorded by sendwell itself"),
            "{method}"
        );
    }
    let p = app
        .post(
            &path,
            &ws.key,
            json!({"action": "opt_in", "method": "form"}),
        )
        .await
        .expect(422);
    assert!(p["detail"].as_str().expect("detail").contains("evidence"));
    let p = app
        .post(&path, &ws.key, json!({"action": "maybe", "method": "form"}))
        .await
        .expect(422);
    assert!(p["detail"]
        .as_str()
        .expect("detail")
        .contains("opt_in, opt_out, double_opt_in_confirmed"));
    let p = app
        .post(
            &path,
            &ws.key,
            json!({"action": "opt_in", "method": "form", "evidence": {"ip_address": "1.2.3.4"}}),
        )
        .await
        .expect(422);
    assert!(
        p["detail"].as_str().expect("detail").contains("ip_address"),
        "unknown evidence is refused, not dropped"
    );
    app.post(
        &path,
        &ws.key,
        json!({"action": "opt_in", "method": "form", "evidence": {"ip": "not-an-ip"}}),
    )
    .await
    .expect(422);
    app.post(&path, &ws.key, json!({"action": "opt_in", "method": "form", "topic": "Bad Topic", "evidence": {"wording": "x"}}))
        .await
        .expect(422);
    let proof = app.get(&path, &ws.key).await.expect(200);
    assert_eq!(
        proof["events"].as_array().expect("events").len(),
        0,
        "nothing was recorded"
    );
}

async fn record_three(app: &TestApp) -> (crate::support::Workspace, String, String) {
    let ws = app.workspace("Acme").await;
    let ann = app
        .contact(&ws.key, json!({"email": "ann@example.org"}))
        .await;
    let bob = app
        .contact(&ws.key, json!({"email": "bob@example.org"}))
        .await;
    app.post(
        &format!("/v1/contacts/{ann}/consent"),
        &ws.key,
        opt_in("News, please"),
    )
    .await
    .expect(201);
    app.post(
        &format!("/v1/contacts/{bob}/consent"),
        &ws.key,
        opt_in("News, please"),
    )
    .await
    .expect(201);
    app.post(
        &format!("/v1/contacts/{ann}/consent"),
        &ws.key,
        json!({"action": "opt_out", "method": "api"}),
    )
    .await
    .expect(201);
    (ws, ann, bob)
}

async fn a_changed_event_is_detected_by_proof_and_verify(app: TestApp) {
    let (ws, ann, bob) = record_three(&app).await;
    // Someone with database access turns Ann's opt-out into an opt-in.
    let mut db = app.raw_db().await;
    let changed = sqlx::query(
        "UPDATE consent_events SET action = 'opt_in' WHERE seq = 3 AND workspace_id = $1",
    )
    .bind(ws.id.clone())
    .execute(&mut db)
    .await
    .expect("tamper");
    assert_eq!(changed.rows_affected(), 1);
    let proof = app
        .get(&format!("/v1/contacts/{ann}/consent"), &ws.key)
        .await
        .expect(200);
    assert_eq!(proof["verification"]["valid"], false);
    assert_eq!(proof["verification"]["problems"][0]["seq"], 3);
    assert!(proof["verification"]["problems"][0]["problem"]
        .as_str()
        .expect("p")
        .contains("changed"));
    let bob_proof = app
        .get(&format!("/v1/contacts/{bob}/consent"), &ws.key)
        .await
        .expect(200);
    assert_eq!(
        bob_proof["verification"]["valid"], true,
        "Bob's own events are intact"
    );
    let verify = app.get("/v1/consent/verify", &ws.key).await.expect(200);
    assert_eq!(verify["valid"], false);
    assert_eq!(verify["first_broken"]["seq"], 3);

    // Changing evidence is caught too.
    sqlx::query("UPDATE consent_events SET action = 'opt_out' WHERE seq = 3 AND workspace_id = $1")
        .bind(ws.id.clone())
        .execute(&mut db)
        .await
        .expect("restore");
    assert_eq!(
        app.get("/v1/consent/verify", &ws.key).await.expect(200)["valid"],
        true
    );
    sqlx::query("UPDATE consent_events SET evidence = REPLACE(evidence, '203.0.113.9', '198.51.100.1') WHERE seq = 2 AND workspace_id = $1")
        .bind(ws.id.clone())
        .execute(&mut db)
        .await
        .expect("tamper evidence");
    let verify = app.get("/v1/consent/verify", &ws.key).await.expect(200);
    assert_eq!(verify["first_broken"]["seq"], 2);
    assert!(verify["first_broken"]["problem"]
        .as_str()
        .expect("p")
        .contains("evidence"));
}

async fn a_deleted_event_is_detected(app: TestApp) {
    let (ws, ann, _) = record_three(&app).await;
    let mut db = app.raw_db().await;
    sqlx::query("DELETE FROM consent_events WHERE seq = 2 AND workspace_id = $1")
        .bind(ws.id.clone())
        .execute(&mut db)
        .await
        .expect("delete");
    let verify = app.get("/v1/consent/verify", &ws.key).await.expect(200);
    assert_eq!(verify["valid"], false);
    assert_eq!(verify["first_broken"]["seq"], 2);
    assert!(verify["first_broken"]["problem"]
        .as_str()
        .expect("p")
        .contains("missing"));
    let proof = app
        .get(&format!("/v1/contacts/{ann}/consent"), &ws.key)
        .await
        .expect(200);
    assert_eq!(
        proof["verification"]["valid"], false,
        "Ann's later event no longer links to its predecessor"
    );
    // Deleting the newest event is caught through the ledger head.
    let (ws2, _, _) = record_three(&app).await;
    sqlx::query("DELETE FROM consent_events WHERE seq = 3 AND workspace_id = $1")
        .bind(ws2.id.clone())
        .execute(&mut db)
        .await
        .expect("delete last");
    let verify = app.get("/v1/consent/verify", &ws2.key).await.expect(200);
    assert_eq!(verify["valid"], false);
    assert!(verify["first_broken"]["problem"]
        .as_str()
        .expect("p")
        .contains("end"));
}

async fn consent_verify_cli_names_the_first_broken_link(app: TestApp) {
    let (ws, _, _) = record_three(&app).await;
    let run = |app: &TestApp| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sendwell"));
        cmd.args(["consent", "verify", "--workspace", &ws.id, "--data-dir"])
            .arg(app.dir.path());
        if let Some(url) = &app.database_url {
            cmd.args(["--database-url", url]);
        }
        cmd.env_remove("SENDWELL_DATABASE_URL")
            .env("SENDWELL_LOG", "warn");
        cmd.output().expect("run sendwell")
    };
    let ok = run(&app);
    assert!(
        ok.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let line: Value = serde_json::from_slice(&ok.stdout).expect("one JSON line");
    assert_eq!(line["valid"], true);
    assert_eq!(line["events"], 3);

    let mut db = app.raw_db().await;
    sqlx::query("UPDATE consent_events SET topic = 'other' WHERE seq = 2 AND workspace_id = $1")
        .bind(ws.id.clone())
        .execute(&mut db)
        .await
        .expect("tamper");
    let broken = run(&app);
    assert_eq!(broken.status.code(), Some(1));
    let line: Value = serde_json::from_slice(&broken.stdout).expect("one JSON line");
    assert_eq!(line["valid"], false);
    assert_eq!(line["first_broken"]["seq"], 2);
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("broken at event 2"), "{stderr}");
}

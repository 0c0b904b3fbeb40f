//! Workspaces, the sending gate, the guidelines and the audit log.

use crate::on_both;
use crate::support::TestApp;
use serde_json::json;

on_both!(
    a_new_workspace_is_onboarding_with_every_blocker,
    address_and_acceptance_activate_the_workspace_and_are_audited,
    a_settings_change_is_applied_whole_or_not_at_all,
    withdrawing_an_unknown_or_withdrawn_workspace_says_which,
    a_new_guidelines_version_must_be_accepted_again,
    guidelines_are_readable_without_a_key,
    health_and_openapi_answer,
    a_web_address_in_the_physical_address_is_refused,
);

fn codes(status: &serde_json::Value) -> Vec<String> {
    status["blockers"]
        .as_array()
        .expect("blockers")
        .iter()
        .map(|b| b["code"].as_str().expect("code").to_owned())
        .collect()
}

async fn a_new_workspace_is_onboarding_with_every_blocker(app: TestApp) {
    let created = app
        .post("/v1/workspaces", &app.operator, json!({"name": "Acme"}))
        .await
        .expect(201);
    assert_eq!(created["state"], "onboarding");
    assert_eq!(created["name"], "Acme");
    let key = created["api_key"].as_str().expect("key");
    assert!(key.starts_with("sw_key_"));

    let ws = app.get("/v1/workspace", key).await.expect(200);
    assert_eq!(ws["id"], created["id"]);
    assert_eq!(ws["physical_address"], serde_json::Value::Null);
    assert_eq!(ws["guidelines"]["current_version"], 1);
    assert_eq!(
        ws["guidelines"]["accepted_version"],
        serde_json::Value::Null
    );

    let status = app
        .get("/v1/workspace/sending-status", key)
        .await
        .expect(200);
    assert_eq!(status["can_send"], false);
    assert_eq!(
        codes(&status),
        ["physical_address_missing", "guidelines_not_accepted"]
    );
    for b in status["blockers"].as_array().expect("blockers") {
        assert!(
            b["message"].as_str().expect("message").len() > 40,
            "messages say what to do: {b}"
        );
    }
}

async fn address_and_acceptance_activate_the_workspace_and_are_audited(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let after_address = app
        .patch(
            "/v1/workspace",
            &ws.key,
            json!({"physical_address": "Acme Ltd\n1 Main Street\nSpringfield 12345"}),
        )
        .await
        .expect(200);
    assert_eq!(after_address["state"], "onboarding");
    assert_eq!(
        after_address["physical_address"],
        "Acme Ltd\n1 Main Street\nSpringfield 12345"
    );
    let status = app
        .get("/v1/workspace/sending-status", &ws.key)
        .await
        .expect(200);
    assert_eq!(codes(&status), ["guidelines_not_accepted"]);

    let accepted = app
        .post(
            "/v1/guidelines/accept",
            &ws.key,
            json!({"version": 1, "accepted_by": "Ada Lovelace <ada@acme.test>"}),
        )
        .await
        .expect(200);
    assert_eq!(accepted["workspace"]["state"], "active");
    assert_eq!(accepted["sending_status"]["can_send"], true);
    let status = app
        .get("/v1/workspace/sending-status", &ws.key)
        .await
        .expect(200);
    assert_eq!(
        status,
        json!({"can_send": true, "can_send_transactional": true, "blockers": [], "reminders": []})
    );

    let acceptances = app
        .get("/v1/guidelines/acceptances", &ws.key)
        .await
        .expect(200);
    let first = &acceptances[0];
    assert_eq!(first["version"], 1);
    assert_eq!(first["accepted_by"], "Ada Lovelace <ada@acme.test>");
    assert_eq!(first["ip"], "127.0.0.1");
    assert!(first["api_key_id"]
        .as_str()
        .expect("key id")
        .starts_with("key_"));
    assert!(first["accepted_at"].as_str().expect("time").ends_with('Z'));

    let log = app
        .get("/v1/workspace/audit-log", &ws.key)
        .await
        .expect(200);
    let items = log["items"].as_array().expect("items");
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "workspace.created",
            "workspace.address_set",
            "guidelines.accepted",
            "state.changed"
        ]
    );
    let change = &items[3];
    assert_eq!(change["from_state"], "onboarding");
    assert_eq!(change["to_state"], "active");
    assert!(change["actor"]
        .as_str()
        .expect("actor")
        .starts_with("key:key_"));
    assert!(change["reason"]
        .as_str()
        .expect("reason")
        .contains("guidelines version 1 accepted"));
    assert_eq!(items[0]["actor"], "operator");

    // The operator sees the same log.
    let op_log = app
        .get(
            &format!("/v1/operator/workspaces/{}/audit-log", ws.id),
            &app.operator,
        )
        .await
        .expect(200);
    assert_eq!(op_log["items"].as_array().expect("items").len(), 4);
    // Paging through it one entry at a time gives the same entries.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/workspace/audit-log?limit=1&cursor={c}"),
            None => "/v1/workspace/audit-log?limit=1".to_owned(),
        };
        let page = app.get(&path, &ws.key).await.expect(200);
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        items.iter().map(|e| e["id"].clone()).collect::<Vec<_>>()
    );
}

async fn a_new_guidelines_version_must_be_accepted_again(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    let other = app.ready_workspace("Globex").await;
    let published = app
        .post(
            "/v1/operator/guidelines",
            &app.operator,
            json!({"text": "# Guidelines v2\n\nEverything in version 1, and: be kind.", "grace_days": 0}),
        )
        .await
        .expect(201);
    assert_eq!(published["version"], 2);

    for w in [&ws, &other] {
        let status = app
            .get("/v1/workspace/sending-status", &w.key)
            .await
            .expect(200);
        assert_eq!(status["can_send"], false);
        assert_eq!(codes(&status), ["guidelines_outdated"]);
        assert!(status["blockers"][0]["message"]
            .as_str()
            .expect("msg")
            .contains("\"version\": 2"));
    }
    let current = app.get("/v1/guidelines", &ws.key).await.expect(200);
    assert_eq!(current["version"], 2);
    assert!(current["text"].as_str().expect("text").contains("be kind"));

    // Accepting the old version is refused and changes nothing.
    let refused = app
        .post(
            "/v1/guidelines/accept",
            &ws.key,
            json!({"version": 1, "accepted_by": "Ada"}),
        )
        .await;
    let problem = refused.expect(409);
    assert!(problem["detail"]
        .as_str()
        .expect("detail")
        .contains("current version is 2"));
    let ws_view = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert_eq!(ws_view["guidelines"]["accepted_version"], 1);
    assert_eq!(
        ws_view["state"], "active",
        "an active workspace stays active; the gate blocks it"
    );

    app.post(
        "/v1/guidelines/accept",
        &ws.key,
        json!({"version": 2, "accepted_by": "Ada"}),
    )
    .await
    .expect(200);
    let status = app
        .get("/v1/workspace/sending-status", &ws.key)
        .await
        .expect(200);
    assert_eq!(status["can_send"], true);
    let other_status = app
        .get("/v1/workspace/sending-status", &other.key)
        .await
        .expect(200);
    assert_eq!(
        other_status["can_send"], false,
        "each workspace accepts for itself"
    );
}

async fn guidelines_are_readable_without_a_key(app: TestApp) {
    let resp = app
        .send(reqwest::Method::GET, "/v1/guidelines", None, None)
        .await;
    let body = resp.expect(200);
    assert_eq!(body["version"], 1);
    let text = body["text"].as_str().expect("text");
    assert!(
        text.contains("unsubscribe link"),
        "our own guideline text is served"
    );
    assert!(
        !text.contains("Intercom"),
        "the guidelines are our own wording"
    );
}

async fn health_and_openapi_answer(app: TestApp) {
    let health = app
        .send(reqwest::Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    assert_eq!(health["status"], "ok");
    let doc = app
        .send(reqwest::Method::GET, "/openapi.json", None, None)
        .await
        .expect(200);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/v1/workspaces", "post"),
        ("/v1/workspace", "get"),
        ("/v1/workspace", "patch"),
        ("/v1/guidelines", "get"),
        ("/v1/guidelines/accept", "post"),
        ("/v1/workspace/sending-status", "get"),
        ("/v1/contacts", "post"),
        ("/v1/contacts", "get"),
        ("/v1/contacts/{id}", "get"),
        ("/v1/contacts/{id}", "delete"),
        ("/v1/contacts/batch", "post"),
        ("/v1/contacts/{id}/consent", "post"),
        ("/v1/contacts/{id}/consent", "get"),
        ("/v1/contacts/{id}/export", "get"),
        ("/v1/api-keys", "post"),
        ("/v1/api-keys", "get"),
        ("/v1/api-keys/{id}", "delete"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["ContactWrite"].is_object());
}

/// Regression: the landing URL and the address were written one after the
/// other, each on its own, so a failure between them left half a change.
/// They are one transaction now, and a refused field changes neither.
async fn a_settings_change_is_applied_whole_or_not_at_all(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let before = app.get("/v1/workspace", &ws.key).await.expect(200);
    let both = json!({
        "physical_address": "Other Ltd\n2 Side Street\nShelbyville 54321",
        "opt_in_landing_url": "ftp://acme-mail.com/thanks"
    });
    app.patch("/v1/workspace", &ws.key, both).await.expect(422);
    let unchanged = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert_eq!(unchanged["physical_address"], before["physical_address"]);
    let both = json!({
        "physical_address": "Other Ltd\n2 Side Street\nShelbyville 54321",
        "opt_in_landing_url": "https://acme-mail.com/thanks"
    });
    let after = app.patch("/v1/workspace", &ws.key, both).await.expect(200);
    assert_eq!(
        after["physical_address"],
        "Other Ltd\n2 Side Street\nShelbyville 54321"
    );
    let log = app
        .get("/v1/workspace/audit-log", &ws.key)
        .await
        .expect(200);
    let actions: Vec<&str> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions[actions.len() - 2..],
        ["workspace.landing_url_set", "workspace.address_set"],
        "{actions:?}"
    );
}

/// Regression: a refused withdrawal was told apart from a missing
/// workspace by the words of its message; it is a typed refusal now.
async fn withdrawing_an_unknown_or_withdrawn_workspace_says_which(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let withdraw = |id: String| {
        let app = &app;
        async move {
            app.post(
                &format!("/v1/operator/workspaces/{id}/withdraw"),
                &app.operator,
                json!({"reason": "repeated complaints"}),
            )
            .await
        }
    };
    withdraw("ws_00000000000000000000000000".to_owned())
        .await
        .expect(404);
    withdraw(ws.id.clone()).await.expect(200);
    let again = withdraw(ws.id.clone()).await.expect(409);
    assert_eq!(
        again["type"]
            .as_str()
            .map(|t| t.ends_with("invalid-transition")),
        Some(true),
        "{again}"
    );
}

/// The physical address stands in every footer, which content screening
/// does not read: a link there is refused, saying where links belong, and
/// nothing is stored.
async fn a_web_address_in_the_physical_address_is_refused(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let r = app
        .patch(
            "/v1/workspace",
            &ws.key,
            json!({"physical_address": "Acme Ltd, 1 Main Street, Springfield; prizes at https://prize.example"}),
        )
        .await
        .expect(422);
    assert_eq!(r["errors"][0]["pointer"], "/physical_address", "{r}");
    assert!(
        r["errors"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("https://prize.example") && d.contains("message itself")),
        "{r}"
    );
    let status = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert!(status["physical_address"].is_null(), "{status}");
}

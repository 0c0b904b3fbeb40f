//! Address checks over the API, verdicts stored on contacts, and the
//! suppression lists (the workspace's own and the operator's trap list).

use crate::on_both;
use crate::support::TestApp;
use serde_json::{json, Value};

on_both!(
    addresses_are_checked_with_reasons_dns_and_traps,
    contacts_carry_the_verdict_of_their_address,
    suppressions_are_listed_added_exported_and_lifted_only_when_allowed,
);

fn by_address(results: &Value, address: &str) -> Value {
    results["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["address"] == address)
        .cloned()
        .unwrap_or_else(|| panic!("{address} missing from {results}"))
}

async fn addresses_are_checked_with_reasons_dns_and_traps(app: TestApp) {
    let ws = app.workspace("Acme").await;
    app.post(
        "/v1/operator/suppressions",
        &app.operator,
        json!({"kind": "address", "value": "trap@acme-mail.com", "note": "pristine trap seen in 2026"}),
    )
    .await
    .expect(201);
    let addresses = [
        "ann@gmail.com",
        "info@acme-mail.com",
        "x@nullmx-domain.com",
        "y@ghost-domain.com",
        "ann@gmial.com",
        "bob@example.com",
        "trap@acme-mail.com",
        "kim@fallback-host.com",
        "broken@",
    ];
    let r = app
        .post(
            "/v1/addresses/check",
            &ws.key,
            json!({"addresses": addresses}),
        )
        .await
        .expect(200);
    let expect = |a: &str, verdict: &str, reasons: &[&str]| {
        let v = by_address(&r, a);
        assert_eq!(v["verdict"], verdict, "{a}: {v}");
        assert_eq!(v["reasons"], json!(reasons), "{a}: {v}");
    };
    expect("ann@gmail.com", "valid", &[]);
    expect("info@acme-mail.com", "risky", &["role_account"]);
    expect("x@nullmx-domain.com", "invalid", &["null_mx"]);
    expect("y@ghost-domain.com", "invalid", &["no_mail_server"]);
    expect("bob@example.com", "invalid", &["reserved_domain"]);
    expect("trap@acme-mail.com", "invalid", &["blocked"]);
    expect("kim@fallback-host.com", "valid", &[]);
    expect("broken@", "invalid", &["syntax"]);
    let typo = by_address(&r, "ann@gmial.com");
    assert_eq!(typo["suggestion"], "ann@gmail.com");
    assert!(typo["details"][0]["detail"].as_str().expect("detail").len() > 20);
    // Offline skips DNS: the ghost domain is no longer known to be dead.
    let r = app
        .post(
            "/v1/addresses/check",
            &ws.key,
            json!({"addresses": ["y@ghost-domain.com"], "offline": true}),
        )
        .await
        .expect(200);
    assert_eq!(by_address(&r, "y@ghost-domain.com")["verdict"], "valid");
    app.post("/v1/addresses/check", &ws.key, json!({"addresses": []}))
        .await
        .expect(422);
}

async fn contacts_carry_the_verdict_of_their_address(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let bad = app
        .post("/v1/contacts", &ws.key, json!({"email": "ann@example.com"}))
        .await
        .expect(201);
    assert_eq!(
        bad["address_check"]["verdict"], "invalid",
        "kept, with its verdict"
    );
    assert_eq!(bad["address_check"]["reasons"], json!(["reserved_domain"]));
    assert_eq!(bad["mailable"], false, "an invalid address is never mailed");
    let role = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "info@acme-mail.com"}),
        )
        .await
        .expect(201);
    assert_eq!(role["address_check"]["verdict"], "risky");
    assert_eq!(role["mailable"], true);
    let fine = app
        .post("/v1/contacts", &ws.key, json!({"email": "kim@gmail.com"}))
        .await
        .expect(201);
    assert_eq!(fine["address_check"]["verdict"], "valid");
    assert_eq!(fine["quarantined"], false);
    // The operator's trap list applies on the way in too.
    app.post(
        "/v1/operator/suppressions",
        &app.operator,
        json!({"kind": "domain", "value": "trap-net.com", "note": "trap network"}),
    )
    .await
    .expect(201);
    let trap = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "who@mx.trap-net.com"}),
        )
        .await
        .expect(201);
    assert_eq!(trap["address_check"]["verdict"], "invalid");
    assert_eq!(trap["address_check"]["reasons"], json!(["blocked"]));
    assert_eq!(trap["mailable"], false);
    // A new address gets a new verdict; an update without email keeps it.
    let moved = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "kim@gmail.com", "name": "Kim"}),
        )
        .await
        .expect(200);
    assert_eq!(moved["address_check"]["verdict"], "valid");
}

async fn suppressions_are_listed_added_exported_and_lifted_only_when_allowed(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let viewer = app.new_key(&ws.key, "viewer").await;
    let contact = app
        .contact(&ws.key, json!({"email": "ann@gmail.com"}))
        .await;
    let added = app
        .post(
            "/v1/suppressions",
            &ws.key,
            json!({"email": "Ann@gmail.com"}),
        )
        .await
        .expect(201);
    assert_eq!(added["reason"], "manual");
    assert_eq!(added["removable"], true);
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "ann@gmail.com"}),
    )
    .await
    .expect(200);
    let c = app
        .get(&format!("/v1/contacts/{contact}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(c["suppression"]["reason"], "manual");
    assert_eq!(c["mailable"], false);
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "gone@gmail.com", "reason": "unsubscribed"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/suppressions",
        &ws.key,
        json!({"email": "x@gmail.com", "reason": "whim"}),
    )
    .await
    .expect(422);
    app.post("/v1/suppressions", &viewer, json!({"email": "x@gmail.com"}))
        .await
        .expect(403);

    let erased = app
        .contact(&ws.key, json!({"email": "erase-me@gmail.com"}))
        .await;
    assert_eq!(
        app.delete(&format!("/v1/contacts/{erased}"), &ws.key)
            .await
            .status
            .as_u16(),
        204
    );
    let list = app.get("/v1/suppressions", &viewer).await.expect(200);
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    let erased_entry = items
        .iter()
        .find(|i| i["reason"] == "erased")
        .expect("erased entry");
    assert_eq!(
        erased_entry["email"],
        Value::Null,
        "an erased address is kept only as a hash"
    );

    let csv = app
        .client
        .get(app.url("/v1/suppressions.csv"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.expect("text");
    assert!(text.starts_with("email,email_hash,reason,source,created_at\n"));
    assert_eq!(text.lines().count(), 4);
    assert!(text.contains("gone@gmail.com"));

    let refused = app
        .delete("/v1/suppressions/gone@gmail.com", &ws.key)
        .await
        .expect(409);
    assert!(refused["detail"]
        .as_str()
        .expect("detail")
        .contains("only the person"));
    app.delete("/v1/suppressions/erase-me@gmail.com", &ws.key)
        .await
        .expect(409);
    app.delete("/v1/suppressions/ann@gmail.com", &viewer)
        .await
        .expect(403);
    app.delete("/v1/suppressions/ann@gmail.com", &ws.key)
        .await
        .expect(200);
    app.delete("/v1/suppressions/ann@gmail.com", &ws.key)
        .await
        .expect(404);
    let c = app
        .get(&format!("/v1/contacts/{contact}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(c["suppression"], Value::Null);
    assert_eq!(c["mailable"], true);
}

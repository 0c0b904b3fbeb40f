//! Contacts: upsert by external_id or email, typed attributes, batches,
//! cursor pagination.

use crate::on_both;
use crate::support::TestApp;
use serde_json::{json, Value};

on_both!(
    upsert_by_email_creates_then_updates,
    upsert_by_external_id_can_change_the_email,
    an_item_naming_two_contacts_is_a_conflict,
    attribute_types_are_fixed_on_first_use,
    attributes_can_be_declared_and_removed,
    a_batch_is_written_whole_with_per_item_results,
    a_batch_with_one_bad_item_writes_nothing,
    contacts_page_with_a_cursor,
);

async fn count(app: &TestApp, key: &str) -> usize {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/contacts?limit=1000&cursor={c}"),
            None => "/v1/contacts?limit=1000".to_owned(),
        };
        let page = app.get(&path, key).await.expect(200);
        n += page["items"].as_array().expect("items").len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return n,
        }
    }
}

async fn upsert_by_email_creates_then_updates(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let created = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "Ada@Example.ORG", "name": "Ada", "attributes": {"plan": "pro", "seats": 3},
                   "last_seen_at": "2026-11-01T10:00:00+01:00", "created_at": 1_700_000_000}),
        )
        .await
        .expect(201);
    assert_eq!(
        created["email"], "Ada@example.org",
        "the domain is lowercased"
    );
    assert_eq!(created["suppression"], Value::Null);
    assert_eq!(created["last_seen_at"], "2026-11-01T09:00:00.000Z");
    assert_eq!(created["created_at"], "2023-11-14T22:13:20.000Z");
    let updated = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "ada@example.org", "attributes": {"seats": 5, "vip": true}}),
        )
        .await
        .expect(200);
    assert_eq!(updated["id"], created["id"], "matched case-insensitively");
    assert_eq!(updated["name"], "Ada", "fields not given are kept");
    assert_eq!(
        updated["attributes"],
        json!({"plan": "pro", "seats": 5, "vip": true})
    );
    let fetched = app
        .get(
            &format!("/v1/contacts/{}", created["id"].as_str().expect("id")),
            &ws.key,
        )
        .await
        .expect(200);
    assert_eq!(fetched["attributes"], updated["attributes"]);
    assert_eq!(count(&app, &ws.key).await, 1);
}

async fn upsert_by_external_id_can_change_the_email(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let id = app
        .contact(
            &ws.key,
            json!({"external_id": "u-1", "email": "old@example.org"}),
        )
        .await;
    let moved = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"external_id": "u-1", "email": "new@example.org"}),
        )
        .await
        .expect(200);
    assert_eq!(moved["id"], id.as_str());
    assert_eq!(moved["email"], "new@example.org");
    // The old address is free again.
    let other = app
        .post("/v1/contacts", &ws.key, json!({"email": "old@example.org"}))
        .await
        .expect(201);
    assert_ne!(other["id"], id.as_str());
    // A contact known only by external_id.
    let bare = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"external_id": "u-2", "name": "No Mail"}),
        )
        .await
        .expect(201);
    assert_eq!(bare["email"], Value::Null);
    let by_email = app
        .get("/v1/contacts?email=NEW@example.org", &ws.key)
        .await
        .expect(200);
    assert_eq!(by_email["items"].as_array().expect("items").len(), 1);
    assert_eq!(by_email["items"][0]["id"], id.as_str());
}

async fn an_item_naming_two_contacts_is_a_conflict(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let a = app
        .contact(
            &ws.key,
            json!({"external_id": "a", "email": "a@example.org"}),
        )
        .await;
    let b = app
        .contact(
            &ws.key,
            json!({"external_id": "b", "email": "b@example.org"}),
        )
        .await;
    let problem = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"external_id": "a", "email": "b@example.org"}),
        )
        .await
        .expect(409);
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains(&a) && detail.contains(&b), "{detail}");
    let problem = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"external_id": "zzz", "email": "a@example.org"}),
        )
        .await
        .expect(409);
    assert!(problem["detail"]
        .as_str()
        .expect("detail")
        .contains("external_id is 'a'"));
    let a_now = app
        .get(&format!("/v1/contacts/{a}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(a_now["email"], "a@example.org", "nothing changed");
}

async fn attribute_types_are_fixed_on_first_use(app: TestApp) {
    let ws = app.workspace("Acme").await;
    app.contact(
        &ws.key,
        json!({"email": "a@example.org", "attributes": {"plan": "pro", "seats": 2, "opt_in": true, "renews_at": "2027-01-01"}}),
    )
    .await;
    let types = app.attribute_types(&ws.key).await;
    assert_eq!(
        types,
        [
            ("opt_in", "boolean"),
            ("plan", "string"),
            ("renews_at", "date"),
            ("seats", "number")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    for (attr, value, expected) in [
        ("plan", json!(5), "string"),
        ("seats", json!("two"), "number"),
        ("opt_in", json!("yes"), "boolean"),
        ("renews_at", json!("next year"), "date"),
    ] {
        let problem = app
            .post(
                "/v1/contacts",
                &ws.key,
                json!({"email": "b@example.org", "attributes": {attr: value}}),
            )
            .await
            .expect(422);
        let detail = problem["detail"].as_str().expect("detail");
        assert!(
            detail.contains(&format!("'{attr}' is a {expected} attribute")),
            "{detail}"
        );
        assert_eq!(
            problem["errors"][0]["pointer"],
            format!("/attributes/{attr}")
        );
    }
    assert_eq!(
        count(&app, &ws.key).await,
        1,
        "the refused contacts were not created"
    );
    // Dates take Unix seconds once typed, and come back normalised.
    let c = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "c@example.org", "attributes": {"renews_at": 1_800_000_000}}),
        )
        .await
        .expect(201);
    assert_eq!(c["attributes"]["renews_at"], "2027-01-15T08:00:00.000Z");
    let nested = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "d@example.org", "attributes": {"tags": ["a", "b"]}}),
        )
        .await
        .expect(422);
    assert!(nested["detail"]
        .as_str()
        .expect("detail")
        .contains("a list"));
    let reserved = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "d@example.org", "attributes": {"email": "x"}}),
        )
        .await
        .expect(422);
    assert!(reserved["detail"]
        .as_str()
        .expect("detail")
        .contains("standard contact field"));
}

async fn attributes_can_be_declared_and_removed(app: TestApp) {
    let ws = app.workspace("Acme").await;
    app.post(
        "/v1/attributes",
        &ws.key,
        json!({"name": "zip", "type": "string"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/attributes",
        &ws.key,
        json!({"name": "zip", "type": "string"}),
    )
    .await
    .expect(200);
    let conflict = app
        .post(
            "/v1/attributes",
            &ws.key,
            json!({"name": "zip", "type": "number"}),
        )
        .await
        .expect(409);
    assert!(conflict["detail"]
        .as_str()
        .expect("detail")
        .contains("already has the type string"));
    let wrong = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "a@example.org", "attributes": {"zip": 12345}}),
        )
        .await
        .expect(422);
    assert!(wrong["detail"]
        .as_str()
        .expect("detail")
        .contains("'zip' is a string attribute"));
    let c = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "a@example.org", "attributes": {"zip": "12345", "x": 1}}),
        )
        .await
        .expect(201);
    assert_eq!(c["attributes"], json!({"zip": "12345", "x": 1}));
    let c = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "a@example.org", "attributes": {"x": null}}),
        )
        .await
        .expect(200);
    assert_eq!(
        c["attributes"],
        json!({"zip": "12345"}),
        "null removes an attribute"
    );
}

async fn a_batch_is_written_whole_with_per_item_results(app: TestApp) {
    let ws = app.workspace("Acme").await;
    app.contact(
        &ws.key,
        json!({"email": "user7@example.org", "name": "Existing"}),
    )
    .await;
    let contacts: Vec<Value> = (0..1000)
        .map(|i| json!({"email": format!("user{i}@example.org"), "external_id": format!("u{i}"), "attributes": {"n": i}}))
        .collect();
    let resp = app
        .post("/v1/contacts/batch", &ws.key, json!({"contacts": contacts}))
        .await
        .expect(200);
    assert_eq!(resp["created"], 999);
    assert_eq!(resp["updated"], 1);
    let results = resp["results"].as_array().expect("results");
    assert_eq!(results.len(), 1000);
    assert_eq!(results[7]["status"], "updated");
    assert_eq!(results[8]["status"], "created");
    assert_eq!(results[999]["index"], 999);
    assert_eq!(count(&app, &ws.key).await, 1000);
    let seven = app
        .get("/v1/contacts?email=user7@example.org", &ws.key)
        .await
        .expect(200);
    assert_eq!(seven["items"][0]["name"], "Existing");
    assert_eq!(seven["items"][0]["external_id"], "u7");

    // The same person twice in one batch is one contact.
    let resp = app
        .post(
            "/v1/contacts/batch",
            &ws.key,
            json!({"contacts": [{"email": "twice@example.org", "name": "One"}, {"email": "TWICE@example.org", "attributes": {"n": 1}}]}),
        )
        .await
        .expect(200);
    assert_eq!(resp["results"][0]["id"], resp["results"][1]["id"]);
    assert_eq!(resp["results"][1]["status"], "updated");
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"email": format!("x{i}@example.org")}))
        .collect();
    let problem = app
        .post("/v1/contacts/batch", &ws.key, json!({"contacts": too_many}))
        .await
        .expect(422);
    assert!(problem["detail"]
        .as_str()
        .expect("detail")
        .contains("1 to 1000"));
    app.post("/v1/contacts/batch", &ws.key, json!({"contacts": []}))
        .await
        .expect(422);
}

async fn a_batch_with_one_bad_item_writes_nothing(app: TestApp) {
    let ws = app.workspace("Acme").await;
    app.contact(
        &ws.key,
        json!({"email": "seed@example.org", "attributes": {"plan": "pro"}}),
    )
    .await;
    let mut contacts: Vec<Value> = (0..10)
        .map(|i| json!({"email": format!("ok{i}@example.org")}))
        .collect();
    contacts[3] = json!({"email": "broken@"});
    contacts[6] = json!({"email": "typed@example.org", "attributes": {"plan": 1}});
    let problem = app
        .post(
            "/v1/contacts/batch",
            &ws.key,
            json!({"contacts": contacts.clone()}),
        )
        .await
        .expect(422);
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["pointer"].as_str().expect("p"))
        .collect();
    assert_eq!(
        pointers,
        ["/contacts/3/email", "/contacts/6/attributes/plan"],
        "address and type problems are reported together (issue #14, item 18)"
    );
    contacts[3] = json!({"email": "fixed@example.org"});
    let problem = app
        .post(
            "/v1/contacts/batch",
            &ws.key,
            json!({"contacts": contacts.clone()}),
        )
        .await
        .expect(422);
    assert_eq!(
        problem["errors"][0]["pointer"],
        "/contacts/6/attributes/plan"
    );
    assert!(problem["detail"]
        .as_str()
        .expect("detail")
        .contains("string attribute"));
    assert_eq!(
        count(&app, &ws.key).await,
        1,
        "nothing of the failed batches was written"
    );
    // A new attribute typed by a failed batch is not left in the schema.
    contacts[6] = json!({"email": "typed@example.org", "attributes": {"fresh": 1}});
    contacts[7] = json!({"email": "worse@example.org", "attributes": {"fresh": "one"}});
    app.post("/v1/contacts/batch", &ws.key, json!({"contacts": contacts}))
        .await
        .expect(422);
    let schema = app.get("/v1/attributes", &ws.key).await.expect(200);
    assert!(!schema.to_string().contains("fresh"), "{schema}");
}

async fn contacts_page_with_a_cursor(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let contacts: Vec<Value> = (0..25)
        .map(|i| json!({"email": format!("p{i}@example.org")}))
        .collect();
    app.post("/v1/contacts/batch", &ws.key, json!({"contacts": contacts}))
        .await
        .expect(200);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/contacts?limit=10&cursor={c}"),
            None => "/v1/contacts?limit=10".to_owned(),
        };
        let page = app.get(&path, &ws.key).await.expect(200);
        pages += 1;
        for item in page["items"].as_array().expect("items") {
            seen.push(item["email"].as_str().expect("email").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25, "every contact exactly once");
    app.get("/v1/contacts?limit=0", &ws.key).await.expect(422);
    app.get("/v1/contacts?limit=5000", &ws.key)
        .await
        .expect(422);
    app.get("/v1/contacts?cursor=garbage", &ws.key)
        .await
        .expect(422);
    app.get("/v1/contacts?limit=ten", &ws.key).await.expect(400);
}

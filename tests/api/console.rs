//! The console's pages over plain HTTP (issue #16), on both backends: each
//! action does what the API does, with the API's errors at the field, and
//! nothing a page shows once is shown again.

use crate::members::{admin_of, csrf_of};
use crate::on_both;
use crate::support::TestApp;
use serde_json::json;

on_both!(
    contacts_are_found_by_address_name_or_external_id,
    a_contact_is_exported_and_erased_after_a_confirmation,
    suppressions_are_added_lifted_and_downloaded,
    keys_and_webhook_secrets_are_shown_once,
    a_template_error_is_shown_at_its_part,
    every_page_answers_with_the_console_headers,
    a_contact_page_lists_its_mails_and_events,
    an_upload_without_script_imports_after_its_token,
    a_template_is_previewed_in_a_sandbox_before_it_is_saved,
    audiences_are_saved_listed_and_deleted,
    removing_a_member_names_the_keys_they_made,
);

async fn contacts_are_found_by_address_name_or_external_id(app: TestApp) {
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    app.contact(
        &ws.key,
        json!({"email": "ann@gmail.com", "name": "Ann Lee", "external_id": "u-42"}),
    )
    .await;
    app.contact(
        &ws.key,
        json!({"email": "bob@yahoo.com", "name": "Bob Stone", "external_id": "u-7"}),
    )
    .await;
    let by_address = v.get("/contacts?q=ANN%40gmail.com").await;
    assert!(by_address.body.contains("Ann Lee") && !by_address.body.contains("Bob Stone"));
    let by_name = v.get("/contacts?q=Bob").await;
    assert!(by_name.body.contains("bob@yahoo.com") && !by_name.body.contains("ann@gmail.com"));
    let by_id = v.get("/contacts?q=u-42").await;
    assert!(by_id.body.contains("ann@gmail.com") && !by_id.body.contains("bob@yahoo.com"));
    let nothing = v.get("/contacts?q=Zed").await;
    assert!(nothing.body.contains("No contacts match"));
    app.contact(
        &ws.key,
        json!({"email": "cy@gmail.com", "attributes": {"plan": "pro"}}),
    )
    .await;
    app.contact(
        &ws.key,
        json!({"email": "di@gmail.com", "attributes": {"plan": "free"}}),
    )
    .await;
    let pro = v.get("/contacts?filter=plan+is+%22pro%22").await;
    assert_eq!(pro.status, 200);
    assert!(
        pro.body.contains("cy@gmail.com") && !pro.body.contains("di@gmail.com"),
        "{}",
        pro.body
    );
    let wrong = v.get("/contacts?filter=plan+iz+%22pro%22").await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("id=\"filter-error\""));
}

async fn a_contact_is_exported_and_erased_after_a_confirmation(app: TestApp) {
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    let id = app
        .contact(
            &ws.key,
            json!({"email": "ann@gmail.com", "name": "Ann Lee"}),
        )
        .await;
    let export = v.get(&format!("/contacts/{id}/export.json")).await;
    assert_eq!(export.status, 200);
    let value: serde_json::Value = serde_json::from_str(&export.body).expect("JSON");
    assert!(value.to_string().contains("ann@gmail.com"));
    let proof = v.get(&format!("/contacts/{id}/consent.json")).await;
    assert_eq!(proof.status, 200);
    let confirm = v.get(&format!("/contacts/{id}/erase")).await;
    assert!(
        confirm.body.contains("never mailed again") && confirm.body.contains("cannot be undone")
    );
    let csrf = csrf_of(&confirm.body);
    let erased = v
        .post(&format!("/contacts/{id}/erase"), &[("csrf", &csrf)])
        .await;
    assert_eq!(erased.status, 303);
    app.get(&format!("/v1/contacts/{id}"), &ws.key)
        .await
        .expect(404);
    let list = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert_eq!(list["items"][0]["reason"], "erased", "{list}");
}

async fn suppressions_are_added_lifted_and_downloaded(app: TestApp) {
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    let csrf = v.csrf("/suppressions").await;
    let bad = v
        .post(
            "/suppressions",
            &[("csrf", &csrf), ("email", "not an address")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("aria-invalid=\"true\""));
    let added = v
        .post(
            "/suppressions",
            &[("csrf", &csrf), ("email", "gone@gmail.com")],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let list = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert_eq!(list["items"][0]["email"], "gone@gmail.com");
    let csv = v.get("/suppressions.csv").await;
    assert!(csv.body.starts_with("email,email_hash,reason") && csv.body.contains("gone@gmail.com"));
    let page = v.get("/suppressions").await;
    assert!(page.body.contains("Lift for gone@gmail.com"));
    let lifted = v
        .post(
            "/suppressions/lift",
            &[("csrf", &csrf), ("email", "gone@gmail.com")],
        )
        .await;
    assert_eq!(lifted.status, 303);
    let list = app.get("/v1/suppressions", &ws.key).await.expect(200);
    assert!(list["items"].as_array().expect("items").is_empty());
}

async fn keys_and_webhook_secrets_are_shown_once(app: TestApp) {
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    let csrf = v.csrf("/settings").await;
    let made = v
        .post(
            "/settings/keys",
            &[
                ("csrf", &csrf),
                ("key_name", "CRM sync"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(made.status, 200);
    let at = made
        .body
        .find("revealed-secret\">")
        .expect("the key is shown");
    let key: String = made.body[at + "revealed-secret\">".len()..]
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    assert_eq!(
        app.get("/v1/workspace", &key).await.status.as_u16(),
        200,
        "the key works"
    );
    let again = v.get("/settings").await;
    assert!(!again.body.contains(&key), "the key is not shown again");
    let refused = v
        .post(
            "/settings/webhooks",
            &[("csrf", &csrf), ("webhook_url", "http://10.0.0.1/hook")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("https"), "{}", refused.body);
    let hooks = app.get("/v1/webhooks", &ws.key).await.expect(200);
    assert!(hooks["items"].as_array().expect("items").is_empty());
    let listed = app.get("/v1/api-keys", &ws.key).await.expect(200);
    let id = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|k| k["name"] == "CRM sync")
        .expect("the new key")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let revoked = v
        .post(&format!("/settings/keys/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(revoked.status, 303);
    assert_eq!(app.get("/v1/workspace", &key).await.status.as_u16(), 401);
}

async fn a_template_error_is_shown_at_its_part(app: TestApp) {
    let (_ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    let csrf = v.csrf("/templates/new").await;
    let broken = v
        .post(
            "/templates",
            &[
                ("csrf", &csrf),
                ("name", "Broken"),
                ("layout", "custom"),
                ("html", "<p>{% if x %}never closed</p>"),
            ],
        )
        .await;
    assert_eq!(broken.status, 422);
    let field = &broken.body[broken
        .body
        .find("id=\"html-error\"")
        .expect("an error at the HTML part")..];
    assert!(field.contains("line"), "{field}");
    let saved = v
        .post(
            "/templates",
            &[
                ("csrf", &csrf),
                ("name", "News"),
                ("layout", "plain"),
                ("text", "Hello {{ first_name }}"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let list = v.get("/templates").await;
    assert!(list.body.contains(">News<"));
}

async fn every_page_answers_with_the_console_headers(app: TestApp) {
    let (_ws, v) = admin_of(&app, "Acme", "ada@example.com").await;
    for path in [
        "/",
        "/contacts",
        "/imports",
        "/audiences",
        "/templates",
        "/templates/new",
        "/messages",
        "/messages/new",
        "/suppressions",
        "/settings",
    ] {
        let response = v
            .client
            .get(app.url(path))
            .header("cookie", v.cookie.clone().expect("signed in"))
            .send()
            .await
            .expect("page");
        assert_eq!(response.status(), 200, "{path}");
        let csp = response
            .headers()
            .get("content-security-policy")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for path in ["/", "/contacts", "/settings", "/messages/new"] {
        let response = anonymous.get(app.url(path)).send().await.expect("page");
        assert_eq!(response.status(), 303, "{path}");
    }
}

async fn a_contact_page_lists_its_mails_and_events(app: TestApp) {
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    app.patch(
        "/v1/workspace",
        &ws.key,
        json!({"physical_address": "Acme Ltd, 1 Main Street, Springfield 12345, USA"}),
    )
    .await
    .expect(200);
    let version = app.get("/v1/guidelines", &ws.key).await.expect(200)["version"].clone();
    app.post(
        "/v1/guidelines/accept",
        &ws.key,
        json!({"version": version, "accepted_by": "Ada"}),
    )
    .await
    .expect(200);
    let id = crate::support::opted_in(&app, &ws, "ann@gmail.com").await;
    let (message, queued) = crate::support::send_news(&app, &ws, "Spring news").await;
    assert_eq!(queued, 1);
    for _ in 0..200 {
        let m = app
            .get(&format!("/v1/messages/{message}"), &ws.key)
            .await
            .expect(200);
        if m["state"] == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let page = v.get(&format!("/contacts/{id}")).await;
    assert_eq!(page.status, 200);
    let mails = &page.body[page.body.find("The newest 50 mails").expect("the mails")..];
    assert!(
        mails.contains("Spring news") && mails.contains("delivered"),
        "{mails}"
    );
}

async fn an_upload_without_script_imports_after_its_token(app: TestApp) {
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    let csrf = v.csrf("/imports").await;
    let upload = |token: &str| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", token.to_owned())
            .text("source", "product_users")
            .text("consent", "none")
            .part(
                "file",
                reqwest::multipart::Part::bytes(
                    b"email,name\nann@gmail.com,Ann\nbob@yahoo.com,Bob\n".to_vec(),
                )
                .file_name("people.csv")
                .mime_str("text/csv")
                .expect("mime"),
            );
        v.client
            .post(app.url("/imports"))
            .header("cookie", v.cookie.clone().expect("signed in"))
            .multipart(form)
    };
    let forged = upload(&"0".repeat(32)).send().await.expect("post");
    assert_eq!(forged.status(), 403);
    let none = app.get("/v1/imports", &ws.key).await.expect(200);
    assert!(
        none["items"].as_array().expect("items").is_empty(),
        "nothing imported"
    );
    let done = upload(&csrf).send().await.expect("post");
    assert_eq!(done.status(), 200);
    let page = done.text().await.expect("page");
    assert!(
        page.contains("Import result") && page.contains("Accepted"),
        "{page}"
    );
    let list = app.get("/v1/contacts", &ws.key).await.expect(200);
    assert_eq!(list["items"].as_array().expect("items").len(), 2);
}

async fn a_template_is_previewed_in_a_sandbox_before_it_is_saved(app: TestApp) {
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    app.patch(
        "/v1/workspace",
        &ws.key,
        json!({"physical_address": "Acme Ltd, 1 Main Street, Springfield 12345, USA"}),
    )
    .await
    .expect(200);
    let csrf = v.csrf("/templates/new").await;
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "News"),
        ("layout", "announcement"),
        ("heading", "Spring"),
        (
            "html",
            "<p>Hello {{ first_name }}, <script>alert(1)</script>here is the news.</p>",
        ),
    ];
    let response = v
        .client
        .post(app.url("/templates/preview"))
        .header("cookie", v.cookie.clone().expect("signed in"))
        .form(&fields)
        .send()
        .await
        .expect("preview");
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.starts_with("sandbox;") && csp.contains("frame-ancestors 'self'"),
        "{csp}"
    );
    let html = response.text().await.expect("html");
    assert!(html.contains("Hello Ann, "), "{html}");
    assert!(
        html.contains("Acme Ltd, 1 Main Street"),
        "the footer has the workspace's address"
    );
    let text = v.post("/templates/preview.txt", &fields).await;
    assert!(
        text.body.contains("Hello Ann,") && !text.body.contains("<p>"),
        "{}",
        text.body
    );
    let broken = v
        .post(
            "/templates/preview",
            &[
                ("csrf", &csrf),
                ("name", "x"),
                ("layout", "custom"),
                ("html", "{% if %}"),
            ],
        )
        .await;
    assert_eq!(broken.status, 200);
    assert!(
        broken.body.contains("line"),
        "the error says where: {}",
        broken.body
    );
    let list = app.get("/v1/templates", &ws.key).await.expect(200);
    assert!(
        list["items"].as_array().expect("items").is_empty(),
        "a preview saves nothing"
    );
}

async fn audiences_are_saved_listed_and_deleted(app: TestApp) {
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    app.contact(
        &ws.key,
        json!({"email": "cy@gmail.com", "attributes": {"plan": "pro"}}),
    )
    .await;
    let saved = app
        .post(
            "/v1/audiences",
            &ws.key,
            json!({"name": "Pro", "filter": "plan is \"pro\""}),
        )
        .await
        .expect(201);
    assert_eq!(saved["filter_text"], "plan is \"pro\"");
    let taken = app
        .post(
            "/v1/audiences",
            &ws.key,
            json!({"name": "Pro", "filter": "plan is \"free\""}),
        )
        .await
        .expect(409);
    assert!(taken["detail"]
        .as_str()
        .expect("detail")
        .contains("another name"));
    app.post(
        "/v1/audiences",
        &ws.key,
        json!({"name": "All", "filter": ""}),
    )
    .await
    .expect(422);
    app.post(
        "/v1/audiences",
        &ws.key,
        json!({"name": "Bad", "filter": "plan iz \"pro\""}),
    )
    .await
    .expect(422);
    let viewer = app.new_key(&ws.key, "viewer").await;
    app.post(
        "/v1/audiences",
        &viewer,
        json!({"name": "Mine", "filter": "plan is \"pro\""}),
    )
    .await
    .expect(403);
    // In the console: save the counted filter under a name, see it, delete it.
    let page = v.get("/audiences?filter=plan+is+%22pro%22").await;
    assert!(page.body.contains("Save this filter as") && page.body.contains(">Pro<"));
    let csrf = csrf_of(&page.body);
    let dup = v
        .post(
            "/audiences",
            &[
                ("csrf", &csrf),
                ("filter", "plan is \"pro\""),
                ("audience_name", "Pro"),
            ],
        )
        .await;
    assert_eq!(dup.status, 409);
    assert!(
        dup.body.contains("id=\"audience_name-error\""),
        "the refusal is at the name"
    );
    let made = v
        .post(
            "/audiences",
            &[
                ("csrf", &csrf),
                ("filter", "plan is \"pro\""),
                ("audience_name", "Pro buyers"),
            ],
        )
        .await;
    assert_eq!(made.status, 303);
    let list = app.get("/v1/audiences", &ws.key).await.expect(200);
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let id = items
        .iter()
        .find(|a| a["name"] == "Pro buyers")
        .expect("saved")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let gone = v
        .post(&format!("/audiences/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(gone.status, 303);
    app.get(&format!("/v1/audiences/{id}"), &ws.key)
        .await
        .expect(404);
}

async fn removing_a_member_names_the_keys_they_made(app: TestApp) {
    let (ws, mut ada) = admin_of(&app, "Acme", "ada@example.com").await;
    let invited = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "bo@example.com", "role": "admin"}),
        )
        .await
        .expect(201);
    let link = invited["invite_url"].as_str().expect("link");
    let mut bo = crate::members::Visitor::new(&app);
    let path = &link[link.find("/invite/").expect("path")..];
    let pw = crate::members::PASSWORD;
    assert_eq!(
        bo.post(path, &[("password", pw), ("confirm", pw)])
            .await
            .status,
        303
    );
    let csrf = bo.csrf("/settings").await;
    let made = bo
        .post(
            "/settings/keys",
            &[
                ("csrf", &csrf),
                ("key_name", "Bo's sync"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(made.status, 200);
    let keys = app.get("/v1/api-keys", &ws.key).await.expect(200);
    assert!(keys.to_string().contains("member:bo@example.com"), "{keys}");
    let id = invited["id"].as_str().expect("id");
    let csrf = ada.csrf("/settings").await;
    let removed = ada
        .post(
            &format!("/settings/members/{id}/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(removed.status, 200);
    assert!(
        removed
            .body
            .contains("still works until removed: the API key Bo&#39;s sync")
            || removed
                .body
                .contains("still works until removed: the API key Bo's sync"),
        "{}",
        removed.body
    );
}

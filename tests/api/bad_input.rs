//! Malformed and hostile input: each gets a problem document that says what
//! was wrong, and none writes anything.

use crate::on_both;
use crate::support::TestApp;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both!(
    malformed_json_is_400_and_unknown_fields_are_422,
    bad_email_addresses_are_422_with_the_reason,
    a_ten_megabyte_body_is_413,
    a_body_that_is_not_json_is_415,
    control_characters_never_reach_names_or_addresses,
    unknown_paths_and_methods_are_problems,
);

async fn raw(
    app: &TestApp,
    path: &str,
    key: &str,
    content_type: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let resp = app
        .client
        .post(app.url(path))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "errors are problem documents"
    );
    (status, resp.json().await.expect("json"))
}

async fn malformed_json_is_400_and_unknown_fields_are_422(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let (status, p) = raw(
        &app,
        "/v1/contacts",
        &ws.key,
        "application/json",
        "{\"email\": \"a@example.org\",",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        p["detail"].as_str().expect("detail").contains("line 1"),
        "{p}"
    );
    assert_eq!(p["status"], 400);
    assert_eq!(p["type"], "urn:sendwell:problem:bad-request");
    let (status, p) = raw(
        &app,
        "/v1/contacts",
        &ws.key,
        "application/json",
        "{\"email\": \"a@example.org\", \"emial\": 1}",
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("unknown field `emial`"),
        "{p}"
    );
    let (status, _) = raw(
        &app,
        "/v1/workspaces",
        &app.operator,
        "application/json",
        "{\"name\": \"A\", \"plan\": \"x\"}",
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = raw(&app, "/v1/contacts", &ws.key, "application/json", "[1, 2]").await;
    assert_eq!(status, 422);
    let list = app.get("/v1/contacts", &ws.key).await.expect(200);
    assert_eq!(list["items"].as_array().expect("items").len(), 0);
    let workspaces = app.get("/v1/workspaces", &app.operator).await.expect(200);
    assert_eq!(workspaces["items"].as_array().expect("items").len(), 1);
}

async fn bad_email_addresses_are_422_with_the_reason(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let long = format!(
        "{}@{}.example.org",
        "a".repeat(60),
        "b".repeat(63) + "." + &"c".repeat(63) + "." + &"d".repeat(63)
    );
    assert!(long.len() > 254);
    for (email, says) in [
        (
            "ann@example.org\r\nBcc: everyone@example.org",
            "control character",
        ),
        ("ann@example.org\n", "control character"),
        ("ann\r@example.org", "control character"),
        ("ann@", "no domain"),
        ("ann", "no '@'"),
        ("ann@localhost", "fully qualified"),
        (long.as_str(), "limit is 254"),
        ("a b@example.org", "space"),
    ] {
        let p = app
            .post("/v1/contacts", &ws.key, json!({"email": email}))
            .await
            .expect(422);
        assert!(
            p["detail"].as_str().expect("detail").contains(says),
            "{email:?}: {p}"
        );
        assert_eq!(p["errors"][0]["pointer"], "/email");
    }
    let p = app
        .post("/v1/contacts", &ws.key, json!({"name": "Nobody"}))
        .await
        .expect(422);
    assert!(p["detail"]
        .as_str()
        .expect("detail")
        .contains("email, an external_id"));
    let list = app.get("/v1/contacts", &ws.key).await.expect(200);
    assert_eq!(list["items"].as_array().expect("items").len(), 0);
}

async fn a_ten_megabyte_body_is_413(app: TestApp) {
    let ws = app.workspace("Acme").await;
    // Raw TCP, so the server's early answer is read even though the body is not sent whole.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let size = 10 * 1024 * 1024;
    let head = format!(
        "POST /v1/contacts/batch HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n{{\"contacts\": [",
        ws.key
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let (mut reader, mut writer) = stream.into_split();
    // Keep sending until the server stops reading; it answers once the limit is passed.
    let sender = tokio::spawn(async move {
        let filler = vec![b' '; 64 * 1024];
        for _ in 0..(size / filler.len()) {
            if writer.write_all(&filler).await.is_err() {
                break;
            }
        }
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !String::from_utf8_lossy(&buf).contains("batch") {
        match tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    sender.abort();
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "got: {}",
        text.lines().next().unwrap_or("")
    );
    assert!(text.contains("application/problem+json"));
    assert!(text.contains("POST /v1/contacts/batch takes a JSON body of at most"));
    assert!(text.contains("at most 1000"));
}

async fn a_body_that_is_not_json_is_415(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let (status, p) = raw(
        &app,
        "/v1/contacts",
        &ws.key,
        "text/plain",
        "{\"email\": \"a@example.org\"}",
    )
    .await;
    assert_eq!(status, 415);
    assert!(p["detail"]
        .as_str()
        .expect("detail")
        .contains("Content-Type: application/json"));
}

async fn control_characters_never_reach_names_or_addresses(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let p = app
        .post(
            "/v1/contacts",
            &ws.key,
            json!({"email": "a@example.org", "name": "Ann\r\nBcc: x@example.org"}),
        )
        .await
        .expect(422);
    assert_eq!(p["errors"][0]["pointer"], "/name");
    app.post(
        "/v1/contacts",
        &ws.key,
        json!({"email": "a@example.org", "external_id": "a\u{0}b"}),
    )
    .await
    .expect(422);
    app.post(
        "/v1/workspaces",
        &app.operator,
        json!({"name": "Evil\nCorp"}),
    )
    .await
    .expect(422);
    app.patch(
        "/v1/workspace",
        &ws.key,
        json!({"physical_address": "1 Main St\u{0}Springfield 12345"}),
    )
    .await
    .expect(422);
    app.patch("/v1/workspace", &ws.key, json!({"physical_address": "x"}))
        .await
        .expect(422);
    app.patch("/v1/workspace", &ws.key, json!({}))
        .await
        .expect(422);
    app.post(
        "/v1/guidelines/accept",
        &ws.key,
        json!({"version": 1, "accepted_by": "Ann\r\nX: y"}),
    )
    .await
    .expect(422);
    let view = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert_eq!(view["physical_address"], serde_json::Value::Null);
    assert_eq!(
        view["guidelines"]["accepted_version"],
        serde_json::Value::Null
    );
}

async fn unknown_paths_and_methods_are_problems(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let r = app.get("/v1/nothing-here", &ws.key).await;
    assert_eq!(r.status.as_u16(), 404);
    assert_eq!(r.content_type, "application/problem+json");
    let r = app
        .send(
            reqwest::Method::PUT,
            "/v1/contacts",
            Some(&ws.key),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 405);
    assert_eq!(r.content_type, "application/problem+json");
}

//! The WebDriver client itself, on two tiny pages served here: a labelled
//! sign-in form that echoes what it was sent, and a page with an unlabelled
//! field that axe-core must fault (so the accessibility check can fail).

use crate::webdriver::{axe_installed, Browser};
use axum::response::Html;
use axum::routing::get;
use std::time::Duration;

const SIGN_IN: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><main>
  <h1>Sign in</h1>
  <form method="post" action="/signed-in">
    <label for="email">Email</label>
    <input id="email" name="email" type="email" autocomplete="email">
    <button type="submit">Sign in</button>
  </form>
  <p><a href="/help">Help</a></p>
</main></body></html>"#;

const UNLABELLED: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unlabelled</title></head>
<body><main><h1>Unlabelled</h1><input id="nameless" type="text"></main></body></html>"#;

/// The signed-in page: says which address the form posted.
async fn signed_in(body: String) -> Html<String> {
    let email = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("email="))
        .map(form_decode)
        .unwrap_or_default();
    let email = email.replace('&', "&amp;").replace('<', "&lt;");
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed in</title></head>\
         <body><main><h1>Signed in</h1><p id=\"echo\">Signed in as {email}</p></main></body></html>"
    ))
}

/// application/x-www-form-urlencoded, enough for an email address.
fn form_decode(value: &str) -> String {
    let mut bytes = Vec::new();
    let mut rest = value.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        match (b, tail.get(..2)) {
            (b'%', Some(hex)) => {
                let hex = std::str::from_utf8(hex).expect("ASCII");
                bytes.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                rest = &tail[2..];
                continue;
            }
            (b'+', _) => bytes.push(b' '),
            _ => bytes.push(b),
        }
        rest = tail;
    }
    String::from_utf8(bytes).expect("UTF-8")
}

async fn serve_pages() -> String {
    let app = axum::Router::new()
        .route("/", get(|| async { Html(SIGN_IN) }))
        .route("/signed-in", axum::routing::post(signed_in))
        .route("/unlabelled", get(|| async { Html(UNLABELLED) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn webdriver_fills_a_form_and_axe_finds_an_unlabelled_field() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = serve_pages().await;
    let page = browser.session().await;
    page.goto(&format!("{base}/")).await;
    assert_eq!(page.title().await, "Sign in");
    page.assert_accessible("the sign-in page").await;

    // The keyboard reaches the field, then the button.
    page.press_tab().await;
    assert_eq!(
        page.active_element().await.attr("id").await.as_deref(),
        Some("email")
    );
    page.press_tab().await;
    assert_eq!(page.active_element().await.text().await, "Sign in");

    assert_eq!(
        page.link("Help").await.attr("href").await.as_deref(),
        Some("/help")
    );
    assert!(page.try_find("#missing").await.is_none());
    let shot = tempfile::tempdir().expect("temp dir");
    page.screenshot(shot.path().join("sign-in.png")).await;
    let png = std::fs::read(shot.path().join("sign-in.png")).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG file");

    let email = page.field("Email").await;
    email.send_keys("ada+news@acme.example").await;
    assert_eq!(email.property("value").await, "ada+news@acme.example");
    page.button("Sign in").await.click().await;
    let echo = page.wait_for("#echo", Duration::from_secs(10)).await;
    assert_eq!(echo.text().await, "Signed in as ada+news@acme.example");
    assert_eq!(page.current_url().await, format!("{base}/signed-in"));

    page.goto(&format!("{base}/unlabelled")).await;
    if axe_installed() {
        let violations = page.axe("").await;
        assert!(
            violations
                .iter()
                .any(|v| v.id == "label" && v.is_grave() && v.targets == ["#nameless"]),
            "axe-core faults the unlabelled field: {violations:#?}"
        );
    }
}

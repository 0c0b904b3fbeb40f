//! The pages a recipient reaches from a mail, in Chromium: the preference
//! centre (issue #19) is used from the keyboard alone, passes axe-core,
//! and its choice lands in the consent ledger.

use crate::journey::{mark_page, wait_for_new_page};
use crate::support::{opted_in, send_news, TestApp};
use crate::webdriver::{key, Browser};
use serde_json::json;
use std::time::Duration;

/// The unsubscribe link of the first mail captured for `message`.
async fn unsubscribe_link(app: &TestApp, key: &str, message: &str) -> String {
    let started = std::time::Instant::now();
    let id = loop {
        let list = app
            .get(&format!("/v1/outbox?message_id={message}"), key)
            .await
            .expect(200);
        if let Some(id) = list["items"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a mail is captured"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let raw = app
        .client
        .get(app.url(&format!("/v1/outbox/{id}/raw")))
        .bearer_auth(key)
        .send()
        .await
        .expect("raw")
        .text()
        .await
        .expect("text");
    let text = raw.replace("=\r\n", "").replace("=3D", "=");
    let at = text
        .find(&format!("{}/u/", app.base))
        .expect("an unsubscribe link");
    text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>'))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipient_chooses_topics_on_the_preference_centre_from_the_keyboard() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let ws = app.ready_workspace("Acme").await;
    let ann = opted_in(&app, &ws, "ann@receiver-mail.net").await;
    for (k, name) in [
        ("marketing", "Monthly newsletter"),
        ("product_news", "Product news"),
    ] {
        app.post(
            "/v1/topics",
            &ws.key,
            json!({"key": k, "name": name, "description": format!("About {name}.")}),
        )
        .await
        .expect(201);
    }
    let (message, _) = send_news(&app, &ws, "News").await;
    let unsubscribe = unsubscribe_link(&app, &ws.key, &message).await;

    let s = browser.session().await;
    s.goto(&unsubscribe).await;
    s.assert_accessible("unsubscribe").await;
    mark_page(&s).await;
    s.link("Choose which emails you get").await.click().await;
    wait_for_new_page(&s, "the preference centre link").await;
    s.assert_accessible("preference centre").await;

    // Tab to the second checkbox, tick it with Space, and Enter on the button.
    let mut ticked = false;
    for _ in 0..10 {
        s.press_tab().await;
        let el = s.active_element().await;
        if el.attr("value").await.as_deref() == Some("product_news") {
            s.press(&[' ']).await;
            ticked = true;
            break;
        }
    }
    assert!(ticked, "the product news box is reached by Tab");
    let mut pressed = false;
    for _ in 0..10 {
        s.press_tab().await;
        let el = s.active_element().await;
        if el.tag_name().await == "button" {
            mark_page(&s).await;
            s.press(&[key::ENTER]).await;
            wait_for_new_page(&s, "Enter on Save my choices").await;
            pressed = true;
            break;
        }
    }
    assert!(pressed, "the save button is reached by Tab");
    let page = s.source().await;
    assert!(page.contains("Your choices are saved"), "{page}");
    s.assert_accessible("choices saved").await;

    let events = app
        .get(&format!("/v1/contacts/{ann}/consent"), &ws.key)
        .await
        .expect(200)["events"]
        .clone();
    let last = events
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .expect("an event");
    assert_eq!(
        (
            last["topic"].as_str(),
            last["action"].as_str(),
            last["method"].as_str()
        ),
        (
            Some("product_news"),
            Some("opt_in"),
            Some("preference_centre")
        ),
        "{events}"
    );
    // The newsletter stayed ticked: no opt-out was recorded.
    assert!(!events.to_string().contains("\"opt_out\""), "{events}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hosted_sign_up_form_passes_axe_and_is_sent_from_the_keyboard() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let ws = app.ready_workspace("Acme").await;
    let form = app
        .post(
            "/v1/forms",
            &ws.key,
            json!({"topic": "marketing", "fields": ["name"],
                   "wording": "Send me the monthly newsletter. I can unsubscribe at any time."}),
        )
        .await
        .expect(201);
    let s = browser.session().await;
    s.goto(&format!(
        "{}/f/{}",
        app.base,
        form["id"].as_str().expect("id")
    ))
    .await;
    s.assert_accessible("sign-up form").await;
    // Tab reaches the address, then the name, then the button: never the honeypot.
    let mut order = Vec::new();
    for _ in 0..3 {
        s.press_tab().await;
        let el = s.active_element().await;
        let name = match el.attr("name").await {
            Some(name) => name,
            None => el.tag_name().await,
        };
        order.push(name);
        if el.attr("name").await.as_deref() == Some("email") {
            el.send_keys("dora@receiver-mail.net").await;
        }
    }
    assert_eq!(order, ["email", "name", "button"], "the Tab order");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    mark_page(&s).await;
    s.press(&[key::ENTER]).await;
    wait_for_new_page(&s, "Enter on Subscribe").await;
    assert!(s.source().await.contains("Check your inbox"));
    s.assert_accessible("sign-up sent").await;
}

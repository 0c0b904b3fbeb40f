//! A workspace's journey through the console in Chromium (issue #16), every
//! page checked with axe-core on the way: a new admin from the invite to a
//! sent mail; an opt-in request confirmed by its recipient in the browser;
//! a viewer who can change nothing; a hostile contact name shown as text.

use crate::support::TestApp;
use crate::webdriver::{Browser, Session};
use serde_json::{json, Value};
use std::time::Duration;

pub(crate) const PASSWORD: &str = "blue harbour lantern 42";
const ADDRESS: &str = "Acme Ltd, 1 Main Street, Springfield 12345, USA";

/// An advance-fee scam, which the content screen blocks.
const SCAM: &str = "Dear friend, I am Barrister James Okoro, solicitor to your long-lost relative who died \
    leaving an inheritance of $15,500,000 (Fifteen Million Five Hundred Thousand Dollars) in a Swiss bank account. \
    As next of kin you will receive 40% of the funds. To release the transfer, send your full name, bank account \
    number and a processing fee of $450. Keep this strictly confidential.";

/// A workspace whose first admin is `email`: (API key, invite URL).
async fn invited_workspace(app: &TestApp, name: &str, email: &str) -> (String, String) {
    let created = app
        .post(
            "/v1/workspaces",
            &app.operator,
            json!({"name": name, "admin_email": email}),
        )
        .await
        .expect(201);
    (
        created["api_key"].as_str().expect("key").to_owned(),
        created["invite_url"].as_str().expect("invite").to_owned(),
    )
}

pub(crate) async fn type_into(s: &Session, label: &str, text: &str) {
    let field = s.field(label).await;
    field.clear().await;
    field.send_keys(text).await;
}

async fn choose(s: &Session, label: &str, value: &str) {
    let field = s.field(label).await;
    s.execute(
        "arguments[0].value = arguments[1];",
        &[field.json(), Value::String(value.to_owned())],
    )
    .await;
}

/// Clicks the button named `name` and waits until the page it leads to
/// has loaded (a click returns before a form's answer has arrived).
pub(crate) async fn press(s: &Session, name: &str) {
    mark_page(s).await;
    s.button(name).await.click().await;
    wait_for_new_page(s, &format!("pressing {name:?}")).await;
}

/// Marks the page's root element: a new page (or one a script wrote in
/// place) has a root without the mark.
pub(crate) async fn mark_page(s: &Session) {
    s.execute("document.documentElement.dataset.sendwellOld = '1';", &[])
        .await;
}

/// Waits until the page marked by [`mark_page`] has given way to a new one.
pub(crate) async fn wait_for_new_page(s: &Session, what: &str) {
    for _ in 0..200 {
        let loaded = s
            .execute(
                "return document.documentElement.dataset.sendwellOld === undefined && document.readyState === 'complete' && document.querySelector('h1') !== null;",
                &[],
            )
            .await;
        if loaded == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} led to no new page");
}

/// Follows the link named `name` and waits for its page.
pub(crate) async fn follow(s: &Session, name: &str) {
    let href = s.link(name).await.attr("href").await.expect("href");
    let url = s
        .execute(
            "return new URL(arguments[0], document.baseURI).href;",
            &[Value::String(href)],
        )
        .await;
    s.goto(url.as_str().expect("url")).await;
}

/// Saves the page as `docs/screenshots/{name}.png` (1280x800) when
/// SENDWELL_SCREENSHOTS names that folder; the README links them.
pub(crate) async fn shot(s: &Session, name: &str) {
    if let Some(dir) = std::env::var_os("SENDWELL_SCREENSHOTS") {
        s.screenshot(std::path::Path::new(&dir).join(format!("{name}.png")))
            .await;
    }
}

pub(crate) async fn heading(s: &Session) -> String {
    s.find("h1").await.text().await
}

/// Accepts an invite in the browser and lands on Home.
async fn accept_invite(s: &Session, url: &str) {
    s.goto(url).await;
    assert_eq!(heading(s).await, "Welcome to sendwell");
    s.assert_accessible("invite").await;
    type_into(s, "Password", PASSWORD).await;
    type_into(s, "Confirm password", PASSWORD).await;
    press(s, "Set password").await;
    assert_eq!(heading(s).await, "Home", "{}", s.source().await);
}

/// Opens each page of the workspace navigation by its link, checks it
/// with axe-core, and hands each page's source to `check`.
async fn every_page(s: &Session, mut check: impl FnMut(&str, &str)) {
    for name in [
        "Home",
        "Contacts",
        "Imports",
        "Audiences",
        "Templates",
        "Messages",
        "Suppressions",
        "Settings",
    ] {
        follow(s, name).await;
        s.assert_accessible(name).await;
        check(name, &s.source().await);
    }
}

/// Reloads `url` until `text` is on it (the delivery worker runs beside).
pub(crate) async fn wait_for_text(s: &Session, url: &str, text: &str) -> String {
    for _ in 0..100 {
        s.goto(url).await;
        let source = s.source().await;
        if source.contains(text) {
            return source;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never showed {text:?}: {}", s.source().await);
}

fn csv_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("people.csv");
    std::fs::write(
        &path,
        "email,name,plan\nann@gmail.com,Ann,pro\nbob@yahoo.com,Bob,free\ncarla@outlook.com,Carla,pro\n",
    )
    .expect("CSV written");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_admin_goes_from_the_invite_to_a_sent_mail() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let (_key, invite) = invited_workspace(&app, "Acme", "ada@acme-mail.com").await;
    let s = browser.session().await;
    accept_invite(&s, &invite).await;

    // Signed out, the console asks for the password again.
    press(&s, "Sign out").await;
    assert_eq!(heading(&s).await, "Sign in");
    s.assert_accessible("sign in").await;
    shot(&s, "sign-in").await;
    type_into(&s, "Email", "ada@acme-mail.com").await;
    type_into(&s, "Password", PASSWORD).await;
    press(&s, "Sign in").await;
    assert_eq!(heading(&s).await, "Home");

    // The checklist: the address (with its error at the field first), then the guidelines.
    type_into(&s, "Physical address", "x").await;
    press(&s, "Save address").await;
    let field = s.field("Physical address").await;
    assert_eq!(field.attr("aria-invalid").await.as_deref(), Some("true"));
    s.assert_accessible("home with an error").await;
    type_into(&s, "Physical address", ADDRESS).await;
    press(&s, "Save address").await;
    assert!(s.source().await.contains("The physical address is saved"));
    press(&s, "Accept").await;
    let home = s.source().await;
    assert!(home.contains("You accepted the guidelines"), "{home}");
    assert!(home.contains("This workspace can send."), "{home}");
    shot(&s, "home").await;

    // An import with declared consent.
    follow(&s, "Imports").await;
    s.assert_accessible("imports").await;
    choose(&s, "Where the list came from", "signup_form").await;
    choose(&s, "Their consent to marketing", "opt_in").await;
    type_into(
        &s,
        "How consent was collected",
        "Checkbox 'Email me product news' on our sign-up form, 2024-2026",
    )
    .await;
    let dir = tempfile::tempdir().expect("dir");
    s.field("CSV file")
        .await
        .send_keys(csv_file(dir.path()).to_str().expect("path"))
        .await;
    press(&s, "Import").await;
    assert_eq!(heading(&s).await, "Import result", "{}", s.source().await);
    s.assert_accessible("import result").await;
    shot(&s, "import-result").await;
    assert!(s.source().await.contains("Accepted"));

    // The audience: a filter with a mistake, then a good one.
    follow(&s, "Audiences").await;
    type_into(&s, "Filter", "plan iz \"pro\"").await;
    press(&s, "Count").await;
    let filter = s.field("Filter").await;
    assert_eq!(filter.attr("aria-invalid").await.as_deref(), Some("true"));
    type_into(&s, "Filter", "plan is \"pro\"").await;
    press(&s, "Count").await;
    let counted = s.source().await;
    assert!(
        counted.contains("<strong>2</strong> of 2 matching contacts"),
        "{counted}"
    );
    s.assert_accessible("audiences").await;
    shot(&s, "audiences").await;

    // Compose: the screen blocks a scam in preflight; fixed, it is ready.
    follow(&s, "Messages").await;
    follow(&s, "Compose a message").await;
    s.assert_accessible("composer").await;
    type_into(&s, "Name", "Spring news").await;
    type_into(&s, "From address", "news@acme-mail.com").await;
    type_into(&s, "Subject", "Confidential: your inheritance").await;
    type_into(&s, "Heading", "News from Acme").await;
    type_into(&s, "Body (HTML)", &format!("<p>{SCAM}</p>")).await;
    type_into(&s, "Audience filter", "plan is \"pro\"").await;
    press(&s, "Check").await;
    let blocked = s.source().await;
    assert!(
        blocked.contains("Blocked: each item says what to change."),
        "{blocked}"
    );
    assert!(blocked.contains("Content screening: block"), "{blocked}");
    assert!(
        blocked.contains("<mark>"),
        "the hit's snippet is highlighted"
    );
    s.assert_accessible("preflight report").await;
    s.execute(
        "document.getElementById('preflight-heading').scrollIntoView();",
        &[],
    )
    .await;
    shot(&s, "composer-blocked").await;
    type_into(&s, "Subject", "The spring release").await;
    type_into(
        &s,
        "Body (HTML)",
        "<p>Hello {{ first_name }}, our spring release brings faster search and a new dashboard.</p>",
    )
    .await;
    press(&s, "Check").await;
    let checked = s.find("main").await.text().await;
    assert!(
        checked.contains("Ready: nothing blocks this message."),
        "{checked}"
    );
    press(&s, "Save draft").await;
    assert_eq!(heading(&s).await, "Spring news");
    s.assert_accessible("message").await;
    let message_url = s.current_url().await;

    // The preview, as the frame shows it.
    let frame = s.find("iframe.preview").await;
    assert_eq!(frame.attr("sandbox").await.as_deref(), Some(""));
    s.goto(&format!("{message_url}/preview.html")).await;
    let preview = s.source().await;
    assert!(preview.contains("our spring release"), "{preview}");
    assert!(preview.contains(ADDRESS), "the footer carries the address");

    // Send, with the number of recipients on the button.
    s.goto(&message_url).await;
    press(&s, "Send to 2 people").await;
    let sent = wait_for_text(&s, &message_url, "Captured mail of this message").await;
    shot(&s, "message-sent").await;
    follow(&s, "Settings").await;
    shot(&s, "settings").await;
    follow(&s, "Contacts").await;
    shot(&s, "contacts").await;
    assert!(
        sent.contains("ann@gmail.com") && sent.contains("carla@outlook.com"),
        "{sent}"
    );
    assert!(!sent.contains("bob@yahoo.com"), "the filter left Bob out");
    s.screenshot(dir.path().join("message.png")).await;

    // A sent message is copied into a new draft, ready to change.
    s.goto(&message_url).await;
    press(&s, "Copy into a new draft").await;
    assert_eq!(heading(&s).await, "Spring news (copy)");
    let copied = s.find("main").await.text().await;
    assert!(
        copied.contains("A copy of the message, as a draft"),
        "{copied}"
    );
    assert!(copied.contains("draft"), "{copied}");
    s.assert_accessible("copied message").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opt_in_request_is_confirmed_in_the_browser_and_lands_in_the_ledger() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let (key, invite) = invited_workspace(&app, "Acme", "ada@acme-mail.com").await;
    ready(&app, &key).await;
    let contact = app
        .contact(&key, json!({"email": "dora@gmail.com", "name": "Dora"}))
        .await;
    let s = browser.session().await;
    accept_invite(&s, &invite).await;
    follow(&s, "Messages").await;
    follow(&s, "Compose a message").await;
    choose(&s, "Kind", "opt_in_request").await;
    type_into(&s, "Name", "May we write?").await;
    type_into(&s, "From address", "news@acme-mail.com").await;
    type_into(&s, "Subject", "May we send you our news?").await;
    type_into(&s, "Heading", "A question from Acme").await;
    type_into(
        &s,
        "Body (HTML)",
        "<p>We would like to send you our monthly news.</p>{% opt_in_button \"Yes, keep me posted\" %}",
    )
    .await;
    press(&s, "Save draft").await;
    assert_eq!(
        heading(&s).await,
        "May we write?",
        "{}",
        s.find("main").await.text().await
    );
    let message_url = s.current_url().await;
    press(&s, "Send to 1 person").await;
    wait_for_text(&s, &message_url, "dora@gmail.com").await;

    // The recipient opens the mail's button link and confirms.
    let raw = captured_raw(&app, &key).await;
    let link = link_in(&raw, "/optin/");
    let recipient = browser.session().await;
    recipient.goto(&link).await;
    press(&recipient, "Yes, keep me posted").await;
    assert!(recipient.source().await.to_lowercase().contains("thank"));

    s.goto(&format!("{}/contacts/{contact}", app.base)).await;
    s.assert_accessible("contact").await;
    let page = s.source().await;
    let ledger = &page[page.find("Consent ledger").expect("ledger")..];
    assert!(ledger.contains("opt_in"), "{ledger}");
    assert!(
        page.contains("(confirmed)") || page.contains("opted in"),
        "{page}"
    );
}

async fn ready(app: &TestApp, key: &str) {
    app.patch("/v1/workspace", key, json!({"physical_address": ADDRESS}))
        .await
        .expect(200);
    let version = app.get("/v1/guidelines", key).await.expect(200)["version"].clone();
    app.post(
        "/v1/guidelines/accept",
        key,
        json!({"version": version, "accepted_by": "Ada Admin"}),
    )
    .await
    .expect(200);
}

async fn captured_raw(app: &TestApp, key: &str) -> String {
    let list = app.get("/v1/outbox", key).await.expect(200);
    let id = list["items"][0]["id"].as_str().expect("a captured mail");
    let response = app
        .client
        .get(app.url(&format!("/v1/outbox/{id}/raw")))
        .bearer_auth(key)
        .send()
        .await
        .expect("raw");
    response.text().await.expect("text")
}

/// The first link in a raw mail whose path starts with `marker`,
/// quoted-printable soft breaks undone.
fn link_in(raw: &str, marker: &str) -> String {
    let text = raw.replace("=\r\n", "").replace("=3D", "=");
    let at = text.find(marker).expect("a link");
    let start = text[..at].rfind("http").expect("the link's start");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<' && *c != '>')
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_sees_no_form_that_changes_anything() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let (key, _) = invited_workspace(&app, "Acme", "ada@acme-mail.com").await;
    let contact = app
        .contact(&key, json!({"email": "ann@gmail.com", "name": "Ann"}))
        .await;
    let invited = app
        .post(
            "/v1/members",
            &key,
            json!({"email": "vic@acme-mail.com", "role": "viewer"}),
        )
        .await
        .expect(201);
    let s = browser.session().await;
    accept_invite(&s, invited["invite_url"].as_str().expect("url")).await;
    let mut pages = Vec::new();
    every_page(&s, |name, _| pages.push(name.to_owned())).await;
    s.goto(&format!("{}/contacts/{contact}", app.base)).await;
    for url in [
        format!("{}/contacts/{contact}", app.base),
        format!("{}/", app.base),
        format!("{}/settings", app.base),
        format!("{}/imports", app.base),
    ] {
        s.goto(&url).await;
        let actions: Vec<String> = s
            .execute(
                "return Array.from(document.querySelectorAll('form')).filter(f => f.method === 'post').map(f => new URL(f.action).pathname);",
                &[],
            )
            .await
            .as_array()
            .expect("list")
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(actions, vec!["/logout".to_owned()], "{url}");
    }
    // Posting a changing form anyway, with the page's own token, is refused.
    s.execute(
        "const form = document.createElement('form');\
         form.method = 'post'; form.action = '/settings/address';\
         for (const [name, value] of [['csrf', document.querySelector('input[name=csrf]').value], ['physical_address', arguments[0]]]) {\
           const input = document.createElement('input'); input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);\
         }\
         const button = document.createElement('button'); button.textContent = 'Forged'; form.appendChild(button);\
         document.body.appendChild(form);",
        &[Value::String(ADDRESS.to_owned())],
    )
    .await;
    press(&s, "Forged").await;
    assert_eq!(heading(&s).await, "Not allowed");
    let ws = app.get("/v1/workspace", &key).await.expect(200);
    assert!(ws["physical_address"].is_null());
    assert_eq!(pages.len(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_contact_name_is_shown_as_text() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let (key, invite) = invited_workspace(&app, "Acme", "ada@acme-mail.com").await;
    let name = "<script>alert(1)</script>";
    let contact = app
        .contact(&key, json!({"email": "x@gmail.com", "name": name}))
        .await;
    let s = browser.session().await;
    accept_invite(&s, &invite).await;
    for path in ["/contacts".to_owned(), format!("/contacts/{contact}")] {
        s.goto(&format!("{}{path}", app.base)).await;
        let shown = s
            .execute(
                "return Array.from(document.querySelectorAll('td, dd')).some(e => e.textContent === arguments[0]);",
                &[Value::String(name.to_owned())],
            )
            .await;
        assert_eq!(shown, json!(true), "{path}: the name is text on the page");
        let scripts = s
            .execute(
                "return Array.from(document.scripts).map(s => s.src || 'inline');",
                &[],
            )
            .await;
        assert_eq!(
            scripts,
            json!([format!("{}/static/console.js", app.base)]),
            "{path}"
        );
        s.assert_accessible(&path).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audience_counts_follow_the_filter_as_it_is_typed() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let (key, invite) = invited_workspace(&app, "Acme", "ada@acme-mail.com").await;
    for (email, plan) in [
        ("ann@gmail.com", "pro"),
        ("bob@yahoo.com", "free"),
        ("carla@outlook.com", "pro"),
    ] {
        let id = app
            .contact(&key, json!({"email": email, "attributes": {"plan": plan}}))
            .await;
        app.post(
            &format!("/v1/contacts/{id}/consent"),
            &key,
            json!({"action": "opt_in", "method": "form", "evidence": {"wording": "News please"}}),
        )
        .await
        .expect(201);
    }
    let s = browser.session().await;
    accept_invite(&s, &invite).await;
    follow(&s, "Audiences").await;
    assert!(s.source().await.contains("<strong>3</strong> of 3"));
    s.field("Filter").await.send_keys("plan is \"pro\"").await;
    let live = |text: &'static str| {
        let s = &s;
        async move {
            for _ in 0..100 {
                if s.source().await.contains(text) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(
        live("<strong>2</strong> of 2").await,
        "the counts follow the filter without a submit: {}",
        s.source().await
    );
    s.field("Filter").await.send_keys(" and").await;
    assert!(
        live("id=\"filter-error\"").await,
        "the error shows at the field"
    );
    s.assert_accessible("audiences, live").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_and_moving_around_work_from_the_keyboard() {
    use crate::webdriver::key;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let (_key, invite) = invited_workspace(&app, "Acme", "ada@acme-mail.com").await;
    let s = browser.session().await;
    accept_invite(&s, &invite).await;
    press(&s, "Sign out").await;
    // Tab to each field, type, and Enter to send the form.
    s.press_tab().await;
    assert_eq!(
        s.active_element().await.attr("id").await.as_deref(),
        Some("email")
    );
    s.active_element()
        .await
        .send_keys("ada@acme-mail.com")
        .await;
    s.press_tab().await;
    assert_eq!(
        s.active_element().await.attr("id").await.as_deref(),
        Some("password")
    );
    mark_page(&s).await;
    s.active_element().await.send_keys(PASSWORD).await;
    s.press(&[key::ENTER]).await;
    wait_for_new_page(&s, "Enter in the password field").await;
    assert_eq!(heading(&s).await, "Home");
    // The first Tab reaches the skip link, which leads past the navigation.
    s.press_tab().await;
    let skip = s.active_element().await;
    assert_eq!(skip.text().await, "Skip to content");
    assert_eq!(skip.attr("href").await.as_deref(), Some("#main"));
    // Every link of the navigation is reached by Tab, in order.
    let mut reached = Vec::new();
    for _ in 0..20 {
        if reached.len() == NAV.len() {
            break;
        }
        s.press_tab().await;
        let el = s.active_element().await;
        if el.tag_name().await == "a" {
            let text = el.text().await;
            if crate::journey::NAV.contains(&text.as_str()) {
                reached.push(text);
            }
        }
    }
    assert_eq!(reached, NAV, "the navigation in Tab order");
}

const NAV: [&str; 8] = [
    "Home",
    "Contacts",
    "Imports",
    "Audiences",
    "Templates",
    "Messages",
    "Suppressions",
    "Settings",
];

/// Every page an admin can reach passes axe-core, the ones the journeys do
/// not open included.
#[tokio::test(flavor = "multi_thread")]
async fn every_other_page_passes_the_accessibility_check() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let (key, invite) = invited_workspace(&app, "Acme", "ada@acme-mail.com").await;
    ready(&app, &key).await;
    let contact = app
        .contact(&key, json!({"email": "ann@gmail.com", "name": "Ann"}))
        .await;
    let template = app
        .post(
            "/v1/templates",
            &key,
            json!({"name": "News", "template": {"layout": "plain", "text": "Hello {{ first_name }}"}}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let hook = app
        .post(
            "/v1/webhooks",
            &key,
            json!({"url": "https://hooks.example.com/sendwell"}),
        )
        .await;
    let s = browser.session().await;
    accept_invite(&s, &invite).await;
    // A second workspace, so that the chooser has a choice.
    let other = app.workspace("Globex").await;
    app.post(
        "/v1/members",
        &other.key,
        json!({"email": "ada@acme-mail.com", "role": "viewer"}),
    )
    .await
    .expect(201);
    let mut pages = vec![
        "/templates/new".to_owned(),
        format!("/templates/{template}"),
        "/messages/new".to_owned(),
        "/settings".to_owned(),
        "/settings/totp".to_owned(),
        format!("/contacts/{contact}/erase"),
        "/contacts?filter=plan+iz".to_owned(),
        "/suppressions".to_owned(),
        "/workspaces".to_owned(),
    ];
    if hook.status.is_success() {
        pages.push(format!(
            "/settings/webhooks/{}",
            hook.body["id"].as_str().expect("id")
        ));
    }
    for page in &pages {
        s.goto(&format!("{}{page}", app.base)).await;
        s.assert_accessible(page).await;
    }
    press(&s, "Sign out").await;
    for page in ["/reset", "/login"] {
        s.goto(&format!("{}{page}", app.base)).await;
        s.assert_accessible(page).await;
    }
}

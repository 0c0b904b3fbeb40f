//! The operator's console in Chromium (issue #17), every page checked with
//! axe-core on the way: a workspace pushed over the suspend line by 12%
//! refusals at a test relay is worked from the case queue by an operator
//! who signs in with a second factor, reinstated on probation, and ends
//! `active` after a clean send or `withdrawn` when the bounces go on, on a
//! clock the test moves; an auditor can submit no form; a content-review
//! approval releases the held mail.

use crate::journey::{follow, heading, press, shot, type_into, wait_for_text, PASSWORD};
use crate::support::{
    import_bad_and_good, relay_to, send_news, RefusesBad, ShiftedClock, TestApp, Workspace,
};
use crate::webdriver::{Browser, Session};
use sendwell_core::OperatorRole;
use sendwell_server::smtp::sink::{SinkOptions, SmtpSink};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The operator console's navigation.
const NAV: [&str; 8] = [
    "Overview",
    "Workspaces",
    "Cases",
    "Imports",
    "Reviews",
    "Reports",
    "Policy",
    "Guidelines",
];

async fn state_of(app: &TestApp, ws: &Workspace) -> String {
    app.get(&format!("/v1/workspaces/{}", ws.id), &app.operator)
        .await
        .expect(200)["state"]
        .as_str()
        .expect("state")
        .to_owned()
}

async fn wait_state(app: &TestApp, ws: &Workspace, state: &str) {
    let started = Instant::now();
    while state_of(app, ws).await != state {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never {state}: {}",
            state_of(app, ws).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the message has no delivery left to send.
async fn settled(app: &TestApp, ws: &Workspace, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let m = app
            .get(&format!("/v1/messages/{id}"), &ws.key)
            .await
            .expect(200);
        if m["state"] != "sending" && m["counts"]["queued"].as_i64().unwrap_or(0) == 0 {
            return m;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "settled: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Adds `email` to the delivery team with `role`, and walks the browser
/// through the setup link (password and second factor) to the overview.
async fn sign_in_as_new_operator(app: &TestApp, s: &Session, email: &str, role: OperatorRole) {
    let address = sendwell_core::EmailAddress::parse(email).expect("address");
    let (_, link) = sendwell_server::accounts::add_operator(&app.state, &address, role, "test")
        .await
        .expect("added");
    s.goto(&link).await;
    assert_eq!(heading(s).await, "Set up your delivery team account");
    s.assert_accessible("operator setup").await;
    shot(s, "operator-setup").await;
    type_into(s, "Your name", "Olga").await;
    type_into(s, "Password", PASSWORD).await;
    type_into(s, "Confirm password", PASSWORD).await;
    let hex = s
        .execute(
            "return document.querySelector('input[name=secret]').value;",
            &[],
        )
        .await;
    let secret = sendwell_core::secret::from_hex(hex.as_str().expect("hex")).expect("secret");
    let now = app.state.store.now().millis() / 1000;
    let code = format!("{:06}", sendwell_server::totp::code_at(&secret, now));
    type_into(s, "Authentication code", &code).await;
    press(s, "Set up and sign in").await;
    assert_eq!(heading(s).await, "Overview", "{}", s.source().await);
}

/// The run, in the browser: suspended by the enforcement path,
/// worked from the case queue, reinstated, and judged when probation ends.
async fn probation_run(bounces_go_on: bool) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sink = SmtpSink::start(Arc::new(RefusesBad), SinkOptions::default())
        .await
        .expect("sink");
    let addr = sink.addr();
    let clock = Arc::new(ShiftedClock::default());
    let app = TestApp::spawn_with_clock(None, clock.clone(), move |s| {
        relay_to(s, addr);
        // The browser reaches the server at its bound address.
        s.public_url = None;
        let d = &mut s.delivery;
        d.insecure_skip_domain_verification = true;
        d.batch = 1000;
        d.pipelines = 1;
        s.worker_idle_ms = 50;
    })
    .await;
    let ws = app.established_workspace("Bulkmail Ltd").await;
    import_bad_and_good(&app, &ws, "bad", 120, 880).await;
    // The first send goes out in one batch; the second is queued behind it
    // and held when the first's bounces suspend the workspace.
    let (first, queued) = send_news(&app, &ws, "first").await;
    assert_eq!(queued, 1000);
    let (held, _) = send_news(&app, &ws, "held").await;
    settled(&app, &ws, &first).await;
    wait_state(&app, &ws, "suspended").await;

    let s = browser.session().await;
    sign_in_as_new_operator(&app, &s, "olga@platform.example", OperatorRole::Operator).await;
    s.assert_accessible("overview").await;
    shot(&s, "operator-overview").await;
    follow(&s, "Workspaces").await;
    let list = s.source().await;
    assert!(
        list.contains("Bulkmail Ltd") && list.contains("12.00%"),
        "{list}"
    );
    s.assert_accessible("workspaces").await;
    shot(&s, "operator-workspaces").await;
    follow(&s, "Cases").await;
    let cases = s.source().await;
    assert!(cases.contains("Open cases, oldest first (1)"), "{cases}");
    assert!(cases.contains("Bulkmail Ltd"));
    assert!(cases.contains("Sends and outcomes by day"), "the evidence");
    assert!(cases.contains("receiver-mail.net"), "the bouncing domain");
    s.assert_accessible("cases").await;
    shot(&s, "operator-cases").await;
    type_into(
        &s,
        "Note",
        "Called them: a bought list was mailed; it is deleted.",
    )
    .await;
    press(&s, "Add note").await;
    assert!(s.source().await.contains("operator:olga@platform.example"));
    type_into(&s, "Probation days", "14").await;
    type_into(
        &s,
        "Note for the record",
        "Reinstated after the list was deleted.",
    )
    .await;
    press(&s, "Reinstate on probation").await;
    let after = s.source().await;
    assert!(after.contains("The workspace is on probation"), "{after}");
    assert!(after.contains("On probation (1)"), "{after}");
    assert_eq!(state_of(&app, &ws).await, "probation");
    // The held mail goes, without the refused addresses (suppressed).
    let started = Instant::now();
    let m = loop {
        let m = app
            .get(&format!("/v1/messages/{held}"), &ws.key)
            .await
            .expect(200);
        let left = |k: &str| m["counts"][k].as_i64().unwrap_or(0);
        if left("held") == 0 && left("queued") == 0 && m["state"] != "sending" {
            break m;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "released: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(m["counts"]["delivered"], 880, "{m}");
    if bounces_go_on {
        import_bad_and_good(&app, &ws, "badnew", 120, 0).await;
        let (third, _) = send_news(&app, &ws, "third").await;
        settled(&app, &ws, &third).await;
    }
    // Probation progress is shown; then, fifteen days on, it is judged.
    let ws_url = format!("{}/operator/workspaces/{}", app.base, ws.id);
    s.goto(&ws_url).await;
    assert!(s.source().await.contains("Sends since reinstatement"));
    s.assert_accessible("workspace on probation").await;
    shot(&s, "operator-workspace").await;
    clock.advance_days(15);
    let expected = if bounces_go_on { "withdrawn" } else { "active" };
    wait_state(&app, &ws, expected).await;
    // The browser's session is older than the moved clock allows: the
    // operator signs in again, with a code.
    s.goto(&format!("{}/operator/cases", app.base)).await;
    assert_eq!(heading(&s).await, "Delivery team sign-in");
    s.assert_accessible("operator sign-in").await;
    type_into(&s, "Email", "olga@platform.example").await;
    type_into(&s, "Password", PASSWORD).await;
    press(&s, "Sign in").await;
    assert_eq!(heading(&s).await, "Two-step sign-in");
    s.assert_accessible("operator second step").await;
    let secret = app
        .state
        .store
        .account_by_email("olga@platform.example")
        .await
        .expect("store")
        .and_then(|a| a.totp_secret)
        .and_then(|h| sendwell_core::secret::from_hex(&h))
        .expect("the secret set up");
    let now = app.state.store.now().millis() / 1000;
    type_into(
        &s,
        "Authentication code",
        &format!("{:06}", sendwell_server::totp::code_at(&secret, now)),
    )
    .await;
    press(&s, "Verify").await;
    assert_eq!(heading(&s).await, "Review cases");
    let decided = s.source().await;
    assert!(decided.contains("Recently decided"), "{decided}");
    assert!(
        decided.contains(&format!("<td>{expected}</td>")),
        "{decided}"
    );
    let page = wait_for_text(&s, &ws_url, &format!("probation → {expected}")).await;
    assert!(
        page.contains(&format!("State</dt><dd>{expected}")),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_workspace_is_reinstated_in_the_browser_and_a_clean_probation_ends_active() {
    probation_run(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_workspace_whose_bounces_go_on_in_probation_ends_withdrawn() {
    probation_run(true).await;
}

/// The mail the content screen holds for review (shouting, urgency).
const GREY: &str =
    "Our spring sale ends tonight. Thirty percent off everything in the shop with code \
    SPRING30. Act now, limited time only!";

/// A message of `ws` held for content review.
async fn held_for_review(app: &TestApp, ws: &Workspace) -> String {
    let id = app
        .contact(&ws.key, json!({"email": "ann@gmail.com", "name": "Ann"}))
        .await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form", "evidence": {"wording": "News please"}}),
    )
    .await
    .expect(201);
    let m = app
        .post(
            "/v1/messages",
            &ws.key,
            json!({"name": "Grey", "kind": "marketing",
                   "from": {"name": "Acme", "address": "news@acme-mail.com"},
                   "subject": "LAST CHANCE TO SAVE BIG!!!",
                   "template": {"layout": "plain", "text": GREY}}),
        )
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    let sent = app
        .post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    assert_eq!(sent["review"], "pending", "{sent}");
    id
}

/// The paths of the forms on the page that post.
async fn posting_forms(s: &Session) -> Vec<String> {
    s.execute(
        "return Array.from(document.querySelectorAll('form')).filter(f => f.method === 'post').map(f => new URL(f.action).pathname);",
        &[],
    )
    .await
    .as_array()
    .expect("list")
    .iter()
    .map(|v| v.as_str().unwrap_or("").to_owned())
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auditor_can_submit_no_form_and_an_operator_releases_held_mail() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::sqlite().await;
    let ws = app.ready_workspace("Acme").await;
    let message = held_for_review(&app, &ws).await;
    // An auditor reads every page, inner pages included, and finds no
    // form but signing out; a forged one is refused.
    let s = browser.session().await;
    sign_in_as_new_operator(&app, &s, "anna@platform.example", OperatorRole::Auditor).await;
    // From the keyboard: the skip link first, then the navigation in order.
    s.press_tab().await;
    let skip = s.active_element().await;
    assert_eq!(skip.text().await, "Skip to content");
    let mut reached = Vec::new();
    for _ in 0..20 {
        if reached.len() == NAV.len() {
            break;
        }
        s.press_tab().await;
        let el = s.active_element().await;
        if el.tag_name().await == "a" {
            let text = el.text().await;
            if NAV.contains(&text.as_str()) {
                reached.push(text);
            }
        }
    }
    assert_eq!(reached, NAV, "the operator navigation in Tab order");
    for name in NAV {
        follow(&s, name).await;
        s.assert_accessible(&format!("{name} (auditor)")).await;
        assert_eq!(
            posting_forms(&s).await,
            vec!["/operator/logout".to_owned()],
            "{name}"
        );
    }
    for path in [
        format!("/operator/workspaces/{}", ws.id),
        format!("/operator/reviews/{message}"),
        "/operator/reports?state=all".to_owned(),
    ] {
        s.goto(&format!("{}{path}", app.base)).await;
        s.assert_accessible(&path).await;
        assert_eq!(
            posting_forms(&s).await,
            vec!["/operator/logout".to_owned()],
            "{path}"
        );
    }
    s.execute(
        "const form = document.createElement('form');\
         form.method = 'post'; form.action = arguments[0];\
         for (const [name, value] of [['csrf', document.querySelector('input[name=csrf]').value], ['decision', 'approve'], ['note', 'fine']]) {\
           const input = document.createElement('input'); input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);\
         }\
         const button = document.createElement('button'); button.textContent = 'Forged'; form.appendChild(button);\
         document.body.appendChild(form);",
        &[Value::String(format!("/operator/reviews/{message}/decide"))],
    )
    .await;
    press(&s, "Forged").await;
    assert_eq!(heading(&s).await, "Auditors only read");
    let m = app
        .get(&format!("/v1/messages/{message}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(m["counts"]["review"], 1, "still held: {m}");
    press(&s, "Sign out").await;

    // An operator reads the held mail (sandboxed) and approves it: the
    // held delivery goes out.
    let s = browser.session().await;
    sign_in_as_new_operator(&app, &s, "olga@platform.example", OperatorRole::Operator).await;
    follow(&s, "Reviews").await;
    s.goto(&format!("{}/operator/reviews/{message}", app.base))
        .await;
    let page = s.source().await;
    assert!(
        page.contains("<mark>"),
        "the rule hits are marked in place: {page}"
    );
    let frame = s.find("iframe").await;
    assert_eq!(frame.attr("sandbox").await.as_deref(), Some(""));
    s.assert_accessible("a held mail").await;
    shot(&s, "operator-review").await;
    type_into(&s, "Note to the workspace", "A normal sale; fine to send.").await;
    press(&s, "Approve and send").await;
    let started = Instant::now();
    loop {
        let m = app
            .get(&format!("/v1/messages/{message}"), &ws.key)
            .await
            .expect(200);
        if m["counts"]["review"] == 0 && m["counts"]["delivered"] == 1 {
            assert_eq!(m["review"]["state"], "approved", "{m}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "released: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every other page an operator reaches passes axe-core too.
    for path in [
        "/operator/policy".to_owned(),
        "/operator/guidelines".to_owned(),
        "/operator/imports?status=all".to_owned(),
        "/operator/reviews?state=approved".to_owned(),
        format!("/operator/workspaces/{}", ws.id),
    ] {
        s.goto(&format!("{}{path}", app.base)).await;
        s.assert_accessible(&path).await;
    }
    shot(&s, "operator-policy").await;
}

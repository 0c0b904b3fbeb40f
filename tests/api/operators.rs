//! The operator's console over plain HTTP (issue #17), on both backends:
//! operator accounts with a second factor that is always asked for, their
//! sessions kept apart from workspace members', auditors who read and
//! change nothing, and each page's action doing what the API does.

use crate::members::{csrf_of, Answer, Visitor, PASSWORD};
use crate::on_both;
use crate::support::TestApp;
use sendwell_core::{OperatorRole, StateEvent, WorkspaceId};
use serde_json::{json, Value};
use std::time::Duration;

on_both!(
    an_operator_signs_in_only_with_a_second_factor,
    a_setup_link_works_once_and_only_it_sets_up_an_operator,
    a_password_set_through_a_workspace_invite_opens_no_operator_session,
    operator_and_member_sessions_open_only_their_own_pages,
    an_auditor_reads_every_page_and_changes_nothing,
    a_case_is_worked_from_the_queue_to_probation,
    the_effect_of_a_policy_is_previewed_before_it_is_saved,
    guidelines_are_previewed_then_published,
    a_report_is_marked_handled_once,
    workspaces_are_filtered_by_state_and_sorted_by_rate,
    a_quarantined_import_is_explained_and_approved_with_a_note,
    held_mail_is_shown_sandboxed_and_an_approval_releases_it,
    an_auditor_sees_the_queues_but_no_decision_forms,
);

/// The value of a hidden field of a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field: {page}"));
    let rest = &page[at + marker.len()..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

/// The code an authenticator app shows now (by the server's clock),
/// `steps` steps of 30 seconds ahead.
fn code(app: &TestApp, secret: &[u8], steps: i64) -> String {
    let now = app.state.store.now().millis() / 1000 + steps * 30;
    format!("{:06}", sendwell_server::totp::code_at(secret, now))
}

/// The path of a setup link.
fn setup_path(link: &str) -> String {
    link[link.find("/operator/setup/").expect("setup path")..].to_owned()
}

/// Someone added to the delivery team with `role` who used the setup link
/// (password and second factor) and so is signed in: the visitor and the
/// factor's secret.
pub(crate) async fn operator_of<'a>(
    app: &'a TestApp,
    email: &str,
    role: OperatorRole,
) -> (Visitor<'a>, Vec<u8>) {
    let address = sendwell_core::EmailAddress::parse(email).expect("address");
    let (_, link) = sendwell_server::accounts::add_operator(&app.state, &address, role, "test")
        .await
        .expect("added");
    let path = setup_path(&link);
    let mut v = Visitor::new(app);
    let page = v.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Set up your delivery team account"));
    let secret_hex = hidden(&page.body, "secret");
    let secret = sendwell_core::secret::from_hex(&secret_hex).expect("hex");
    let done = v
        .post(
            &path,
            &[
                ("name", "Olga Operator"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
                ("secret", &secret_hex),
                ("code", &code(app, &secret, 0)),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/operator"));
    (v, secret)
}

/// Signs in again with password and code (`steps` ahead, so that a code
/// used a moment ago is not used twice).
async fn sign_in_again(app: &TestApp, email: &str, secret: &[u8], steps: i64) -> Answer {
    let mut v = Visitor::new(app);
    let step = v
        .post(
            "/operator/login",
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("Two-step sign-in"), "{}", step.body);
    v.post(
        "/operator/login/code",
        &[
            ("pending", &hidden(&step.body, "pending")),
            ("code", &code(app, secret, steps)),
        ],
    )
    .await
}

async fn an_operator_signs_in_only_with_a_second_factor(app: TestApp) {
    let (mut olga, secret) =
        operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;
    let overview = olga.get("/operator").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("Waiting for the team"));
    for name in [
        "Workspaces",
        "Cases",
        "Imports",
        "Reviews",
        "Reports",
        "Policy",
        "Guidelines",
    ] {
        assert!(overview.body.contains(&format!(">{name}</a>")), "{name}");
    }
    // Signing in again asks for the code, never for a new setup.
    let again = sign_in_again(&app, "olga@platform.example", &secret, 1).await;
    assert_eq!(again.status, 303, "{}", again.body);
    let cookie = again.set_cookie.expect("a cookie");
    assert!(
        cookie.starts_with("__Host-sendwell_operator=") || cookie.starts_with("sendwell_operator="),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // A wrong code and a code used already are refused.
    let mut v = Visitor::new(&app);
    let step = v
        .post(
            "/operator/login",
            &[("email", "olga@platform.example"), ("password", PASSWORD)],
        )
        .await;
    let pending = hidden(&step.body, "pending");
    let wrong = v
        .post(
            "/operator/login/code",
            &[("pending", &pending), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    let reused = v
        .post(
            "/operator/login/code",
            &[("pending", &pending), ("code", &code(&app, &secret, 1))],
        )
        .await;
    assert_eq!(reused.status, 401, "a code works once");
    // A pending step made for another purpose (a member's) is not taken.
    let tampered = format!("{pending}x");
    let forged = v
        .post(
            "/operator/login/code",
            &[("pending", &tampered), ("code", &code(&app, &secret, -1))],
        )
        .await;
    assert_eq!(forged.status, 401, "{}", forged.body);
    assert!(v.cookie.is_none());
    // A wrong password gets the sign-in page again, and no step.
    let bad = Visitor::new(&app)
        .post(
            "/operator/login",
            &[
                ("email", "olga@platform.example"),
                ("password", "not the password at all"),
            ],
        )
        .await;
    assert_eq!(bad.status, 401);
    assert!(!bad.body.contains("name=\"pending\""));
    // Signing out ends the session on the server.
    let csrf = olga.csrf("/operator").await;
    let kept = olga.cookie.clone();
    let out = olga.post("/operator/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    olga.cookie = kept;
    let after = olga.get("/operator").await;
    assert_eq!(after.status, 303);
    assert!(after
        .location
        .expect("to sign-in")
        .starts_with("/operator/login"));
}

async fn operator_and_member_sessions_open_only_their_own_pages(app: TestApp) {
    let (_ws, mut ada) = crate::members::admin_of(&app, "Acme", "ada@example.com").await;
    // A member is not on the delivery team: their session opens no
    // operator page, and their password does not start one.
    let refused = ada.get("/operator/cases").await;
    assert_eq!(refused.status, 303);
    assert!(refused
        .location
        .expect("sign-in")
        .starts_with("/operator/login"));
    let not_team = Visitor::new(&app)
        .post(
            "/operator/login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(not_team.status, 403);
    assert!(not_team.body.contains("not on the delivery team"));
    // An operator's session opens no workspace page.
    let (mut olga, _) = operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;
    let home = olga.get("/contacts").await;
    assert_eq!(home.status, 303);
    assert!(home.location.expect("member sign-in").starts_with("/login"));
    // Taken off the team, an operator's session ends at once.
    assert!(app
        .state
        .store
        .remove_operator("olga@platform.example")
        .await
        .expect("removed"));
    let gone = olga.get("/operator").await;
    assert_eq!(gone.status, 303);
    // Forms of the operator console need the session's token and this site.
    let (mut otto, _) = operator_of(&app, "otto@platform.example", OperatorRole::Operator).await;
    let no_token = otto
        .post("/operator/policy", &[("action", "save"), ("csrf", "nope")])
        .await;
    assert_eq!(no_token.status, 403);
    let csrf = otto.csrf("/operator/policy").await;
    let other_site = otto
        .post_with(
            "/operator/policy",
            &[("csrf", &csrf), ("action", "save")],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(other_site.status, 403);
}

/// Every page of the operator navigation, with a few of their inner pages.
const PAGES: [&str; 8] = [
    "/operator",
    "/operator/workspaces",
    "/operator/cases",
    "/operator/imports",
    "/operator/reviews",
    "/operator/reports",
    "/operator/policy",
    "/operator/guidelines",
];

/// The paths of the forms on a page that post, sign-out aside.
fn changing_forms(page: &str) -> Vec<String> {
    page.match_indices("method=\"post\" action=\"")
        .map(|(at, m)| {
            let rest = &page[at + m.len()..];
            rest[..rest.find('"').expect("end")].to_owned()
        })
        .filter(|a| a != "/operator/logout")
        .collect()
}

async fn an_auditor_reads_every_page_and_changes_nothing(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    let (mut anna, _) = operator_of(&app, "anna@platform.example", OperatorRole::Auditor).await;
    let (mut olga, _) = operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;
    let ws_page = format!("/operator/workspaces/{}", ws.id);
    for path in PAGES.iter().copied().chain([ws_page.as_str()]) {
        let page = anna.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains("You are an auditor"), "{path}");
        assert_eq!(changing_forms(&page.body), Vec::<String>::new(), "{path}");
        let as_operator = olga.get(path).await;
        assert_eq!(as_operator.status, 200, "{path}");
    }
    // The operator's page has the forms the auditor's lacks.
    let forms = changing_forms(&olga.get(&ws_page).await.body);
    assert!(forms.contains(&format!("{ws_page}/withdraw")), "{forms:?}");
    // Posting anyway, with the auditor's own token, is refused and changes nothing.
    let csrf = anna.csrf("/operator/workspaces").await;
    let refused = anna
        .post(
            &format!("{ws_page}/withdraw"),
            &[("csrf", &csrf), ("reason", "just looking")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Auditors only read"));
    let policy = anna
        .post(
            "/operator/policy",
            &[("csrf", &csrf), ("action", "save"), ("window_days", "3")],
        )
        .await;
    assert_eq!(policy.status, 403);
    let view = app
        .get(&format!("/v1/workspaces/{}", ws.id), &app.operator)
        .await
        .expect(200);
    assert_ne!(view["state"], "withdrawn");
    let p = app
        .get("/v1/operator/policy", &app.operator)
        .await
        .expect(200);
    assert_eq!(p["window_days"], 30);
}

/// Puts `sends` sends with `hard_bounces` hard bounces in today's counts.
async fn counts_today(app: &TestApp, ws: &str, sends: i64, hard_bounces: i64) {
    let day = app.state.store.now().millis() / 86_400_000;
    let mut db = app.raw_db().await;
    sqlx::query(
        "INSERT INTO reputation_days (workspace_id, day, sends, hard_bounces, complaints) \
         VALUES ($1, $2, $3, $4, 0)",
    )
    .bind(ws.to_owned())
    .bind(day)
    .bind(sends)
    .bind(hard_bounces)
    .execute(&mut db)
    .await
    .expect("counts");
}

/// A workspace the monitor suspended (12% hard bounces), with its case.
async fn suspended(app: &TestApp, name: &str) -> crate::support::Workspace {
    let ws = app.ready_workspace(name).await;
    counts_today(app, &ws.id, 1000, 120).await;
    let id = WorkspaceId::parse(&ws.id).expect("id");
    let store = &app.state.store;
    let _ = store
        .transition_workspace(&id, StateEvent::Activate, "monitor", "first send")
        .await
        .expect("activate");
    let moved = store
        .transition_workspace(
            &id,
            StateEvent::Suspend,
            "monitor",
            "hard bounces 12.00% over the suspend line 10.00%",
        )
        .await
        .expect("store")
        .expect("suspend");
    assert_eq!(moved, Ok(sendwell_core::SendingState::Suspended));
    let evidence = store.case_evidence(&id, 30).await.expect("evidence");
    store
        .open_case(
            &id,
            "hard bounces 12.00% over the suspend line 10.00%",
            &evidence,
        )
        .await
        .expect("case");
    ws
}

async fn a_case_is_worked_from_the_queue_to_probation(app: TestApp) {
    let ws = suspended(&app, "Bulkco").await;
    let (mut olga, _) = operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;
    let queue = olga.get("/operator/cases").await;
    assert!(
        queue.body.contains("Bulkco") && queue.body.contains("12.00%"),
        "{}",
        queue.body
    );
    assert!(
        queue.body.contains("Sends and outcomes by day"),
        "the evidence is shown"
    );
    let case = app
        .get("/v1/operator/cases?state=open", &app.operator)
        .await
        .expect(200)["items"][0]["id"]
        .as_str()
        .expect("case id")
        .to_owned();
    let csrf = csrf_of(&queue.body);
    let note = olga
        .post(
            &format!("/operator/cases/{case}/notes"),
            &[
                ("csrf", &csrf),
                (&format!("case-note-{case}"), "Called the customer."),
            ],
        )
        .await;
    assert_eq!(note.status, 303, "{}", note.body);
    let cases = app
        .get("/v1/operator/cases", &app.operator)
        .await
        .expect(200);
    assert_eq!(
        cases["items"][0]["notes"][0]["author"],
        "operator:olga@platform.example"
    );
    // A reinstatement without a note is refused at the field, as typed.
    let bare = olga
        .post(
            &format!("/operator/workspaces/{}/reinstate", ws.id),
            &[("csrf", &csrf), ("probation_days", "7"), ("note", " ")],
        )
        .await;
    assert_eq!(bare.status, 422, "{}", bare.body);
    assert!(bare.body.contains("aria-invalid=\"true\""));
    let done = olga
        .post(
            &format!("/operator/workspaces/{}/reinstate", ws.id),
            &[
                ("csrf", &csrf),
                ("probation_days", "7"),
                ("note", "The bought list is deleted."),
                ("back", "/operator/cases"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/operator/cases?done=reinstate")
    );
    let view = app
        .get(&format!("/v1/workspaces/{}", ws.id), &app.operator)
        .await
        .expect(200);
    assert_eq!(view["state"], "probation", "{view}");
    let audit = app
        .get(
            &format!("/v1/operator/workspaces/{}/audit-log", ws.id),
            &app.operator,
        )
        .await
        .expect(200)
        .to_string();
    assert!(audit.contains("operator:olga@platform.example"), "{audit}");
    let page = olga.get("/operator/cases").await;
    assert!(page.body.contains("On probation (1)"), "{}", page.body);
    assert!(page.body.contains("Days left"));
    assert!(page.body.contains("reinstated on probation for 7 days"));
    let ws_page = olga.get(&format!("/operator/workspaces/{}", ws.id)).await;
    assert!(ws_page.body.contains("Sends since reinstatement"));
    // A workspace in probation cannot be reinstated again: the API says why.
    let again = olga
        .post(
            &format!("/operator/workspaces/{}/reinstate", ws.id),
            &[("csrf", &csrf), ("probation_days", "7"), ("note", "again")],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again
        .body
        .contains("only a suspended workspace can be reinstated"));
}

async fn the_effect_of_a_policy_is_previewed_before_it_is_saved(app: TestApp) {
    let a = app.ready_workspace("Alpha").await;
    let b = app.ready_workspace("Beta").await;
    let c = app.ready_workspace("Gamma").await;
    counts_today(&app, &a.id, 1000, 30).await;
    counts_today(&app, &b.id, 1000, 40).await;
    counts_today(&app, &c.id, 1000, 5).await;
    let (mut olga, _) = operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;
    let page = olga.get("/operator/policy").await;
    assert!(page.body.contains("Preview the effect"), "{}", page.body);
    assert!(
        !page.body.contains("would be under review"),
        "nothing is judged on a GET"
    );
    let csrf = csrf_of(&page.body);
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("review_hard_bounce_rate", "2"),
        ("suspend_hard_bounce_rate", "10"),
        ("review_complaint_rate", "0.1"),
        ("suspend_complaint_rate", "0.3"),
        ("window_days", "30"),
        ("min_sends", "500"),
        ("breaker_min_deliveries", "1000"),
        ("probation_days", "14"),
    ];
    let mut preview = fields.clone();
    preview.push(("action", "preview"));
    let shown = olga.post("/operator/policy", &preview).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown.body.contains("2 workspaces would be under review"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Alpha, Beta"));
    let p = app
        .get("/v1/operator/policy", &app.operator)
        .await
        .expect(200);
    assert_eq!(
        p["review_hard_bounce_rate"], 0.05,
        "a preview saves nothing"
    );
    // A review line over the suspend line is refused at its field.
    let mut wrong = fields.clone();
    wrong[1] = ("review_hard_bounce_rate", "12");
    wrong.push(("action", "save"));
    let refused = olga.post("/operator/policy", &wrong).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("below the suspend line"),
        "{}",
        refused.body
    );
    fields.push(("action", "save"));
    let saved = olga.post("/operator/policy", &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let p = app
        .get("/v1/operator/policy", &app.operator)
        .await
        .expect(200);
    assert_eq!(p["review_hard_bounce_rate"], 0.02, "{p}");
}

async fn guidelines_are_previewed_then_published(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    let (mut olga, _) = operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;
    let page = olga.get("/operator/guidelines").await;
    assert!(
        page.body.contains("1 of 1 workspaces accepted it"),
        "{}",
        page.body
    );
    let csrf = csrf_of(&page.body);
    let text = "# Sending rules\n\nSend **only** to people who asked.\n\n<script>alert(1)</script>";
    let preview = olga
        .post(
            "/operator/guidelines",
            &[
                ("csrf", &csrf),
                ("text", text),
                ("grace_days", "7"),
                ("action", "preview"),
            ],
        )
        .await;
    assert_eq!(preview.status, 200);
    assert!(
        preview.body.contains("<h1>Sending rules</h1>"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("<strong>only</strong>"));
    assert!(
        !preview.body.contains("<script>alert"),
        "raw HTML is shown as text"
    );
    let current = app.get("/v1/guidelines", &ws.key).await.expect(200);
    let version = current["version"].as_i64().expect("version");
    let bad = olga
        .post(
            "/operator/guidelines",
            &[
                ("csrf", &csrf),
                ("text", text),
                ("grace_days", "400"),
                ("action", "publish"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("grace_days is 0 to 90"), "{}", bad.body);
    let published = olga
        .post(
            "/operator/guidelines",
            &[
                ("csrf", &csrf),
                ("text", text),
                ("grace_days", "7"),
                ("action", "publish"),
            ],
        )
        .await;
    assert_eq!(published.status, 303, "{}", published.body);
    let now = app.get("/v1/guidelines", &ws.key).await.expect(200);
    assert_eq!(now["version"].as_i64(), Some(version + 1));
    let page = olga.get("/operator/guidelines").await;
    assert!(
        page.body.contains("0 of 1 workspaces accepted it"),
        "{}",
        page.body
    );
    assert!(page.body.contains("(not the current one)"));
}

/// An open report of concern `rep_1` about a message of workspace `ws`.
async fn open_report(app: &TestApp, ws: &str) {
    let now = app.state.store.now();
    let message = sendwell_core::MessageId::generate(now);
    let contact = sendwell_core::ContactId::generate(now);
    let mut db = app.raw_db().await;
    sqlx::query(
        "INSERT INTO concern_reports (id, workspace_id, delivery_id, message_id, reason, reporter, ip, proven, created_at) \
         VALUES ('rep_1', $1, $2, $3, 'I never signed up <b>for this</b>', 'pat@example.org', '192.0.2.7', 1, $4)",
    )
    .bind(ws.to_owned())
    .bind(format!("{message}.{contact}"))
    .bind(message.to_string())
    .bind(now.millis())
    .execute(&mut db)
    .await
    .expect("report");
}

async fn a_report_is_marked_handled_once(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    open_report(&app, &ws.id).await;
    let (mut olga, _) = operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;
    let inbox = olga.get("/operator/reports").await;
    assert!(
        inbox
            .body
            .contains("I never signed up &lt;b&gt;for this&lt;/b&gt;"),
        "{}",
        inbox.body
    );
    let csrf = csrf_of(&inbox.body);
    // A blank note is refused beside the report's own field, as typed.
    let blank = olga
        .post(
            "/operator/reports/rep_1/handle",
            &[("csrf", &csrf), ("note", " ")],
        )
        .await;
    assert_eq!(blank.status, 422, "{}", blank.body);
    assert!(
        blank.body.contains("was not marked handled")
            && blank.body.contains("href=\"#note-rep_1\"")
            && blank.body.contains("aria-describedby=\"note-rep_1-error\""),
        "{}",
        blank.body
    );
    assert!(tag_of(&blank.body, "<input id=\"note-rep_1\"").contains("aria-invalid=\"true\""));
    let still = app
        .get("/v1/operator/reports?state=open", &app.operator)
        .await
        .expect(200);
    assert_eq!(still["items"].as_array().map(Vec::len), Some(1), "{still}");
    let handled = olga
        .post(
            "/operator/reports/rep_1/handle",
            &[
                ("csrf", &csrf),
                ("note", "Suppressed; told the workspace."),
                ("note-rep_1", "Suppressed; told the workspace."),
            ],
        )
        .await;
    assert_eq!(handled.status, 303, "{}", handled.body);
    let list = app
        .get("/v1/operator/reports", &app.operator)
        .await
        .expect(200);
    assert_eq!(
        list["items"][0]["handled"]["by"], "operator:olga@platform.example",
        "{list}"
    );
    let open = app
        .get("/v1/operator/reports?state=open", &app.operator)
        .await
        .expect(200);
    assert_eq!(open["items"].as_array().map(Vec::len), Some(0));
    let twice = app
        .post(
            "/v1/operator/reports/rep_1/handle",
            &app.operator,
            json!({"note": "again"}),
        )
        .await;
    assert_eq!(twice.status.as_u16(), 409);
}

async fn workspaces_are_filtered_by_state_and_sorted_by_rate(app: TestApp) {
    let calm = app.ready_workspace("Calm").await;
    counts_today(&app, &calm.id, 1000, 10).await;
    let busy = suspended(&app, "Bouncy").await;
    let (mut olga, _) = operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;
    let by_rate = olga.get("/operator/workspaces?sort=bounces").await;
    let (b, c) = (
        by_rate.body.find(">Bouncy<").expect("Bouncy"),
        by_rate.body.find(">Calm<").expect("Calm"),
    );
    assert!(b < c, "the highest rate first");
    assert!(by_rate.body.contains("Open case"));
    assert!(
        by_rate.body.contains("role=\"img\""),
        "each row has its chart"
    );
    let suspended_only = olga.get("/operator/workspaces?state=suspended").await;
    assert!(suspended_only.body.contains(">Bouncy<") && !suspended_only.body.contains(">Calm<"));
    // Members are listed by name and role, and nothing of their passwords.
    app.post(
        "/v1/members",
        &busy.key,
        json!({"email": "sam@bouncy.example", "role": "sender"}),
    )
    .await
    .expect(201);
    let page = olga.get(&format!("/operator/workspaces/{}", busy.id)).await;
    assert!(page.body.contains("sam@bouncy.example") && page.body.contains("sender"));
    assert!(!page.body.contains("$argon2"));
    assert!(page.body.contains("Hard-bounce rate by day"));
    let missing = olga.get("/operator/workspaces/ws_nope").await;
    assert_eq!(missing.status, 404);
}

/// `text` as the console writes it into a page.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The tag of `page` that starts with `start`, up to its closing `>`.
fn tag_of<'p>(page: &'p str, start: &str) -> &'p str {
    let at = page
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {page}"));
    let rest = &page[at..];
    &rest[..=rest.find('>').expect("end of tag")]
}

/// The part of `page` from `from` to the first `to` after it.
fn between<'p>(page: &'p str, from: &str, to: &str) -> &'p str {
    let at = page
        .find(from)
        .unwrap_or_else(|| panic!("no {from} in {page}"));
    let rest = &page[at..];
    &rest[..rest
        .find(to)
        .unwrap_or_else(|| panic!("no {to} after {from}"))]
}

/// Bought-looking leads: 60 invalid addresses, 40 role accounts and 100
/// addresses never seen, imported into a workspace that already has 150
/// contacts of its own, with a declared opt-in.
const LEADS_QUERY: &str = "source=other&description=Leads%20from%20a%20partner\
    &consent=opt_in&consent_statement=Ticked%20a%20box%20at%20the%20partner%27s%20stand";

fn lead_addresses() -> (Vec<String>, Vec<String>) {
    let invalid = (0..60).map(|i| format!("lead{i}@example.com")).collect();
    let stored = (0..40)
        .map(|i| format!("info@company{i}.com"))
        .chain((0..100).map(|i| format!("prospect{i}@gmail.com")))
        .collect();
    (invalid, stored)
}

/// The report of a quarantined import into the workspace of `key`.
async fn quarantined_import(app: &TestApp, key: &str) -> Value {
    let existing: Vec<Value> = (0..150)
        .map(|i| json!({"email": format!("member{i}@gmail.com")}))
        .collect();
    app.post("/v1/contacts/batch", key, json!({"contacts": existing}))
        .await
        .expect(200);
    let (invalid, stored) = lead_addresses();
    let mut csv = String::from("email,first_name\n");
    for address in invalid.iter().chain(&stored) {
        csv.push_str(&format!("{address},Lead\n"));
    }
    let report = app.import(key, LEADS_QUERY, &csv).await.expect(201);
    assert_eq!(report["status"], "quarantined", "{report}");
    report
}

async fn a_quarantined_import_is_explained_and_approved_with_a_note(app: TestApp) {
    let ws = app.workspace("Leadhaus").await;
    let report = quarantined_import(&app, &ws.key).await;
    let id = report["id"].as_str().expect("id").to_owned();
    let (mut olga, _) = operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;

    // The queue lists it under its workspace's name.
    let queue = olga.get("/operator/imports").await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert!(
        queue
            .body
            .contains(&format!("href=\"/operator/imports/{id}\"")),
        "{}",
        queue.body
    );
    assert!(
        queue.body.contains(&format!(
            "href=\"/operator/workspaces/{0}\">Leadhaus ({0})</a>",
            ws.id
        )),
        "{}",
        queue.body
    );
    assert!(queue.body.contains("Leads from a partner"));

    // Its page explains every signal, says what was declared and shows rows.
    let path = format!("/operator/imports/{id}");
    let page = olga.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let signals = report["signals"].as_array().expect("signals");
    let codes: Vec<&str> = signals
        .iter()
        .map(|s| s["code"].as_str().expect("code"))
        .collect();
    for code in ["invalid", "role", "never_seen"] {
        assert!(codes.contains(&code), "{codes:?}");
    }
    for s in signals {
        let detail = s["detail"].as_str().expect("detail");
        assert!(
            page.body.contains(&escaped(detail)),
            "{detail}: {}",
            page.body
        );
    }
    for meaning in [
        "Addresses that cannot receive mail",
        "Addresses of a function (info@, sales@) rather than a person",
        "Addresses the workspace never had",
    ] {
        assert!(page.body.contains(meaning), "{meaning}: {}", page.body);
    }
    assert!(
        !page.body.contains("This page has no explanation"),
        "every signal is explained: {}",
        page.body
    );
    for declared in [
        "Other (describe below) (other)",
        "Leads from a partner",
        "They opted in to marketing",
        "Ticked a box at the partner's stand",
    ] {
        assert!(page.body.contains(declared), "{declared}: {}", page.body);
    }
    let sample = between(&page.body, "A sample of the rows", "</table>");
    let (invalid, stored) = lead_addresses();
    let shown = stored
        .iter()
        .filter(|a| sample.contains(&format!("<td>{a}</td>")))
        .count();
    assert_eq!(shown, 20, "the first 20 of the rows it stored: {sample}");
    assert!(sample.contains("(of 140)"), "{sample}");
    assert!(
        !invalid.iter().any(|a| sample.contains(a.as_str())) && !sample.contains("member"),
        "only what the import created: {sample}"
    );
    let decide = format!("/operator/imports/{id}/decide");
    assert_eq!(changing_forms(&page.body), vec![decide.clone()]);

    // An empty note gets the API's own error beside the field; nothing changes.
    let api = app
        .post(
            &format!("/v1/operator/imports/{id}/approve"),
            &app.operator,
            json!({"note": ""}),
        )
        .await
        .expect(422);
    assert_eq!(api["errors"][0]["pointer"], "/note", "{api}");
    let says = api["errors"][0]["detail"].as_str().expect("detail");
    let csrf = csrf_of(&page.body);
    let bare = olga
        .post(
            &decide,
            &[("csrf", &csrf), ("decision", "approve"), ("note", "")],
        )
        .await;
    assert_eq!(bare.status, 422, "{}", bare.body);
    let textarea = tag_of(&bare.body, "<textarea id=\"note\"");
    assert!(
        textarea.contains("aria-invalid=\"true\"") && textarea.contains("note-error"),
        "{textarea}"
    );
    assert!(
        bare.body.contains(&format!(
            "<p class=\"field-error\" id=\"note-error\">{}</p>",
            escaped(says)
        )),
        "{says}: {}",
        bare.body
    );
    assert_eq!(
        changing_forms(&bare.body),
        vec![decide.clone()],
        "the form is offered again"
    );
    let held = app
        .get(&format!("/v1/operator/imports/{id}"), &app.operator)
        .await
        .expect(200);
    assert_eq!(held["status"], "quarantined", "{held}");
    assert!(held["review_note"].is_null(), "{held}");

    // With a note it is approved; the note's line break becomes a space.
    let approved = olga
        .post(
            &decide,
            &[
                ("csrf", &csrf),
                ("decision", "approve"),
                (
                    "note",
                    "The partner showed their sign-up form.\r\nKeep it on file.",
                ),
            ],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert_eq!(
        approved.location.as_deref(),
        Some(format!("{path}?done=approved").as_str())
    );
    let note = "The partner showed their sign-up form. Keep it on file.";
    let after = olga.get(&format!("{path}?done=approved")).await;
    assert!(
        after.body.contains("Approved: the import") && after.body.contains("approved after review"),
        "{}",
        after.body
    );
    assert!(after.body.contains(note), "{}", after.body);
    assert_eq!(changing_forms(&after.body), Vec::<String>::new());
    let seen = app
        .get(&format!("/v1/imports/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(seen["status"], "approved", "{seen}");
    assert_eq!(seen["review_note"], note, "{seen}");
    let lead = app
        .get("/v1/contacts?email=prospect7@gmail.com", &ws.key)
        .await
        .expect(200);
    assert_eq!(lead["items"][0]["mailable"], true, "{lead}");
    let log = app
        .get(
            &format!("/v1/operator/workspaces/{}/audit-log?limit=1000", ws.id),
            &app.operator,
        )
        .await
        .expect(200);
    assert!(
        log["items"].as_array().expect("items").iter().any(|e| {
            e["action"] == "import.approved" && e["actor"] == "operator:olga@platform.example"
        }),
        "{log}"
    );
    // It has left the queue for the list of approved imports.
    let queue = olga.get("/operator/imports").await;
    assert!(!queue.body.contains(&id), "{}", queue.body);
    let done = olga.get("/operator/imports?status=approved").await;
    assert!(
        done.body
            .contains(&format!("href=\"/operator/imports/{id}\"")),
        "{}",
        done.body
    );
    // Deciding again is the API's conflict, shown as a page.
    let twice = olga
        .post(
            &decide,
            &[("csrf", &csrf), ("decision", "reject"), ("note", "again")],
        )
        .await;
    assert_eq!(twice.status, 409, "{}", twice.body);
    assert_eq!(
        app.get(&format!("/v1/imports/{id}"), &ws.key)
            .await
            .expect(200)["status"],
        "approved"
    );
}

/// A pushy but not fraudulent mail, which content screening holds for review.
const GREY: &str =
    "Our spring sale ends tonight. Thirty percent off everything in the shop with code \
    SPRING30. Act now, limited time only!";

/// Sends a mail that screening holds for review to the workspace's opted-in
/// contacts; its id.
async fn held_message(app: &TestApp, key: &str, name: &str) -> String {
    let m = app
        .post(
            "/v1/messages",
            key,
            json!({
                "name": name, "kind": "marketing",
                "from": {"name": "Acme", "address": "news@acme-mail.com"},
                "subject": "LAST CHANCE TO SAVE BIG!!!",
                "template": {"layout": "plain", "text": GREY},
            }),
        )
        .await
        .expect(201);
    let id = m["id"].as_str().expect("id").to_owned();
    let sent = app
        .post(&format!("/v1/messages/{id}/send"), key, json!({}))
        .await
        .expect(202);
    assert_eq!(sent["review"], "pending", "{sent}");
    let m = app
        .get(&format!("/v1/messages/{id}"), key)
        .await
        .expect(200);
    assert_eq!(m["counts"]["review"], 1, "{m}");
    id
}

/// The message once its state is `state`.
async fn message_in(app: &TestApp, key: &str, id: &str, state: &str) -> Value {
    for _ in 0..400 {
        let m = app
            .get(&format!("/v1/messages/{id}"), key)
            .await
            .expect(200);
        if m["state"] == state {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {id} never reached {state}");
}

/// A GET with the visitor's session: the status, a header and the body.
async fn get_header(
    v: &Visitor<'_>,
    app: &TestApp,
    path: &str,
    name: &str,
) -> (u16, String, String) {
    let mut req = v.client.get(app.url(path));
    if let Some(c) = &v.cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.expect("GET");
    let value = resp
        .headers()
        .get(name)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let status = resp.status().as_u16();
    (status, value, resp.text().await.expect("body"))
}

async fn held_mail_is_shown_sandboxed_and_an_approval_releases_it(app: TestApp) {
    let ws = app.ready_workspace("Springshop").await;
    crate::support::opted_in(&app, &ws, "ann@gmail.com").await;
    let first = held_message(&app, &ws.key, "Grey 1").await;
    let second = held_message(&app, &ws.key, "Grey 2").await;
    let (mut olga, _) = operator_of(&app, "olga@platform.example", OperatorRole::Operator).await;

    let queue = olga.get("/operator/reviews").await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    for id in [&first, &second] {
        assert!(
            queue.body.contains(&format!(
                "href=\"/operator/reviews/{id}\">LAST CHANCE TO SAVE BIG!!!</a>"
            )),
            "{id}: {}",
            queue.body
        );
    }
    assert!(
        queue.body.contains(&format!(">Springshop ({})</a>", ws.id)),
        "{}",
        queue.body
    );

    // The page frames the mail with every permission taken away, and marks
    // what the rules matched.
    let path = format!("/operator/reviews/{first}");
    let page = olga.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let frame = tag_of(&page.body, "<iframe");
    assert!(
        frame.contains("sandbox=\"\"")
            && frame.contains(&format!("src=\"/operator/reviews/{first}/mail.html\"")),
        "{frame}"
    );
    let item = app
        .get("/v1/operator/reviews", &app.operator)
        .await
        .expect(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["message_id"] == first.as_str())
        .expect("in the queue")
        .clone();
    let hits = item["screening"]["hits"].as_array().expect("hits").clone();
    assert!(!hits.is_empty(), "{item}");
    for h in &hits {
        let snippet = h["snippet"].as_str().expect("snippet");
        if !snippet.is_empty() {
            assert!(
                page.body
                    .contains(&format!("<mark>{}</mark>", escaped(snippet))),
                "{snippet}: {}",
                page.body
            );
        }
        let explanation = h["explanation"].as_str().expect("explanation");
        assert!(page.body.contains(&escaped(explanation)), "{explanation}");
    }
    let text = between(&page.body, "<pre class=\"mail-text\">", "</pre>");
    assert!(text.contains("Our spring sale ends tonight."), "{text}");
    let normal = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let marked: Vec<String> = text
        .split("<mark>")
        .skip(1)
        .map(|m| normal(&m[..m.find("</mark>").expect("closed")]))
        .collect();
    assert!(
        hits.iter().any(|h| {
            let rule = h["rule"].as_str().expect("rule");
            let snippet = normal(&escaped(h["snippet"].as_str().expect("snippet")));
            !rule.starts_with("statistical.")
                && snippet.len() >= 3
                && marked.iter().any(|m| m.contains(&snippet))
        }),
        "a rule's match is marked in the text: {marked:?} of {hits:?}"
    );
    let (status, policy, mail) = get_header(
        &olga,
        &app,
        &format!("{path}/mail.html"),
        "content-security-policy",
    )
    .await;
    assert_eq!(status, 200, "{mail}");
    assert!(policy.split(';').any(|d| d.trim() == "sandbox"), "{policy}");
    assert!(mail.contains("Our spring sale ends tonight"), "{mail}");
    let decide = format!("{path}/decide");
    assert_eq!(changing_forms(&page.body), vec![decide.clone()]);

    // Approved with a note: the held delivery goes out.
    let csrf = csrf_of(&page.body);
    let approved = olga
        .post(
            &decide,
            &[
                ("csrf", &csrf),
                ("decision", "approve"),
                ("note", "A seasonal sale; fine."),
            ],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert_eq!(
        approved.location.as_deref(),
        Some(format!("{path}?done=approved").as_str())
    );
    let m = message_in(&app, &ws.key, &first, "sent").await;
    assert_eq!(m["counts"]["review"], 0, "{m}");
    assert_eq!(m["counts"]["delivered"], 1, "{m}");
    assert_eq!(m["review"]["state"], "approved", "{m}");
    assert_eq!(m["review"]["note"], "A seasonal sale; fine.", "{m}");
    let log = app
        .get(
            &format!("/v1/operator/workspaces/{}/audit-log?limit=1000", ws.id),
            &app.operator,
        )
        .await
        .expect(200);
    assert!(
        log["items"].as_array().expect("items").iter().any(|e| {
            e["action"] == "message.review_approved"
                && e["actor"] == "operator:olga@platform.example"
        }),
        "{log}"
    );
    let after = olga.get(&format!("{path}?done=approved")).await;
    assert!(after
        .body
        .contains("Approved: the held deliveries are released"));
    assert_eq!(changing_forms(&after.body), Vec::<String>::new());

    // The second is rejected: nothing goes out, and the workspace reads why.
    let rejected = olga
        .post(
            &format!("/operator/reviews/{second}/decide"),
            &[
                ("csrf", &csrf),
                ("decision", "reject"),
                ("note", "Urgency without an end date is not allowed."),
            ],
        )
        .await;
    assert_eq!(rejected.status, 303, "{}", rejected.body);
    let m = app
        .get(&format!("/v1/messages/{second}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(m["state"], "rejected", "{m}");
    assert_eq!(m["counts"]["review"], 0, "{m}");
    assert_eq!(m["counts"]["skipped"], 1, "{m}");
    assert_eq!(
        m["review"]["note"], "Urgency without an end date is not allowed.",
        "{m}"
    );
    let outbox = app
        .get(&format!("/v1/outbox?message_id={second}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(outbox["items"], json!([]), "{outbox}");
    let pending = olga.get("/operator/reviews").await;
    assert!(
        !pending.body.contains(&first) && !pending.body.contains(&second),
        "{}",
        pending.body
    );
    let decided = olga.get("/operator/reviews?state=rejected").await;
    assert!(
        decided.body.contains(&second)
            && decided
                .body
                .contains("Urgency without an end date is not allowed."),
        "{}",
        decided.body
    );
}

async fn an_auditor_sees_the_queues_but_no_decision_forms(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    let import = quarantined_import(&app, &ws.key).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    crate::support::opted_in(&app, &ws, "ann@gmail.com").await;
    let held = held_message(&app, &ws.key, "Grey").await;
    open_report(&app, &ws.id).await;
    let (mut anna, _) = operator_of(&app, "anna@platform.example", OperatorRole::Auditor).await;
    for (path, shows) in [
        ("/operator/imports".to_owned(), import.clone()),
        (
            format!("/operator/imports/{import}"),
            "Leads from a partner".to_owned(),
        ),
        ("/operator/reviews".to_owned(), held.clone()),
        (
            format!("/operator/reviews/{held}"),
            "sandbox=\"\"".to_owned(),
        ),
        (
            "/operator/reports".to_owned(),
            "I never signed up".to_owned(),
        ),
    ] {
        let page = anna.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains(&shows), "{path}: {}", page.body);
        assert!(page.body.contains("You are an auditor"), "{path}");
        assert_eq!(changing_forms(&page.body), Vec::<String>::new(), "{path}");
        assert!(!page.body.contains("name=\"decision\""), "{path}");
    }
    let (status, _, mail) = get_header(
        &anna,
        &app,
        &format!("/operator/reviews/{held}/mail.html"),
        "content-type",
    )
    .await;
    assert_eq!(status, 200, "{mail}");
    // Posting anyway, with the auditor's own token, changes nothing.
    let csrf = anna.csrf("/operator/imports").await;
    let forged = anna
        .post(
            &format!("/operator/imports/{import}/decide"),
            &[
                ("csrf", &csrf),
                ("decision", "approve"),
                ("note", "Looks fine"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let still = app
        .get(&format!("/v1/operator/imports/{import}"), &app.operator)
        .await
        .expect(200);
    assert_eq!(still["status"], "quarantined", "{still}");
    let forged = anna
        .post(
            &format!("/operator/reviews/{held}/decide"),
            &[
                ("csrf", &csrf),
                ("decision", "approve"),
                ("note", "Looks fine"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let forged = anna
        .post(
            "/operator/reports/rep_1/handle",
            &[("csrf", &csrf), ("note", "Looks fine")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let m = app
        .get(&format!("/v1/messages/{held}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(m["state"], "in_review", "{m}");
    assert_eq!(m["counts"]["review"], 1, "{m}");
    let open = app
        .get("/v1/operator/reports?state=open", &app.operator)
        .await
        .expect(200);
    assert_eq!(open["items"].as_array().map(Vec::len), Some(1), "{open}");
}

async fn post_fields(v: &mut Visitor<'_>, path: &str, fields: &[(String, String)]) -> Answer {
    let f: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    v.post(path, &f).await
}

async fn a_setup_link_works_once_and_only_it_sets_up_an_operator(app: TestApp) {
    let address = sendwell_core::EmailAddress::parse("otto@platform.example").expect("address");
    let (_, link) = sendwell_server::accounts::add_operator(
        &app.state,
        &address,
        OperatorRole::Operator,
        "test",
    )
    .await
    .expect("added");
    let path = setup_path(&link);
    let mut v = Visitor::new(&app);
    let page = v.get(&path).await;
    let referrer = reqwest::get(app.url(&path)).await.expect("page").headers()["referrer-policy"]
        .to_str()
        .expect("text")
        .to_owned();
    assert_eq!(
        referrer, "no-referrer",
        "the token never leaves in a Referer"
    );
    let secret_hex = hidden(&page.body, "secret");
    let secret = sendwell_core::secret::from_hex(&secret_hex).expect("hex");
    let fields = |code: &str| {
        vec![
            ("password".to_owned(), PASSWORD.to_owned()),
            ("confirm".to_owned(), PASSWORD.to_owned()),
            ("secret".to_owned(), secret_hex.clone()),
            ("code".to_owned(), code.to_owned()),
        ]
    };
    // Before the setup, the password alone signs no one in.
    let early = Visitor::new(&app)
        .post(
            "/operator/login",
            &[("email", "otto@platform.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(early.status, 401, "no password yet");
    // A wrong code keeps the page, with the error at the field.
    let wrong = post_fields(&mut v, &path, &fields("000000")).await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("id=\"code-error\""), "{}", wrong.body);
    let weak = v
        .post(
            &path,
            &[
                ("password", "short"),
                ("confirm", "short"),
                ("secret", &secret_hex),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(
        weak.body.contains("at least 10 characters"),
        "{}",
        weak.body
    );
    let done = post_fields(&mut v, &path, &fields(&code(&app, &secret, 0))).await;
    assert_eq!(done.status, 303, "{}", done.body);
    // The link works once.
    let again = post_fields(
        &mut Visitor::new(&app),
        &path,
        &fields(&code(&app, &secret, 1)),
    )
    .await;
    assert_eq!(again.status, 410, "{}", again.body);
    // Added again (a lost phone): a new link, and the sessions end.
    let (_, second) = sendwell_server::accounts::add_operator(
        &app.state,
        &address,
        OperatorRole::Operator,
        "test",
    )
    .await
    .expect("again");
    assert_ne!(setup_path(&second), path);
    let ended = v.get("/operator").await;
    assert_eq!(ended.status, 303, "the session ended");
}

/// The attack a review found: a workspace admin invites the address of
/// someone about to join the delivery team, sets its password through
/// the workspace invite, and tries the operator sign-in with it.
async fn a_password_set_through_a_workspace_invite_opens_no_operator_session(app: TestApp) {
    let address = sendwell_core::EmailAddress::parse("newop@platform.example").expect("address");
    let (_, setup) = sendwell_server::accounts::add_operator(
        &app.state,
        &address,
        OperatorRole::Operator,
        "test",
    )
    .await
    .expect("added");
    let (ws, _) = crate::members::admin_of(&app, "Mallory Ltd", "mallory@example.com").await;
    let invited = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "newop@platform.example", "role": "viewer"}),
        )
        .await
        .expect(201);
    let url = invited["invite_url"]
        .as_str()
        .expect("a link for a new account")
        .to_owned();
    let invite = &url[url.find("/invite/").expect("path")..];
    let mut mallory = Visitor::new(&app);
    let set = mallory
        .post(
            invite,
            &[
                ("password", "mallory's own password"),
                ("confirm", "mallory's own password"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    // The password is right, but it opens no operator session, and the
    // member session cannot set up a factor for the operator account.
    let tried = Visitor::new(&app)
        .post(
            "/operator/login",
            &[
                ("email", "newop@platform.example"),
                ("password", "mallory's own password"),
            ],
        )
        .await;
    assert_eq!(tried.status, 403, "{}", tried.body);
    assert!(tried.body.contains("not set up"), "{}", tried.body);
    assert!(!tried.body.contains("name=\"pending\""));
    let factor = mallory.get("/settings/totp").await;
    assert_eq!(factor.status, 403, "{}", factor.body);
    // The real person's setup link replaces that password.
    let path = setup_path(&setup);
    let mut real = Visitor::new(&app);
    let page = real.get(&path).await;
    let secret_hex = hidden(&page.body, "secret");
    let secret = sendwell_core::secret::from_hex(&secret_hex).expect("hex");
    let done = real
        .post(
            &path,
            &[
                ("password", PASSWORD),
                ("confirm", PASSWORD),
                ("secret", &secret_hex),
                ("code", &code(&app, &secret, 0)),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let old = Visitor::new(&app)
        .post(
            "/operator/login",
            &[
                ("email", "newop@platform.example"),
                ("password", "mallory's own password"),
            ],
        )
        .await;
    assert_eq!(old.status, 401, "the invite's password no longer works");
    let gone = mallory.get("/").await;
    assert_eq!(gone.status, 303, "the member session set up with it ended");
}

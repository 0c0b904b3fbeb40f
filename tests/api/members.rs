//! Members and the console's sessions over plain HTTP (issue #16): invites
//! from the operator and from admins, one-time links, passwords, sessions,
//! CSRF, sign-in throttling, roles, removal, and what a co-tenant, a
//! removed member or another site can do with them.

use crate::on_both;
use crate::support::TestApp;
use serde_json::json;

on_both!(
    the_first_admin_accepts_the_invite_and_signs_in,
    invite_links_work_once_and_check_the_password,
    admins_manage_members_and_the_last_admin_stays,
    sign_in_is_throttled_per_account,
    forms_need_the_session_token_and_this_site,
    a_removed_member_loses_the_workspace_at_once,
    members_see_only_their_own_workspace,
    contact_names_are_shown_as_text,
    a_reset_link_is_mailed_privately_and_works_once,
    sign_in_goes_back_only_to_local_pages,
    an_invite_never_sets_the_password_of_an_existing_account,
    a_second_factor_is_asked_for_once_turned_on,
    guesses_sent_at_once_are_capped_too,
    invites_are_capped_per_workspace_and_day,
);

/// A client that keeps the session cookie and never follows redirects.
pub(crate) struct Visitor<'a> {
    app: &'a TestApp,
    pub(crate) client: reqwest::Client,
    pub(crate) cookie: Option<String>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) set_cookie: Option<String>,
    pub(crate) body: String,
}

impl<'a> Visitor<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: None,
        }
    }

    async fn answer(&mut self, response: reqwest::Response) -> Answer {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let set_cookie = header("set-cookie");
        if let Some(c) = &set_cookie {
            let pair = c.split(';').next().unwrap_or("").to_owned();
            self.cookie = pair
                .split_once('=')
                .filter(|(_, v)| !v.is_empty())
                .map(|_| pair.clone());
        }
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        Answer {
            status,
            location,
            set_cookie,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let mut req = self.client.get(self.app.url(path));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let response = req.send().await.expect("GET");
        self.answer(response).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_with(path, fields, &[]).await
    }

    pub(crate) async fn post_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = self
            .client
            .post(self.app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let response = req.send().await.expect("POST");
        self.answer(response).await
    }

    /// The CSRF token of the page at `path`.
    pub(crate) async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        csrf_of(&page.body)
    }

    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Answer {
        self.post("/login", &[("email", email), ("password", password)])
            .await
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("the page has a CSRF field");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

/// The path of an invite or reset URL.
fn path_of(url: &str) -> String {
    let at = url
        .find("/invite/")
        .or_else(|| url.find("/reset/"))
        .expect("a link");
    url[at..].to_owned()
}

pub(crate) const PASSWORD: &str = "blue harbour lantern 42";

/// A workspace whose first admin (`email`) has accepted the invite; the
/// visitor is signed in as them.
pub(crate) async fn admin_of<'a>(
    app: &'a TestApp,
    name: &str,
    email: &str,
) -> (crate::support::Workspace, Visitor<'a>) {
    let created = app
        .post(
            "/v1/workspaces",
            &app.operator,
            json!({"name": name, "admin_email": email}),
        )
        .await
        .expect(201);
    let ws = crate::support::Workspace {
        id: created["id"].as_str().expect("id").to_owned(),
        key: created["api_key"].as_str().expect("key").to_owned(),
    };
    let invite = path_of(created["invite_url"].as_str().expect("invite_url"));
    let mut visitor = Visitor::new(app);
    let done = visitor
        .post(
            &invite,
            &[
                ("name", "Ada Admin"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    (ws, visitor)
}

async fn the_first_admin_accepts_the_invite_and_signs_in(app: TestApp) {
    let created = app
        .post(
            "/v1/workspaces",
            &app.operator,
            json!({"name": "Acme", "admin_email": "Ada@Example.com"}),
        )
        .await
        .expect(201);
    let url = created["invite_url"].as_str().expect("invite_url");
    assert!(url.starts_with(&app.base), "{url}");
    let invite = path_of(url);
    let mut v = Visitor::new(&app);
    let page = v.get(&invite).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ada@example.com"), "{}", page.body);
    assert!(page.body.contains("Confirm password"));
    let policy = reqwest::get(app.url(&invite))
        .await
        .expect("page")
        .headers()["referrer-policy"]
        .to_str()
        .expect("text")
        .to_owned();
    assert_eq!(policy, "no-referrer", "the token never leaves in a Referer");
    let done = v
        .post(
            &invite,
            &[
                ("name", "Ada"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let cookie = done.set_cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let home = v.get("/").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Sending status") && home.body.contains("Acme"));
    // Signing out ends the session on the server, not only in the browser.
    let old_cookie = v.cookie.clone();
    let csrf = csrf_of(&home.body);
    let out = v.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    v.cookie = old_cookie;
    let after = v.get("/").await;
    assert_eq!(after.status, 303);
    assert_eq!(after.location.as_deref(), Some("/login"));
    // And the password works from the sign-in page, in any letter case of the address.
    let signed = v.sign_in("ADA@example.com", PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(v.get("/contacts").await.status, 200);
    let log = app
        .get(
            "/v1/workspace/audit-log",
            created["api_key"].as_str().expect("key"),
        )
        .await
        .expect(200);
    let text = log.to_string();
    assert!(
        text.contains("member:ada@example.com") && text.contains("member.joined"),
        "{text}"
    );
}

async fn invite_links_work_once_and_check_the_password(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let invited = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "bo@example.com", "role": "sender"}),
        )
        .await
        .expect(201);
    assert_eq!(invited["status"], "invited");
    let invite = path_of(invited["invite_url"].as_str().expect("url"));
    let mut v = Visitor::new(&app);
    let short = v
        .post(&invite, &[("password", "short"), ("confirm", "short")])
        .await;
    assert_eq!(short.status, 422);
    assert!(
        short.body.contains("at least 10 characters"),
        "{}",
        short.body
    );
    let mismatch = v
        .post(
            &invite,
            &[("password", PASSWORD), ("confirm", "another long password")],
        )
        .await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.body.contains("not the same"));
    assert!(v.cookie.is_none(), "no session before the password is set");
    let ok = v
        .post(&invite, &[("password", PASSWORD), ("confirm", PASSWORD)])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let again = Visitor::new(&app)
        .post(
            &invite,
            &[
                ("password", "someone else's pass"),
                ("confirm", "someone else's pass"),
            ],
        )
        .await;
    assert_eq!(again.status, 410, "a used link is refused");
    assert!(again.body.contains("already used"));
    let forged = Visitor::new(&app)
        .get(&format!("/invite/{}", "a".repeat(64)))
        .await;
    assert_eq!(forged.status, 410);
    let members = app.get("/v1/members", &ws.key).await.expect(200);
    let text = members.to_string();
    assert!(
        text.contains("\"active\"") && !text.contains("argon2"),
        "{text}"
    );
}

async fn admins_manage_members_and_the_last_admin_stays(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let a = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "a@example.com", "role": "admin"}),
        )
        .await
        .expect(201);
    let dup = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "A@example.com", "role": "viewer"}),
        )
        .await
        .expect(409);
    assert!(dup["detail"]
        .as_str()
        .expect("detail")
        .contains("already a member"));
    let bad = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "x@example.com", "role": "owner"}),
        )
        .await
        .expect(422);
    assert!(bad.to_string().contains("admin, sender, viewer"));
    let id = a["id"].as_str().expect("id");
    let last = app
        .patch(
            &format!("/v1/members/{id}"),
            &ws.key,
            json!({"role": "viewer"}),
        )
        .await
        .expect(409);
    assert!(last["detail"]
        .as_str()
        .expect("detail")
        .contains("only admin"));
    app.delete(&format!("/v1/members/{id}"), &ws.key)
        .await
        .expect(409);
    let b = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "b@example.com", "role": "admin"}),
        )
        .await
        .expect(201);
    let changed = app
        .patch(
            &format!("/v1/members/{id}"),
            &ws.key,
            json!({"role": "viewer"}),
        )
        .await
        .expect(200);
    assert_eq!(changed["role"], "viewer");
    let viewer_key = app.new_key(&ws.key, "viewer").await;
    app.post(
        "/v1/members",
        &viewer_key,
        json!({"email": "c@example.com", "role": "admin"}),
    )
    .await
    .expect(403);
    let bid = b["id"].as_str().expect("id");
    let fresh = app
        .post(&format!("/v1/members/{bid}/invite"), &ws.key, json!({}))
        .await
        .expect(201);
    assert!(fresh["invite_url"]
        .as_str()
        .expect("url")
        .contains("/invite/"));
    app.delete(&format!("/v1/members/{id}"), &ws.key)
        .await
        .expect(200);
    let list = app.get("/v1/members", &ws.key).await.expect(200);
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
}

async fn sign_in_is_throttled_per_account(app: TestApp) {
    let (_ws, _admin) = admin_of(&app, "Acme", "ada@example.com").await;
    let mut v = Visitor::new(&app);
    for _ in 0..5 {
        let wrong = v
            .sign_in("ada@example.com", "not the password at all")
            .await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.body.contains("not right"));
    }
    let refused = v.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(refused.status, 429, "even the right password waits");
    assert!(refused.body.contains("Wait 15 minutes"));
    assert!(v.cookie.is_none());
    // An unknown address gets the same answer as a wrong password.
    let unknown = Visitor::new(&app)
        .sign_in("nobody@example.com", PASSWORD)
        .await;
    assert_eq!(unknown.status, 401);
}

async fn forms_need_the_session_token_and_this_site(app: TestApp) {
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    let address = "Acme Ltd, 1 Main Street, Springfield 12345, USA";
    let none = v
        .post("/settings/address", &[("physical_address", address)])
        .await;
    assert_eq!(none.status, 403);
    let wrong = v
        .post(
            "/settings/address",
            &[
                ("csrf", "0".repeat(32).as_str()),
                ("physical_address", address),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let csrf = v.csrf("/").await;
    let cross = v
        .post_with(
            "/settings/address",
            &[("csrf", &csrf), ("physical_address", address)],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status, 403);
    let other_origin = v
        .post_with(
            "/settings/address",
            &[("csrf", &csrf), ("physical_address", address)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(other_origin.status, 403);
    let view = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert!(view["physical_address"].is_null(), "nothing was written");
    let bad = v
        .post(
            "/settings/address",
            &[("csrf", &csrf), ("physical_address", "x")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("aria-invalid=\"true\""),
        "the error is shown at the field"
    );
    let ok = v
        .post(
            "/settings/address",
            &[("csrf", &csrf), ("physical_address", address)],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let view = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert_eq!(view["physical_address"], address);
}

async fn a_removed_member_loses_the_workspace_at_once(app: TestApp) {
    let (ws, _admin) = admin_of(&app, "Acme", "ada@example.com").await;
    let invited = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "bo@example.com", "role": "sender"}),
        )
        .await
        .expect(201);
    let mut bo = Visitor::new(&app);
    let invite = path_of(invited["invite_url"].as_str().expect("url"));
    assert_eq!(
        bo.post(&invite, &[("password", PASSWORD), ("confirm", PASSWORD)])
            .await
            .status,
        303
    );
    let settings = bo.get("/settings").await;
    assert_eq!(settings.status, 200);
    assert!(
        !settings.body.contains("Invite someone"),
        "a sender does not manage members"
    );
    let refused = bo
        .post(
            "/settings/members",
            &[
                ("csrf", &csrf_of(&settings.body)),
                ("email", "x@example.com"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    let id = invited["id"].as_str().expect("id");
    app.delete(&format!("/v1/members/{id}"), &ws.key)
        .await
        .expect(200);
    let after = bo.get("/contacts").await;
    assert_eq!(
        after.status, 303,
        "the removed member's session no longer opens the workspace"
    );
}

async fn members_see_only_their_own_workspace(app: TestApp) {
    let (_a, mut ada) = admin_of(&app, "Acme", "ada@example.com").await;
    let other = app.workspace("Globex").await;
    let contact = app
        .contact(
            &other.key,
            json!({"email": "secret@globex.example", "name": "Hidden"}),
        )
        .await;
    let page = ada.get(&format!("/contacts/{contact}")).await;
    assert_eq!(page.status, 404);
    assert!(!page.body.contains("secret@globex.example"));
    let list = ada.get("/contacts?q=secret%40globex.example").await;
    assert!(!list.body.contains("Hidden"));
    // A session cannot be moved into a workspace its account is not a member of.
    let csrf = ada.csrf("/").await;
    let switch = ada
        .post("/workspaces", &[("csrf", &csrf), ("workspace", &other.id)])
        .await;
    assert_eq!(switch.status, 403);
}

async fn contact_names_are_shown_as_text(app: TestApp) {
    let (ws, mut ada) = admin_of(&app, "Acme", "ada@example.com").await;
    let id = app
        .contact(
            &ws.key,
            json!({"email": "x@example.com", "name": "<script>alert(1)</script>", "attributes": {"note": "<img src=x onerror=alert(2)>"}}),
        )
        .await;
    for path in ["/contacts".to_owned(), format!("/contacts/{id}")] {
        let page = ada.get(&path).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("<script>alert(1)"), "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
    }
}

async fn a_reset_link_is_mailed_privately_and_works_once(app: TestApp) {
    let (ws, _ada) = admin_of(&app, "Acme", "ada@example.com").await;
    let mut v = Visitor::new(&app);
    let asked = v.post("/reset", &[("email", "ada@example.com")]).await;
    assert_eq!(asked.status, 200);
    let unknown = v.post("/reset", &[("email", "nobody@example.com")]).await;
    assert_eq!(unknown.status, 200, "the same answer, whoever asks");
    let raw = reset_mail(&app, "ada@example.com").await;
    let at = raw.find("/reset/").expect("a link");
    let path: String = raw[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    // No workspace sees the account's mail.
    let listed = app.get("/v1/test-mails", &ws.key).await.expect(200);
    assert!(!listed.to_string().contains("/reset/"), "{listed}");
    let new_password = "green meadow teapot 7";
    let done = v
        .post(
            &path,
            &[("password", new_password), ("confirm", new_password)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        Visitor::new(&app)
            .sign_in("ada@example.com", PASSWORD)
            .await
            .status,
        401
    );
    assert_eq!(
        Visitor::new(&app)
            .sign_in("ada@example.com", new_password)
            .await
            .status,
        303
    );
    let again = Visitor::new(&app)
        .post(
            &path,
            &[
                ("password", "yet another long one"),
                ("confirm", "yet another long one"),
            ],
        )
        .await;
    assert_eq!(again.status, 410);
}

async fn sign_in_goes_back_only_to_local_pages(app: TestApp) {
    let (_ws, _ada) = admin_of(&app, "Acme", "ada@example.com").await;
    let mut v = Visitor::new(&app);
    let asked = v.get("/contacts?q=a").await;
    assert_eq!(asked.status, 303);
    assert_eq!(
        asked.location.as_deref(),
        Some("/login?next=/contacts%3Fq%3Da")
    );
    let back = v
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "/contacts?q=a"),
            ],
        )
        .await;
    assert_eq!(back.location.as_deref(), Some("/contacts?q=a"));
    for hostile in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let mut v = Visitor::new(&app);
        let signed = v
            .post(
                "/login",
                &[
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("next", hostile),
                ],
            )
            .await;
        assert_eq!(signed.location.as_deref(), Some("/"), "{hostile}");
    }
}

/// A session ends after 12 hours unused, and 7 days after sign-in however
/// much it is used; an invite ends after 7 days.
#[tokio::test]
async fn sessions_and_invites_expire() {
    let clock = std::sync::Arc::new(crate::support::ShiftedClock::default());
    let app = TestApp::spawn_with_clock(None, clock.clone(), |_| {}).await;
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    clock.advance_hours(11);
    assert_eq!(
        v.get("/").await.status,
        200,
        "11 hours idle: still signed in"
    );
    // A session whose cookie never comes back is dropped by the sweep.
    let mut other = Visitor::new(&app);
    assert_eq!(other.sign_in("ada@example.com", PASSWORD).await.status, 303);
    clock.advance_hours(13);
    let now = app.state.store.now().millis();
    let dropped = app
        .state
        .store
        .expire_sessions(
            sendwell_core::Timestamp::from_millis(now - 12 * 3_600_000),
            sendwell_core::Timestamp::from_millis(now - 7 * 86_400_000),
        )
        .await
        .expect("sweep");
    assert_eq!(dropped, 2, "both idle sessions are dropped");
    clock.advance_hours(-13);
    clock.advance_hours(13);
    let idle = v.get("/").await;
    assert_eq!(idle.status, 303, "13 hours idle: signed out");
    assert_eq!(idle.location.as_deref(), Some("/login"));
    let mut v = Visitor::new(&app);
    assert_eq!(v.sign_in("ada@example.com", PASSWORD).await.status, 303);
    // Used every 11 hours: 15 times is 165 hours, within the 7 days.
    for _ in 0..15 {
        clock.advance_hours(11);
        assert_eq!(v.get("/").await.status, 200);
    }
    clock.advance_hours(11);
    assert_eq!(
        v.get("/").await.status,
        303,
        "176 hours after sign-in: signed out, however used"
    );
    let invited = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "bo@example.com", "role": "viewer"}),
        )
        .await
        .expect(201);
    clock.advance_hours(7 * 24 + 1);
    let late = Visitor::new(&app)
        .get(&path_of(invited["invite_url"].as_str().expect("url")))
        .await;
    assert_eq!(late.status, 410);
    assert!(late.body.contains("expired"));
}

/// Failed sign-ins from one client are capped whatever addresses it tries,
/// and an https public URL makes the cookie Secure.
#[tokio::test]
async fn sign_in_is_throttled_per_client_and_cookies_are_secure_on_https() {
    let app = TestApp::spawn_with(None, |s| {
        s.public_url = Some("https://mail.example.com".to_owned());
    })
    .await;
    let (_ws, _) = admin_of(&app, "Acme", "ada@example.com").await;
    let mut v = Visitor::new(&app);
    for i in 0..20 {
        let wrong = v
            .sign_in(&format!("guess{i}@example.com"), "not it at all")
            .await;
        assert_eq!(wrong.status, 401);
    }
    assert_eq!(v.sign_in("ada@example.com", PASSWORD).await.status, 429);
    let created = app
        .post(
            "/v1/workspaces",
            &app.operator,
            json!({"name": "Globex", "admin_email": "gil@example.com"}),
        )
        .await
        .expect(201);
    let url = created["invite_url"].as_str().expect("url");
    assert!(url.starts_with("https://mail.example.com/invite/"), "{url}");
    let done = Visitor::new(&app)
        .post(
            &path_of(url),
            &[("password", PASSWORD), ("confirm", PASSWORD)],
        )
        .await;
    let cookie = done.set_cookie.expect("cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.starts_with("__Host-sendwell_session="), "{cookie}");
}

async fn an_invite_never_sets_the_password_of_an_existing_account(app: TestApp) {
    // Globex invites Ada before she has set a password anywhere: a link.
    let globex = app.workspace("Globex").await;
    let early = app
        .post(
            "/v1/members",
            &globex.key,
            json!({"email": "ada@example.com", "role": "viewer"}),
        )
        .await
        .expect(201);
    let early_link = path_of(
        early["invite_url"]
            .as_str()
            .expect("a link for a new account"),
    );
    // Ada becomes Acme's admin and sets her password through Acme's invite.
    let (_acme, mut ada) = admin_of(&app, "Acme", "ada@example.com").await;
    // Globex's link can no longer set her password.
    let takeover = Visitor::new(&app)
        .post(
            &early_link,
            &[
                ("password", "globex owns you now"),
                ("confirm", "globex owns you now"),
            ],
        )
        .await;
    assert_eq!(takeover.status, 410, "{}", takeover.body);
    // A later invite gives no link at all; she is added and signs in as before.
    let initech = app.workspace("Initech").await;
    let added = app
        .post(
            "/v1/members",
            &initech.key,
            json!({"email": "ada@example.com", "role": "sender"}),
        )
        .await
        .expect(201);
    assert!(added.get("invite_url").is_none(), "{added}");
    assert_eq!(added["status"], "active");
    assert_eq!(
        Visitor::new(&app)
            .sign_in("ada@example.com", PASSWORD)
            .await
            .status,
        303
    );
    let choose = ada.get("/workspaces").await;
    assert!(
        choose.body.contains("Initech")
            && choose.body.contains("Globex")
            && choose.body.contains("Acme")
    );
    let created = app
        .post(
            "/v1/workspaces",
            &app.operator,
            json!({"name": "Hooli", "admin_email": "ada@example.com"}),
        )
        .await
        .expect(201);
    assert!(created.get("invite_url").is_none(), "{created}");
}

/// The current code of the secret a setup page shows.
fn code_of(page: &str) -> (String, String) {
    let at = page.find("name=\"secret\" value=\"").expect("the secret");
    let rest = &page[at + "name=\"secret\" value=\"".len()..];
    let hex = rest[..rest.find('"').expect("end")].to_owned();
    let secret = sendwell_core::secret::from_hex(&hex).expect("hex");
    let now = sendwell_core::Clock::now(&sendwell_core::SystemClock).millis() / 1000;
    (
        hex,
        format!("{:06}", sendwell_server::totp::code_at(&secret, now)),
    )
}

async fn a_second_factor_is_asked_for_once_turned_on(app: TestApp) {
    let (_ws, mut ada) = admin_of(&app, "Acme", "ada@example.com").await;
    let setup = ada.get("/settings/totp").await;
    assert_eq!(setup.status, 200);
    let csrf = csrf_of(&setup.body);
    let (secret, code) = code_of(&setup.body);
    let wrong = ada
        .post(
            "/settings/totp",
            &[("csrf", &csrf), ("secret", &secret), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    let on = ada
        .post(
            "/settings/totp",
            &[("csrf", &csrf), ("secret", &secret), ("code", &code)],
        )
        .await;
    assert_eq!(on.status, 303, "{}", on.body);
    // The password alone is no longer enough.
    let mut v = Visitor::new(&app);
    let step = v.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(step.status, 200);
    assert!(v.cookie.is_none(), "no session before the code");
    assert!(step.body.contains("Authentication code"));
    let at = step
        .body
        .find("name=\"pending\" value=\"")
        .expect("pending");
    let rest = &step.body[at + "name=\"pending\" value=\"".len()..];
    let pending = rest[..rest.find('"').expect("end")].to_owned();
    let bad = v
        .post("/login/code", &[("pending", &pending), ("code", "123456")])
        .await;
    assert_eq!(bad.status, 401);
    let forged = v
        .post(
            "/login/code",
            &[("pending", &pending.replace('.', "x")), ("code", &code)],
        )
        .await;
    assert_eq!(forged.status, 401);
    let secret_bytes = sendwell_core::secret::from_hex(&secret).expect("hex");
    let now = sendwell_core::Clock::now(&sendwell_core::SystemClock).millis() / 1000;
    let fresh = format!("{:06}", sendwell_server::totp::code_at(&secret_bytes, now));
    // The code that turned the factor on was used already; a step later
    // would be needed to sign in with the same digits.
    let ok = v
        .post("/login/code", &[("pending", &pending), ("code", &fresh)])
        .await;
    if fresh == code {
        assert_eq!(ok.status, 401, "a code works once");
    } else {
        assert_eq!(ok.status, 303, "{}", ok.body);
        assert!(v.cookie.is_some());
        let again = Visitor::new(&app)
            .post("/login/code", &[("pending", &pending), ("code", &fresh)])
            .await;
        assert_eq!(again.status, 401, "a code works once");
    }
    // A reset link proves the mailbox only: it sets the password and asks
    // for a sign-in with both factors.
    Visitor::new(&app)
        .post("/reset", &[("email", "ada@example.com")])
        .await;
    let raw = reset_mail(&app, "ada@example.com").await;
    let at = raw.find("/reset/").expect("a link");
    let path: String = raw[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let mut r = Visitor::new(&app);
    let done = r
        .post(
            &path,
            &[
                ("password", "green meadow teapot 7"),
                ("confirm", "green meadow teapot 7"),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location.as_deref(), Some("/login"));
    assert!(
        r.cookie.is_none(),
        "no session from a reset when a second factor is on"
    );
}

/// The text of the reset mail to `to`, once it is queued (the reset page
/// answers before it is).
async fn reset_mail(app: &TestApp, to: &str) -> String {
    for _ in 0..200 {
        let mails = app.state.store.test_mails_to(to).await.expect("mails");
        if let Some(m) = mails
            .iter()
            .find(|m| m.kind == "account" && m.subject.contains("new sendwell password"))
        {
            return m.raw.replace("=\r\n", "");
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no reset mail to {to}");
}

async fn guesses_sent_at_once_are_capped_too(app: TestApp) {
    let (_ws, _ada) = admin_of(&app, "Acme", "ada@example.com").await;
    let guesses = (0..12).map(|i| {
        let app = &app;
        async move {
            let mut v = Visitor::new(app);
            v.sign_in("ada@example.com", &format!("wrong guess number {i}"))
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert_eq!(refused, 7, "{statuses:?}");
}

async fn invites_are_capped_per_workspace_and_day(app: TestApp) {
    let ws = app.workspace("Acme").await;
    for i in 0..50 {
        app.post(
            "/v1/members",
            &ws.key,
            json!({"email": format!("person{i}@example.com"), "role": "viewer"}),
        )
        .await
        .expect(201);
    }
    let refused = app
        .post(
            "/v1/members",
            &ws.key,
            json!({"email": "one-more@example.com", "role": "viewer"}),
        )
        .await
        .expect(429);
    assert!(refused["detail"]
        .as_str()
        .expect("detail")
        .contains("tomorrow"));
    let other = app.workspace("Globex").await;
    app.post(
        "/v1/members",
        &other.key,
        json!({"email": "one-more@example.com", "role": "viewer"}),
    )
    .await
    .expect(201);
}

/// Behind the operator's proxy, an acceptance of the guidelines records the
/// client's address (the evidence of who accepted), by the API and the
/// console alike.
#[tokio::test]
async fn an_acceptance_records_the_client_behind_a_trusted_proxy() {
    let app = TestApp::spawn_with(None, |s| {
        s.trusted_proxies =
            vec![sendwell_server::config::IpNet::parse("127.0.0.0/8").expect("net")];
    })
    .await;
    let (ws, mut v) = admin_of(&app, "Acme", "ada@example.com").await;
    let version = app.get("/v1/guidelines", &ws.key).await.expect(200)["version"].clone();
    let accepted = app
        .client
        .post(app.url("/v1/guidelines/accept"))
        .bearer_auth(&ws.key)
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({"version": version, "accepted_by": "Ada"}))
        .send()
        .await
        .expect("accept");
    assert_eq!(accepted.status(), 200);
    let csrf = v.csrf("/").await;
    let by_console = v
        .post_with(
            "/settings/guidelines",
            &[("csrf", &csrf), ("version", &version.to_string())],
            &[("x-forwarded-for", "198.51.100.9")],
        )
        .await;
    assert_eq!(by_console.status, 303, "{}", by_console.body);
    let list = app
        .get("/v1/guidelines/acceptances", &ws.key)
        .await
        .expect(200);
    let text = list.to_string();
    assert!(
        text.contains("203.0.113.7") && text.contains("198.51.100.9"),
        "{text}"
    );
    assert!(
        text.contains("acc_"),
        "the console's acceptance names the account: {text}"
    );
}

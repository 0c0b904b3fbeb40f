//! CSV imports: declared provenance, row checks, the list-quality score,
//! quarantine and the operator's review, declared consent in the ledger.

use crate::on_both;
use crate::support::TestApp;
use serde_json::{json, Value};

on_both!(
    an_import_that_looks_bought_is_quarantined_until_the_operator_approves,
    a_clean_export_of_product_users_is_accepted_with_its_consent_recorded,
    bought_lists_and_incomplete_declarations_are_refused_before_anything_is_written,
    bad_rows_are_reported_with_reasons_and_the_rest_is_imported,
    an_import_cannot_opt_in_someone_who_opted_out,
    a_trap_address_quarantines_the_import,
    dns_checks_ask_once_per_distinct_domain,
    a_multipart_upload_is_accepted,
    an_import_that_moves_an_address_quarantines_it_too,
    semicolon_and_tab_separated_files_are_read,
    a_large_import_is_written_batch_after_batch,
    an_import_that_breaks_off_midway_leaves_nothing_behind,
    two_imports_of_one_list_at_once_create_each_contact_once,
    the_import_list_pages_with_a_cursor_and_shows_only_the_workspace_s_own,
);

const PRODUCT: &str = "source=product_users&description=Export%20of%20our%20app%27s%20users";

async fn contact_by_email(app: &TestApp, key: &str, email: &str) -> Value {
    let r = app
        .get(&format!("/v1/contacts?email={email}"), key)
        .await
        .expect(200);
    r["items"][0].clone()
}

async fn an_import_that_looks_bought_is_quarantined_until_the_operator_approves(app: TestApp) {
    let ws = app.workspace("Acme").await;
    // The workspace already has its own users.
    let existing: Vec<Value> = (0..150)
        .map(|i| json!({"email": format!("member{i}@gmail.com")}))
        .collect();
    app.post("/v1/contacts/batch", &ws.key, json!({"contacts": existing}))
        .await
        .expect(200);

    let mut csv = String::from("email,first_name\n");
    for i in 0..60 {
        csv.push_str(&format!("lead{i}@example.com,Lead\n")); // 30% invalid
    }
    for i in 0..40 {
        csv.push_str(&format!("info@company{i}.com,Office\n")); // 20% role accounts
    }
    for i in 0..100 {
        csv.push_str(&format!("prospect{i}@gmail.com,Prospect\n")); // never seen before
    }
    let report = app
        .import(
            &ws.key,
            "source=other&description=Leads%20from%20a%20partner",
            &csv,
        )
        .await
        .expect(201);
    assert_eq!(report["status"], "quarantined", "{report}");
    assert!(report["score"].as_i64().expect("score") < 70);
    let counts = &report["counts"];
    assert_eq!(counts["rows"], 200);
    assert_eq!(counts["invalid"], 60);
    assert_eq!(counts["role"], 40);
    assert_eq!(counts["imported"], 140);
    assert_eq!(counts["rejected"], 60);
    let signals: Vec<&str> = report["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .map(|s| s["code"].as_str().expect("code"))
        .collect();
    assert!(
        signals.contains(&"invalid")
            && signals.contains(&"role")
            && signals.contains(&"never_seen"),
        "{signals:?}"
    );

    // Stored, not mailable, until the operator approves.
    let lead = contact_by_email(&app, &ws.key, "prospect7@gmail.com").await;
    assert_eq!(lead["quarantined"], true);
    assert_eq!(lead["mailable"], false);
    assert_eq!(lead["import_id"], report["id"]);
    let member = contact_by_email(&app, &ws.key, "member3@gmail.com").await;
    assert_eq!(
        member["mailable"], true,
        "the workspace's own users are untouched"
    );

    // The rejected rows, with reasons, as CSV.
    let rejects = app.rejects(&ws.key, &report).await;
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "line,email,reason");
    assert_eq!(lines.len(), 61);
    assert!(
        lines[1].starts_with("2,lead0@example.com,") && lines[1].contains("reserved_domain"),
        "{}",
        lines[1]
    );

    // The operator sees it, with the provenance and the score, and approves.
    let queue = app
        .get("/v1/operator/imports?status=quarantined", &app.operator)
        .await
        .expect(200);
    let item = &queue["items"][0];
    assert_eq!(item["id"], report["id"]);
    assert_eq!(item["source"], "other");
    assert_eq!(item["description"], "Leads from a partner");
    let id = report["id"].as_str().expect("id");
    app.post(
        &format!("/v1/operator/imports/{id}/approve"),
        &ws.key,
        json!({"note": "x"}),
    )
    .await
    .expect(403);
    let approved = app
        .post(
            &format!("/v1/operator/imports/{id}/approve"),
            &app.operator,
            json!({"note": "Partner showed their sign-up form"}),
        )
        .await
        .expect(200);
    assert_eq!(approved["status"], "approved");
    let lead = contact_by_email(&app, &ws.key, "prospect7@gmail.com").await;
    assert_eq!(lead["quarantined"], false);
    assert_eq!(lead["mailable"], true);
    let again = app
        .post(
            &format!("/v1/operator/imports/{id}/approve"),
            &app.operator,
            json!({"note": "again"}),
        )
        .await
        .expect(409);
    assert!(again["detail"]
        .as_str()
        .expect("detail")
        .contains("approved"));
    let seen = app
        .get(&format!("/v1/imports/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(seen["review_note"], "Partner showed their sign-up form");
    let log = app
        .get("/v1/workspace/audit-log?limit=1000", &ws.key)
        .await
        .expect(200);
    assert!(log.to_string().contains("import.approved"));
}

async fn a_clean_export_of_product_users_is_accepted_with_its_consent_recorded(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let mut csv = String::from("Email,Name,user_id,plan,seats,beta,signed_up_at\n");
    for i in 0..100 {
        csv.push_str(&format!(
            "user{i}@gmail.com,User {i},u{i},{},{},{},2025-0{}-15\n",
            if i % 2 == 0 { "pro" } else { "free" },
            i % 7,
            i % 3 == 0,
            1 + i % 9
        ));
    }
    csv.push_str("admin@acme-mail.com,Admin,u100,pro,1,false,2025-01-01\n");
    let query = format!(
        "{PRODUCT}&consent=opt_in&consent_statement=Ticked%20%27Email%20me%20product%20news%27%20at%20sign-up"
    );
    let report = app.import(&ws.key, &query, &csv).await.expect(201);
    assert_eq!(report["status"], "accepted", "{report}");
    assert!(report["score"].as_i64().expect("score") >= 90);
    assert_eq!(report["counts"]["created"], 101);
    assert_eq!(report["counts"]["consent_recorded"], 101);
    let user = contact_by_email(&app, &ws.key, "user4@gmail.com").await;
    assert_eq!(user["mailable"], true);
    assert_eq!(user["name"], "User 4");
    assert_eq!(user["external_id"], "u4");
    assert_eq!(user["attributes"]["plan"], "pro");
    assert_eq!(user["attributes"]["seats"], 4);
    assert_eq!(user["attributes"]["beta"], false);
    assert_eq!(user["consent"]["marketing"]["status"], "opted_in");
    let types = app.attribute_types(&ws.key).await;
    assert!(
        types.contains(&("seats".into(), "number".into()))
            && types.contains(&("beta".into(), "boolean".into())),
        "{types:?}"
    );
    let proof = app
        .get(
            &format!("/v1/contacts/{}/consent", user["id"].as_str().expect("id")),
            &ws.key,
        )
        .await
        .expect(200);
    let event = &proof["events"][0];
    assert_eq!(event["method"], "import");
    let declaration = event["evidence"]["declaration"]
        .as_str()
        .expect("declaration");
    assert!(
        declaration.contains("Ticked 'Email me product news' at sign-up")
            && declaration.contains("product_users"),
        "{declaration}"
    );
    assert_eq!(proof["verification"]["valid"], true);
    let verify = app.get("/v1/consent/verify", &ws.key).await.expect(200);
    assert_eq!(verify["valid"], true);
    assert_eq!(verify["events"], 101);
    // Importing the same file again updates, creates nothing.
    let again = app.import(&ws.key, PRODUCT, &csv).await.expect(201);
    assert_eq!(again["counts"]["updated"], 101);
    assert_eq!(again["counts"]["created"], 0);
}

async fn bought_lists_and_incomplete_declarations_are_refused_before_anything_is_written(
    app: TestApp,
) {
    let ws = app.workspace("Acme").await;
    let csv = "email\nann@gmail.com\n";
    for source in ["purchased", "rented", "scraped"] {
        let p = app
            .import(&ws.key, &format!("source={source}"), csv)
            .await
            .expect(422);
        let detail = p["detail"].as_str().expect("detail");
        assert!(
            detail.contains("guidelines") && detail.contains("not allowed"),
            "{detail}"
        );
    }
    let p = app.import(&ws.key, "source=friends", csv).await.expect(422);
    assert!(p["detail"]
        .as_str()
        .expect("detail")
        .contains("signup_form"));
    app.import(&ws.key, "source=other", csv).await.expect(422);
    let p = app
        .import(&ws.key, "source=signup_form&consent=opt_in", csv)
        .await
        .expect(422);
    assert!(p["detail"]
        .as_str()
        .expect("detail")
        .contains("consent_statement"));
    let p = app.import(&ws.key, "description=x", csv).await.expect(422);
    assert!(p["detail"].as_str().expect("detail").contains("procured"));
    let p = app
        .import(&ws.key, "source=signup_form", "")
        .await
        .expect(422);
    assert!(p["detail"]
        .as_str()
        .expect("detail")
        .contains("the file is empty"));
    let p = app
        .import(&ws.key, "source=signup_form", "name,plan\nAnn,pro\n")
        .await
        .expect(422);
    assert!(p["detail"]
        .as_str()
        .expect("detail")
        .contains("no email column"));
    let p = app
        .import(
            &ws.key,
            "source=signup_form",
            "email,consent\nann@gmail.com,yes\n",
        )
        .await
        .expect(422);
    assert!(p["detail"]
        .as_str()
        .expect("detail")
        .contains("column 'consent'"));
    let resp = app
        .client
        .post(app.url("/v1/imports?source=signup_form"))
        .bearer_auth(&ws.key)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 415);
    let imports = app.get("/v1/imports", &ws.key).await.expect(200);
    assert_eq!(
        imports["items"].as_array().expect("items").len(),
        0,
        "a refused import leaves nothing behind"
    );
    let contacts = app.get("/v1/contacts", &ws.key).await.expect(200);
    assert_eq!(contacts["items"].as_array().expect("items").len(), 0);
}

async fn bad_rows_are_reported_with_reasons_and_the_rest_is_imported(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let csv = "email,seats,joined_at\n\
               ok1@gmail.com,3,2025-01-01\n\
               ok2@gmail.com,many,2025-01-02\n\
               ,4,2025-01-03\n\
               ok3@gmail.com,5\n\
               ok4@gmail.com,6,2025-01-04,extra\n\
               not-an-address,7,2025-01-05\n\
               ok5@gmail.com,8,soon\n\
               OK1@gmail.com,9,2025-01-06\n";
    let report = app.import(&ws.key, PRODUCT, csv).await.expect(201);
    let counts = &report["counts"];
    assert_eq!(counts["rows"], 8);
    assert_eq!(counts["imported"], 2, "{report}");
    assert_eq!(counts["rejected"], 6);
    assert_eq!(counts["duplicates"], 1);
    let rejects = app.rejects(&ws.key, &report).await;
    for (line, says) in [
        ("3,ok2@gmail.com", "not a number"),
        ("4,", "no email"),
        ("5,ok3@gmail.com", "fields"),
        ("6,ok4@gmail.com", "fields"),
        ("7,not-an-address", "syntax"),
        ("8,ok5@gmail.com", "date"),
    ] {
        let row = rejects
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{line} missing in\n{rejects}"));
        assert!(row.contains(says), "{row}");
    }
    let one = contact_by_email(&app, &ws.key, "ok1@gmail.com").await;
    assert_eq!(
        one["attributes"]["seats"], 9,
        "the later duplicate row updated the same contact"
    );
}

async fn an_import_cannot_opt_in_someone_who_opted_out(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let id = app
        .contact(&ws.key, json!({"email": "left@gmail.com"}))
        .await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        &ws.key,
        json!({"action": "opt_out", "method": "api"}),
    )
    .await
    .expect(201);
    let query = format!("{PRODUCT}&consent=opt_in&consent_statement=They%20all%20agreed");
    let report = app
        .import(&ws.key, &query, "email\nleft@gmail.com\nstays@gmail.com\n")
        .await
        .expect(201);
    assert_eq!(report["counts"]["consent_recorded"], 1);
    let left = app
        .get(&format!("/v1/contacts/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(
        left["consent"]["marketing"]["status"], "opted_out",
        "a list cannot overrule a person"
    );
    let stays = contact_by_email(&app, &ws.key, "stays@gmail.com").await;
    assert_eq!(stays["consent"]["marketing"]["status"], "opted_in");
    assert_eq!(
        app.get("/v1/consent/verify", &ws.key).await.expect(200)["valid"],
        true
    );
}

async fn a_trap_address_quarantines_the_import(app: TestApp) {
    let ws = app.workspace("Acme").await;
    app.post(
        "/v1/operator/suppressions",
        &app.operator,
        json!({"kind": "domain", "value": "spamtrap-domain.com", "note": "known trap network"}),
    )
    .await
    .expect(201);
    let mut csv = String::from("email\n");
    for i in 0..50 {
        csv.push_str(&format!("fan{i}@gmail.com\n"));
    }
    csv.push_str("x@mail.spamtrap-domain.com\n");
    let report = app.import(&ws.key, PRODUCT, &csv).await.expect(201);
    assert_eq!(report["status"], "quarantined");
    assert_eq!(report["counts"]["trap"], 1);
    assert!(report["signals"]
        .to_string()
        .contains("blocked by the platform operator"));
    let fan = contact_by_email(&app, &ws.key, "fan1@gmail.com").await;
    assert_eq!(fan["mailable"], false);
}

async fn dns_checks_ask_once_per_distinct_domain(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let mut csv = String::from("email\n");
    for i in 0..40 {
        let domain = [
            "gmail.com",
            "acme-mail.com",
            "nullmx-domain.com",
            "ghost-domain.com",
        ][i % 4];
        csv.push_str(&format!("p{i}@{domain}\n"));
    }
    let report = app
        .import(&ws.key, &format!("{PRODUCT}&checks=dns"), &csv)
        .await
        .expect(201);
    assert_eq!(report["counts"]["imported"], 20);
    assert_eq!(report["counts"]["invalid"], 20);
    let mut asked = app.dns.asked();
    asked.sort();
    assert_eq!(
        asked,
        [
            "acme-mail.com",
            "ghost-domain.com",
            "gmail.com",
            "nullmx-domain.com"
        ],
        "one lookup per distinct domain"
    );
}

async fn a_multipart_upload_is_accepted(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let form = reqwest::multipart::Form::new()
        .text("note", "ignored")
        .part(
            "file",
            reqwest::multipart::Part::text("email,name\nmp@gmail.com,Multi Part\n")
                .file_name("users.csv"),
        );
    let resp = app
        .client
        .post(app.url(&format!("/v1/imports?{PRODUCT}")))
        .bearer_auth(&ws.key)
        .multipart(form)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["counts"]["imported"], 1);
    assert_eq!(
        contact_by_email(&app, &ws.key, "mp@gmail.com").await["name"],
        "Multi Part"
    );
}

async fn an_import_that_moves_an_address_quarantines_it_too(app: TestApp) {
    let ws = app.workspace("Acme").await;
    app.post(
        "/v1/operator/suppressions",
        &app.operator,
        json!({"kind": "domain", "value": "blocked-net.com", "note": "trap"}),
    )
    .await
    .expect(201);
    let id = app
        .contact(
            &ws.key,
            json!({"external_id": "u1", "email": "old@gmail.com"}),
        )
        .await;
    let csv = "email,user_id\nnew@gmail.com,u1\nx@blocked-net.com,u2\n";
    let report = app.import(&ws.key, PRODUCT, csv).await.expect(201);
    assert_eq!(report["status"], "quarantined");
    assert_eq!(
        report["counts"].get("suppressed_elsewhere"),
        None,
        "not the workspace's to see"
    );
    let moved = app
        .get(&format!("/v1/contacts/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(moved["email"], "new@gmail.com");
    assert_eq!(
        moved["quarantined"], true,
        "the import vouched for the new address"
    );
    assert_eq!(moved["mailable"], false);
    let rejects = app.rejects(&ws.key, &report).await;
    assert!(
        rejects.contains("blocked by the platform operator") && !rejects.contains("trap"),
        "{rejects}"
    );
    let op = app
        .get(
            &format!(
                "/v1/operator/imports/{}",
                report["id"].as_str().expect("id")
            ),
            &app.operator,
        )
        .await
        .expect(200);
    assert_eq!(
        op["counts"]["suppressed_elsewhere"], 0,
        "the operator sees it"
    );
}

async fn semicolon_and_tab_separated_files_are_read(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let report = app
        .import(
            &ws.key,
            PRODUCT,
            "\u{feff}Email;Name;plan\nsemi@gmail.com;Semi Colon;pro\n",
        )
        .await
        .expect(201);
    assert_eq!(report["counts"]["imported"], 1, "{report}");
    let semi = contact_by_email(&app, &ws.key, "semi@gmail.com").await;
    assert_eq!(
        (semi["name"].as_str(), semi["attributes"]["plan"].as_str()),
        (Some("Semi Colon"), Some("pro"))
    );
    let report = app
        .import(
            &ws.key,
            PRODUCT,
            "email\tname\ntab@gmail.com\tTab, Separated\n",
        )
        .await
        .expect(201);
    assert_eq!(report["counts"]["imported"], 1, "{report}");
    assert_eq!(
        contact_by_email(&app, &ws.key, "tab@gmail.com").await["name"],
        "Tab, Separated"
    );
}

/// More rows than one batch: the import works the next batch out while the
/// database writes the last. A row repeated after several batches must find
/// the contact an earlier batch wrote, and the consent declared for every
/// batch must land after its contacts.
async fn a_large_import_is_written_batch_after_batch(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let mut csv = String::from("email,name,user_id,seats\n");
    for i in 0..5_000 {
        csv.push_str(&format!("user{i}@gmail.com,User {i},u{i},{}\n", i % 9));
    }
    // The same person again, three batches later, under a new name.
    csv.push_str("USER10@gmail.com,Renamed Ten,u10,3\n");
    let query = format!("{PRODUCT}&consent=opt_in&consent_statement=Ticked%20the%20box");
    let report = app.import(&ws.key, &query, &csv).await.expect(201);
    assert_eq!(report["status"], "accepted", "{report}");
    assert_eq!(report["counts"]["rows"], 5_001, "{report}");
    assert_eq!(report["counts"]["created"], 5_000, "{report}");
    assert_eq!(report["counts"]["updated"], 1, "{report}");
    assert_eq!(report["counts"]["duplicates"], 1, "{report}");
    assert_eq!(report["counts"]["consent_recorded"], 5_001, "{report}");
    let ten = contact_by_email(&app, &ws.key, "user10@gmail.com").await;
    assert_eq!(ten["name"], "Renamed Ten");
    assert_eq!(ten["attributes"]["seats"], 3);
    assert_eq!(ten["consent"]["marketing"]["status"], "opted_in");
    for i in [0, 1_999, 2_000, 4_001, 4_999] {
        let c = contact_by_email(&app, &ws.key, &format!("user{i}@gmail.com")).await;
        assert_eq!(c["name"], format!("User {i}"), "row {i}");
        assert_eq!(c["mailable"], true, "row {i}");
    }
    let verify = app.get("/v1/consent/verify", &ws.key).await.expect(200);
    assert_eq!(verify["valid"], true, "{verify}");
    assert_eq!(verify["events"], 5_001, "{verify}");
}

/// A body that breaks off after several batches were handed to the database:
/// the import fails and everything it wrote is rolled back, its own record
/// included; the next import goes through.
async fn an_import_that_breaks_off_midway_leaves_nothing_behind(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let mut body = String::from(
        "--cut\r\nContent-Disposition: form-data; name=\"file\"; filename=\"users.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nemail,name\n",
    );
    for i in 0..7_000 {
        body.push_str(&format!("user{i}@gmail.com,User {i}\n"));
    }
    // No closing boundary: the multipart body ends in the middle of the file.
    let resp = app
        .client
        .post(app.url(&format!("/v1/imports?{PRODUCT}")))
        .bearer_auth(&ws.key)
        .header("content-type", "multipart/form-data; boundary=cut")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    let problem: Value = resp.json().await.expect("json");
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("could not be read")),
        "{problem}"
    );
    let none = app
        .get("/v1/contacts?email=user1@gmail.com", &ws.key)
        .await
        .expect(200);
    assert_eq!(none["items"], json!([]), "{none}");
    let imports = app.get("/v1/imports", &ws.key).await.expect(200);
    assert_eq!(imports["items"], json!([]), "{imports}");
    let report = app
        .import(&ws.key, PRODUCT, "email,name\nuser1@gmail.com,User One\n")
        .await
        .expect(201);
    assert_eq!(report["counts"]["created"], 1, "{report}");
}

/// Two imports of the same list into an empty workspace at the same time.
/// SQLite has one writer, so they run one after the other and the second
/// updates. On PostgreSQL both write at once: the unique index stops the
/// second when the first commits, its writer fails, and the import answers
/// 409 and leaves nothing behind. Either way each contact exists once.
async fn two_imports_of_one_list_at_once_create_each_contact_once(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let mut csv = String::from("email,name\n");
    for i in 0..5_000 {
        csv.push_str(&format!("user{i}@gmail.com,User {i}\n"));
    }
    let (a, b) = tokio::join!(
        app.import(&ws.key, PRODUCT, &csv),
        app.import(&ws.key, PRODUCT, &csv)
    );
    let mut created = 0;
    let mut succeeded = 0;
    for resp in [a, b] {
        match resp.status.as_u16() {
            201 => {
                succeeded += 1;
                created += resp.body["counts"]["created"].as_u64().expect("created");
            }
            409 => assert!(
                resp.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("send the request again")),
                "{}",
                resp.body
            ),
            other => panic!("unexpected status {other}: {}", resp.body),
        }
    }
    assert!(succeeded >= 1, "neither import went through");
    assert_eq!(created, 5_000, "each contact is created once");
    let imports = app.get("/v1/imports", &ws.key).await.expect(200);
    assert_eq!(
        imports["items"].as_array().map(Vec::len),
        Some(succeeded),
        "a failed import leaves no record: {imports}"
    );
    let one = app
        .get("/v1/contacts?email=user4999@gmail.com", &ws.key)
        .await
        .expect(200);
    assert_eq!(one["items"].as_array().map(Vec::len), Some(1), "{one}");
}

/// Regression: the list answered at most 1,000 imports and said nothing of
/// the rest; it pages like every other list now.
async fn the_import_list_pages_with_a_cursor_and_shows_only_the_workspace_s_own(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let other = app.workspace("Other").await;
    let mut made = Vec::new();
    for name in ["one", "two", "three"] {
        let report = app
            .import(&ws.key, PRODUCT, &format!("email\n{name}@gmail.com\n"))
            .await
            .expect(201);
        made.push(report["id"].as_str().expect("an id").to_owned());
    }
    let first = app.get("/v1/imports?limit=2", &ws.key).await.expect(200);
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(
        ids(&first),
        [made[2].clone(), made[1].clone()],
        "newest first"
    );
    let cursor = first["next_cursor"].as_str().expect("a cursor to the rest");
    let rest = app
        .get(&format!("/v1/imports?limit=2&cursor={cursor}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(ids(&rest), [made[0].clone()]);
    assert!(rest["next_cursor"].is_null(), "{rest}");
    let theirs = app.get("/v1/imports", &other.key).await.expect(200);
    assert!(ids(&theirs).is_empty(), "{theirs}");
    app.get("/v1/imports?limit=0", &ws.key).await.expect(422);
}

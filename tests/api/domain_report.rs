//! The sender domain report (issue #19) against a fixed DNS resolver:
//! a domain set up right passes every check; half-done records warn; a
//! domain with nothing published fails, each with the record to publish.

use crate::support::TestApp;
use sendwell_screen::dns::DomainMail;
use sendwell_server::transport::{Relay, TransportKind};
use serde_json::{json, Value};

crate::on_both_db!(the_report_passes_warns_and_fails_with_the_records_to_publish);

/// Mail through the relay smtp.relay.net, bounces to bounces.acme-mail.com.
fn through_relay(s: &mut sendwell_server::config::Settings) {
    let d = &mut s.delivery;
    d.transport.kind = TransportKind::Smtp;
    d.transport.relay = Some(Relay {
        host: "smtp.relay.net".to_owned(),
        port: 587,
        tls: sendwell_server::smtp::TlsMode::None,
        credentials: None,
    });
    d.bounce_domain = Some("bounces.acme-mail.com".to_owned());
}

fn by_check<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("a {name} check in {report}"))
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["check"].as_str().expect("check").to_owned(),
                c["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

async fn the_report_passes_warns_and_fails_with_the_records_to_publish(db: Option<String>) {
    let app = TestApp::spawn_with(db, |s| {
        through_relay(s);
        s.public_url = Some("https://mail.sendwell.test".to_owned());
    })
    .await;
    let ws = app.ready_workspace("Acme").await;
    let created = app
        .post(
            "/v1/sender-domains",
            &ws.key,
            json!({"domain": "acme-mail.com"}),
        )
        .await
        .expect(201);
    for r in created["dns_records"].as_array().expect("records") {
        app.dns.set_txt(
            r["name"].as_str().expect("name"),
            vec![r["value"].as_str().expect("value").to_owned()],
        );
    }
    app.post(
        "/v1/sender-domains/acme-mail.com/verify",
        &ws.key,
        json!({}),
    )
    .await
    .expect(200);
    app.dns.set_txt(
        "bounces.acme-mail.com",
        vec!["v=spf1 a:smtp.relay.net -all".to_owned()],
    );
    app.dns.set_txt(
        "_dmarc.acme-mail.com",
        vec!["v=DMARC1; p=reject; rua=mailto:dmarc@acme-mail.com".to_owned()],
    );
    app.dns.set(
        "bounces.acme-mail.com",
        DomainMail::Mx(vec!["mail.sendwell.test".to_owned()]),
        3600,
    );
    let shown = app
        .get("/v1/sender-domains/acme-mail.com", &ws.key)
        .await
        .expect(200);
    let report = &shown["report"];
    assert_eq!(report["status"], "pass", "{report}");
    assert_eq!(
        statuses(report),
        [
            ("dkim", "pass"),
            ("spf", "pass"),
            ("dmarc", "pass"),
            ("dkim_alignment", "pass"),
            ("return_path_alignment", "pass"),
            ("bounce_mx", "pass")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(report["return_path_domain"], "bounces.acme-mail.com");
    // The list does not look DNS up.
    let list = app.get("/v1/sender-domains", &ws.key).await.expect(200);
    assert!(list["items"][0].get("report").is_none(), "{list}");

    // Half done: DMARC only monitors, SPF goes through an include this
    // check does not follow, the MX points elsewhere.
    app.dns
        .set_txt("_dmarc.acme-mail.com", vec!["v=DMARC1; p=none".to_owned()]);
    app.dns.set_txt(
        "bounces.acme-mail.com",
        vec!["v=spf1 include:_spf.google.com ~all".to_owned()],
    );
    app.dns.set(
        "bounces.acme-mail.com",
        DomainMail::Mx(vec!["mx.elsewhere.net".to_owned()]),
        3600,
    );
    let report = app
        .get("/v1/sender-domains/acme-mail.com", &ws.key)
        .await
        .expect(200)["report"]
        .clone();
    assert_eq!(report["status"], "warn", "{report}");
    for name in ["spf", "dmarc", "bounce_mx"] {
        let c = by_check(&report, name);
        assert_eq!(c["status"], "warn", "{c}");
        assert!(c["publish"]["value"].is_string(), "{c}");
    }
    assert!(by_check(&report, "dmarc")["detail"]
        .as_str()
        .unwrap_or("")
        .contains("p=none"));
    assert_eq!(by_check(&report, "dmarc")["found"], "v=DMARC1; p=none");
    assert_eq!(
        by_check(&report, "spf")["publish"]["value"],
        "v=spf1 a:smtp.relay.net ~all"
    );

    // Nothing published for another domain: DKIM and DMARC fail, and the
    // return path (under acme-mail.com) does not align with it.
    app.post(
        "/v1/sender-domains",
        &ws.key,
        json!({"domain": "other-mail.com"}),
    )
    .await
    .expect(201);
    app.dns.set_txt(
        "bounces.acme-mail.com",
        vec![
            "v=spf1 a:smtp.relay.net -all".to_owned(),
            "v=spf1 -all".to_owned(),
        ],
    );
    app.dns
        .set("bounces.acme-mail.com", DomainMail::NoMail, 3600);
    let report = app
        .get("/v1/sender-domains/other-mail.com", &ws.key)
        .await
        .expect(200)["report"]
        .clone();
    assert_eq!(report["status"], "fail", "{report}");
    let dkim = by_check(&report, "dkim");
    assert_eq!(dkim["status"], "fail");
    assert!(
        dkim["publish"]["name"]
            .as_str()
            .unwrap_or("")
            .ends_with("._domainkey.other-mail.com"),
        "{dkim}"
    );
    let dmarc = by_check(&report, "dmarc");
    assert_eq!(
        (dmarc["status"].as_str(), dmarc["publish"]["name"].as_str()),
        (Some("fail"), Some("_dmarc.other-mail.com")),
        "{dmarc}"
    );
    assert!(
        by_check(&report, "spf")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("2 SPF records"),
        "{report}"
    );
    let rp = by_check(&report, "return_path_alignment");
    assert_eq!(
        (rp["status"].as_str(), rp["publish"]["name"].as_str()),
        (Some("warn"), Some("bounces.other-mail.com")),
        "{rp}"
    );
    let mx = by_check(&report, "bounce_mx");
    assert_eq!(
        (mx["status"].as_str(), mx["publish"]["value"].as_str()),
        (Some("fail"), Some("10 mail.sendwell.test")),
        "{mx}"
    );
    // Another workspace cannot read it.
    let other = app.ready_workspace("Other").await;
    app.get("/v1/sender-domains/other-mail.com", &other.key)
        .await
        .expect(404);
}

crate::on_both_db!(the_bulk_sender_rules_block_a_large_marketing_send_until_met);

fn codes(report: &Value, list: &str) -> Vec<String> {
    report[list]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_owned())
        .collect()
}

async fn the_bulk_sender_rules_block_a_large_marketing_send_until_met(db: Option<String>) {
    let app = TestApp::spawn_with(db, |s| {
        through_relay(s);
        s.delivery.serve_worker = false;
    })
    .await;
    let ws = app.ready_workspace("Big").await;
    crate::support::import_bad_and_good(&app, &ws, "unused", 0, 5_001).await;
    let m = app
        .post("/v1/messages", &ws.key, crate::delivery::announcement())
        .await
        .expect(201);
    let preflight = format!("/v1/messages/{}/preflight", m["id"].as_str().expect("id"));
    let r = app.post(&preflight, &ws.key, json!({})).await.expect(200);
    assert_eq!(r["audience"]["eligible"], 5_001, "{}", r["audience"]);
    let blockers = codes(&r, "blockers");
    for code in ["bulk_dmarc_missing", "bulk_not_aligned"] {
        assert!(
            blockers.contains(&code.to_owned()),
            "{code} in {blockers:?}"
        );
    }
    assert!(
        r.to_string().contains("_dmarc.acme-mail.com"),
        "the record to publish"
    );

    // DKIM verified and DMARC published: those rules are met.
    let created = app
        .post(
            "/v1/sender-domains",
            &ws.key,
            json!({"domain": "acme-mail.com"}),
        )
        .await
        .expect(201);
    for rec in created["dns_records"].as_array().expect("records") {
        app.dns.set_txt(
            rec["name"].as_str().expect("name"),
            vec![rec["value"].as_str().expect("value").to_owned()],
        );
    }
    app.post(
        "/v1/sender-domains/acme-mail.com/verify",
        &ws.key,
        json!({}),
    )
    .await
    .expect(200);
    app.dns.set_txt(
        "_dmarc.acme-mail.com",
        vec!["v=DMARC1; p=none; rua=mailto:d@acme-mail.com".to_owned()],
    );
    let r = app.post(&preflight, &ws.key, json!({})).await.expect(200);
    let all: Vec<String> = codes(&r, "blockers")
        .into_iter()
        .chain(codes(&r, "warnings"))
        .collect();
    assert!(!all.iter().any(|c| c.starts_with("bulk_")), "{all:?}");

    // Complaints: a warning from 0.1%, a blocker from 0.3%.
    let mut db = app.raw_db().await;
    let day = app.state.store.now().millis() / 86_400_000;
    for (complaints, list) in [(20, "warnings"), (40, "blockers")] {
        sqlx::query("DELETE FROM reputation_days WHERE workspace_id = $1")
            .bind(ws.id.clone())
            .execute(&mut db)
            .await
            .expect("clear");
        sqlx::query("INSERT INTO reputation_days (workspace_id, day, sends, hard_bounces, complaints) VALUES ($1, $2, 10000, 0, $3)")
            .bind(ws.id.clone())
            .bind(day)
            .bind(complaints)
            .execute(&mut db)
            .await
            .expect("counts");
        let r = app.post(&preflight, &ws.key, json!({})).await.expect(200);
        assert!(
            codes(&r, list).contains(&"bulk_complaint_rate".to_owned()),
            "{complaints}: {r}"
        );
    }

    // A small send is no bulk send.
    let small = app.ready_workspace("Small").await;
    crate::support::opted_in(&app, &small, "ann@receiver-mail.net").await;
    let m = app
        .post("/v1/messages", &small.key, crate::delivery::announcement())
        .await
        .expect(201);
    let r = app
        .post(
            &format!("/v1/messages/{}/preflight", m["id"].as_str().expect("id")),
            &small.key,
            json!({}),
        )
        .await
        .expect(200);
    let all: Vec<String> = codes(&r, "blockers")
        .into_iter()
        .chain(codes(&r, "warnings"))
        .collect();
    assert!(!all.iter().any(|c| c.starts_with("bulk_")), "{all:?}");
}

//! Scheduled sends, delivery windows in each recipient's time zone and
//! quiet hours (issue #19), on a clock the test sets: a send waits for its
//! time and is checked again then; one that fails its checks is held with
//! the reason and the workspace is told; each recipient's mail waits for
//! their local hours.

use crate::delivery::{announcement, counts, n};
use crate::support::{opted_in, ShiftedClock, TestApp, Workspace};
use sendwell_core::{DeliveryId, Timestamp};
use sendwell_server::delivery::{DeliveryWorker, Outcome};
use sendwell_server::schedule::{release_due, Released};
use serde_json::{json, Value};
use std::sync::Arc;

crate::on_both_db!(
    a_scheduled_send_goes_at_its_time_and_is_checked_again_then,
    a_window_waits_for_each_recipients_local_hours,
    quiet_hours_hold_bulk_mail_but_not_receipts,
);

async fn clocked(db: Option<String>, at: &str) -> (TestApp, Arc<ShiftedClock>) {
    let clock = Arc::new(ShiftedClock::default());
    clock.set(at);
    let app = TestApp::spawn_with_clock(db, clock.clone(), |s| {
        s.delivery.webhook_allow_private = true;
        // The test steps the worker and the scheduler itself.
        s.delivery.serve_worker = false;
    })
    .await;
    (app, clock)
}

async fn compose(app: &TestApp, ws: &Workspace) -> String {
    let m = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    m["id"].as_str().expect("id").to_owned()
}

async fn message(app: &TestApp, ws: &Workspace, id: &str) -> Value {
    app.get(&format!("/v1/messages/{id}"), &ws.key)
        .await
        .expect(200)
}

async fn a_scheduled_send_goes_at_its_time_and_is_checked_again_then(db: Option<String>) {
    let (app, clock) = clocked(db, "2027-01-04T12:00:00Z").await;
    let ws = app.ready_workspace("Scheduled").await;
    let ann = opted_in(&app, &ws, "ann@receiver-mail.net").await;
    let bob = opted_in(&app, &ws, "bob@receiver-mail.net").await;
    let id = compose(&app, &ws).await;
    let send = format!("/v1/messages/{id}/send");

    // What is wrong with a time is said, and nothing changes.
    for (body, says) in [
        (json!({"send_at": "tomorrow"}), "RFC 3339"),
        (json!({"send_at": "2026-12-31T09:00:00Z"}), "in the past"),
        (json!({"send_at": "2029-01-01T09:00:00Z"}), "366 days"),
        (
            json!({"send_at": "2027-01-05T09:00:00Z", "window": {"start": "25:00", "end": "17:00"}}),
            "HH:MM",
        ),
        (
            json!({"send_at": "2027-01-05T09:00:00Z", "window": {"start": "09:00", "end": "17:00", "days": ["someday"]}}),
            "not a day",
        ),
    ] {
        let r = app.post(&send, &ws.key, body.clone()).await.expect(422);
        assert!(r.to_string().contains(says), "{body}: {r}");
    }
    assert_eq!(message(&app, &ws, &id).await["state"], "draft");

    let scheduled = app
        .post(
            &send,
            &ws.key,
            json!({"send_at": "2027-01-04T15:00:00+00:00"}),
        )
        .await
        .expect(202);
    assert_eq!(scheduled["queued"], 0, "{scheduled}");
    assert_eq!(
        scheduled["send_at"], "2027-01-04T15:00:00.000Z",
        "{scheduled}"
    );
    let m = message(&app, &ws, &id).await;
    assert_eq!(
        (m["state"].as_str(), m["send_at"].as_str()),
        (Some("scheduled"), Some("2027-01-04T15:00:00.000Z")),
        "{m}"
    );
    // Nothing of it is on its way, so pause does not apply.
    let refused = app
        .post(&format!("/v1/messages/{id}/pause"), &ws.key, json!({}))
        .await
        .expect(409);
    assert!(refused.to_string().contains("unschedule"), "{refused}");

    // Before its time, nothing goes.
    assert_eq!(
        release_due(&app.state).await.expect("look"),
        Released::default()
    );
    assert_eq!(message(&app, &ws, &id).await["queued"], 0);

    clock.set("2027-01-04T15:00:30Z");
    assert_eq!(
        release_due(&app.state).await.expect("look"),
        Released { sent: 1, held: 0 }
    );
    let m = message(&app, &ws, &id).await;
    assert_eq!(
        (m["state"].as_str(), m["queued"].as_i64()),
        (Some("sending"), Some(2)),
        "{m}"
    );
    assert_eq!(
        release_due(&app.state).await.expect("look"),
        Released::default(),
        "once only"
    );
    let worker = DeliveryWorker::new(app.state.clone());
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(2));

    // A second one is scheduled; by its time both people have opted out,
    // so the checks fail then: held with the reason, and the workspace is told.
    let hook = app
        .post(
            "/v1/webhooks",
            &ws.key,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["message_held"]}),
        )
        .await
        .expect(201);
    let second = compose(&app, &ws).await;
    app.post(
        &format!("/v1/messages/{second}/send"),
        &ws.key,
        json!({"send_at": "2027-01-05T08:00:00Z"}),
    )
    .await
    .expect(202);
    for contact in [&ann, &bob] {
        app.post(
            &format!("/v1/contacts/{contact}/consent"),
            &ws.key,
            json!({"action": "opt_out", "method": "api"}),
        )
        .await
        .expect(201);
    }
    clock.set("2027-01-05T08:01:00Z");
    assert_eq!(
        release_due(&app.state).await.expect("look"),
        Released { sent: 0, held: 1 }
    );
    let m = message(&app, &ws, &second).await;
    assert_eq!(m["state"], "held", "{m}");
    assert_eq!(m["queued"], 0, "{m}");
    let reason = m["held_reason"].as_str().expect("a reason");
    assert!(
        reason.contains("no_recipients") || reason.contains("recipient"),
        "{reason}"
    );
    let audit = app
        .get("/v1/workspace/audit-log", &ws.key)
        .await
        .expect(200);
    assert!(audit.to_string().contains("message.held"), "{audit}");
    let log = app
        .get(
            &format!(
                "/v1/webhooks/{}/deliveries",
                hook["id"].as_str().expect("id")
            ),
            &ws.key,
        )
        .await
        .expect(200);
    assert_eq!(log["items"][0]["event_type"], "message_held", "{log}");
    let mut db = app.raw_db().await;
    let row = sqlx::query("SELECT payload FROM webhook_messages WHERE event_type = 'message_held'")
        .fetch_one(&mut db)
        .await
        .expect("the event");
    let event: Value =
        serde_json::from_str(&sqlx::Row::get::<String, _>(&row, "payload")).expect("json");
    assert_eq!(event["data"]["message_id"], second.as_str(), "{log}");
    assert_eq!(
        release_due(&app.state).await.expect("look"),
        Released::default()
    );

    // A held message becomes a draft again; one that is not, does not.
    let draft = app
        .post(
            &format!("/v1/messages/{second}/unschedule"),
            &ws.key,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(
        (draft["state"].as_str(), draft["held_reason"].as_str()),
        (Some("draft"), None),
        "{draft}"
    );
    app.post(
        &format!("/v1/messages/{second}/unschedule"),
        &ws.key,
        json!({}),
    )
    .await
    .expect(409);
    app.post(&format!("/v1/messages/{id}/unschedule"), &ws.key, json!({}))
        .await
        .expect(409);
    // A scheduled message may be cancelled before its time.
    app.post(
        &format!("/v1/messages/{second}/send"),
        &ws.key,
        json!({"send_at": "2027-01-06T08:00:00Z"}),
    )
    .await
    .expect(409);
    let third = compose(&app, &ws).await;
    opted_in(&app, &ws, "cy@receiver-mail.net").await;
    app.post(
        &format!("/v1/messages/{third}/send"),
        &ws.key,
        json!({"send_at": "2027-01-06T08:00:00Z"}),
    )
    .await
    .expect(202);
    let cancelled = app
        .post(&format!("/v1/messages/{third}/cancel"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled["state"], "cancelled");
    clock.set("2027-01-06T09:00:00Z");
    assert_eq!(
        release_due(&app.state).await.expect("look"),
        Released::default()
    );
}

/// When the delivery of `message` to `contact` is next due.
async fn due_at(app: &TestApp, message: &str, contact: &str) -> String {
    let id = DeliveryId::parse(&format!("{message}.{contact}")).expect("a delivery id");
    let d = app
        .state
        .store
        .delivery_state(&id)
        .await
        .expect("store")
        .expect("a delivery");
    d.next_attempt_at.to_rfc3339()
}

async fn in_zone(app: &TestApp, ws: &Workspace, email: &str, zone: Option<&str>) -> String {
    let id = opted_in(app, ws, email).await;
    if let Some(zone) = zone {
        app.post(
            "/v1/contacts",
            &ws.key,
            json!({"email": email, "attributes": {"timezone": zone}}),
        )
        .await
        .expect(200);
    }
    id
}

async fn a_window_waits_for_each_recipients_local_hours(db: Option<String>) {
    // A Monday, 12:00 UTC: 07:00 in New York, 21:00 in Tokyo, 13:00 in Berlin.
    let (app, clock) = clocked(db, "2027-01-04T12:00:00Z").await;
    let ws = app.ready_workspace("Windowed").await;
    app.post(
        "/v1/attributes",
        &ws.key,
        json!({"name": "timezone", "type": "string"}),
    )
    .await
    .expect(201);
    let bad = app
        .patch(
            "/v1/workspace",
            &ws.key,
            json!({"timezone": "Mars/Olympus"}),
        )
        .await
        .expect(422);
    assert!(bad.to_string().contains("IANA"), "{bad}");
    app.patch(
        "/v1/workspace",
        &ws.key,
        json!({"timezone": "Europe/Berlin"}),
    )
    .await
    .expect(200);
    let ny = in_zone(&app, &ws, "ny@receiver-mail.net", Some("America/New_York")).await;
    let tokyo = in_zone(&app, &ws, "tokyo@receiver-mail.net", Some("Asia/Tokyo")).await;
    let berlin = in_zone(&app, &ws, "berlin@receiver-mail.net", None).await;
    let unknown = in_zone(&app, &ws, "odd@receiver-mail.net", Some("Nowhere/Special")).await;
    let id = compose(&app, &ws).await;
    let sent = app
        .post(
            &format!("/v1/messages/{id}/send"),
            &ws.key,
            json!({"window": {"start": "09:00", "end": "17:00", "days": ["weekdays"]}}),
        )
        .await
        .expect(202);
    assert_eq!(sent["queued"], 4, "{sent}");
    let m = message(&app, &ws, &id).await;
    assert_eq!(
        m["window"],
        json!({"start": "09:00", "end": "17:00", "days": ["mon", "tue", "wed", "thu", "fri"]}),
        "{m}"
    );
    assert_eq!(due_at(&app, &id, &ny).await, "2027-01-04T14:00:00.000Z");
    assert_eq!(due_at(&app, &id, &tokyo).await, "2027-01-05T00:00:00.000Z");
    // No zone, or one that does not exist: the workspace's (Berlin, open now).
    assert!(due_at(&app, &id, &berlin).await.as_str() <= "2027-01-04T12:01:00.000Z");
    assert!(due_at(&app, &id, &unknown).await.as_str() <= "2027-01-04T12:01:00.000Z");

    let worker = DeliveryWorker::new(app.state.clone());
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(2));
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Idle);
    clock.set("2027-01-04T14:00:10Z");
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(1));
    clock.set("2027-01-05T00:00:10Z");
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(1));
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!(n(&c, "delivered"), 4, "{c}");
    let outbox = app.get("/v1/outbox?limit=10", &ws.key).await.expect(200);
    assert_eq!(
        outbox["items"].as_array().map(Vec::len),
        Some(4),
        "{outbox}"
    );
}

async fn quiet_hours_hold_bulk_mail_but_not_receipts(db: Option<String>) {
    let (app, clock) = clocked(db, "2027-01-04T22:30:00Z").await;
    let ws = app.ready_workspace("Quiet").await;
    for bad in ["21:00", "21:00-21:00", "9pm-8am"] {
        let r = app
            .patch("/v1/workspace", &ws.key, json!({"quiet_hours": bad}))
            .await
            .expect(422);
        assert!(r["errors"][0]["pointer"] == "/quiet_hours", "{bad}: {r}");
    }
    let set = app
        .patch(
            "/v1/workspace",
            &ws.key,
            json!({"quiet_hours": "21:00-8:00"}),
        )
        .await
        .expect(200);
    assert_eq!(set["quiet_hours"], "21:00-08:00", "{set}");
    let ann = opted_in(&app, &ws, "ann@receiver-mail.net").await;
    // A window the quiet hours cover whole would never open: refused.
    let id = compose(&app, &ws).await;
    let r = app
        .post(
            &format!("/v1/messages/{id}/send"),
            &ws.key,
            json!({"window": {"start": "22:00", "end": "23:00"}}),
        )
        .await
        .expect(422);
    assert!(r.to_string().contains("quiet hours"), "{r}");
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    assert_eq!(due_at(&app, &id, &ann).await, "2027-01-05T08:00:00.000Z");
    // A receipt is not held back.
    let receipt = app
        .post(
            "/v1/transactional",
            &ws.key,
            json!({"to": {"email": "ann@receiver-mail.net"},
                   "from": {"address": "billing@acme-mail.com"},
                   "subject": "Your receipt",
                   "template": {"layout": "plain", "html": "<p>Thank you for your order.</p>"}}),
        )
        .await
        .expect(202);
    let d = DeliveryId::parse(receipt["delivery_id"].as_str().expect("id")).expect("delivery id");
    let due = app
        .state
        .store
        .delivery_state(&d)
        .await
        .expect("store")
        .expect("delivery");
    assert!(
        due.next_attempt_at.millis()
            <= Timestamp::parse("2027-01-04T22:31:00Z")
                .expect("t")
                .millis()
    );
    let worker = DeliveryWorker::new(app.state.clone());
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(1));
    clock.set("2027-01-05T08:00:05Z");
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(1));
    // Quiet hours removed: the next send goes at once.
    let off = app
        .patch("/v1/workspace", &ws.key, json!({"quiet_hours": ""}))
        .await
        .expect(200);
    assert_eq!(off["quiet_hours"], Value::Null);
}

crate::on_both_db!(warm_up_caps_bulk_mail_per_day_and_grows_over_three_days);

async fn warm_up_caps_bulk_mail_per_day_and_grows_over_three_days(db: Option<String>) {
    let (app, clock) = clocked(db, "2027-01-04T10:00:00Z").await;
    let bad = app
        .send(
            reqwest::Method::PUT,
            "/v1/operator/policy",
            Some(&app.operator),
            Some(json!({"warmup_growth": 20})),
        )
        .await
        .expect(422);
    assert_eq!(bad["errors"][0]["pointer"], "/warmup_growth", "{bad}");
    app.send(
        reqwest::Method::PUT,
        "/v1/operator/policy",
        Some(&app.operator),
        Some(json!({"warmup_start_per_day": 10, "warmup_growth": 1.5, "warmup_end_per_day": 1000})),
    )
    .await
    .expect(200);
    let ws = app.ready_workspace("New").await;
    let mut contacts = Vec::new();
    for i in 0..40 {
        contacts.push(opted_in(&app, &ws, &format!("p{i:02}@receiver-mail.net")).await);
    }
    let id = compose(&app, &ws).await;
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let worker = DeliveryWorker::new(app.state.clone());
    while worker.run_once().await.expect("batch") != Outcome::Idle {}
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!(
        (n(&c, "delivered"), n(&c, "deferred")),
        (10, 30),
        "day 1: {c}"
    );
    let view = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert_eq!(
        view["warmup"],
        json!({"cap_per_day": 10, "used_today": 10}),
        "{view}"
    );
    // Each put-off mail says why and waits for midnight, in order.
    let mut waiting = Vec::new();
    for contact in &contacts {
        let d = DeliveryId::parse(&format!("{id}.{contact}")).expect("id");
        let s = app
            .state
            .store
            .delivery_state(&d)
            .await
            .expect("store")
            .expect("delivery");
        if s.state == sendwell_core::DeliveryStatus::Deferred {
            assert!(
                s.last_reply
                    .as_deref()
                    .is_some_and(|r| r.starts_with("warmup")),
                "{s:?}"
            );
            assert!(
                s.next_attempt_at
                    .to_rfc3339()
                    .starts_with("2027-01-05T00:00:00"),
                "{s:?}"
            );
            waiting.push((s.next_attempt_at.millis(), contact.clone()));
        }
    }
    waiting.sort();
    let distinct: std::collections::BTreeSet<i64> = waiting.iter().map(|(t, _)| *t).collect();
    assert_eq!(distinct.len(), 30, "each put-off mail has its own place");
    // A receipt is never capped.
    let receipt = app
        .post(
            "/v1/transactional",
            &ws.key,
            json!({"to": {"email": "p00@receiver-mail.net"}, "from": {"address": "billing@acme-mail.com"},
                   "subject": "Your receipt", "template": {"layout": "plain", "html": "<p>Thanks.</p>"}}),
        )
        .await
        .expect(202);
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(1));
    let d = DeliveryId::parse(receipt["delivery_id"].as_str().expect("id")).expect("id");
    let r = app
        .state
        .store
        .delivery_state(&d)
        .await
        .expect("store")
        .expect("delivery");
    assert_eq!(r.state, sendwell_core::DeliveryStatus::Delivered);

    // Day 2: the cap grew to 15; the first fifteen put off go.
    clock.set("2027-01-05T00:01:00Z");
    while worker.run_once().await.expect("batch") != Outcome::Idle {}
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!(
        (n(&c, "delivered"), n(&c, "deferred")),
        (25, 15),
        "day 2: {c}"
    );
    for (k, (_, contact)) in waiting.iter().enumerate() {
        let d = DeliveryId::parse(&format!("{id}.{contact}")).expect("id");
        let s = app
            .state
            .store
            .delivery_state(&d)
            .await
            .expect("store")
            .expect("delivery");
        let went = s.state == sendwell_core::DeliveryStatus::Delivered;
        assert_eq!(went, k < 15, "the {k}th put off, in order: {s:?}");
    }
    // Day 3: 22 a day, so the last fifteen go.
    clock.set("2027-01-06T00:01:00Z");
    while worker.run_once().await.expect("batch") != Outcome::Idle {}
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!(
        (n(&c, "delivered"), n(&c, "deferred")),
        (40, 0),
        "day 3: {c}"
    );
    let view = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert_eq!(
        view["warmup"],
        json!({"cap_per_day": 22, "used_today": 15}),
        "{view}"
    );

    // The operator lifts it; the change is audited.
    let lifted = app
        .post(
            &format!("/v1/operator/workspaces/{}/warmup", ws.id),
            &app.operator,
            json!({"cap_per_day": null, "note": "known sender, moved from another platform"}),
        )
        .await
        .expect(200);
    assert!(lifted["workspace"].get("warmup").is_none(), "{lifted}");
    app.post(
        &format!("/v1/operator/workspaces/{}/warmup", ws.id),
        &app.operator,
        json!({"cap_per_day": 0, "note": "x"}),
    )
    .await
    .expect(422);
    let audit = app
        .get("/v1/workspace/audit-log", &ws.key)
        .await
        .expect(200);
    assert!(audit.to_string().contains("warm-up lifted"), "{audit}");
}

crate::on_both_db!(a_backlog_past_the_window_waits_for_its_next_opening);

async fn a_backlog_past_the_window_waits_for_its_next_opening(db: Option<String>) {
    // Monday 10:00 UTC, the window open: the mail is due at once.
    let (app, clock) = clocked(db, "2027-01-04T10:00:00Z").await;
    let ws = app.ready_workspace("Backlog").await;
    let ann = opted_in(&app, &ws, "ann@receiver-mail.net").await;
    let id = compose(&app, &ws).await;
    app.post(
        &format!("/v1/messages/{id}/send"),
        &ws.key,
        json!({"window": {"start": "09:00", "end": "17:00"}}),
    )
    .await
    .expect(202);
    assert!(due_at(&app, &id, &ann).await.as_str() <= "2027-01-04T10:01:00.000Z");
    // No worker ran until 18:00: the window has closed, so it waits for
    // the next opening instead of going now, and that is no attempt.
    clock.set("2027-01-04T18:00:00Z");
    let worker = DeliveryWorker::new(app.state.clone());
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(1));
    let d = DeliveryId::parse(&format!("{id}.{ann}")).expect("id");
    let s = app
        .state
        .store
        .delivery_state(&d)
        .await
        .expect("store")
        .expect("delivery");
    assert_eq!(s.state, sendwell_core::DeliveryStatus::Deferred, "{s:?}");
    assert_eq!(s.attempts, 0, "{s:?}");
    assert_eq!(s.next_attempt_at.to_rfc3339(), "2027-01-05T09:00:00.000Z");
    assert!(
        s.last_reply
            .as_deref()
            .is_some_and(|r| r.starts_with("local hours")),
        "{s:?}"
    );
    assert_eq!(
        app.get("/v1/outbox", &ws.key).await.expect(200)["items"],
        json!([])
    );
    clock.set("2027-01-05T09:00:30Z");
    assert_eq!(worker.run_once().await.expect("batch"), Outcome::Worked(1));
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!(n(&c, "delivered"), 1, "{c}");
}

crate::on_both_db!(mail_held_for_quiet_hours_uses_none_of_the_warm_up_cap);

async fn mail_held_for_quiet_hours_uses_none_of_the_warm_up_cap(db: Option<String>) {
    let (app, clock) = clocked(db, "2027-01-04T10:00:00Z").await;
    app.send(
        reqwest::Method::PUT,
        "/v1/operator/policy",
        Some(&app.operator),
        Some(json!({"warmup_start_per_day": 10, "warmup_growth": 1.5, "warmup_end_per_day": 1000})),
    )
    .await
    .expect(200);
    let ws = app.ready_workspace("Quiet and new").await;
    app.patch(
        "/v1/workspace",
        &ws.key,
        json!({"quiet_hours": "21:00-08:00"}),
    )
    .await
    .expect(200);
    for i in 0..25 {
        opted_in(&app, &ws, &format!("q{i:02}@receiver-mail.net")).await;
    }
    let id = compose(&app, &ws).await;
    app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let worker = DeliveryWorker::new(app.state.clone());
    while worker.run_once().await.expect("batch") != Outcome::Idle {}
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!(
        (n(&c, "delivered"), n(&c, "deferred")),
        (10, 15),
        "day 1: {c}"
    );
    // Put off to midnight UTC, which is inside the quiet hours: held to
    // 08:00 without using the new day's cap.
    clock.set("2027-01-05T00:01:00Z");
    while worker.run_once().await.expect("batch") != Outcome::Idle {}
    let view = app.get("/v1/workspace", &ws.key).await.expect(200);
    assert_eq!(view["warmup"]["used_today"], 0, "{view}");
    clock.set("2027-01-05T08:00:30Z");
    while worker.run_once().await.expect("batch") != Outcome::Idle {}
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!(
        (n(&c, "delivered"), n(&c, "deferred")),
        (25, 0),
        "day 2 at 08:00: {c}"
    );
}

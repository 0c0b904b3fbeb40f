//! A message's life after it is composed (issue #19): drafts change until
//! they are sent, sent messages are copied, and a send is paused, resumed
//! and cancelled in the middle, counted at a real SMTP sink by Message-ID.

use crate::delivery::{
    announcement, counted_sink_and_app, counts, n, queued_send, wait_for, wait_until,
    worker_process, Counter,
};
use crate::support::{opted_in, send_news, TestApp};
use reqwest::Method;
use sendwell_server::smtp::sink::SmtpSink;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

crate::on_both!(
    a_draft_changes_until_it_is_sent_and_a_sent_one_is_copied,
    a_draft_changed_while_it_is_checked_is_not_queued,
    a_message_uses_a_saved_audience_read_again_at_each_check_and_send,
);
crate::on_both_db!(
    pause_resume_and_cancel_say_what_does_not_apply,
    a_pause_meets_deliveries_in_a_workers_hands_and_the_circuit_breaker,
    a_withdrawal_cancels_a_paused_messages_mail,
    a_send_paused_and_resumed_in_the_middle_loses_and_repeats_nothing,
    a_send_cancelled_in_the_middle_sends_nothing_more,
);

async fn a_draft_changes_until_it_is_sent_and_a_sent_one_is_copied(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ann@receiver-mail.net").await;
    let draft = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let id = draft["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/messages/{id}");

    // A draft changes, under the same rules as composing it.
    let mut changed = announcement();
    changed["subject"] = json!("The spring release, now with dates");
    let saved = app
        .send(Method::PUT, &path, Some(&ws.key), Some(changed.clone()))
        .await
        .expect(200);
    assert_eq!(saved["subject"], "The spring release, now with dates");
    assert_eq!(
        app.get(&path, &ws.key).await.expect(200)["subject"],
        saved["subject"]
    );
    let mut broken = changed.clone();
    broken["subject"] = json!("");
    let refused = app
        .send(Method::PUT, &path, Some(&ws.key), Some(broken))
        .await
        .expect(422);
    assert!(refused.to_string().contains("/subject"), "{refused}");
    let mut transactional = changed.clone();
    transactional["kind"] = json!("transactional");
    app.send(Method::PUT, &path, Some(&ws.key), Some(transactional))
        .await
        .expect(422);
    assert_eq!(
        app.get(&path, &ws.key).await.expect(200)["subject"],
        "The spring release, now with dates",
        "a refused change leaves the draft as it was"
    );

    // A viewer changes nothing; another workspace does not see it.
    let viewer = app.new_key(&ws.key, "viewer").await;
    app.send(Method::PUT, &path, Some(&viewer), Some(changed.clone()))
        .await
        .expect(403);
    let other = app.ready_workspace("Other").await;
    app.send(Method::PUT, &path, Some(&other.key), Some(changed.clone()))
        .await
        .expect(404);
    app.post(&format!("{path}/duplicate"), &other.key, json!({}))
        .await
        .expect(404);

    // Sent, it no longer changes; a copy does.
    app.post(&format!("{path}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    let refused = app
        .send(Method::PUT, &path, Some(&ws.key), Some(announcement()))
        .await
        .expect(409);
    assert!(refused["detail"]
        .as_str()
        .expect("detail")
        .contains("duplicate"));
    assert_eq!(
        app.get(&path, &ws.key).await.expect(200)["subject"],
        "The spring release, now with dates"
    );
    let copy = app
        .post(&format!("{path}/duplicate"), &ws.key, json!({}))
        .await
        .expect(201);
    assert_ne!(copy["id"], draft["id"]);
    assert_eq!(copy["state"], "draft");
    assert_eq!(copy["name"], "Spring (copy)");
    assert_eq!(copy["subject"], "The spring release, now with dates");
    let copy_path = format!("/v1/messages/{}", copy["id"].as_str().expect("id"));
    app.send(Method::PUT, &copy_path, Some(&ws.key), Some(announcement()))
        .await
        .expect(200);
    let sent = app
        .post(&format!("{copy_path}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    assert_eq!(sent["queued"], 1);
}

async fn pause_resume_and_cancel_say_what_does_not_apply(db: Option<String>) {
    // No worker: what is queued stays queued while the test looks at it.
    let app = TestApp::spawn_with(db, |s| s.delivery.serve_worker = false).await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ann@receiver-mail.net").await;
    let draft = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let draft_path = format!("/v1/messages/{}", draft["id"].as_str().expect("id"));
    for verb in ["pause", "resume", "cancel"] {
        let refused = app
            .post(&format!("{draft_path}/{verb}"), &ws.key, json!({}))
            .await
            .expect(409);
        assert!(
            refused["detail"]
                .as_str()
                .expect("detail")
                .contains("draft"),
            "{verb}: {refused}"
        );
    }

    let (id, queued) = send_news(&app, &ws, "News").await;
    assert_eq!(queued, 1);
    let path = format!("/v1/messages/{id}");
    let viewer = app.new_key(&ws.key, "viewer").await;
    app.post(&format!("{path}/pause"), &viewer, json!({}))
        .await
        .expect(403);
    let refused = app
        .post(&format!("{path}/resume"), &ws.key, json!({}))
        .await
        .expect(409);
    assert!(refused["detail"]
        .as_str()
        .expect("detail")
        .contains("not paused"));
    let paused = app
        .post(&format!("{path}/pause"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["counts"]["paused"], 1);
    assert_eq!(paused["counts"]["queued"], 0);
    app.post(&format!("{path}/pause"), &ws.key, json!({}))
        .await
        .expect(409);
    let resumed = app
        .post(&format!("{path}/resume"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(resumed["state"], "sending");
    assert_eq!(resumed["counts"]["queued"], 1);
    let cancelled = app
        .post(&format!("{path}/cancel"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["counts"]["cancelled"], 1);
    for verb in ["pause", "resume", "cancel"] {
        let refused = app
            .post(&format!("{path}/{verb}"), &ws.key, json!({}))
            .await
            .expect(409);
        assert!(
            refused["detail"]
                .as_str()
                .expect("detail")
                .contains("cancelled"),
            "{verb}: {refused}"
        );
    }
    // Each change is in the workspace's audit log, by whom.
    let log = app
        .get(
            &format!("/v1/operator/workspaces/{}/audit-log", ws.id),
            &app.operator,
        )
        .await
        .expect(200);
    let actions: Vec<&str> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("message."))
        .collect();
    for action in ["message.pause", "message.resume", "message.cancel"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }

    // A paused message still needs the attributes it uses; once cancelled,
    // it does not.
    app.post(
        "/v1/attributes",
        &ws.key,
        json!({"name": "plan", "type": "string"}),
    )
    .await
    .expect(201);
    let mut personal = announcement();
    personal["subject"] = json!("News for {{ plan | fallback: \"you\" }}");
    let m = app
        .post("/v1/messages", &ws.key, personal)
        .await
        .expect(201);
    let path = format!("/v1/messages/{}", m["id"].as_str().expect("id"));
    app.post(&format!("{path}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    app.post(&format!("{path}/pause"), &ws.key, json!({}))
        .await
        .expect(200);
    let refused = app.delete("/v1/attributes/plan", &ws.key).await.expect(409);
    assert!(refused.to_string().contains("Spring"), "{refused}");
    app.post(&format!("{path}/cancel"), &ws.key, json!({}))
        .await
        .expect(200);
    app.delete("/v1/attributes/plan", &ws.key).await.expect(204);
}

/// A send of `mails` going out through a worker process to a counting
/// sink, a fifth of it arrived.
struct Midway {
    counter: Arc<Counter>,
    _sink: SmtpSink,
    app: TestApp,
    ws: crate::support::Workspace,
    id: String,
    worker: crate::delivery::WorkerProcess,
}

impl Midway {
    async fn start(db: Option<String>, mails: usize) -> Self {
        let (counter, sink, app) = counted_sink_and_app(db).await;
        let (ws, id) = queued_send(&app, mails).await;
        let worker = worker_process(&app, sink.addr());
        let c = counter.clone();
        wait_until(Duration::from_secs(120), "a fifth of the mail", move || {
            c.distinct() >= mails / 5
        })
        .await;
        Self {
            counter,
            _sink: sink,
            app,
            ws,
            id,
            worker,
        }
    }

    /// Pauses, resumes or cancels the message: its state after.
    async fn change(&self, verb: &str) -> String {
        let path = format!("/v1/messages/{}/{verb}", self.id);
        let view = self
            .app
            .post(&path, &self.ws.key, json!({}))
            .await
            .expect(200);
        view["state"].as_str().unwrap_or_default().to_owned()
    }

    /// Once nothing of the message is in a worker's hands, how many mails
    /// arrive over two more seconds.
    async fn arriving_after(&self) -> usize {
        wait_for(
            &self.app,
            &self.ws.key,
            &self.id,
            Duration::from_secs(60),
            |c| n(c, "sending") == 0,
        )
        .await;
        let before = self.counter.distinct();
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.counter.distinct() - before
    }

    async fn counts(&self) -> serde_json::Value {
        counts(&self.app, &self.ws.key, &self.id).await
    }

    fn stop_worker(&mut self) {
        self.worker.kill().ok();
        self.worker.wait().ok();
    }
}

async fn a_send_paused_and_resumed_in_the_middle_loses_and_repeats_nothing(db: Option<String>) {
    const MAILS: usize = 20_000;
    let mut send = Midway::start(db, MAILS).await;
    assert_eq!(send.change("pause").await, "paused");
    assert_eq!(send.arriving_after().await, 0, "mail went out while paused");
    let at_pause = send.counter.distinct();
    let c = send.counts().await;
    assert!(at_pause < MAILS, "paused in the middle, not after the end");
    assert_eq!(n(&c, "delivered"), at_pause as i64, "{c}");
    assert_eq!(n(&c, "paused"), (MAILS - at_pause) as i64, "{c}");

    assert_eq!(send.change("resume").await, "sending");
    let c = wait_for(
        &send.app,
        &send.ws.key,
        &send.id,
        Duration::from_secs(240),
        |c| n(c, "delivered") == MAILS as i64,
    )
    .await;
    send.stop_worker();
    assert_eq!(
        n(&c, "paused") + n(&c, "failed") + n(&c, "queued"),
        0,
        "{c}"
    );
    assert_eq!(send.counter.distinct(), MAILS, "every mail arrived");
    assert_eq!(send.counter.duplicates(), 0, "no mail arrived twice");
    eprintln!("paused after {at_pause} of {MAILS} mails");
}

async fn a_send_cancelled_in_the_middle_sends_nothing_more(db: Option<String>) {
    const MAILS: usize = 5_000;
    let mut send = Midway::start(db, MAILS).await;
    assert_eq!(send.change("cancel").await, "cancelled");
    let late = send.arriving_after().await;
    send.stop_worker();
    assert_eq!(late, 0, "mail went out after the message was cancelled");
    let sent = send.counter.distinct();
    let c = send.counts().await;
    assert!(sent < MAILS, "cancelled in the middle, not after the end");
    assert_eq!(n(&c, "delivered"), sent as i64, "{c}");
    assert_eq!(n(&c, "cancelled"), (MAILS - sent) as i64, "{c}");
    assert_eq!(send.counter.duplicates(), 0);
}

/// A contact with `plan`, opted in to marketing.
async fn customer(app: &TestApp, ws: &crate::support::Workspace, email: &str, plan: &str) {
    let id = app
        .contact(
            &ws.key,
            json!({"email": email, "attributes": {"plan": plan}}),
        )
        .await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        &ws.key,
        json!({"action": "opt_in", "method": "form", "evidence": {"wording": "Send me news"}}),
    )
    .await
    .expect(201);
}

async fn a_message_uses_a_saved_audience_read_again_at_each_check_and_send(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    customer(&app, &ws, "ann@receiver-mail.net", "pro").await;
    customer(&app, &ws, "bob@receiver-mail.net", "free").await;
    let pro = app
        .post(
            "/v1/audiences",
            &ws.key,
            json!({"name": "Pro", "filter": "plan is \"pro\""}),
        )
        .await
        .expect(201);
    let pro_id = pro["id"].as_str().expect("id").to_owned();

    let mut by_id = announcement();
    by_id["audience"] = json!({"audience_id": pro_id});
    let m = app
        .post("/v1/messages", &ws.key, by_id.clone())
        .await
        .expect(201);
    assert_eq!(m["audience_id"], pro_id.as_str());
    assert!(
        m["audience"].is_null(),
        "the filter is read at each use: {m}"
    );
    let path = format!("/v1/messages/{}", m["id"].as_str().expect("id"));

    // A filter and an id together, an unknown id, another workspace's id.
    let mut both = by_id.clone();
    both["audience"]["filter"] = json!("plan is \"free\"");
    let refused = app.post("/v1/messages", &ws.key, both).await.expect(422);
    assert_eq!(refused["errors"][0]["pointer"], "/audience", "{refused}");
    let mut unknown = announcement();
    unknown["audience"] = json!({"audience_id": "aud_0000000000000000000000000"});
    let refused = app.post("/v1/messages", &ws.key, unknown).await.expect(422);
    assert_eq!(
        refused["errors"][0]["pointer"], "/audience/audience_id",
        "{refused}"
    );
    let other = app.ready_workspace("Other").await;
    app.post("/v1/messages", &other.key, by_id.clone())
        .await
        .expect(422);

    let report = app
        .post(&format!("{path}/preflight"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(report["audience"]["eligible"], 1, "{report}");

    // The saved audience changes; the message reads the new filter.
    let audience_path = format!("/v1/audiences/{pro_id}");
    let wider = json!({"name": "Pro and free", "filter": "plan in (\"pro\", \"free\")"});
    let changed = app
        .send(
            Method::PUT,
            &audience_path,
            Some(&ws.key),
            Some(wider.clone()),
        )
        .await
        .expect(200);
    assert_eq!(changed["name"], "Pro and free");
    let report = app
        .post(&format!("{path}/preflight"), &ws.key, json!({}))
        .await
        .expect(200);
    assert_eq!(report["audience"]["eligible"], 2, "{report}");
    app.send(Method::PUT, &audience_path, Some(&other.key), Some(wider))
        .await
        .expect(404);
    app.post(
        "/v1/audiences",
        &ws.key,
        json!({"name": "Taken", "filter": "plan is \"free\""}),
    )
    .await
    .expect(201);
    let taken = json!({"name": "Taken", "filter": "plan is \"pro\""});
    app.send(Method::PUT, &audience_path, Some(&ws.key), Some(taken))
        .await
        .expect(409);
    let viewer = app.new_key(&ws.key, "viewer").await;
    let back = json!({"name": "Pro", "filter": "plan is \"pro\""});
    app.send(
        Method::PUT,
        &audience_path,
        Some(&viewer),
        Some(back.clone()),
    )
    .await
    .expect(403);
    app.send(Method::PUT, &audience_path, Some(&ws.key), Some(back))
        .await
        .expect(200);

    // Deleted, the audience blocks the message until it names another.
    app.delete(&format!("/v1/audiences/{pro_id}"), &ws.key)
        .await
        .expect(200);
    let refused = app
        .post(&format!("{path}/preflight"), &ws.key, json!({}))
        .await
        .expect(409);
    assert!(refused.to_string().contains("was deleted"), "{refused}");
    app.post(&format!("{path}/send"), &ws.key, json!({}))
        .await
        .expect(409);
    let everyone = app
        .post(
            "/v1/audiences",
            &ws.key,
            json!({"name": "Everyone", "filter": "plan has any value"}),
        )
        .await
        .expect(201);
    let mut renamed = announcement();
    renamed["audience"] = json!({"audience_id": everyone["id"]});
    app.send(Method::PUT, &path, Some(&ws.key), Some(renamed))
        .await
        .expect(200);
    let sent = app
        .post(&format!("{path}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    assert_eq!(sent["queued"], 2);
}

/// The send queues what preflight and screening checked: a draft changed
/// between the check and the queueing (a PUT racing the send) is refused,
/// and nothing is queued.
async fn a_draft_changed_while_it_is_checked_is_not_queued(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ann@receiver-mail.net").await;
    let draft = app
        .post("/v1/messages", &ws.key, announcement())
        .await
        .expect(201);
    let id = draft["id"].as_str().expect("id").to_owned();
    let store = &app.state.store;
    let workspace = sendwell_core::WorkspaceId::parse(&ws.id).expect("workspace id");
    let message = sendwell_core::MessageId::parse(&id).expect("message id");
    let checked = store
        .message(&workspace, &message)
        .await
        .expect("read")
        .expect("the draft");
    let mut changed = announcement();
    changed["subject"] = json!("Something else entirely");
    app.send(
        Method::PUT,
        &format!("/v1/messages/{id}"),
        Some(&ws.key),
        Some(changed),
    )
    .await
    .expect(200);
    let spec = sendwell_store::AudienceSpec {
        workspace: &workspace,
        filter: None,
        kind: sendwell_core::MessageKind::Marketing,
        topic: "marketing",
        opt_in_request_interval_days: 30,
        exclude_risky: false,
        sunset: None,
    };
    let queued = store
        .queue_message(&checked, &spec, &serde_json::Value::Null, false, None, None)
        .await
        .expect("no database error");
    assert_eq!(queued, Err(sendwell_store::QueueError::Changed));
    let now = app
        .get(&format!("/v1/messages/{id}"), &ws.key)
        .await
        .expect(200);
    assert_eq!(now["state"], "draft", "nothing was written: {now}");
    // Checked as it is now, it goes.
    let current = store
        .message(&workspace, &message)
        .await
        .expect("read")
        .expect("the draft");
    let queued = store
        .queue_message(&current, &spec, &serde_json::Value::Null, false, None, None)
        .await
        .expect("no database error");
    assert_eq!(queued, Ok(1));
}

/// A worker claims the message's due delivery, the workspace `changes` it
/// (pause, resume) meanwhile, and the worker, having read it paused,
/// records the delivery as paused: the message's counts after.
async fn claimed_then_returned_paused(
    app: &TestApp,
    key: &str,
    id: &str,
    changes: &[&str],
) -> serde_json::Value {
    let store = &app.state.store;
    let claimed = store
        .claim_deliveries("test", 10, 60_000)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    for change in changes {
        app.post(&format!("/v1/messages/{id}/{change}"), key, json!({}))
            .await
            .expect(200);
    }
    let paused = sendwell_store::DeliveryOutcome::Paused {
        reason: "paused by the workspace".to_owned(),
    };
    let finished: Vec<_> = claimed.into_iter().map(|d| (d, paused.clone())).collect();
    store
        .record_outcomes("test", &finished)
        .await
        .expect("record");
    counts(app, key, id).await
}

/// The races a pause meets: a delivery a worker holds while the message is
/// paused and resumed comes back to the queue, not to `paused` for good;
/// one it holds while the message stays paused waits with the rest; and
/// the reputation monitor's circuit breaker keeps its hold over a resume.
async fn a_pause_meets_deliveries_in_a_workers_hands_and_the_circuit_breaker(db: Option<String>) {
    let app = TestApp::spawn_with(db, |s| s.delivery.serve_worker = false).await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ann@receiver-mail.net").await;
    let store = &app.state.store;
    let verb = |id: &str, v: &str| format!("/v1/messages/{id}/{v}");

    // Claimed, then paused and resumed before the worker records it.
    let (id, _) = send_news(&app, &ws, "First").await;
    let c = claimed_then_returned_paused(&app, &ws.key, &id, &["pause", "resume"]).await;
    assert_eq!((n(&c, "queued"), n(&c, "paused")), (1, 0), "{c}");

    // Claimed, then paused: it waits with the rest until the resume.
    let c = claimed_then_returned_paused(&app, &ws.key, &id, &["pause"]).await;
    assert_eq!((n(&c, "queued"), n(&c, "paused")), (0, 1), "{c}");

    // The circuit breaker trips while paused: a resume does not release it.
    let message = sendwell_core::MessageId::parse(&id).expect("id");
    assert!(store
        .pause_message(&message, "complaint rate over the line")
        .await
        .expect("breaker"));
    app.post(&verb(&id, "resume"), &ws.key, json!({}))
        .await
        .expect(200);
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!((n(&c, "queued"), n(&c, "held")), (0, 1), "{c}");
}

/// Withdrawing a workspace cancels its paused mail too: nothing waits for a
/// resume that may never send.
async fn a_withdrawal_cancels_a_paused_messages_mail(db: Option<String>) {
    let app = TestApp::spawn_with(db, |s| s.delivery.serve_worker = false).await;
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ann@receiver-mail.net").await;
    let (id, _) = send_news(&app, &ws, "News").await;
    app.post(&format!("/v1/messages/{id}/pause"), &ws.key, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/operator/workspaces/{}/withdraw", ws.id),
        &app.operator,
        json!({"reason": "repeated complaints"}),
    )
    .await
    .expect(200);
    let c = counts(&app, &ws.key, &id).await;
    assert_eq!((n(&c, "paused"), n(&c, "cancelled")), (0, 1), "{c}");
}

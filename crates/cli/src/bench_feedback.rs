//! `sendwell bench bounces` (the bounce parser over the corpus, one thread,
//! with the MIME header split of the same files as the same-run baseline)
//! and `sendwell bench monitor` (the reputation monitor's cost per event,
//! measured as the event history grows).

use crate::bench::BenchServer;
use crate::bench::{round3, scratch_dir};
use anyhow::Context;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Instant;

/// Every message of the bounce corpus (LF, CRLF and CR copies, non-bounces).
fn bounce_files(dir: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut files = Vec::new();
    for set in ["bsd", "dos", "mac", "not"] {
        let d = dir.join("emails/maildir").join(set);
        let mut names: Vec<_> = std::fs::read_dir(&d)
            .with_context(|| format!("cannot read {}", d.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        names.sort();
        for p in names {
            files.push(std::fs::read(&p)?);
        }
    }
    Ok(files)
}

pub fn bounces(corpus: &std::path::Path, passes: u32) -> anyhow::Result<ExitCode> {
    let files = bounce_files(corpus)?;
    let passes = passes.max(1);
    let n = files.len() as u64 * u64::from(passes);
    let bytes: usize = files.iter().map(Vec::len).sum();
    // Baseline, same run: finding the header block and its fields, which
    // every parse does first.
    let started = Instant::now();
    let mut fields = 0usize;
    for _ in 0..passes {
        for f in &files {
            let text = String::from_utf8_lossy(f);
            let head = text.split("\n\n").next().unwrap_or_default();
            fields += head.lines().filter(|l| l.contains(':')).count();
        }
    }
    let baseline = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut recipients = 0usize;
    for _ in 0..passes {
        for f in &files {
            recipients += sendwell_mail::bounce::parse(f).recipients.len();
        }
    }
    let full = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "bench": "bounces",
            "messages": n,
            "avg_message_bytes": bytes / files.len().max(1),
            "threads": 1,
            "seconds": round3(full),
            "messages_per_second": (n as f64 / full).round(),
            "baseline_header_split_messages_per_second": (n as f64 / baseline).round(),
            "full_vs_baseline_time_ratio": round3(full / baseline),
            "recipients": recipients,
            "header_fields": fields,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Records `events` complaints one by one, as feedback arrives, each
/// followed by the monitor's judgement of the workspace and the message,
/// and reports the cost per event at checkpoints as the history grows.
pub async fn monitor(events: u64, database_url: Option<String>) -> anyhow::Result<ExitCode> {
    use sendwell_core::{MessageId, WorkspaceId};
    let dir = scratch_dir()?;
    let mut settings = sendwell_server::config::Settings::for_data_dir(dir.join("data"));
    settings.database_url = database_url;
    settings.dns = false;
    settings.delivery.serve_worker = false;
    let bench = BenchServer::start(settings, None).await?;
    let state = bench.state.clone();
    let ws = WorkspaceId::parse(&bench.workspace).map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = state.store.now();
    let message = MessageId::generate(now);
    let window = 10_000u64.min(events.max(1));
    let mut checkpoints: Vec<Value> = Vec::new();
    let mut started = Instant::now();
    for i in 1..=events {
        record_complaint(&state, &ws, &message, now).await?;
        sendwell_server::reputation::evaluate(&state, &ws, &message).await?;
        if i % window == 0
            && (i == window || i.is_power_of_two() || i % (window * 10) == 0 || i == events)
        {
            let secs = started.elapsed().as_secs_f64();
            checkpoints.push(json!({
                "events_so_far": i,
                "microseconds_per_event": ((secs / window as f64) * 1e6 * 10.0).round() / 10.0,
            }));
        }
        if i % window == 0 {
            started = Instant::now();
        }
    }
    let backend = bench.backend;
    bench.stop_and_clean_up(&dir).await?;
    println!(
        "{}",
        json!({
            "bench": "monitor",
            "backend": backend,
            "events": events,
            "measured_over_each": window,
            "checkpoints": checkpoints,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Records a complaint from a new contact about `message`, as a feedback
/// loop report would.
async fn record_complaint(
    state: &sendwell_server::AppState,
    ws: &sendwell_core::WorkspaceId,
    message: &sendwell_core::MessageId,
    now: sendwell_core::Timestamp,
) -> anyhow::Result<()> {
    use sendwell_store::{DeliveryRef, Feedback};
    let contact = sendwell_core::ContactId::generate(now);
    let d = DeliveryRef {
        id: sendwell_core::DeliveryId::new(message, &contact),
        workspace_id: ws.clone(),
        message_id: message.clone(),
        contact_id: contact,
        email: None,
        state: sendwell_core::DeliveryStatus::Delivered,
    };
    state
        .store
        .record_feedback(Feedback {
            delivery: &d,
            kind: "complaint",
            reason: "feedback",
            hard: false,
            status: None,
            reply_code: None,
            feedback_type: Some("abuse"),
            diagnostic: None,
            source: "bench",
            suppress: None,
            soft_rule: None,
            opt_outs: Vec::new(),
        })
        .await?;
    Ok(())
}

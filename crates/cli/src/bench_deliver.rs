//! `sendwell bench deliver`: the whole sending pipeline against an SMTP
//! server. A throwaway workspace gets N opted-in contacts (imported) and an
//! `announcement` with ten links; the clock runs from `send` until every
//! delivery is recorded: queueing, rendering with the footer, link signing,
//! DKIM, SMTP through the real transport, and the outcome commits.

use crate::bench::{
    import_opted_in, peak_rss_mb, round3, scratch_dir, status_mb, write_csv, BenchServer,
};
use anyhow::{bail, Context};
use sendwell_screen::dns::StaticResolver;
use sendwell_server::config::Settings;
use sendwell_server::smtp::sink::{AcceptAll, SinkOptions, SmtpSink};
use sendwell_server::transport::{Relay, TransportKind};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct DeliverArgs {
    pub recipients: u64,
    pub smtp: Option<String>,
    pub dkim: String,
    pub database_url: Option<String>,
    pub workers: usize,
    pub scheduled: bool,
}

fn template() -> Value {
    let mut body = String::from(
        "<p>Hi {{ first_name | fallback: \"there\" }},</p>\n<p>Your {{ plan }} plan now includes everything below.</p>\n<ul>\n",
    );
    for i in 1..=9 {
        body.push_str(&format!(
            "<li><a href=\"https://www.acme-mail.com/features/{i}?utm_source=newsletter\">Feature {i}</a>: what it does for teams of {{{{ seats }}}} people, in a sentence or two of ordinary product copy.</li>\n"
        ));
    }
    body.push_str("</ul>\n<p>Questions? Reply to this mail and a person will answer.</p>\n");
    json!({
        "layout": "announcement",
        "html": body,
        "heading": "The spring release",
        "image_url": "https://cdn.acme-mail.com/spring.png",
        "image_alt": "Spring release",
        "button_text": "See what is new",
        "button_url": "https://www.acme-mail.com/spring?ref=mail",
    })
}

/// The DKIM algorithms `--dkim` names.
fn algorithms(dkim: &str) -> anyhow::Result<Vec<&'static str>> {
    Ok(match dkim {
        "none" => vec![],
        "rsa" => vec!["rsa"],
        "ed25519" => vec!["ed25519"],
        "both" => vec!["rsa", "ed25519"],
        other => bail!("--dkim {other}: use rsa, ed25519, both or none"),
    })
}

/// The SMTP server mail goes to: `--smtp`, or a sink started here.
async fn smtp_target(smtp: Option<&str>) -> anyhow::Result<(String, u16, Option<SmtpSink>)> {
    if let Some(s) = smtp {
        let (h, p) = s
            .rsplit_once(':')
            .context("--smtp takes HOST:PORT, for example 127.0.0.1:2525")?;
        let port = p
            .parse::<u16>()
            .context("--smtp: the port is not a number")?;
        return Ok((h.to_owned(), port, None));
    }
    let options = SinkOptions {
        auth: None,
        keep: false,
    };
    let sink = SmtpSink::start(Arc::new(AcceptAll), options).await?;
    Ok((sink.addr().ip().to_string(), sink.addr().port(), Some(sink)))
}

/// Settings that send through `host:port` without TLS, from the scratch
/// directory, signing with DKIM only when `sign` (otherwise sender domains
/// need no verification).
fn settings(
    dir: &std::path::Path,
    args: &DeliverArgs,
    host: &str,
    port: u16,
    sign: bool,
) -> Settings {
    let mut settings = Settings::for_data_dir(dir.join("data"));
    settings.database_url = args.database_url.clone();
    settings.dns = false;
    settings.public_url = Some("https://mail.acme-mail.com".to_owned());
    let d = &mut settings.delivery;
    d.transport.kind = TransportKind::Smtp;
    d.transport.relay = Some(Relay {
        host: host.to_owned(),
        port,
        tls: sendwell_server::smtp::client::TlsMode::None,
        credentials: None,
    });
    d.transport.helo_name = "mail.acme-mail.com".to_owned();
    d.bounce_domain = Some("bounces.acme-mail.com".to_owned());
    d.insecure_skip_domain_verification = !sign;
    settings
}

/// The workspace ready to send: its address, the guidelines accepted, the
/// sender domain verified with the DKIM records published in `resolver`
/// (returned for the report), and the attributes the template uses.
async fn ready_workspace(
    bench: &BenchServer,
    resolver: &StaticResolver,
    algorithms: &[&str],
) -> anyhow::Result<Vec<Value>> {
    set_address_and_accept_guidelines(bench).await?;
    let mut dkim_dns = Vec::new();
    if !algorithms.is_empty() {
        dkim_dns = verify_sender_domain(bench, resolver, algorithms).await?;
    }
    declare_template_attributes(bench).await?;
    Ok(dkim_dns)
}

async fn set_address_and_accept_guidelines(bench: &BenchServer) -> anyhow::Result<()> {
    use reqwest::Method;
    let address = json!({"physical_address": "Acme Ltd, 1 Main Street, Springfield 12345, USA"});
    bench
        .call(
            Method::PATCH,
            "/v1/workspace",
            Some(address),
            "setting the address",
        )
        .await?;
    let guidelines = bench
        .call(
            Method::GET,
            "/v1/guidelines",
            None,
            "reading the guidelines",
        )
        .await?;
    let accept = json!({"version": guidelines["version"], "accepted_by": "Bench Admin"});
    bench
        .call(
            Method::POST,
            "/v1/guidelines/accept",
            Some(accept),
            "accepting the guidelines",
        )
        .await?;
    Ok(())
}

/// Adds the sender domain, publishes its DKIM records in `resolver` and
/// verifies it; the records published, for the report.
async fn verify_sender_domain(
    bench: &BenchServer,
    resolver: &StaticResolver,
    algorithms: &[&str],
) -> anyhow::Result<Vec<Value>> {
    use reqwest::Method;
    let add = json!({"domain": "acme-mail.com", "algorithms": algorithms});
    let domain = bench
        .call(
            Method::POST,
            "/v1/sender-domains",
            Some(add),
            "adding the sender domain",
        )
        .await?;
    let mut dkim_dns = Vec::new();
    for r in domain["dns_records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let name = r["name"].as_str().unwrap_or_default().to_owned();
        let txt = r["value"].as_str().unwrap_or_default().to_owned();
        resolver.set_txt(&name, vec![txt.clone()]);
        dkim_dns.push(json!({"name": name, "txt": txt}));
    }
    let verify = "/v1/sender-domains/acme-mail.com/verify";
    let verified = bench
        .call(Method::POST, verify, None, "verifying the sender domain")
        .await?;
    if verified["verified"] != true {
        bail!("the sender domain did not verify: {verified}");
    }
    Ok(dkim_dns)
}

async fn declare_template_attributes(bench: &BenchServer) -> anyhow::Result<()> {
    // first_name is the first word of the contact's name, not an attribute.
    for (name, kind) in [("plan", "string"), ("seats", "number")] {
        let declare = json!({"name": name, "type": kind});
        bench
            .call(
                reqwest::Method::POST,
                "/v1/attributes",
                Some(declare),
                "declaring an attribute",
            )
            .await?;
    }
    Ok(())
}

/// What the send took: deliveries queued, seconds to queue them, seconds
/// until the last was recorded, and the message's counts by state.
#[derive(Clone)]
struct Sent {
    queued: i64,
    queue_seconds: f64,
    seconds: f64,
    counts: Value,
    setup_peak_mb: Option<f64>,
}

/// Composes the announcement; its id.
async fn compose(bench: &BenchServer) -> anyhow::Result<String> {
    let compose = json!({
        "name": "bench",
        "kind": "marketing",
        "from": {"name": "Acme Product Team", "address": "news@acme-mail.com"},
        "subject": "{{ first_name | fallback: \"Hello\" }}, the spring release is here",
        "template": template(),
    });
    let message = bench
        .call(
            reqwest::Method::POST,
            "/v1/messages",
            Some(compose),
            "composing the message",
        )
        .await?;
    Ok(message["id"].as_str().context("message id")?.to_owned())
}

/// Waits until no delivery of the message is pending, for an hour at most.
async fn until_done(bench: &BenchServer, id: &str, started: Instant) -> anyhow::Result<()> {
    // Polled with a cheap indexed query: counting the deliveries by state
    // every few milliseconds would be a load of its own.
    let message_id = sendwell_core::MessageId::parse(id).map_err(|e| anyhow::anyhow!("{e}"))?;
    while bench.state.store.message_pending(&message_id).await? {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("the send did not finish within an hour");
        }
    }
    Ok(())
}

/// The message's deliveries by state.
async fn counts(bench: &BenchServer, id: &str) -> anyhow::Result<Value> {
    bench
        .call(
            reqwest::Method::GET,
            &format!("/v1/messages/{id}"),
            None,
            "reading the message",
        )
        .await
        .map(|m| m["counts"].clone())
}

/// Composes the announcement, sends it, and waits until every delivery is
/// recorded. The clock runs from `send`.
async fn send_and_wait(bench: &BenchServer) -> anyhow::Result<Sent> {
    use reqwest::Method;
    let id = compose(bench).await?;
    // The import's peak is its own; the figure below is the send's.
    let setup_peak_mb = peak_rss_mb();
    reset_peak_rss();
    let started = Instant::now();
    let send = format!("/v1/messages/{id}/send");
    let sent = bench.call(Method::POST, &send, None, "sending").await?;
    let queue_seconds = started.elapsed().as_secs_f64();
    until_done(bench, &id, started).await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Sent {
        queued: sent["queued"].as_i64().unwrap_or(0),
        queue_seconds,
        seconds,
        counts: counts(bench, &id).await?,
        setup_peak_mb,
    })
}

/// How far ahead the scheduled send is set.
const SCHEDULE_AHEAD: Duration = Duration::from_secs(3);

/// The scheduled send with a pause in the middle, as `--scheduled` runs it.
struct Scheduled {
    sent: Sent,
    /// From `send_at` until the scheduler had queued the message.
    release_seconds: f64,
    /// The answers of the pause and resume calls.
    pause_seconds: f64,
    resume_seconds: f64,
    /// Delivered when the pause was asked for, and a second later (mail
    /// the workers had in hand finishes).
    delivered_at_pause: i64,
    delivered_after_pause: i64,
    /// Time spent paused, left out of `messages_per_second`.
    paused_seconds: f64,
}

/// Schedules the announcement [`SCHEDULE_AHEAD`], waits for the scheduler
/// to queue it, pauses it once a third has gone, resumes it a second
/// later, and waits until every delivery is recorded. The clock runs from
/// `send_at`.
async fn scheduled_pause_resume(bench: &BenchServer, recipients: u64) -> anyhow::Result<Scheduled> {
    use reqwest::Method;
    let id = compose(bench).await?;
    let setup_peak_mb = peak_rss_mb();
    reset_peak_rss();
    let send_at = bench.state.store.now().millis() + SCHEDULE_AHEAD.as_millis() as i64;
    let at = sendwell_core::Timestamp::from_millis(send_at).to_rfc3339();
    bench
        .call(
            Method::POST,
            &format!("/v1/messages/{id}/send"),
            Some(json!({"send_at": at})),
            "scheduling",
        )
        .await?;
    let message_id = sendwell_core::MessageId::parse(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
    let scheduled_at = Instant::now();
    while bench.state.store.message_state(&message_id).await?
        == Some(sendwell_core::MessageState::Scheduled)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if scheduled_at.elapsed() > Duration::from_secs(600) {
            bail!("the scheduler did not queue the message within ten minutes");
        }
    }
    // Measured from send_at, by the server's clock.
    let release_seconds = (bench.state.store.now().millis() - send_at) as f64 / 1000.0;
    let started = Instant::now();
    let third = i64::try_from(recipients / 3).unwrap_or(i64::MAX);
    let delivered = |c: &Value| c["delivered"].as_i64().unwrap_or(0);
    while delivered(&counts(bench, &id).await?) < third {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("a third was not delivered within an hour");
        }
    }
    let asked = Instant::now();
    let paused = bench
        .call(
            Method::POST,
            &format!("/v1/messages/{id}/pause"),
            None,
            "pausing",
        )
        .await?;
    let pause_seconds = asked.elapsed().as_secs_f64();
    let delivered_at_pause = delivered(&paused["counts"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivered_after_pause = delivered(&counts(bench, &id).await?);
    let resuming = Instant::now();
    bench
        .call(
            Method::POST,
            &format!("/v1/messages/{id}/resume"),
            None,
            "resuming",
        )
        .await?;
    let resume_seconds = resuming.elapsed().as_secs_f64();
    let paused_seconds = asked.elapsed().as_secs_f64();
    until_done(bench, &id, started).await?;
    let seconds = started.elapsed().as_secs_f64();
    let counts = counts(bench, &id).await?;
    Ok(Scheduled {
        sent: Sent {
            queued: i64::try_from(recipients).unwrap_or(0),
            queue_seconds: release_seconds,
            seconds,
            counts,
            setup_peak_mb,
        },
        release_seconds,
        pause_seconds,
        resume_seconds,
        delivered_at_pause,
        delivered_after_pause,
        paused_seconds,
    })
}

pub async fn deliver(args: DeliverArgs) -> anyhow::Result<ExitCode> {
    let algorithms = algorithms(&args.dkim)?;
    let (host, port, sink) = smtp_target(args.smtp.as_deref()).await?;
    let dir = scratch_dir()?;
    let path = dir.join("users.csv");
    write_recipients(&path, args.recipients)?;
    let settings = settings(&dir, &args, &host, port, !algorithms.is_empty());
    let resolver = Arc::new(StaticResolver::new());
    let bench = BenchServer::start(settings, Some(resolver.clone())).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let extra = spawn_extra_workers(&bench, args.workers, &stop);
    let dkim_dns = ready_workspace(&bench, &resolver, &algorithms).await?;
    import_opted_in(&bench, &path).await?;
    let scheduled = if args.scheduled {
        Some(scheduled_pause_resume(&bench, args.recipients).await?)
    } else {
        None
    };
    let sent = match &scheduled {
        Some(s) => s.sent.clone(),
        None => send_and_wait(&bench).await?,
    };
    stop.cancel();
    for t in extra {
        t.await.ok();
    }
    let (anon, file) = (status_mb("RssAnon:"), status_mb("RssFile:"));
    let backend = bench.backend;
    bench.stop_and_clean_up(&dir).await?;
    let delivered = sent.counts["delivered"].as_i64().unwrap_or(0);
    let mut line = json!({
        "bench": "deliver",
        "backend": backend,
        "workers": args.workers.max(1),
        "dkim": args.dkim,
        "recipients": args.recipients,
        "queued": sent.queued,
        "delivered": delivered,
        "deliveries": sent.counts,
        "seconds": round3(sent.seconds),
        "queue_seconds": round3(sent.queue_seconds),
        "messages_per_second": (delivered as f64 / sent.seconds).round(),
        "peak_rss_mb": peak_rss_mb(),
        "setup_peak_rss_mb": sent.setup_peak_mb,
        "rss_at_end_anon_mb": anon,
        "rss_at_end_file_mb": file,
    });
    line["sink"] = match &sink {
        Some(sink) => {
            line["sink_accepted"] = json!(sink.accepted_count());
            json!("in-process")
        }
        None => json!(format!("{host}:{port}")),
    };
    if !dkim_dns.is_empty() {
        line["dkim_dns"] = json!(dkim_dns);
    }
    if let Some(s) = &scheduled {
        line["bench"] = json!("deliver --scheduled");
        line["release_seconds"] = json!(round3(s.release_seconds));
        line["pause_call_seconds"] = json!(round3(s.pause_seconds));
        line["resume_call_seconds"] = json!(round3(s.resume_seconds));
        line["delivered_at_pause"] = json!(s.delivered_at_pause);
        line["delivered_a_second_after_pause"] = json!(s.delivered_after_pause);
        line["paused_seconds"] = json!(round3(s.paused_seconds));
        line["messages_per_second"] =
            json!((delivered as f64 / (sent.seconds - s.paused_seconds)).round());
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// The contacts to import: `recipients` users spread over 5,000 company
/// domains, with the attributes the template uses.
fn write_recipients(path: &std::path::Path, recipients: u64) -> anyhow::Result<()> {
    write_csv(path, "email,first_name,plan,seats", recipients, |i| {
        let plan = ["pro", "team", "free"][(i % 3) as usize];
        format!("user{i}@company{}.com,User{i},{plan},{}", i % 5000, i % 50)
    })
}

/// Starts the delivery workers beyond the server's own, up to `workers` in
/// all; they run until `stop` is cancelled.
fn spawn_extra_workers(
    bench: &BenchServer,
    workers: usize,
    stop: &tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    (1..workers.max(1))
        .map(|_| {
            let w = sendwell_server::delivery::DeliveryWorker::new(bench.state.clone());
            tokio::spawn(w.run(stop.clone(), 50))
        })
        .collect()
}

/// Starts the kernel's peak-RSS count (VmHWM) afresh (Linux: writing 5 to
/// /proc/self/clear_refs), so the peak measured after is the send's alone.
fn reset_peak_rss() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("note: cannot reset the peak RSS count ({e}); peak_rss_mb includes the import");
    }
}

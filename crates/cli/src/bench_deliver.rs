//! `sendwell bench deliver`: the whole sending pipeline against an SMTP
//! server. A throwaway workspace gets N opted-in contacts (imported) and an
//! `announcement` with ten links; the clock runs from `send` until every
//! delivery is recorded: queueing, rendering with the footer, link signing,
//! DKIM, SMTP through the real transport, and the outcome commits.

use crate::bench::{peak_rss_mb, BenchServer};
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

async fn ok(resp: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{what} failed: {status} {body}");
    }
    Ok(body)
}

pub async fn deliver(args: DeliverArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let algorithms: Vec<&str> = match args.dkim.as_str() {
        "none" => vec![],
        "rsa" => vec!["rsa"],
        "ed25519" => vec!["ed25519"],
        "both" => vec!["rsa", "ed25519"],
        other => bail!("--dkim {other}: use rsa, ed25519, both or none"),
    };
    let sink = match &args.smtp {
        Some(_) => None,
        None => Some(
            SmtpSink::start(
                Arc::new(AcceptAll),
                SinkOptions {
                    auth: None,
                    keep: false,
                },
            )
            .await?,
        ),
    };
    let (host, port) = match (&args.smtp, &sink) {
        (Some(s), _) => {
            let (h, p) = s
                .rsplit_once(':')
                .context("--smtp takes HOST:PORT, for example 127.0.0.1:2525")?;
            (
                h.to_owned(),
                p.parse::<u16>()
                    .context("--smtp: the port is not a number")?,
            )
        }
        (None, Some(sink)) => (sink.addr().ip().to_string(), sink.addr().port()),
        (None, None) => bail!("no SMTP server"),
    };
    let dir = std::env::temp_dir().join(format!(
        "sendwell-bench-{}",
        sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("users.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        writeln!(out, "email,first_name,plan,seats")?;
        for i in 0..args.recipients {
            writeln!(
                out,
                "user{i}@company{}.com,User{i},{},{}",
                i % 5000,
                ["pro", "team", "free"][(i % 3) as usize],
                i % 50
            )?;
        }
    }
    let mut settings = Settings::for_data_dir(dir.join("data"));
    settings.database_url = args.database_url.clone();
    settings.dns = false;
    settings.public_url = Some("https://mail.acme-mail.com".to_owned());
    let d = &mut settings.delivery;
    d.transport.kind = TransportKind::Smtp;
    d.transport.relay = Some(Relay {
        host: host.clone(),
        port,
        tls: sendwell_server::smtp::client::TlsMode::None,
        credentials: None,
    });
    d.transport.helo_name = "mail.acme-mail.com".to_owned();
    d.bounce_domain = Some("bounces.acme-mail.com".to_owned());
    d.insecure_skip_domain_verification = algorithms.is_empty();
    let resolver = Arc::new(StaticResolver::new());
    let bench = BenchServer::start(settings, Some(resolver.clone())).await?;
    let mut extra = Vec::new();
    let stop = tokio_util::sync::CancellationToken::new();
    for _ in 1..args.workers.max(1) {
        let w = sendwell_server::delivery::DeliveryWorker::new(bench.state.clone());
        extra.push(tokio::spawn(w.run(stop.clone(), 50)));
    }
    let client = reqwest::Client::new();
    let base = bench.base.clone();
    let key = bench.key.clone();
    ok(
        client
            .patch(format!("{base}/v1/workspace"))
            .bearer_auth(&key)
            .json(&json!({"physical_address": "Acme Ltd, 1 Main Street, Springfield 12345, USA"}))
            .send()
            .await?,
        "setting the address",
    )
    .await?;
    let guidelines = ok(
        client
            .get(format!("{base}/v1/guidelines"))
            .bearer_auth(&key)
            .send()
            .await?,
        "reading the guidelines",
    )
    .await?;
    ok(
        client
            .post(format!("{base}/v1/guidelines/accept"))
            .bearer_auth(&key)
            .json(&json!({"version": guidelines["version"], "accepted_by": "Bench Admin"}))
            .send()
            .await?,
        "accepting the guidelines",
    )
    .await?;
    let mut dkim_dns = Vec::new();
    if !algorithms.is_empty() {
        let domain = ok(
            client
                .post(format!("{base}/v1/sender-domains"))
                .bearer_auth(&key)
                .json(&json!({"domain": "acme-mail.com", "algorithms": algorithms}))
                .send()
                .await?,
            "adding the sender domain",
        )
        .await?;
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
        let verified = ok(
            client
                .post(format!("{base}/v1/sender-domains/acme-mail.com/verify"))
                .bearer_auth(&key)
                .send()
                .await?,
            "verifying the sender domain",
        )
        .await?;
        if verified["verified"] != true {
            bail!("the sender domain did not verify: {verified}");
        }
    }
    for (name, kind) in [
        ("first_name", "string"),
        ("plan", "string"),
        ("seats", "number"),
    ] {
        ok(
            client
                .post(format!("{base}/v1/attributes"))
                .bearer_auth(&key)
                .json(&json!({"name": name, "type": kind}))
                .send()
                .await?,
            "declaring an attribute",
        )
        .await?;
    }
    let file = tokio::fs::File::open(&path).await?;
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let report = ok(
        client
            .post(format!("{base}/v1/imports"))
            .query(&[
                ("source", "product_users"),
                ("checks", "offline"),
                ("consent", "opt_in"),
                ("consent_statement", "Ticked the newsletter box at sign-up"),
            ])
            .bearer_auth(&key)
            .header("content-type", "text/csv")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await?,
        "the import",
    )
    .await?;
    if report["status"] == "quarantined" {
        let id = report["id"].as_str().context("import id")?;
        ok(
            client
                .post(format!("{base}/v1/operator/imports/{id}/approve"))
                .bearer_auth(&bench.operator)
                .json(&json!({"note": "bench data"}))
                .send()
                .await?,
            "approving the import",
        )
        .await?;
    }
    let message = ok(
        client
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&key)
            .json(&json!({
                "name": "bench",
                "kind": "marketing",
                "from": {"name": "Acme Product Team", "address": "news@acme-mail.com"},
                "subject": "{{ first_name | fallback: \"Hello\" }}, the spring release is here",
                "template": template(),
            }))
            .send()
            .await?,
        "composing the message",
    )
    .await?;
    let id = message["id"].as_str().context("message id")?.to_owned();
    // The import's peak is its own; the figure below is the send's.
    let setup_peak = peak_rss_mb();
    reset_peak_rss();
    let started = Instant::now();
    let sent = ok(
        client
            .post(format!("{base}/v1/messages/{id}/send"))
            .bearer_auth(&key)
            .send()
            .await?,
        "sending",
    )
    .await?;
    let queued = sent["queued"].as_i64().unwrap_or(0);
    let queue_seconds = started.elapsed().as_secs_f64();
    // Polled with a cheap indexed query: counting the deliveries by state
    // every few milliseconds would be a load of its own.
    let message_id = sendwell_core::MessageId::parse(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
    while bench.state.store.message_pending(&message_id).await? {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("the send did not finish within an hour");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let counts = ok(
        client
            .get(format!("{base}/v1/messages/{id}"))
            .bearer_auth(&key)
            .send()
            .await?,
        "reading the message",
    )
    .await?["counts"]
        .clone();
    stop.cancel();
    for t in extra {
        t.await.ok();
    }
    let (anon, file) = (status_mb("RssAnon:"), status_mb("RssFile:"));
    let backend = bench.backend;
    bench.stop().await?;
    std::fs::remove_dir_all(&dir).ok();
    let delivered = counts["delivered"].as_i64().unwrap_or(0);
    let mut line = json!({
        "bench": "deliver",
        "backend": backend,
        "workers": args.workers.max(1),
        "dkim": args.dkim,
        "recipients": args.recipients,
        "queued": queued,
        "delivered": delivered,
        "deliveries": counts,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "queue_seconds": (queue_seconds * 1000.0).round() / 1000.0,
        "messages_per_second": (delivered as f64 / seconds).round(),
        "peak_rss_mb": peak_rss_mb(),
        "setup_peak_rss_mb": setup_peak,
        "rss_at_end_anon_mb": anon,
        "rss_at_end_file_mb": file,
    });
    if let Some(sink) = &sink {
        line["sink"] = json!("in-process");
        line["sink_accepted"] = json!(sink.accepted_count());
    } else {
        line["sink"] = json!(format!("{host}:{port}"));
    }
    if !dkim_dns.is_empty() {
        line["dkim_dns"] = json!(dkim_dns);
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// Starts the kernel's peak-RSS count (VmHWM) afresh (Linux: writing 5 to
/// /proc/self/clear_refs), so the peak measured after is the send's alone.
fn reset_peak_rss() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("note: cannot reset the peak RSS count ({e}); peak_rss_mb includes the import");
    }
}

/// A line of /proc/self/status in MB (Linux): what the memory is made of.
fn status_mb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

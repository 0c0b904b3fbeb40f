//! Benchmarks of the send path: rendering mails (`bench render`) and
//! counting audiences (`bench audience`). Each prints one JSON line per
//! measurement, with a baseline measured in the same run.

use crate::bench::{import_opted_in, round3, scratch_dir, write_csv};
use crate::bench::{peak_rss_mb, BenchServer};
use anyhow::Context;
use sendwell_core::{MessageKind, Timestamp};
use sendwell_mail::mime::OutgoingMail;
use sendwell_mail::{
    render_mail, CompileInput, CompiledTemplate, Envelope, Layout, LinkSigner, MailLinks, Mailbox,
    Recipient, TemplateSource,
};
use sendwell_server::config::Settings;
use serde_json::{json, Map, Value};
use std::process::ExitCode;
use std::time::Instant;

/// An announcement with ten links, personalised in subject, heading and body.
fn announcement() -> TemplateSource {
    let mut body = String::from(
        "<p>Hi {{ first_name | fallback: \"there\" }},</p>\n<p>Your {{ plan }} plan for {{ company }} now includes everything below.</p>\n<ul>\n",
    );
    for i in 1..=9 {
        body.push_str(&format!(
            "<li><a href=\"https://www.acme-mail.com/features/{i}?utm_source=newsletter&amp;utm_medium=email\">Feature {i}</a>: what it does for teams of {{{{ seats }}}} people, in a sentence or two of ordinary product copy.</li>\n"
        ));
    }
    body.push_str("</ul>\n<p>Questions? Reply to this mail and a person will answer.</p>\n");
    TemplateSource {
        layout: Layout::Announcement,
        html: Some(body),
        text: None,
        heading: Some("Spring release for {{ company }}".to_owned()),
        image_url: Some("https://cdn.acme-mail.com/spring.png".to_owned()),
        image_alt: Some("Spring release".to_owned()),
        button_text: Some("See what is new".to_owned()),
        button_url: Some("https://www.acme-mail.com/spring?ref=mail".to_owned()),
        signature: None,
    }
}

/// A contact of the render benchmark: id, address, name and attributes.
type Person = (String, String, String, Map<String, Value>);

/// A thousand contacts with the attributes the announcement uses.
fn people() -> Vec<Person> {
    (0..1000)
        .map(|i| {
            let mut attrs = Map::new();
            let plan = if i % 2 == 0 { "pro" } else { "team" };
            attrs.insert("plan".into(), json!(plan));
            attrs.insert(
                "company".into(),
                json!(format!("Company {i} GmbH & Co. KG")),
            );
            attrs.insert("seats".into(), json!(i % 50));
            (
                format!("ct_01KBENCH{i:017}"),
                format!("user{i}@company{}.com", i % 100),
                format!("Person{i} Example"),
                attrs,
            )
        })
        .collect()
}

pub fn render(mails: u64) -> anyhow::Result<ExitCode> {
    let source = announcement();
    let compiled = CompiledTemplate::compile(&CompileInput {
        source: &source,
        subject: "{{ first_name | fallback: \"Hello\" }}, the spring release is here",
        from_name: Some("Acme"),
        attributes: &["plan".to_owned(), "company".to_owned(), "seats".to_owned()],
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let from = Mailbox {
        name: Some("Acme Product Team".to_owned()),
        address: "news@acme-mail.com".to_owned(),
    };
    let now = Timestamp::from_millis(1_795_000_000_000);
    let envelope = Envelope {
        from: &from,
        reply_to: None,
        kind: MessageKind::Marketing,
        topic: "marketing",
        workspace_id: "ws_01KBENCH0000000000000000000",
        workspace_name: "Acme",
        physical_address: "Acme Ltd, 1 Main Street, Springfield 12345, USA",
        host: "mail.acme-mail.com",
        mailto_domain: "mail.acme-mail.com",
        track_clicks: true,
        track_opens: true,
        date: now,
        limits: sendwell_mail::RenderLimits::default(),
    };
    let started = Instant::now();
    let (rendered, bytes) = render_all(&compiled, &envelope, &people(), mails)?;
    let full = started.elapsed().as_secs_f64();
    // Baseline, same run: MIME building alone of the same rendered parts.
    let started = Instant::now();
    let base_bytes = build_only(&rendered, &from, now, mails)?;
    let mime = started.elapsed().as_secs_f64();
    let links = rendered[0].html.matches("/c/").count();
    println!(
        "{}",
        json!({
            "bench": "render",
            "layout": "announcement",
            "tracked_links": links,
            "mails": mails,
            "threads": 1,
            "seconds": round3(full),
            "mails_per_second": (mails as f64 / full).round(),
            "avg_mail_bytes": bytes as u64 / mails.max(1),
            "baseline_mime_only_mails_per_second": (mails as f64 / mime).round(),
            "baseline_bytes": base_bytes as u64 / mails.max(1),
            "full_vs_mime_only_time_ratio": round3(full / mime),
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Renders `mails` mails to the people in turn: the first thousand
/// rendered, and the bytes of all.
fn render_all(
    compiled: &CompiledTemplate,
    envelope: &Envelope<'_>,
    people: &[Person],
    mails: u64,
) -> anyhow::Result<(Vec<sendwell_mail::RenderedMail>, usize)> {
    let signer = LinkSigner::new([42; 32]);
    let mut bytes = 0usize;
    let mut rendered = Vec::with_capacity(people.len());
    for n in 0..mails {
        let (id, email, name, attrs) = &people[(n % people.len() as u64) as usize];
        let links = MailLinks {
            signer: &signer,
            base_url: "https://mail.acme-mail.com",
            workspace: envelope.workspace_id,
            contact: id,
            message: "msg_01KBENCH000000000000000000",
            now: envelope.date,
        };
        let recipient = Recipient {
            contact_id: id,
            email,
            name: Some(name),
            external_id: None,
            attributes: attrs,
            data: None,
        };
        let message_id = format!("d{n}@mail.acme-mail.com");
        let mail = render_mail(compiled, envelope, &recipient, &links, &message_id)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        bytes += mail.raw.len();
        if n < 1000 {
            rendered.push(mail);
        }
    }
    Ok((rendered, bytes))
}

/// Builds the MIME message of rendered parts again, `mails` times: the
/// baseline; the bytes built.
fn build_only(
    rendered: &[sendwell_mail::RenderedMail],
    from: &Mailbox,
    now: Timestamp,
    mails: u64,
) -> anyhow::Result<usize> {
    let mut base_bytes = 0usize;
    for n in 0..mails {
        let mail = &rendered[(n % rendered.len() as u64) as usize];
        // Made for each mail, as the send path makes it.
        let to = Mailbox {
            name: None,
            address: "user@company1.com".to_owned(),
        };
        let out = OutgoingMail {
            from,
            to: &to,
            reply_to: None,
            subject: &mail.subject,
            date: now,
            message_id: "d@mail.acme-mail.com",
            headers: &[],
            text: &mail.text,
            html: Some(&mail.html),
        }
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        base_bytes += out.len();
    }
    Ok(base_bytes)
}

/// The filter of the benchmark's main case: three predicates on three
/// attribute types.
const AUDIENCE_FILTER: &str =
    "plan in (\"pro\", \"team\") and seats greater than 10 and trial_ends_at after \"2025-06-01\"";

pub async fn audience(
    contacts: u64,
    runs: u32,
    database_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    let dir = scratch_dir()?;
    let path = dir.join("users.csv");
    write_csv(
        &path,
        "email,name,user_id,plan,seats,trial_ends_at",
        contacts,
        |i| {
            let domain = if i % 3 == 0 {
                "gmail.com".to_owned()
            } else {
                format!("company{}.com", i % 5000)
            };
            let plan = ["pro", "team", "free"][(i % 3) as usize];
            format!(
                "user{i}@{domain},User {i},u{i},{plan},{},2025-{:02}-15",
                i % 50,
                1 + i % 12
            )
        },
    )?;
    let mut settings = Settings::for_data_dir(dir.join("data"));
    settings.database_url = database_url;
    settings.dns = false;
    let bench = BenchServer::start(settings, None).await?;
    for (name, kind) in [
        ("plan", "string"),
        ("seats", "number"),
        ("trial_ends_at", "date"),
    ] {
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
    let started = Instant::now();
    import_opted_in(&bench, &path).await?;
    let load_seconds = started.elapsed().as_secs_f64();
    preview_cases(&bench, contacts, runs, load_seconds).await?;
    let database = bench.database_url.clone();
    let workspace = bench.workspace.clone();
    bench.stop().await?;
    store_only(&database, &workspace, contacts, runs).await?;
    if std::env::var_os("SENDWELL_BENCH_KEEP").is_some() {
        eprintln!("kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).ok();
    }
    Ok(ExitCode::SUCCESS)
}

/// Times `POST /v1/audiences/preview` for each case, a line each.
async fn preview_cases(
    bench: &BenchServer,
    contacts: u64,
    runs: u32,
    load_seconds: f64,
) -> anyhow::Result<()> {
    let cases = [
        (
            "marketing, three-predicate filter",
            json!({"kind": "marketing", "filter": AUDIENCE_FILTER}),
        ),
        (
            "baseline: transactional, no filter",
            json!({"kind": "transactional"}),
        ),
        ("marketing, no filter", json!({"kind": "marketing"})),
    ];
    for (label, request) in cases {
        let mut times = Vec::with_capacity(runs as usize);
        let mut last = Value::Null;
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            last = bench
                .call(
                    reqwest::Method::POST,
                    "/v1/audiences/preview",
                    Some(request.clone()),
                    "preview",
                )
                .await?;
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{}",
            json!({
                "bench": "audience",
                "backend": bench.backend,
                "contacts": contacts,
                "case": label,
                "runs": times.len(),
                "median_seconds": round3(times[times.len() / 2]),
                "best_seconds": round3(times[0]),
                "matched": last["matched"],
                "eligible": last["eligible"],
                "load_seconds": round3(load_seconds),
                "peak_rss_mb": peak_rss_mb(),
            })
        );
    }
    Ok(())
}

/// The store alone, without HTTP: the count and the sample apart.
async fn store_only(
    database: &str,
    workspace: &str,
    contacts: u64,
    runs: u32,
) -> anyhow::Result<()> {
    let clock = std::sync::Arc::new(sendwell_core::SystemClock);
    let store = sendwell_store::Store::open(database, clock).await?;
    let ws = sendwell_core::WorkspaceId::parse(workspace).map_err(|e| anyhow::anyhow!("{e}"))?;
    let schema = store.schema(&ws).await?;
    let parsed = sendwell_core::filter::Filter::parse_text(AUDIENCE_FILTER, &schema)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let spec = sendwell_store::AudienceSpec {
        workspace: &ws,
        filter: Some(&parsed),
        kind: MessageKind::Marketing,
        topic: "marketing",
        opt_in_request_interval_days: 30,
        exclude_risky: false,
        sunset: None,
    };
    let mut count_times = Vec::new();
    let mut sample_times = Vec::new();
    let mut eligible = 0;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        eligible = store.audience_counts(&spec).await?.eligible;
        count_times.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        store.audience_sample(&spec, 10).await?;
        sample_times.push(started.elapsed().as_secs_f64());
    }
    count_times.sort_by(|a, b| a.total_cmp(b));
    sample_times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{}",
        json!({
            "bench": "audience",
            "backend": store.backend().name(),
            "contacts": contacts,
            "case": "store only: count of the three-predicate marketing audience",
            "runs": count_times.len(),
            "median_seconds": round3(count_times[count_times.len() / 2]),
            "best_seconds": round3(count_times[0]),
            "sample_median_seconds": round3(sample_times[sample_times.len() / 2]),
            "eligible": eligible,
        })
    );
    store.close().await;
    Ok(())
}

/// Every file named in the corpus's labels.jsonl, read into memory.
fn corpus_files(dir: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let labels = std::fs::read_to_string(dir.join("labels.jsonl"))
        .with_context(|| format!("cannot read {}/labels.jsonl", dir.display()))?;
    let mut files = Vec::new();
    for line in labels.lines().filter(|l| !l.trim().is_empty()) {
        let row: Value = serde_json::from_str(line)?;
        let name = row["file"].as_str().context("a label without file")?;
        files.push(std::fs::read(dir.join(name))?);
    }
    Ok(files)
}

pub fn screen(corpus: &std::path::Path, passes: u32) -> anyhow::Result<ExitCode> {
    use sendwell_screen::content::{AuthoredMail, Screener};
    let files = corpus_files(corpus)?;
    let bytes: usize = files.iter().map(Vec::len).sum();
    let n = files.len() as u64 * u64::from(passes.max(1));
    // Baseline, same run: parsing alone.
    let started = Instant::now();
    let mut parsed = 0usize;
    for _ in 0..passes.max(1) {
        for f in &files {
            parsed += usize::from(AuthoredMail::from_eml(f).is_some());
        }
    }
    let parse = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut flagged = 0usize;
    for _ in 0..passes.max(1) {
        for f in &files {
            if let Some(mail) = AuthoredMail::from_eml(f) {
                let s = Screener::screen(&mail, &[]);
                flagged += usize::from(s.verdict != sendwell_screen::content::ContentVerdict::Send);
            }
        }
    }
    let full = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "bench": "screen",
            "messages": n,
            "avg_message_bytes": bytes / files.len().max(1),
            "threads": 1,
            "seconds": round3(full),
            "messages_per_second": (n as f64 / full).round(),
            "baseline_parse_only_messages_per_second": (n as f64 / parse).round(),
            "full_vs_parse_time_ratio": round3(full / parse),
            "parsed": parsed,
            "flagged": flagged,
        })
    );
    Ok(ExitCode::SUCCESS)
}

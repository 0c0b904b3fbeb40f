//! `sendwell import` and `sendwell check-address`.

use anyhow::{bail, Context};
use sendwell_screen::dns::CachingResolver;
use sendwell_screen::{Checker, MailDomainResolver};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Checks addresses and prints one JSON line each.
pub async fn check_addresses(
    addresses: Vec<String>,
    offline: bool,
    smtputf8: bool,
) -> anyhow::Result<ExitCode> {
    let mut checker = Checker::new();
    checker.smtputf8 = smtputf8;
    let resolver = if offline {
        None
    } else {
        let system: Arc<dyn MailDomainResolver> = match sendwell_server::dns::SystemResolver::new()
        {
            Some(r) => Arc::new(r),
            None => Arc::new(sendwell_server::dns::NoResolver),
        };
        Some(CachingResolver::new(
            system,
            Arc::new(sendwell_core::SystemClock),
        ))
    };
    let mut out = std::io::stdout().lock();
    for a in addresses {
        let mut check = checker.offline(&a);
        if let (Some(r), Some(domain)) = (&resolver, check.domain.clone()) {
            if check.verdict != sendwell_screen::Verdict::Invalid {
                check = check.with_dns(&r.resolve(&domain).await.answer);
            }
        }
        let view = sendwell_server::api::addresses::CheckView::from(&check);
        writeln!(out, "{}", serde_json::to_string(&view)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ImportArgs {
    file: PathBuf,
    /// How the list was procured: signup_form, product_users, event_signup,
    /// customer_records, migration or other.
    #[arg(long)]
    source: String,
    #[arg(long)]
    description: Option<String>,
    /// none, opt_in or double_opt_in.
    #[arg(long)]
    consent: Option<String>,
    /// How consent was collected (needed unless consent is none).
    #[arg(long)]
    consent_statement: Option<String>,
    #[arg(long)]
    consent_topic: Option<String>,
    /// Also check each distinct domain in DNS.
    #[arg(long)]
    dns: bool,
    /// The sendwell server.
    #[arg(long, env = "SENDWELL_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A workspace API key (sender or admin).
    #[arg(long, env = "SENDWELL_API_KEY", hide_env_values = true)]
    api_key: String,
}

fn progress(sent: u64, total: u64) {
    const WIDTH: u64 = 30;
    let done = sent.min(total);
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    eprint!(
        "\r[{}{}] {pct:>3}%  {:.1} / {:.1} MB",
        "#".repeat(filled as usize),
        " ".repeat((WIDTH - filled) as usize),
        sent as f64 / 1e6,
        total as f64 / 1e6
    );
}

/// Streams a CSV file to the server's import endpoint, with a progress bar.
pub async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let total = file.metadata().await?.len();
    let sent = AtomicU64::new(0);
    let body = streamed_body(file, move |n| {
        let done = sent.fetch_add(n, Ordering::Relaxed) + n;
        progress(done, total);
    });
    let url = format!("{}/v1/imports", args.server.trim_end_matches('/'));
    progress(0, total);
    let resp = reqwest::Client::new()
        .post(&url)
        .query(&import_query(&args))
        .bearer_auth(&args.api_key)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    eprintln!();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "the import was refused ({}): {}",
            status.as_u16(),
            body["detail"].as_str().unwrap_or("no detail given")
        );
    }
    report_import(&args.server, &body)?;
    Ok(ExitCode::SUCCESS)
}

/// A file as a streamed request body, read 256 KiB at a time; `on_read` is
/// told the size of each chunk as it goes.
pub(crate) fn streamed_body(
    file: tokio::fs::File,
    on_read: impl Fn(u64) + Send + Sync + 'static,
) -> reqwest::Body {
    let on_read = Arc::new(on_read);
    let stream = futures_util::stream::unfold(file, move |mut file| {
        let on_read = on_read.clone();
        async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 256 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    on_read(n as u64);
                    Some((Ok::<_, std::io::Error>(buf), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        }
    });
    reqwest::Body::wrap_stream(stream)
}

/// The import's query: the source, the consent options given, and the checks.
fn import_query(args: &ImportArgs) -> Vec<(&'static str, String)> {
    let mut query: Vec<(&str, String)> = vec![("source", args.source.clone())];
    for (k, v) in [
        ("description", &args.description),
        ("consent", &args.consent),
        ("consent_statement", &args.consent_statement),
        ("consent_topic", &args.consent_topic),
    ] {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    query.push((
        "checks",
        if args.dns { "dns" } else { "offline" }.to_owned(),
    ));
    query
}

/// Prints the import's report on stdout and a summary on stderr.
fn report_import(server: &str, body: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(body)?);
    eprintln!(
        "import {}: {} (score {}); {} rows, {} imported, {} rejected. Rejected rows: {}{}",
        body["id"].as_str().unwrap_or("?"),
        body["status"].as_str().unwrap_or("?"),
        body["score"],
        body["counts"]["rows"],
        body["counts"]["imported"],
        body["counts"]["rejected"],
        server.trim_end_matches('/'),
        body["rejects_url"].as_str().unwrap_or("")
    );
    Ok(())
}

//! `sendwell bench ...`: end-to-end throughput through the real HTTP API,
//! against a server started in this process on port 0.

use anyhow::{bail, Context};
use clap::Subcommand;
use sendwell_server::config::Settings;
use sendwell_server::App;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Load N contacts through POST /v1/contacts/batch.
    Contacts {
        /// How many contacts.
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        /// Contacts per request (at most 1000).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// PostgreSQL URL; a fresh SQLite database in a temporary directory when not given.
        #[arg(long)]
        database_url: Option<String>,
    },
}

pub async fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Contacts {
            count,
            batch,
            concurrency,
            database_url,
        } => contacts(count, batch, concurrency, database_url).await,
    }
}

async fn contacts(
    count: usize,
    batch: usize,
    concurrency: usize,
    database_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    if !(1..=1000).contains(&batch) {
        bail!("--batch must be 1 to 1000");
    }
    let dir = std::env::temp_dir().join(format!(
        "sendwell-bench-{}",
        sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<6>())
    ));
    let mut settings = Settings::for_data_dir(&dir);
    settings.database_url = database_url;
    settings.operator_token = Some(sendwell_core::secret::to_hex(
        &sendwell_core::secret::random_bytes::<24>(),
    ));
    let token = settings.operator_token.clone().unwrap_or_default();
    let app = App::prepare(settings).await?;
    let backend = app.state.store.backend().name();
    let listener = app.bind().await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        stop_rx.await.ok();
    }));
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{base}/v1/workspaces"))
        .bearer_auth(&token)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let key = created["api_key"]
        .as_str()
        .context("no api_key in the answer")?
        .to_owned();
    // Bodies are built before the clock starts: the figure is the server's.
    let bodies: Vec<Vec<u8>> = (0..count.div_ceil(batch))
        .map(|b| {
            let start = b * batch;
            let end = (start + batch).min(count);
            let contacts: Vec<Value> = (start..end)
                .map(|i| {
                    json!({
                        "email": format!("user{i}@bench.example.net"),
                        "external_id": format!("u-{i}"),
                        "name": format!("User {i}"),
                        "attributes": {"plan": if i % 3 == 0 { "pro" } else { "free" }, "seats": i % 50, "opt_in": i % 2 == 0, "signed_up_at": "2026-01-15T10:00:00Z"},
                    })
                })
                .collect();
            serde_json::to_vec(&json!({ "contacts": contacts })).unwrap_or_default()
        })
        .collect();
    let started = Instant::now();
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(bodies.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let queue = queue.clone();
        let client = client.clone();
        let url = format!("{base}/v1/contacts/batch");
        let key = key.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().await.next();
                let Some(body) = next else {
                    return Ok::<(), anyhow::Error>(());
                };
                let resp = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                if !resp.status().is_success() {
                    bail!(
                        "batch failed: {} {}",
                        resp.status(),
                        resp.text().await.unwrap_or_default()
                    );
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    stop_tx.send(()).ok();
    server.await??;
    std::fs::remove_dir_all(&dir).ok();
    println!(
        "{}",
        json!({
            "bench": "contacts_batch",
            "backend": backend,
            "contacts": count,
            "batch": batch,
            "concurrency": concurrency,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "contacts_per_second": (count as f64 / seconds).round(),
        })
    );
    Ok(ExitCode::SUCCESS)
}

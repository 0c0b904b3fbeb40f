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
    /// Import N rows of CSV through POST /v1/imports (streamed from a file).
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Also run the DNS checks, against a stub resolver that counts
        /// lookups (this machine has no DNS).
        #[arg(long)]
        dns: bool,
        /// Distinct company domains in the generated file (besides gmail.com).
        #[arg(long, default_value_t = 5_000)]
        domains: u64,
        /// Declare opt-in consent for every row (held until the verdict,
        /// then written to the ledger).
        #[arg(long)]
        consent: bool,
        /// PostgreSQL URL; a fresh SQLite database in a temporary directory when not given.
        #[arg(long)]
        database_url: Option<String>,
    },
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
    /// Render N mails of an announcement with 10 links: Liquid, footer,
    /// link signing and rewriting, open pixel, MIME; one thread.
    Render {
        #[arg(long, default_value_t = 50_000)]
        mails: u64,
    },
    /// Screen every message of a corpus (parse + rules + classifier), one thread.
    Screen {
        #[arg(long, default_value = "../shared/corpus/content")]
        corpus: std::path::PathBuf,
        /// Passes over the corpus.
        #[arg(long, default_value_t = 3)]
        passes: u32,
    },
    /// Send an announcement with 10 links to N opted-in contacts through the
    /// whole pipeline (render, footer, link signing, DKIM, SMTP, outcomes).
    Deliver {
        #[arg(long, default_value_t = 100_000)]
        recipients: u64,
        /// HOST:PORT of the SMTP server to deliver to (e.g. Postfix's smtp-sink);
        /// sendwell's own in-process sink when not given.
        #[arg(long)]
        smtp: Option<String>,
        /// rsa (RSA-2048), ed25519, both, or none.
        #[arg(long, default_value = "none")]
        dkim: String,
        /// Delivery workers in this process, each with its own leases.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// PostgreSQL URL; a fresh SQLite database in a temporary directory when not given.
        #[arg(long)]
        database_url: Option<String>,
        /// Schedule the send a few seconds ahead instead of sending now,
        /// pause it when a third has gone and resume it a second later: the
        /// scheduler's and the pause's figures beside the send's.
        #[arg(long)]
        scheduled: bool,
    },
    /// Parse every message of the bounce corpus, one thread.
    Bounces {
        #[arg(long, default_value = "../shared/corpus/bounces")]
        corpus: std::path::PathBuf,
        #[arg(long, default_value_t = 20)]
        passes: u32,
    },
    /// The reputation monitor's cost per event as the event history grows.
    Monitor {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// PostgreSQL URL; a fresh SQLite database in a temporary directory when not given.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The console's pages with N imported contacts, each requested R
    /// times by a signed-in member: median, 95th percentile, slowest.
    Console {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: u64,
        #[arg(long, default_value_t = 50)]
        runs: u32,
        /// PostgreSQL URL; a fresh SQLite database in a temporary directory when not given.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The operator console's pages with W workspaces and D finished
    /// deliveries in the window, each requested R times by an operator.
    Operator {
        #[arg(long, default_value_t = 1000)]
        workspaces: u64,
        #[arg(long, default_value_t = 10_000_000)]
        deliveries: u64,
        #[arg(long, default_value_t = 50)]
        runs: u32,
        /// PostgreSQL URL; a fresh SQLite database in a temporary directory when not given.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Count an audience over N imported contacts with a three-predicate filter.
    Audience {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: u64,
        /// Timed runs of each preview.
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// PostgreSQL URL; a fresh SQLite database in a temporary directory when not given.
        #[arg(long)]
        database_url: Option<String>,
    },
}

pub async fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Import {
            rows,
            dns,
            domains,
            consent,
            database_url,
        } => import(rows, dns, domains, consent, database_url).await,
        BenchCommand::Contacts {
            count,
            batch,
            concurrency,
            database_url,
        } => contacts(count, batch, concurrency, database_url).await,
        BenchCommand::Deliver {
            recipients,
            smtp,
            dkim,
            workers,
            database_url,
            scheduled,
        } => {
            crate::bench_deliver::deliver(crate::bench_deliver::DeliverArgs {
                recipients,
                smtp,
                dkim,
                database_url,
                workers,
                scheduled,
            })
            .await
        }
        BenchCommand::Bounces { corpus, passes } => crate::bench_feedback::bounces(&corpus, passes),
        BenchCommand::Monitor {
            events,
            database_url,
        } => crate::bench_feedback::monitor(events, database_url).await,
        BenchCommand::Render { mails } => crate::bench_mail::render(mails),
        BenchCommand::Screen { corpus, passes } => crate::bench_mail::screen(&corpus, passes),
        BenchCommand::Audience {
            contacts,
            runs,
            database_url,
        } => crate::bench_mail::audience(contacts, runs, database_url).await,
        BenchCommand::Console {
            contacts,
            runs,
            database_url,
        } => crate::bench_console::console(contacts, runs, database_url).await,
        BenchCommand::Operator {
            workspaces,
            deliveries,
            runs,
            database_url,
        } => crate::bench_operator::operator(workspaces, deliveries, runs, database_url).await,
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
    let dir = scratch_dir()?;
    let mut settings = Settings::for_data_dir(&dir);
    settings.database_url = database_url;
    let bench = BenchServer::start(settings, None).await?;
    // Bodies are built before the clock starts: the figure is the server's.
    let client = reqwest::Client::new();
    let bodies = contact_batches(count, batch);
    let started = Instant::now();
    post_batches(&client, &bench, bodies, concurrency).await?;
    let seconds = started.elapsed().as_secs_f64();
    let backend = bench.backend;
    bench.stop_and_clean_up(&dir).await?;
    println!(
        "{}",
        json!({
            "bench": "contacts_batch",
            "backend": backend,
            "contacts": count,
            "batch": batch,
            "concurrency": concurrency,
            "seconds": round3(seconds),
            "contacts_per_second": (count as f64 / seconds).round(),
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// The request bodies of POST /v1/contacts/batch for `count` contacts,
/// `batch` to a request.
fn contact_batches(count: usize, batch: usize) -> Vec<Vec<u8>> {
    (0..count.div_ceil(batch))
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
        .collect()
}

/// Posts every body with `concurrency` requests in flight; the first
/// refused batch fails the run.
async fn post_batches(
    client: &reqwest::Client,
    bench: &BenchServer,
    bodies: Vec<Vec<u8>>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(bodies.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let queue = queue.clone();
        let client = client.clone();
        let url = format!("{}/v1/contacts/batch", bench.base);
        let key = bench.key.clone();
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
    Ok(())
}

/// DNS answers for gmail.com and `company0.com` to `company{domains-1}.com`.
fn company_resolver(domains: u64) -> sendwell_screen::dns::StaticResolver {
    use sendwell_screen::dns::{DomainMail, StaticResolver};
    let mx = |host: String| DomainMail::Mx(vec![host]);
    let mut resolver = StaticResolver::new().with("gmail.com", mx("mx.gmail.com".into()), 3600);
    for d in 0..domains {
        resolver = resolver.with(
            &format!("company{d}.com"),
            mx(format!("mx.company{d}.com")),
            3600,
        );
    }
    resolver
}

/// Peak resident memory of this process so far, in MB (Linux).
pub(crate) fn peak_rss_mb() -> Option<f64> {
    status_mb("VmHWM:")
}

/// A line of /proc/self/status in MB (Linux): what the memory is made of.
pub(crate) fn status_mb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

async fn import(
    rows: u64,
    dns: bool,
    domains: u64,
    consent: bool,
    database_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    let dir = scratch_dir()?;
    let path = dir.join("users.csv");
    write_product_users(&path, rows, domains)?;
    let bytes = std::fs::metadata(&path)?.len();
    let resolver = std::sync::Arc::new(company_resolver(domains.max(1)));
    let mut settings = Settings::for_data_dir(dir.join("data"));
    settings.database_url = database_url;
    let bench = BenchServer::start(settings, Some(resolver.clone())).await?;
    let backend = bench.backend;
    let (report, seconds) = timed_import(&bench, &path, dns, consent).await?;
    bench.stop_and_clean_up(&dir).await?;
    let mut line = json!({
        "bench": "import",
        "backend": backend,
        "rows": rows,
        "bytes": bytes,
        "checks": if dns { "dns" } else { "offline" },
        "consent": consent,
        "consent_recorded": report["counts"]["consent_recorded"],
        "seconds": round3(seconds),
        "rows_per_second": (rows as f64 / seconds).round(),
        "imported": report["counts"]["imported"],
        "status": report["status"],
        "peak_rss_mb": peak_rss_mb(),
    });
    if dns {
        line["distinct_domains"] = json!(domains.max(1) + 1);
        line["dns_lookups"] = json!(resolver.asked().len());
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// The file: users of a product, a third on gmail.com, the rest spread
/// over company domains; a few role accounts and typos, as real exports have.
fn write_product_users(path: &std::path::Path, rows: u64, domains: u64) -> anyhow::Result<()> {
    write_csv(
        path,
        "email,name,user_id,plan,seats,signed_up_at",
        rows,
        |i| {
            let domain = if i % 3 == 0 {
                "gmail.com".to_owned()
            } else {
                format!("company{}.com", i % domains.max(1))
            };
            let local = if i % 97 == 0 {
                "info".to_owned()
            } else {
                format!("user{i}")
            };
            let plan = if i % 2 == 0 { "pro" } else { "free" };
            format!(
                "{local}.{i}@{domain},User {i},u{i},{plan},{},2025-{:02}-15",
                i % 50,
                1 + i % 12
            )
        },
    )
}

/// Streams `path` to POST /v1/imports; the report and the seconds it took,
/// timed from the request to the parsed report.
async fn timed_import(
    bench: &BenchServer,
    path: &std::path::Path,
    dns: bool,
    consent: bool,
) -> anyhow::Result<(Value, f64)> {
    let client = reqwest::Client::new();
    let stream = file_body(path).await?;
    let started = Instant::now();
    let resp = client
        .post(format!("{}/v1/imports", bench.base))
        .query(&[
            ("source", "product_users"),
            ("checks", if dns { "dns" } else { "offline" }),
        ])
        .query(&if consent {
            vec![
                ("consent", "opt_in"),
                (
                    "consent_statement",
                    "Ticked 'Email me product news' at sign-up",
                ),
            ]
        } else {
            Vec::new()
        })
        .bearer_auth(&bench.key)
        .header("content-type", "text/csv")
        .body(stream)
        .send()
        .await?;
    let status = resp.status();
    let report: Value = resp.json().await?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.is_success() {
        bail!("import failed: {status} {report}");
    }
    Ok((report, seconds))
}

/// A file as a streamed request body, read 256 KiB at a time.
pub(crate) async fn file_body(path: &std::path::Path) -> anyhow::Result<reqwest::Body> {
    let file = tokio::fs::File::open(path).await?;
    Ok(crate::import::streamed_body(file, |_| {}))
}

/// A fresh directory under the system's temporary directory for one run.
pub(crate) fn scratch_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "sendwell-bench-{}",
        sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes a CSV file of `rows` lines made by `row`, after `header`.
pub(crate) fn write_csv(
    path: &std::path::Path,
    header: &str,
    rows: u64,
    row: impl Fn(u64) -> String,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{header}")?;
    for i in 0..rows {
        writeln!(out, "{}", row(i))?;
    }
    out.flush()?;
    Ok(())
}

/// Seconds (or any ratio) to three decimals, for the JSON lines.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The answer to a request the benchmark needs, or what went wrong.
pub(crate) async fn answer(resp: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!("{what} failed: {status} {body}");
    }
    Ok(body)
}

/// Imports the users of `path` with declared opt-in, streaming the file;
/// approves the import when it is quarantined. The import's report.
pub(crate) async fn import_opted_in(
    bench: &BenchServer,
    path: &std::path::Path,
) -> anyhow::Result<Value> {
    let stream = file_body(path).await?;
    let request = reqwest::Client::new()
        .post(format!("{}/v1/imports", bench.base))
        .query(&[
            ("source", "product_users"),
            ("checks", "offline"),
            ("consent", "opt_in"),
            ("consent_statement", "Ticked the newsletter box at sign-up"),
        ])
        .bearer_auth(&bench.key)
        .header("content-type", "text/csv")
        .body(stream);
    let report = answer(request.send().await?, "the import").await?;
    if report["status"] == "quarantined" {
        let id = report["id"].as_str().context("import id")?;
        let approve = format!("/v1/operator/imports/{id}/approve");
        let note = json!({"note": "bench data"});
        let operator = bench.operator.clone();
        let what = "approving the import";
        bench
            .call_as(&operator, reqwest::Method::POST, &approve, Some(note), what)
            .await?;
    }
    Ok(report)
}

/// A server started in this process for a benchmark, with one workspace.
pub(crate) struct BenchServer {
    pub(crate) base: String,
    pub(crate) operator: String,
    pub(crate) key: String,
    pub(crate) backend: &'static str,
    pub(crate) database_url: String,
    pub(crate) workspace: String,
    pub(crate) state: sendwell_server::AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl BenchServer {
    pub(crate) async fn start(
        mut settings: Settings,
        resolver: Option<std::sync::Arc<dyn sendwell_screen::MailDomainResolver>>,
    ) -> anyhow::Result<Self> {
        settings.operator_token = Some(sendwell_core::secret::to_hex(
            &sendwell_core::secret::random_bytes::<24>(),
        ));
        let token = settings.operator_token.clone().unwrap_or_default();
        let app = match resolver {
            Some(r) => {
                App::prepare_with(settings, std::sync::Arc::new(sendwell_core::SystemClock), r)
                    .await?
            }
            None => App::prepare(settings).await?,
        };
        let backend = app.state.store.backend().name();
        let state = app.state.clone();
        let database_url = app.settings.effective_database_url();
        let listener = app.bind().await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(listener, async {
            stopped.await.ok();
        }));
        let created: Value = reqwest::Client::new()
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
        let workspace = created["id"]
            .as_str()
            .context("no id in the answer")?
            .to_owned();
        // A benchmark measures an established sender, not a warm-up.
        reqwest::Client::new()
            .post(format!("{base}/v1/operator/workspaces/{workspace}/warmup"))
            .bearer_auth(&token)
            .json(&json!({"cap_per_day": null, "note": "benchmark"}))
            .send()
            .await?
            .error_for_status()?;
        Ok(Self {
            state,
            database_url,
            workspace,
            base,
            operator: token,
            key,
            backend,
            stop,
            server,
        })
    }

    /// `method path` with the workspace's key and `body` as JSON, if any.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> anyhow::Result<Value> {
        self.call_as(&self.key, method, path, body, what).await
    }

    /// The same with another token (the operator's).
    pub(crate) async fn call_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> anyhow::Result<Value> {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await?, what).await
    }

    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        self.stop.send(()).ok();
        self.server.await??;
        Ok(())
    }

    /// Stops the server, then removes the run's scratch directory `dir`.
    pub(crate) async fn stop_and_clean_up(self, dir: &std::path::Path) -> anyhow::Result<()> {
        self.stop().await?;
        std::fs::remove_dir_all(dir).ok();
        Ok(())
    }
}

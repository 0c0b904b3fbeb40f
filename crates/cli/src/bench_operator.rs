//! `sendwell bench operator`: the operator console's pages over HTTP with
//! W workspaces and D finished deliveries in the window, shared between
//! the workspaces as real platforms share them (a few send most: the
//! workspace ranked k gets a share proportional to 1/k), each page
//! requested R times by a signed-in operator; the median, the 95th
//! percentile and the slowest time of each, a JSON line a page.

use crate::bench::{peak_rss_mb, scratch_dir, BenchServer};
use crate::bench_console::time_page;
use anyhow::Context as _;
use sendwell_server::config::Settings;
use serde_json::{json, Value};
use std::process::ExitCode;

const PASSWORD: &str = "bench password of some length";

/// Hard bounces per thousand deliveries, by the workspace's rank modulo
/// ten: most under the review line (5%), a few past the suspend line (10%).
const BOUNCES_PER_MILLE: [u64; 10] = [5, 10, 15, 20, 30, 40, 60, 80, 110, 130];

/// The value of a hidden field of a page.
fn hidden(page: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .with_context(|| format!("no {name} field on the page"))?;
    let rest = &page[at + marker.len()..];
    Ok(rest[..rest.find('"').context("unterminated value")?].to_owned())
}

/// An operator of the bench, set up by its link (password and second
/// factor) and so signed in: the session cookie.
async fn sign_in(bench: &BenchServer) -> anyhow::Result<String> {
    let email = sendwell_core::EmailAddress::parse("bench-operator@platform.example")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, link) = sendwell_server::accounts::add_operator(
        &bench.state,
        &email,
        sendwell_core::OperatorRole::Operator,
        "bench",
    )
    .await?;
    let path = &link[link.find("/operator/setup/").context("no setup path")?..];
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = client
        .get(format!("{}{path}", bench.base))
        .send()
        .await?
        .text()
        .await?;
    let secret_hex = hidden(&page, "secret")?;
    let secret = sendwell_core::secret::from_hex(&secret_hex).context("the secret is not hex")?;
    let now = bench.state.store.now().millis() / 1000;
    let code = format!("{:06}", sendwell_server::totp::code_at(&secret, now));
    let password = PASSWORD.replace(' ', "+");
    let form = format!(
        "name=Bench&password={password}&confirm={password}&secret={secret_hex}&code={code}"
    );
    let url = format!("{}{path}", bench.base);
    crate::bench_console::session_cookie(
        &client,
        &url,
        form,
        "no operator session after the second factor",
    )
    .await
}

/// The deliveries of the workspace ranked `rank` (0 first) of `n`.
fn share(deliveries: u64, rank: u64, n: u64) -> u64 {
    let harmonic: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
    (deliveries as f64 / (rank + 1) as f64 / harmonic).round() as u64
}

/// A draft of the workspace whose key is `key`, for its history to belong to.
async fn draft(bench: &BenchServer, key: &str) -> anyhow::Result<String> {
    let m = bench
        .call_as(
            key,
            reqwest::Method::POST,
            "/v1/messages",
            Some(json!({"name": "history", "kind": "marketing",
                   "from": {"name": "Bench", "address": "news@company1.com"},
                   "subject": "News", "template": {"layout": "plain", "text": "Hello."}})),
            "composing",
        )
        .await?;
    Ok(m["id"].as_str().context("no message id")?.to_owned())
}

/// Makes the workspaces (the bench's own first) and writes each one's
/// history: (workspace ids, most sending first).
async fn populate(
    bench: &BenchServer,
    workspaces: u64,
    deliveries: u64,
) -> anyhow::Result<Vec<String>> {
    let mut made: Vec<(String, String)> = vec![(bench.workspace.clone(), bench.key.clone())];
    for i in 1..workspaces {
        let created: Value = bench
            .call_as(
                &bench.operator,
                reqwest::Method::POST,
                "/v1/workspaces",
                Some(json!({"name": format!("Workspace {i:04}")})),
                "creating a workspace",
            )
            .await?;
        made.push((
            created["id"].as_str().context("no id")?.to_owned(),
            created["api_key"].as_str().context("no key")?.to_owned(),
        ));
    }
    let started = std::time::Instant::now();
    for (rank, (id, key)) in made.iter().enumerate() {
        let rank = rank as u64;
        let message = draft(bench, key).await?;
        let ws = sendwell_core::WorkspaceId::parse(id).map_err(|e| anyhow::anyhow!("{e}"))?;
        let message =
            sendwell_core::MessageId::parse(&message).map_err(|e| anyhow::anyhow!("{e}"))?;
        bench
            .state
            .store
            .write_synthetic_history(sendwell_store::SyntheticHistory {
                workspace: &ws,
                message: &message,
                deliveries: share(deliveries, rank, workspaces),
                bounces_per_mille: BOUNCES_PER_MILLE[(rank % 10) as usize],
                days: 30,
                domains: 200,
            })
            .await?;
        // The monitor judges it as after a send: some go under review,
        // some are suspended with a case and its evidence.
        sendwell_server::reputation::evaluate(&bench.state, &ws, &message).await?;
        if rank % 100 == 99 {
            eprintln!(
                "{} workspaces written in {:.0} s",
                rank + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(made.into_iter().map(|(id, _)| id).collect())
}

pub async fn operator(
    workspaces: u64,
    deliveries: u64,
    runs: u32,
    database_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    if workspaces == 0 {
        anyhow::bail!("--workspaces must be at least 1");
    }
    let dir = scratch_dir()?;
    let mut settings = Settings::for_data_dir(dir.join("data"));
    settings.database_url = database_url;
    settings.dns = false;
    let bench = BenchServer::start(settings, None).await?;
    let ids = populate(&bench, workspaces, deliveries).await?;
    let cookie = sign_in(&bench).await?;
    let biggest = ids.first().context("no workspace")?;
    let smallest = ids.last().context("no workspace")?;
    let pages = [
        ("overview", "/operator".to_owned()),
        ("workspaces, by name", "/operator/workspaces".to_owned()),
        (
            "workspaces, by hard-bounce rate",
            "/operator/workspaces?sort=bounces".to_owned(),
        ),
        (
            "workspaces, suspended only",
            "/operator/workspaces?state=suspended".to_owned(),
        ),
        (
            "workspace page, the one that sent most",
            format!("/operator/workspaces/{biggest}"),
        ),
        (
            "workspace page, the one that sent least",
            format!("/operator/workspaces/{smallest}"),
        ),
        ("cases", "/operator/cases".to_owned()),
        ("imports", "/operator/imports".to_owned()),
        ("reviews", "/operator/reviews".to_owned()),
        ("reports", "/operator/reports".to_owned()),
        ("policy", "/operator/policy".to_owned()),
        (
            "guidelines, with acceptance",
            "/operator/guidelines".to_owned(),
        ),
    ];
    let client = reqwest::Client::new();
    let mut timed = Vec::new();
    for (label, page) in pages {
        timed.push((
            label,
            time_page(&client, &bench.base, &page, &cookie, runs).await?,
        ));
    }
    timed.push((
        "policy, the effect of a change previewed",
        time_preview(&client, &bench.base, &cookie, runs).await?,
    ));
    for (label, times) in timed {
        let [median, p95, max] = crate::bench_console::median_p95_max_ms(&times);
        println!(
            "{}",
            json!({
                "bench": "operator",
                "backend": bench.backend,
                "workspaces": workspaces,
                "deliveries": deliveries,
                "page": label,
                "runs": times.len(),
                "median_ms": median,
                "p95_ms": p95,
                "max_ms": max,
                "peak_rss_mb": peak_rss_mb(),
            })
        );
    }
    bench.stop_and_clean_up(&dir).await?;
    Ok(ExitCode::SUCCESS)
}

/// `runs` timed previews of a policy with lower review lines (a form
/// POST, as the page's "Preview the effect" sends it), sorted.
async fn time_preview(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    runs: u32,
) -> anyhow::Result<Vec<f64>> {
    let page = client
        .get(format!("{base}/operator/policy"))
        .header("cookie", cookie)
        .send()
        .await?
        .text()
        .await?;
    let csrf = hidden(&page, "csrf")?;
    let body = format!(
        "csrf={csrf}&action=preview&review_hard_bounce_rate=2&suspend_hard_bounce_rate=10\
         &review_complaint_rate=0.1&suspend_complaint_rate=0.3&window_days=30&min_sends=500\
         &breaker_min_deliveries=1000&probation_days=14"
    );
    let post = || {
        client
            .post(format!("{base}/operator/policy"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
    };
    post().send().await?.bytes().await?;
    let mut times = Vec::with_capacity(runs as usize);
    for _ in 0..runs.max(1) {
        let started = std::time::Instant::now();
        let answer = post().send().await?;
        let status = answer.status();
        let text = answer.text().await?;
        times.push(started.elapsed().as_secs_f64());
        if !status.is_success() || !text.contains("What this policy would do now") {
            anyhow::bail!("the policy preview answered {status}");
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_fall_with_rank() {
        let total: u64 = (0..1000).map(|r| share(10_000_000, r, 1000)).sum();
        assert!((total as i64 - 10_000_000).abs() < 1000, "{total}");
        assert!(share(10_000_000, 0, 1000) > 1_000_000);
        assert!(share(10_000_000, 999, 1000) < 2_000);
    }
}

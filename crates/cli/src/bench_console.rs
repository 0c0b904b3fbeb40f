//! `sendwell bench console`: the console's pages over HTTP with N imported
//! contacts, each page requested R times by a signed-in member; the median,
//! the 95th percentile and the slowest time of each, a JSON line a page.

use crate::bench::{import_opted_in, peak_rss_mb, round3, scratch_dir, write_csv, BenchServer};
use anyhow::Context as _;
use sendwell_server::config::Settings;
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

const PASSWORD: &str = "bench password of some length";

/// A member of the bench workspace, signed in: the session cookie.
async fn sign_in(bench: &BenchServer) -> anyhow::Result<String> {
    let invited = bench
        .call(
            reqwest::Method::POST,
            "/v1/members",
            Some(json!({"email": "bench@company1.com", "role": "admin"})),
            "inviting a member",
        )
        .await?;
    let url = invited["invite_url"]
        .as_str()
        .context("no invite_url in the answer")?;
    let path = &url[url.find("/invite/").context("no invite path")?..];
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let form = format!("password={0}&confirm={0}", PASSWORD.replace(' ', "+"));
    let url = format!("{}{path}", bench.base);
    session_cookie(
        &client,
        &url,
        form,
        "no session cookie after accepting the invite",
    )
    .await
}

/// Posts a form that starts a session: the session's cookie, as a Cookie
/// header gives it back.
pub(crate) async fn session_cookie(
    client: &reqwest::Client,
    url: &str,
    form: String,
    missing: &'static str,
) -> anyhow::Result<String> {
    let answer = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    let cookie = answer
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context(missing)?;
    Ok(cookie.to_owned())
}

/// A sent message and a draft, both to the whole audience: their ids.
async fn messages(bench: &BenchServer) -> anyhow::Result<(String, String)> {
    let body = |name: &str| {
        json!({"name": name, "kind": "marketing",
               "from": {"name": "Bench", "address": "news@company1.com"},
               "subject": "News", "template": {"layout": "plain", "text": "Hello {{ first_name }}, here is what is new."},
               "audience": {"filter": "plan is \"team\" and seats greater than 48"}})
    };
    let mut ids = Vec::new();
    for name in ["sent", "draft"] {
        let m = bench
            .call(
                reqwest::Method::POST,
                "/v1/messages",
                Some(body(name)),
                "composing",
            )
            .await?;
        ids.push(m["id"].as_str().context("no message id")?.to_owned());
    }
    bench
        .call(
            reqwest::Method::PATCH,
            "/v1/workspace",
            Some(json!({"physical_address": "Bench Ltd, 1 Main Street, Springfield 12345, USA"})),
            "setting the address",
        )
        .await?;
    let version = bench
        .call(reqwest::Method::GET, "/v1/guidelines", None, "guidelines")
        .await?["version"]
        .clone();
    bench
        .call(
            reqwest::Method::POST,
            "/v1/guidelines/accept",
            Some(json!({"version": version, "accepted_by": "Bench"})),
            "accepting the guidelines",
        )
        .await?;
    bench
        .call(
            reqwest::Method::POST,
            &format!("/v1/messages/{}/send", ids[0]),
            Some(json!({})),
            "sending",
        )
        .await?;
    // The pages are timed once the delivery worker is done with the send,
    // not while it writes beside them.
    for _ in 0..6000 {
        let m = bench
            .call(
                reqwest::Method::GET,
                &format!("/v1/messages/{}", ids[0]),
                None,
                "reading the message",
            )
            .await?;
        if m["state"] == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok((ids[0].clone(), ids[1].clone()))
}

/// A contact in the middle of the id order, and a cursor there.
async fn middle_contact(bench: &BenchServer, contacts: u64) -> anyhow::Result<String> {
    let wanted = format!(
        "user{}@company{}.com",
        contacts / 2 + 1,
        (contacts / 2 + 1) % 5000
    );
    let found = bench
        .call(
            reqwest::Method::GET,
            &format!("/v1/contacts?email={wanted}"),
            None,
            "finding a contact",
        )
        .await?;
    Ok(found["items"][0]["id"]
        .as_str()
        .with_context(|| format!("no contact {wanted}: {found}"))?
        .to_owned())
}

pub async fn console(
    contacts: u64,
    runs: u32,
    database_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    let dir = scratch_dir()?;
    let path = dir.join("users.csv");
    write_csv(&path, "email,name,plan,seats", contacts, |i| {
        let plan = ["pro", "team", "free"][(i % 3) as usize];
        format!("user{i}@company{}.com,User {i},{plan},{}", i % 5000, i % 50)
    })?;
    let mut settings = Settings::for_data_dir(dir.join("data"));
    settings.database_url = database_url;
    settings.dns = false;
    let bench = BenchServer::start(settings, None).await?;
    for (name, kind) in [("plan", "string"), ("seats", "number")] {
        bench
            .call(
                reqwest::Method::POST,
                "/v1/attributes",
                Some(json!({"name": name, "type": kind})),
                "declaring an attribute",
            )
            .await?;
    }
    import_opted_in(&bench, &path).await?;
    let cookie = sign_in(&bench).await?;
    let (sent, draft) = messages(&bench).await?;
    let contact = middle_contact(&bench, contacts).await?;
    let pages = pages(contacts, &contact, &sent, &draft);
    let client = reqwest::Client::new();
    for (label, page) in pages {
        let times = time_page(&client, &bench.base, &page, &cookie, runs).await?;
        let [median, p95, max] = crate::bench_console::median_p95_max_ms(&times);
        println!(
            "{}",
            json!({
                "bench": "console",
                "backend": bench.backend,
                "contacts": contacts,
                "page": label,
                "runs": times.len(),
                "median_ms": median,
                "p95_ms": p95,
                "max_ms": max,
                "peak_rss_mb": peak_rss_mb(),
            })
        );
    }
    estimates_against_exact(&bench, contacts).await?;
    bench.stop_and_clean_up(&dir).await?;
    Ok(ExitCode::SUCCESS)
}

/// Each page the benchmark times, with its label: the contacts lists, a
/// contact, the audience counts (estimated, and exactly as the baseline),
/// a sent and a draft message, Home.
fn pages(contacts: u64, contact: &str, sent: &str, draft: &str) -> Vec<(&'static str, String)> {
    vec![
        ("contacts list, first page", "/contacts".to_owned()),
        (
            "contacts list, a page in the middle",
            format!("/contacts?after={contact}"),
        ),
        (
            "contacts list, look-up by address",
            format!(
                "/contacts?q=user{}%40company{}.com",
                contacts / 3,
                (contacts / 3) % 5000
            ),
        ),
        (
            "contacts list, search by the start of a name",
            "/contacts?q=User+12345".to_owned(),
        ),
        ("contact page", format!("/contacts/{contact}")),
        (
            "audience count, no filter",
            "/audiences?kind=marketing".to_owned(),
        ),
        (
            "audience count, two predicates",
            "/audiences?kind=marketing&filter=plan+is+%22team%22+and+seats+greater+than+48"
                .to_owned(),
        ),
        (
            "audience count, no filter, counted exactly (baseline)",
            "/audiences?kind=marketing&exact=1".to_owned(),
        ),
        (
            "audience count, two predicates, counted exactly (baseline)",
            "/audiences?kind=marketing&filter=plan+is+%22team%22+and+seats+greater+than+48&exact=1"
                .to_owned(),
        ),
        ("message page, sent", format!("/messages/{sent}")),
        (
            "message page, draft with its preflight",
            format!("/messages/{draft}"),
        ),
        (
            "message page, draft, audience counted exactly (baseline)",
            format!("/messages/{draft}?exact=1"),
        ),
        ("home", "/".to_owned()),
    ]
}

/// How far the estimates the pages show are from the exact counts: one
/// line per filter the pages count.
async fn estimates_against_exact(bench: &BenchServer, contacts: u64) -> anyhow::Result<()> {
    for filter in [None, Some("plan is \"team\" and seats greater than 48")] {
        let count = |estimate: bool| {
            let body = json!({"kind": "marketing", "filter": filter, "estimate": estimate});
            bench.call(
                reqwest::Method::POST,
                "/v1/audiences/preview",
                Some(body),
                "counting an audience",
            )
        };
        let exact = count(false).await?;
        let estimated = count(true).await?;
        let (e, x) = (
            estimated["eligible"].as_i64().unwrap_or(0),
            exact["eligible"].as_i64().unwrap_or(0),
        );
        println!(
            "{}",
            json!({
                "bench": "console",
                "backend": bench.backend,
                "contacts": contacts,
                "filter": filter,
                "eligible_exact": x,
                "eligible_estimated": e,
                "estimated_from": estimated["estimated_from"],
                "error_percent": if x > 0 { round3(100.0 * (e - x) as f64 / x as f64) } else { 0.0 },
            })
        );
    }
    Ok(())
}

/// `runs` timed requests of `page` as the signed-in member, sorted, after
/// one untimed request: the figures are of a page in use, not of the
/// first read of its rows from disk.
pub(crate) async fn time_page(
    client: &reqwest::Client,
    base: &str,
    page: &str,
    cookie: &str,
    runs: u32,
) -> anyhow::Result<Vec<f64>> {
    let get = || client.get(format!("{base}{page}")).header("cookie", cookie);
    get().send().await?.bytes().await?;
    let mut times = Vec::with_capacity(runs as usize);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let answer = get().send().await?;
        let status = answer.status();
        let body = answer.bytes().await?;
        times.push(started.elapsed().as_secs_f64());
        if !status.is_success() {
            anyhow::bail!(
                "{page} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times)
}

/// The median, 95th percentile and slowest of sorted timings in seconds,
/// as milliseconds to three decimals.
pub(crate) fn median_p95_max_ms(times: &[f64]) -> [f64; 3] {
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    [at(0.5), at(0.95), at(1.0)].map(|t| round3(t * 1000.0))
}

//! `sendwell send` and `sendwell outbox`: the message API from the command
//! line, against a running server.

use anyhow::{bail, Context};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the server is and who is asking.
#[derive(clap::Args, Debug)]
pub struct Connection {
    /// The sendwell server.
    #[arg(long, env = "SENDWELL_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A workspace API key (sender or admin to send; any to read).
    #[arg(long, env = "SENDWELL_API_KEY", hide_env_values = true)]
    api_key: String,
}

impl Connection {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value, String)> {
        let url = self.url(path);
        let mut req = reqwest::Client::new()
            .request(method, &url)
            .bearer_auth(&self.api_key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.context("reading the answer")?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, json, text))
    }
}

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The id of a composed message (msg_...) to send.
    #[arg(conflicts_with = "file")]
    message: Option<String>,
    /// A JSON file with a message to compose and then send (the body of POST /v1/messages).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Only print the preflight report; send nothing.
    #[arg(long)]
    preflight: bool,
    #[command(flatten)]
    connection: Connection,
}

fn problem(body: &Value, text: &str) -> String {
    let mut out = body["detail"].as_str().unwrap_or(text).to_owned();
    for e in body["errors"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {}: {}",
            e["pointer"].as_str().unwrap_or(""),
            e["detail"].as_str().unwrap_or("")
        ));
    }
    for b in body["blockers"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {}: {}",
            b["code"].as_str().unwrap_or(""),
            b["message"].as_str().unwrap_or("")
        ));
    }
    out
}

pub async fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let c = &args.connection;
    // Checking a message from a file composes nothing: the server judges
    // the body as it would be stored, and stores nothing.
    if let (None, Some(path), true) = (&args.message, &args.file, args.preflight) {
        let body = read_message_file(path)?;
        return preflight(c, "/v1/messages/preflight", Some(&body)).await;
    }
    let id = match (&args.message, &args.file) {
        (Some(id), None) => id.clone(),
        (None, Some(path)) => match compose(c, path).await? {
            Some(id) => id,
            None => return Ok(ExitCode::FAILURE),
        },
        _ => bail!("name a message id, or give --file with a message to compose"),
    };
    if args.preflight {
        return preflight(c, &format!("/v1/messages/{id}/preflight"), None).await;
    }
    send_composed(c, &id).await
}

/// The message body a `--file` holds, as JSON.
fn read_message_file(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Prints the preflight report from `path`; succeeds when the message is ready.
async fn preflight(c: &Connection, path: &str, body: Option<&Value>) -> anyhow::Result<ExitCode> {
    let (status, json, text) = c.call(reqwest::Method::POST, path, body).await?;
    if status != 200 {
        eprintln!("preflight failed ({status}): {}", problem(&json, &text));
        return Ok(ExitCode::FAILURE);
    }
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(if json["ready"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Composes the message in `path`; its id, or `None` when the server refused
/// it (and said why on stderr).
async fn compose(c: &Connection, path: &Path) -> anyhow::Result<Option<String>> {
    let body = read_message_file(path)?;
    let (status, json, text) = c
        .call(reqwest::Method::POST, "/v1/messages", Some(&body))
        .await?;
    if status != 201 {
        eprintln!(
            "the message was not composed ({status}): {}",
            problem(&json, &text)
        );
        return Ok(None);
    }
    let id = json["id"]
        .as_str()
        .context("the server gave no message id")?
        .to_owned();
    eprintln!("composed {id}");
    Ok(Some(id))
}

async fn send_composed(c: &Connection, id: &str) -> anyhow::Result<ExitCode> {
    let (status, json, text) = c
        .call(
            reqwest::Method::POST,
            &format!("/v1/messages/{id}/send"),
            None,
        )
        .await?;
    match status {
        202 => {
            println!("{}", serde_json::to_string(&json)?);
            eprintln!("queued {} deliveries of {id}", json["queued"]);
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("not sent ({status}): {}", problem(&json, &text));
            Ok(ExitCode::FAILURE)
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct OutboxArgs {
    /// Print this captured mail's raw RFC 5322 bytes instead of the list.
    #[arg(long)]
    raw: Option<String>,
    /// Only mails of this message.
    #[arg(long)]
    message: Option<String>,
    /// At most this many mails (newest last).
    #[arg(long, default_value_t = 50)]
    limit: i64,
    #[command(flatten)]
    connection: Connection,
}

/// Lists captured mails as JSON lines, or prints one raw mail.
pub async fn outbox(args: OutboxArgs) -> anyhow::Result<ExitCode> {
    let c = &args.connection;
    if let Some(id) = &args.raw {
        let (status, json, text) = c
            .call(reqwest::Method::GET, &format!("/v1/outbox/{id}/raw"), None)
            .await?;
        if status != 200 {
            eprintln!("no such mail ({status}): {}", problem(&json, &text));
            return Ok(ExitCode::FAILURE);
        }
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut cursor: Option<String> = None;
    let mut left = args.limit.max(0);
    while left > 0 {
        let mut path = format!("/v1/outbox?limit={}", left.min(1000));
        if let Some(m) = &args.message {
            path.push_str(&format!("&message_id={m}"));
        }
        if let Some(cur) = &cursor {
            path.push_str(&format!("&cursor={cur}"));
        }
        let (status, json, text) = c.call(reqwest::Method::GET, &path, None).await?;
        if status != 200 {
            eprintln!(
                "cannot list the outbox ({status}): {}",
                problem(&json, &text)
            );
            return Ok(ExitCode::FAILURE);
        }
        for item in json["items"].as_array().into_iter().flatten() {
            println!("{}", serde_json::to_string(item)?);
            left -= 1;
        }
        match json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

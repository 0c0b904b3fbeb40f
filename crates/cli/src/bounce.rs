//! `sendwell parse-bounce FILE...`: the bounce parser of the mail crate on
//! saved messages (.eml, or mbox files of bounces), one JSON line per
//! bounced recipient:
//!
//! `{"file", "index", "recipient", "reason", "hardbounce", "status", "replycode", "feedbacktype"}`
//!
//! `index` counts the recipients of a file from 1. `status` and
//! `replycode` are strings, `""` when the bounce does not give them;
//! `feedbacktype` is the ARF feedback type of a complaint, else null. A
//! file that is not a bounce, a complaint or an auto-reply gives one line
//! with `"index": 0` and every other field null. With `--details` each line
//! also carries `diagnostic`, `command`, `message_id` (the returned
//! message's) and `verp` (the VERP return path the bounce names).

use sendwell_mail::bounce::{self, BounceReport};
use serde::Serialize;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ParseBounceArgs {
    /// Messages to parse (.eml, or mbox files); `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also print the diagnostic text, the failed SMTP command, the
    /// original Message-ID and the VERP address.
    #[arg(long)]
    details: bool,
}

/// Exit code 0 when every file could be read, 2 when one could not (its
/// line then carries an "error" field).
pub fn parse_bounce(args: ParseBounceArgs) -> anyhow::Result<ExitCode> {
    let mut code = ExitCode::SUCCESS;
    for file in &args.files {
        let name = file.display().to_string();
        let raw = if name == "-" {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map(|_| buf)
        } else {
            std::fs::read(file)
        };
        let raw = match raw {
            Ok(r) => r,
            Err(e) => {
                println!(
                    "{}",
                    json!({"file": name, "index": 0, "error": format!("cannot read it: {e}")})
                );
                code = ExitCode::from(2);
                continue;
            }
        };
        let report = bounce::parse(&raw);
        for line in lines(&name, &report, args.details) {
            println!("{line}");
        }
    }
    Ok(code)
}

/// One output line, fields in the documented order.
#[derive(Serialize)]
struct Line<'a> {
    file: &'a str,
    index: usize,
    recipient: Option<&'a str>,
    reason: Option<&'static str>,
    hardbounce: Option<bool>,
    status: Option<&'a str>,
    replycode: Option<&'a str>,
    feedbacktype: Option<&'a str>,
    #[serde(flatten)]
    details: Option<Details<'a>>,
}

#[derive(Serialize)]
struct Details<'a> {
    diagnostic: Option<&'a str>,
    command: Option<&'static str>,
    message_id: Option<&'a str>,
    verp: Option<&'a str>,
}

/// The JSON lines of one parsed file.
fn lines(file: &str, report: &BounceReport, details: bool) -> Vec<String> {
    if !report.is_bounce() || report.recipients.is_empty() {
        let line = Line {
            file,
            index: 0,
            recipient: None,
            reason: None,
            hardbounce: None,
            status: None,
            replycode: None,
            feedbacktype: None,
            details: details.then_some(Details {
                diagnostic: None,
                command: None,
                message_id: None,
                verp: None,
            }),
        };
        return vec![to_json(&line)];
    }
    report
        .recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let line = Line {
                file,
                index: i + 1,
                recipient: Some(&r.recipient),
                reason: Some(r.reason.as_str()),
                hardbounce: Some(r.hardbounce),
                status: Some(r.status.as_deref().unwrap_or("")),
                replycode: Some(r.replycode.as_deref().unwrap_or("")),
                feedbacktype: r.feedback_type.as_deref(),
                details: details.then(|| Details {
                    diagnostic: Some(&r.diagnostic),
                    command: r.command.map(|c| c.as_str()),
                    message_id: report.original_message_id.as_deref(),
                    verp: report.verp_address.as_deref(),
                }),
            };
            to_json(&line)
        })
        .collect()
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| json!({"error": e.to_string()}).to_string())
}

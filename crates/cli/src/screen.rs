//! `sendwell screen FILE.eml...`: the content screen on saved messages, one
//! JSON line per file; and `sendwell screen-train`, which retrains the
//! token classifier shipped in `crates/screen/data/content_model.txt`.

use anyhow::Context;
use sendwell_screen::content::model::train_with_modern;
use sendwell_screen::content::{AuthoredMail, Screener};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ScreenArgs {
    /// RFC 5322 messages (.eml) to screen.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The workspace's own sender domains (a brand may be named by its owner).
    #[arg(long = "own-domain")]
    own_domains: Vec<String>,
}

/// Exit code 0 when every file is `send`, 1 when any is `review` or `block`,
/// 2 when a file could not be read.
pub fn screen(args: ScreenArgs) -> anyhow::Result<ExitCode> {
    let own: Vec<&str> = args.own_domains.iter().map(String::as_str).collect();
    let mut worst = 0u8;
    for file in &args.files {
        let name = file.display().to_string();
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                println!(
                    "{}",
                    json!({"file": name, "error": format!("cannot read it: {e}")})
                );
                worst = worst.max(2);
                continue;
            }
        };
        let Some(mail) = AuthoredMail::from_eml(&bytes) else {
            println!(
                "{}",
                json!({"file": name, "error": "not an RFC 5322 message"})
            );
            worst = worst.max(2);
            continue;
        };
        let s = Screener::screen(&mail, &own);
        let hits: Vec<_> = s
            .hits
            .iter()
            .map(|h| json!({"rule": h.rule, "explanation": h.explanation, "snippet": h.snippet}))
            .collect();
        println!(
            "{}",
            json!({
                "file": name,
                "verdict": s.verdict,
                "score": (f64::from(s.score) * 100.0).round() / 100.0,
                "hits": hits,
            })
        );
        if s.verdict != sendwell_screen::content::ContentVerdict::Send {
            worst = worst.max(1);
        }
    }
    Ok(ExitCode::from(worst))
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The labelled corpus: a directory with labels.jsonl (file, label) and the files it names.
    #[arg(long, default_value = "../shared/corpus/content")]
    corpus: PathBuf,
    /// Sets of modern mail written for the project, also learnt from: each a
    /// directory with lures.jsonl (spam) and lookalikes.jsonl (legitimate).
    /// Never the held-out sets.
    #[arg(long, default_value = "crates/screen/tests/tuning")]
    modern: Vec<PathBuf>,
    /// Where to write the model.
    #[arg(long, default_value = "crates/screen/data/content_model.txt")]
    out: PathBuf,
}

pub fn train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    if let Some(h) = args.modern.iter().find(|m| m.ends_with("heldout")) {
        anyhow::bail!(
            "{} is a held-out set: training on it would make its figures meaningless; \
             pass a tuning set to --modern",
            h.display()
        );
    }
    let (model, n) = train_with_modern(&args.corpus, &args.modern)
        .with_context(|| format!("cannot train from {}", args.corpus.display()))?;
    std::fs::write(&args.out, model.to_text())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("trained on {n} messages; wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

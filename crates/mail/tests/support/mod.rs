//! Judging the bounce parser against labelled rows: the development corpus
//! (`bounce_corpus.rs`) and the sets written here (`bounce_written.rs`)
//! read their labels and count their figures the same way.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use sendwell_mail::bounce::BounceReport;
use serde_json::Value;

/// One labelled row of an expected.jsonl.
pub struct Row {
    pub file: String,
    /// The row's position among the bounce's recipients (1-based; 0 when
    /// the labels do not say).
    pub index: usize,
    pub is_bounce: bool,
    pub recipient: String,
    pub reason: String,
    pub hardbounce: bool,
    /// The MTA or provider that wrote the bounce, where the labels say.
    pub source: String,
}

/// The rows of an expected.jsonl.
pub fn read_rows(jsonl: &Path) -> Vec<Row> {
    let text =
        std::fs::read_to_string(jsonl).unwrap_or_else(|e| panic!("{}: {e}", jsonl.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            Row {
                file: s("file"),
                index: v.get("index").and_then(Value::as_u64).unwrap_or(0) as usize,
                is_bounce: v.get("is_bounce").and_then(Value::as_bool).unwrap_or(true),
                recipient: s("recipient"),
                reason: s("reason"),
                hardbounce: v
                    .get("hardbounce")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                source: s("source"),
            }
        })
        .collect()
}

/// Rows matched on each figure.
#[derive(Default, Clone, Copy)]
pub struct Tally {
    pub rows: usize,
    pub reason: usize,
    pub hard: usize,
    pub recipient: usize,
}

impl Tally {
    pub fn add(&mut self, o: &Outcome) {
        self.rows += 1;
        self.reason += usize::from(o.reason);
        self.hard += usize::from(o.hard);
        self.recipient += usize::from(o.recipient);
    }

    pub fn merge(&mut self, other: &Tally) {
        self.rows += other.rows;
        self.reason += other.reason;
        self.hard += other.hard;
        self.recipient += other.recipient;
    }

    pub fn pct(n: usize, d: usize) -> f64 {
        if d == 0 {
            100.0
        } else {
            100.0 * n as f64 / d as f64
        }
    }

    pub fn reason_pct(&self) -> f64 {
        Self::pct(self.reason, self.rows)
    }

    pub fn hard_pct(&self) -> f64 {
        Self::pct(self.hard, self.rows)
    }

    pub fn recipient_pct(&self) -> f64 {
        Self::pct(self.recipient, self.rows)
    }

    /// One message per figure below its floor (reason, hard/soft,
    /// recipient, in percent).
    pub fn below(&self, name: &str, floors: [f64; 3]) -> Vec<String> {
        [
            ("reason", self.reason, floors[0]),
            ("hard/soft", self.hard, floors[1]),
            ("recipient", self.recipient, floors[2]),
        ]
        .into_iter()
        .filter_map(|(what, n, floor)| {
            let pct = Self::pct(n, self.rows);
            (pct < floor).then(|| {
                format!(
                    "{name}: {what} matches on {pct:.2}% of rows ({n}/{}, < {floor}%)",
                    self.rows
                )
            })
        })
        .collect()
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<18} rows {:>4}  reason {:>6.2}%  hard/soft {:>6.2}%  recipient {:>6.2}%",
            self.rows,
            self.reason_pct(),
            self.hard_pct(),
            self.recipient_pct()
        )
    }
}

/// How one row came out.
pub struct Outcome {
    pub reason: bool,
    pub hard: bool,
    pub recipient: bool,
    /// What the parser gave, for the list of misses.
    pub got: String,
}

/// One row against the report of its file; `expected` is the recipient
/// the row names (after any correction of its label).
pub fn judge(row: &Row, expected: &str, report: &BounceReport) -> Outcome {
    if row.is_bounce {
        judge_bounce(row, expected, report)
    } else {
        judge_non_bounce(report)
    }
}

/// A row labelled "not a bounce" is right only when the parser agrees.
fn judge_non_bounce(report: &BounceReport) -> Outcome {
    let ok = !report.is_bounce();
    let got = if ok {
        "(not a bounce)".to_owned()
    } else {
        format!(
            "bounce: {}",
            report
                .recipients
                .first()
                .map_or("-".to_owned(), |r| r.reason.to_string())
        )
    };
    Outcome {
        reason: ok,
        hard: ok,
        recipient: ok,
        got,
    }
}

/// A bounce row against the recipient of that address, else the one at
/// the row's position.
fn judge_bounce(row: &Row, expected: &str, report: &BounceReport) -> Outcome {
    let by_addr = report
        .recipients
        .iter()
        .find(|r| r.recipient.eq_ignore_ascii_case(expected));
    let rcpt_ok = by_addr.is_some();
    let r = by_addr.or_else(|| report.recipients.get(row.index.saturating_sub(1)));
    match r {
        Some(r) => Outcome {
            reason: r.reason.as_str() == row.reason,
            hard: r.hardbounce == row.hardbounce,
            recipient: rcpt_ok,
            got: format!(
                "{} {} hard={} [{} {} {:?}] {}",
                r.recipient,
                r.reason,
                r.hardbounce,
                r.status.as_deref().unwrap_or("-"),
                r.replycode.as_deref().unwrap_or("-"),
                r.command,
                r.diagnostic.chars().take(160).collect::<String>()
            ),
        },
        None => Outcome {
            reason: false,
            hard: false,
            recipient: false,
            got: "(no recipient)".to_owned(),
        },
    }
}

/// The figures of a whole set and of its parts.
#[derive(Default)]
pub struct Results {
    pub total: Tally,
    pub by_part: BTreeMap<String, Tally>,
    /// (expected, got) reasons of the rows whose reason is wrong.
    pub confusion: BTreeMap<(String, String), usize>,
    pub missed: Vec<String>,
}

impl Results {
    pub fn record(&mut self, part: &str, row: &Row, o: &Outcome) {
        self.total.add(o);
        self.by_part.entry(part.to_owned()).or_default().add(o);
        if !o.reason {
            let expected = if row.is_bounce {
                row.reason.clone()
            } else {
                "(not a bounce)".to_owned()
            };
            let got = &o.got;
            let got_reason = if !row.is_bounce || got.starts_with('(') {
                got.clone()
            } else {
                got.split(' ').nth(1).unwrap_or(got).to_owned()
            };
            *self.confusion.entry((expected, got_reason)).or_default() += 1;
        }
        if !(o.reason && o.hard && o.recipient) {
            self.missed.push(format!(
                "  {} #{}: expected {} {} hard={} | got {}",
                row.file, row.index, row.recipient, row.reason, row.hardbounce, o.got
            ));
        }
    }

    pub fn print_confusion(&self) {
        if !self.confusion.is_empty() {
            println!("reason misses (expected -> got: rows):");
            for ((e, g), n) in &self.confusion {
                println!("  {e} -> {g}: {n}");
            }
        }
    }
}

/// Recipients the parser names that no row expects (a wrong extra
/// recipient would suppress an address that never bounced); with
/// `BOUNCE_CORPUS_VERBOSE` also them and the missed rows. Answers how many.
pub fn print_extra_recipients(
    rows: &[Row],
    reports: &HashMap<String, BounceReport>,
    missed: &[String],
) -> usize {
    let mut extra_list = Vec::new();
    for (file, report) in reports {
        for r in &report.recipients {
            let expected = rows
                .iter()
                .any(|row| &row.file == file && row.recipient.eq_ignore_ascii_case(&r.recipient));
            if !expected {
                extra_list.push(format!("  {file}: {}", r.recipient));
            }
        }
    }
    println!("recipients no row expects: {}", extra_list.len());
    if std::env::var_os("BOUNCE_CORPUS_VERBOSE").is_some() {
        extra_list.sort();
        for e in &extra_list {
            println!("{e}");
        }
        println!("missed rows:");
        for m in missed {
            println!("{m}");
        }
    }
    extra_list.len()
}

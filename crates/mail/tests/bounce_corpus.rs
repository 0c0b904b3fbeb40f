//! The bounce parser on the development corpus (`../shared/corpus/bounces`,
//! from sisimai/set-of-emails, see its README): the accuracy floors of
//! issue 5 — reason on at least 97% of the labelled rows, hard/soft on at
//! least 98%, recipient on at least 98% — over all rows (the non-bounces
//! included), and separately over the LF files (`bsd/`), their CRLF copies
//! (`dos/`) and their CR copies (`mac/`).
//!
//! Run with output: `cargo test -p sendwell-mail --test bounce_corpus -- --nocapture`
//! (`BOUNCE_CORPUS_VERBOSE=1` also lists every missed row, `BOUNCE_CORPUS_SHOW=NAME`
//! prints the whole report of the files whose path contains NAME).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use sendwell_mail::bounce::{self, BounceReport};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/bounces"
    ));
    assert!(
        dir.join("expected.jsonl").is_file(),
        "the bounce corpus is missing: expected {}/expected.jsonl (shared/corpus/bounces beside \
         the repository; CI has it)",
        dir.display()
    );
    dir
}

/// One labelled row of expected.jsonl.
struct Row {
    file: String,
    index: usize,
    is_bounce: bool,
    recipient: String,
    reason: String,
    hardbounce: bool,
}

fn rows(dir: &std::path::Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("expected.jsonl")).expect("expected.jsonl");
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
            }
        })
        .collect()
}

/// The accuracy floors of issue 5, in percent of the labelled rows.
const REASON_FLOOR: f64 = 97.0;
const HARD_FLOOR: f64 = 98.0;
const RECIPIENT_FLOOR: f64 = 98.0;

#[derive(Default, Clone, Copy)]
struct Tally {
    rows: usize,
    reason: usize,
    hard: usize,
    recipient: usize,
}

impl Tally {
    fn add(&mut self, reason: bool, hard: bool, recipient: bool) {
        self.rows += 1;
        self.reason += usize::from(reason);
        self.hard += usize::from(hard);
        self.recipient += usize::from(recipient);
    }

    fn pct(n: usize, d: usize) -> f64 {
        if d == 0 {
            100.0
        } else {
            100.0 * n as f64 / d as f64
        }
    }

    /// One message per figure below its floor.
    fn below_floors(&self, name: &str) -> Vec<String> {
        [
            ("reason", self.reason, REASON_FLOOR),
            ("hard/soft", self.hard, HARD_FLOOR),
            ("recipient", self.recipient, RECIPIENT_FLOOR),
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

    fn line(&self, name: &str) -> String {
        format!(
            "{name:<6} rows {:>4}  reason {:>6.2}%  hard/soft {:>6.2}%  recipient {:>6.2}%",
            self.rows,
            Self::pct(self.reason, self.rows),
            Self::pct(self.hard, self.rows),
            Self::pct(self.recipient, self.rows)
        )
    }
}

/// Rows whose recipient label disagrees with the message it labels. In
/// lhost-apachejames-01 the bounce says `RCPT TO: 000000000000@vtext.example.com`
/// (twelve zeros) and the label has eleven: the reference parser's module
/// for Apache James cuts one character too many from that line (the same
/// layout in lhost-verizon-02 is labelled with the whole address). The
/// test expects what the message says, in all three line-ending copies.
const LABEL_CORRECTIONS: &[(&str, &str, &str)] = &[(
    "lhost-apachejames-01.eml",
    "00000000000@vtext.example.com",
    "000000000000@vtext.example.com",
)];

fn corrected_recipient<'a>(file: &str, label: &'a str) -> &'a str {
    LABEL_CORRECTIONS
        .iter()
        .find(|(f, wrong, _)| file.ends_with(f) && label.eq_ignore_ascii_case(wrong))
        .map_or(label, |(_, _, right)| right)
}

#[test]
fn corpus_accuracy() {
    let dir = corpus_dir();
    let emails = dir.join("emails");
    let rows = rows(&dir);
    let mut reports: HashMap<String, BounceReport> = HashMap::new();
    let mut results = Results::default();
    for row in &rows {
        let report = reports
            .entry(row.file.clone())
            .or_insert_with(|| parse_file(&emails.join(&row.file)));
        show_report_if_asked(row, report);
        results.record(row, &judge(row, report));
    }

    results.print(reports.len());
    print_extra_recipients(&rows, &reports, &results.missed);

    let failures = results.floor_failures();
    println!(
        "floors (reason >= {REASON_FLOOR}%, hard/soft >= {HARD_FLOOR}%, recipient >= \
         {RECIPIENT_FLOOR}%) on bsd, dos, mac and all: {}",
        if failures.is_empty() {
            "met"
        } else {
            "NOT met"
        }
    );
    assert!(
        failures.is_empty(),
        "below the floors:\n  {}",
        failures.join("\n  ")
    );
}

fn parse_file(path: &std::path::Path) -> BounceReport {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bounce::parse(&raw)
}

/// Prints the whole report of the files `BOUNCE_CORPUS_SHOW` names.
fn show_report_if_asked(row: &Row, report: &BounceReport) {
    if let Some(show) = std::env::var_os("BOUNCE_CORPUS_SHOW") {
        if row.file.contains(show.to_string_lossy().as_ref()) && row.index <= 1 {
            println!(
                "{}: {}",
                row.file,
                serde_json::to_string_pretty(report).unwrap_or_default()
            );
        }
    }
}

/// How one row came out.
struct Outcome {
    reason: bool,
    hard: bool,
    recipient: bool,
    /// What the parser gave, for the list of misses.
    got: String,
}

fn judge(row: &Row, report: &BounceReport) -> Outcome {
    if row.is_bounce {
        judge_bounce(row, report)
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
fn judge_bounce(row: &Row, report: &BounceReport) -> Outcome {
    let expected = corrected_recipient(&row.file, &row.recipient);
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

/// The figures of the whole corpus and of each set (bsd, dos, mac, not).
#[derive(Default)]
struct Results {
    total: Tally,
    by_set: BTreeMap<String, Tally>,
    /// (expected, got) reasons of the rows whose reason is wrong.
    confusion: BTreeMap<(String, String), usize>,
    missed: Vec<String>,
}

impl Results {
    fn record(&mut self, row: &Row, o: &Outcome) {
        let set = row.file.split('/').nth(1).unwrap_or("?").to_owned();
        self.total.add(o.reason, o.hard, o.recipient);
        self.by_set
            .entry(set)
            .or_default()
            .add(o.reason, o.hard, o.recipient);
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

    fn print(&self, files: usize) {
        println!("bounce corpus: {} rows, {} files", self.total.rows, files);
        for (set, t) in &self.by_set {
            let label = match set.as_str() {
                "bsd" => " (LF)",
                "dos" => " (CRLF copies)",
                "mac" => " (CR copies)",
                "not" => " (non-bounces)",
                _ => "",
            };
            println!("  {}{label}", t.line(set));
        }
        println!("  {}", self.total.line("all"));
        if !self.confusion.is_empty() {
            println!("reason misses (expected -> got: rows):");
            for ((e, g), n) in &self.confusion {
                println!("  {e} -> {g}: {n}");
            }
        }
    }

    /// The floors hold over all rows, and separately over the LF files and
    /// over each of their CRLF and CR copies: the line endings must not
    /// matter.
    fn floor_failures(&self) -> Vec<String> {
        let mut failures: Vec<String> = Vec::new();
        for set in ["bsd", "dos", "mac"] {
            match self.by_set.get(set) {
                Some(t) if t.rows > 0 => failures.extend(t.below_floors(set)),
                _ => failures.push(format!("{set}: no labelled rows")),
            }
        }
        failures.extend(self.total.below_floors("all"));
        failures
    }
}

/// Recipients the parser names that no row expects (a wrong extra
/// recipient would suppress an address that never bounced); with
/// `BOUNCE_CORPUS_VERBOSE` also them and the missed rows.
fn print_extra_recipients(
    rows: &[Row],
    reports: &HashMap<String, BounceReport>,
    missed: &[String],
) {
    let mut extra = 0;
    let mut extra_list = Vec::new();
    for (file, report) in reports {
        for r in &report.recipients {
            let expected = rows
                .iter()
                .any(|row| &row.file == file && row.recipient.eq_ignore_ascii_case(&r.recipient));
            if !expected {
                extra += 1;
                extra_list.push(format!("  {file}: {}", r.recipient));
            }
        }
    }
    println!("recipients no row expects: {extra}");
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
}

/// The CRLF and CR copies parse exactly like their LF originals.
#[test]
fn line_endings_do_not_matter() {
    let dir = corpus_dir().join("emails/maildir");
    let mut compared = 0;
    for variant in ["dos", "mac"] {
        let Ok(entries) = std::fs::read_dir(dir.join(variant)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let lf = dir.join("bsd").join(&name);
            let Ok(lf_raw) = std::fs::read(&lf) else {
                continue;
            };
            let raw = std::fs::read(e.path()).expect("a corpus file");
            assert_eq!(
                bounce::parse(&raw),
                bounce::parse(&lf_raw),
                "{variant}/{} differs from bsd/",
                name.to_string_lossy()
            );
            compared += 1;
        }
    }
    println!("{compared} CRLF/CR copies parse like their LF originals");
}

/// Parsing speed over the corpus (one core). Run with
/// `cargo test --release -p sendwell-mail --test bounce_corpus -- --ignored --nocapture parse_speed`.
#[test]
#[ignore]
fn parse_speed() {
    let dir = corpus_dir();
    let emails = dir.join("emails");
    let mut files: Vec<Vec<u8>> = Vec::new();
    for row in rows(&dir) {
        if let Ok(raw) = std::fs::read(emails.join(&row.file)) {
            files.push(raw);
        }
    }
    files.dedup();
    let rounds = 20;
    let start = std::time::Instant::now();
    let mut recipients = 0;
    for _ in 0..rounds {
        for f in &files {
            recipients += bounce::parse(f).recipients.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = files.len() * rounds;
    println!(
        "parsed {n} messages ({recipients} recipients) in {secs:.2}s: {:.0} messages/s",
        n as f64 / secs
    );
}

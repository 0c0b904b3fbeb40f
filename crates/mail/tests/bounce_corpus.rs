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

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use sendwell_mail::bounce::trial::{with_trial, Trial};
use sendwell_mail::bounce::{self, BounceReport};
use support::{judge, print_extra_recipients, read_rows, Results, Row, Tally};

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

fn rows(dir: &Path) -> Vec<Row> {
    read_rows(&dir.join("expected.jsonl"))
}

/// The accuracy floors of issue 5, in percent of the labelled rows:
/// reason, hard/soft, recipient.
const FLOORS: [f64; 3] = [97.0, 98.0, 98.0];

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
        let expected = corrected_recipient(&row.file, &row.recipient);
        let set = row.file.split('/').nth(1).unwrap_or("?");
        results.record(set, row, &judge(row, expected, report));
    }

    println!(
        "bounce corpus: {} rows, {} files",
        results.total.rows,
        reports.len()
    );
    for (set, t) in &results.by_part {
        let label = match set.as_str() {
            "bsd" => " (LF)",
            "dos" => " (CRLF copies)",
            "mac" => " (CR copies)",
            "not" => " (non-bounces)",
            _ => "",
        };
        println!("  {}{label}", t.line(set));
    }
    println!("  {}", results.total.line("all"));
    results.print_confusion();
    print_extra_recipients(&rows, &reports, &results.missed);

    // The floors hold over all rows, and separately over the LF files and
    // over each of their CRLF and CR copies: the line endings must not
    // matter.
    let mut failures: Vec<String> = Vec::new();
    for set in ["bsd", "dos", "mac"] {
        match results.by_part.get(set) {
            Some(t) if t.rows > 0 => failures.extend(t.below(set, FLOORS)),
            _ => failures.push(format!("{set}: no labelled rows")),
        }
    }
    failures.extend(results.total.below("all", FLOORS));
    println!(
        "floors (reason, hard/soft, recipient >= {FLOORS:?}%) on bsd, dos, mac and all: {}",
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

fn parse_file(path: &Path) -> BounceReport {
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

/// The MTA family of a corpus file: `maildir/bsd/lhost-postfix-07.eml`
/// is `lhost-postfix`.
fn family(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    let stem = name.trim_end_matches(".eml");
    match stem.rsplit_once('-') {
        Some((fam, n)) if n.chars().all(|c| c.is_ascii_digit()) => fam.to_owned(),
        _ => stem.to_owned(),
    }
}

/// How many families the leave-one-source-out figures cover.
const LEFT_OUT_FAMILIES: usize = 10;

/// Leave-one-source-out (issue #18): for each of the ten MTA families with
/// the most labelled rows, the phrases that decide a text only in that
/// family's files are taken out of the tables, as if they had been written
/// without ever seeing that family, and the family is parsed again. What it
/// cannot take out: the layout readers (how a format lays recipients out)
/// and the status-code rules, which stay.
///
/// Floors: what the tables achieve today, so that a change that makes them
/// generalise worse fails. Run with `--nocapture` for the table.
#[test]
fn leave_one_source_out() {
    let dir = corpus_dir();
    let emails = dir.join("emails");
    let rows: Vec<Row> = rows(&dir)
        .into_iter()
        .filter(|r| r.file.contains("/bsd/"))
        .collect();
    let mut raws: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in &rows {
        raws.entry(r.file.clone())
            .or_insert_with(|| std::fs::read(emails.join(&r.file)).expect("a corpus file"));
    }
    // Which families each phrase decides a text in.
    let mut decides_in: HashMap<&'static str, BTreeSet<String>> = HashMap::new();
    let mut full: HashMap<String, BounceReport> = HashMap::new();
    for (file, raw) in &raws {
        let (report, fired) = with_trial(&Trial::all(), || bounce::parse(raw));
        for p in fired {
            decides_in.entry(p).or_default().insert(family(file));
        }
        full.insert(file.clone(), report);
    }
    let corpus = Parsed {
        rows: &rows,
        raws: &raws,
        full: &full,
    };
    let mut with_all = Tally::default();
    let mut without = Tally::default();
    println!("leave-one-source-out on ../shared/corpus/bounces (LF files):");
    for fam in largest_families(&rows) {
        let left_out: HashSet<&str> = decides_in
            .iter()
            .filter(|(_, fams)| fams.len() == 1 && fams.contains(&fam))
            .map(|(p, _)| *p)
            .collect();
        if std::env::var_os("BOUNCE_CORPUS_VERBOSE").is_some() {
            let mut names: Vec<&str> = left_out.iter().copied().collect();
            names.sort_unstable();
            println!("  {fam}: left out {names:?}");
        }
        let (a, b) = hold_out(&corpus, &fam, &left_out);
        println!("  {}   (all phrases)", a.line(&fam));
        println!(
            "  {}   ({} phrases only it needs left out)",
            b.line(""),
            left_out.len()
        );
        with_all.merge(&a);
        without.merge(&b);
    }
    println!("  {}   (all phrases)", with_all.line("ten families"));
    println!("  {}   (each family left out)", without.line(""));
    let failures = without.below("left out", LEFT_OUT_FLOORS);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The corpus's LF rows, their files and each file's report with every
/// phrase.
struct Parsed<'a> {
    rows: &'a [Row],
    raws: &'a BTreeMap<String, Vec<u8>>,
    full: &'a HashMap<String, BounceReport>,
}

/// The [`LEFT_OUT_FAMILIES`] families with the most rows, largest first.
fn largest_families(rows: &[Row]) -> Vec<String> {
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows {
        *sizes.entry(family(&r.file)).or_default() += 1;
    }
    let mut largest: Vec<(String, usize)> = sizes.into_iter().collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    largest
        .into_iter()
        .take(LEFT_OUT_FAMILIES)
        .map(|(f, _)| f)
        .collect()
}

/// One family's rows judged with every phrase and with `left_out` taken
/// out of the tables.
fn hold_out(corpus: &Parsed<'_>, fam: &str, left_out: &HashSet<&str>) -> (Tally, Tally) {
    let trial = Trial::without(left_out);
    let (mut a, mut b) = (Tally::default(), Tally::default());
    for row in corpus.rows.iter().filter(|r| family(&r.file) == fam) {
        let expected = corrected_recipient(&row.file, &row.recipient);
        a.add(&judge(row, expected, &corpus.full[&row.file]));
        let raw = &corpus.raws[&row.file];
        let (report, _) = with_trial(&trial, || bounce::parse(raw));
        let o = judge(row, expected, &report);
        if !(o.reason && o.hard) && std::env::var_os("BOUNCE_CORPUS_VERBOSE").is_some() {
            println!(
                "    {} expected {} hard={} | got {}",
                row.file, row.reason, row.hardbounce, o.got
            );
        }
        b.add(&o);
    }
    (a, b)
}

/// The leave-one-source-out floors over the ten families (reason, hard/
/// soft, recipient), in percent.
const LEFT_OUT_FLOORS: [f64; 3] = [85.0, 94.5, 99.0];

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

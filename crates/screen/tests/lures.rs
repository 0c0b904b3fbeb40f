//! Modern phishing lures and the legitimate mail that looks like them
//! (issue #18): two sets written for this project, neither in the content
//! corpus the classifier was trained on. `tests/heldout/` is the test set:
//! no rule is ever tuned on it. `tests/tuning/` is where rules for lures
//! are tried out. Each mail is screened as sendwell screens a workspace's
//! mail (its authored parts; the sender's own domain as the workspace's).
//!
//! Run with output: `cargo test -p sendwell-screen --test lures -- --nocapture`
//! (and `LURES_DETAIL=1` for every mail's verdict and hits).

use sendwell_screen::content::model::{read_written_set, WrittenMail};
use sendwell_screen::content::{ContentVerdict, Screener};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn read(set: &str, file: &str) -> Vec<WrittenMail> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(set)
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_written_set(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Flagged (review or block) of all, per family and in total.
fn flagged(mails: &[WrittenMail]) -> (BTreeMap<String, (usize, usize)>, (usize, usize)) {
    let mut by_family: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut total = (0, 0);
    let detail = std::env::var_os("LURES_DETAIL").is_some();
    for m in mails {
        let screening = Screener::screen(&m.mail, &[m.own_domain.as_str()]);
        let verdict = screening.verdict;
        let hit = usize::from(verdict != ContentVerdict::Send);
        if detail {
            let rules: Vec<String> = screening
                .hits
                .iter()
                .map(|h| format!("{}({:.1})", h.rule, h.score))
                .collect();
            println!(
                "    {} {:?} {:.1} p={:.2} {} | {}",
                m.id,
                verdict,
                screening.score,
                screening.spam_probability,
                rules.join(" "),
                m.mail.subject
            );
        }
        let e = by_family.entry(m.family.clone()).or_default();
        e.0 += hit;
        e.1 += 1;
        total.0 += hit;
        total.1 += 1;
    }
    (by_family, total)
}

fn pct((n, of): (usize, usize)) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

fn report(title: &str, set: &str) -> (f64, f64) {
    let lures = read(set, "lures.jsonl");
    let legit = read(set, "lookalikes.jsonl");
    let (lure_families, lure_total) = flagged(&lures);
    let (legit_families, legit_total) = flagged(&legit);
    println!(
        "{title}: lures caught {:.1}% ({}/{}); lookalikes flagged {:.1}% ({}/{})",
        pct(lure_total),
        lure_total.0,
        lure_total.1,
        pct(legit_total),
        legit_total.0,
        legit_total.1
    );
    for (family, n) in &lure_families {
        println!("  lures, {family}: {:.0}% ({}/{})", pct(*n), n.0, n.1);
    }
    for (family, n) in &legit_families {
        println!(
            "  lookalikes, {family}: {:.0}% flagged ({}/{})",
            pct(*n),
            n.0,
            n.1
        );
    }
    (pct(lure_total), pct(legit_total))
}

#[test]
fn held_out_lures_are_caught_and_their_lookalikes_pass() {
    let (caught, flagged) = report("held-out set", "heldout");
    // Floors: the figures of the rules as they stand (docs/BENCHMARKS.md);
    // a change that lowers them fails here.
    assert!(
        caught >= FLOOR_CAUGHT,
        "lures caught {caught:.1}% < {FLOOR_CAUGHT}%"
    );
    assert!(
        flagged <= CEILING_FLAGGED,
        "lookalikes flagged {flagged:.1}% > {CEILING_FLAGGED}%"
    );
}

#[test]
fn tuning_set_figures() {
    report("tuning set", "tuning");
}

/// Held-out lures caught, as measured on 2026-12-07 (docs/BENCHMARKS.md: 76.9%);
/// the goal of issue #18 is 75%.
const FLOOR_CAUGHT: f64 = 76.5;
/// Held-out lookalikes flagged, as measured; the goal is 5% at most. The
/// classifier now also learns the modern tuning sets (25.0% before); most
/// of what is left are invoices and payment notices.
const CEILING_FLAGGED: f64 = 8.1;

//! The list-quality score of an import: the signals of a bought, rented or
//! scraped list, weighed into a score from 0 (certainly bought) to 100
//! (looks like the workspace's own users), and the status that follows.
//! Every signal that costs points is listed with its share, so the operator
//! and the workspace see why.

use crate::address::{AddressCheck, Verdict};
use serde::Serialize;

/// What an import found, row by row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    /// Data rows in the file.
    pub rows: u64,
    /// Rows stored (created or updated).
    pub imported: u64,
    pub created: u64,
    pub updated: u64,
    /// Rows not stored, each listed in the rejects report with its reason.
    pub rejected: u64,
    /// Rows whose address was checked (had an email).
    pub checked: u64,
    pub invalid: u64,
    pub risky: u64,
    pub role: u64,
    pub disposable: u64,
    pub typo: u64,
    /// Rows repeating an address seen earlier in the same file.
    pub duplicates: u64,
    /// Addresses on another workspace's suppression list (compared by keyed hash).
    pub suppressed_elsewhere: u64,
    /// Addresses on this workspace's own suppression list.
    pub suppressed_here: u64,
    /// Addresses matching the operator's trap list.
    pub trap: u64,
}

impl ImportCounts {
    /// Counts what an address check found: risky, role, disposable, typo.
    pub fn count_verdict(&mut self, check: &AddressCheck) {
        self.risky += u64::from(check.verdict == Verdict::Risky);
        self.role += u64::from(check.has("role_account"));
        self.disposable += u64::from(check.has("disposable"));
        self.typo += u64::from(check.has("likely_typo"));
    }

    /// Takes back the verdict counts of addresses later found invalid, and
    /// counts them as invalid.
    pub fn take_back(&mut self, found_invalid: &ImportCounts, how_many: u64) {
        self.risky = self.risky.saturating_sub(found_invalid.risky);
        self.role = self.role.saturating_sub(found_invalid.role);
        self.disposable = self.disposable.saturating_sub(found_invalid.disposable);
        self.typo = self.typo.saturating_sub(found_invalid.typo);
        self.invalid += how_many;
    }

    /// Adds every count of `other` (counts kept in two places, each
    /// leaving the other's at zero).
    pub fn add(&mut self, other: &ImportCounts) {
        self.rows += other.rows;
        self.imported += other.imported;
        self.created += other.created;
        self.updated += other.updated;
        self.rejected += other.rejected;
        self.checked += other.checked;
        self.invalid += other.invalid;
        self.risky += other.risky;
        self.role += other.role;
        self.disposable += other.disposable;
        self.typo += other.typo;
        self.duplicates += other.duplicates;
        self.suppressed_elsewhere += other.suppressed_elsewhere;
        self.suppressed_here += other.suppressed_here;
        self.trap += other.trap;
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// At or above: accepted.
    pub accept_at: u32,
    /// Below: quarantined. Between: accepted with warnings.
    pub quarantine_below: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            accept_at: 90,
            quarantine_below: 70,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Accepted,
    AcceptedWithWarnings,
    Quarantined,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::AcceptedWithWarnings => "accepted_with_warnings",
            Self::Quarantined => "quarantined",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signal {
    pub code: &'static str,
    /// Share of checked rows, 0 to 1.
    pub share: f64,
    /// Points taken off the score.
    pub points: f64,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    pub score: u32,
    pub status: ImportStatus,
    pub signals: Vec<Signal>,
}

/// Context beyond the counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context {
    /// Contacts the workspace had before this import. "Never seen before"
    /// means nothing for a first import, so it only counts when there were some.
    pub existing_contacts: u64,
    /// The most common domain's share of checked rows, when it is not a
    /// large mailbox provider (a list concentrated on one company's domain).
    pub top_domain_share: f64,
}

fn share(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

pub fn assess(counts: &ImportCounts, context: Context, thresholds: Thresholds) -> Assessment {
    let mut signals = Vec::new();
    address_signals(counts, &mut signals);
    list_signals(counts, context, &mut signals);
    let points: f64 = signals.iter().map(|s| s.points).sum();
    let score = (100.0 - points).clamp(0.0, 100.0).round() as u32;
    if counts.trap > 0 {
        signals.push(trap_signal(counts));
    }
    Assessment {
        score,
        status: status(score, counts.trap > 0, thresholds),
        signals,
    }
}

/// Records a signal that costs at least half a point, its share and points
/// rounded for display.
fn add_signal(
    signals: &mut Vec<Signal>,
    code: &'static str,
    share: f64,
    points: f64,
    detail: String,
) {
    if points >= 0.5 {
        signals.push(Signal {
            code,
            share: (share * 1000.0).round() / 1000.0,
            points: (points * 10.0).round() / 10.0,
            detail,
        });
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// What the address checks found, each as a share of the checked
/// addresses costing up to `weight` points: invalid, disposable, suppressed
/// elsewhere, role accounts, typos.
fn address_signals(counts: &ImportCounts, signals: &mut Vec<Signal>) {
    let of = counts.checked;
    // Counted only on a list of some size and with several matches, so that
    // a small import cannot be used to ask about single addresses.
    let elsewhere_counts = of >= 100 && counts.suppressed_elsewhere >= 5;
    #[rustfmt::skip]
    let shares = [
        (true, "invalid", counts.invalid, 100.0,
         "of the addresses are invalid: a list kept by a business that mails its users rarely has many"),
        (true, "disposable", counts.disposable, 100.0, "use throwaway mailbox services"),
        (elsewhere_counts, "suppressed_elsewhere", counts.suppressed_elsewhere, 150.0,
         "already bounced, complained or unsubscribed with other senders on this platform"),
        (true, "role", counts.role, 50.0,
         "are role accounts (info@, admin@, ...) rather than people"),
        (true, "typo", counts.typo, 50.0, "look like misspelt domains"),
    ];
    for (counted, code, n, weight, what) in shares {
        if counted {
            let s = share(n, of);
            add_signal(
                signals,
                code,
                s,
                weight * s,
                format!("{} {what}", percent(s)),
            );
        }
    }
}

/// What the list as a whole shows: repeated rows, addresses the workspace
/// never had, one domain dominating.
fn list_signals(counts: &ImportCounts, context: Context, signals: &mut Vec<Signal>) {
    let s = share(counts.duplicates, counts.rows);
    add_signal(
        signals,
        "duplicates",
        s,
        25.0 * s,
        format!("{} of the rows repeat an address", percent(s)),
    );
    if context.existing_contacts >= 100 {
        let s = share(counts.created, counts.created + counts.updated);
        add_signal(
            signals,
            "never_seen",
            s,
            30.0 * ((s - 0.5) / 0.5).max(0.0),
            format!(
                "{} of the addresses were never seen before in this workspace",
                percent(s)
            ),
        );
    }
    if counts.checked >= 100 && context.top_domain_share > 0.5 {
        let s = context.top_domain_share;
        add_signal(
            signals,
            "concentrated",
            s,
            20.0 * (s - 0.5) / 0.5,
            format!("{} of the addresses share one domain", percent(s)),
        );
    }
}

/// Trap addresses cost no points: any at all quarantine the import.
fn trap_signal(counts: &ImportCounts) -> Signal {
    Signal {
        code: "trap",
        share: share(counts.trap, counts.checked),
        points: 0.0,
        detail: format!("{} addresses are blocked by the platform operator; a list collected from people rarely has any", counts.trap),
    }
}

fn status(score: u32, has_traps: bool, thresholds: Thresholds) -> ImportStatus {
    if has_traps || score < thresholds.quarantine_below {
        ImportStatus::Quarantined
    } else if score < thresholds.accept_at {
        ImportStatus::AcceptedWithWarnings
    } else {
        ImportStatus::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rows: u64) -> ImportCounts {
        ImportCounts {
            rows,
            checked: rows,
            created: rows,
            ..ImportCounts::default()
        }
    }

    #[test]
    fn a_clean_export_of_users_is_accepted() {
        let mut c = counts(1000);
        c.invalid = 5;
        c.role = 10;
        let a = assess(&c, Context::default(), Thresholds::default());
        assert_eq!(a.status, ImportStatus::Accepted);
        assert!(a.score >= 98, "{a:?}");
    }

    #[test]
    fn a_list_that_looks_bought_is_quarantined_and_says_why() {
        let mut c = counts(1000);
        c.invalid = 300;
        c.role = 200;
        let a = assess(
            &c,
            Context {
                existing_contacts: 500,
                top_domain_share: 0.1,
            },
            Thresholds::default(),
        );
        assert_eq!(a.status, ImportStatus::Quarantined);
        let codes: Vec<&str> = a.signals.iter().map(|s| s.code).collect();
        assert_eq!(codes, ["invalid", "role", "never_seen"]);
        assert!(a.signals[0].detail.contains("30.0%"));
        assert!(a.score < 70);
    }

    #[test]
    fn middling_lists_are_accepted_with_warnings_and_traps_always_quarantine() {
        let mut c = counts(1000);
        c.invalid = 150;
        let a = assess(&c, Context::default(), Thresholds::default());
        assert_eq!(
            (a.score, a.status),
            (85, ImportStatus::AcceptedWithWarnings)
        );
        let mut c = counts(1000);
        c.trap = 1;
        let a = assess(&c, Context::default(), Thresholds::default());
        assert_eq!(a.status, ImportStatus::Quarantined);
        assert_eq!(a.score, 100);
        let strict = Thresholds {
            accept_at: 99,
            quarantine_below: 95,
        };
        let mut c = counts(1000);
        c.role = 150;
        assert_eq!(
            assess(&c, Context::default(), strict).status,
            ImportStatus::Quarantined
        );
    }

    #[test]
    fn never_seen_counts_only_when_the_workspace_had_contacts() {
        let c = counts(1000);
        assert_eq!(
            assess(&c, Context::default(), Thresholds::default()).score,
            100
        );
        let a = assess(
            &c,
            Context {
                existing_contacts: 1000,
                top_domain_share: 0.0,
            },
            Thresholds::default(),
        );
        assert_eq!(a.score, 70);
    }
}

//! Reputation maths: the operator's policy (thresholds, window, minimum
//! volume, the campaign circuit breaker, probation), the counts it judges,
//! and the verdict. No IO.

use serde::{Deserialize, Serialize};

/// The operator's enforcement policy. Defaults follow the public figures of
/// large mailbox providers (DESIGN.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Hard-bounce rate that puts a workspace under review (0.05 = 5%).
    pub review_hard_bounce_rate: f64,
    /// Hard-bounce rate that suspends it.
    pub suspend_hard_bounce_rate: f64,
    pub review_complaint_rate: f64,
    pub suspend_complaint_rate: f64,
    /// The rolling window, in days.
    pub window_days: u32,
    /// Rates are judged only from this many sends in the window.
    pub min_sends: u64,
    /// A message is paused by its own rates only after this many of its
    /// deliveries: a smaller send is judged by the workspace monitor.
    pub breaker_min_deliveries: u64,
    /// The default length of probation after reinstatement.
    pub probation_days: u32,
    /// A new workspace's daily cap of bulk mail (marketing and opt-in
    /// requests) while it warms up; 0 for no warm-up.
    pub warmup_start_per_day: u64,
    /// Each new day the cap is multiplied by this, while the workspace's
    /// rates stay under the review lines (frozen otherwise).
    pub warmup_growth: f64,
    /// Warm-up ends once the cap reaches this many a day.
    pub warmup_end_per_day: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            review_hard_bounce_rate: 0.05,
            suspend_hard_bounce_rate: 0.10,
            review_complaint_rate: 0.001,
            suspend_complaint_rate: 0.003,
            window_days: 30,
            min_sends: 500,
            breaker_min_deliveries: 1000,
            probation_days: 14,
            warmup_start_per_day: 1_000,
            warmup_growth: 1.5,
            warmup_end_per_day: 500_000,
        }
    }
}

impl Policy {
    /// What is wrong with a policy, field by field (JSON Pointer, problem).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, v) in [
            ("review_hard_bounce_rate", self.review_hard_bounce_rate),
            ("suspend_hard_bounce_rate", self.suspend_hard_bounce_rate),
            ("review_complaint_rate", self.review_complaint_rate),
            ("suspend_complaint_rate", self.suspend_complaint_rate),
        ] {
            if !(v > 0.0 && v < 1.0) {
                out.push((
                    format!("/{name}"),
                    format!("{name} is a share between 0 and 1 (0.05 is 5%); {v} was given"),
                ));
            }
        }
        if self.review_hard_bounce_rate >= self.suspend_hard_bounce_rate {
            out.push((
                "/review_hard_bounce_rate".to_owned(),
                "the review line must be below the suspend line".to_owned(),
            ));
        }
        if self.review_complaint_rate >= self.suspend_complaint_rate {
            out.push((
                "/review_complaint_rate".to_owned(),
                "the review line must be below the suspend line".to_owned(),
            ));
        }
        if !(1..=365).contains(&self.window_days) {
            out.push((
                "/window_days".to_owned(),
                format!(
                    "the window is 1 to 365 days; {} was given",
                    self.window_days
                ),
            ));
        }
        if self.min_sends == 0 {
            out.push((
                "/min_sends".to_owned(),
                "at least one send is needed before rates mean anything".to_owned(),
            ));
        }
        if self.breaker_min_deliveries == 0 {
            out.push((
                "/breaker_min_deliveries".to_owned(),
                "the circuit breaker needs a sample of at least one delivery".to_owned(),
            ));
        }
        if !(1.0..=10.0).contains(&self.warmup_growth) {
            out.push((
                "/warmup_growth".to_owned(),
                format!(
                    "the daily growth of the warm-up cap is 1 (no growth) to 10; {} was given",
                    self.warmup_growth
                ),
            ));
        }
        if self.warmup_start_per_day > 0 && self.warmup_end_per_day <= self.warmup_start_per_day {
            out.push((
                "/warmup_end_per_day".to_owned(),
                "warm-up ends at a cap above the one it starts with".to_owned(),
            ));
        }
        if self.probation_days > 365 {
            out.push((
                "/probation_days".to_owned(),
                format!(
                    "probation is at most 365 days; {} was given",
                    self.probation_days
                ),
            ));
        }
        out
    }
}

impl Policy {
    /// The cap a warming-up workspace has the day after one at `cap`:
    /// grown when its rates are under the review lines, the same when they
    /// are not; `None` once it reaches the end of warm-up.
    pub fn warmup_next_cap(&self, cap: u64, rates_ok: bool) -> Option<u64> {
        if !rates_ok {
            return Some(cap);
        }
        let grown = (cap as f64 * self.warmup_growth).floor();
        let grown = if grown >= self.warmup_end_per_day as f64 {
            return None;
        } else {
            grown as u64
        };
        Some(grown.max(cap))
    }

    /// Whether counts are under both review lines (too few sends to judge
    /// count as under).
    pub fn under_review_lines(&self, c: &Counts) -> bool {
        c.sends < self.min_sends
            || (c.hard_bounce_rate() < self.review_hard_bounce_rate
                && c.complaint_rate() < self.review_complaint_rate)
    }
}

/// Sends and their bad outcomes over a window (or for one message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub sends: u64,
    pub hard_bounces: u64,
    pub complaints: u64,
}

impl Counts {
    pub fn hard_bounce_rate(&self) -> f64 {
        rate(self.hard_bounces, self.sends)
    }

    pub fn complaint_rate(&self) -> f64 {
        rate(self.complaints, self.sends)
    }
}

fn rate(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

/// What the rates say.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Too few sends to judge.
    TooFew,
    /// Under the review lines.
    Fine,
    /// Past a review line (and under the suspend lines).
    Review(String),
    /// Past a suspend line.
    Suspend(String),
}

/// What the reputation monitor does to a workspace, given its verdict
/// and its state: the one table the monitor acts on and the operator's
/// policy preview counts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// Past a suspend line while active or under review.
    Suspend,
    /// Past a suspend line again while on probation.
    Withdraw,
    /// Past a review line while active.
    OpenReview,
    /// Back under the review lines while under review.
    CloseReview,
}

impl Verdict {
    /// The move this verdict makes for a workspace in `state`, if any.
    pub fn move_for(&self, state: crate::SendingState) -> Option<Move> {
        use crate::SendingState as S;
        match (self, state) {
            (Self::Suspend(_), S::Active | S::UnderReview) => Some(Move::Suspend),
            (Self::Suspend(_), S::Probation) => Some(Move::Withdraw),
            (Self::Review(_), S::Active) => Some(Move::OpenReview),
            (Self::Fine, S::UnderReview) => Some(Move::CloseReview),
            _ => None,
        }
    }

    /// Why, for a verdict past a line.
    pub fn why(&self) -> &str {
        match self {
            Self::Review(why) | Self::Suspend(why) => why,
            Self::TooFew | Self::Fine => "",
        }
    }
}

fn pct(r: f64) -> String {
    format!("{:.2}%", r * 100.0)
}

/// Judges counts against the policy, once there are at least `min_sends`.
pub fn judge(policy: &Policy, counts: &Counts, min_sends: u64) -> Verdict {
    if counts.sends < min_sends.max(1) {
        return Verdict::TooFew;
    }
    let hb = counts.hard_bounce_rate();
    let cr = counts.complaint_rate();
    let mut over_suspend = Vec::new();
    let mut over_review = Vec::new();
    if hb >= policy.suspend_hard_bounce_rate {
        over_suspend.push(format!(
            "hard-bounce rate {} of {} sends is at or past the suspend line {}",
            pct(hb),
            counts.sends,
            pct(policy.suspend_hard_bounce_rate)
        ));
    } else if hb >= policy.review_hard_bounce_rate {
        over_review.push(format!(
            "hard-bounce rate {} of {} sends is at or past the review line {}",
            pct(hb),
            counts.sends,
            pct(policy.review_hard_bounce_rate)
        ));
    }
    if cr >= policy.suspend_complaint_rate {
        over_suspend.push(format!(
            "complaint rate {} of {} sends is at or past the suspend line {}",
            pct(cr),
            counts.sends,
            pct(policy.suspend_complaint_rate)
        ));
    } else if cr >= policy.review_complaint_rate {
        over_review.push(format!(
            "complaint rate {} of {} sends is at or past the review line {}",
            pct(cr),
            counts.sends,
            pct(policy.review_complaint_rate)
        ));
    }
    if !over_suspend.is_empty() {
        Verdict::Suspend(over_suspend.join("; "))
    } else if !over_review.is_empty() {
        Verdict::Review(over_review.join("; "))
    } else {
        Verdict::Fine
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_warm_up_cap_grows_while_rates_are_fine_and_ends_at_its_top() {
        let p = Policy {
            warmup_end_per_day: 3_000,
            ..Policy::default()
        };
        assert_eq!(p.warmup_next_cap(1_000, true), Some(1_500));
        assert_eq!(p.warmup_next_cap(1_500, true), Some(2_250));
        assert_eq!(
            p.warmup_next_cap(2_250, true),
            None,
            "3,375 is past the end"
        );
        assert_eq!(p.warmup_next_cap(1_500, false), Some(1_500), "frozen");
        let flat = Policy {
            warmup_growth: 1.0,
            ..Policy::default()
        };
        assert_eq!(flat.warmup_next_cap(10, true), Some(10));
        let bad = Counts {
            sends: 1_000,
            hard_bounces: 60,
            complaints: 0,
        };
        assert!(!p.under_review_lines(&bad));
        assert!(p.under_review_lines(&Counts {
            sends: 10,
            hard_bounces: 9,
            complaints: 0
        }));
        assert!(Policy {
            warmup_growth: 0.5,
            ..Policy::default()
        }
        .problems()
        .iter()
        .any(|(p, _)| p == "/warmup_growth"));
    }

    use super::*;

    fn c(sends: u64, hard: u64, complaints: u64) -> Counts {
        Counts {
            sends,
            hard_bounces: hard,
            complaints,
        }
    }

    #[test]
    fn the_default_lines_judge_as_the_design_says() {
        let p = Policy::default();
        assert_eq!(judge(&p, &c(499, 400, 0), p.min_sends), Verdict::TooFew);
        assert_eq!(judge(&p, &c(1000, 49, 0), p.min_sends), Verdict::Fine);
        assert!(matches!(
            judge(&p, &c(1000, 50, 0), p.min_sends),
            Verdict::Review(_)
        ));
        assert!(matches!(
            judge(&p, &c(1000, 100, 0), p.min_sends),
            Verdict::Suspend(_)
        ));
        assert!(matches!(
            judge(&p, &c(1000, 0, 1), p.min_sends),
            Verdict::Review(_)
        ));
        assert!(matches!(
            judge(&p, &c(1000, 0, 3), p.min_sends),
            Verdict::Suspend(_)
        ));
        match judge(&p, &c(1000, 120, 0), p.min_sends) {
            Verdict::Suspend(why) => {
                assert!(why.contains("12.00%") && why.contains("10.00%"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        let p = Policy {
            review_hard_bounce_rate: 0.2,
            suspend_hard_bounce_rate: 0.1,
            window_days: 0,
            ..Policy::default()
        };
        let problems = p.problems();
        assert!(problems
            .iter()
            .any(|(ptr, _)| ptr == "/review_hard_bounce_rate"));
        assert!(problems.iter().any(|(ptr, _)| ptr == "/window_days"));
        assert!(Policy::default().problems().is_empty());
    }
}

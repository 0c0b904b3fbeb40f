//! Counters for `GET /metrics` (Prometheus text format): deliveries by
//! outcome, SMTP replies by class, deferrals by destination domain. The
//! counters are this process's; queue depth by state is read from the
//! database when scraped, so it covers every worker.
//!
//! The same counts are also kept in ten-minute slots over the last 24
//! hours, which the operator console's overview draws.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Distinct domains counted before the rest go under `other`.
const MAX_DOMAINS: usize = 500;
/// Distinct (domain, reason) pairs counted before the rest go under `other`.
const MAX_REASONS: usize = 2_000;

/// Minutes in one slot of the recent series.
pub const SLOT_MINUTES: i64 = 10;
/// Slots kept: 24 hours.
pub const SLOTS: usize = 144;

#[derive(Default)]
pub struct Metrics {
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
    replies: Mutex<BTreeMap<&'static str, u64>>,
    deferrals: Mutex<BTreeMap<String, u64>>,
    /// Deferrals by (domain, reason): the enhanced status code of the
    /// reply (`4.7.28`), else its code (`421`), else `no reply`.
    deferral_reasons: Mutex<BTreeMap<(String, String), u64>>,
    pipeline_restarts: std::sync::atomic::AtomicU64,
    recent: Mutex<std::collections::VecDeque<Slot>>,
}

/// The counts of one ten-minute slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Minutes since the Unix epoch at which the slot starts.
    pub start_minute: i64,
    pub outcomes: BTreeMap<&'static str, u64>,
    pub replies: BTreeMap<&'static str, u64>,
    pub deferrals: BTreeMap<String, u64>,
}

fn now_minute() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs() / 60).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, by: u64) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += by;
    }
}

/// Label values are escaped as the exposition format asks.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Adds to the slot of `minute` (made when it is the newest), dropping
    /// slots older than a day.
    fn in_slot(&self, minute: i64, add: impl FnOnce(&mut Slot)) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        let start = minute - minute.rem_euclid(SLOT_MINUTES);
        if recent.back().is_none_or(|s| s.start_minute < start) {
            recent.push_back(Slot {
                start_minute: start,
                ..Slot::default()
            });
        }
        let oldest = start - SLOT_MINUTES * (SLOTS as i64 - 1);
        while recent.front().is_some_and(|s| s.start_minute < oldest) {
            recent.pop_front();
        }
        if let Some(slot) = recent.iter_mut().rev().find(|s| s.start_minute == start) {
            add(slot);
        }
    }

    /// The slots of the last 24 hours that saw anything, oldest first.
    pub fn recent(&self) -> Vec<Slot> {
        let oldest = now_minute() - SLOT_MINUTES * SLOTS as i64;
        self.recent
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|s| s.start_minute > oldest)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn outcome(&self, state: &'static str) {
        bump(&self.outcomes, state, 1);
        self.in_slot(now_minute(), |s| *s.outcomes.entry(state).or_insert(0) += 1);
    }

    /// An SMTP reply code (or none, for a connection that failed).
    pub fn reply(&self, code: Option<u16>) {
        let class = match code {
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            _ => "none",
        };
        bump(&self.replies, class, 1);
        self.in_slot(now_minute(), |s| *s.replies.entry(class).or_insert(0) += 1);
    }

    /// A delivery pipeline crashed and was started again.
    pub fn pipeline_restart(&self) {
        self.pipeline_restarts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts a deferral to `domain`, with the reply's code when there was
    /// one (`enhanced` only when it reads as `class.subject.detail`).
    pub fn deferral_reason(&self, domain: &str, code: Option<u16>, enhanced: Option<&str>) {
        let reason = match (enhanced, code) {
            (Some(e), _)
                if e.len() <= 11
                    && e.split('.').count() == 3
                    && e.split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
            {
                e.to_owned()
            }
            (_, Some(c)) => c.to_string(),
            _ => "no reply".to_owned(),
        };
        if let Ok(mut m) = self.deferral_reasons.lock() {
            let key = (domain.to_owned(), reason);
            let key = if m.contains_key(&key) || m.len() < MAX_REASONS {
                key
            } else {
                ("other".to_owned(), "other".to_owned())
            };
            *m.entry(key).or_insert(0) += 1;
        }
        self.deferral(domain);
    }

    pub fn deferral(&self, domain: &str) {
        let Ok(mut m) = self.deferrals.lock() else {
            return;
        };
        let key = if m.contains_key(domain) || m.len() < MAX_DOMAINS {
            domain.to_owned()
        } else {
            "other".to_owned()
        };
        *m.entry(key.clone()).or_insert(0) += 1;
        drop(m);
        self.in_slot(now_minute(), |s| *s.deferrals.entry(key).or_insert(0) += 1);
    }

    pub fn render(&self, queue: &BTreeMap<String, i64>) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "sendwell_queue_deliveries",
            "gauge",
            "Deliveries in each state, over all workspaces.",
        );
        for state in sendwell_core::DeliveryStatus::ALL
            .iter()
            .map(|s| s.as_str())
        {
            let n = queue.get(state).copied().unwrap_or(0);
            let _ = writeln!(out, "sendwell_queue_deliveries{{state=\"{state}\"}} {n}");
        }
        labelled_counters(
            &mut out,
            "sendwell_deliveries_total",
            "Deliveries this process finished, by outcome.",
            "outcome",
            &self.outcomes,
        );
        labelled_counters(
            &mut out,
            "sendwell_smtp_replies_total",
            "SMTP replies this process received, by class.",
            "class",
            &self.replies,
        );
        labelled_counters(
            &mut out,
            "sendwell_deferrals_total",
            "Deferred deliveries, by recipient domain.",
            "domain",
            &self.deferrals,
        );
        family(
            &mut out,
            "sendwell_deferral_reasons_total",
            "counter",
            "Deferred deliveries, by recipient domain and the reply's enhanced status code (else its code, else no reply).",
        );
        if let Ok(m) = self.deferral_reasons.lock() {
            for ((domain, reason), v) in m.iter() {
                let _ = writeln!(
                    out,
                    "sendwell_deferral_reasons_total{{domain=\"{}\",reason=\"{}\"}} {v}",
                    escape(domain),
                    escape(reason)
                );
            }
        }
        family(
            &mut out,
            "sendwell_pipeline_restarts_total",
            "counter",
            "Delivery pipelines that crashed and were started again.",
        );
        let _ = writeln!(
            out,
            "sendwell_pipeline_restarts_total {}",
            self.pipeline_restarts
                .load(std::sync::atomic::Ordering::Relaxed)
        );
        out
    }
}

/// The HELP and TYPE lines that introduce a metric.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A counter with one sample for each value of its `label`.
fn labelled_counters<K: AsRef<str>>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    counts: &Mutex<BTreeMap<K, u64>>,
) {
    family(out, name, "counter", help);
    if let Ok(m) = counts.lock() {
        for (k, v) in m.iter() {
            let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {v}", escape(k.as_ref()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_counts_fall_in_ten_minute_slots_and_a_day_is_kept() {
        let m = Metrics::default();
        let t = 29_000_000;
        m.in_slot(t, |s| *s.outcomes.entry("delivered").or_insert(0) += 1);
        m.in_slot(t + 3, |s| *s.outcomes.entry("delivered").or_insert(0) += 1);
        m.in_slot(t + 10, |s| *s.replies.entry("4xx").or_insert(0) += 1);
        let slots: Vec<Slot> = m.recent.lock().expect("lock").iter().cloned().collect();
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[0].outcomes["delivered"], 2);
        assert_eq!(slots[1].replies["4xx"], 1);
        // A day later the first slots are gone.
        m.in_slot(t + 24 * 60 + 5, |s| {
            *s.replies.entry("2xx").or_insert(0) += 1
        });
        let slots: Vec<Slot> = m.recent.lock().expect("lock").iter().cloned().collect();
        assert_eq!(slots.len(), 2, "{slots:?}");
        assert!(slots.iter().all(|s| !s.outcomes.contains_key("delivered")));
    }

    #[test]
    fn counters_render_in_exposition_format() {
        let m = Metrics::default();
        m.outcome("delivered");
        m.outcome("delivered");
        m.reply(Some(250));
        m.reply(Some(451));
        m.reply(None);
        m.deferral("example.com");
        m.deferral("ex\"ample.org");
        m.deferral_reason("gmail.com", Some(421), Some("4.7.28"));
        m.deferral_reason("gmail.com", Some(421), Some("4.7.28"));
        m.deferral_reason("yahoo.com", Some(421), Some("junk\nline"));
        m.deferral_reason("outlook.com", None, None);
        let mut q = BTreeMap::new();
        q.insert("queued".to_owned(), 7);
        let text = m.render(&q);
        assert!(text.contains("sendwell_queue_deliveries{state=\"queued\"} 7"));
        assert!(text.contains("sendwell_queue_deliveries{state=\"held\"} 0"));
        assert!(text.contains("sendwell_deliveries_total{outcome=\"delivered\"} 2"));
        assert!(text.contains("sendwell_smtp_replies_total{class=\"4xx\"} 1"));
        assert!(text.contains("sendwell_smtp_replies_total{class=\"none\"} 1"));
        assert!(text.contains("sendwell_deferrals_total{domain=\"example.com\"} 1"));
        assert!(text
            .contains("sendwell_deferral_reasons_total{domain=\"gmail.com\",reason=\"4.7.28\"} 2"));
        assert!(
            text.contains("sendwell_deferral_reasons_total{domain=\"yahoo.com\",reason=\"421\"} 1"),
            "a code that does not read as one is not shown: {text}"
        );
        assert!(text.contains(
            "sendwell_deferral_reasons_total{domain=\"outlook.com\",reason=\"no reply\"} 1"
        ));
        assert!(text.contains("sendwell_deferrals_total{domain=\"gmail.com\"} 2"));
        assert!(text.contains("domain=\"ex\\\"ample.org\""));
    }
}

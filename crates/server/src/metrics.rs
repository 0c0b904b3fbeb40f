//! Counters for `GET /metrics` (Prometheus text format): deliveries by
//! outcome, SMTP replies by class, deferrals by destination domain. The
//! counters are this process's; queue depth by state is read from the
//! database when scraped, so it covers every worker.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Distinct domains counted before the rest go under `other`.
const MAX_DOMAINS: usize = 500;

#[derive(Default)]
pub struct Metrics {
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
    replies: Mutex<BTreeMap<&'static str, u64>>,
    deferrals: Mutex<BTreeMap<String, u64>>,
    pipeline_restarts: std::sync::atomic::AtomicU64,
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
    pub fn outcome(&self, state: &'static str) {
        bump(&self.outcomes, state, 1);
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
    }

    /// A delivery pipeline crashed and was started again.
    pub fn pipeline_restart(&self) {
        self.pipeline_restarts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        *m.entry(key).or_insert(0) += 1;
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
    fn counters_render_in_exposition_format() {
        let m = Metrics::default();
        m.outcome("delivered");
        m.outcome("delivered");
        m.reply(Some(250));
        m.reply(Some(451));
        m.reply(None);
        m.deferral("example.com");
        m.deferral("ex\"ample.org");
        let mut q = BTreeMap::new();
        q.insert("queued".to_owned(), 7);
        let text = m.render(&q);
        assert!(text.contains("sendwell_queue_deliveries{state=\"queued\"} 7"));
        assert!(text.contains("sendwell_queue_deliveries{state=\"held\"} 0"));
        assert!(text.contains("sendwell_deliveries_total{outcome=\"delivered\"} 2"));
        assert!(text.contains("sendwell_smtp_replies_total{class=\"4xx\"} 1"));
        assert!(text.contains("sendwell_smtp_replies_total{class=\"none\"} 1"));
        assert!(text.contains("sendwell_deferrals_total{domain=\"example.com\"} 1"));
        assert!(text.contains("domain=\"ex\\\"ample.org\""));
    }
}

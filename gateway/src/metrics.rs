//! Prometheus metrics in the text exposition format (`GET /metrics`). A small fixed registry:
//! every label set is bounded (decisions, statuses, channels, outcomes), never per user.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Counter and gauge families keyed by name, each holding label-set → value.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<&'static str, Family>>,
    gauges: Mutex<BTreeMap<&'static str, Family>>,
}

#[derive(Debug, Default)]
struct Family {
    help: &'static str,
    values: BTreeMap<Vec<(&'static str, String)>, f64>,
}

const COUNTER_HELP: &[(&str, &str)] = &[
    (
        "liftgate_requests_total",
        "Access requests created, by decision and channel.",
    ),
    ("liftgate_approvals_total", "Approvals counted."),
    (
        "liftgate_transitions_total",
        "Committed lifecycle transitions, by kind (requested, approved, activated, ended, ...).",
    ),
    ("liftgate_grants_total", "Grants that became active."),
    (
        "liftgate_revocations_total",
        "Grants revoked, by reason (scheduled, early, abandoned).",
    ),
    (
        "liftgate_grant_failures_total",
        "Grants that failed to provision.",
    ),
    (
        "liftgate_revocation_failures_total",
        "Attempts to remove access or its timer that failed permanently (retried with backoff), by operation.",
    ),
    (
        "liftgate_inbox_resumed_total",
        "Acked chat work a stopped replica left unfinished and this one ran again, by channel.",
    ),
    (
        "liftgate_inbox_unrecorded_total",
        "Acked chat work that could not be recorded before it ran (a crash would lose it), by channel.",
    ),
    (
        "liftgate_outbox_unreadable_total",
        "Outbox rows this version cannot read, kept for a replica that can, by topic family.",
    ),
    (
        "liftgate_aws_retries_total",
        "Identity Center operations retried after a retryable error.",
    ),
    (
        "liftgate_outbox_delivered_total",
        "Outbox messages delivered, by consumer.",
    ),
    (
        "liftgate_outbox_failures_total",
        "Outbox delivery attempts that failed, by consumer.",
    ),
    (
        "liftgate_http_requests_total",
        "HTTP requests served, by route and status class.",
    ),
    (
        "liftgate_auth_failures_total",
        "Inbound calls refused for bad signatures or tokens, by channel and reason.",
    ),
    (
        "liftgate_drift_findings_total",
        "Drift findings reported by reconciliation.",
    ),
    (
        "liftgate_session_revocations_total",
        "Live role sessions of removed access: ended (revoked), refused, and statements expired.",
    ),
    (
        "liftgate_reconcile_api_calls_total",
        "AWS API calls made by reconciliation.",
    ),
];

const GAUGE_HELP: &[(&str, &str)] = &[
    (
        "liftgate_outbox_pending",
        "Outbox messages waiting for delivery.",
    ),
    ("liftgate_grants_active", "Grants currently holding access."),
    (
        "liftgate_requests_pending",
        "Requests waiting for approval.",
    ),
];

fn help_for(table: &[(&str, &'static str)], name: &str) -> &'static str {
    table
        .iter()
        .find(|(known, _)| *known == name)
        .map_or("", |(_, help)| help)
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds `by` to the counter `name` with these labels.
    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], by: f64) {
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        let family = counters.entry(name).or_insert_with(|| Family {
            help: help_for(COUNTER_HELP, name),
            values: BTreeMap::new(),
        });
        let key = labels
            .iter()
            .map(|(label, value)| (*label, (*value).to_owned()))
            .collect();
        *family.values.entry(key).or_insert(0.0) += by;
    }

    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1.0);
    }

    pub fn set_gauge(&self, name: &'static str, value: f64) {
        let Ok(mut gauges) = self.gauges.lock() else {
            return;
        };
        let family = gauges.entry(name).or_insert_with(|| Family {
            help: help_for(GAUGE_HELP, name),
            values: BTreeMap::new(),
        });
        family.values.insert(Vec::new(), value);
    }

    /// The current value of a counter (summed over label sets matching `labels`), for tests.
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let Ok(counters) = self.counters.lock() else {
            return 0.0;
        };
        counters.get(name).map_or(0.0, |family| {
            family
                .values
                .iter()
                .filter(|(key, _)| {
                    labels
                        .iter()
                        .all(|(label, value)| key.iter().any(|(l, v)| l == label && v == value))
                })
                .map(|(_, value)| value)
                .sum()
        })
    }

    /// The current value of an unlabelled gauge, if it was ever set.
    pub fn gauge_value(&self, name: &str) -> Option<f64> {
        let gauges = self.gauges.lock().ok()?;
        gauges.get(name)?.values.get(&Vec::new()).copied()
    }

    /// Renders every family in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(counters) = self.counters.lock() {
            render_families(&mut out, "counter", &counters);
        }
        if let Ok(gauges) = self.gauges.lock() {
            render_families(&mut out, "gauge", &gauges);
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render_families(out: &mut String, kind: &str, families: &BTreeMap<&'static str, Family>) {
    for (name, family) in families {
        if !family.help.is_empty() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
        }
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in &family.values {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let rendered: Vec<String> = labels
                    .iter()
                    .map(|(label, v)| format!("{label}=\"{}\"", escape(v)))
                    .collect();
                let _ = writeln!(out, "{name}{{{}}} {value}", rendered.join(","));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges_in_text_format() {
        let metrics = Metrics::new();
        metrics.inc(
            "liftgate_requests_total",
            &[("decision", "requires_approval"), ("channel", "slack")],
        );
        metrics.inc(
            "liftgate_requests_total",
            &[("decision", "requires_approval"), ("channel", "slack")],
        );
        metrics.set_gauge("liftgate_outbox_pending", 3.0);
        let text = metrics.render();
        assert!(text.contains("# TYPE liftgate_requests_total counter"));
        assert!(
            text.contains(
                "liftgate_requests_total{channel=\"slack\",decision=\"requires_approval\"} 2"
            ) || text.contains(
                "liftgate_requests_total{decision=\"requires_approval\",channel=\"slack\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE liftgate_outbox_pending gauge\nliftgate_outbox_pending 3"));
        assert_eq!(
            metrics.counter_value("liftgate_requests_total", &[("channel", "slack")]),
            2.0
        );
    }
}

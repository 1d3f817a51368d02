//! Latency summaries (HDR histograms in microseconds) and the table the harness prints.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

/// A histogram of microseconds from 1 µs to 2 minutes, 3 significant digits; values beyond
/// are clamped to the top by `saturating_record` rather than lost.
#[allow(
    clippy::expect_used,
    reason = "constant bounds that hdrhistogram accepts (1 <= low, high >= 2 * low, 3 digits)"
)]
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// Records durations into a fresh histogram.
pub(crate) fn histogram_of(durations: impl IntoIterator<Item = Duration>) -> Histogram<u64> {
    let mut histogram = new_histogram();
    for duration in durations {
        histogram.saturating_record(duration.as_micros().max(1) as u64);
    }
    histogram
}

/// A latency percentile as milliseconds, e.g. `0.62 ms` or `81 ms`.
pub(crate) fn millis(histogram: &Histogram<u64>, quantile: f64) -> String {
    if histogram.is_empty() {
        return "–".to_owned();
    }
    format_micros(histogram.value_at_quantile(quantile))
}

pub(crate) fn format_micros(micros: u64) -> String {
    let ms = micros as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// `p50 x, p99 y, max z (n)`.
pub(crate) fn latency_line(histogram: &Histogram<u64>) -> String {
    format!(
        "p50 {}, p99 {}, max {} (n={})",
        millis(histogram, 0.50),
        millis(histogram, 0.99),
        millis(histogram, 1.0),
        histogram.len()
    )
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Rows of measure → value, printed as a Markdown table (pastes into the README).
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<(String, String)>,
}

impl Table {
    pub(crate) fn row(&mut self, measure: impl Into<String>, value: impl Into<String>) {
        self.rows.push((measure.into(), value.into()));
    }

    pub(crate) fn extend(&mut self, other: Table) {
        self.rows.extend(other.rows);
    }

    pub(crate) fn render(&self) -> String {
        let mut text = String::from("| measure | value |\n|---|---|\n");
        for (measure, value) in &self.rows {
            let _ = writeln!(text, "| {measure} | {value} |");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_every_recorded_latency() {
        let histogram = histogram_of((1..=1000).map(|ms| Duration::from_micros(ms * 100)));
        assert_eq!(histogram.len(), 1000);
        assert_eq!(millis(&histogram, 0.5), "50 ms");
        assert_eq!(millis(&histogram, 0.99), "99 ms");
        assert_eq!(millis(&new_histogram(), 0.99), "–");
    }

    #[test]
    fn the_table_renders_as_markdown() {
        let mut table = Table::default();
        table.row("idle RSS", mib(25 * 1024 * 1024));
        assert_eq!(
            table.render(),
            "| measure | value |\n|---|---|\n| idle RSS | 25.0 MiB |\n"
        );
        assert_eq!(format_micros(620), "0.62 ms");
        assert_eq!(format_micros(3_100_000), "3.10 s");
    }
}

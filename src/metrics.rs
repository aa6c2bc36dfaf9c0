//! The instruments each layer keeps for `GET /metrics`: a layer owns its own (the token its
//! call latencies, the audit log its write latencies) and `api` registers them all in one
//! registry, so no layer depends on the HTTP side and nothing is global.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Latencies, in seconds, grouped by a label set.
pub type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

/// A latency histogram from 50 µs to about 6.5 s (18 doubling buckets).
pub fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
}

/// A family of latency histograms, one per label set seen.
pub fn latencies<L: Clone + std::hash::Hash + Eq>() -> Latencies<L> {
    Family::new_with_constructor(latency)
}

/// Records `elapsed` in `histogram`, in seconds.
pub fn observe(histogram: &Histogram, elapsed: Duration) {
    histogram.observe(elapsed.as_secs_f64());
}

/// A count histogram from 1 to 4096 (13 doubling buckets), e.g. records per audit write.
pub fn sizes() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

/// The label of a token call: the token operation making it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Function {
    /// E.g. `encrypt`, `generate_key`, `mac`.
    pub function: &'static str,
}

//! Pure statistics helpers: median, percentiles, ratios, summaries.

use serde::{Deserialize, Serialize};

/// Median of `values` (mean of the middle two for an even count); `None`
/// when empty. NaNs are not expected and sort last.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The `q`-th percentile (0..=100) of already sorted `sorted`, linearly
/// interpolated between the two nearest ranks (so p0 is the minimum and
/// p100 the maximum). `None` when empty.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let q = q.clamp(0.0, 100.0);
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Arithmetic mean; `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// `a / b`, or `None` when either is missing or `b` is not positive.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

/// Median and range of one metric over the rounds that succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Median over rounds.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// How many rounds contributed.
    pub n: usize,
}

impl Summary {
    /// Summarises `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let median = median(values)?;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Summary {
            median,
            min,
            max,
            n: values.len(),
        })
    }
}

/// The percentile points stored for latency distributions (and plotted).
pub const PROFILE_POINTS: [f64; 13] = [
    0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0,
];

/// Latency statistics of one run, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Round trips measured.
    pub count: usize,
    /// Mean round trip.
    pub mean_us: f64,
    /// Median round trip.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// `(percentile, µs)` at each of [`PROFILE_POINTS`].
    pub profile: Vec<(f64, f64)>,
}

impl LatencyStats {
    /// Computes the statistics of `samples_ns` (each a round trip in ns);
    /// sorts the samples in place. `None` when there are none.
    pub fn from_nanos(samples_ns: &mut [u64]) -> Option<LatencyStats> {
        if samples_ns.is_empty() {
            return None;
        }
        samples_ns.sort_unstable();
        let us: Vec<f64> = samples_ns.iter().map(|&n| n as f64 / 1000.0).collect();
        let pct = |q| percentile_sorted(&us, q).unwrap_or(f64::NAN);
        Some(LatencyStats {
            count: us.len(),
            mean_us: mean(&us).unwrap_or(f64::NAN),
            p50_us: pct(50.0),
            p99_us: pct(99.0),
            profile: PROFILE_POINTS.iter().map(|&q| (q, pct(q))).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let v: Vec<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(percentile_sorted(&v, 0.0), Some(1.0));
        assert_eq!(percentile_sorted(&v, 50.0), Some(51.0));
        assert_eq!(percentile_sorted(&v, 99.0), Some(100.0));
        assert_eq!(percentile_sorted(&v, 100.0), Some(101.0));
        assert_eq!(percentile_sorted(&[10.0, 20.0], 25.0), Some(12.5));
        assert_eq!(percentile_sorted(&[], 50.0), None);
    }

    #[test]
    fn ratio_needs_a_positive_denominator() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
    }

    #[test]
    fn summary_and_latency_stats() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (3.0, 1.0, 5.0, 3));
        let mut ns = vec![3000, 1000, 2000, 4000];
        let l = LatencyStats::from_nanos(&mut ns).unwrap();
        assert_eq!(l.count, 4);
        assert_eq!(l.mean_us, 2.5);
        assert_eq!(l.p50_us, 2.5);
        assert_eq!(l.profile.first(), Some(&(0.0, 1.0)));
        assert_eq!(l.profile.last(), Some(&(100.0, 4.0)));
    }
}

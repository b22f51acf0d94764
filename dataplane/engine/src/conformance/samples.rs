//! A fixed ring of the newest samples and their coefficient of variation, for the Tier F
//! scorers (inter-arrival times, report intervals, keyframe gaps). No allocation after
//! construction.
#![deny(clippy::indexing_slicing)]

/// The newest `N` samples, oldest overwritten first.
#[derive(Debug, Clone)]
pub(crate) struct Samples<const N: usize> {
    values: [f64; N],
    next: usize,
    len: usize,
}

impl<const N: usize> Samples<N> {
    pub(crate) const fn new() -> Self {
        Self {
            values: [0.0; N],
            next: 0,
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, value: f64) {
        if let Some(slot) = self.values.get_mut(self.next) {
            *slot = value;
        }
        self.next = if self.next + 1 >= N { 0 } else { self.next + 1 };
        self.len = (self.len + 1).min(N);
    }

    /// Population standard deviation over mean; `None` below `min` samples or at mean 0.
    pub(crate) fn cov(&self, min: usize) -> Option<f64> {
        // Until the ring wraps, the samples are its first `len` slots; after, all of them.
        let held = self.values.get(..self.len)?;
        if held.len() < min.max(1) {
            return None;
        }
        let n = held.len() as f64;
        let mean = held.iter().sum::<f64>() / n;
        if mean == 0.0 {
            return None;
        }
        let variance = held.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Some(variance.sqrt() / mean)
    }
}

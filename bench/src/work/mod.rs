//! The workloads, child side: each function is one side of a workload,
//! generic over the implementation.

pub mod asyncio;
pub mod fanout;
pub mod lat;
pub mod proxy;
pub mod scale;
pub mod thr;

use bytes::Bytes;

/// Every blocking receive in a child is bounded by this, so a child whose
/// peer died fails on its own (the parent has its own deadline too).
pub const RECV_TIMEOUT_MS: i32 = 10_000;

/// A payload of `size` bytes with a non-trivial pattern.
pub fn payload(size: usize) -> Bytes {
    Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

/// This process's resident set size in KiB (VmRSS from /proc/self/status).
pub fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rss_is_readable_here() {
        assert!(super::rss_kb().is_some_and(|kb| kb > 0));
    }
}

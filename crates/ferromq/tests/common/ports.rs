//! Ports for tests that bind late: see [`unused_endpoint`].

/// A tcp endpoint on 127.0.0.1 that nothing listens on now, for a test
/// to bind later (or never). The port is picked below the kernel's
/// ephemeral range, so no automatic port (a bind to port 0, or the local
/// end of any connection) can take it in the meantime; a released
/// ephemeral port can be reused at once, and a late bind then fails with
/// EADDRINUSE.
pub fn unused_endpoint() -> String {
    format!("tcp://127.0.0.1:{}", unused_port())
}

/// See [`unused_endpoint`].
pub fn unused_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let low = 10_000u32;
    let span = ephemeral_low.saturating_sub(low).max(1);
    // Spread concurrent test processes apart, then walk.
    let seed = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (low + (seed.wrapping_add(n.wrapping_mul(104_729)) % span)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

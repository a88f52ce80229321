//! Shared by the guide examples: endpoint overrides and a small random
//! number generator (the examples need no crates beyond ferromq).
#![allow(dead_code)] // each example uses a subset

/// The endpoint named by environment variable `var`, or the guide's
/// `default`. Tests set the variables to free ports so parallel runs never
/// collide; a person running the examples gets the guide's endpoints.
pub fn endpoint(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// xorshift64*: plenty for sample data, seeded from the clock.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64);
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `low..high` (like Python's `randrange`).
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low) as u64) as i64
    }
}

/// Moves one whole multipart message from `from` to `to`.
pub fn forward(from: &ferromq::Socket, to: &ferromq::Socket) -> Result<(), ferromq::Error> {
    let parts = from.recv_multipart_msgs(0)?;
    let last = parts.len() - 1;
    for (i, part) in parts.into_iter().enumerate() {
        let flags = if i < last { ferromq::SNDMORE } else { 0 };
        to.send_msg(part, flags)?;
    }
    Ok(())
}

//! Weather update client: connects SUB to tcp://localhost:5556, keeps the
//! updates for one zipcode and prints their average temperature.
//!
//! Usage: wuclient [zipcode-filter [count]]   (default "10001 ", 100)

use ferromq::{Context, SocketType};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let mut args = std::env::args().skip(1);
    let filter = args.next().unwrap_or_else(|| "10001 ".to_owned());
    let count: u32 = match args.next() {
        Some(n) => n.parse().map_err(|_| {
            ferromq::Error::new(ferromq::ErrorKind::EINVAL, format!("bad count {n:?}"))
        })?,
        None => 100,
    };
    let ctx = Context::new();
    println!("Collecting updates from weather server...");
    let subscriber = ctx.socket(SocketType::Sub)?;
    subscriber.connect(&support::endpoint(
        "WUCLIENT_CONNECT",
        "tcp://localhost:5556",
    ))?;
    subscriber.set_subscribe(filter.as_bytes())?;

    let mut total_temp: i64 = 0;
    for _ in 0..count {
        let update = subscriber.recv(0)?;
        let text = String::from_utf8_lossy(&update);
        let temperature: i64 = text
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        total_temp += temperature;
    }
    println!(
        "Average temperature for zipcode '{}' was {}F",
        filter.trim_end(),
        total_temp / i64::from(count.max(1))
    );
    Ok(())
}

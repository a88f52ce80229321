//! Weather update client, async under tokio: connects SUB to
//! tcp://localhost:5556, keeps the updates for one zipcode and prints
//! their average temperature, as wuclient does. It reads the socket as a
//! `Stream` of messages.
//!
//! Usage: async_wuclient [zipcode-filter [count]]   (default "10001 ", 100)
//! WUCLIENT_CONNECT overrides the endpoint.

use ferromq::{AsyncSocket, Context, SocketType};
use futures_util::StreamExt;

mod support;

#[tokio::main]
async fn main() -> Result<(), ferromq::Error> {
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
    let mut subscriber = AsyncSocket::new(subscriber);

    let mut total_temp: i64 = 0;
    let mut updates = (&mut subscriber).take(count as usize);
    while let Some(update) = updates.next().await {
        let update = update?;
        let text = String::from_utf8_lossy(&update[0]);
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

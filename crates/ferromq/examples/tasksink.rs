//! Task sink: binds PULL to tcp://*:5558, waits for the ventilator's start
//! signal, collects 100 results and prints the elapsed time.

use ferromq::{Context, SocketType};
use std::io::Write;
use std::time::Instant;

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let receiver = ctx.socket(SocketType::Pull)?;
    receiver.bind(&support::endpoint("TASKSINK_BIND", "tcp://*:5558"))?;
    // Wait for the start of the batch.
    receiver.recv(0)?;
    let start = Instant::now();
    for task in 0..100 {
        receiver.recv(0)?;
        print!("{}", if task % 10 == 0 { ":" } else { "." });
        let _ = std::io::stdout().flush();
    }
    println!("\nTotal elapsed time: {} msec", start.elapsed().as_millis());
    Ok(())
}

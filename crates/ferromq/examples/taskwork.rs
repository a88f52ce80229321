//! Task worker: pulls workloads from tcp://localhost:5557, "works" (sleeps)
//! that many milliseconds, and pushes an empty result to the sink at
//! tcp://localhost:5558.

use ferromq::{Context, SocketType};
use std::io::Write;
use std::time::Duration;

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let receiver = ctx.socket(SocketType::Pull)?;
    receiver.connect(&support::endpoint(
        "TASKWORK_CONNECT",
        "tcp://localhost:5557",
    ))?;
    let sender = ctx.socket(SocketType::Push)?;
    sender.connect(&support::endpoint("TASKWORK_SINK", "tcp://localhost:5558"))?;
    loop {
        let task = receiver.recv(0)?;
        let msec: u64 = String::from_utf8_lossy(&task).trim().parse().unwrap_or(0);
        print!(".");
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(msec));
        sender.send("", 0)?;
    }
}

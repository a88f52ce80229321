//! Task ventilator: binds PUSH to tcp://*:5557, connects PUSH to the sink
//! at tcp://localhost:5558, waits for Enter (or end of input) once the
//! workers are up, then sends the start signal and 100 workloads.

use ferromq::{Context, SocketType};
use std::io::BufRead;

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let sender = ctx.socket(SocketType::Push)?;
    sender.bind(&support::endpoint("TASKVENT_BIND", "tcp://*:5557"))?;
    let sink = ctx.socket(SocketType::Push)?;
    sink.connect(&support::endpoint("TASKVENT_SINK", "tcp://localhost:5558"))?;

    println!("Press Enter when the workers are ready: ");
    let mut line = String::new();
    // End of input counts as Enter, so the program also runs unattended.
    let _ = std::io::stdin().lock().read_line(&mut line);
    println!("Sending tasks to workers...");

    // The first message is "0" and signals the start of the batch.
    sink.send("0", 0)?;
    let mut rng = support::Rng::new();
    let mut total_msec = 0;
    for _ in 0..100 {
        let workload = rng.range(1, 101);
        total_msec += workload;
        sender.send(workload.to_string(), 0)?;
    }
    println!("Total expected cost: {total_msec} msec");
    // Dropping the sockets and the context waits (LINGER) until every
    // task has left.
    Ok(())
}

//! A one-command tour: a hello-world REQ/REP exchange, then a ventilator
//! feeding three workers that report to a sink — every side started here,
//! talking over real tcp on 127.0.0.1 (ephemeral ports).
//!
//! Run: `cargo run -p ferromq --example demo`

use ferromq::{Context, Socket, SocketType};
use std::thread;
use std::time::{Duration, Instant};

fn bind_any(ctx: &Context, t: SocketType) -> Result<(Socket, String), ferromq::Error> {
    let socket = ctx.socket(t)?;
    socket.bind("tcp://127.0.0.1:*")?;
    let endpoint = socket.last_endpoint()?;
    Ok((socket, endpoint))
}

fn hello_world(ctx: &Context) -> Result<(), ferromq::Error> {
    println!("== hello world: REQ client <-> REP server");
    let (server, endpoint) = bind_any(ctx, SocketType::Rep)?;
    let server_thread = thread::spawn(move || -> Result<(), ferromq::Error> {
        for _ in 0..3 {
            let request = server.recv(0)?;
            println!("   server got  {:?}", request.as_str().unwrap_or("?"));
            server.send("World", 0)?;
        }
        Ok(())
    });
    let client = ctx.socket(SocketType::Req)?;
    client.connect(&endpoint)?;
    for n in 0..3 {
        client.send(format!("Hello {n}"), 0)?;
        let reply = client.recv(0)?;
        println!("   client got  {:?}", reply.as_str().unwrap_or("?"));
    }
    server_thread.join().expect("server thread")?;
    Ok(())
}

fn pipeline(ctx: &Context) -> Result<(), ferromq::Error> {
    println!("== pipeline: ventilator -> 3 workers -> sink");
    let (ventilator, vent_endpoint) = bind_any(ctx, SocketType::Push)?;
    let (sink, sink_endpoint) = bind_any(ctx, SocketType::Pull)?;
    let workers: Vec<_> = (1..=3)
        .map(|id| {
            let ctx = ctx.clone();
            let (vent_endpoint, sink_endpoint) = (vent_endpoint.clone(), sink_endpoint.clone());
            thread::spawn(move || -> Result<(), ferromq::Error> {
                let tasks = ctx.socket(SocketType::Pull)?;
                tasks.connect(&vent_endpoint)?;
                let results = ctx.socket(SocketType::Push)?;
                results.connect(&sink_endpoint)?;
                loop {
                    let task = tasks.recv(0)?;
                    let msec: u64 = task.as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                    if msec == 0 {
                        return Ok(()); // the "stop" task
                    }
                    thread::sleep(Duration::from_millis(msec));
                    results.send(format!("worker {id} slept {msec} ms"), 0)?;
                }
            })
        })
        .collect();
    let start = Instant::now();
    let tasks = 12;
    for n in 0..tasks {
        ventilator.send(((n * 7) % 20 + 5).to_string(), 0)?;
    }
    for _ in 0..tasks {
        println!("   sink got    {:?}", sink.recv(0)?.as_str().unwrap_or("?"));
    }
    println!(
        "   {tasks} tasks done in {} ms",
        start.elapsed().as_millis()
    );
    for _ in &workers {
        ventilator.send("0", 0)?;
    }
    for worker in workers {
        worker.join().expect("worker thread")?;
    }
    Ok(())
}

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    hello_world(&ctx)?;
    pipeline(&ctx)?;
    println!("== done");
    Ok(())
}

//! Hello World client: connects REQ to tcp://localhost:5555, sends "Hello"
//! ten times and prints each reply.

use ferromq::{Context, SocketType};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    println!("Connecting to hello world server...");
    let socket = ctx.socket(SocketType::Req)?;
    socket.connect(&support::endpoint(
        "HWCLIENT_CONNECT",
        "tcp://localhost:5555",
    ))?;
    for request in 0..10 {
        println!("Sending request {request}...");
        socket.send("Hello", 0)?;
        let reply = socket.recv(0)?;
        println!(
            "Received reply {request} [ {} ]",
            String::from_utf8_lossy(&reply)
        );
    }
    Ok(())
}

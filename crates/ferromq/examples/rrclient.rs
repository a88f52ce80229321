//! Request-reply client: connects REQ to the broker's frontend at
//! tcp://localhost:5559 and sends ten requests.

use ferromq::{Context, SocketType};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let socket = ctx.socket(SocketType::Req)?;
    socket.connect(&support::endpoint(
        "RRCLIENT_CONNECT",
        "tcp://localhost:5559",
    ))?;
    for request in 1..=10 {
        socket.send("Hello", 0)?;
        let reply = socket.recv(0)?;
        println!(
            "Received reply {request} [{}]",
            String::from_utf8_lossy(&reply)
        );
    }
    Ok(())
}

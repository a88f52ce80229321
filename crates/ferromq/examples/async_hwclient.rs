//! Hello World client, async under tokio: connects REQ to
//! tcp://localhost:5555, sends "Hello" ten times and prints each reply,
//! as hwclient does.
//!
//! HWCLIENT_CONNECT overrides the endpoint.

use ferromq::{AsyncSocket, Context, SocketType};

mod support;

#[tokio::main]
async fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    println!("Connecting to hello world server...");
    let mut socket = AsyncSocket::new(ctx.socket(SocketType::Req)?);
    socket.get_ref().connect(&support::endpoint(
        "HWCLIENT_CONNECT",
        "tcp://localhost:5555",
    ))?;
    for request in 0..10 {
        println!("Sending request {request}...");
        socket.send("Hello", 0).await?;
        let reply = socket.recv().await?;
        println!(
            "Received reply {request} [ {} ]",
            String::from_utf8_lossy(&reply)
        );
    }
    Ok(())
}

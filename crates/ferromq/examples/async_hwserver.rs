//! Hello World server, async under tokio: binds REP to tcp://*:5555 and
//! answers "World" to every request, as hwserver does, while leaving its
//! thread to the runtime whenever it waits.
//!
//! HWSERVER_BIND overrides the endpoint.

use ferromq::{AsyncSocket, Context, SocketType};

mod support;

#[tokio::main]
async fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let mut socket = AsyncSocket::new(ctx.socket(SocketType::Rep)?);
    socket
        .get_ref()
        .bind(&support::endpoint("HWSERVER_BIND", "tcp://*:5555"))?;
    loop {
        let request = socket.recv().await?;
        println!("Received request: {}", String::from_utf8_lossy(&request));
        socket.send("World", 0).await?;
    }
}

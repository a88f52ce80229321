//! Request-reply worker: connects REP to the broker's backend at
//! tcp://localhost:5560 and answers "World".

use ferromq::{Context, SocketType};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let socket = ctx.socket(SocketType::Rep)?;
    socket.connect(&support::endpoint(
        "RRWORKER_CONNECT",
        "tcp://localhost:5560",
    ))?;
    loop {
        let request = socket.recv(0)?;
        println!("Received request: {}", String::from_utf8_lossy(&request));
        socket.send("World", 0)?;
    }
}

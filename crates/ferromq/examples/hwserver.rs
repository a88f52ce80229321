//! Hello World server: binds REP to tcp://*:5555, answers "World" to
//! every request. Talks to the guide's hwclient in any language.

use ferromq::{Context, SocketType};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let socket = ctx.socket(SocketType::Rep)?;
    socket.bind(&support::endpoint("HWSERVER_BIND", "tcp://*:5555"))?;
    loop {
        let request = socket.recv(0)?;
        println!("Received request: {}", String::from_utf8_lossy(&request));
        socket.send("World", 0)?;
    }
}

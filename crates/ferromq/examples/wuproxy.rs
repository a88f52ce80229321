//! Weather proxy: XSUB connects to the weather server at
//! tcp://localhost:5556, XPUB binds tcp://*:8100 for subscribers. Updates
//! flow down, subscriptions made at the proxy flow up to the server.

use ferromq::{poll, Context, PollItem, SocketType, POLLIN};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let frontend = ctx.socket(SocketType::Xsub)?;
    frontend.connect(&support::endpoint(
        "WUPROXY_CONNECT",
        "tcp://localhost:5556",
    ))?;
    let backend = ctx.socket(SocketType::Xpub)?;
    backend.bind(&support::endpoint("WUPROXY_BIND", "tcp://*:8100"))?;
    loop {
        let mut items = [
            PollItem::new(&frontend, POLLIN),
            PollItem::new(&backend, POLLIN),
        ];
        poll(&mut items, -1)?;
        if items[0].is_readable() {
            support::forward(&frontend, &backend)?;
        }
        if items[1].is_readable() {
            // Subscriptions (and cancels) from our subscribers go upstream.
            support::forward(&backend, &frontend)?;
        }
    }
}

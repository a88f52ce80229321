//! Weather proxy: XSUB connects to the weather server at
//! tcp://localhost:5556, XPUB binds tcp://*:8100 for subscribers, and the
//! built-in proxy joins them: updates flow down, subscriptions made at the
//! proxy flow up to the server.
//!
//! WUPROXY_CONNECT and WUPROXY_BIND override the two endpoints.

use ferromq::{proxy, Context, SocketType};

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
    // Runs until the context is terminated.
    proxy(&frontend, &backend, None)
}

//! Shared queue: ROUTER frontend on tcp://*:5559 for clients, DEALER
//! backend on tcp://*:5560 for workers, and the built-in proxy between
//! them (the guide's msgqueue, rrbroker in one call).
//!
//! MSGQUEUE_FRONTEND and MSGQUEUE_BACKEND override the two endpoints.

use ferromq::{proxy, Context, SocketType};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let frontend = ctx.socket(SocketType::Router)?;
    frontend.bind(&support::endpoint("MSGQUEUE_FRONTEND", "tcp://*:5559"))?;
    let backend = ctx.socket(SocketType::Dealer)?;
    backend.bind(&support::endpoint("MSGQUEUE_BACKEND", "tcp://*:5560"))?;
    // Runs until the context is terminated.
    proxy(&frontend, &backend, None)
}

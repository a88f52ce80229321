//! Request-reply broker: ROUTER frontend on tcp://*:5559 for clients,
//! DEALER backend on tcp://*:5560 for workers; a poller (both sockets
//! registered once) shuttles whole multipart messages, with their
//! envelopes, both ways.

use ferromq::{Context, Poller, SocketType, POLLIN};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let frontend = ctx.socket(SocketType::Router)?;
    frontend.bind(&support::endpoint("RRBROKER_FRONTEND", "tcp://*:5559"))?;
    let backend = ctx.socket(SocketType::Dealer)?;
    backend.bind(&support::endpoint("RRBROKER_BACKEND", "tcp://*:5560"))?;
    let mut poller = Poller::new()?;
    let from_clients = poller.add(&frontend, POLLIN)?;
    let from_workers = poller.add(&backend, POLLIN)?;
    let mut ready = Vec::new();
    loop {
        poller.wait(&mut ready, -1)?;
        for r in &ready {
            if r.index == from_clients {
                support::forward(&frontend, &backend)?;
            } else if r.index == from_workers {
                support::forward(&backend, &frontend)?;
            }
        }
    }
}

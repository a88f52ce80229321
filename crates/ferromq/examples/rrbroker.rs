//! Request-reply broker: ROUTER frontend on tcp://*:5559 for clients,
//! DEALER backend on tcp://*:5560 for workers; a poll loop shuttles whole
//! multipart messages (with their envelopes) both ways.

use ferromq::{poll, Context, PollItem, SocketType, POLLIN};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let frontend = ctx.socket(SocketType::Router)?;
    frontend.bind(&support::endpoint("RRBROKER_FRONTEND", "tcp://*:5559"))?;
    let backend = ctx.socket(SocketType::Dealer)?;
    backend.bind(&support::endpoint("RRBROKER_BACKEND", "tcp://*:5560"))?;
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
            support::forward(&backend, &frontend)?;
        }
    }
}

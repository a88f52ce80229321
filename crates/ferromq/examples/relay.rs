//! Relay: a SUB binds tcp://*:5570 so publishers can connect and send to
//! it; every message received is re-published on a PUB bound to
//! tcp://*:5571, and its text after the first space is handed to PULL
//! workers through a PUSH bound to tcp://*:5572 (dropped when no worker is
//! connected, never blocking the relay).

use ferromq::{poll, Context, ErrorKind, PollItem, SocketType, DONTWAIT, POLLIN};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let sub = ctx.socket(SocketType::Sub)?;
    sub.bind(&support::endpoint("RELAY_SUB_BIND", "tcp://*:5570"))?;
    sub.set_subscribe(b"")?;
    let publisher = ctx.socket(SocketType::Pub)?;
    // No limit: the relay must not drop for a slow subscriber of its own.
    publisher.set_sndhwm(0)?;
    publisher.bind(&support::endpoint("RELAY_PUB_BIND", "tcp://*:5571"))?;
    let pusher = ctx.socket(SocketType::Push)?;
    pusher.bind(&support::endpoint("RELAY_PUSH_BIND", "tcp://*:5572"))?;
    loop {
        let mut items = [PollItem::new(&sub, POLLIN)];
        poll(&mut items, -1)?;
        while let Ok(message) = sub.recv(DONTWAIT) {
            publisher.send_msg(message.clone(), 0)?;
            let work = match message.iter().position(|&b| b == b' ') {
                Some(space) => &message[space + 1..],
                None => &message[..],
            };
            match pusher.send(work, DONTWAIT) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::EAGAIN => {} // no worker: dropped
                Err(e) => return Err(e),
            }
        }
    }
}

//! Two in-memory ZMTP peers (a REQ and a REP) complete the NULL handshake
//! and exchange one request and reply; every byte on the wire is printed.
//!
//! Run: `cargo run -p ferromq-proto --example handshake`

use ferromq_proto::{
    Connection, ConnectionOptions, Event, LocalProperties, NullMechanism, SocketType,
};

fn peer(socket_type: SocketType) -> Connection {
    let mechanism = NullMechanism::new(LocalProperties::new(socket_type));
    Connection::new(Box::new(mechanism), ConnectionOptions::default())
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                format!(" {}", char::from(*b))
            } else {
                format!("{b:02x}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Moves whatever `from` wants to send into `to`, printing it.
fn transfer(label: &str, from: &mut Connection, to: &mut Connection) {
    let bytes = from.output().take_all();
    if !bytes.is_empty() {
        println!("{label} ({} bytes):\n  {}", bytes.len(), hex(&bytes));
        to.recv_buf().extend_from_slice(&bytes);
    }
}

fn drain(name: &str, conn: &mut Connection) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = conn.poll_event().expect("protocol error") {
        println!("{name} got {event:?}");
        events.push(event);
    }
    events
}

fn main() {
    let mut req = peer(SocketType::Req);
    let mut rep = peer(SocketType::Rep);

    // Greetings, then READY commands, until both sides are ready.
    while !(req.is_ready() && rep.is_ready()) {
        transfer("REQ -> REP", &mut req, &mut rep);
        transfer("REP -> REQ", &mut rep, &mut req);
        drain("REQ", &mut req);
        drain("REP", &mut rep);
    }

    // A REQ request is an empty delimiter frame then the body.
    req.send_message(b"", true).expect("send");
    req.send_message(b"Hello", false).expect("send");
    transfer("REQ -> REP", &mut req, &mut rep);
    let request = drain("REP", &mut rep);
    assert_eq!(request.len(), 2);

    rep.send_message(b"", true).expect("send");
    rep.send_message(b"World", false).expect("send");
    transfer("REP -> REQ", &mut rep, &mut req);
    drain("REQ", &mut req);
}

//! The PLAIN handshake (either role) fed hostile peer bytes in any
//! handshake state: see `common/security.rs` for the input layout and the
//! checks.

#![no_main]

use ferromq_proto::{
    Connection, ConnectionOptions, LocalProperties, PlainClient, PlainServer, SocketType,
    ZapContext,
};
use libfuzzer_sys::fuzz_target;

#[path = "common/security.rs"]
mod security;

fuzz_target!(|data: &[u8]| {
    security::run(data, || {
        let client = PlainClient::new(LocalProperties::new(SocketType::Dealer), "user", "pass")
            .expect("short credentials");
        let server = PlainServer::new(LocalProperties::new(SocketType::Router))
            .with_zap(ZapContext::new("fuzz", "127.0.0.1"));
        (
            Connection::new(Box::new(client), ConnectionOptions::default()),
            Connection::new(Box::new(server), ConnectionOptions::default()),
        )
    });
});

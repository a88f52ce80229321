//! The CURVE handshake (either role) and its MESSAGE boxes fed hostile
//! peer bytes in any handshake state: see `common/security.rs` for the
//! input layout and the checks. Long-term keys are fixed (libzmq's test
//! keys); short-term keys and nonces come from the OS.

#![no_main]

use ferromq_proto::{
    Connection, ConnectionOptions, CurveClient, CurveKeyPair, CurveServer, LocalProperties,
    SocketType, ZapContext,
};
use libfuzzer_sys::fuzz_target;

#[path = "common/security.rs"]
mod security;

const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

fuzz_target!(|data: &[u8]| {
    security::run(data, || {
        let server_keys = CurveKeyPair::from_secret_z85(SERVER_SECRET).expect("valid key");
        let client_keys = CurveKeyPair::from_secret_z85(CLIENT_SECRET).expect("valid key");
        let client = CurveClient::new(
            LocalProperties::new(SocketType::Dealer),
            client_keys,
            *server_keys.public(),
        );
        let server = CurveServer::new(LocalProperties::new(SocketType::Router), server_keys)
            .with_zap(ZapContext::new("fuzz", "127.0.0.1"));
        (
            Connection::new(Box::new(client), ConnectionOptions::default()),
            Connection::new(Box::new(server), ConnectionOptions::default()),
        )
    });
});

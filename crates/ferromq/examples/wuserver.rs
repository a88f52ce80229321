//! Weather update server: binds PUB to tcp://*:5556 and ipc://weather.ipc
//! (a socket file in the working directory), and publishes random
//! "zipcode temperature relhumidity" updates forever.
//!
//! WUSERVER_BIND and WUSERVER_IPC override the two endpoints.

use ferromq::{Context, SocketType};

mod support;

fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let publisher = ctx.socket(SocketType::Pub)?;
    publisher.bind(&support::endpoint("WUSERVER_BIND", "tcp://*:5556"))?;
    publisher.bind(&support::endpoint("WUSERVER_IPC", "ipc://weather.ipc"))?;
    let mut rng = support::Rng::new();
    loop {
        let zipcode = rng.range(1, 100_000);
        let temperature = rng.range(-80, 135);
        let relhumidity = rng.range(10, 60);
        publisher.send(format!("{zipcode:05} {temperature} {relhumidity}"), 0)?;
    }
}

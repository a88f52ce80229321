//! Weather update server, async under tokio: binds PUB to tcp://*:5556
//! and ipc://weather.ipc (a socket file in the working directory), and
//! publishes random "zipcode temperature relhumidity" updates forever, as
//! wuserver does.
//!
//! WUSERVER_BIND and WUSERVER_IPC override the two endpoints.

use ferromq::{AsyncSocket, Context, SocketType};

mod support;

#[tokio::main]
async fn main() -> Result<(), ferromq::Error> {
    let ctx = Context::new();
    let mut publisher = AsyncSocket::new(ctx.socket(SocketType::Pub)?);
    publisher
        .get_ref()
        .bind(&support::endpoint("WUSERVER_BIND", "tcp://*:5556"))?;
    publisher
        .get_ref()
        .bind(&support::endpoint("WUSERVER_IPC", "ipc://weather.ipc"))?;
    let mut rng = support::Rng::new();
    for n in 0u64.. {
        let zipcode = rng.range(1, 100_000);
        let temperature = rng.range(-80, 135);
        let relhumidity = rng.range(10, 60);
        publisher
            .send(format!("{zipcode:05} {temperature} {relhumidity}"), 0)
            .await?;
        // A PUB never waits (it drops what a slow subscriber cannot
        // take), so this loop would never give the runtime its thread
        // back: do so now and then.
        if n % 1024 == 0 {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

//! ferromq: ZeroMQ in Rust.
//!
//! Brokerless messaging sockets (REQ/REP, PUB/SUB, PUSH/PULL, DEALER/ROUTER,
//! PAIR, XPUB/XSUB) carrying whole multipart messages over tcp, speaking
//! ZMTP 3.1 and interoperating with libzmq 4.x peers.
//!
//! ```no_run
//! use ferromq::{Context, SocketType};
//! let ctx = Context::new();
//! let server = ctx.socket(SocketType::Rep)?;
//! server.bind("tcp://*:5555")?;
//! loop {
//!     let request = server.recv(0)?;
//!     println!("got {:?}", request.as_str());
//!     server.send("World", 0)?;
//! }
//! # Ok::<(), ferromq::Error>(())
//! ```

#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

mod async_socket;
pub mod auth;
mod context;
mod endpoint;
mod error;
mod inproc;
mod io;
mod mailbox;
pub mod monitor;
mod msg;
mod options;
mod pattern;
mod pipe;
mod poll;
pub mod proxy;
mod signal;
mod socket;
pub mod stats;

pub use async_socket::{AsyncSocket, RecvFrame, SendFrame};
pub use context::Context;
pub use error::{Error, ErrorKind, Result};
/// A 32-byte key as its 40-character Z85 text (RFC 32), and back.
pub use ferromq_proto::z85::{decode_key as z85_decode_key, encode_key as z85_encode_key};
pub use ferromq_proto::SocketType;
/// CURVE key pairs for the CURVE_* options: raw 32-byte keys, or their
/// 40-character Z85 forms (as zmq_curve_keypair makes them).
pub use ferromq_proto::{curve_keypair, curve_keypair_z85, curve_public, curve_public_z85};
pub use monitor::{Monitor, MonitorEvent};
pub use msg::{MessageProperties, Msg, INLINE_CAPACITY};
pub use options::reconnect_stop;
pub use options::{id as option, POLLERR, POLLIN, POLLOUT};
pub use poll::{poll, PollItem, Poller, Ready};
pub use proxy::{device, proxy, proxy_steerable, DeviceKind, ProxyStats};
pub use socket::{Socket, DONTWAIT, SNDMORE};
pub use stats::{DropReason, SocketStats};

//! libzmq through the `zmq` crate (rust-zmq), with its vendored libzmq.

use super::{BResult, Backend, BenchError, Kind, Sock};
use bytes::Bytes;

/// The libzmq backend.
pub struct Libzmq;

/// A libzmq socket.
pub struct LibzmqSocket(zmq::Socket);

/// Received frames, kept between receives so libzmq can reuse each
/// `zmq_msg_t` (`zmq_msg_recv` into an existing message).
pub struct LibzmqIn {
    parts: Vec<zmq::Message>,
    len: usize,
}

fn err(e: zmq::Error) -> BenchError {
    let message = format!("libzmq: {e}");
    match e {
        zmq::Error::EPROTONOSUPPORT | zmq::Error::ENOTSUP => BenchError::unsupported(message),
        zmq::Error::EAGAIN => BenchError::timeout(format!("{message} (timed out)")),
        _ => BenchError::failed(message),
    }
}

/// Whether the linked libzmq was built with CURVE (`zmq_has("curve")`).
pub fn has_curve() -> bool {
    zmq::has("curve") == Some(true)
}

/// libzmq without CURVE rejects its options with a bare EINVAL: say why.
fn need_curve() -> BResult<()> {
    if has_curve() {
        Ok(())
    } else {
        Err(BenchError::unsupported(
            "libzmq: this libzmq was built without CURVE (zmq_has(\"curve\") is false)",
        ))
    }
}

impl Backend for Libzmq {
    const NAME: &'static str = "libzmq";
    type Ctx = zmq::Context;
    type Socket = LibzmqSocket;

    fn context() -> BResult<zmq::Context> {
        Ok(zmq::Context::new())
    }

    fn socket(ctx: &zmq::Context, kind: Kind) -> BResult<LibzmqSocket> {
        let t = match kind {
            Kind::Push => zmq::PUSH,
            Kind::Pull => zmq::PULL,
            Kind::Req => zmq::REQ,
            Kind::Rep => zmq::REP,
            Kind::Pub => zmq::PUB,
            Kind::Sub => zmq::SUB,
            Kind::Dealer => zmq::DEALER,
            Kind::Router => zmq::ROUTER,
        };
        ctx.socket(t).map(LibzmqSocket).map_err(err)
    }

    fn proxy(frontend: LibzmqSocket, backend: LibzmqSocket) -> BResult<()> {
        zmq::proxy(&frontend.0, &backend.0).map_err(err)
    }
}

impl Sock for LibzmqSocket {
    // The zmq crate has no shared (reference-counted) message to send
    // repeatedly (zmq_msg_copy is not exposed), so its cheapest send of a
    // given payload is zmq_send: one copy into a fresh zmq_msg_t, with no
    // allocation up to libzmq's 33-byte inline size.
    type Out = Bytes;
    type In = LibzmqIn;

    fn prepare(data: Bytes) -> Bytes {
        data
    }

    fn new_in() -> LibzmqIn {
        LibzmqIn {
            parts: Vec::new(),
            len: 0,
        }
    }

    fn frame_count(msg: &LibzmqIn) -> usize {
        msg.len
    }

    fn frame(msg: &LibzmqIn, i: usize) -> &[u8] {
        &msg.parts[..msg.len][i]
    }

    fn bind(&mut self, endpoint: &str) -> BResult<String> {
        self.0.bind(endpoint).map_err(err)?;
        match self.0.get_last_endpoint().map_err(err)? {
            Ok(ep) => Ok(ep),
            Err(_) => Err(BenchError::failed("libzmq: last endpoint is not UTF-8")),
        }
    }

    fn connect(&mut self, endpoint: &str) -> BResult<()> {
        self.0.connect(endpoint).map_err(err)
    }

    fn set_recv_timeout(&mut self, ms: i32) -> BResult<()> {
        self.0.set_rcvtimeo(ms).map_err(err)
    }

    fn set_backlog(&mut self, backlog: i32) -> BResult<()> {
        self.0.set_backlog(backlog).map_err(err)
    }

    fn set_linger(&mut self, ms: i32) -> BResult<()> {
        self.0.set_linger(ms).map_err(err)
    }

    fn subscribe_all(&mut self) -> BResult<()> {
        self.0.set_subscribe(b"").map_err(err)
    }

    fn set_curve_server(&mut self, public: &[u8; 32], secret: &[u8; 32]) -> BResult<()> {
        need_curve()?;
        self.0.set_curve_server(true).map_err(err)?;
        self.0.set_curve_publickey(public).map_err(err)?;
        self.0.set_curve_secretkey(secret).map_err(err)
    }

    fn set_curve_client(
        &mut self,
        server: &[u8; 32],
        public: &[u8; 32],
        secret: &[u8; 32],
    ) -> BResult<()> {
        need_curve()?;
        self.0.set_curve_serverkey(server).map_err(err)?;
        self.0.set_curve_publickey(public).map_err(err)?;
        self.0.set_curve_secretkey(secret).map_err(err)
    }

    #[inline]
    fn send(&mut self, out: &Bytes) -> BResult<()> {
        self.0.send(&out[..], 0).map_err(err)
    }

    #[inline]
    fn send_copy(&mut self, data: &[u8]) -> BResult<()> {
        self.0.send(data, 0).map_err(err)
    }

    #[inline]
    fn recv(&mut self, msg: &mut LibzmqIn) -> BResult<()> {
        msg.len = 0;
        loop {
            if msg.len == msg.parts.len() {
                msg.parts.push(zmq::Message::new());
            }
            let part = &mut msg.parts[msg.len];
            self.0.recv(part, 0).map_err(err)?;
            msg.len += 1;
            if !part.get_more() {
                return Ok(());
            }
        }
    }

    #[inline]
    fn echo(&mut self, msg: &mut LibzmqIn) -> BResult<()> {
        // Hand each received zmq_msg_t back to libzmq as it is (no copy),
        // as libzmq's own local_lat does, leaving an empty one in its place.
        let n = msg.len;
        for i in 0..n {
            let part = std::mem::replace(&mut msg.parts[i], zmq::Message::new());
            let flags = if i + 1 < n { zmq::SNDMORE } else { 0 };
            self.0.send(part, flags).map_err(err)?;
        }
        msg.len = 0;
        Ok(())
    }
}

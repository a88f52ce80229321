//! libzmq 4.3.5 with CURVE, through the bench's own small binding
//! (`bench/libzmq`, crate ferromq-bench-libzmq).

use super::{BResult, Backend, BenchError, Kind, Sock};
use bytes::Bytes;
use ferromq_bench_libzmq as lz;

/// The libzmq backend.
pub struct Libzmq;

/// A libzmq socket.
pub struct LibzmqSocket(lz::Socket);

/// Received frames, kept between receives so libzmq can reuse each
/// `zmq_msg_t` (`zmq_msg_recv` into an existing message).
pub struct LibzmqIn {
    parts: Vec<lz::Message>,
    len: usize,
}

fn err(e: lz::Error) -> BenchError {
    let message = format!("libzmq: {e}");
    match e.errno() {
        lz::EPROTONOSUPPORT | lz::ENOTSUP => BenchError::unsupported(message),
        lz::EAGAIN => BenchError::timeout(format!("{message} (timed out)")),
        _ => BenchError::failed(message),
    }
}

/// Whether the linked libzmq was built with CURVE (`zmq_has("curve")`).
pub fn has_curve() -> bool {
    lz::has("curve")
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
    type Ctx = lz::Context;
    type Socket = LibzmqSocket;

    fn context() -> BResult<lz::Context> {
        lz::Context::new().map_err(err)
    }

    fn socket(ctx: &lz::Context, kind: Kind) -> BResult<LibzmqSocket> {
        let t = match kind {
            Kind::Push => lz::SocketType::Push,
            Kind::Pull => lz::SocketType::Pull,
            Kind::Req => lz::SocketType::Req,
            Kind::Rep => lz::SocketType::Rep,
            Kind::Pub => lz::SocketType::Pub,
            Kind::Sub => lz::SocketType::Sub,
            Kind::Dealer => lz::SocketType::Dealer,
            Kind::Router => lz::SocketType::Router,
        };
        ctx.socket(t).map(LibzmqSocket).map_err(err)
    }

    fn proxy(mut frontend: LibzmqSocket, mut backend: LibzmqSocket) -> BResult<()> {
        Err(err(lz::proxy(&mut frontend.0, &mut backend.0)))
    }
}

impl Sock for LibzmqSocket {
    // Every send copies the payload into a fresh zmq_msg_t with zmq_send
    // (no allocation up to libzmq's 33-byte inline size), as libzmq's own
    // remote_thr makes a fresh message per send; the prepared form is the
    // payload itself (no zmq_msg_copy of a shared message).
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
        msg.parts[..msg.len][i].data()
    }

    fn bind(&mut self, endpoint: &str) -> BResult<String> {
        self.0.bind(endpoint).map_err(err)?;
        String::from_utf8(self.0.last_endpoint().map_err(err)?)
            .map_err(|_| BenchError::failed("libzmq: last endpoint is not UTF-8"))
    }

    fn connect(&mut self, endpoint: &str) -> BResult<()> {
        self.0.connect(endpoint).map_err(err)
    }

    fn set_recv_timeout(&mut self, ms: i32) -> BResult<()> {
        self.0.set_int(lz::opt::RCVTIMEO, ms).map_err(err)
    }

    fn set_backlog(&mut self, backlog: i32) -> BResult<()> {
        self.0.set_int(lz::opt::BACKLOG, backlog).map_err(err)
    }

    fn set_linger(&mut self, ms: i32) -> BResult<()> {
        self.0.set_int(lz::opt::LINGER, ms).map_err(err)
    }

    fn subscribe_all(&mut self) -> BResult<()> {
        self.0.set_bytes(lz::opt::SUBSCRIBE, b"").map_err(err)
    }

    fn set_curve_server(&mut self, public: &[u8; 32], secret: &[u8; 32]) -> BResult<()> {
        need_curve()?;
        self.0.set_int(lz::opt::CURVE_SERVER, 1).map_err(err)?;
        self.0
            .set_bytes(lz::opt::CURVE_PUBLICKEY, public)
            .map_err(err)?;
        self.0
            .set_bytes(lz::opt::CURVE_SECRETKEY, secret)
            .map_err(err)
    }

    fn set_curve_client(
        &mut self,
        server: &[u8; 32],
        public: &[u8; 32],
        secret: &[u8; 32],
    ) -> BResult<()> {
        need_curve()?;
        self.0
            .set_bytes(lz::opt::CURVE_SERVERKEY, server)
            .map_err(err)?;
        self.0
            .set_bytes(lz::opt::CURVE_PUBLICKEY, public)
            .map_err(err)?;
        self.0
            .set_bytes(lz::opt::CURVE_SECRETKEY, secret)
            .map_err(err)
    }

    #[inline]
    fn send(&mut self, out: &Bytes) -> BResult<()> {
        self.0.send(out, 0).map_err(err)
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
                msg.parts.push(lz::Message::new());
            }
            let part = &mut msg.parts[msg.len];
            self.0.recv_msg(part, 0).map_err(err)?;
            msg.len += 1;
            if !part.more() {
                return Ok(());
            }
        }
    }

    #[inline]
    fn echo(&mut self, msg: &mut LibzmqIn) -> BResult<()> {
        // Hand each received zmq_msg_t back to libzmq as it is (no copy,
        // zmq_msg_send), as libzmq's own local_lat does; libzmq leaves it
        // empty, ready for the next zmq_msg_recv.
        let n = msg.len;
        for (i, part) in msg.parts[..n].iter_mut().enumerate() {
            let flags = if i + 1 < n { lz::SNDMORE } else { 0 };
            self.0.send_msg(part, flags).map_err(err)?;
        }
        msg.len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{CurveKeys, ErrorClass, Mechanism, Security};

    /// Bound on a receive that must succeed (it only guards a hang).
    const MUST_MS: i32 = 10_000;

    /// A REQ/REP pair over loopback tcp with the given security, REP bound.
    fn pair(server: &Security, client: &Security, client_wait_ms: i32) -> [LibzmqSocket; 2] {
        let ctx = Libzmq::context().unwrap();
        let mut rep = Libzmq::socket(&ctx, Kind::Rep).unwrap();
        rep.set_linger(0).unwrap();
        rep.set_recv_timeout(MUST_MS).unwrap();
        server.apply(&mut rep).unwrap();
        let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
        let mut req = Libzmq::socket(&ctx, Kind::Req).unwrap();
        req.set_linger(0).unwrap();
        req.set_recv_timeout(client_wait_ms).unwrap();
        client.apply(&mut req).unwrap();
        req.connect(&endpoint).unwrap();
        [rep, req]
    }

    #[test]
    fn curve_round_trip() {
        assert!(has_curve());
        assert!(need_curve().is_ok());
        let keys = CurveKeys::generate();
        let (server, client) = Mechanism::Curve.sides(&keys);
        let [mut rep, mut req] = pair(&server, &client, MUST_MS);
        let mut msg = LibzmqSocket::new_in();
        req.send_copy(b"ping").unwrap();
        rep.recv(&mut msg).unwrap();
        assert_eq!(LibzmqSocket::frame_count(&msg), 1);
        assert_eq!(LibzmqSocket::frame(&msg, 0), b"ping");
        rep.echo(&mut msg).unwrap();
        req.recv(&mut msg).unwrap();
        assert_eq!(LibzmqSocket::frame(&msg, 0), b"ping");
    }

    #[test]
    fn curve_client_of_another_server_times_out() {
        let keys = CurveKeys::generate();
        let (server, _) = Mechanism::Curve.sides(&keys);
        let (_, other_client) = Mechanism::Curve.sides(&CurveKeys::generate());
        let [_rep, mut req] = pair(&server, &other_client, 500);
        req.send_copy(b"ping").unwrap();
        let e = req.recv(&mut LibzmqSocket::new_in()).unwrap_err();
        assert_eq!(e.class, ErrorClass::Timeout, "{e}");
    }
}

//! ferromq, through its public sync API.

use super::{BResult, Backend, BenchError, Kind, Sock};
use bytes::Bytes;
use ferromq::{option, Context, ErrorKind, Msg, Socket, SocketType, SNDMORE};

/// The ferromq backend.
pub struct Ferro;

/// A ferromq socket.
pub struct FerroSocket(Socket);

impl FerroSocket {
    /// The socket itself, set up (options, bind or connect) through this
    /// backend, for the async rows to wrap.
    pub fn into_inner(self) -> Socket {
        self.0
    }
}

/// A ferromq error, classified.
pub fn err(e: ferromq::Error) -> BenchError {
    let message = format!("ferromq: {e}");
    match e.kind() {
        ErrorKind::EPROTONOSUPPORT | ErrorKind::ENOTSUP => BenchError::unsupported(message),
        ErrorKind::EAGAIN => BenchError::timeout(message),
        _ => BenchError::failed(message),
    }
}

impl Backend for Ferro {
    const NAME: &'static str = "ferromq";
    type Ctx = Context;
    type Socket = FerroSocket;

    fn context() -> BResult<Context> {
        Ok(Context::new())
    }

    fn socket(ctx: &Context, kind: Kind) -> BResult<FerroSocket> {
        let t = match kind {
            Kind::Push => SocketType::Push,
            Kind::Pull => SocketType::Pull,
            Kind::Req => SocketType::Req,
            Kind::Rep => SocketType::Rep,
            Kind::Pub => SocketType::Pub,
            Kind::Sub => SocketType::Sub,
            Kind::Dealer => SocketType::Dealer,
            Kind::Router => SocketType::Router,
        };
        ctx.socket(t).map(FerroSocket).map_err(err)
    }

    fn proxy(frontend: FerroSocket, backend: FerroSocket) -> BResult<()> {
        ferromq::proxy(&frontend.0, &backend.0, None).map_err(err)
    }
}

impl Sock for FerroSocket {
    // A `Msg` clone is a reference-count bump for bodies over
    // INLINE_CAPACITY (70 bytes) and a copy below: ferromq's cheapest send.
    type Out = Msg;
    // ferromq has no receive-into-buffer call; the Vec of frames is reused.
    type In = Vec<Msg>;

    fn prepare(data: Bytes) -> Msg {
        Msg::from(data)
    }

    fn new_in() -> Vec<Msg> {
        Vec::with_capacity(4)
    }

    fn frame_count(msg: &Vec<Msg>) -> usize {
        msg.len()
    }

    fn frame(msg: &Vec<Msg>, i: usize) -> &[u8] {
        &msg[i]
    }

    fn bind(&mut self, endpoint: &str) -> BResult<String> {
        self.0.bind(endpoint).map_err(err)?;
        self.0.last_endpoint().map_err(err)
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
        self.0
            .set_option_raw(option::CURVE_SERVER, &1i32.to_ne_bytes())
            .map_err(err)?;
        self.0
            .set_option_raw(option::CURVE_PUBLICKEY, public)
            .map_err(err)?;
        self.0
            .set_option_raw(option::CURVE_SECRETKEY, secret)
            .map_err(err)
    }

    fn set_curve_client(
        &mut self,
        server: &[u8; 32],
        public: &[u8; 32],
        secret: &[u8; 32],
    ) -> BResult<()> {
        self.0
            .set_option_raw(option::CURVE_SERVERKEY, server)
            .map_err(err)?;
        self.0
            .set_option_raw(option::CURVE_PUBLICKEY, public)
            .map_err(err)?;
        self.0
            .set_option_raw(option::CURVE_SECRETKEY, secret)
            .map_err(err)
    }

    #[inline]
    fn send(&mut self, out: &Msg) -> BResult<()> {
        // A fresh copy per message, as libzmq's side does (zmq_send copies):
        // cloning one shared body would make every message bump the same
        // refcount from two threads, which no real sender does.
        self.0.send(&out[..], 0).map_err(err)
    }

    #[inline]
    fn send_copy(&mut self, data: &[u8]) -> BResult<()> {
        self.0.send_msg(Msg::copy_from_slice(data), 0).map_err(err)
    }

    #[inline]
    fn recv(&mut self, msg: &mut Vec<Msg>) -> BResult<()> {
        msg.clear();
        loop {
            let frame = self.0.recv(0).map_err(err)?;
            let more = frame.more();
            msg.push(frame);
            if !more {
                return Ok(());
            }
        }
    }

    #[inline]
    fn echo(&mut self, msg: &mut Vec<Msg>) -> BResult<()> {
        let n = msg.len();
        for (i, frame) in msg.drain(..).enumerate() {
            let flags = if i + 1 < n { SNDMORE } else { 0 };
            self.0.send_msg(frame, flags).map_err(err)?;
        }
        Ok(())
    }
}

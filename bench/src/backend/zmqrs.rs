//! zmq.rs (crate `zeromq`) behind a sync adapter: each call blocks on the
//! future from the calling thread. The "context" is a tokio runtime with
//! one worker thread, which plays the part of libzmq's single I/O thread:
//! zmq.rs's background tasks (accepting, handshakes, writers) run there
//! whether or not some socket call is in progress.

use super::{BResult, Backend, BenchError, Kind, Sock};
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use zeromq::{Socket, SocketRecv, SocketSend, ZmqError, ZmqMessage};

/// The zmq.rs backend.
pub struct Zmqrs;

enum Inner {
    Push(zeromq::PushSocket),
    Pull(zeromq::PullSocket),
    Req(zeromq::ReqSocket),
    Rep(zeromq::RepSocket),
    Pub(zeromq::PubSocket),
    Sub(zeromq::SubSocket),
    Dealer(zeromq::DealerSocket),
    Router(zeromq::RouterSocket),
}

/// A zmq.rs socket with the runtime that drives it.
pub struct ZmqrsSocket {
    rt: Arc<Runtime>,
    inner: Option<Inner>,
    timeout: Option<Duration>,
}

fn err(e: ZmqError) -> BenchError {
    BenchError::failed(format!("zmq.rs: {e}"))
}

impl Backend for Zmqrs {
    const NAME: &'static str = "zmq.rs";
    type Ctx = Arc<Runtime>;
    type Socket = ZmqrsSocket;

    fn context() -> BResult<Arc<Runtime>> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map(Arc::new)
            .map_err(|e| BenchError::failed(format!("zmq.rs: tokio runtime: {e}")))
    }

    fn socket(ctx: &Arc<Runtime>, kind: Kind) -> BResult<ZmqrsSocket> {
        // Sockets may spawn tasks when created: do it inside the runtime.
        let _guard = ctx.enter();
        let inner = match kind {
            Kind::Push => Inner::Push(zeromq::PushSocket::new()),
            Kind::Pull => Inner::Pull(zeromq::PullSocket::new()),
            Kind::Req => Inner::Req(zeromq::ReqSocket::new()),
            Kind::Rep => Inner::Rep(zeromq::RepSocket::new()),
            Kind::Pub => Inner::Pub(zeromq::PubSocket::new()),
            Kind::Sub => Inner::Sub(zeromq::SubSocket::new()),
            Kind::Dealer => Inner::Dealer(zeromq::DealerSocket::new()),
            Kind::Router => Inner::Router(zeromq::RouterSocket::new()),
        };
        Ok(ZmqrsSocket {
            rt: ctx.clone(),
            inner: Some(inner),
            timeout: None,
        })
    }

    fn proxy(mut frontend: ZmqrsSocket, mut backend: ZmqrsSocket) -> BResult<()> {
        let rt = frontend.rt.clone();
        let _guard = rt.enter();
        match (frontend.inner.take(), backend.inner.take()) {
            (Some(Inner::Router(fe)), Some(Inner::Dealer(be))) => {
                rt.block_on(zeromq::proxy(fe, be, None)).map_err(err)
            }
            _ => Err(BenchError::failed(
                "zmq.rs: the proxy runs between a ROUTER and a DEALER",
            )),
        }
    }
}

impl Drop for ZmqrsSocket {
    fn drop(&mut self) {
        // zmq.rs shuts its tasks down on drop, which needs the runtime.
        let _guard = self.rt.enter();
        self.inner = None;
    }
}

fn check_transport(endpoint: &str) -> BResult<()> {
    if endpoint.starts_with("inproc://") {
        return Err(BenchError::unsupported(
            "zmq.rs has no inproc transport".to_string(),
        ));
    }
    Ok(())
}

impl ZmqrsSocket {
    fn inner(&mut self) -> &mut Inner {
        self.inner.as_mut().expect("socket is open until dropped")
    }

    fn block<F: Future>(rt: &Runtime, f: F) -> F::Output {
        rt.block_on(f)
    }

    fn send_msg(&mut self, msg: ZmqMessage) -> BResult<()> {
        let rt = self.rt.clone();
        let r = match self.inner() {
            Inner::Push(s) => Self::block(&rt, s.send(msg)),
            Inner::Req(s) => Self::block(&rt, s.send(msg)),
            Inner::Rep(s) => Self::block(&rt, s.send(msg)),
            Inner::Pub(s) => Self::block(&rt, s.send(msg)),
            Inner::Dealer(s) => Self::block(&rt, s.send(msg)),
            Inner::Router(s) => Self::block(&rt, s.send(msg)),
            Inner::Pull(_) | Inner::Sub(_) => {
                return Err(BenchError::failed("zmq.rs: send on a receive-only socket"))
            }
        };
        r.map_err(err)
    }
}

async fn recv_with<S: SocketRecv>(
    s: &mut S,
    timeout: Option<Duration>,
) -> Result<ZmqMessage, BenchError> {
    match timeout {
        None => s.recv().await.map_err(err),
        Some(t) => match tokio::time::timeout(t, s.recv()).await {
            Ok(r) => r.map_err(err),
            Err(_) => Err(BenchError::timeout(format!(
                "zmq.rs: receive timed out after {t:?}"
            ))),
        },
    }
}

impl Sock for ZmqrsSocket {
    // A `Bytes` clone is a reference-count bump; zmq.rs wraps it in a
    // ZmqMessage per send (its API needs an owned message).
    type Out = Bytes;
    type In = Option<ZmqMessage>;

    fn prepare(data: Bytes) -> Bytes {
        data
    }

    fn new_in() -> Option<ZmqMessage> {
        None
    }

    fn frame_count(msg: &Option<ZmqMessage>) -> usize {
        msg.as_ref().map_or(0, ZmqMessage::len)
    }

    fn frame(msg: &Option<ZmqMessage>, i: usize) -> &[u8] {
        msg.as_ref()
            .and_then(|m| m.get(i))
            .expect("frame index in range")
    }

    fn bind(&mut self, endpoint: &str) -> BResult<String> {
        check_transport(endpoint)?;
        // zmq.rs spells "any port" as 0, not "*".
        let endpoint = endpoint.replace(":*", ":0");
        let rt = self.rt.clone();
        let r = match self.inner() {
            Inner::Push(s) => rt.block_on(s.bind(&endpoint)),
            Inner::Pull(s) => rt.block_on(s.bind(&endpoint)),
            Inner::Req(s) => rt.block_on(s.bind(&endpoint)),
            Inner::Rep(s) => rt.block_on(s.bind(&endpoint)),
            Inner::Pub(s) => rt.block_on(s.bind(&endpoint)),
            Inner::Sub(s) => rt.block_on(s.bind(&endpoint)),
            Inner::Dealer(s) => rt.block_on(s.bind(&endpoint)),
            Inner::Router(s) => rt.block_on(s.bind(&endpoint)),
        };
        r.map(|ep| ep.to_string()).map_err(err)
    }

    fn connect(&mut self, endpoint: &str) -> BResult<()> {
        check_transport(endpoint)?;
        let rt = self.rt.clone();
        let r = match self.inner() {
            Inner::Push(s) => rt.block_on(s.connect(endpoint)),
            Inner::Pull(s) => rt.block_on(s.connect(endpoint)),
            Inner::Req(s) => rt.block_on(s.connect(endpoint)),
            Inner::Rep(s) => rt.block_on(s.connect(endpoint)),
            Inner::Pub(s) => rt.block_on(s.connect(endpoint)),
            Inner::Sub(s) => rt.block_on(s.connect(endpoint)),
            Inner::Dealer(s) => rt.block_on(s.connect(endpoint)),
            Inner::Router(s) => rt.block_on(s.connect(endpoint)),
        };
        r.map_err(err)
    }

    fn set_recv_timeout(&mut self, ms: i32) -> BResult<()> {
        self.timeout = u64::try_from(ms).ok().map(Duration::from_millis);
        Ok(())
    }

    fn set_backlog(&mut self, _backlog: i32) -> BResult<()> {
        // No such option in zmq.rs; its listener keeps its own default.
        Ok(())
    }

    fn set_linger(&mut self, _ms: i32) -> BResult<()> {
        // No such option in zmq.rs.
        Ok(())
    }

    fn subscribe_all(&mut self) -> BResult<()> {
        let rt = self.rt.clone();
        match self.inner() {
            Inner::Sub(s) => rt.block_on(s.subscribe("")).map_err(err),
            _ => Err(BenchError::failed("zmq.rs: subscribe on a non-SUB socket")),
        }
    }

    fn set_curve_server(&mut self, _public: &[u8; 32], _secret: &[u8; 32]) -> BResult<()> {
        Err(BenchError::unsupported(
            "zmq.rs: no CURVE (only the NULL mechanism)",
        ))
    }

    fn set_curve_client(
        &mut self,
        _server: &[u8; 32],
        _public: &[u8; 32],
        _secret: &[u8; 32],
    ) -> BResult<()> {
        Err(BenchError::unsupported(
            "zmq.rs: no CURVE (only the NULL mechanism)",
        ))
    }

    #[inline]
    fn send(&mut self, out: &Bytes) -> BResult<()> {
        self.send_msg(ZmqMessage::from(out.clone()))
    }

    #[inline]
    fn send_copy(&mut self, data: &[u8]) -> BResult<()> {
        self.send_msg(ZmqMessage::from(Bytes::copy_from_slice(data)))
    }

    #[inline]
    fn recv(&mut self, msg: &mut Option<ZmqMessage>) -> BResult<()> {
        let rt = self.rt.clone();
        let t = self.timeout;
        let r = match self.inner() {
            Inner::Pull(s) => rt.block_on(recv_with(s, t)),
            Inner::Req(s) => rt.block_on(recv_with(s, t)),
            Inner::Rep(s) => rt.block_on(recv_with(s, t)),
            Inner::Sub(s) => rt.block_on(recv_with(s, t)),
            Inner::Dealer(s) => rt.block_on(recv_with(s, t)),
            Inner::Router(s) => rt.block_on(recv_with(s, t)),
            Inner::Push(_) | Inner::Pub(_) => {
                return Err(BenchError::failed("zmq.rs: recv on a send-only socket"))
            }
        };
        *msg = Some(r?);
        Ok(())
    }

    #[inline]
    fn echo(&mut self, msg: &mut Option<ZmqMessage>) -> BResult<()> {
        match msg.take() {
            Some(m) => self.send_msg(m),
            None => Err(BenchError::failed("zmq.rs: nothing to echo")),
        }
    }
}

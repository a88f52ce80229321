//! `AsyncSocket`: a [`Socket`] used with `.await`, from any runtime (the
//! documentation is on [`AsyncSocket`], which the crate exports).

use crate::error::{ErrorKind, Result};
use crate::pipe::{Wake, Waker};
use crate::{Msg, Socket, DONTWAIT, POLLOUT, SNDMORE};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

/// The tasks waiting on a socket, woken by the socket's mailbox: one
/// waiting to receive and one waiting to send. They are kept apart
/// because they can be two tasks (a `Stream` and a `Sink` half of one
/// socket, split): with one slot, the second to wait would replace the
/// first, which then never wakes.
#[derive(Default)]
struct TaskSlot {
    wakers: Mutex<[Option<std::task::Waker>; 2]>,
}

/// Which of a [`TaskSlot`]'s two wakers an operation waits with.
#[derive(Clone, Copy)]
enum Dir {
    Recv = 0,
    Send = 1,
}

impl TaskSlot {
    fn set(&self, dir: Dir, waker: &std::task::Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        match &wakers[dir as usize] {
            Some(w) if w.will_wake(waker) => {}
            _ => wakers[dir as usize] = Some(waker.clone()),
        }
    }
}

impl Wake for TaskSlot {
    /// Wakes both: any change in the socket may let either side go on.
    fn wake(&self) {
        let [recv, send] =
            std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in [recv, send].into_iter().flatten() {
            w.wake();
        }
    }
}

/// An attempt's outcome as a poll result; None if it would block.
#[inline(always)]
fn ready<T>(outcome: Result<T>) -> Option<Poll<Result<T>>> {
    match outcome {
        Ok(value) => Some(Poll::Ready(Ok(value))),
        Err(e) if e.kind() == ErrorKind::EAGAIN => None,
        Err(e) => Some(Poll::Ready(Err(e))),
    }
}

/// A [`Socket`] with async operations, and a `Stream` of messages and a
/// `Sink` of messages, usable from any runtime. It is `Send`: it may move
/// between tasks and threads; one task uses it at a time, as a `Socket`,
/// except that the `Stream` and `Sink` halves of a split one
/// (`StreamExt::split`) may wait in two tasks, one receiving and one
/// sending.
///
/// No runtime is involved: the socket's mailbox (the thing a blocked
/// `recv` sleeps on) wakes the task's `Waker` directly, so there is no
/// poll loop and no helper thread. Each operation tries the socket without
/// blocking; when it would block, the task's waker is registered and the
/// operation is tried once more before returning `Pending`, so no wake-up
/// is lost in between.
///
/// A receive on a socket that sent since it last waited (a REQ awaiting
/// its reply, a DEALER in a request/reply loop) and whose peers are all
/// inproc looks for the answer for up to 20 µs before it returns
/// `Pending`, as a blocking receive does before it sleeps: a reply that
/// quick then arrives without the runtime parking and waking the thread
/// (tens of µs on a virtual machine), and the runtime's thread is held no
/// longer than that. Over tcp and ipc no reply comes that fast, so there
/// is no spin.
///
/// Cancellation: every operation completes within one `poll`, or does
/// nothing. Dropping a `recv` future never loses a message (none was
/// taken), and dropping a `send` future either sent the whole multipart
/// message or none of it: the frames of one message are all handed to the
/// socket in the same `poll` (after its first frame is accepted the rest
/// never block: frames travel whole). Through the `Sink`, a message
/// handed over (`start_send`) is the socket's: if the future that handed it
/// over (`SinkExt::send`) is dropped before it was flushed, it is sent
/// whole by the next `poll_ready` or `poll_flush`, never partly or twice.
/// The single-frame [`send`](AsyncSocket::send) is all-or-nothing per
/// frame; a message built from several of them is only as whole as the
/// caller makes it.
///
/// ```
/// use ferromq::{AsyncSocket, Context, SocketType};
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     // A minimal executor for the example; use tokio, smol, ...
/// #     use std::task::{Context as Cx, Poll, Wake, Waker};
/// #     struct Unpark(std::thread::Thread);
/// #     impl Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
/// #     let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Cx::from_waker(&waker)) { return v; }
/// #         std::thread::park();
/// #     }
/// # }
/// let ctx = Context::new();
/// let mut server = AsyncSocket::new(ctx.socket(SocketType::Rep)?);
/// server.get_ref().bind("inproc://async-doc")?;
/// let mut client = AsyncSocket::new(ctx.socket(SocketType::Req)?);
/// client.get_ref().connect("inproc://async-doc")?;
/// block_on(async {
///     client.send_multipart(["Hello"]).await?;
///     let request = server.recv_multipart().await?;
///     assert_eq!(&request[0][..], b"Hello");
///     server.send_multipart(["World"]).await?;
///     assert_eq!(&client.recv().await?[..], b"World");
///     Ok::<(), ferromq::Error>(())
/// })?;
/// # Ok::<(), ferromq::Error>(())
/// ```
pub struct AsyncSocket {
    /// Always Some; None only inside `into_inner`.
    socket: Option<Socket>,
    slot: Arc<TaskSlot>,
    /// The wake source registered with the socket's mailbox.
    watcher: Waker,
    /// A message given to the `Sink` and not yet accepted by the socket.
    outgoing: Option<Vec<Msg>>,
}

impl AsyncSocket {
    /// Wraps `socket`. Its RCVTIMEO and SNDTIMEO do not apply: time out
    /// with the runtime's own timers.
    pub fn new(socket: Socket) -> AsyncSocket {
        let slot = Arc::new(TaskSlot::default());
        let watcher: Waker = slot.clone();
        socket.watch(watcher.clone());
        AsyncSocket {
            socket: Some(socket),
            slot,
            watcher,
            outgoing: None,
        }
    }

    /// The socket, for bind, connect, options, statistics.
    pub fn get_ref(&self) -> &Socket {
        self.socket
            .as_ref()
            .expect("an AsyncSocket holds its socket")
    }

    /// The socket back, for blocking use.
    pub fn into_inner(mut self) -> Socket {
        let socket = self.socket.take().expect("an AsyncSocket holds its socket");
        socket.unwatch(&self.watcher);
        socket
    }

    /// Runs `attempt` now; if it would block, registers the task and runs
    /// it once more (a wake between the two is then not lost).
    #[inline(always)]
    fn poll_op<T>(
        &mut self,
        cx: &mut TaskContext<'_>,
        dir: Dir,
        mut attempt: impl FnMut(&Socket) -> Result<T>,
    ) -> Poll<Result<T>> {
        let socket = self.get_ref();
        if let Some(done) = ready(attempt(socket)) {
            return done;
        }
        // A reply that is microseconds away is cheaper to catch here than
        // through the runtime's park and wake-up (the sync receive does the
        // same before it sleeps).
        if matches!(dir, Dir::Recv) && socket.spin_for_reply() {
            if let Some(done) = ready(attempt(socket)) {
                return done;
            }
        }
        self.slot.set(dir, cx.waker());
        ready(attempt(socket)).unwrap_or(Poll::Pending)
    }

    /// Polls for one frame (see [`recv`](AsyncSocket::recv)).
    #[inline]
    pub fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Msg>> {
        self.poll_op(cx, Dir::Recv, |s| s.recv(DONTWAIT))
    }

    /// Polls for a whole message (see
    /// [`recv_multipart`](AsyncSocket::recv_multipart)).
    pub fn poll_recv_multipart(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Vec<Msg>>> {
        // The first frame is taken only when there is one; the rest of its
        // message is there already.
        self.poll_op(cx, Dir::Recv, |s| s.recv_multipart_msgs(DONTWAIT))
    }

    /// Polls to send a whole message, taking it from `parts` only when the
    /// socket accepts it (see [`send_multipart`](AsyncSocket::send_multipart)).
    pub fn poll_send_multipart(
        &mut self,
        cx: &mut TaskContext<'_>,
        parts: &mut Option<Vec<Msg>>,
    ) -> Poll<Result<()>> {
        self.poll_op(cx, Dir::Send, |s| send_whole(s, parts))
    }

    /// Receives one frame ([`Msg::more`] tells whether more follow).
    pub fn recv(&mut self) -> RecvFrame<'_> {
        RecvFrame { socket: self }
    }

    /// Receives a whole multipart message.
    pub async fn recv_multipart(&mut self) -> Result<Vec<Msg>> {
        poll_fn(|cx| self.poll_recv_multipart(cx)).await
    }

    /// Sends one frame; `flags` may hold [`SNDMORE`] (DONTWAIT is implied:
    /// the future waits instead of blocking).
    pub fn send(&mut self, data: impl Into<Msg>, flags: i32) -> SendFrame<'_> {
        SendFrame {
            socket: self,
            frame: data.into(),
            flags: flags | DONTWAIT,
            sent: false,
        }
    }

    /// Sends every part as one message: all of it, or (if the future is
    /// dropped before it completes) none of it.
    pub async fn send_multipart<I, T>(&mut self, parts: I) -> Result<()>
    where
        I: IntoIterator<Item = T>,
        T: Into<Msg>,
    {
        let mut parts = Some(parts.into_iter().map(Into::into).collect::<Vec<Msg>>());
        poll_fn(|cx| self.poll_send_multipart(cx, &mut parts)).await
    }
}

/// The future of [`AsyncSocket::recv`]: one frame.
#[must_use = "futures do nothing unless polled"]
pub struct RecvFrame<'a> {
    socket: &'a mut AsyncSocket,
}

impl Future for RecvFrame<'_> {
    type Output = Result<Msg>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<Msg>> {
        self.get_mut().socket.poll_recv(cx)
    }
}

/// The future of [`AsyncSocket::send`]: one frame, sent whole or not at
/// all (see [`AsyncSocket`] on cancellation).
///
/// A named future rather than an `async fn`: the generated state machine
/// moved the frame (80 bytes with an inline body) several more times, about
/// 22 instructions per message of an inproc sender's 565.
#[must_use = "futures do nothing unless polled"]
pub struct SendFrame<'a> {
    socket: &'a mut AsyncSocket,
    /// The frame until the socket takes it; an empty one after. Not an
    /// `Option`: taking the frame out of one moved its first 71 bytes in
    /// pieces, one of which straddled two of the stores that wrote the
    /// frame, and the wait that costs was most of this future's time.
    frame: Msg,
    flags: i32,
    sent: bool,
}

impl Future for SendFrame<'_> {
    type Output = Result<()>;

    // Always inlined into the awaiting state machine: called, it returned
    // its result through memory, written in 8-byte stores that the
    // caller's 16-byte read then waited on (perf: close to half the
    // sending loop's own samples; callgrind: 26 instructions per message).
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<()>> {
        let SendFrame {
            socket,
            frame,
            flags,
            sent,
        } = self.get_mut();
        let flags = *flags;
        socket.poll_op(cx, Dir::Send, |s| {
            if *sent {
                return Ok(());
            }
            let m = std::mem::take(frame);
            match s.send_msg_or_return(m, flags) {
                Ok(()) => {
                    *sent = true;
                    Ok(())
                }
                Err((e, back)) => {
                    *frame = back;
                    Err(e)
                }
            }
        })
    }
}

/// Sends `parts` whole, or leaves them all in place (EAGAIN before the
/// first frame is accepted).
fn send_whole(socket: &Socket, parts: &mut Option<Vec<Msg>>) -> Result<()> {
    let Some(frames) = parts.as_mut() else {
        return Ok(());
    };
    if frames.is_empty() {
        *parts = None;
        return Err(crate::Error::inval("a message needs at least one part"));
    }
    let last = frames.len() - 1;
    let first = std::mem::take(&mut frames[0]);
    let more = if last > 0 { SNDMORE } else { 0 };
    if let Err((e, back)) = socket.send_msg_or_return(first, DONTWAIT | more) {
        frames[0] = back;
        return Err(e);
    }
    let frames = parts.take().unwrap_or_default();
    for (i, frame) in frames.into_iter().enumerate().skip(1) {
        let more = if i < last { SNDMORE } else { 0 };
        // After the first frame the socket takes the rest of the message
        // without blocking (frames travel whole); waiting here would only
        // be needed if a peer vanished mid-message, which drops it anyway.
        socket.send_msg(frame, more)?;
    }
    Ok(())
}

impl Drop for AsyncSocket {
    fn drop(&mut self) {
        if let Some(socket) = &self.socket {
            socket.unwatch(&self.watcher);
        }
    }
}

impl futures_core::Stream for AsyncSocket {
    type Item = Result<Vec<Msg>>;

    /// Whole messages; the stream ends when the context is terminated.
    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().poll_recv_multipart(cx) {
            Poll::Ready(Err(e)) if e.kind() == ErrorKind::ETERM => Poll::Ready(None),
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl futures_sink::Sink<Vec<Msg>> for AsyncSocket {
    type Error = crate::Error;

    /// Ready once the previous message is with the socket and it can take
    /// another.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.outgoing.is_some() {
            let mut outgoing = this.outgoing.take();
            let r = this.poll_send_multipart(cx, &mut outgoing);
            this.outgoing = outgoing;
            if !matches!(r, Poll::Ready(Ok(()))) {
                return r;
            }
        }
        this.poll_op(cx, Dir::Send, |s| {
            if s.events()? & POLLOUT != 0 {
                Ok(())
            } else {
                Err(crate::Error::new(ErrorKind::EAGAIN, "no room to send"))
            }
        })
    }

    fn start_send(self: Pin<&mut Self>, item: Vec<Msg>) -> Result<()> {
        let this = self.get_mut();
        match &mut this.outgoing {
            None => this.outgoing = Some(item),
            // poll_ready was not awaited: queue behind the previous one by
            // sending that one first is not possible without a context.
            Some(_) => {
                return Err(crate::Error::inval(
                    "Sink::start_send without poll_ready after the previous message",
                ))
            }
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let mut outgoing = this.outgoing.take();
        let r = this.poll_send_multipart(cx, &mut outgoing);
        this.outgoing = outgoing;
        r
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn sockets_and_their_futures_can_move_between_threads() {
        let ctx = crate::Context::new();
        let mut s = AsyncSocket::new(ctx.socket(crate::SocketType::Pair).unwrap());
        assert_send(&s);
        assert_send(&s.recv());
        assert_send(&s.recv_multipart());
        assert_send(&s.send("x", 0));
        assert_send(&s.send_multipart(["a", "b"]));
    }

    /// A waker that records being woken and unparks the test thread.
    struct Flag {
        woken: std::sync::atomic::AtomicBool,
        thread: std::thread::Thread,
    }

    impl std::task::Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, std::sync::atomic::Ordering::SeqCst);
            self.thread.unpark();
        }
    }

    fn flag() -> Arc<Flag> {
        Arc::new(Flag {
            woken: false.into(),
            thread: std::thread::current(),
        })
    }

    /// Waits (bounded) for `flag` to be woken; false if it never was.
    fn woken_within(flag: &Flag, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while !flag.woken.load(std::sync::atomic::Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::park_timeout(left);
        }
        true
    }

    #[test]
    fn a_receiving_task_and_a_sending_task_are_both_woken() {
        // The halves of a split socket (StreamExt::split) wait in two
        // tasks with two wakers: one for a message to arrive, one for room
        // to send. A message arriving must wake the receiving task even
        // though the sending one began waiting after it.
        let ctx = crate::Context::new();
        let a = ctx.socket(crate::SocketType::Pair).unwrap();
        a.set_sndhwm(1).unwrap();
        a.bind("inproc://two-tasks").unwrap();
        let b = ctx.socket(crate::SocketType::Pair).unwrap();
        b.set_rcvhwm(1).unwrap();
        b.connect("inproc://two-tasks").unwrap();
        let mut a = AsyncSocket::new(a);

        let reader = flag();
        let reader_waker = std::task::Waker::from(reader.clone());
        let mut reader_cx = TaskContext::from_waker(&reader_waker);
        assert!(a.poll_recv(&mut reader_cx).is_pending());

        let writer = flag();
        let writer_waker = std::task::Waker::from(writer.clone());
        let mut writer_cx = TaskContext::from_waker(&writer_waker);
        let mut sent = 0;
        loop {
            let mut msg = Some(vec![Msg::from("to b")]);
            match a.poll_send_multipart(&mut writer_cx, &mut msg) {
                Poll::Ready(Ok(())) => sent += 1,
                Poll::Pending => break,
                Poll::Ready(Err(e)) => panic!("send: {e}"),
            }
            assert!(sent < 100, "the HWM never stopped the sender");
        }

        b.send("to a", 0).unwrap();
        let limit = std::time::Duration::from_secs(10);
        assert!(
            woken_within(&reader, limit),
            "a message arrived and the receiving task was never woken"
        );
        match a.poll_recv(&mut reader_cx) {
            Poll::Ready(Ok(m)) => assert_eq!(&m[..], b"to a"),
            other => panic!("woken, then {:?}", other.map(|r| r.map(|m| m.to_vec()))),
        }

        // And room made by the peer wakes the sending one.
        b.recv(0).unwrap();
        assert!(
            woken_within(&writer, limit),
            "room to send and the sending task was never woken"
        );
    }

    #[test]
    fn into_inner_gives_the_socket_back_unwatched() {
        let ctx = crate::Context::new();
        let a = AsyncSocket::new(ctx.socket(crate::SocketType::Pair).unwrap());
        let socket = a.into_inner();
        socket.bind("inproc://into-inner").unwrap();
    }
}

//! AsyncSocket under real runtimes: each test below is written once, as an
//! async fn given the runtime's `sleep` and `spawn` (an [`Rt`]), and runs
//! under tokio's multi-thread scheduler, tokio's current-thread scheduler
//! and smol (modules `tokio_multi_thread`, `tokio_current_thread`, `smol`).
//! Tests that depend on the transport run over tcp, ipc and inproc.
//!
//! Every wait is bounded twice: by the runtime's own timer ([`within`]),
//! and by a watchdog thread around the whole test ([`run`]), which catches
//! what a timer cannot (a task that blocks its thread).

mod common;

use common::{TempDir, Transport};
use ferromq::{AsyncSocket, Context, Msg, SocketType};
use futures_util::future::{self, Either};
use futures_util::{SinkExt, StreamExt};
use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::time::{Duration, Instant};

/// How long any one wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);
/// How long a whole test may take before the watchdog fails it.
const WATCHDOG: Duration = Duration::from_secs(40);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A runtime: what the tests need of one.
#[derive(Clone, Copy, Debug)]
enum Rt {
    TokioMultiThread,
    TokioCurrentThread,
    Smol,
}

impl Rt {
    fn sleep(self, d: Duration) -> BoxFuture<()> {
        match self {
            Rt::TokioMultiThread | Rt::TokioCurrentThread => Box::pin(tokio::time::sleep(d)),
            Rt::Smol => Box::pin(async move {
                ::smol::Timer::after(d).await;
            }),
        }
    }

    /// Spawns a task; the future returned gives its output (or its panic).
    fn spawn<T: Send + 'static>(
        self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> BoxFuture<T> {
        match self {
            Rt::TokioMultiThread | Rt::TokioCurrentThread => {
                let handle = tokio::spawn(task);
                Box::pin(async move {
                    match handle.await {
                        Ok(v) => v,
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        Err(e) => panic!("task failed: {e}"),
                    }
                })
            }
            Rt::Smol => Box::pin(::smol::spawn(task)),
        }
    }

    fn block_on<F: Future>(self, f: F) -> F::Output {
        match self {
            Rt::TokioMultiThread => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(f),
            Rt::TokioCurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f),
            Rt::Smol => ::smol::block_on(f),
        }
    }
}

/// Runs `test` on `rt` in a thread of its own, failing if it panics or
/// takes longer than WATCHDOG.
fn run<F, Fut>(rt: Rt, test: F)
where
    F: FnOnce(Rt) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (done, finished) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        rt.block_on(test(rt));
        let _ = done.send(());
    });
    match finished.recv_timeout(WATCHDOG) {
        Ok(()) => thread.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The test panicked: show its panic.
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{rt:?}: the test did not finish within {WATCHDOG:?} (a blocked thread?)")
        }
    }
}

/// `fut`'s output, or a failure naming `what` after WAIT.
async fn within<T>(rt: Rt, what: &str, fut: impl Future<Output = T>) -> T {
    match future::select(pin!(fut), rt.sleep(WAIT)).await {
        Either::Left((v, _)) => v,
        Either::Right(((), _)) => panic!("{rt:?}: timed out waiting for {what}"),
    }
}

/// Runs `op` against a timer of `timeout`, either polled first (so a
/// timer that has expired wins even when `op` is ready, and `op` is
/// dropped): `op`'s output, or None when the timer won.
async fn race<T>(
    rt: Rt,
    timer_first: bool,
    timeout: Duration,
    op: impl Future<Output = T>,
) -> Option<T> {
    let op = pin!(op);
    if timer_first {
        match future::select(rt.sleep(timeout), op).await {
            Either::Left(_) => None,
            Either::Right((v, _)) => Some(v),
        }
    } else {
        match future::select(op, rt.sleep(timeout)).await {
            Either::Left((v, _)) => Some(v),
            Either::Right(_) => None,
        }
    }
}

/// xorshift64*: random intervals, seeded per test so runs are repeatable
/// up to scheduling.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    fn micros(&mut self, max: u64) -> Duration {
        Duration::from_micros(self.below(max + 1))
    }
}

/// Endpoints for a test: tcp on 127.0.0.1, ipc in a private temporary
/// directory, fresh inproc names.
struct Endpoints {
    dir: TempDir,
    next: u32,
}

impl Endpoints {
    fn new() -> Endpoints {
        Endpoints {
            dir: TempDir::new(),
            next: 0,
        }
    }

    /// Binds `socket` on `tr`; the endpoint to connect to.
    fn bind(&mut self, socket: &AsyncSocket, tr: Transport) -> String {
        self.next += 1;
        let ep = match tr {
            Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
            Transport::Ipc => format!("ipc://{}/s{}", self.dir.path().display(), self.next),
            Transport::Inproc => tr.any_endpoint(),
        };
        socket.get_ref().bind(&ep).unwrap();
        socket.get_ref().last_endpoint().unwrap()
    }
}

fn socket(ctx: &Context, t: SocketType) -> AsyncSocket {
    let s = ctx.socket(t).unwrap();
    s.set_linger(0).unwrap();
    AsyncSocket::new(s)
}

fn text(m: &Msg) -> &str {
    m.as_str().expect("a text frame")
}

fn texts(parts: &[Msg]) -> Vec<&str> {
    parts.iter().map(text).collect()
}

// --- cancellation ------------------------------------------------------------

/// `recv()` raced against short timers, the timer polled first half the
/// time (so recv futures that were woken for a message get dropped too),
/// while a task sends numbered messages at random intervals: each message
/// arrives exactly once, in order.
async fn recv_cancelled_by_timers_loses_nothing(rt: Rt, tr: Transport) {
    const N: u32 = 400;
    let ctx = Context::new();
    let mut eps = Endpoints::new();
    let mut pull = socket(&ctx, SocketType::Pull);
    let ep = eps.bind(&pull, tr);
    let mut push = socket(&ctx, SocketType::Push);
    push.get_ref().connect(&ep).unwrap();

    let sender = rt.spawn(async move {
        let mut rng = Rng::new(1);
        for i in 0..N {
            within(rt, "send", push.send(i.to_string(), 0))
                .await
                .unwrap();
            if rng.below(3) == 0 {
                rt.sleep(rng.micros(1500)).await;
            }
        }
        push
    });

    let mut rng = Rng::new(2);
    let (mut next, mut cancelled) = (0, 0u32);
    let start = Instant::now();
    while next < N {
        let timer_first = rng.below(2) == 0;
        match race(rt, timer_first, rng.micros(1000), pull.recv()).await {
            Some(msg) => {
                let msg = msg.unwrap();
                assert!(!msg.more());
                assert_eq!(text(&msg), next.to_string(), "{cancelled} cancelled so far");
                next += 1;
            }
            None => cancelled += 1,
        }
        assert!(start.elapsed() < WAIT, "{rt:?}: got {next} of {N}");
    }
    let _push = within(rt, "the sender", sender).await;
    assert!(cancelled > 0, "no recv was ever cancelled");
    // Nothing more, and nothing twice.
    assert!(race(rt, false, Duration::from_millis(20), pull.recv())
        .await
        .is_none());
}

/// The same with whole messages, through the `Stream` (`next()` raced
/// against timers) from a `Sink` (`send()`): every message whole, once,
/// in order.
async fn stream_next_cancelled_by_timers_loses_nothing(rt: Rt, tr: Transport) {
    const N: u32 = 300;
    let ctx = Context::new();
    let mut eps = Endpoints::new();
    let mut pull = socket(&ctx, SocketType::Pull);
    let ep = eps.bind(&pull, tr);
    let mut push = socket(&ctx, SocketType::Push);
    push.get_ref().connect(&ep).unwrap();

    let sender = rt.spawn(async move {
        let mut rng = Rng::new(3);
        for i in 0..N {
            let parts = vec![
                Msg::from(i.to_string()),
                Msg::from("-"),
                Msg::from(i.to_string()),
            ];
            within(rt, "Sink::send", SinkExt::send(&mut push, parts))
                .await
                .unwrap();
            if rng.below(3) == 0 {
                rt.sleep(rng.micros(1500)).await;
            }
        }
        within(rt, "Sink::close", push.close()).await.unwrap();
        push
    });

    let mut rng = Rng::new(4);
    let (mut next, mut cancelled) = (0, 0u32);
    let start = Instant::now();
    while next < N {
        let timer_first = rng.below(2) == 0;
        match race(rt, timer_first, rng.micros(1000), pull.next()).await {
            Some(item) => {
                let parts = item.expect("the stream goes on").unwrap();
                let n = next.to_string();
                assert_eq!(texts(&parts), [n.as_str(), "-", n.as_str()]);
                next += 1;
            }
            None => cancelled += 1,
        }
        assert!(start.elapsed() < WAIT, "{rt:?}: got {next} of {N}");
    }
    let _push = within(rt, "the sender", sender).await;
    assert!(cancelled > 0, "no next() was ever cancelled");
    assert!(race(rt, false, Duration::from_millis(20), pull.next())
        .await
        .is_none());
}

/// One message of the send test: four frames that all carry its number,
/// one of them large (so a few fill a tcp connection's small buffers).
fn numbered_message(n: u32) -> Vec<Msg> {
    let mut big = format!("{n}:").into_bytes();
    big.resize(8192, b'.');
    vec![
        Msg::from(n.to_string()),
        Msg::from(format!("{n}:a")),
        Msg::from(big),
        Msg::from(format!("{n}:z")),
    ]
}

/// The number of a message made by [`numbered_message`], checking that
/// it is whole.
fn check_numbered(parts: &[Msg]) -> u32 {
    assert_eq!(
        parts.len(),
        4,
        "a partial message: {:?}",
        texts(&parts[..1])
    );
    let n: u32 = text(&parts[0]).parse().unwrap();
    assert_eq!(text(&parts[1]), format!("{n}:a"));
    assert_eq!(parts[2].len(), 8192);
    assert!(parts[2].starts_with(format!("{n}:").as_bytes()));
    assert_eq!(text(&parts[3]), format!("{n}:z"));
    n
}

/// The sends of [`send_cancelled_at_hwm_is_all_or_nothing`].
#[derive(Default)]
struct SendAttempts {
    next_id: u32,
    /// The messages whose send completed, in order.
    completed: Vec<u32>,
    cancelled: u32,
    /// Sends that waited for room, were woken and completed.
    completed_after_waiting: u32,
}

impl SendAttempts {
    /// Sends the next message, racing a timer of `timeout`.
    async fn attempt(&mut self, rt: Rt, rng: &mut Rng, push: &mut AsyncSocket, timeout: Duration) {
        let id = self.next_id;
        self.next_id += 1;
        let polls = Cell::new(0u32);
        let mut send = pin!(push.send_multipart(numbered_message(id)));
        let counted = std::future::poll_fn(|cx| {
            polls.set(polls.get() + 1);
            send.as_mut().poll(cx)
        });
        match race(rt, rng.below(2) == 0, timeout, counted).await {
            Some(r) => {
                r.unwrap();
                self.completed.push(id);
                if polls.get() > 1 {
                    self.completed_after_waiting += 1;
                }
            }
            None => self.cancelled += 1,
        }
    }
}

/// `send_multipart` of four-frame messages at the HWM, cancelled by
/// timers over and over (first with nobody reading, then with a slow
/// reader): what arrives is exactly the messages whose send completed,
/// each whole, in order; none partial, none twice.
async fn send_cancelled_at_hwm_is_all_or_nothing(rt: Rt, tr: Transport) {
    let ctx = Context::new();
    let mut eps = Endpoints::new();
    let mut pull = socket(&ctx, SocketType::Pull);
    pull.get_ref().set_rcvhwm(2).unwrap();
    pull.get_ref().set_rcvbuf(4096).unwrap();
    let ep = eps.bind(&pull, tr);
    let mut push = socket(&ctx, SocketType::Push);
    push.get_ref().set_sndhwm(2).unwrap();
    push.get_ref().set_sndbuf(4096).unwrap();
    push.get_ref().connect(&ep).unwrap();

    let mut rng = Rng::new(5);
    let mut st = SendAttempts::default();
    let start = Instant::now();

    // Nobody reads: the queue fills, then every send is cancelled.
    while st.cancelled < 20 {
        let timeout = rng.micros(2000);
        st.attempt(rt, &mut rng, &mut push, timeout).await;
        assert!(
            start.elapsed() < WAIT,
            "{rt:?}: the HWM never held the sender back ({} sent)",
            st.completed.len()
        );
    }
    let before_reader = st.completed.len();

    // A reader that takes its time; the sender keeps trying, now and then
    // with a timer long enough for room to come.
    let reader = rt.spawn(async move {
        let mut rng = Rng::new(6);
        let mut got = Vec::new();
        loop {
            let parts = within(rt, "a message at the PULL", pull.recv_multipart())
                .await
                .unwrap();
            if parts.len() == 1 && text(&parts[0]) == "END" {
                return (pull, got);
            }
            got.push(check_numbered(&parts));
            if rng.below(2) == 0 {
                rt.sleep(rng.micros(1000)).await;
            }
        }
    });
    for _ in 0..150 {
        let timeout = if rng.below(4) == 0 {
            Duration::from_millis(200)
        } else {
            rng.micros(2000)
        };
        st.attempt(rt, &mut rng, &mut push, timeout).await;
    }
    within(rt, "the end marker", push.send_multipart(["END"]))
        .await
        .unwrap();
    let (_pull, received) = within(rt, "the reader", reader).await;

    assert_eq!(
        received, st.completed,
        "received (left) must be exactly the sends that completed (right)"
    );
    assert!(st.cancelled > 20, "{} cancelled", st.cancelled);
    assert!(
        st.completed.len() > before_reader,
        "no send completed once the reader read"
    );
    assert!(
        st.completed_after_waiting > 0,
        "no send ever waited for room and then completed"
    );
}

// --- many sockets, many tasks, moving sockets ----------------------------------

/// One task, no spawning: three REP servers (tcp, ipc, inproc) served by
/// one loop that waits on all of them at once (`select_all`: the losers'
/// recv futures are dropped every time), and six REQ clients driven by
/// `join` in the same task.
async fn one_task_drives_many_sockets(rt: Rt) {
    const ROUNDS: usize = 20;
    let ctx = Context::new();
    let mut eps = Endpoints::new();
    let mut servers = Vec::new();
    let mut clients = Vec::new();
    for tr in [Transport::Tcp, Transport::Ipc, Transport::Inproc] {
        let server = socket(&ctx, SocketType::Rep);
        let ep = eps.bind(&server, tr);
        servers.push(server);
        for _ in 0..2 {
            let client = socket(&ctx, SocketType::Req);
            client.get_ref().connect(&ep).unwrap();
            clients.push((clients.len(), servers.len() - 1, client));
        }
    }
    let total = clients.len() * ROUNDS;

    let serve = async {
        let mut served = vec![0usize; servers.len()];
        while served.iter().sum::<usize>() < total {
            let (request, i) = {
                let waits = servers.iter_mut().map(|s| Box::pin(s.recv_multipart()));
                let (request, i, _others) = future::select_all(waits).await;
                (request.unwrap(), i)
            };
            served[i] += 1;
            let reply = format!("{} from {i}", text(&request[0]));
            servers[i].send_multipart([reply]).await.unwrap();
        }
        served
    };
    let ask = future::join_all(clients.iter_mut().map(|(c, server, client)| async move {
        for k in 0..ROUNDS {
            client.send_multipart([format!("{c} {k}")]).await.unwrap();
            let reply = client.recv_multipart().await.unwrap();
            assert_eq!(texts(&reply), [format!("{c} {k} from {server}")]);
        }
    }));
    let (served, _) = within(rt, "all the round trips", future::join(serve, ask)).await;
    assert_eq!(served, vec![2 * ROUNDS; 3]);
}

/// A task per socket: a ROUTER in one task and eight DEALERs in eight
/// more, each doing round trips through its `Sink` and `Stream`.
async fn a_task_per_socket(rt: Rt) {
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 25;
    let ctx = Context::new();
    let mut eps = Endpoints::new();
    let mut router = socket(&ctx, SocketType::Router);
    let ep = eps.bind(&router, Transport::Tcp);
    let server = rt.spawn(async move {
        for _ in 0..CLIENTS * ROUNDS {
            let mut parts = within(rt, "a request", router.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(parts.len(), 2);
            let body = format!("{}!", text(&parts[1]));
            parts[1] = Msg::from(body);
            within(rt, "room for a reply", SinkExt::send(&mut router, parts))
                .await
                .unwrap();
        }
        router
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut dealer = socket(&ctx, SocketType::Dealer);
            dealer.get_ref().connect(&ep).unwrap();
            rt.spawn(async move {
                for k in 0..ROUNDS {
                    let request = format!("{c}.{k}");
                    within(
                        rt,
                        "send",
                        SinkExt::send(&mut dealer, vec![Msg::from(&request)]),
                    )
                    .await
                    .unwrap();
                    let reply = within(rt, "a reply", dealer.next()).await.unwrap().unwrap();
                    assert_eq!(texts(&reply), [format!("{request}!")]);
                }
                dealer
            })
        })
        .collect();
    let _dealers = within(rt, "the clients", future::join_all(clients)).await;
    let _router = within(rt, "the server", server).await;
}

/// Receives from `pull` while numbered messages keep coming, from
/// `*next` up to `until`.
async fn receive_numbered(rt: Rt, pull: &mut AsyncSocket, next: &mut u32, until: u32) {
    while *next < until {
        let msg = within(rt, "the next message", pull.recv()).await.unwrap();
        assert_eq!(text(&msg), next.to_string());
        *next += 1;
    }
}

/// A socket moved into a spawned task, from there through a channel to
/// another task, and back through another channel, while messages keep
/// arriving; the sending socket moves on to a second task half way. No
/// message is lost or repeated on the way.
async fn sockets_move_between_tasks(rt: Rt) {
    const N: u32 = 300;
    let ctx = Context::new();
    let mut eps = Endpoints::new();
    let mut pull = socket(&ctx, SocketType::Pull);
    let ep = eps.bind(&pull, Transport::Tcp);
    let push = socket(&ctx, SocketType::Push);
    push.get_ref().connect(&ep).unwrap();

    let send = |mut push: AsyncSocket, range: std::ops::Range<u32>, seed| async move {
        let mut rng = Rng::new(seed);
        for i in range {
            within(rt, "send", push.send(i.to_string(), 0))
                .await
                .unwrap();
            if rng.below(4) == 0 {
                rt.sleep(rng.micros(500)).await;
            }
        }
        push
    };
    let first_sender = rt.spawn(send(push, 0..N / 2, 7));

    let (to_b, mut at_b) = tokio::sync::mpsc::channel::<(AsyncSocket, u32)>(1);
    let (to_main, at_main) = tokio::sync::oneshot::channel::<(AsyncSocket, u32)>();
    let task_a = rt.spawn(async move {
        let mut next = 0;
        receive_numbered(rt, &mut pull, &mut next, N / 3).await;
        to_b.send((pull, next)).await.ok().unwrap();
    });
    let task_b = rt.spawn(async move {
        let (mut pull, mut next) = at_b.recv().await.unwrap();
        receive_numbered(rt, &mut pull, &mut next, 2 * N / 3).await;
        to_main.send((pull, next)).ok().unwrap();
    });

    let push = within(rt, "the first sender", first_sender).await;
    let second_sender = rt.spawn(send(push, N / 2..N, 8));
    let (mut pull, mut next) = within(rt, "the socket back", at_main).await.unwrap();
    receive_numbered(rt, &mut pull, &mut next, N).await;
    within(rt, "task a", task_a).await;
    within(rt, "task b", task_b).await;
    let _push = within(rt, "the second sender", second_sender).await;
    assert!(race(rt, false, Duration::from_millis(20), pull.recv())
        .await
        .is_none());
}

/// The `Sink` and `Stream` halves of one DEALER (`StreamExt::split`) in
/// two tasks, the sending half often blocked at a small HWM while the
/// receiving half waits for replies: both must be woken.
async fn split_halves_work_in_two_tasks(rt: Rt) {
    const N: u32 = 300;
    let ctx = Context::new();
    let mut eps = Endpoints::new();
    let mut router = socket(&ctx, SocketType::Router);
    router.get_ref().set_sndhwm(2).unwrap();
    router.get_ref().set_rcvhwm(2).unwrap();
    // Wait for room rather than drop at the HWM, as a ROUTER would.
    router.get_ref().set_router_mandatory(true).unwrap();
    let ep = eps.bind(&router, Transport::Tcp);
    let dealer = socket(&ctx, SocketType::Dealer);
    dealer.get_ref().set_sndhwm(1).unwrap();
    dealer.get_ref().set_rcvhwm(1).unwrap();
    dealer.get_ref().connect(&ep).unwrap();

    let echo = rt.spawn(async move {
        let mut rng = Rng::new(9);
        for k in 0..N {
            let parts = within(rt, &format!("request {k}"), router.recv_multipart())
                .await
                .unwrap();
            if rng.below(3) == 0 {
                rt.sleep(rng.micros(500)).await;
            }
            within(
                rt,
                &format!("room for echo {k}"),
                router.send_multipart(parts),
            )
            .await
            .unwrap();
        }
        router
    });
    let (mut sink, mut stream) = dealer.split();
    let receiver = rt.spawn(async move {
        for i in 0..N {
            let reply = within(rt, &format!("echo {i}"), stream.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(texts(&reply), [i.to_string()]);
        }
        stream
    });
    for i in 0..N {
        within(
            rt,
            &format!("room to send request {i}"),
            sink.send(vec![Msg::from(i.to_string())]),
        )
        .await
        .unwrap();
    }
    // The echo first: should either task stall, its own timer then names
    // the message it was waiting for.
    let _router = within(rt, "the echo task", echo).await;
    let _stream = within(rt, "the receiving half", receiver).await;
}

/// The `Stream` ends (None) when the context is shut down.
async fn stream_ends_when_the_context_shuts_down(rt: Rt) {
    let ctx = Context::new();
    let mut sub = socket(&ctx, SocketType::Pull);
    sub.get_ref().bind("inproc://stream-end").unwrap();
    let mut push = socket(&ctx, SocketType::Push);
    push.get_ref().connect("inproc://stream-end").unwrap();
    let (seen, mut got) = tokio::sync::mpsc::unbounded_channel();
    let consumer = rt.spawn(async move {
        let mut n = 0;
        while let Some(parts) = sub.next().await {
            parts.unwrap();
            n += 1;
            seen.send(n).unwrap();
        }
        n
    });
    for _ in 0..3 {
        push.send_multipart(["x"]).await.unwrap();
    }
    for i in 1..=3 {
        assert_eq!(within(rt, "a message seen", got.recv()).await, Some(i));
    }
    ctx.shutdown();
    assert_eq!(within(rt, "the stream's end", consumer).await, 3);
    assert_eq!(
        push.send_multipart(["x"]).await.unwrap_err().kind(),
        ferromq::ErrorKind::ETERM
    );
}

// --- each test under each runtime ----------------------------------------------

macro_rules! under {
    ($module:ident, $rt:expr, [$($test:ident),*], [$($per_transport:ident),*]) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $test() {
                    run($rt, super::$test)
                }
            )*
            under!(@transport tcp, Tcp, $rt, [$($per_transport),*]);
            under!(@transport ipc, Ipc, $rt, [$($per_transport),*]);
            under!(@transport inproc, Inproc, $rt, [$($per_transport),*]);
        }
    };
    (@transport $module:ident, $tr:ident, $rt:expr, [$($test:ident),*]) => {
        mod $module {
            use super::super::*;
            $(
                #[test]
                fn $test() {
                    run($rt, |rt| super::super::$test(rt, Transport::$tr))
                }
            )*
        }
    };
}

macro_rules! under_every_runtime {
    ($($args:tt)*) => {
        under!(tokio_multi_thread, Rt::TokioMultiThread, $($args)*);
        under!(tokio_current_thread, Rt::TokioCurrentThread, $($args)*);
        under!(smol, Rt::Smol, $($args)*);
    };
}

under_every_runtime!(
    [
        one_task_drives_many_sockets,
        a_task_per_socket,
        sockets_move_between_tasks,
        split_halves_work_in_two_tasks,
        stream_ends_when_the_context_shuts_down
    ],
    [
        recv_cancelled_by_timers_loses_nothing,
        stream_next_cancelled_by_timers_loses_nothing,
        send_cancelled_at_hwm_is_all_or_nothing
    ]
);

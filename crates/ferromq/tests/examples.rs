//! The guide's examples, run as processes against ferromq peers (and each
//! other), with their output checked. `cargo test` builds the examples
//! next to the test binaries; endpoints come from environment variables
//! pointing at free ports.

mod common;

use common::*;
use ferromq::{Context, SocketType};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

fn example_path(name: &str) -> PathBuf {
    // target/<profile>/deps/<test binary> -> target/<profile>/examples/<name>
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    path.pop();
    path.push("examples");
    path.push(name);
    assert!(
        path.exists(),
        "example {name} not built at {}",
        path.display()
    );
    path
}

/// A free tcp endpoint on 127.0.0.1.
fn free_endpoint() -> String {
    unused_endpoint()
}

/// A running example; killed when dropped. Its stdout lines arrive on a
/// channel so waits are bounded.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut child = Command::new(example_path(name))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running { child, lines }
}

impl Running {
    /// Waits for the process to exit; returns its status and every line.
    fn finish(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let lines = self.lines.iter().collect();
                return (status, lines);
            }
            assert!(start.elapsed() < DEADLINE, "example did not exit in time");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    fn write_stdin(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn hwserver_answers_world() {
    hwserver_answers_world_as("hwserver");
}

#[test]
fn async_hwserver_answers_world() {
    hwserver_answers_world_as("async_hwserver");
}

/// `name` is hwserver or its async twin: they must behave the same.
fn hwserver_answers_world_as(name: &str) {
    let ep = free_endpoint();
    let _server = run(name, &[], &[("HWSERVER_BIND", &ep)]);
    let ctx = Context::new();
    let req = with_timeout(connected(&ctx, SocketType::Req, &ep));
    for _ in 0..10 {
        req.send("Hello", 0).unwrap();
        assert_eq!(req.recv(0).unwrap().as_str(), Some("World"));
    }
}

#[test]
fn hwclient_makes_ten_requests_and_exits() {
    hwclient_makes_ten_requests_and_exits_as("hwclient");
}

#[test]
fn async_hwclient_makes_ten_requests_and_exits() {
    hwclient_makes_ten_requests_and_exits_as("async_hwclient");
}

fn hwclient_makes_ten_requests_and_exits_as(name: &str) {
    let ctx = Context::new();
    let (rep, ep) = bound(&ctx, SocketType::Rep);
    let rep = with_timeout(rep);
    let client = run(name, &[], &[("HWCLIENT_CONNECT", &ep)]);
    for _ in 0..10 {
        assert_eq!(rep.recv(0).unwrap().as_str(), Some("Hello"));
        rep.send("World", 0).unwrap();
    }
    let (status, lines) = client.finish();
    assert!(status.success());
    let replies = lines.iter().filter(|l| l.contains("[ World ]")).count();
    assert_eq!(replies, 10, "{lines:?}");
}

#[test]
fn wuserver_publishes_guide_format_updates() {
    wuserver_publishes_guide_format_updates_as("wuserver");
}

#[test]
fn async_wuserver_publishes_guide_format_updates() {
    wuserver_publishes_guide_format_updates_as("async_wuserver");
}

fn wuserver_publishes_guide_format_updates_as(name: &str) {
    // The server binds tcp and ipc; its socket file goes in a directory of
    // this test's own (killed, the server leaves the file behind), so
    // parallel runs never share a path and nothing lands in the repo.
    let dir = TempDir::new();
    let tcp = free_endpoint();
    let ipc = format!("ipc://{}", dir.path().join("weather.ipc").display());
    let _server = run(
        name,
        &[],
        &[("WUSERVER_BIND", &tcp), ("WUSERVER_IPC", &ipc)],
    );
    let ctx = Context::new();
    for ep in [&tcp, &ipc] {
        let sub = ctx.socket(SocketType::Sub).unwrap();
        sub.set_subscribe(b"1").unwrap();
        sub.connect(ep).unwrap();
        let sub = with_timeout(sub);
        for _ in 0..50 {
            let update = sub.recv(0).unwrap();
            let text = update.as_str().unwrap().to_owned();
            let fields: Vec<i64> = text.split(' ').map(|f| f.parse().unwrap()).collect();
            assert_eq!(fields.len(), 3, "{ep}: {text}");
            assert!(text.starts_with('1') && text.split(' ').next().unwrap().len() == 5);
            assert!((1..100_000).contains(&fields[0]), "{ep}: {text}");
            assert!((-80..135).contains(&fields[1]), "{ep}: {text}");
            assert!((10..60).contains(&fields[2]), "{ep}: {text}");
        }
    }
}

#[test]
fn wuclient_averages_the_temperature_of_its_zipcode() {
    wuclient_averages_the_temperature_of_its_zipcode_as("wuclient");
}

#[test]
fn async_wuclient_averages_the_temperature_of_its_zipcode() {
    wuclient_averages_the_temperature_of_its_zipcode_as("async_wuclient");
}

fn wuclient_averages_the_temperature_of_its_zipcode_as(name: &str) {
    let ctx = Context::new();
    let (publisher, ep) = bound(&ctx, SocketType::Pub);
    let client = run(name, &["10001 ", "20"], &[("WUCLIENT_CONNECT", &ep)]);
    // Publish until the client has its 20 updates and exits: other
    // zipcodes must be filtered out, the matching ones average 30.
    let mut client = Some(client);
    let start = Instant::now();
    let mut n = 0u64;
    while let Some(c) = client.as_mut() {
        if c.child.try_wait().unwrap().is_some() {
            let (status, lines) = client.take().unwrap().finish();
            assert!(status.success());
            assert!(
                lines
                    .iter()
                    .any(|l| l == "Average temperature for zipcode '10001' was 30F"),
                "{lines:?}"
            );
            break;
        }
        assert!(start.elapsed() < DEADLINE, "wuclient never finished");
        n += 1;
        publisher.send("10002 99 50", 0).unwrap();
        publisher
            .send(format!("10001 {} 40", 20 + (n % 2) * 20), 0)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn async_and_sync_hello_world_programs_talk_to_each_other() {
    // Each server with both clients, side by side on the same endpoint.
    for server in ["hwserver", "async_hwserver"] {
        let ep = free_endpoint();
        let _server = run(server, &[], &[("HWSERVER_BIND", &ep)]);
        let clients: Vec<_> = ["hwclient", "async_hwclient"]
            .into_iter()
            .map(|client| (client, run(client, &[], &[("HWCLIENT_CONNECT", &ep)])))
            .collect();
        for (client, running) in clients {
            let (status, lines) = running.finish();
            assert!(status.success(), "{client} with {server}: {lines:?}");
            let replies = lines.iter().filter(|l| l.contains("[ World ]")).count();
            assert_eq!(replies, 10, "{client} with {server}: {lines:?}");
        }
    }
}

#[test]
fn async_and_sync_weather_programs_talk_to_each_other() {
    for server in ["wuserver", "async_wuserver"] {
        let dir = TempDir::new();
        let tcp = free_endpoint();
        let ipc = format!("ipc://{}", dir.path().join("weather.ipc").display());
        let _server = run(
            server,
            &[],
            &[("WUSERVER_BIND", &tcp), ("WUSERVER_IPC", &ipc)],
        );
        let clients: Vec<_> = ["wuclient", "async_wuclient"]
            .into_iter()
            .map(|client| {
                let running = run(client, &["1", "20"], &[("WUCLIENT_CONNECT", &tcp)]);
                (client, running)
            })
            .collect();
        for (client, running) in clients {
            let (status, lines) = running.finish();
            assert!(status.success(), "{client} with {server}: {lines:?}");
            let average = lines
                .iter()
                .find_map(|l| l.strip_prefix("Average temperature for zipcode '1' was "))
                .and_then(|t| t.strip_suffix('F')?.parse::<i64>().ok());
            assert!(
                average.is_some_and(|t| (-80..135).contains(&t)),
                "{client} with {server}: {lines:?}"
            );
        }
    }
}

#[test]
fn task_pipeline_runs_end_to_end() {
    let vent = free_endpoint();
    let sink = free_endpoint();
    let sink_proc = run("tasksink", &[], &[("TASKSINK_BIND", &sink)]);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            run(
                "taskwork",
                &[],
                &[("TASKWORK_CONNECT", &vent), ("TASKWORK_SINK", &sink)],
            )
        })
        .collect();
    let mut vent_proc = run(
        "taskvent",
        &[],
        &[("TASKVENT_BIND", &vent), ("TASKVENT_SINK", &sink)],
    );
    assert_eq!(
        vent_proc.lines.recv_timeout(DEADLINE).unwrap(),
        "Press Enter when the workers are ready: "
    );
    // The go can come at once: PUSH blocks until a worker is connected,
    // so no task is lost to an early start.
    vent_proc.write_stdin("\n");
    vent_proc.close_stdin();
    let (status, lines) = vent_proc.finish();
    assert!(status.success());
    assert!(
        lines.iter().any(|l| l.starts_with("Total expected cost:")),
        "{lines:?}"
    );
    let (status, lines) = sink_proc.finish();
    assert!(status.success());
    assert!(
        lines.iter().any(|l| l.starts_with("Total elapsed time:")),
        "{lines:?}"
    );
    drop(workers);
}

/// Runs a broker example (`rrbroker` or `msgqueue`: same endpoints, as
/// in the guide) with the guide's rrworker and rrclient through it.
fn broker_serves_rrclient_and_rrworker(broker: &str, env_prefix: &str) {
    let frontend = free_endpoint();
    let backend = free_endpoint();
    let (front_var, back_var) = (
        format!("{env_prefix}_FRONTEND"),
        format!("{env_prefix}_BACKEND"),
    );
    let _broker = run(
        broker,
        &[],
        &[
            (front_var.as_str(), &frontend),
            (back_var.as_str(), &backend),
        ],
    );
    let _worker = run("rrworker", &[], &[("RRWORKER_CONNECT", &backend)]);
    let client = run("rrclient", &[], &[("RRCLIENT_CONNECT", &frontend)]);
    let (status, lines) = client.finish();
    assert!(status.success());
    assert_eq!(
        lines.iter().filter(|l| l.ends_with("[World]")).count(),
        10,
        "{broker}: {lines:?}"
    );
}

#[test]
fn broker_connects_clients_and_workers() {
    broker_serves_rrclient_and_rrworker("rrbroker", "RRBROKER");
}

#[test]
fn msgqueue_connects_rrclient_and_rrworker() {
    broker_serves_rrclient_and_rrworker("msgqueue", "MSGQUEUE");
}

#[test]
fn msgqueue_routes_replies_between_ferromq_clients_and_workers() {
    let frontend = free_endpoint();
    let backend = free_endpoint();
    let _queue = run(
        "msgqueue",
        &[],
        &[
            ("MSGQUEUE_FRONTEND", &frontend),
            ("MSGQUEUE_BACKEND", &backend),
        ],
    );
    let ctx = Context::new();
    // Two workers that tag each reply with the request it answers.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let rep = connected(&ctx, SocketType::Rep, &backend);
            std::thread::spawn(move || {
                while let Ok(request) = rep.recv(0) {
                    let reply = request.as_str().unwrap().replace("Hello", "World");
                    if rep.send(reply, 0).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    // Two clients with a request each in the queue at once: each reply
    // must come back to the client that asked.
    let clients: Vec<_> = ["A", "B"]
        .into_iter()
        .map(|name| {
            (
                name,
                with_timeout(connected(&ctx, SocketType::Req, &frontend)),
            )
        })
        .collect();
    for i in 0..10 {
        for (name, req) in &clients {
            req.send(format!("Hello {name} {i}"), 0).unwrap();
        }
        for (name, req) in &clients {
            let reply = req.recv(0).unwrap();
            assert_eq!(reply.as_str(), Some(format!("World {name} {i}").as_str()));
        }
    }
    ctx.shutdown();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn wuproxy_forwards_updates_and_subscriptions() {
    let ctx = Context::new();
    let (upstream, up_ep) = bound(&ctx, SocketType::Xpub);
    let upstream = with_timeout(upstream);
    let down_ep = free_endpoint();
    let _proxy = run(
        "wuproxy",
        &[],
        &[("WUPROXY_CONNECT", &up_ep), ("WUPROXY_BIND", &down_ep)],
    );
    let sub = ctx.socket(SocketType::Sub).unwrap();
    sub.set_subscribe(b"10001 ").unwrap();
    sub.connect(&down_ep).unwrap();
    // The subscription made at the proxy reaches the publisher.
    assert_eq!(&upstream.recv(0).unwrap()[..], b"\x0110001 ");
    sub.set_rcvtimeo(20).unwrap();
    wait_until("an update through the proxy", || {
        upstream.send("10002 1 1", 0).unwrap();
        upstream.send("10001 72 30", 0).unwrap();
        matches!(sub.recv(0), Ok(m) if m.as_str() == Some("10001 72 30"))
    });
}

#[test]
fn relay_republishes_and_hands_work_to_pullers() {
    let (sub_ep, pub_ep, push_ep) = (free_endpoint(), free_endpoint(), free_endpoint());
    let _relay = run(
        "relay",
        &[],
        &[
            ("RELAY_SUB_BIND", &sub_ep),
            ("RELAY_PUB_BIND", &pub_ep),
            ("RELAY_PUSH_BIND", &push_ep),
        ],
    );
    let ctx = Context::new();
    let producer = connected(&ctx, SocketType::Pub, &sub_ep);
    let listener = ctx.socket(SocketType::Sub).unwrap();
    listener.set_subscribe(b"").unwrap();
    listener.connect(&pub_ep).unwrap();
    listener.set_rcvtimeo(20).unwrap();
    let worker = connected(&ctx, SocketType::Pull, &push_ep);
    worker.set_rcvtimeo(20).unwrap();
    let (mut heard, mut worked) = (false, false);
    let mut n = 0;
    wait_until("the relay to pass messages on", || {
        n += 1;
        producer.send(format!("abc hello{n}"), 0).unwrap();
        if let Ok(m) = listener.recv(0) {
            heard |= m.as_str().is_some_and(|s| s.starts_with("abc hello"));
        }
        if let Ok(m) = worker.recv(0) {
            worked |= m.as_str().is_some_and(|s| s.starts_with("hello"));
        }
        heard && worked
    });
}

#[test]
fn demo_runs_both_tours() {
    let (status, lines) = run("demo", &[], &[]).finish();
    assert!(status.success(), "{lines:?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("client got  \"World\""))
            .count(),
        3
    );
    assert!(
        lines.iter().any(|l| l.contains("12 tasks done")),
        "{lines:?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("== done"));
}

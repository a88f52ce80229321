//! PUSH/PULL over tcp: the first end-to-end path through sockets, pipes,
//! the I/O thread and the ZMTP engine.

use ferromq::{Context, SocketType, DONTWAIT};

#[test]
fn push_pull_multipart_and_sizes() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = pull.last_endpoint().unwrap();
    assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&endpoint).unwrap();

    push.send_multipart(["a", "", "c"], 0).unwrap();
    assert_eq!(
        pull.recv_multipart(0).unwrap(),
        vec![b"a".to_vec(), Vec::new(), b"c".to_vec()]
    );
    for size in [0usize, 1, 255, 256, 8191, 8192, 1 << 20] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        push.send(body.clone(), 0).unwrap();
        let got = pull.recv(0).unwrap();
        assert_eq!(got.len(), size);
        assert!(got[..] == body[..], "body of {size} bytes differs");
    }
    assert_eq!(
        pull.recv(DONTWAIT).unwrap_err().kind(),
        ferromq::ErrorKind::EAGAIN
    );
}

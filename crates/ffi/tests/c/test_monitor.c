/* (h) zmq_socket_monitor: events on an inproc PAIR in libzmq's two-frame
 * format (6 bytes: uint16 event + uint32 value, in host byte order; then
 * the endpoint), for LISTENING, CONNECTED, ACCEPTED, HANDSHAKE_SUCCEEDED,
 * DISCONNECTED, CLOSED and MONITOR_STOPPED. */
#include "testutil.h"

static void *ctx;

/* Reads one event; returns its number, or -1 if none came before the
 * deadline (the monitor socket's ZMQ_RCVTIMEO). */
static int read_event (void *mon, uint32_t *value, char *addr, size_t len)
{
    unsigned char frame[64];
    const int n = zmq_recv (mon, frame, sizeof frame, 0);
    if (n == -1) {
        CHECK_EQ_INT (zmq_errno (), EAGAIN);
        return -1;
    }
    CHECK_MSG (n == 6, "event frame is %d bytes, expected 6", n);
    CHECK_MSG (test_get_int (mon, ZMQ_RCVMORE) == 1,
               "event frame without the endpoint frame");
    uint16_t event;
    memcpy (&event, frame, 2);
    memcpy (value, frame + 2, 4);
    const int m = zmq_recv (mon, addr, len - 1, 0);
    CHECK_RC (m);
    CHECK ((size_t) m < len);
    addr[m] = 0;
    CHECK_MSG (test_get_int (mon, ZMQ_RCVMORE) == 0,
               "more than two frames in an event");
    return event;
}

static const char *event_name (int e)
{
    switch (e) {
        case ZMQ_EVENT_CONNECTED: return "CONNECTED";
        case ZMQ_EVENT_CONNECT_DELAYED: return "CONNECT_DELAYED";
        case ZMQ_EVENT_CONNECT_RETRIED: return "CONNECT_RETRIED";
        case ZMQ_EVENT_LISTENING: return "LISTENING";
        case ZMQ_EVENT_BIND_FAILED: return "BIND_FAILED";
        case ZMQ_EVENT_ACCEPTED: return "ACCEPTED";
        case ZMQ_EVENT_ACCEPT_FAILED: return "ACCEPT_FAILED";
        case ZMQ_EVENT_CLOSED: return "CLOSED";
        case ZMQ_EVENT_CLOSE_FAILED: return "CLOSE_FAILED";
        case ZMQ_EVENT_DISCONNECTED: return "DISCONNECTED";
        case ZMQ_EVENT_MONITOR_STOPPED: return "MONITOR_STOPPED";
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return "HANDSHAKE_FAILED_NO_DETAIL";
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return "HANDSHAKE_SUCCEEDED";
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: return "HANDSHAKE_FAILED_PROTOCOL";
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return "HANDSHAKE_FAILED_AUTH";
        default: return "?";
    }
}

/* Reads events until `want` arrives, printing the ones passed over
 * (which must be known events); fails at the deadline. */
static uint32_t
expect_event_ (void *mon, int want, char *addr, size_t len, const char *file, int line)
{
    for (;;) {
        uint32_t value = 0;
        const int e = read_event (mon, &value, addr, len);
        if (e == -1)
            test_fail_ (file, line, "expect_event", "no %s event before the deadline",
                        event_name (want));
        printf ("   event %s (0x%x) value %u endpoint \"%s\"\n", event_name (e),
                e, value, addr);
        if (e == want)
            return value;
        if (strcmp (event_name (e), "?") == 0)
            test_fail_ (file, line, "expect_event", "unknown event 0x%x", e);
    }
}

#define EXPECT_EVENT(mon, want, addr)                                          \
    expect_event_ ((mon), (want), (addr), sizeof (addr), __FILE__, __LINE__)

/* Starts monitoring s on inproc://name and connects a PAIR to it. */
static void *monitor (void *s, const char *name, int events)
{
    char endpoint[128];
    snprintf (endpoint, sizeof endpoint, "inproc://%s", name);
    CHECK_RC (zmq_socket_monitor (s, endpoint, events));
    void *mon = test_socket (ctx, ZMQ_PAIR);
    CHECK_RC (zmq_connect (mon, endpoint));
    return mon;
}

static void test_monitor_lifecycle (void)
{
    TEST_SECTION ("monitor: listen, connect, accept, handshake, disconnect");
    void *server = test_socket (ctx, ZMQ_ROUTER);
    void *client = test_socket (ctx, ZMQ_DEALER);
    void *mon_s = monitor (server, "mon-server", ZMQ_EVENT_ALL);
    void *mon_c = monitor (client, "mon-client", ZMQ_EVENT_ALL);
    char endpoint[256], addr[256];

    test_bind_tcp (server, endpoint, sizeof endpoint);
    uint32_t value = EXPECT_EVENT (mon_s, ZMQ_EVENT_LISTENING, addr);
    CHECK_EQ_STR (addr, endpoint);
    CHECK ((int) value >= 0); /* the listening socket's descriptor */

    CHECK_RC (zmq_connect (client, endpoint));
    value = EXPECT_EVENT (mon_c, ZMQ_EVENT_CONNECTED, addr);
    CHECK_EQ_STR (addr, endpoint);
    CHECK ((int) value >= 0);
    value = EXPECT_EVENT (mon_c, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, addr);
    CHECK_EQ_STR (addr, endpoint);
    CHECK_EQ_INT (value, 0);

    value = EXPECT_EVENT (mon_s, ZMQ_EVENT_ACCEPTED, addr);
    CHECK ((int) value >= 0);
    /* libzmq names the listener's endpoint here. */
    CHECK_EQ_STR (addr, endpoint);
    value = EXPECT_EVENT (mon_s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, addr);
    CHECK_EQ_INT (value, 0);
    CHECK (strncmp (addr, "tcp://127.0.0.1:", 16) == 0);

    /* Traffic flows as usual on a monitored socket. */
    test_send_str (client, "ping", 0);
    char id[256];
    CHECK (zmq_recv (server, id, sizeof id, 0) > 0);
    TEST_RECV_LAST (server, "ping");

    /* The client goes away: the server sees the connection drop. */
    CHECK_RC (zmq_close (client));
    EXPECT_EVENT (mon_s, ZMQ_EVENT_DISCONNECTED, addr);
    CHECK (strncmp (addr, "tcp://127.0.0.1:", 16) == 0);
    /* And the client's monitor reports its end: value 0, no endpoint. */
    value = EXPECT_EVENT (mon_c, ZMQ_EVENT_MONITOR_STOPPED, addr);
    CHECK_EQ_INT (value, 0);
    CHECK_EQ_STR (addr, "");

    /* Unbinding closes the listener. */
    CHECK_RC (zmq_unbind (server, endpoint));
    EXPECT_EVENT (mon_s, ZMQ_EVENT_CLOSED, addr);
    CHECK_EQ_STR (addr, endpoint);

    /* Stopping the monitor sends MONITOR_STOPPED, then nothing more. */
    CHECK_RC (zmq_socket_monitor (server, NULL, 0));
    EXPECT_EVENT (mon_s, ZMQ_EVENT_MONITOR_STOPPED, addr);
    test_bind_tcp (server, endpoint, sizeof endpoint);
    zmq_pollitem_t item = {mon_s, 0, ZMQ_POLLIN, 0};
    CHECK_EQ_INT (zmq_poll (&item, 1, 100), 0);

    CHECK_RC (zmq_close (server));
    CHECK_RC (zmq_close (mon_s));
    CHECK_RC (zmq_close (mon_c));
}

static void test_monitor_close_stops (void)
{
    TEST_SECTION ("monitor: closing the socket sends MONITOR_STOPPED");
    void *s = test_socket (ctx, ZMQ_PULL);
    void *mon = monitor (s, "mon-close", ZMQ_EVENT_ALL);
    char endpoint[256], addr[256];
    test_ipc_endpoint (endpoint, sizeof endpoint, "mon");
    CHECK_RC (zmq_bind (s, endpoint));
    EXPECT_EVENT (mon, ZMQ_EVENT_LISTENING, addr);
    CHECK_EQ_STR (addr, endpoint);
    CHECK_RC (zmq_close (s));
    EXPECT_EVENT (mon, ZMQ_EVENT_MONITOR_STOPPED, addr);
    CHECK_RC (zmq_close (mon));
}

static void test_monitor_filter (void)
{
    TEST_SECTION ("monitor: only the requested events");
    void *server = test_socket (ctx, ZMQ_PAIR);
    void *client = test_socket (ctx, ZMQ_PAIR);
    char endpoint[256], addr[256];
    test_bind_tcp (server, endpoint, sizeof endpoint);
    void *mon = monitor (client, "mon-filter", ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    CHECK_RC (zmq_connect (client, endpoint));
    test_bounce (client, server);
    /* The first event is the handshake: no CONNECT_DELAYED/CONNECTED. */
    uint32_t value = 0;
    CHECK_EQ_INT (read_event (mon, &value, addr, sizeof addr),
                  ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    CHECK_EQ_STR (addr, endpoint);
    CHECK_EQ_INT (value, 0);
    zmq_pollitem_t item = {mon, 0, ZMQ_POLLIN, 0};
    CHECK_EQ_INT (zmq_poll (&item, 1, 0), 0);
    CHECK_RC (zmq_close (client));
    CHECK_RC (zmq_close (server));
    CHECK_RC (zmq_close (mon));
}

static void test_monitor_errors (void)
{
    TEST_SECTION ("monitor: only inproc endpoints");
    void *s = test_socket (ctx, ZMQ_PAIR);
    CHECK_ERRNO (zmq_socket_monitor (s, "tcp://127.0.0.1:5555", ZMQ_EVENT_ALL),
                 EPROTONOSUPPORT);
    CHECK_ERRNO (zmq_socket_monitor (s, "ipc:///tmp/monitor", ZMQ_EVENT_ALL),
                 EPROTONOSUPPORT);
    CHECK_ERRNO (zmq_socket_monitor (s, "nocolon", ZMQ_EVENT_ALL), EINVAL);
    CHECK_RC (zmq_close (s));
}

int main (void)
{
    test_begin ("test_monitor");
    ctx = CHECK_PTR (zmq_ctx_new ());
    test_monitor_lifecycle ();
    test_monitor_close_stops ();
    test_monitor_filter ();
    test_monitor_errors ();
    CHECK_RC (zmq_ctx_term (ctx));
    test_end ("test_monitor");
    return 0;
}

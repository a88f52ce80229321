/* (b) Contexts: zmq_ctx_new/set/get, zmq_ctx_shutdown, zmq_ctx_term,
 * zmq_init/zmq_term. */
#include "testutil.h"

static void test_defaults (void)
{
    TEST_SECTION ("zmq_ctx_get defaults");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IO_THREADS), ZMQ_IO_THREADS_DFLT);
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_MAX_SOCKETS), ZMQ_MAX_SOCKETS_DFLT);
    CHECK_EQ_INT (ZMQ_IO_THREADS_DFLT, 1);
    CHECK_EQ_INT (ZMQ_MAX_SOCKETS_DFLT, 1023);
    /* The largest ZMQ_MAX_SOCKETS the build allows: 65535 on Linux. */
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_SOCKET_LIMIT), 65535);
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IPV6), 0);
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_BLOCKY), 1);
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_MSG_T_SIZE), sizeof (zmq_msg_t));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_MSG_T_SIZE), 64);
    /* ZMQ_MAX_MSGSZ defaults to INT_MAX (no limit). */
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_MAX_MSGSZ), 2147483647);
    /* Unknown options. */
    CHECK_ERRNO (zmq_ctx_get (ctx, 9999), EINVAL);
    CHECK_ERRNO (zmq_ctx_get (ctx, -1), EINVAL);
    CHECK_RC (zmq_ctx_term (ctx));
}

static void test_set (void)
{
    TEST_SECTION ("zmq_ctx_set");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    CHECK_RC (zmq_ctx_set (ctx, ZMQ_IO_THREADS, 2));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IO_THREADS), 2);
    CHECK_RC (zmq_ctx_set (ctx, ZMQ_IO_THREADS, 0));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IO_THREADS), 0);
    CHECK_ERRNO (zmq_ctx_set (ctx, ZMQ_IO_THREADS, -1), EINVAL);
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IO_THREADS), 0);
    CHECK_RC (zmq_ctx_set (ctx, ZMQ_IO_THREADS, 1));

    CHECK_RC (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, 10));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_MAX_SOCKETS), 10);
    CHECK_ERRNO (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, 0), EINVAL);
    CHECK_ERRNO (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, -5), EINVAL);
    /* The socket limit itself is accepted. (libzmq 4.3.4 on Linux also
     * accepts larger values: only select-based builds clip them.) */
    const int limit = zmq_ctx_get (ctx, ZMQ_SOCKET_LIMIT);
    CHECK_RC (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, limit));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_MAX_SOCKETS), limit);

    CHECK_RC (zmq_ctx_set (ctx, ZMQ_IPV6, 1));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IPV6), 1);
    CHECK_RC (zmq_ctx_set (ctx, ZMQ_IPV6, 0));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IPV6), 0);
    CHECK_ERRNO (zmq_ctx_set (ctx, ZMQ_IPV6, -1), EINVAL);

    CHECK_RC (zmq_ctx_set (ctx, ZMQ_BLOCKY, 0));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_BLOCKY), 0);
    CHECK_RC (zmq_ctx_set (ctx, ZMQ_BLOCKY, 1));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_BLOCKY), 1);

    CHECK_RC (zmq_ctx_set (ctx, ZMQ_MAX_MSGSZ, 1000));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_MAX_MSGSZ), 1000);

    /* Read-only and unknown options. */
    CHECK_ERRNO (zmq_ctx_set (ctx, ZMQ_MSG_T_SIZE, 64), EINVAL);
    CHECK_ERRNO (zmq_ctx_set (ctx, 9999, 1), EINVAL);
    CHECK_RC (zmq_ctx_term (ctx));
}

static void test_null_ctx (void)
{
    TEST_SECTION ("NULL context");
    CHECK_ERRNO (zmq_ctx_get (NULL, ZMQ_IO_THREADS), EFAULT);
    CHECK_ERRNO (zmq_ctx_set (NULL, ZMQ_IO_THREADS, 1), EFAULT);
    CHECK_ERRNO (zmq_ctx_term (NULL), EFAULT);
    CHECK_ERRNO (zmq_ctx_shutdown (NULL), EFAULT);
    CHECK_ERRNO (zmq_ctx_destroy (NULL), EFAULT);
    CHECK_ERRNO (zmq_term (NULL), EFAULT);
    CHECK_NULL_ERRNO (zmq_socket (NULL, ZMQ_PAIR), EFAULT);
}

static void test_max_sockets (void)
{
    TEST_SECTION ("ZMQ_MAX_SOCKETS limits zmq_socket (EMFILE)");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    CHECK_RC (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, 2));
    void *a = CHECK_PTR (zmq_socket (ctx, ZMQ_PAIR));
    void *b = CHECK_PTR (zmq_socket (ctx, ZMQ_PUSH));
    CHECK_NULL_ERRNO (zmq_socket (ctx, ZMQ_PULL), EMFILE);
    /* Closing one frees its slot, though libzmq frees it only once its
     * reaper thread has destroyed the socket: retry until then. */
    CHECK_RC (zmq_close (b));
    void *c = NULL;
    const int64_t until = test_now_ms () + TEST_DEADLINE_MS;
    while ((c = zmq_socket (ctx, ZMQ_PULL)) == NULL) {
        CHECK_EQ_INT (zmq_errno (), EMFILE);
        CHECK_MSG (test_now_ms () < until, "closed socket's slot never freed");
        test_nap_ms (1);
    }
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (c));
    CHECK_RC (zmq_ctx_term (ctx));
}

static void test_invalid_socket_type (void)
{
    TEST_SECTION ("zmq_socket with an invalid type (EINVAL)");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    CHECK_NULL_ERRNO (zmq_socket (ctx, -1), EINVAL);
    CHECK_NULL_ERRNO (zmq_socket (ctx, 999), EINVAL);
    CHECK_RC (zmq_ctx_term (ctx));
}

static void test_shutdown (void)
{
    TEST_SECTION ("zmq_ctx_shutdown");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_PULL));
    CHECK_RC (zmq_bind (s, "inproc://shutdown"));
    CHECK_RC (zmq_ctx_shutdown (ctx));
    /* Blocking calls on existing sockets fail with ETERM... */
    char buf[8];
    CHECK_ERRNO (zmq_recv (s, buf, sizeof buf, 0), ETERM);
    CHECK_ERRNO (zmq_recv (s, buf, sizeof buf, ZMQ_DONTWAIT), ETERM);
    /* ...no new socket can be made... */
    CHECK_NULL_ERRNO (zmq_socket (ctx, ZMQ_PUSH), ETERM);
    /* ...a second shutdown is harmless... */
    CHECK_RC (zmq_ctx_shutdown (ctx));
    /* ...and closing the socket lets zmq_ctx_term finish. */
    CHECK_RC (zmq_close (s));
    CHECK_RC (zmq_ctx_term (ctx));
}

/* ---- zmq_ctx_term unblocks a blocked recv in another thread ---- */

typedef struct
{
    void *ctx;
    volatile int started;
    volatile int recv_rc;
    volatile int recv_errno;
    volatile int closed;
} term_state_t;

static void *blocked_receiver (void *arg)
{
    term_state_t *st = (term_state_t *) arg;
    void *s = CHECK_PTR (zmq_socket (st->ctx, ZMQ_PULL));
    /* Block with no timeout: only the context's termination wakes us. */
    CHECK_RC (zmq_bind (s, "inproc://blocked"));
    __atomic_store_n (&st->started, 1, __ATOMIC_SEQ_CST);
    char buf[8];
    errno = 0;
    st->recv_rc = zmq_recv (s, buf, sizeof buf, 0);
    st->recv_errno = zmq_errno ();
    /* zmq_ctx_term is still blocked until this close. */
    __atomic_store_n (&st->closed, 1, __ATOMIC_SEQ_CST);
    CHECK_RC (zmq_close (s));
    return NULL;
}

static int is_started (void *arg)
{
    return __atomic_load_n (&((term_state_t *) arg)->started, __ATOMIC_SEQ_CST);
}

static void test_term_unblocks_recv (void)
{
    TEST_SECTION ("zmq_ctx_term unblocks recv in another thread with ETERM");
    term_state_t st;
    memset (&st, 0, sizeof st);
    st.ctx = CHECK_PTR (zmq_ctx_new ());
    pthread_t t = test_thread (blocked_receiver, &st);
    CHECK_WAIT (is_started, &st);
    /* Whether the thread is already inside zmq_recv or about to enter
     * it, termination must make that recv fail with ETERM. */
    CHECK_RC (zmq_ctx_term (st.ctx));
    /* zmq_ctx_term returned, so the socket was closed first. */
    CHECK (__atomic_load_n (&st.closed, __ATOMIC_SEQ_CST) == 1);
    test_join (t);
    CHECK_EQ_INT (st.recv_rc, -1);
    CHECK_EQ_INT (st.recv_errno, ETERM);
}

/* ---- zmq_ctx_shutdown from another thread wakes a blocked poll ---- */

static void *blocked_poller (void *arg)
{
    term_state_t *st = (term_state_t *) arg;
    void *s = CHECK_PTR (zmq_socket (st->ctx, ZMQ_SUB));
    CHECK_RC (zmq_bind (s, "inproc://blocked-poll"));
    __atomic_store_n (&st->started, 1, __ATOMIC_SEQ_CST);
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    errno = 0;
    st->recv_rc = zmq_poll (&item, 1, -1);
    st->recv_errno = zmq_errno ();
    CHECK_RC (zmq_close (s));
    return NULL;
}

static void test_shutdown_unblocks_poll (void)
{
    TEST_SECTION ("zmq_ctx_shutdown unblocks zmq_poll with ETERM");
    term_state_t st;
    memset (&st, 0, sizeof st);
    st.ctx = CHECK_PTR (zmq_ctx_new ());
    pthread_t t = test_thread (blocked_poller, &st);
    CHECK_WAIT (is_started, &st);
    CHECK_RC (zmq_ctx_shutdown (st.ctx));
    test_join (t);
    CHECK_EQ_INT (st.recv_rc, -1);
    CHECK_EQ_INT (st.recv_errno, ETERM);
    CHECK_RC (zmq_ctx_term (st.ctx));
}

static void test_linger_on_term (void)
{
    TEST_SECTION ("zmq_ctx_term with ZMQ_LINGER=0 drops pending messages");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_PUSH));
    test_set_int (s, ZMQ_LINGER, 0);
    /* Nobody listens here: the message can never be delivered. */
    char endpoint[256];
    {
        void *tmp = CHECK_PTR (zmq_socket (ctx, ZMQ_PULL));
        test_bind_tcp (tmp, endpoint, sizeof endpoint);
        CHECK_RC (zmq_close (tmp));
    }
    CHECK_RC (zmq_connect (s, endpoint));
    /* Queued on the pipe to the (never connected) peer. */
    CHECK_EQ_INT (zmq_send (s, "x", 1, ZMQ_DONTWAIT), 1);
    CHECK_RC (zmq_close (s));
    const int64_t start = test_now_ms ();
    CHECK_RC (zmq_ctx_term (ctx));
    CHECK_MSG (test_now_ms () - start < TEST_DEADLINE_MS,
               "zmq_ctx_term lingered %lld ms",
               (long long) (test_now_ms () - start));
}

static void test_init_term (void)
{
    TEST_SECTION ("zmq_init / zmq_term / zmq_ctx_destroy");
    void *ctx = CHECK_PTR (zmq_init (1));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IO_THREADS), 1);
    void *s = CHECK_PTR (zmq_socket (ctx, ZMQ_PAIR));
    CHECK_RC (zmq_close (s));
    CHECK_RC (zmq_term (ctx));

    ctx = CHECK_PTR (zmq_init (3));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IO_THREADS), 3);
    CHECK_RC (zmq_ctx_destroy (ctx));

    /* Zero I/O threads is allowed (inproc only needs none). */
    ctx = CHECK_PTR (zmq_init (0));
    CHECK_EQ_INT (zmq_ctx_get (ctx, ZMQ_IO_THREADS), 0);
    CHECK_RC (zmq_term (ctx));

    CHECK_NULL_ERRNO (zmq_init (-1), EINVAL);
}

static void test_io_threads_zero_inproc (void)
{
    TEST_SECTION ("inproc works with ZMQ_IO_THREADS=0");
    void *ctx = CHECK_PTR (zmq_ctx_new ());
    CHECK_RC (zmq_ctx_set (ctx, ZMQ_IO_THREADS, 0));
    void *a = test_socket (ctx, ZMQ_PAIR);
    void *b = test_socket (ctx, ZMQ_PAIR);
    CHECK_RC (zmq_bind (a, "inproc://no-io-threads"));
    CHECK_RC (zmq_connect (b, "inproc://no-io-threads"));
    test_bounce (a, b);
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));
    CHECK_RC (zmq_ctx_term (ctx));
}

static void test_many_contexts (void)
{
    TEST_SECTION ("independent contexts");
    /* inproc names are per context. */
    void *c1 = CHECK_PTR (zmq_ctx_new ());
    void *c2 = CHECK_PTR (zmq_ctx_new ());
    CHECK (c1 != c2);
    void *a = test_socket (c1, ZMQ_PAIR);
    void *b = test_socket (c2, ZMQ_PAIR);
    CHECK_RC (zmq_bind (a, "inproc://same-name"));
    CHECK_RC (zmq_bind (b, "inproc://same-name"));
    CHECK_RC (zmq_close (a));
    CHECK_RC (zmq_close (b));
    CHECK_RC (zmq_ctx_term (c1));
    CHECK_RC (zmq_ctx_term (c2));
}

int main (void)
{
    test_begin ("test_ctx");
    test_defaults ();
    test_set ();
    test_null_ctx ();
    test_max_sockets ();
    test_invalid_socket_type ();
    test_shutdown ();
    test_term_unblocks_recv ();
    test_shutdown_unblocks_poll ();
    test_linger_on_term ();
    test_init_term ();
    test_io_threads_zero_inproc ();
    test_many_contexts ();
    test_end ("test_ctx");
    return 0;
}

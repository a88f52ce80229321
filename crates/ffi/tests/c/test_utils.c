/* (i) Utilities: Z85, zmq_curve_keypair/zmq_curve_public, atomic
 * counters, stopwatch, zmq_sleep, zmq_threadstart/close, zmq_timers_*. */
#include "testutil.h"

static void test_z85 (void)
{
    TEST_SECTION ("zmq_z85_encode / zmq_z85_decode");
    /* The test vector of ZeroMQ RFC 32 (Z85). */
    const uint8_t hello[8] = {0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B};
    char text[64];
    memset (text, '#', sizeof text);
    CHECK (zmq_z85_encode (text, hello, 8) == text);
    CHECK_EQ_STR (text, "HelloWorld"); /* NUL-terminated: 8 * 5 / 4 + 1 */
    uint8_t bin[64];
    memset (bin, 0, sizeof bin);
    CHECK (zmq_z85_decode (bin, "HelloWorld") == bin);
    CHECK (memcmp (bin, hello, 8) == 0);

    /* The extremes of one group. */
    const uint8_t zeros[4] = {0, 0, 0, 0};
    const uint8_t ones[4] = {0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_STR (zmq_z85_encode (text, zeros, 4), "00000");
    CHECK_EQ_STR (zmq_z85_encode (text, ones, 4), "%nSc0");
    CHECK (zmq_z85_decode (bin, "%nSc0") == bin);
    CHECK (memcmp (bin, ones, 4) == 0);

    /* Empty input encodes to the empty string. */
    memset (text, '#', sizeof text);
    CHECK (zmq_z85_encode (text, hello, 0) == text);
    CHECK_EQ_STR (text, "");

    /* Round trip of every byte value. */
    uint8_t all[256], back[256];
    char all_text[256 * 5 / 4 + 1];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t) i;
    CHECK (zmq_z85_encode (all_text, all, 256) == all_text);
    CHECK_EQ_INT (strlen (all_text), 320);
    CHECK (zmq_z85_decode (back, all_text) == back);
    CHECK (memcmp (all, back, 256) == 0);

    /* Bad input. */
    CHECK_NULL_ERRNO (zmq_z85_encode (text, hello, 7), EINVAL);
    CHECK_NULL_ERRNO (zmq_z85_encode (text, hello, 1), EINVAL);
    CHECK_NULL_ERRNO (zmq_z85_decode (bin, "Hello"
                                           "Worl"),
                      EINVAL); /* not a multiple of 5 */
    CHECK_NULL_ERRNO (zmq_z85_decode (bin, "Hell"), EINVAL);
    CHECK_NULL_ERRNO (zmq_z85_decode (bin, ""), EINVAL);
    CHECK_NULL_ERRNO (zmq_z85_decode (bin, "Hello\"orld"), EINVAL);
    CHECK_NULL_ERRNO (zmq_z85_decode (bin, "Hello orld"), EINVAL);
    CHECK_NULL_ERRNO (zmq_z85_decode (bin, "Hello~orld"), EINVAL);
    /* Groups above 0xffffffff. */
    CHECK_NULL_ERRNO (zmq_z85_decode (bin, "%nSc1"), EINVAL);
    CHECK_NULL_ERRNO (zmq_z85_decode (bin, "#####"), EINVAL);
}

static void test_curve (void)
{
    TEST_SECTION ("zmq_curve_keypair / zmq_curve_public");
    char pub[41], sec[41], derived[41];
    memset (pub, 0, sizeof pub);
    memset (sec, 0, sizeof sec);
    const int has_curve = zmq_has ("curve");
    printf ("   zmq_has (\"curve\") = %d\n", has_curve);
    if (!has_curve) {
        /* Without CURVE both report ENOTSUP. */
        CHECK_ERRNO (zmq_curve_keypair (pub, sec), ENOTSUP);
        CHECK_ERRNO (zmq_curve_public (derived, "HelloWorldHelloWorldHelloWorldHelloWorld"),
                     ENOTSUP);
        return;
    }
    CHECK_RC (zmq_curve_keypair (pub, sec));
    CHECK_EQ_INT (strlen (pub), 40);
    CHECK_EQ_INT (strlen (sec), 40);
    uint8_t raw_pub[32], raw_sec[32];
    CHECK (zmq_z85_decode (raw_pub, pub) == raw_pub);
    CHECK (zmq_z85_decode (raw_sec, sec) == raw_sec);
    CHECK (memcmp (raw_pub, raw_sec, 32) != 0);
    /* The public key follows from the secret one. */
    CHECK_RC (zmq_curve_public (derived, sec));
    CHECK_EQ_STR (derived, pub);
    /* A second pair differs. */
    char pub2[41], sec2[41];
    CHECK_RC (zmq_curve_keypair (pub2, sec2));
    CHECK (strcmp (sec, sec2) != 0);
    CHECK (strcmp (pub, pub2) != 0);
}

/* ---- atomic counters ---- */

static void *counter_worker (void *counter)
{
    for (int i = 0; i < 10000; i++)
        zmq_atomic_counter_inc (counter);
    return NULL;
}

static void test_atomic_counter (void)
{
    TEST_SECTION ("zmq_atomic_counter_*");
    void *c = CHECK_PTR (zmq_atomic_counter_new ());
    CHECK_EQ_INT (zmq_atomic_counter_value (c), 0);
    /* inc returns the value before; dec returns whether it is still
     * above zero. */
    CHECK_EQ_INT (zmq_atomic_counter_inc (c), 0);
    CHECK_EQ_INT (zmq_atomic_counter_inc (c), 1);
    CHECK_EQ_INT (zmq_atomic_counter_value (c), 2);
    CHECK_EQ_INT (zmq_atomic_counter_dec (c), 1);
    CHECK_EQ_INT (zmq_atomic_counter_dec (c), 0);
    CHECK_EQ_INT (zmq_atomic_counter_value (c), 0);
    zmq_atomic_counter_set (c, 5);
    CHECK_EQ_INT (zmq_atomic_counter_value (c), 5);
    CHECK_EQ_INT (zmq_atomic_counter_inc (c), 5);
    zmq_atomic_counter_set (c, 0);

    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = test_thread (counter_worker, c);
    for (int i = 0; i < 4; i++)
        test_join (t[i]);
    CHECK_EQ_INT (zmq_atomic_counter_value (c), 40000);

    zmq_atomic_counter_destroy (&c);
    CHECK (c == NULL);
}

static void test_stopwatch_sleep (void)
{
    TEST_SECTION ("zmq_stopwatch_*, zmq_sleep");
    void *w = CHECK_PTR (zmq_stopwatch_start ());
    const int64_t start = test_now_ms ();
    /* Wait about 30 ms of real time. */
    while (test_now_ms () - start < 30)
        poll (NULL, 0, 5);
    const unsigned long mid = zmq_stopwatch_intermediate (w);
    CHECK_MSG (mid >= 25000 && mid < 10000000UL, "intermediate %lu us", mid);
    const unsigned long mid2 = zmq_stopwatch_intermediate (w);
    CHECK (mid2 >= mid);
    const unsigned long total = zmq_stopwatch_stop (w);
    CHECK (total >= mid2);
    CHECK (total < 10000000UL);

    const int64_t before = test_now_ms ();
    zmq_sleep (0);
    CHECK (test_now_ms () - before < 1000);
}

static void thread_body (void *arg)
{
    __atomic_store_n ((int *) arg, 42, __ATOMIC_SEQ_CST);
}

static void test_threads (void)
{
    TEST_SECTION ("zmq_threadstart / zmq_threadclose");
    int done[3] = {0, 0, 0};
    void *h[3];
    for (int i = 0; i < 3; i++)
        h[i] = CHECK_PTR (zmq_threadstart (thread_body, &done[i]));
    /* zmq_threadclose joins: the body has run when it returns. */
    for (int i = 0; i < 3; i++) {
        zmq_threadclose (h[i]);
        CHECK_EQ_INT (__atomic_load_n (&done[i], __ATOMIC_SEQ_CST), 42);
    }
}

/* ---- timers ---- */

typedef struct
{
    int calls;
    int last_id;
} timer_log_t;

static void on_timer (int timer_id, void *arg)
{
    timer_log_t *log = (timer_log_t *) arg;
    log->calls++;
    log->last_id = timer_id;
}

/* Runs the timers until log->calls reaches n; returns the elapsed ms. */
static int64_t run_until (void *timers, timer_log_t *log, int n)
{
    const int64_t start = test_now_ms ();
    while (log->calls < n) {
        CHECK_MSG (test_now_ms () - start < TEST_DEADLINE_MS,
                   "timer did not fire (%d of %d calls)", log->calls, n);
        const long t = zmq_timers_timeout (timers);
        CHECK (t >= -1);
        CHECK_MSG (t != -1, "no timer pending");
        poll (NULL, 0, (int) t);
        CHECK_RC (zmq_timers_execute (timers));
    }
    return test_now_ms () - start;
}

static void test_timers (void)
{
    TEST_SECTION ("zmq_timers_*");
    void *timers = CHECK_PTR (zmq_timers_new ());
    /* No timers: no timeout, execute does nothing. */
    CHECK_EQ_INT (zmq_timers_timeout (timers), -1);
    CHECK_RC (zmq_timers_execute (timers));

    timer_log_t a = {0, 0}, b = {0, 0};
    const int ida = CHECK_RC (zmq_timers_add (timers, 50, on_timer, &a));
    const int idb = CHECK_RC (zmq_timers_add (timers, 5000, on_timer, &b));
    CHECK (ida != idb);
    long t = zmq_timers_timeout (timers);
    CHECK_MSG (t >= 0 && t <= 50, "timeout %ld", t);
    /* Not due yet. */
    CHECK_RC (zmq_timers_execute (timers));
    CHECK_EQ_INT (a.calls, 0);

    const int64_t took = run_until (timers, &a, 1);
    CHECK_MSG (took >= 40, "fired after %lld ms", (long long) took);
    CHECK_EQ_INT (a.last_id, ida);
    CHECK_EQ_INT (b.calls, 0);
    /* It repeats. */
    run_until (timers, &a, 3);
    CHECK_EQ_INT (b.calls, 0);

    /* A longer interval pushes the next call out. */
    CHECK_RC (zmq_timers_set_interval (timers, ida, 4000));
    t = zmq_timers_timeout (timers);
    CHECK_MSG (t > 3000 && t <= 4000, "timeout %ld after set_interval", t);
    /* Reset restarts the full interval. */
    CHECK_RC (zmq_timers_set_interval (timers, idb, 20));
    CHECK_RC (zmq_timers_reset (timers, idb));
    t = zmq_timers_timeout (timers);
    CHECK_MSG (t >= 0 && t <= 20, "timeout %ld after reset", t);
    run_until (timers, &b, 1);
    CHECK_EQ_INT (b.last_id, idb);

    /* Cancelled timers never fire again. */
    CHECK_RC (zmq_timers_cancel (timers, idb));
    CHECK_ERRNO (zmq_timers_cancel (timers, idb), EINVAL);
    CHECK_RC (zmq_timers_set_interval (timers, ida, 10));
    const int before = b.calls;
    run_until (timers, &a, a.calls + 2);
    CHECK_EQ_INT (b.calls, before);
    CHECK_RC (zmq_timers_cancel (timers, ida));
    CHECK_EQ_INT (zmq_timers_timeout (timers), -1);

    /* Bad arguments. */
    CHECK_ERRNO (zmq_timers_cancel (timers, 12345), EINVAL);
    CHECK_ERRNO (zmq_timers_set_interval (timers, 12345, 10), EINVAL);
    CHECK_ERRNO (zmq_timers_reset (timers, 12345), EINVAL);
    CHECK_ERRNO (zmq_timers_add (timers, 10, NULL, NULL), EFAULT);
    CHECK_ERRNO (zmq_timers_add (NULL, 10, on_timer, &a), EFAULT);
    CHECK_ERRNO (zmq_timers_execute (NULL), EFAULT);
    errno = 0;
    CHECK_EQ_INT (zmq_timers_timeout (NULL), -1);
    CHECK_EQ_INT (zmq_errno (), EFAULT);

    CHECK_RC (zmq_timers_destroy (&timers));
    CHECK (timers == NULL);
    CHECK_ERRNO (zmq_timers_destroy (&timers), EFAULT);
}

int main (void)
{
    test_begin ("test_utils");
    test_z85 ();
    test_curve ();
    test_atomic_counter ();
    test_stopwatch_sleep ();
    test_threads ();
    test_timers ();
    test_end ("test_utils");
    return 0;
}

/*
 * testutil.h: the assertions and helpers shared by the C API tests.
 *
 * Each test is a standalone program: main() calls test_begin(), runs its
 * checks and returns 0. The first failing check prints file:line, the
 * expression and zmq_strerror(zmq_errno()), then exits with status 1.
 *
 * Nothing here sleeps for a fixed time to wait for another party: waits
 * are polls (zmq_poll, poll(2) or a condition re-checked in a loop) bounded
 * by a generous deadline, and a watchdog alarm ends a hung program.
 *
 * Only zmq.h's stable API (libzmq 4.3) is used, so every test builds
 * against the reference libzmq as well as against ferromq's libzmq.
 */
#ifndef FERROMQ_C_TESTUTIL_H
#define FERROMQ_C_TESTUTIL_H

#define _GNU_SOURCE 1

#include <zmq.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long any single wait may take before the test calls it a failure. */
#define TEST_DEADLINE_MS 10000
/* The whole program must finish within this many seconds. */
#define TEST_WATCHDOG_S 55

#if defined(__GNUC__) || defined(__clang__)
#define TEST_UNUSED __attribute__ ((unused))
#define TEST_NORETURN __attribute__ ((noreturn))
#else
#define TEST_UNUSED
#define TEST_NORETURN
#endif

/* ------------------------------------------------------------------ */
/* Failure reporting                                                    */
/* ------------------------------------------------------------------ */

static TEST_UNUSED TEST_NORETURN void
test_fail_ (const char *file, int line, const char *expr, const char *fmt, ...)
{
    const int err = zmq_errno ();
    fprintf (stderr, "%s:%d: CHECK FAILED: %s\n", file, line, expr);
    if (fmt) {
        va_list ap;
        va_start (ap, fmt);
        fprintf (stderr, "    ");
        vfprintf (stderr, fmt, ap);
        fprintf (stderr, "\n");
        va_end (ap);
    }
    fprintf (stderr, "    errno %d: %s\n", err, zmq_strerror (err));
    fflush (stderr);
    exit (1);
}

/* CHECK(cond): cond must hold. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            test_fail_ (__FILE__, __LINE__, #cond, NULL);                      \
    } while (0)

/* CHECK_MSG(cond, fmt, ...): as CHECK, with a formatted explanation. */
#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            test_fail_ (__FILE__, __LINE__, #cond, __VA_ARGS__);               \
    } while (0)

static TEST_UNUSED int
test_check_rc_ (int rc, const char *file, int line, const char *expr)
{
    if (rc == -1)
        test_fail_ (file, line, expr, "returned -1");
    return rc;
}

/* CHECK_RC(call): call must not return -1; evaluates to its result. */
#define CHECK_RC(call) test_check_rc_ ((call), __FILE__, __LINE__, #call)

static TEST_UNUSED void *
test_check_ptr_ (void *p, const char *file, int line, const char *expr)
{
    if (p == NULL)
        test_fail_ (file, line, expr, "returned NULL");
    return p;
}

/* CHECK_PTR(call): call must not return NULL; evaluates to its result. */
#define CHECK_PTR(call) test_check_ptr_ ((void *) (call), __FILE__, __LINE__, #call)

static TEST_UNUSED void test_check_errno_ (
  int rc, int want, const char *file, int line, const char *expr)
{
    const int got = zmq_errno ();
    if (rc != -1)
        test_fail_ (file, line, expr, "returned %d, expected -1 with errno %d (%s)",
                    rc, want, zmq_strerror (want));
    if (got != want)
        test_fail_ (file, line, expr, "errno is %d (%s), expected %d (%s)", got,
                    zmq_strerror (got), want, zmq_strerror (want));
}

/* CHECK_ERRNO(call, err): call must return -1 with zmq_errno() == err. */
#define CHECK_ERRNO(call, err)                                                 \
    do {                                                                       \
        errno = 0;                                                             \
        const int check_errno_rc_ = (call);                                    \
        test_check_errno_ (check_errno_rc_, (err), __FILE__, __LINE__, #call); \
    } while (0)

/* CHECK_NULL_ERRNO(call, err): call must return NULL with that errno. */
#define CHECK_NULL_ERRNO(call, err)                                            \
    do {                                                                       \
        errno = 0;                                                             \
        const void *check_null_p_ = (const void *) (call);                     \
        test_check_errno_ (check_null_p_ == NULL ? -1 : 0, (err), __FILE__,    \
                           __LINE__, #call);                                   \
    } while (0)

/* CHECK_EQ_INT(a, b): both printed on failure. */
#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        const long long check_a_ = (long long) (a);                            \
        const long long check_b_ = (long long) (b);                            \
        if (check_a_ != check_b_)                                              \
            test_fail_ (__FILE__, __LINE__, #a " == " #b, "%lld != %lld",      \
                        check_a_, check_b_);                                   \
    } while (0)

/* CHECK_EQ_STR(a, b): NUL-terminated strings, both printed on failure. */
#define CHECK_EQ_STR(a, b)                                                     \
    do {                                                                       \
        const char *check_a_ = (a);                                            \
        const char *check_b_ = (b);                                            \
        if (check_a_ == NULL || check_b_ == NULL                               \
            || strcmp (check_a_, check_b_) != 0)                               \
            test_fail_ (__FILE__, __LINE__, #a " == " #b, "\"%s\" != \"%s\"",  \
                        check_a_ ? check_a_ : "(null)",                        \
                        check_b_ ? check_b_ : "(null)");                       \
    } while (0)

/* ------------------------------------------------------------------ */
/* Time, deadlines and the watchdog                                     */
/* ------------------------------------------------------------------ */

static TEST_UNUSED int64_t test_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static TEST_UNUSED void test_nap_ms (int ms)
{
    /* Only used between re-checks of a condition inside wait loops. */
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

static void test_watchdog_ (int sig)
{
    (void) sig;
    static const char msg[] = "TEST TIMED OUT (watchdog)\n";
    ssize_t ignored = write (2, msg, sizeof msg - 1);
    (void) ignored;
    _exit (2);
}

/* Call first in main(): unbuffered output and a watchdog alarm. */
static TEST_UNUSED void test_begin (const char *name)
{
    setvbuf (stdout, NULL, _IONBF, 0);
    signal (SIGALRM, test_watchdog_);
    alarm (TEST_WATCHDOG_S);
    signal (SIGPIPE, SIG_IGN);
    printf ("== %s\n", name);
}

/* Announce one section, so a failure's output says where it happened. */
#define TEST_SECTION(name) printf ("-- %s\n", (name))

static TEST_UNUSED void test_end (const char *name)
{
    printf ("== %s: OK\n", name);
}

/* Re-check cond(arg) until it holds or deadline_ms passes. */
static TEST_UNUSED int test_wait_for (int (*cond) (void *), void *arg,
                                      int deadline_ms)
{
    const int64_t until = test_now_ms () + deadline_ms;
    int nap = 1;
    while (!cond (arg)) {
        if (test_now_ms () > until)
            return 0;
        test_nap_ms (nap);
        if (nap < 20)
            nap *= 2;
    }
    return 1;
}

#define CHECK_WAIT(cond_fn, arg)                                               \
    CHECK_MSG (test_wait_for ((cond_fn), (arg), TEST_DEADLINE_MS),             \
               "condition %s not reached within %d ms", #cond_fn,              \
               TEST_DEADLINE_MS)

/* ------------------------------------------------------------------ */
/* Sockets                                                              */
/* ------------------------------------------------------------------ */

static TEST_UNUSED void test_set_int (void *s, int option, int value)
{
    CHECK_RC (zmq_setsockopt (s, option, &value, sizeof value));
}

static TEST_UNUSED int test_get_int (void *s, int option)
{
    int value = -12345;
    size_t size = sizeof value;
    CHECK_RC (zmq_getsockopt (s, option, &value, &size));
    CHECK_EQ_INT (size, sizeof value);
    return value;
}

/* A socket whose blocking calls give up (EAGAIN) after the deadline
 * and whose close never waits. */
static TEST_UNUSED void *test_socket (void *ctx, int type)
{
    void *s = CHECK_PTR (zmq_socket (ctx, type));
    test_set_int (s, ZMQ_LINGER, 0);
    test_set_int (s, ZMQ_RCVTIMEO, TEST_DEADLINE_MS);
    test_set_int (s, ZMQ_SNDTIMEO, TEST_DEADLINE_MS);
    return s;
}

/* Binds to tcp://127.0.0.1:* and reads back the real endpoint. */
static TEST_UNUSED void test_bind_tcp (void *s, char *endpoint, size_t len)
{
    CHECK_RC (zmq_bind (s, "tcp://127.0.0.1:*"));
    size_t size = len;
    CHECK_RC (zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, endpoint, &size));
    CHECK (size > 0 && size <= len);
    CHECK_EQ_INT (endpoint[size - 1], '\0');
    CHECK_EQ_INT (strlen (endpoint) + 1, size);
    CHECK (strncmp (endpoint, "tcp://127.0.0.1:", 16) == 0);
    CHECK (strcmp (endpoint, "tcp://127.0.0.1:*") != 0);
}

/* Temporary directories made by test_tmpdir, removed at exit. */
#define TEST_MAX_TMPDIRS 8
static char test_tmpdirs_[TEST_MAX_TMPDIRS][256];
static int test_ntmpdirs_ = 0;

static void test_cleanup_tmpdirs_ (void)
{
    /* Each directory holds at most a few ipc socket files. */
    for (int i = 0; i < test_ntmpdirs_; i++) {
        DIR *d = opendir (test_tmpdirs_[i]);
        if (d) {
            struct dirent *e;
            while ((e = readdir (d)) != NULL) {
                if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
                    continue;
                char path[512];
                snprintf (path, sizeof path, "%.255s/%.200s", test_tmpdirs_[i],
                          e->d_name);
                unlink (path);
            }
            closedir (d);
        }
        if (rmdir (test_tmpdirs_[i]) != 0)
            fprintf (stderr, "could not remove %s\n", test_tmpdirs_[i]);
    }
}

/* A fresh private directory; returns its path. */
static TEST_UNUSED const char *test_tmpdir (void)
{
    CHECK (test_ntmpdirs_ < TEST_MAX_TMPDIRS);
    const char *base = getenv ("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *dir = test_tmpdirs_[test_ntmpdirs_];
    snprintf (dir, sizeof test_tmpdirs_[0], "%s/zmqctest.XXXXXX", base);
    CHECK_PTR (mkdtemp (dir));
    if (test_ntmpdirs_++ == 0)
        atexit (test_cleanup_tmpdirs_);
    return dir;
}

/* An ipc:// endpoint in a fresh temporary directory. */
static TEST_UNUSED void test_ipc_endpoint (char *endpoint, size_t len,
                                           const char *name)
{
    const int n = snprintf (endpoint, len, "ipc://%s/%s", test_tmpdir (), name);
    CHECK (n > 0 && (size_t) n < len);
}

/* Sends a string as one frame (flags: 0 or ZMQ_SNDMORE...). */
static TEST_UNUSED void test_send_str (void *s, const char *str, int flags)
{
    const int n = CHECK_RC (zmq_send (s, str, strlen (str), flags));
    CHECK_EQ_INT (n, strlen (str));
}

/* Receives one frame and checks that it is exactly str; returns its
 * ZMQ_RCVMORE. */
static TEST_UNUSED int
test_recv_str_ (void *s, const char *str, const char *file, int line)
{
    char buf[512];
    const int n = zmq_recv (s, buf, sizeof buf - 1, 0);
    if (n == -1)
        test_fail_ (file, line, "zmq_recv", "expected \"%s\"", str);
    const size_t got = (size_t) n < sizeof buf - 1 ? (size_t) n : sizeof buf - 1;
    if ((size_t) n != strlen (str) || memcmp (buf, str, got) != 0) {
        buf[got] = 0;
        test_fail_ (file, line, "received frame", "got \"%s\" (%d bytes), expected \"%s\"",
                    buf, n, str);
    }
    int more = 0;
    size_t size = sizeof more;
    if (zmq_getsockopt (s, ZMQ_RCVMORE, &more, &size) == -1)
        test_fail_ (file, line, "zmq_getsockopt (ZMQ_RCVMORE)", NULL);
    return more;
}

#define TEST_RECV_STR(s, str) test_recv_str_ ((s), (str), __FILE__, __LINE__)

/* Receives str as the last frame of a message. */
#define TEST_RECV_LAST(s, str)                                                 \
    CHECK_MSG (TEST_RECV_STR (s, str) == 0, "more frames after \"%s\"", (str))
/* Receives str with more frames to follow. */
#define TEST_RECV_MORE(s, str)                                                 \
    CHECK_MSG (TEST_RECV_STR (s, str) == 1, "no more frames after \"%s\"", (str))

/* Waits until zmq_poll reports `events` on s; fails after the deadline. */
static TEST_UNUSED void
test_poll_for_ (void *s, short events, const char *file, int line)
{
    zmq_pollitem_t item = {s, 0, events, 0};
    const int rc = zmq_poll (&item, 1, TEST_DEADLINE_MS);
    if (rc != 1 || !(item.revents & events))
        test_fail_ (file, line, "zmq_poll", "rc %d revents %d, wanted %d", rc,
                    item.revents, events);
}

#define TEST_POLL_FOR(s, events) test_poll_for_ ((s), (events), __FILE__, __LINE__)

/* A REQ-free round trip over a connected pair: a sends ping, b answers. */
static TEST_UNUSED void test_bounce (void *a, void *b)
{
    test_send_str (a, "bounce-ping", 0);
    TEST_RECV_LAST (b, "bounce-ping");
    test_send_str (b, "bounce-pong", 0);
    TEST_RECV_LAST (a, "bounce-pong");
}

/* ------------------------------------------------------------------ */
/* Threads                                                              */
/* ------------------------------------------------------------------ */

static TEST_UNUSED pthread_t test_thread (void *(*fn) (void *), void *arg)
{
    pthread_t t;
    const int rc = pthread_create (&t, NULL, fn, arg);
    CHECK_MSG (rc == 0, "pthread_create: %s", strerror (rc));
    return t;
}

static TEST_UNUSED void *test_join (pthread_t t)
{
    void *ret = NULL;
    const int rc = pthread_join (t, &ret);
    CHECK_MSG (rc == 0, "pthread_join: %s", strerror (rc));
    return ret;
}

#endif

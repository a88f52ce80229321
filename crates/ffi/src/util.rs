//! util: libzmq's helper functions that need no context or socket.
//!
//! Version and error texts, capability probing, Z85 (ZeroMQ RFC 32),
//! atomic counters, the stopwatch, `zmq_sleep`, threads, and the CURVE
//! key helpers (which report `ENOTSUP` until CURVE is built in).

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr, CString};
use std::ptr;
use std::slice;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crate::errno::{self, fail, guard, Errno};

/// The libzmq release this library stands in for.
pub(crate) const VERSION: (c_int, c_int, c_int) = (4, 3, 5);

/// `void zmq_version(int *major, int *minor, int *patch)`.
///
/// libzmq writes through all three pointers; a NULL one is skipped here.
#[no_mangle]
pub unsafe extern "C" fn zmq_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int) {
    guard((), || {
        for (out, value) in [(major, VERSION.0), (minor, VERSION.1), (patch, VERSION.2)] {
            if !out.is_null() {
                // SAFETY: the caller passes pointers to writable ints (NULL
                // ones are skipped above).
                unsafe { out.write(value) };
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Error texts
// ---------------------------------------------------------------------------

/// `const char *zmq_strerror(int errnum)`: a static text for `errnum`.
///
/// ZeroMQ's own error numbers get libzmq's messages; everything else gets
/// the C library's, which libzmq also returns (through `strerror`).
#[no_mangle]
pub extern "C" fn zmq_strerror(errnum: c_int) -> *const c_char {
    guard(c"Unknown error".as_ptr(), || Ok(strerror(errnum).as_ptr()))
}

/// The text `zmq_strerror` returns for `errnum`.
pub(crate) fn strerror(errnum: c_int) -> &'static CStr {
    match errnum {
        errno::EFSM => c"Operation cannot be accomplished in current state",
        errno::ENOCOMPATPROTO => c"The protocol is not compatible with the socket type",
        errno::ETERM => c"Context was terminated",
        errno::EMTHREAD => c"No thread available",
        // libzmq overrides the system's text for this one ("No route to
        // host" on Linux).
        libc::EHOSTUNREACH => c"Host unreachable",
        _ => system_strerror(errnum),
    }
}

/// How many distinct system texts [`system_strerror`] keeps; each is
/// leaked so that the pointer handed to C stays valid forever. Real errno
/// values number a few hundred at most.
const STRERROR_CACHE_LIMIT: usize = 4096;

/// Texts already fetched from the C library, by errno value.
static STRERROR_CACHE: Mutex<BTreeMap<c_int, &'static CStr>> = Mutex::new(BTreeMap::new());

/// The C library's text for `errnum`, as a string that lives forever.
///
/// `strerror` itself may hand back a buffer that the next call (on any
/// thread) overwrites; `strerror_r` into a private buffer, then leaking one
/// copy per errno value, is safe to share between threads.
fn system_strerror(errnum: c_int) -> &'static CStr {
    let mut cache = STRERROR_CACHE
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(text) = cache.get(&errnum) {
        return text;
    }
    if cache.len() >= STRERROR_CACHE_LIMIT {
        return c"Unknown error";
    }
    let text: &'static CStr = Box::leak(libc_strerror(errnum).into_boxed_c_str());
    cache.insert(errnum, text);
    text
}

/// Calls the C library's (XSI) `strerror_r` for `errnum`.
fn libc_strerror(errnum: c_int) -> CString {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for buf.len() bytes; strerror_r writes at most
    // that many, NUL included. Its return value is not needed: glibc fills
    // in "Unknown error N" even when it returns EINVAL, and an empty buffer
    // is handled below.
    unsafe { libc::strerror_r(errnum, buf.as_mut_ptr().cast::<c_char>(), buf.len()) };
    match CStr::from_bytes_until_nul(&buf) {
        Ok(text) if !text.is_empty() => text.to_owned(),
        _ => CString::new(format!("Unknown error {errnum}")).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------

/// `int zmq_has(const char *capability)`: 1 if the library provides
/// `capability` ("ipc", "pgm", "tipc", "norm", "curve", "gssapi",
/// "draft"), 0 otherwise.
#[no_mangle]
pub unsafe extern "C" fn zmq_has(capability: *const c_char) -> c_int {
    guard(0, || {
        if capability.is_null() {
            return Ok(0);
        }
        // SAFETY: the caller passes a NUL-terminated string.
        let name = unsafe { CStr::from_ptr(capability) };
        Ok(c_int::from(has(name.to_bytes())))
    })
}

/// Whether `zmq_has` reports `capability`: the ipc:// transport and the
/// CURVE mechanism. The draft API is not there yet, and PGM, TIPC, NORM
/// and GSSAPI are not planned.
pub(crate) fn has(capability: &[u8]) -> bool {
    matches!(capability, b"ipc" | b"curve")
}

// ---------------------------------------------------------------------------
// Z85 (ZeroMQ RFC 32)
// ---------------------------------------------------------------------------

/// The 85 digits, in order of value.
const Z85_DIGITS: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Digit value by character; `INVALID` for characters that are not digits.
const Z85_VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut value = 0;
    while value < Z85_DIGITS.len() {
        table[Z85_DIGITS[value] as usize] = value as u8;
        value += 1;
    }
    table
};
const INVALID: u8 = 0xFF;

/// Z85-encodes `data` into `out`, which must hold exactly
/// `data.len() / 4 * 5` bytes. `None` if `data.len()` is not a multiple of
/// 4.
pub(crate) fn z85_encode_into(data: &[u8], out: &mut [u8]) -> Option<()> {
    if data.len() % 4 != 0 || out.len() != data.len() / 4 * 5 {
        return None;
    }
    for (word, digits) in data.chunks_exact(4).zip(out.chunks_exact_mut(5)) {
        let mut value = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        for digit in digits.iter_mut().rev() {
            *digit = Z85_DIGITS[(value % 85) as usize];
            value /= 85;
        }
    }
    Some(())
}

/// Decodes the Z85 text `text` into `out`, which must hold exactly
/// `text.len() / 5 * 4` bytes. `None` if the text is empty, not a multiple
/// of 5 long, holds a character that is not a Z85 digit, or a group of five
/// that exceeds 2^32 - 1; `out` may then be partly written, as with libzmq.
pub(crate) fn z85_decode_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    if text.is_empty() || text.len() % 5 != 0 || out.len() != text.len() / 5 * 4 {
        return None;
    }
    for (digits, word) in text.chunks_exact(5).zip(out.chunks_exact_mut(4)) {
        let mut value: u32 = 0;
        for &c in digits {
            let digit = Z85_VALUES[usize::from(c)];
            if digit == INVALID {
                return None;
            }
            value = value.checked_mul(85)?.checked_add(u32::from(digit))?;
        }
        word.copy_from_slice(&value.to_be_bytes());
    }
    Some(())
}

/// `char *zmq_z85_encode(char *dest, const uint8_t *data, size_t size)`:
/// writes `size * 5 / 4` characters and a NUL to `dest` and returns it;
/// NULL with `EINVAL` if `size` is not a multiple of 4.
#[no_mangle]
pub unsafe extern "C" fn zmq_z85_encode(
    dest: *mut c_char,
    data: *const u8,
    size: usize,
) -> *mut c_char {
    guard(ptr::null_mut(), || {
        if size % 4 != 0 || dest.is_null() || (data.is_null() && size != 0) {
            return fail(libc::EINVAL);
        }
        let data = if size == 0 {
            &[][..]
        } else {
            // SAFETY: the caller passes `size` readable bytes at `data`.
            unsafe { slice::from_raw_parts(data, size) }
        };
        let len = size / 4 * 5;
        // SAFETY: the caller provides room for size * 5 / 4 characters plus
        // the NUL at `dest`.
        let out = unsafe { slice::from_raw_parts_mut(dest.cast::<u8>(), len + 1) };
        z85_encode_into(data, &mut out[..len]).ok_or(Errno(libc::EINVAL))?;
        out[len] = 0;
        Ok(dest)
    })
}

/// `uint8_t *zmq_z85_decode(uint8_t *dest, const char *string)`: writes
/// `strlen(string) * 4 / 5` bytes to `dest` and returns it; NULL with
/// `EINVAL` if the string is not valid Z85 (see [`z85_decode_into`]).
#[no_mangle]
pub unsafe extern "C" fn zmq_z85_decode(dest: *mut u8, string: *const c_char) -> *mut u8 {
    guard(ptr::null_mut(), || {
        if dest.is_null() || string.is_null() {
            return fail(libc::EINVAL);
        }
        // SAFETY: the caller passes a NUL-terminated string.
        let text = unsafe { CStr::from_ptr(string) }.to_bytes();
        if text.is_empty() || text.len() % 5 != 0 {
            return fail(libc::EINVAL);
        }
        // SAFETY: the caller provides room for strlen(string) * 4 / 5 bytes
        // at `dest`.
        let out = unsafe { slice::from_raw_parts_mut(dest, text.len() / 5 * 4) };
        z85_decode_into(text, out).ok_or(Errno(libc::EINVAL))?;
        Ok(dest)
    })
}

// ---------------------------------------------------------------------------
// CURVE key helpers
// ---------------------------------------------------------------------------

/// Writes a Z85 key (40 characters) and its NUL into a 41-byte buffer.
///
/// # Safety
/// `dest` is NULL or has room for 41 bytes.
unsafe fn write_z85_key(dest: *mut c_char, key: &str) -> Result<(), Errno> {
    if dest.is_null() {
        return fail(libc::EINVAL);
    }
    debug_assert_eq!(key.len(), 40);
    // SAFETY: dest has 41 bytes (the caller's contract); key is 40 ASCII
    // bytes, then the terminator.
    unsafe {
        std::ptr::copy_nonoverlapping(key.as_ptr(), dest as *mut u8, key.len());
        *dest.add(key.len()) = 0;
    }
    Ok(())
}

/// `int zmq_curve_keypair(char *z85_public_key, char *z85_secret_key)`: a
/// new CURVE key pair, each key as 40 Z85 characters and a NUL (41-byte
/// buffers).
#[no_mangle]
pub unsafe extern "C" fn zmq_curve_keypair(
    z85_public_key: *mut c_char,
    z85_secret_key: *mut c_char,
) -> c_int {
    guard(-1, || {
        let (public, secret) = ferromq::curve_keypair_z85();
        // SAFETY: both buffers have 41 bytes (the function's contract).
        unsafe {
            write_z85_key(z85_public_key, &public)?;
            write_z85_key(z85_secret_key, &secret)?;
        }
        Ok(0)
    })
}

/// `int zmq_curve_public(char *z85_public_key, const char *z85_secret_key)`:
/// the public key of a Z85 secret key; EINVAL if that is not one.
#[no_mangle]
pub unsafe extern "C" fn zmq_curve_public(
    z85_public_key: *mut c_char,
    z85_secret_key: *const c_char,
) -> c_int {
    guard(-1, || {
        if z85_secret_key.is_null() {
            return fail(libc::EINVAL);
        }
        // SAFETY: a NUL-terminated string (the function's contract).
        let secret = unsafe { CStr::from_ptr(z85_secret_key) };
        let public = secret
            .to_str()
            .ok()
            .and_then(|s| ferromq::curve_public_z85(s).ok())
            .ok_or(Errno(libc::EINVAL))?;
        // SAFETY: z85_public_key has 41 bytes (the function's contract).
        unsafe { write_z85_key(z85_public_key, &public)? };
        Ok(0)
    })
}

// ---------------------------------------------------------------------------
// Atomic counters
// ---------------------------------------------------------------------------

// libzmq's counter is an unsigned 32-bit integer that the API reads and
// writes as int: it wraps rather than overflowing, and so does ours.

/// The counter behind a `void *` from `zmq_atomic_counter_new`.
///
/// # Safety
/// `counter` is NULL or came from `zmq_atomic_counter_new` and has not been
/// destroyed.
unsafe fn counter<'a>(counter: *mut c_void) -> Result<&'a AtomicU32, Errno> {
    if counter.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: per this function's contract, a live Box<AtomicU32>.
    Ok(unsafe { &*counter.cast::<AtomicU32>() })
}

/// `void *zmq_atomic_counter_new(void)`: a new counter holding 0.
#[no_mangle]
pub extern "C" fn zmq_atomic_counter_new() -> *mut c_void {
    guard(ptr::null_mut(), || {
        Ok(Box::into_raw(Box::new(AtomicU32::new(0))).cast())
    })
}

/// `void zmq_atomic_counter_set(void *counter, int value)`.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_set(counter_: *mut c_void, value: c_int) {
    guard((), || {
        // SAFETY: the caller passes a live counter.
        unsafe { counter(counter_) }?.store(value as u32, Ordering::Release);
        Ok(())
    })
}

/// `int zmq_atomic_counter_inc(void *counter)`: adds 1 and returns the
/// value before.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_inc(counter_: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a live counter.
        let old = unsafe { counter(counter_) }?.fetch_add(1, Ordering::AcqRel);
        Ok(old as c_int)
    })
}

/// `int zmq_atomic_counter_dec(void *counter)`: subtracts 1; returns 1 if
/// the counter is nonzero afterwards, 0 if it reached zero.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_dec(counter_: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a live counter.
        let old = unsafe { counter(counter_) }?.fetch_sub(1, Ordering::AcqRel);
        Ok(c_int::from(old.wrapping_sub(1) != 0))
    })
}

/// `int zmq_atomic_counter_value(void *counter)`.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_value(counter_: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a live counter.
        Ok(unsafe { counter(counter_) }?.load(Ordering::Acquire) as c_int)
    })
}

/// `void zmq_atomic_counter_destroy(void **counter_p)`: frees the counter
/// and sets `*counter_p` to NULL.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_destroy(counter_p: *mut *mut c_void) {
    guard((), || {
        if counter_p.is_null() {
            return Ok(());
        }
        // SAFETY: the caller passes a pointer to its counter variable.
        let counter = unsafe { counter_p.replace(ptr::null_mut()) };
        if !counter.is_null() {
            // SAFETY: a live counter from zmq_atomic_counter_new, now
            // forgotten by the caller.
            drop(unsafe { Box::from_raw(counter.cast::<AtomicU32>()) });
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Stopwatch and sleep
// ---------------------------------------------------------------------------

/// Microseconds since the stopwatch at `watch` started, as `unsigned long`.
///
/// # Safety
/// `watch` is NULL or came from `zmq_stopwatch_start` and was not stopped.
unsafe fn elapsed_us(watch: *mut c_void) -> Result<c_ulong, Errno> {
    if watch.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: per this function's contract, a live Box<Instant>.
    let start = unsafe { &*watch.cast::<Instant>() };
    // libzmq's value is a 64-bit microsecond count cast to unsigned long.
    Ok(start.elapsed().as_micros() as c_ulong)
}

/// `void *zmq_stopwatch_start(void)`: a stopwatch started now, on a
/// monotonic clock.
#[no_mangle]
pub extern "C" fn zmq_stopwatch_start() -> *mut c_void {
    guard(ptr::null_mut(), || {
        Ok(Box::into_raw(Box::new(Instant::now())).cast())
    })
}

/// `unsigned long zmq_stopwatch_intermediate(void *watch)`: microseconds
/// since the start; the watch keeps running.
#[no_mangle]
pub unsafe extern "C" fn zmq_stopwatch_intermediate(watch: *mut c_void) -> c_ulong {
    guard(0, || {
        // SAFETY: the caller passes a running stopwatch.
        unsafe { elapsed_us(watch) }
    })
}

/// `unsigned long zmq_stopwatch_stop(void *watch)`: microseconds since the
/// start; frees the watch.
#[no_mangle]
pub unsafe extern "C" fn zmq_stopwatch_stop(watch: *mut c_void) -> c_ulong {
    guard(0, || {
        // SAFETY: the caller passes a running stopwatch.
        let elapsed = unsafe { elapsed_us(watch) }?;
        // SAFETY: as above; the caller no longer uses it after this call.
        drop(unsafe { Box::from_raw(watch.cast::<Instant>()) });
        Ok(elapsed)
    })
}

/// `void zmq_sleep(int seconds)`: sleeps as POSIX `sleep` does (as libzmq
/// does), so a signal handler's return ends the sleep early. Zero or a
/// negative count returns at once.
#[no_mangle]
pub extern "C" fn zmq_sleep(seconds: c_int) {
    guard((), || {
        if seconds > 0 {
            // SAFETY: sleep has no memory-safety preconditions.
            unsafe { libc::sleep(seconds as c_uint) };
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

/// `zmq_thread_fn`: `void (void *)`.
type ThreadFn = unsafe extern "C" fn(*mut c_void);

/// The caller's thread argument, carried to the new thread.
struct ThreadArg(*mut c_void);

// SAFETY: the pointer is only handed back to the caller's own thread
// function; making it safe to use there is the caller's business, as with
// libzmq.
unsafe impl Send for ThreadArg {}

impl ThreadArg {
    /// Unwraps the pointer (a method, so that closures capture the whole
    /// Send wrapper rather than its field).
    fn into_inner(self) -> *mut c_void {
        self.0
    }
}

/// Blocks every signal on the calling thread, as libzmq does in the threads
/// it starts: process-directed signals then reach the application's own
/// threads (where a blocking zmq call returns EINTR) rather than this one.
fn block_all_signals() {
    // SAFETY: sigset_t is plain data, initialised by sigfillset before
    // pthread_sigmask reads it; neither call keeps the pointer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut());
    }
}

/// `void *zmq_threadstart(zmq_thread_fn *func, void *arg)`: runs
/// `func(arg)` on a new thread named "ZMQapp", with signals blocked, and
/// returns a handle for `zmq_threadclose`. NULL with errno on failure
/// (`EINVAL` for a NULL `func`).
#[no_mangle]
pub unsafe extern "C" fn zmq_threadstart(func: Option<ThreadFn>, arg: *mut c_void) -> *mut c_void {
    guard(ptr::null_mut(), || {
        let Some(func) = func else {
            return fail(libc::EINVAL);
        };
        let arg = ThreadArg(arg);
        let handle = thread::Builder::new()
            .name("ZMQapp".into())
            .spawn(move || {
                let arg = arg.into_inner();
                block_all_signals();
                // SAFETY: the caller's thread function, called with the
                // caller's argument, as zmq_threadstart promises.
                unsafe { func(arg) }
            })
            .map_err(|err| Errno(err.raw_os_error().unwrap_or(libc::EAGAIN)))?;
        Ok(Box::into_raw(Box::new(handle)).cast())
    })
}

/// `void zmq_threadclose(void *thread)`: waits for the thread to finish,
/// then frees its handle.
#[no_mangle]
pub unsafe extern "C" fn zmq_threadclose(thread: *mut c_void) {
    guard((), || {
        if thread.is_null() {
            return Ok(());
        }
        // SAFETY: a handle from zmq_threadstart, closed only once.
        let handle = unsafe { Box::from_raw(thread.cast::<JoinHandle<()>>()) };
        // The thread only runs C code, which cannot unwind into Rust; a
        // join error has nothing to report.
        let _ = handle.join();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    fn encode(data: &[u8]) -> Option<String> {
        let mut out = vec![0 as c_char; data.len() * 5 / 4 + 1];
        // SAFETY: out has room for the text and its NUL; data is a slice.
        let rc = unsafe { zmq_z85_encode(out.as_mut_ptr(), data.as_ptr(), data.len()) };
        if rc.is_null() {
            return None;
        }
        assert_eq!(rc, out.as_mut_ptr());
        // SAFETY: zmq_z85_encode NUL-terminated out.
        Some(unsafe { CStr::from_ptr(rc) }.to_str().unwrap().to_owned())
    }

    fn decode(text: &str) -> Option<Vec<u8>> {
        let text = CString::new(text).unwrap();
        let mut out = vec![0u8; text.as_bytes().len() * 4 / 5];
        // SAFETY: out has room for the decoded bytes; text is NUL-terminated.
        let rc = unsafe { zmq_z85_decode(out.as_mut_ptr(), text.as_ptr()) };
        if rc.is_null() {
            None
        } else {
            Some(out)
        }
    }

    #[test]
    fn version_is_4_3_5() {
        let (mut major, mut minor, mut patch) = (0, 0, 0);
        // SAFETY: three writable ints.
        unsafe { zmq_version(&mut major, &mut minor, &mut patch) };
        assert_eq!((major, minor, patch), (4, 3, 5));
        // SAFETY: NULL pointers are skipped.
        unsafe { zmq_version(ptr::null_mut(), ptr::null_mut(), ptr::null_mut()) };
    }

    #[test]
    fn z85_rfc32_test_vector() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).as_deref(), Some("HelloWorld"));
        assert_eq!(decode("HelloWorld").as_deref(), Some(&data[..]));
    }

    #[test]
    fn z85_round_trips_every_byte_value() {
        let data: Vec<u8> = (0..=255).collect();
        let text = encode(&data).unwrap();
        assert_eq!(text.len(), 320);
        assert_eq!(decode(&text).unwrap(), data);
        // The extremes of a group.
        assert_eq!(encode(&[0; 4]).as_deref(), Some("00000"));
        assert_eq!(encode(&[0xFF; 4]).as_deref(), Some("%nSc0"));
        assert_eq!(decode("%nSc0").as_deref(), Some(&[0xFF; 4][..]));
    }

    #[test]
    fn z85_rejects_bad_input_with_einval() {
        for size in [1, 2, 3, 5, 7] {
            errno::set_errno(0);
            assert_eq!(encode(&vec![0; size]), None, "size {size}");
            assert_eq!(errno::errno(), libc::EINVAL);
        }
        assert_eq!(encode(&[]).as_deref(), Some(""));
        for text in [
            "",
            "Hell",
            "HelloWorl",
            "Hello World",
            "Hell\"",
            "Hell~",
            "Hell\u{7f}",
            "#####",
            "%nSc1",
        ] {
            errno::set_errno(0);
            assert_eq!(decode(text), None, "{text:?}");
            assert_eq!(errno::errno(), libc::EINVAL, "{text:?}");
        }
    }

    #[test]
    fn strerror_uses_libzmq_texts_for_its_own_errors() {
        let text = |n| {
            // SAFETY: zmq_strerror returns a static NUL-terminated string.
            unsafe { CStr::from_ptr(zmq_strerror(n)) }.to_str().unwrap()
        };
        assert_eq!(text(errno::ETERM), "Context was terminated");
        assert_eq!(
            text(errno::EFSM),
            "Operation cannot be accomplished in current state"
        );
        assert_eq!(
            text(errno::ENOCOMPATPROTO),
            "The protocol is not compatible with the socket type"
        );
        assert_eq!(text(errno::EMTHREAD), "No thread available");
        assert_eq!(text(libc::EHOSTUNREACH), "Host unreachable");
        assert_eq!(text(libc::EINVAL), "Invalid argument");
        assert_eq!(text(libc::EAGAIN), "Resource temporarily unavailable");
        assert_eq!(text(99_999), "Unknown error 99999");
        // The same pointer every time: nothing is overwritten.
        assert_eq!(zmq_strerror(libc::EINTR), zmq_strerror(libc::EINTR));
    }

    #[test]
    fn strerror_is_safe_from_many_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                thread::spawn(|| {
                    for n in 0..200 {
                        // SAFETY: a static NUL-terminated string.
                        let text = unsafe { CStr::from_ptr(zmq_strerror(n)) };
                        assert!(!text.is_empty());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn has_reports_ipc_and_curve() {
        let probe = |name: &CStr| {
            // SAFETY: a NUL-terminated string.
            unsafe { zmq_has(name.as_ptr()) }
        };
        assert_eq!(probe(c"ipc"), 1);
        assert_eq!(probe(c"curve"), 1);
        for name in [
            c"pgm", c"tipc", c"norm", c"gssapi", c"draft", c"tcp", c"IPC", c"",
        ] {
            assert_eq!(probe(name), 0, "{name:?}");
        }
        // SAFETY: NULL is accepted.
        assert_eq!(unsafe { zmq_has(ptr::null()) }, 0);
    }

    #[test]
    fn atomic_counter_follows_libzmq_example() {
        let mut counter = zmq_atomic_counter_new();
        assert!(!counter.is_null());
        // SAFETY: a live counter throughout, destroyed once at the end.
        unsafe {
            assert_eq!(zmq_atomic_counter_value(counter), 0);
            assert_eq!(zmq_atomic_counter_inc(counter), 0);
            assert_eq!(zmq_atomic_counter_inc(counter), 1);
            assert_eq!(zmq_atomic_counter_inc(counter), 2);
            assert_eq!(zmq_atomic_counter_value(counter), 3);
            assert_eq!(zmq_atomic_counter_dec(counter), 1);
            assert_eq!(zmq_atomic_counter_dec(counter), 1);
            assert_eq!(zmq_atomic_counter_dec(counter), 0);
            zmq_atomic_counter_set(counter, 2);
            assert_eq!(zmq_atomic_counter_dec(counter), 1);
            assert_eq!(zmq_atomic_counter_dec(counter), 0);
            // Below zero it wraps, and is nonzero.
            assert_eq!(zmq_atomic_counter_dec(counter), 1);
            assert_eq!(zmq_atomic_counter_value(counter), -1);
            zmq_atomic_counter_destroy(&mut counter);
            assert!(counter.is_null());
            zmq_atomic_counter_destroy(&mut counter);
            zmq_atomic_counter_destroy(ptr::null_mut());
        }
    }

    #[test]
    fn atomic_counter_counts_across_threads() {
        struct Shared(*mut c_void);
        // SAFETY: the pointer is to an atomic counter, usable from any thread.
        unsafe impl Send for Shared {}
        // SAFETY: as for Send.
        unsafe impl Sync for Shared {}
        let counter = std::sync::Arc::new(Shared(zmq_atomic_counter_new()));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                thread::spawn(move || {
                    for _ in 0..1000 {
                        // SAFETY: the counter outlives the threads.
                        unsafe { zmq_atomic_counter_inc(counter.0) };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut raw = counter.0;
        // SAFETY: the threads are done with it.
        unsafe {
            assert_eq!(zmq_atomic_counter_value(raw), 4000);
            zmq_atomic_counter_destroy(&mut raw);
        }
    }

    #[test]
    fn stopwatch_measures_microseconds() {
        let watch = zmq_stopwatch_start();
        thread::sleep(Duration::from_millis(20));
        // SAFETY: a running stopwatch, stopped once.
        let (mid, end) = unsafe { (zmq_stopwatch_intermediate(watch), zmq_stopwatch_stop(watch)) };
        assert!(mid >= 20_000, "{mid}");
        assert!(end >= mid);
        assert!(end < 5_000_000, "{end}");
    }

    #[test]
    fn threadstart_runs_and_threadclose_joins() {
        static RAN: AtomicBool = AtomicBool::new(false);
        static NAME: Mutex<Option<String>> = Mutex::new(None);
        unsafe extern "C" fn body(arg: *mut c_void) {
            thread::sleep(Duration::from_millis(10));
            // SAFETY: arg points at the test's u32.
            unsafe { *arg.cast::<u32>() = 42 };
            *NAME.lock().unwrap() = thread::current().name().map(str::to_owned);
            RAN.store(true, Ordering::SeqCst);
        }
        let mut value: u32 = 0;
        // SAFETY: value outlives the thread, which is joined below.
        unsafe {
            let handle = zmq_threadstart(Some(body), (&mut value as *mut u32).cast());
            assert!(!handle.is_null());
            zmq_threadclose(handle);
        }
        assert!(RAN.load(Ordering::SeqCst));
        assert_eq!(value, 42);
        assert_eq!(NAME.lock().unwrap().as_deref(), Some("ZMQapp"));
        // SAFETY: NULL is rejected.
        assert!(unsafe { zmq_threadstart(None, ptr::null_mut()) }.is_null());
        assert_eq!(errno::errno(), libc::EINVAL);
    }

    #[test]
    fn curve_keypair_and_public_agree() {
        let mut public = [0 as c_char; 41];
        let mut secret = [0 as c_char; 41];
        let mut derived = [0 as c_char; 41];
        // SAFETY: 41-byte buffers, as the functions require.
        unsafe {
            assert_eq!(
                zmq_curve_keypair(public.as_mut_ptr(), secret.as_mut_ptr()),
                0
            );
            assert_eq!(zmq_curve_public(derived.as_mut_ptr(), secret.as_ptr()), 0);
            assert_eq!(CStr::from_ptr(public.as_ptr()).to_bytes().len(), 40);
            assert_eq!(
                CStr::from_ptr(derived.as_ptr()),
                CStr::from_ptr(public.as_ptr())
            );
            // Not a Z85 key.
            assert_eq!(
                zmq_curve_public(derived.as_mut_ptr(), c"short".as_ptr()),
                -1
            );
            assert_eq!(errno::errno(), libc::EINVAL);
        }
    }
}

//! timers: `zmq_timers_*`, libzmq's timer sets for event loops.
//!
//! A timer set holds repeating timers; the application asks
//! `zmq_timers_timeout` how long it may block (in `zmq_poll`, say), then
//! calls `zmq_timers_execute`, which runs the handler of every timer that
//! is due and schedules each again one interval later.
//!
//! As in libzmq: ids start at 1; `add` fails with `EFAULT` on a NULL
//! handler, `cancel`/`set_interval`/`reset` with `EINVAL` on an unknown
//! (or already cancelled) id; a NULL or destroyed set gives `EFAULT`;
//! timers that are due in one `execute` are rescheduled relative to the
//! time that `execute` started.
//!
//! Handlers may call back into the same set (add, cancel, reset, even
//! destroy it): no lock is held while a handler runs, and `execute` looks
//! each timer up again before running it, so a timer cancelled or
//! rescheduled by an earlier handler does not run. A set destroyed from a
//! handler is freed when `execute` returns. (libzmq's own implementation
//! leaves some of these cases undefined.)

use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_int, c_long, c_void};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use crate::errno::{fail, guard, Errno};

/// `zmq_timer_fn`: `void (int timer_id, void *arg)`.
type TimerFn = unsafe extern "C" fn(c_int, *mut c_void);

/// Marks a live set, as libzmq does, so that a stale or foreign pointer is
/// (usually) refused with `EFAULT` instead of being used.
const LIVE: u32 = 0xCAFE_DADA;
const DEAD: u32 = 0xDEAD_BEEF;

/// Milliseconds on a monotonic clock, counted from first use.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Where a timer sits in the queue: its due time, then the order in which
/// timers were scheduled (timers due at the same millisecond run in that
/// order).
type Slot = (u64, u64);

struct Timer {
    interval: u64,
    handler: TimerFn,
    arg: *mut c_void,
    slot: Slot,
}

#[derive(Default)]
struct State {
    /// The last id handed out.
    last_id: c_int,
    /// Counter for [`Slot`]'s second half.
    next_seq: u64,
    /// Timer ids by due time.
    queue: BTreeMap<Slot, c_int>,
    timers: HashMap<c_int, Timer>,
    /// How many `execute` calls are running handlers on this set (more than
    /// one if a handler calls `execute`).
    executing: u32,
    /// Destroyed by a handler; the outermost `execute` frees it.
    destroyed: bool,
}

impl State {
    fn schedule(&mut self, id: c_int, due: u64) -> Slot {
        let slot = (due, self.next_seq);
        self.next_seq += 1;
        self.queue.insert(slot, id);
        slot
    }

    fn add(&mut self, now: u64, interval: u64, handler: TimerFn, arg: *mut c_void) -> c_int {
        // libzmq counts up from 1 without bound; should the count ever
        // wrap, skip ids still in use.
        let mut id = self.last_id;
        loop {
            id = if id == c_int::MAX { 1 } else { id + 1 };
            if !self.timers.contains_key(&id) {
                break;
            }
        }
        self.last_id = id;
        let slot = self.schedule(id, now.saturating_add(interval));
        self.timers.insert(
            id,
            Timer {
                interval,
                handler,
                arg,
                slot,
            },
        );
        id
    }

    fn cancel(&mut self, id: c_int) -> Result<(), Errno> {
        let timer = self.timers.remove(&id).ok_or(Errno(libc::EINVAL))?;
        self.queue.remove(&timer.slot);
        Ok(())
    }

    /// Moves timer `id` to `now + interval`, with a new interval if given.
    fn restart(&mut self, id: c_int, now: u64, interval: Option<u64>) -> Result<(), Errno> {
        let (old, interval) = {
            let timer = self.timers.get_mut(&id).ok_or(Errno(libc::EINVAL))?;
            if let Some(interval) = interval {
                timer.interval = interval;
            }
            (timer.slot, timer.interval)
        };
        self.queue.remove(&old);
        let slot = self.schedule(id, now.saturating_add(interval));
        if let Some(timer) = self.timers.get_mut(&id) {
            timer.slot = slot;
        }
        Ok(())
    }

    fn timeout(&self, now: u64) -> c_long {
        match self.queue.keys().next() {
            Some(&(due, _)) => c_long::try_from(due.saturating_sub(now)).unwrap_or(c_long::MAX),
            None => -1,
        }
    }

    /// The timers due at `now`, in the order they are to run.
    fn due(&self, now: u64) -> Vec<(Slot, c_int)> {
        self.queue
            .range(..=(now, u64::MAX))
            .map(|(&slot, &id)| (slot, id))
            .collect()
    }
}

/// What `zmq_timers_new` returns.
#[repr(C)]
struct Timers {
    /// [`LIVE`] or [`DEAD`]; first, so that it can be checked through any
    /// pointer.
    tag: AtomicU32,
    state: Mutex<State>,
}

impl Timers {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs every timer due at `now`. Returns whether a handler destroyed
    /// the set and this (outermost) call must free it.
    fn execute(&self, now: u64) -> bool {
        let due = {
            let mut state = self.lock();
            state.executing += 1;
            state.due(now)
        };
        for (slot, id) in due {
            let (handler, arg) = {
                let state = self.lock();
                if state.destroyed {
                    break;
                }
                // Skip a timer that an earlier handler cancelled or moved.
                match state.timers.get(&id) {
                    Some(timer) if timer.slot == slot => (timer.handler, timer.arg),
                    _ => continue,
                }
            };
            // SAFETY: the handler and argument the application registered
            // for this timer; no lock is held, so it may use this set.
            unsafe { handler(id, arg) };
            let mut state = self.lock();
            // Reschedule unless the handler cancelled or moved it.
            if let Some(timer) = state.timers.get(&id) {
                if timer.slot == slot {
                    let interval = timer.interval;
                    // Cannot fail: the timer exists.
                    let _ = state.restart(id, now, Some(interval));
                }
            }
        }
        let mut state = self.lock();
        state.executing -= 1;
        state.executing == 0 && state.destroyed
    }
}

/// The set behind a `void *` from `zmq_timers_new`.
///
/// # Safety
/// `timers` is NULL or points to memory at least 4 bytes long that is
/// readable; a set from `zmq_timers_new` that was not freed qualifies. (A
/// destroyed set's memory is freed, so this can only catch some misuse, as
/// in libzmq.)
unsafe fn timers<'a>(timers: *mut c_void) -> Result<&'a Timers, Errno> {
    if timers.is_null() {
        return fail(libc::EFAULT);
    }
    let timers = timers.cast::<Timers>();
    // SAFETY: per this function's contract the tag, which comes first, is
    // readable.
    let tag = unsafe { (*timers).tag.load(Ordering::Relaxed) };
    if tag != LIVE {
        return fail(libc::EFAULT);
    }
    // SAFETY: tagged live, so a Timers from zmq_timers_new.
    Ok(unsafe { &*timers })
}

/// `void *zmq_timers_new(void)`.
#[no_mangle]
pub extern "C" fn zmq_timers_new() -> *mut c_void {
    guard(ptr::null_mut(), || {
        let timers = Box::new(Timers {
            tag: AtomicU32::new(LIVE),
            state: Mutex::default(),
        });
        Ok(Box::into_raw(timers).cast())
    })
}

/// `int zmq_timers_destroy(void **timers_p)`: frees the set and sets
/// `*timers_p` to NULL.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_destroy(timers_p: *mut *mut c_void) -> c_int {
    guard(-1, || {
        if timers_p.is_null() {
            return fail(libc::EFAULT);
        }
        // SAFETY: the caller passes a pointer to its set variable.
        let raw = unsafe { *timers_p };
        // SAFETY: the caller passes what zmq_timers_new returned.
        let set = unsafe { timers(raw) }?;
        set.tag.store(DEAD, Ordering::Relaxed);
        let free_now = {
            let mut state = set.lock();
            state.destroyed = true;
            state.executing == 0
        };
        if free_now {
            // SAFETY: a live set from zmq_timers_new, no longer referenced:
            // no execute is running on it, and it is tagged dead.
            drop(unsafe { Box::from_raw(raw.cast::<Timers>()) });
        }
        // SAFETY: as above.
        unsafe { timers_p.write(ptr::null_mut()) };
        Ok(0)
    })
}

/// `int zmq_timers_add(void *timers, size_t interval, zmq_timer_fn handler,
/// void *arg)`: a timer that calls `handler(id, arg)` every `interval`
/// milliseconds; returns its id.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_add(
    timers_: *mut c_void,
    interval: usize,
    handler: Option<TimerFn>,
    arg: *mut c_void,
) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a set from zmq_timers_new.
        let set = unsafe { timers(timers_) }?;
        let Some(handler) = handler else {
            return fail(libc::EFAULT);
        };
        let interval = u64::try_from(interval).unwrap_or(u64::MAX);
        Ok(set.lock().add(now_ms(), interval, handler, arg))
    })
}

/// `int zmq_timers_cancel(void *timers, int timer_id)`.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_cancel(timers_: *mut c_void, timer_id: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a set from zmq_timers_new.
        let set = unsafe { timers(timers_) }?;
        set.lock().cancel(timer_id)?;
        Ok(0)
    })
}

/// `int zmq_timers_set_interval(void *timers, int timer_id, size_t
/// interval)`: the timer's new interval, counted from now.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_set_interval(
    timers_: *mut c_void,
    timer_id: c_int,
    interval: usize,
) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a set from zmq_timers_new.
        let set = unsafe { timers(timers_) }?;
        let interval = u64::try_from(interval).unwrap_or(u64::MAX);
        set.lock().restart(timer_id, now_ms(), Some(interval))?;
        Ok(0)
    })
}

/// `int zmq_timers_reset(void *timers, int timer_id)`: restarts the
/// timer's interval from now.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_reset(timers_: *mut c_void, timer_id: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a set from zmq_timers_new.
        let set = unsafe { timers(timers_) }?;
        set.lock().restart(timer_id, now_ms(), None)?;
        Ok(0)
    })
}

/// `long zmq_timers_timeout(void *timers)`: milliseconds until the next
/// timer is due, 0 if one is overdue, -1 if there are none.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_timeout(timers_: *mut c_void) -> c_long {
    guard(-1, || {
        // SAFETY: the caller passes a set from zmq_timers_new.
        let set = unsafe { timers(timers_) }?;
        Ok(set.lock().timeout(now_ms()))
    })
}

/// `int zmq_timers_execute(void *timers)`: runs the handlers of all timers
/// that are due.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_execute(timers_: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: the caller passes a set from zmq_timers_new.
        let set = unsafe { timers(timers_) }?;
        if set.execute(now_ms()) {
            // SAFETY: a handler destroyed the set while this call ran it;
            // this outermost execute is its last user.
            drop(unsafe { Box::from_raw(timers_.cast::<Timers>()) });
        }
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno;
    use std::thread;
    use std::time::Duration;

    /// What handlers record (the timer id of each call), plus actions for
    /// the next call to take.
    struct Log {
        calls: Vec<c_int>,
        /// Set from the test: the set the handler may act on.
        timers: *mut c_void,
        /// Ids to cancel from inside the next handler call.
        cancel: Vec<c_int>,
        /// Destroy the set from inside the next handler call.
        destroy: bool,
        /// Ids to reset from inside the next handler call.
        reset: Vec<c_int>,
    }

    impl Default for Log {
        fn default() -> Log {
            Log {
                calls: Vec::new(),
                timers: ptr::null_mut(),
                cancel: Vec::new(),
                destroy: false,
                reset: Vec::new(),
            }
        }
    }

    unsafe extern "C" fn record(id: c_int, arg: *mut c_void) {
        // SAFETY: every test passes a live &mut Log as arg.
        let log = unsafe { &mut *arg.cast::<Log>() };
        log.calls.push(id);
        for other in std::mem::take(&mut log.cancel) {
            // SAFETY: log.timers is the live set running this handler.
            assert_eq!(unsafe { zmq_timers_cancel(log.timers, other) }, 0);
        }
        for other in std::mem::take(&mut log.reset) {
            // SAFETY: as above.
            assert_eq!(unsafe { zmq_timers_reset(log.timers, other) }, 0);
        }
        if std::mem::take(&mut log.destroy) {
            let mut timers = log.timers;
            // SAFETY: as above; execute frees it once it returns.
            assert_eq!(unsafe { zmq_timers_destroy(&mut timers) }, 0);
            assert!(timers.is_null());
        }
    }

    fn log_ptr(log: &mut Log) -> *mut c_void {
        (log as *mut Log).cast()
    }

    /// A set driven through its internals with a fake clock.
    fn set() -> Timers {
        Timers {
            tag: AtomicU32::new(LIVE),
            state: Mutex::default(),
        }
    }

    #[test]
    fn ids_start_at_one_and_count_up() {
        let set = set();
        let mut log = Log::default();
        let mut state = set.lock();
        assert_eq!(state.add(0, 10, record, log_ptr(&mut log)), 1);
        assert_eq!(state.add(0, 10, record, log_ptr(&mut log)), 2);
        state.cancel(1).unwrap();
        assert_eq!(state.add(0, 10, record, log_ptr(&mut log)), 3);
    }

    #[test]
    fn timeout_is_time_to_the_earliest_timer() {
        let set = set();
        let mut log = Log::default();
        assert_eq!(set.lock().timeout(0), -1);
        set.lock().add(1000, 50, record, log_ptr(&mut log));
        set.lock().add(1000, 20, record, log_ptr(&mut log));
        assert_eq!(set.lock().timeout(1000), 20);
        assert_eq!(set.lock().timeout(1015), 5);
        assert_eq!(set.lock().timeout(1030), 0);
    }

    #[test]
    fn due_timers_run_once_per_execute_and_repeat() {
        let set = set();
        let mut log = Log::default();
        let fast = set.lock().add(0, 10, record, log_ptr(&mut log));
        let slow = set.lock().add(0, 25, record, log_ptr(&mut log));
        assert!(!set.execute(5));
        assert!(log.calls.is_empty());
        // Both overdue: each runs once, in due order, and is rescheduled
        // from this execute's time.
        assert!(!set.execute(30));
        assert_eq!(log.calls, [fast, slow]);
        assert_eq!(set.lock().timeout(30), 10);
        assert!(!set.execute(40));
        assert_eq!(log.calls, [fast, slow, fast]);
        assert!(!set.execute(55));
        assert_eq!(log.calls, [fast, slow, fast, fast, slow]);
    }

    #[test]
    fn cancel_and_restart_check_the_id() {
        let set = set();
        let mut log = Log::default();
        let id = set.lock().add(0, 10, record, log_ptr(&mut log));
        assert_eq!(set.lock().cancel(id + 1), Err(Errno(libc::EINVAL)));
        assert_eq!(
            set.lock().restart(id + 1, 0, None),
            Err(Errno(libc::EINVAL))
        );
        set.lock().cancel(id).unwrap();
        // Already cancelled.
        assert_eq!(set.lock().cancel(id), Err(Errno(libc::EINVAL)));
        assert_eq!(set.lock().restart(id, 0, Some(5)), Err(Errno(libc::EINVAL)));
        assert_eq!(set.lock().timeout(0), -1);
        assert!(!set.execute(100));
        assert!(log.calls.is_empty());
    }

    #[test]
    fn reset_and_set_interval_count_from_now() {
        let set = set();
        let mut log = Log::default();
        let id = set.lock().add(0, 100, record, log_ptr(&mut log));
        set.lock().restart(id, 60, None).unwrap();
        assert_eq!(set.lock().timeout(60), 100);
        set.lock().restart(id, 70, Some(10)).unwrap();
        assert_eq!(set.lock().timeout(70), 10);
        assert!(!set.execute(80));
        assert_eq!(log.calls, [id]);
        // The new interval sticks.
        assert_eq!(set.lock().timeout(80), 10);
    }

    #[test]
    fn a_handler_may_cancel_itself_or_others() {
        let set_ptr = zmq_timers_new();
        // SAFETY: set_ptr is live until destroyed at the end.
        let set = unsafe { timers(set_ptr) }.unwrap();
        let mut log = Log {
            timers: set_ptr,
            ..Log::default()
        };
        let first = set.lock().add(0, 10, record, log_ptr(&mut log));
        let second = set.lock().add(0, 10, record, log_ptr(&mut log));
        let third = set.lock().add(0, 10, record, log_ptr(&mut log));
        // The first handler cancels itself and the (also due) second one.
        log.cancel = vec![first, second];
        assert!(!set.execute(10));
        assert_eq!(log.calls, [first, third]);
        assert!(!set.execute(20));
        assert_eq!(log.calls, [first, third, third]);
        // A handler that resets a due timer defers it.
        let fourth = set.lock().add(20, 10, record, log_ptr(&mut log));
        log.reset = vec![fourth];
        assert!(!set.execute(30));
        assert_eq!(log.calls, [first, third, third, third]);
        let mut set_ptr = set_ptr;
        // SAFETY: destroyed once.
        assert_eq!(unsafe { zmq_timers_destroy(&mut set_ptr) }, 0);
    }

    #[test]
    fn a_handler_may_destroy_the_set() {
        let set_ptr = zmq_timers_new();
        let mut log = Log {
            timers: set_ptr,
            destroy: true,
            ..Log::default()
        };
        // SAFETY: a live set.
        unsafe {
            assert_eq!(
                zmq_timers_add(set_ptr, 0, Some(record), log_ptr(&mut log)),
                1
            );
            assert_eq!(
                zmq_timers_add(set_ptr, 0, Some(record), log_ptr(&mut log)),
                2
            );
            // The first handler destroys the set: the second does not run,
            // and execute frees the set on the way out.
            assert_eq!(zmq_timers_execute(set_ptr), 0);
        }
        assert_eq!(log.calls, [1]);
    }

    #[test]
    fn c_api_checks_its_arguments() {
        // SAFETY: NULL sets and handlers are refused before any use.
        unsafe {
            errno::set_errno(0);
            assert_eq!(
                zmq_timers_add(ptr::null_mut(), 10, Some(record), ptr::null_mut()),
                -1
            );
            assert_eq!(errno::errno(), libc::EFAULT);
            assert_eq!(zmq_timers_timeout(ptr::null_mut()), -1);
            assert_eq!(zmq_timers_execute(ptr::null_mut()), -1);
            assert_eq!(zmq_timers_cancel(ptr::null_mut(), 1), -1);
            assert_eq!(zmq_timers_destroy(ptr::null_mut()), -1);
            let mut null = ptr::null_mut();
            assert_eq!(zmq_timers_destroy(&mut null), -1);
            assert_eq!(errno::errno(), libc::EFAULT);

            let mut set = zmq_timers_new();
            errno::set_errno(0);
            assert_eq!(zmq_timers_add(set, 10, None, ptr::null_mut()), -1);
            assert_eq!(errno::errno(), libc::EFAULT);
            errno::set_errno(0);
            assert_eq!(zmq_timers_cancel(set, 1), -1);
            assert_eq!(errno::errno(), libc::EINVAL);
            errno::set_errno(0);
            assert_eq!(zmq_timers_set_interval(set, 1, 5), -1);
            assert_eq!(errno::errno(), libc::EINVAL);
            errno::set_errno(0);
            assert_eq!(zmq_timers_reset(set, 1), -1);
            assert_eq!(errno::errno(), libc::EINVAL);
            assert_eq!(zmq_timers_timeout(set), -1);
            assert_eq!(zmq_timers_execute(set), 0);
            assert_eq!(zmq_timers_destroy(&mut set), 0);
            assert!(set.is_null());
        }
    }

    #[test]
    fn c_api_runs_a_timer_on_the_real_clock() {
        let mut log = Log::default();
        // SAFETY: a live set, destroyed once at the end; log outlives it.
        unsafe {
            let mut set = zmq_timers_new();
            let id = zmq_timers_add(set, 20, Some(record), log_ptr(&mut log));
            assert_eq!(id, 1);
            let timeout = zmq_timers_timeout(set);
            assert!((0..=20).contains(&timeout), "{timeout}");
            assert_eq!(zmq_timers_execute(set), 0);
            assert!(log.calls.is_empty());
            thread::sleep(Duration::from_millis(30));
            assert_eq!(zmq_timers_timeout(set), 0);
            assert_eq!(zmq_timers_execute(set), 0);
            assert_eq!(log.calls, [id]);
            // Repeats.
            let timeout = zmq_timers_timeout(set);
            assert!((1..=20).contains(&timeout), "{timeout}");
            assert_eq!(zmq_timers_set_interval(set, id, 1000), 0);
            assert!(zmq_timers_timeout(set) > 900);
            assert_eq!(zmq_timers_cancel(set, id), 0);
            assert_eq!(zmq_timers_timeout(set), -1);
            assert_eq!(zmq_timers_destroy(&mut set), 0);
        }
    }
}

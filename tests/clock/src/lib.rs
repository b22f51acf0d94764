//! Time for Switchyard's tests.
//!
//! The engine crate refuses clock reads (its clippy.toml bans `Instant::now`), its tests
//! included: they start simulated time from [`origin`] and add offsets.
//!
//! The in-memory harness needs more. quiche reads the monotonic clock inside `recv`, `send`
//! and `on_timeout`, so stepping simulated time would leave quiche's loss recovery, pacing
//! and idle timers behind. [`VirtualClock`] gives one thread a virtual monotonic clock:
//! while it is installed, every `CLOCK_MONOTONIC` read on that thread (std's `Instant::now`,
//! and so quiche's, and BoringSSL's) returns the virtual time, which moves only when the
//! harness advances it. Other threads, and other clocks, see real time. It works by defining
//! `clock_gettime` in the test executable ([`install_virtual_clock!`]), which the linker then
//! prefers to the C library's; the harness checks at install time that the definition is the
//! one in use.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    /// The virtual monotonic time of this thread, while a [`VirtualClock`] is installed.
    static VIRTUAL: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// An instant to start simulated time from.
pub fn origin() -> Instant {
    Instant::now()
}

/// Answers a `clock_gettime` call: the virtual time for `CLOCK_MONOTONIC` on a thread with a
/// [`VirtualClock`] installed, the kernel's answer otherwise.
///
/// # Safety
/// `tp` must be valid for writing a `timespec`, as `clock_gettime(2)` requires.
pub unsafe fn clock_gettime(clock: libc::clockid_t, tp: *mut libc::timespec) -> libc::c_int {
    if clock == libc::CLOCK_MONOTONIC {
        if let Some(t) = VIRTUAL.with(Cell::get) {
            let spec = libc::timespec {
                tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(t.subsec_nanos()),
            };
            // SAFETY: the caller guarantees `tp` is writable.
            unsafe { tp.write(spec) };
            return 0;
        }
    }
    // SAFETY: the raw system call has the same contract as the libc function it replaces.
    let rc = unsafe { libc::syscall(libc::SYS_clock_gettime, clock, tp) };
    libc::c_int::try_from(rc).unwrap_or(-1)
}

/// Makes [`VirtualClock`] work in this test executable: defines `clock_gettime` so that every
/// read of the monotonic clock goes through [`clock_gettime`]. Invoke it once, at the top
/// level of an integration test file (the executable's own crate, so the linker keeps it).
#[macro_export]
macro_rules! install_virtual_clock {
    () => {
        /// The executable's `clock_gettime`: see `switchyard_testclock::clock_gettime`.
        ///
        /// # Safety
        /// As `clock_gettime(2)`.
        #[no_mangle]
        pub unsafe extern "C" fn clock_gettime(
            clock: $crate::ClockId,
            tp: *mut $crate::TimeSpec,
        ) -> ::std::os::raw::c_int {
            // SAFETY: forwarded unchanged from the caller.
            unsafe { $crate::clock_gettime(clock, tp) }
        }
    };
}

pub type ClockId = libc::clockid_t;
pub type TimeSpec = libc::timespec;

/// This thread's virtual monotonic clock, from install until drop.
#[derive(Debug)]
pub struct VirtualClock {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// The executable does not route `clock_gettime` through this crate: it lacks
/// [`install_virtual_clock!`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInstalled;

impl std::fmt::Display for NotInstalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("clock_gettime is not interposed: add install_virtual_clock!() to the test")
    }
}

impl VirtualClock {
    /// Starts virtual time on this thread at the current real monotonic time.
    pub fn install() -> Result<Self, NotInstalled> {
        let start = Instant::now();
        let mut real = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `real` is a valid timespec to write.
        unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut real) };
        let base = Duration::new(
            u64::try_from(real.tv_sec).unwrap_or(0),
            u32::try_from(real.tv_nsec).unwrap_or(0),
        ) + Duration::from_secs(3600);
        VIRTUAL.with(|v| v.set(Some(base)));
        // An hour ahead of real time: a read that does not go through the interposer shows.
        if Instant::now().saturating_duration_since(start) < Duration::from_secs(3000) {
            VIRTUAL.with(|v| v.set(None));
            return Err(NotInstalled);
        }
        Ok(Self {
            _not_send: std::marker::PhantomData,
        })
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Moves virtual time forward by `by`.
    pub fn advance(&self, by: Duration) {
        VIRTUAL.with(|v| v.set(v.get().map(|t| t + by)));
    }

    /// Moves virtual time forward to `at` (never back).
    pub fn advance_to(&self, at: Instant) {
        let by = at.saturating_duration_since(self.now());
        self.advance(by);
    }
}

impl Drop for VirtualClock {
    fn drop(&mut self) {
        VIRTUAL.with(|v| v.set(None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_interposer_installing_fails_cleanly() {
        // This unit-test executable does not invoke install_virtual_clock!().
        assert_eq!(VirtualClock::install().err(), Some(NotInstalled));
        let a = Instant::now();
        assert!(Instant::now() >= a, "real time is untouched");
    }
}

//! Catching rqrr's panics without printing them.
//!
//! `catch_unwind` stops a panic, but the panic hook runs first, at the panic site: the default
//! hook prints the message (and a backtrace with `RUST_BACKTRACE`) on stderr. For a decoder a
//! panic inside rqrr is only a failed attempt, so that output would be noise in `fieldops qr
//! decode` and a false alarm in the server's logs.
//!
//! The hook is process-wide, and other threads (HTTP handlers, the gateway) must keep theirs: so
//! one hook is installed, once, that stays silent only while *the panicking thread* is inside
//! [`catch`] (a thread-local depth) and hands every other panic to the hook that was there
//! before. A hook installed later by someone else replaces this one; then rqrr's panics print
//! again, which is noisy but harmless.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls this thread is inside (they nest: a whole detection, and each
    /// grid's decoding within it).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

static INSTALL: Once = Once::new();

/// Installs the filtering hook in front of whatever hook is current.
fn install_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Leaves the silent region even if the closure's unwinding is not caught (it always is, but a
/// stale depth would silence every later panic on this thread).
struct DepthGuard;

impl DepthGuard {
    fn enter() -> DepthGuard {
        DEPTH.with(|d| d.set(d.get() + 1));
        DepthGuard
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Runs `f` (a call into rqrr); a panic becomes `None`, logged at debug level as the failed
/// attempt `what`, and prints nothing.
pub(crate) fn catch<T>(what: &'static str, f: impl FnOnce() -> T) -> Option<T> {
    install_hook();
    let result = {
        let _silent = DepthGuard::enter();
        panic::catch_unwind(AssertUnwindSafe(f))
    };
    match result {
        Ok(v) => Some(v),
        Err(payload) => {
            tracing::debug!(
                attempt = what,
                panic = panic_message(payload.as_ref()),
                "rqrr panicked; this attempt failed"
            );
            None
        }
    }
}

/// The text of a `panic!` / `assert!` payload.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-text panic payload)")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_a_failed_attempt() {
        assert_eq!(catch("test", || 7), Some(7));
        assert_eq!(catch("test", || -> u32 { panic!("boom") }), None);
        // Nested, as detection wraps each grid's decoding.
        let outer = catch("outer", || {
            let inner = catch("inner", || -> u32 { panic!("inner boom") });
            assert_eq!(inner, None);
            assert_eq!(DEPTH.with(Cell::get), 1);
            1
        });
        assert_eq!(outer, Some(1));
        assert_eq!(DEPTH.with(Cell::get), 0, "the silent region is left");
    }

    #[test]
    fn messages_are_read_from_both_payload_kinds() {
        let s: Box<dyn Any + Send> = Box::new("static");
        assert_eq!(panic_message(s.as_ref()), "static");
        let s: Box<dyn Any + Send> = Box::new(String::from("formatted 1"));
        assert_eq!(panic_message(s.as_ref()), "formatted 1");
        let s: Box<dyn Any + Send> = Box::new(1u8);
        assert_eq!(panic_message(s.as_ref()), "(non-text panic payload)");
    }
}

//! A panic inside minijinja while it renders, turned into an error of that render.
//!
//! minijinja 2.24 (the last 2.x; its main branch has the same code) panics on some templates:
//! `{{ x[::-1] }}` with `x` an empty list or text indexes past the end (value/ops.rs:222), and
//! other negative-step slices subtract past zero in a build with overflow checks. A template
//! comes from an experiment file and is rendered in the editor's live plan view, by the runner
//! and by graders, so one such template must fail its own render, not the process. No hook
//! of minijinja's reaches its slicing, so the boundary is around the render.
//!
//! The panic is not printed: a panic hook wrapping whatever hook was there keeps what a panic
//! on a thread inside a render says (message and place, for the error) and hands every other
//! panic to the previous hook as before. It is scoped by a thread-local flag, so a panic
//! elsewhere in the process is never hidden. A hook some other code sets later replaces this
//! one; the first render panic after that prints through it, and the wrapper is put back on top.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, Once, PoisonError};

thread_local! {
    /// Whether this thread is inside [`catch_panic`].
    static RENDERING: Cell<bool> = const { Cell::new(false) };
    /// What the hook kept of the last panic of a render on this thread.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `render`; a panic inside it becomes `Err` with what it said and where.
///
/// `AssertUnwindSafe` holds because nothing a render could leave half-changed outlives it: the
/// environment and template are only read, minijinja's state (temps included) belongs to the
/// one render, and the caller drops the render's partial output on `Err`.
pub(crate) fn catch_panic<T>(render: impl FnOnce() -> T) -> Result<T, String> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(wrap_hook);
    let outer = RENDERING.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(render));
    RENDERING.set(outer);
    result.map_err(|payload| match CAUGHT.take() {
        Some(caught) => caught,
        None => {
            // The hook that ran was not this one: another was set since. Wrap that one too.
            wrap_hook();
            payload_text(payload.as_ref())
        }
    })
}

/// Puts the render-scoped hook on top of the current one. Two threads doing this at once would
/// each wrap the hook the other took out (`take_hook` and `set_hook` are two steps), so they
/// take turns.
fn wrap_hook() {
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        // `try_with`: a panic while the thread's locals are being torn down is not a render's.
        if RENDERING.try_with(Cell::get).unwrap_or(false) {
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", crate_path(l.file()), l.line()))
                .unwrap_or_default();
            let text = format!("{}{place}", payload_text(info.payload()));
            let _ = CAUGHT.try_with(|caught| caught.replace(Some(text)));
        } else {
            previous(info);
        }
    }));
}

/// A dependency's source path from its crate on (`minijinja-2.24.0/src/value/ops.rs`), without
/// the machine's cargo registry before it.
fn crate_path(file: &str) -> &str {
    file.split_once("/registry/src/")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map_or(file, |(_, path)| path)
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_is_an_error_with_its_message_and_place_and_nesting_keeps_the_scope() {
        let error = catch_panic::<()>(|| panic!("boom")).unwrap_err();
        assert!(
            error.starts_with("boom at ") && error.contains("unwind.rs"),
            "{error}"
        );
        // A render inside a render leaves the outer one scoped.
        let outer = catch_panic(|| {
            let inner = catch_panic(|| 1);
            assert_eq!(inner, Ok(1));
            assert!(RENDERING.get());
            panic!("after the inner render")
        })
        .unwrap_err();
        assert!(outer.starts_with("after the inner render"), "{outer}");
        assert!(!RENDERING.get());
        assert_eq!(catch_panic(|| 2), Ok(2));
    }

    #[test]
    fn a_hook_set_after_this_one_sees_one_render_panic_and_then_is_wrapped_again() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        // The hook another part of the process sets; it counts this thread's panics only and
        // hands other threads' (other tests') on as before.
        let seen = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&seen);
        let this_thread = std::thread::current().id();
        catch_panic(|| ()).unwrap();
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == this_thread {
                counted.fetch_add(1, Ordering::SeqCst);
            } else {
                previous(info);
            }
        }));
        for _ in 0..3 {
            assert!(catch_panic::<()>(|| panic!("in a render")).is_err());
        }
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }
}

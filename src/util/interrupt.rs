//! Cleanup on Ctrl-C / SIGTERM: paths being written (partial files, staging folders) are
//! registered here while they exist, and an interrupt removes them before the process exits,
//! so an interrupted run leaves nothing of its own half-done behind.
//!
//! The signal handler only writes one byte to a pipe (async-signal-safe); a watcher thread
//! reads it, removes the registered paths and exits with status 128 + signal.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// (path, whole): `whole` removes the path and everything in it; otherwise only an empty folder.
static PENDING: Mutex<Vec<(PathBuf, bool)>> = Mutex::new(Vec::new());

/// A registered path: removed by an interrupt while the guard lives; dropping the guard only
/// unregisters it (the owner decides whether to keep or delete the path).
#[derive(Debug)]
pub struct Pending(PathBuf);

impl Pending {
    /// A partial file or staging folder: an interrupt removes it with its contents.
    pub fn new(path: &Path) -> Pending {
        Self::push(path, true)
    }
    /// A folder this run created: an interrupt removes it only if it is (then) empty.
    pub fn if_empty(path: &Path) -> Pending {
        Self::push(path, false)
    }
    fn push(path: &Path, whole: bool) -> Pending {
        lock().push((path.to_path_buf(), whole));
        Pending(path.to_path_buf())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut v = lock();
        if let Some(i) = v.iter().rposition(|(p, _)| *p == self.0) {
            v.remove(i);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(PathBuf, bool)>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remove every registered path, newest first.
fn remove_pending() {
    let v = lock();
    for (p, whole) in v.iter().rev() {
        let _ = match (p.is_dir(), whole) {
            (true, true) => std::fs::remove_dir_all(p),
            (true, false) => std::fs::remove_dir(p),
            (false, _) => std::fs::remove_file(p),
        };
    }
}

#[cfg(unix)]
mod imp {
    use std::sync::atomic::{AtomicI32, Ordering};

    static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_signal(sig: libc::c_int) {
        let fd = WRITE_FD.load(Ordering::Relaxed);
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is a local byte.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }

    pub fn install() {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: plain libc calls with valid pointers; the handler is a valid extern "C" fn.
        unsafe {
            if libc::pipe(fds.as_mut_ptr()) != 0 {
                return;
            }
            WRITE_FD.store(fds[1], Ordering::Relaxed);
            let read_fd = fds[0];
            std::thread::spawn(move || {
                let mut b = 0u8;
                let n = libc::read(read_fd, (&mut b as *mut u8).cast(), 1);
                if n == 1 {
                    super::remove_pending();
                    eprintln!("\ninterrupted: removed partial output");
                    std::process::exit(128 + b as i32);
                }
            });
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn install() {}
}

/// Install the interrupt handler (once, at program start).
pub fn install_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(imp::install);
}

//! Ctrl-C. During a crawl the first Ctrl-C cancels it: the crawl returns [`Interrupted`] with
//! what it had done, and nothing is written. Outside a crawl (evaluating, writing) it removes
//! any output file being written and exits at once. A second Ctrl-C always exits at once.
//! Either way no half-written output is left behind: outputs go to a temporary file that is
//! renamed into place only when complete, and temporary files are registered here so they
//! can be removed on the way out.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use tokio::sync::Notify;

/// Exit code after an interruption (128 + SIGINT, as shells report it).
pub const EXIT_CODE: u8 = 130;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicU8 = AtomicU8::new(0);
static CRAWLING: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The crawl was cancelled by Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted: {accounts_done} of {accounts} accounts crawled ({requests} requests); nothing was written"
)]
pub struct Interrupted {
    pub accounts_done: u64,
    pub accounts: u64,
    pub requests: u64,
}

/// Starts listening for Ctrl-C (once per process), on a thread of its own so that it works
/// whatever runtime is or is not running.
pub fn install() {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let started = std::thread::Builder::new().name("ctrl-c".into()).spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            loop {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                on_signal();
            }
        });
    });
    if started.is_err() {
        INSTALLED.store(false, Ordering::SeqCst);
    }
}

fn on_signal() {
    let n = SIGNALS.fetch_add(1, Ordering::SeqCst) + 1;
    if n == 1 && CRAWLING.load(Ordering::SeqCst) {
        eprintln!("\nstopping (Ctrl-C again to quit at once)…");
        NOTIFY.notify_waiters();
        return;
    }
    remove_temp_files();
    eprintln!("\ninterrupted; nothing was written");
    std::process::exit(i32::from(EXIT_CODE));
}

/// Whether Ctrl-C was pressed.
pub fn requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Resolves when Ctrl-C is pressed (at once if it already was).
pub async fn wait() {
    let notified = NOTIFY.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if requested() {
        return;
    }
    notified.await;
}

/// Marks the span of a crawl: Ctrl-C then cancels it rather than exiting.
pub struct CrawlGuard(());

impl CrawlGuard {
    pub fn new() -> CrawlGuard {
        CRAWLING.store(true, Ordering::SeqCst);
        CrawlGuard(())
    }
}

impl Default for CrawlGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CrawlGuard {
    fn drop(&mut self) {
        CRAWLING.store(false, Ordering::SeqCst);
    }
}

/// Registers a temporary output file, to be removed if the process is interrupted.
pub fn register_temp(path: PathBuf) {
    TEMP_FILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path);
}

/// Forgets a temporary file (renamed into place, or removed).
pub fn forget_temp(path: &std::path::Path) {
    TEMP_FILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| p != path);
}

fn remove_temp_files() {
    for p in TEMP_FILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
    {
        let _ = std::fs::remove_file(p);
    }
}

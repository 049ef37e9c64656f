//! Ctrl-C (SIGINT) and SIGTERM (ECS, systemd, `timeout`, Kubernetes), for every command.
//! During a crawl the first signal cancels it: the crawl returns [`Interrupted`] with what it
//! had done, and nothing is written. Elsewhere (evaluating, writing) the signal removes any
//! output being written, marks the scan being recorded as interrupted in the history, says so
//! and exits at once. A second signal always exits at once. Either way no half-written output
//! is left behind: outputs go to a temporary file that is renamed into place only when
//! complete, and temporary files are registered here so they can be removed on the way out.
//! The exit code is 130 after SIGINT and 143 after SIGTERM (128 + the signal, as shells report
//! it).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use tokio::sync::Notify;

/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_CODE: u8 = 130;
/// Exit code after SIGTERM (128 + 15).
pub const EXIT_CODE_TERM: u8 = 143;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicU8 = AtomicU8::new(0);
/// The last signal received: 2 (SIGINT) or 15 (SIGTERM); 0 before any.
static LAST: AtomicU8 = AtomicU8::new(0);
/// The scan being recorded in a history file, to be marked interrupted on the way out.
static SCAN: Mutex<Option<(PathBuf, i64)>> = Mutex::new(None);
static CRAWLING: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// The rules' temporary databases (a copy of the inventory): removed on the way out too.
pub(crate) static STORE_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The crawl was cancelled by Ctrl-C or SIGTERM.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted ({}): {accounts_done} of {accounts} accounts crawled ({requests} requests); nothing was written",
    signal_name()
)]
pub struct Interrupted {
    pub accounts_done: u64,
    pub accounts: u64,
    pub requests: u64,
}

/// The exit code the last signal earns: 143 after SIGTERM, else 130.
pub fn exit_code() -> u8 {
    if LAST.load(Ordering::SeqCst) == 15 {
        EXIT_CODE_TERM
    } else {
        EXIT_CODE
    }
}

fn signal_name() -> &'static str {
    if LAST.load(Ordering::SeqCst) == 15 {
        "SIGTERM"
    } else {
        "Ctrl-C"
    }
}

/// Starts listening for Ctrl-C and SIGTERM (once per process), on a thread of its own so that
/// it works whatever runtime is or is not running.
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
            #[cfg(unix)]
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => return,
                };
            loop {
                #[cfg(unix)]
                let which = tokio::select! {
                    r = tokio::signal::ctrl_c() => { if r.is_err() { return; } 2 }
                    r = term.recv() => { if r.is_none() { return; } 15 }
                };
                #[cfg(not(unix))]
                let which = {
                    if tokio::signal::ctrl_c().await.is_err() {
                        return;
                    }
                    2
                };
                LAST.store(which, Ordering::SeqCst);
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
        eprintln!(
            "\n{}: stopping the crawl (again to quit at once)…",
            signal_name()
        );
        NOTIFY.notify_waiters();
        return;
    }
    let removed = remove_temp_files();
    for p in STORE_FILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
    {
        let _ = std::fs::remove_file(p);
    }
    let recorded = mark_scan_interrupted();
    eprintln!(
        "\ninterrupted ({}){}{}",
        signal_name(),
        if removed > 0 {
            "; the output being written was removed"
        } else {
            "; no output was written"
        },
        if recorded {
            "; the history records the scan as interrupted"
        } else {
            ""
        }
    );
    std::process::exit(i32::from(exit_code()));
}

/// Marks the scan being recorded (if any) as interrupted in its history.
fn mark_scan_interrupted() -> bool {
    let scan = SCAN.lock().unwrap_or_else(|e| e.into_inner()).take();
    match scan {
        Some((path, id)) => crate::history::mark_unfinished(
            &path,
            id,
            crate::history::ScanStatus::Interrupted,
            exit_code(),
        )
        .is_ok(),
        None => false,
    }
}

/// Registers the scan being recorded in the history at `path`, so that a signal marks it
/// interrupted; [`forget_scan`] when it is finished.
pub fn register_scan(path: PathBuf, id: i64) {
    *SCAN.lock().unwrap_or_else(|e| e.into_inner()) = Some((path, id));
}

/// The scan was finished (or marked) by its command.
pub fn forget_scan() {
    *SCAN.lock().unwrap_or_else(|e| e.into_inner()) = None;
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

/// Registers a temporary database, to be removed if the process is interrupted (it holds a
/// copy of the inventory: never left behind).
pub fn register_store_file(path: PathBuf) {
    STORE_FILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path);
}

/// Forgets a temporary database (removed by its owner).
pub fn forget_store_file(path: &std::path::Path) {
    STORE_FILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| p != path);
}

fn remove_temp_files() -> usize {
    let mut n = 0;
    for p in TEMP_FILES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
    {
        n += usize::from(std::fs::remove_file(p).is_ok());
    }
    n
}

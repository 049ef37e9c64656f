//! Ctrl-C (SIGINT) and SIGTERM (ECS, systemd, `timeout`, Kubernetes), for every command.
//! During a crawl the first signal cancels it: the crawl returns [`Interrupted`] with what it
//! had done, and nothing is written. Elsewhere (evaluating, writing) the signal removes any
//! output being written, marks the scan being recorded as interrupted in the history, says so
//! and exits at once. A second signal always exits at once. Either way no half-written output
//! is left behind: outputs go to a temporary file that is renamed into place only when
//! complete, and temporary files (outputs, the rules' database) are made and registered here
//! in one step, so the handler removes every one of them; once it has begun to exit, no new
//! one is made and work cut short by the signal stops before printing or recording anything.
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
/// The temporary files to remove on the way out.
static TEMPS: Temps = Temps::new();

/// What a temporary file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temp {
    /// An output being written (renamed into place when complete).
    Output,
    /// The rules' database: a copy of the inventory, never left behind.
    Database,
}

/// Temporary files to remove if the process is interrupted.
struct Temps(Mutex<TempsInner>);

struct TempsInner {
    /// Set by the signal handler before it removes the files and exits: no new temporary file
    /// may be made after that (it would be left behind).
    closing: bool,
    files: Vec<(Temp, PathBuf)>,
}

impl Temps {
    const fn new() -> Temps {
        Temps(Mutex::new(TempsInner {
            closing: false,
            files: Vec::new(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TempsInner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes and registers a file in one step; `None` once closing (nothing made).
    fn create<T>(
        &self,
        kind: Temp,
        make: impl FnOnce() -> std::io::Result<T>,
        path_of: impl FnOnce(&T) -> &std::path::Path,
    ) -> Option<std::io::Result<T>> {
        let mut inner = self.lock();
        if inner.closing {
            return None;
        }
        Some(make().inspect(|made| inner.files.push((kind, path_of(made).to_path_buf()))))
    }

    fn closing(&self) -> bool {
        self.lock().closing
    }

    fn forget(&self, path: &std::path::Path) {
        self.lock().files.retain(|(_, p)| p != path);
    }

    #[cfg(test)]
    fn is_registered(&self, kind: Temp, path: &std::path::Path) -> bool {
        self.lock()
            .files
            .iter()
            .any(|(k, p)| *k == kind && p == path)
    }

    /// Refuses new files, removes the registered ones; returns how many outputs it removed.
    fn close(&self) -> usize {
        let mut inner = self.lock();
        inner.closing = true;
        let mut outputs = 0;
        for (kind, p) in inner.files.drain(..) {
            let removed = std::fs::remove_file(p).is_ok();
            outputs += usize::from(removed && kind == Temp::Output);
        }
        outputs
    }
}

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
    let first = SIGNALS.load(Ordering::SeqCst) == 0;
    if first && CRAWLING.load(Ordering::SeqCst) {
        SIGNALS.fetch_add(1, Ordering::SeqCst);
        eprintln!(
            "\n{}: stopping the crawl (again to quit at once)…",
            signal_name()
        );
        NOTIFY.notify_waiters();
        return;
    }
    // Temporary files are removed, and new ones refused, before the signal is made known:
    // work that stops on it (a rule's query) must not get to write an output after this.
    let removed = remove_temp_files();
    SIGNALS.fetch_add(1, Ordering::SeqCst);
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

/// Makes a temporary file with `make` and registers it for removal on a signal, as one step
/// with respect to the signal handler: either the handler finds the file registered and
/// removes it, or the file is never made. A thread asking for a file once the handler has
/// begun to exit waits for the exit (the process is ending; it must start nothing new).
pub fn create_temp<T>(
    kind: Temp,
    make: impl FnOnce() -> std::io::Result<T>,
    path_of: impl FnOnce(&T) -> &std::path::Path,
) -> std::io::Result<T> {
    match TEMPS.create(kind, make, path_of) {
        Some(made) => made,
        None => park_forever(),
    }
}

fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Waits for the process to end if the signal handler is exiting it: for work that a signal
/// cut short (a rule's query) and that must not go on to print or record a partial result.
pub fn halt_if_exiting() {
    if TEMPS.closing() {
        park_forever();
    }
}

/// Forgets a temporary file (renamed into place, or removed by its owner).
pub fn forget_temp(path: &std::path::Path) {
    TEMPS.forget(path);
}

/// Whether `path` is registered as a temporary file of this kind.
#[cfg(test)]
pub(crate) fn is_registered(kind: Temp, path: &std::path::Path) -> bool {
    TEMPS.is_registered(kind, path)
}

/// Removes every registered temporary file and refuses new ones; returns how many outputs
/// were removed (for the message).
fn remove_temp_files() -> usize {
    TEMPS.close()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(path: &std::path::Path) -> impl FnOnce() -> std::io::Result<PathBuf> + '_ {
        move || std::fs::File::create(path).map(|_| path.to_path_buf())
    }

    #[test]
    fn a_temporary_file_is_made_and_registered_in_one_step() {
        let temps = Temps::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tmp");
        let made = temps
            .create(Temp::Output, make(&path), |p| p.as_path())
            .unwrap()
            .unwrap();
        assert!(temps.is_registered(Temp::Output, &made));
        assert!(!temps.is_registered(Temp::Database, &made));
        temps.forget(&made);
        assert!(!temps.is_registered(Temp::Output, &made));
        // A failure to make it registers nothing.
        let missing = dir.path().join("no").join("such");
        let r = temps.create(Temp::Output, make(&missing), |p| p.as_path());
        assert!(matches!(r, Some(Err(_))));
        assert!(!temps.is_registered(Temp::Output, &missing));
    }

    /// The race CI met: a rule's query stopped by SIGTERM let the scan write its report after
    /// the handler had removed the registered files, and the new temporary file was left.
    #[test]
    fn once_closing_registered_files_are_gone_and_no_new_one_is_made() {
        let temps = Temps::new();
        let dir = tempfile::tempdir().unwrap();
        let (out, db) = (dir.path().join("out.tmp"), dir.path().join("db.sqlite"));
        temps.create(Temp::Output, make(&out), |p| p.as_path());
        temps.create(Temp::Database, make(&db), |p| p.as_path());
        assert_eq!(temps.close(), 1, "one output removed");
        assert!(!out.exists() && !db.exists());
        let late = dir.path().join("late.tmp");
        assert!(
            temps
                .create(Temp::Output, make(&late), |p| p.as_path())
                .is_none()
        );
        assert!(
            !late.exists(),
            "nothing is made once the handler is exiting"
        );
        assert!(temps.closing());
    }
}

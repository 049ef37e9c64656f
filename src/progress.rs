//! The crawl's progress bar on stderr — accounts done of those found, requests, retries,
//! failed calls, coverage gaps, elapsed time and an estimate — and the log writer that prints
//! log lines above it, never through it. Only on a terminal: on anything else nothing is
//! drawn and logs go to stderr as they are.
//!
//! Not in here: what is counted ([`crate::crawl`] keeps the counters).

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar being drawn, if any: the log writer prints above it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn active() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the bar shows, read from the crawl's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub accounts_done: u64,
    pub accounts_found: u64,
    pub requests: u64,
    pub retries: u64,
    pub failures: u64,
    pub gaps: u64,
}

/// The text beside the bar.
pub fn message(s: &Snapshot) -> String {
    let n = |v: u64, one: &str, many: &str| format!("{v} {}", if v == 1 { one } else { many });
    format!(
        "{} · {} retried · {} · {}",
        n(s.requests, "request", "requests"),
        s.retries,
        n(s.failures, "failed call", "failed calls"),
        n(s.gaps, "coverage gap", "coverage gaps"),
    )
}

/// A progress bar for a crawl, drawn on stderr while it lives.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar on stderr when it is a terminal; `None` otherwise (nothing is drawn).
    pub fn on_stderr() -> Option<Bar> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        Some(Bar::with_target(ProgressDrawTarget::stderr()))
    }

    /// A bar drawn on a target of the caller's (a virtual terminal in tests).
    pub fn with_target(target: ProgressDrawTarget) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(
            ProgressStyle::with_template(
                "scanning {elapsed_precise} [{bar:24}] {pos}/{len} accounts · {msg} · ~{eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        *active() = Some(bar.clone());
        Bar { bar }
    }

    /// Shows the counters now.
    pub fn update(&self, s: &Snapshot) {
        self.bar.set_length(s.accounts_found.max(s.accounts_done));
        self.bar.set_position(s.accounts_done);
        self.bar.set_message(message(s));
    }
}

impl Drop for Bar {
    /// The bar leaves the screen; logs go straight to stderr again.
    fn drop(&mut self) {
        active().take();
        self.bar.finish_and_clear();
    }
}

/// Where logs go: above the bar while one is drawn, else stderr. For
/// `tracing_subscriber::fmt().with_writer(progress::LogWriter)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

/// One log event, printed when it is whole.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let bar = active().clone();
        match bar {
            Some(bar) if !bar.is_hidden() => {
                let text = String::from_utf8_lossy(&self.0);
                bar.println(text.trim_end_matches('\n'));
            }
            _ => {
                let _ = std::io::stderr().write_all(&self.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_counts_in_words() {
        let s = Snapshot {
            accounts_done: 3,
            accounts_found: 9,
            requests: 1,
            retries: 2,
            failures: 0,
            gaps: 1,
        };
        assert_eq!(
            message(&s),
            "1 request · 2 retried · 0 failed calls · 1 coverage gap"
        );
    }

    #[test]
    fn log_lines_print_above_the_bar_never_through_it() {
        let term = indicatif::InMemoryTerm::new(6, 160);
        let bar = Bar::with_target(ProgressDrawTarget::term_like(Box::new(term.clone())));
        bar.update(&Snapshot {
            accounts_done: 4,
            accounts_found: 10,
            requests: 120,
            ..Default::default()
        });
        bar.bar.tick();
        // A log event, as tracing writes it: through the log writer.
        {
            let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&LogWriter);
            w.write_all(b"WARN account 111111111111: access denied\n")
                .unwrap();
        }
        bar.bar.tick();
        let screen = term.contents();
        let lines: Vec<&str> = screen.lines().collect();
        assert!(
            lines[0].contains("WARN account 111111111111: access denied"),
            "{screen}"
        );
        assert!(
            lines[1].contains("4/10 accounts") && lines[1].contains("120 requests"),
            "{screen}"
        );
        assert!(
            !lines[0].contains("accounts ·"),
            "the log line is clean: {screen}"
        );
        drop(bar);
        assert!(active().is_none());
    }
}

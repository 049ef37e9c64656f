//! The `plaudit` binary: parse arguments, run, print the error chain, exit with a documented
//! code (see [`plaudit::exit`]).

use std::process::ExitCode;

use clap::Parser;

/// A crawl allocates and frees per request on every worker thread; with glibc's allocator
/// that was a third of its CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = plaudit::cli::Cli::parse();
    // Ctrl-C and SIGTERM, for every command: outputs being written are removed, a scan being
    // recorded is marked interrupted, and the exit code is 130 or 143.
    plaudit::interrupt::install();
    {
        use std::io::IsTerminal;
        let ansi = cli.color.enabled(std::io::stderr().is_terminal());
        init_logs(cli.verbose, ansi, cli.command.handler().machine_output());
    }
    match plaudit::commands::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if plaudit::output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<plaudit::interrupt::Interrupted>()
                .is_some() =>
        {
            eprintln!("{e}");
            ExitCode::from(plaudit::interrupt::exit_code())
        }
        Err(e) => {
            // Messages may quote inventory data (ids, names) from accounts plaudit does not
            // control: no control characters reach the terminal.
            eprintln!(
                "error: {}",
                plaudit::report::sanitize_message(&format!("{e:#}"))
            );
            ExitCode::from(plaudit::exit::USAGE)
        }
    }
}

/// Logs go to stderr, never stdout (which may carry CSV or JSON), as JSON lines when stdout
/// carries a machine-readable document (so that a collector can parse both). `RUST_LOG` wins
/// over `-v`.
fn init_logs(verbose: u8, ansi: bool, json: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "plaudit=warn",
        1 => "plaudit=info",
        2 => "plaudit=debug,aws_config=info",
        _ => "plaudit=trace,aws_config=debug,aws_smithy_runtime=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Above the crawl's progress bar while one is drawn.
        .with_writer(plaudit::progress::LogWriter)
        .with_target(false);
    let _ = if json {
        fmt.json().with_current_span(false).try_init()
    } else {
        fmt.with_ansi(ansi).try_init()
    };
}

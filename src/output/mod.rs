//! Writing outputs safely: reports, inventories and exports appear whole or not at all, never
//! over an input, and never through a file another local user planted.
//!
//! [`emit`] writes through a temporary file created in the target's directory with a random
//! name, exclusively and without following links (the `tempfile` crate), then renames it into
//! place; Ctrl-C or SIGTERM removes it ([`crate::interrupt`]). [`check_outputs`] runs before
//! any long work: every output must be writable and none may be one of the inputs.
//!
//! [`rows`] renders rows of cells (tables, CSV, JSON) for every command that prints rows.
//!
//! Not in here: what a findings report holds (see [`crate::report`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub mod rows;

pub use rows::{ListFormat, neutralise_formula};

/// Writes to `path` through a temporary file and a rename (never a half-written file), or to
/// stdout. Pipes, terminals and devices (`/dev/null`, `/dev/stdout`) are written directly.
pub fn emit(path: Option<&Path>, f: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    match path {
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            f(&mut lock)?;
            lock.flush()?;
            Ok(())
        }
        Some(path) if path.exists() && !path.is_file() => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            let mut w = std::io::BufWriter::new(file);
            f(&mut w)?;
            w.flush()?;
            Ok(())
        }
        Some(path) => {
            let tmp = temp_beside(path)?;
            let written = (|| -> Result<()> {
                let mut w = std::io::BufWriter::new(tmp.as_file());
                f(&mut w)?;
                w.flush()?;
                drop(w);
                tmp.as_file().sync_all()?;
                // A file replaced keeps its permissions; a new one stays private (0600): a
                // report lists an organisation's weak spots.
                if let Ok(meta) = std::fs::metadata(path) {
                    let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
                }
                Ok(())
            })();
            let tmp_path = tmp.path().to_path_buf();
            let r = written.and_then(|()| {
                tmp.persist(path)
                    .map(|_| ())
                    .map_err(|e| anyhow::Error::new(e.error))
                    .with_context(|| format!("cannot write `{}`", path.display()))
            });
            // On failure the temporary file was removed when it was dropped.
            crate::interrupt::forget_temp(&tmp_path);
            r
        }
    }
}

/// Writes bytes to stdout as they are (completions, the man page, the schema).
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Whether an error is a reader closing our stdout early (`plaudit scan | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || c.downcast_ref::<csv::Error>().is_some_and(
                |e| matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe),
            )
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
    })
}

/// A new temporary file beside `path`: random name, created exclusively (never an existing
/// file or a link another user planted), and registered for removal on Ctrl-C/SIGTERM.
fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = dir_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    crate::interrupt::create_temp(
        crate::interrupt::Temp::Output,
        || {
            tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .suffix(".tmp")
                .tempfile_in(&dir)
        },
        |t| t.path(),
    )
    .with_context(|| {
        format!(
            "cannot write `{}`: cannot create a file in `{}`",
            path.display(),
            dir.display()
        )
    })
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether two paths name the same file: the same inode where both exist, else the same
/// canonical directory and name.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    let canon = |p: &Path| {
        std::fs::canonicalize(dir_of(p))
            .ok()
            .map(|d| d.join(p.file_name().unwrap_or_default()))
    };
    match (canon(a), canon(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Checks, before any long work, that each output can be written and is none of the inputs
/// (`--inventory X -o X` would replace the inventory with the report). `outputs` and
/// `inputs` are (flag, path) pairs; devices and pipes are always writable outputs.
pub fn check_outputs(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> Result<()> {
    for (i, (flag, out)) in outputs.iter().enumerate() {
        for (in_flag, input) in inputs {
            if same_file(out, input) {
                bail!(
                    "{flag} `{}` is the same file as {in_flag}: an output never replaces an input",
                    out.display()
                );
            }
        }
        for (other_flag, other) in &outputs[..i] {
            if same_file(out, other) {
                bail!(
                    "{flag} and {other_flag} are the same file `{}`",
                    out.display()
                );
            }
        }
        if out.exists() && !out.is_file() {
            if out.is_dir() {
                bail!("{flag} `{}` is a directory", out.display());
            }
            continue;
        }
        // Writable where it will be written: a temporary file in its directory.
        let probe = temp_beside(out)?;
        drop(probe);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_is_never_an_input_and_must_be_writable() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inv.json");
        std::fs::write(&inv, "{}").unwrap();
        let via_dot = dir.path().join(".").join("inv.json");
        let err = check_outputs(&[("-o", &via_dot)], &[("--inventory", &inv)]).unwrap_err();
        assert!(err.to_string().contains("same file"), "{err}");
        let report = dir.path().join("report.json");
        check_outputs(&[("-o", &report)], &[("--inventory", &inv)]).unwrap();
        let nowhere = dir.path().join("missing-dir").join("r.json");
        assert!(check_outputs(&[("-o", &nowhere)], &[]).is_err());
        assert!(check_outputs(&[("-o", &report), ("--save-inventory", &report)], &[]).is_err());
    }

    #[test]
    fn a_planted_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // Another user guesses the old temporary name and links it to a victim file.
        let out = dir.path().join("report.json");
        let guessed = dir
            .path()
            .join(format!(".report.json.{}.tmp", std::process::id()));
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, &guessed).unwrap();
        emit(Some(&out), |w| {
            w.write_all(b"report")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "report");
    }
}

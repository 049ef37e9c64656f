//! Helpers shared by integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A Python venv under the target directory with `packages` (pinned) installed, created on
/// first use; `probe` is Python that imports them (the venv is reused when it runs). Returns
/// the venv's `bin/python`.
pub fn venv(name: &str, packages: &[&str], probe: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", probe])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 (with venv) is needed for these tests")
            .success();
        assert!(ok, "creating the venv {} failed", venv.display());
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages)
            .status()
            .expect("pip")
            .success();
        assert!(ok, "installing {packages:?} failed");
    }
    python
}

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

/// The path of `binary` on PATH; when missing, Debian's `package` is installed with apt-get
/// (as root, from the Debian registry, as the project's machines allow) first. `why` names the
/// test that needs it. One installation at a time: dpkg takes a lock.
pub fn debian_tool(binary: &str, package: &str, why: &str) -> PathBuf {
    static APT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let found = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(binary))
                .find(|p| p.is_file())
        })
    };
    if let Some(p) = found() {
        return p;
    }
    let _one = APT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = found() {
        return p;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = ["install", "-y", "-q", "--no-install-recommends", package];
    let installed = apt(&install) || (apt(&["update", "-q"]) && apt(&install));
    assert!(
        installed,
        "{why} needs `{binary}`: `apt-get install {package}` (as root) failed"
    );
    found().unwrap_or_else(|| panic!("{binary} on PATH after installing {package}"))
}

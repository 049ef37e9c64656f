//! Exit codes, a documented contract (README, `--help`):
//! `0` no failing finding at or above `--fail-on`; `1` failing findings at or above it;
//! `2` bad invocation, config, rule or input file; `3` the scan is incomplete (a coverage
//! gap), which wins over 1.

use crate::config::FailOn;
use crate::findings::Status;
use crate::report::ScanReport;

pub const OK: u8 = 0;
pub const FINDINGS: u8 = 1;
pub const USAGE: u8 = 2;
pub const INCOMPLETE: u8 = 3;

/// The exit code a scan report earns.
pub fn for_report(report: &ScanReport, fail_on: FailOn) -> u8 {
    if !report.scan.complete {
        return INCOMPLETE;
    }
    let failing = match fail_on {
        FailOn::Never => false,
        FailOn::Severity(min) => report
            .findings
            .iter()
            .any(|f| f.status == Status::Fail && f.severity >= min),
    };
    if failing { FINDINGS } else { OK }
}

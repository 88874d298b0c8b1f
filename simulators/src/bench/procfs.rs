//! `/proc` sampling: CPU seconds of the processes under test, of PostgreSQL and of the machine;
//! peak RSS; I/O; load average. Linux only.

use anyhow::{Context, Result};

/// The processes under test: the gateway (or `serve`), and a separate broker if any.
pub(super) struct Pids {
    pub(super) gateway: u32,
    pub(super) broker: Option<u32>,
}

/// CPU seconds used so far by each party, and the machine's CPU ticks.
#[derive(Debug, Clone, Copy)]
pub(super) struct CpuSample {
    pub(super) gateway: f64,
    pub(super) broker: f64,
    pub(super) simulator: f64,
    pub(super) postgres: f64,
    pub(super) machine_busy: u64,
    pub(super) machine_total: u64,
    /// Bytes the gateway process read and wrote through system calls (`rchar`, `wchar` of
    /// `/proc/<pid>/io`: SQLite's page reads and WAL writes; sockets too).
    pub(super) gateway_rchar: f64,
    pub(super) gateway_wchar: f64,
}

impl CpuSample {
    pub(super) fn take(pids: &Pids, clk_tck: f64) -> Result<CpuSample> {
        let (machine_busy, machine_total) = machine_ticks()?;
        let (gateway_rchar, gateway_wchar) = proc_io(pids.gateway);
        Ok(CpuSample {
            gateway: proc_cpu_secs(pids.gateway, clk_tck)?,
            broker: match pids.broker {
                Some(p) => proc_cpu_secs(p, clk_tck)?,
                None => 0.0,
            },
            simulator: proc_cpu_secs(std::process::id(), clk_tck)?,
            postgres: postgres_cpu_secs(clk_tck),
            machine_busy,
            machine_total,
            gateway_rchar,
            gateway_wchar,
        })
    }
}

/// `rchar` and `wchar` of `/proc/<pid>/io` (0 when unreadable).
fn proc_io(pid: u32) -> (f64, f64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field("rchar:"), field("wchar:"))
}

pub(crate) fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds (`/proc/<pid>/stat` fields 14 and 15).
pub(crate) fn proc_cpu_secs(pid: u32, clk_tck: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    stat_cpu_secs(&stat, clk_tck).with_context(|| format!("parsing /proc/{pid}/stat"))
}

fn stat_cpu_secs(stat: &str, clk_tck: f64) -> Option<f64> {
    // The command name (field 2) may contain spaces; fields after it start at field 3.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck)
}

/// CPU of every process named `postgres` (server and backends; on a shared machine that includes
/// other users' queries, so it is an upper bound).
pub(crate) fn postgres_cpu_secs(clk_tck: f64) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| s.contains("(postgres)"))
        .filter_map(|s| stat_cpu_secs(&s, clk_tck))
        .sum()
}

/// (busy, total) jiffies of all CPUs from the first line of `/proc/stat`.
fn machine_ticks() -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Ok((total.saturating_sub(idle), total))
}

/// Peak resident set size (`VmHWM`) in kB.
pub(crate) fn vm_hwm_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmHWM in /proc/{pid}/status"))
}

/// The 1-, 5- and 15-minute load averages.
pub(crate) fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut v = text
        .split_whitespace()
        .filter_map(|x| x.parse::<f64>().ok());
    [
        v.next().unwrap_or(f64::NAN),
        v.next().unwrap_or(f64::NAN),
        v.next().unwrap_or(f64::NAN),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_cpu() {
        let stat = "1234 (tokio runtime) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100";
        assert_eq!(stat_cpu_secs(stat, 100.0), Some(3.0));
        assert_eq!(stat_cpu_secs("garbage", 100.0), None);
    }
}

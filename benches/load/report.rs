//! Figures: latencies and errors of a phase, the daemon's CPU time and RSS from /proc, and
//! the table lines.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::Daemon;

/// What one phase measured.
#[derive(Default)]
pub struct Measured {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// Daemon CPU time (user + system) spent during the phase.
    pub cpu: Duration,
    pub rss_kib: u64,
}

impl Measured {
    pub fn record(&mut self, latency: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.latencies.push(latency),
            Err(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }

    pub fn merge(&mut self, other: Measured) {
        self.latencies.extend(other.latencies);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
    }

    /// Successful operations per second.
    pub fn ops_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, sorted: &[Duration], p: f64) -> f64 {
        let index = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }
}

pub const HEADER: &str = "side      operation    conc     ops/s    p50 ms   p90 ms   p99 ms   max ms  cpu us/op  RSS MiB  errors";

/// One table line.
pub fn line(side: &str, operation: &str, concurrency: usize, m: &Measured) -> String {
    let mut sorted = m.latencies.clone();
    sorted.sort();
    let done = (sorted.len() as u64 + m.errors.values().sum::<u64>()).max(1);
    let cpu_per_op = m.cpu.as_secs_f64() * 1e6 / done as f64;
    let errors = match m.errors.is_empty() {
        true => "-".to_owned(),
        false => format!("{:?}", m.errors),
    };
    format!(
        "{side:<9} {operation:<12} {concurrency:>4} {:>9.0} {:>9.3} {:>8.3} {:>8.3} {:>8.3} {:>10.1} {:>8.1}  {errors}",
        m.ops_per_second(),
        m.percentile_ms(&sorted, 0.50),
        m.percentile_ms(&sorted, 0.90),
        m.percentile_ms(&sorted, 0.99),
        sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        cpu_per_op,
        m.rss_kib as f64 / 1024.0,
    )
}

/// CPU time and resident memory of a process, from /proc.
pub struct ProcessStats {
    cpu_ticks: u64,
    pub rss_kib: u64,
}

impl ProcessStats {
    pub fn read(pid: u32) -> ProcessStats {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start at the state, field 3;
        // utime and stime are fields 14 and 15.
        let after_name = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after_name
            .split(' ')
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let cpu_ticks = fields.get(11).unwrap_or(&0) + fields.get(12).unwrap_or(&0);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        ProcessStats { cpu_ticks, rss_kib }
    }

    pub fn cpu_since(&self, before: &ProcessStats) -> Duration {
        let ticks = self.cpu_ticks.saturating_sub(before.cpu_ticks);
        Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
    }
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The machine and token the figures come from.
pub fn machine(daemon: &Daemon) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown", |m| m.trim_start_matches([' ', '\t', ':']));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let softhsm = std::process::Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "machine: {cores} cores, {model}; SoftHSM2 {softhsm}; daemon pid {}",
        daemon.pid()
    );
}

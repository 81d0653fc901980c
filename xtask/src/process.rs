//! What the bench measures of a process, from the kernel: a child's CPU time and peak memory,
//! this process's own CPU, the load average, and the machine the figures were taken on. Linux
//! only (`/proc`, `wait4`), like the figures themselves.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::connector::Result;

/// The connector's peak resident set, from the kernel's high-water mark (`VmHWM`) of its
/// process, read every few milliseconds while it runs.
///
/// `wait4`'s `ru_maxrss` cannot be used: the child is spawned by vfork from this process, and
/// the kernel carries this process's peak (the emulator's whole dataset) into the child's.
pub struct PeakRss {
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl PeakRss {
    /// Starts sampling the high-water mark of process `pid`.
    pub fn watch(pid: u32) -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let status = format!("/proc/{pid}/status");
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            while !stopped.load(Ordering::Relaxed) {
                peak = peak.max(high_water_mark(&status).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak.max(high_water_mark(&status).unwrap_or(0))
        });
        PeakRss { stop, sampler }
    }

    /// The highest mark seen; call once the connector has finished writing.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().unwrap_or(0)
    }
}

/// `VmHWM` of a `/proc/<pid>/status` file, in bytes.
fn high_water_mark(status: &str) -> Option<u64> {
    let text = fs::read_to_string(status).ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Reaps the child `pid`: its wait status and its resource usage (its own, not the harness's).
pub fn wait4(pid: u32) -> Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data, valid when zeroed; wait4 writes both out-parameters and
    // reads nothing else. The child is ours and not yet reaped (std's Child never waited on it).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if reaped < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok((status, usage))
}

/// CPU seconds (user + system) this process has used: the emulator's and the stdout reader's.
pub fn self_cpu() -> f64 {
    // SAFETY: as in `wait4`; getrusage only writes its out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The 1-minute load average: how busy the machine was (other builds or tests skew figures).
pub fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The machine the figures were taken on, as the bench report records it.
#[derive(Serialize)]
pub struct Machine {
    /// The CPU's model name (`unknown` where `/proc/cpuinfo` has none).
    pub cpu: String,
    /// The CPUs this process may use.
    pub cpus: usize,
    /// Total memory, where `/proc/meminfo` says.
    pub memory_bytes: Option<u64>,
    /// The operating system (`linux`).
    pub os: &'static str,
}

/// The machine the figures were taken on.
pub fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024);
    Machine {
        cpu,
        cpus,
        memory_bytes: memory,
        os: std::env::consts::OS,
    }
}

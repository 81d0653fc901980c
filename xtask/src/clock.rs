//! How long the user has been waiting: since `cargo xtask …` was typed, not since this program's
//! `main`, so that the time cargo spent building xtask itself is counted too.

use std::fs;
use std::time::{Duration, Instant};

/// When the command started, and whether that includes cargo's build of xtask.
pub struct Started {
    /// The instant `cargo xtask` started (or, where that is unknown, this program did).
    pub at: Instant,
    /// How long before `main` the command started: cargo's build of xtask. `None` where the
    /// process start time is unknown (not Linux).
    pub before_main: Option<Duration>,
}

impl Started {
    /// Reads the start time of this process. `cargo run` replaces itself with the program it
    /// built (`exec`, on Unix), so this process *is* the `cargo xtask` the user started, and its
    /// start time (`/proc/self/stat`) is when they started it.
    pub fn now() -> Started {
        let now = Instant::now();
        let before_main = process_age();
        Started {
            at: before_main
                .and_then(|age| now.checked_sub(age))
                .unwrap_or(now),
            before_main,
        }
    }

    /// Time since the command started.
    pub fn elapsed(&self) -> Duration {
        self.at.elapsed()
    }
}

/// How long ago this process started: the system's uptime less the process's start time since
/// boot, both from `/proc` (in clock ticks of 1/`_SC_CLK_TCK` s, typically 10 ms).
fn process_age() -> Option<Duration> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let uptime = fs::read_to_string("/proc/uptime").ok()?;
    // SAFETY: sysconf only reads a system constant.
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    age_from(&stat, &uptime, ticks_per_s)
}

/// The process age from the text of `/proc/self/stat` and `/proc/uptime`.
fn age_from(stat: &str, uptime: &str, ticks_per_s: i64) -> Option<Duration> {
    // Field 22 (starttime); the command name (field 2) may hold spaces, so count after its ')'.
    let start_ticks: u64 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()?;
    let uptime_s: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let ticks_per_s = u64::try_from(ticks_per_s).ok().filter(|&t| t > 0)?;
    let start_s = start_ticks as f64 / ticks_per_s as f64;
    Some(Duration::from_secs_f64((uptime_s - start_s).max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_is_uptime_less_the_start_time_field() {
        let stat = "4242 (cargo x task) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 1 0 \
                    12345 1000 10 18446744073709551615";
        let age = age_from(stat, "323.45 600.00\n", 100).unwrap();
        assert_eq!(age.as_millis(), 200_000, "323.45 s - 12345 ticks / 100");
    }

    #[test]
    fn garbage_gives_no_age() {
        assert_eq!(age_from("4242 (cargo", "1.0 1.0", 100), None);
        assert_eq!(age_from("1 (a) S 1", "1.0", 100), None);
        assert_eq!(age_from("", "", 0), None);
    }

    #[test]
    fn this_process_has_an_age_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process_age().is_some());
        }
    }
}

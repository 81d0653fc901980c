//! The state shared by every request handler and by the [`crate::Emulator`] handle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::{EmulatorConfig, Faults, RateLimit};
use crate::credentials::Tokens;
use crate::data::model::Ix;
use crate::data::Dataset;
use crate::faults::FaultState;
use crate::limits::Limiter;
use crate::request_stats::RequestCounts;
use crate::scheduled::Schedule;
use crate::time::Clock;

/// Settings that the control API can change while the emulator runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub general_limit: Option<RateLimit>,
    pub reports_limit: Option<RateLimit>,
    pub forbidden: Vec<String>,
    pub access_token_ttl: std::time::Duration,
    /// Whether responses carry a `Date` header (a proxy may strip it).
    pub date_header: bool,
    /// Whether each refresh rotates the refresh token (see [`crate::credentials::Tokens`]).
    pub rotate_refresh_tokens: bool,
}

/// Filtered selections of recent list requests, so walking a million time entries page by page
/// filters them once, not once per page. Stale as soon as the dataset version moves.
#[derive(Default)]
pub struct SelectionCache {
    version: u64,
    entries: HashMap<String, Arc<Vec<Ix>>>,
}

impl SelectionCache {
    /// The cached selection for `key` at `version`, computing it on a miss.
    pub fn get_or(
        &mut self,
        version: u64,
        key: String,
        compute: impl FnOnce() -> Arc<Vec<Ix>>,
    ) -> Arc<Vec<Ix>> {
        if self.version != version || self.entries.len() >= 64 {
            self.entries.clear();
            self.version = version;
        }
        self.entries.entry(key).or_insert_with(compute).clone()
    }
}

/// Everything a running emulator holds.
pub struct App {
    pub data: RwLock<Dataset>,
    pub selections: Mutex<SelectionCache>,
    pub settings: RwLock<Settings>,
    pub limiter: Mutex<Limiter>,
    pub faults: Mutex<FaultState>,
    pub tokens: Mutex<Tokens>,
    pub stats: Mutex<RequestCounts>,
    /// Deletions waiting for a request count (the request gate carries them out).
    pub scheduled: Mutex<Schedule>,
    /// The emulator's now (the same clock the dataset stamps changes with).
    pub clock: Arc<Clock>,
    /// Where the server listens (the fallback origin of links when a request has no `Host`).
    pub local_addr: std::net::SocketAddr,
}

/// Locks a mutex, recovering from a panic elsewhere (the state stays usable for other tests).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read-locks a lock, recovering from poisoning.
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-locks a lock, recovering from poisoning.
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl App {
    /// Builds the state: generates the dataset and installs the configured behaviour.
    pub fn new(config: &EmulatorConfig, local_addr: std::net::SocketAddr) -> App {
        let data = crate::data::generate::generate(config.seed, config.scale);
        App {
            clock: data.clock.clone(),
            data: RwLock::new(data),
            selections: Mutex::new(SelectionCache::default()),
            settings: RwLock::new(Settings {
                general_limit: config.general_limit,
                reports_limit: config.reports_limit,
                forbidden: config.forbidden.clone(),
                access_token_ttl: config.access_token_ttl,
                date_header: true,
                rotate_refresh_tokens: config.rotate_refresh_tokens,
            }),
            limiter: Mutex::new(Limiter::default()),
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            tokens: Mutex::new(Tokens::default()),
            stats: Mutex::new(RequestCounts::default()),
            scheduled: Mutex::new(Schedule::default()),
            local_addr,
        }
    }

    /// Replaces the fault configuration (and restarts token budgets and fault draws).
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = FaultState::new(faults);
        lock(&self.tokens).reset_uses();
    }

    /// Replaces both rate limits and forgets the requests counted so far.
    pub fn set_limits(&self, general: Option<RateLimit>, reports: Option<RateLimit>) {
        {
            let mut s = write(&self.settings);
            s.general_limit = general;
            s.reports_limit = reports;
        }
        lock(&self.limiter).reset();
    }
}

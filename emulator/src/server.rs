//! The running emulator: binds 127.0.0.1, serves on its own Tokio runtime thread so plain
//! `#[test]` functions can use it, and stops when the handle is dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::middleware;
use axum::Router;
use tokio::sync::oneshot;

use crate::config::{EmulatorConfig, Faults, RateLimit};
use crate::credentials::RefreshTokens;
use crate::data::deletion::Deletion;
use crate::data::mutate;
use crate::net::{Conn, ResettableListener};
use crate::request_stats::RequestCounts;
use crate::scheduled::{Refusal, ScheduledDeletion};
use crate::state::{lock, read, write, App};
use crate::{api, control, dataset_counts, gate, harvest_id};

/// A running emulator. Dropping it shuts the server down.
pub struct Emulator {
    app: Arc<App>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The whole HTTP surface: `/v2` behind the gate, Harvest ID under `/id/api/v2`, the control API
/// under `/__emulator`; every response gets a `Date` header.
fn router(app: Arc<App>) -> Router {
    let v2 = api::routes()
        .fallback(|| async { api::error::no_route() })
        .layer(middleware::from_fn_with_state(app.clone(), gate::api));
    let id = Router::new()
        .route(
            "/id/api/v2/oauth2/token",
            axum::routing::post(harvest_id::token_endpoint),
        )
        .route(
            "/id/api/v2/accounts",
            axum::routing::get(harvest_id::accounts_endpoint),
        );
    v2.merge(id)
        .layer(middleware::from_fn_with_state(app.clone(), gate::count))
        .merge(control::routes())
        .layer(middleware::from_fn_with_state(app.clone(), gate::date))
        .with_state(app)
}

impl Emulator {
    /// Generates the data and starts serving on 127.0.0.1 (`config.port`, 0 = any free port).
    pub fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", config.port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let app = Arc::new(App::new(&config, addr));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("harvest-emulator")
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel::<()>();
        let service = router(app.clone()).into_make_service_with_connect_info::<Conn>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("harvest-emulator".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => {
                            let _ = ready_tx.send(Ok(()));
                            l
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let serve = axum::serve(ResettableListener(listener), service);
                    tokio::select! {
                        result = serve => {
                            if let Err(e) = result {
                                tracing::error!("emulator server stopped: {e}");
                            }
                        }
                        _ = rx => {}
                    }
                });
                // Connections still open (a slow or huge response) are dropped, not awaited.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("emulator thread died during start"))??;
        tracing::info!("harvest emulator listening on http://{addr}");
        Ok(Emulator {
            app,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:PORT/v2` (no trailing slash).
    pub fn api_url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    /// The OAuth token endpoint (Harvest ID's `/api/v2/oauth2/token`).
    pub fn oauth_token_url(&self) -> String {
        format!("http://{}/id/api/v2/oauth2/token", self.addr)
    }

    /// The accounts endpoint (Harvest ID's `/api/v2/accounts`).
    pub fn accounts_url(&self) -> String {
        format!("http://{}/id/api/v2/accounts", self.addr)
    }

    /// Base URL of the control API.
    pub fn control_url(&self) -> String {
        format!("http://{}/__emulator", self.addr)
    }

    /// Records per connector stream as the emulator would serve them now (see [`crate::dataset_counts`]).
    pub fn expected_counts(&self) -> BTreeMap<String, u64> {
        dataset_counts::expected_counts(&read(&self.app.data))
    }

    /// [`Emulator::expected_counts`], except that windowed report streams count the rows of a
    /// sync from `from` to `to` (`YYYY-MM-DD`, inclusive) in windows of `window_days` days, as the
    /// connector reads them. Panics on a date that is not `YYYY-MM-DD`: a test bug.
    pub fn expected_counts_in_windows(
        &self,
        from: &str,
        to: &str,
        window_days: u32,
    ) -> BTreeMap<String, u64> {
        let day = |d: &str| {
            crate::time::parse_date(d).unwrap_or_else(|| panic!("{d:?} is not YYYY-MM-DD"))
        };
        let days = i32::try_from(window_days.max(1)).unwrap_or(i32::MAX);
        dataset_counts::expected_counts_in_windows(&read(&self.app.data), day(from), day(to), days)
    }

    /// Requests answered so far (control API excluded).
    pub fn request_counts(&self) -> RequestCounts {
        lock(&self.app.stats).clone()
    }

    /// Starts counting requests from zero.
    pub fn reset_request_counts(&self) {
        *lock(&self.app.stats) = RequestCounts::default();
    }

    /// Moves the emulator's clock by `seconds` (negative moves it back) and returns its new
    /// now as `YYYY-MM-DDTHH:MM:SSZ`. The `Date` header, the stamps of records changed from
    /// then on and OAuth token expiry follow it; rate limits and fault timings do not.
    pub fn advance_clock(&self, seconds: i64) -> String {
        self.app.clock.advance(seconds);
        self.app.clock.now_string()
    }

    /// The emulator's now as `YYYY-MM-DDTHH:MM:SSZ` (see [`Emulator::advance_clock`]).
    pub fn now(&self) -> String {
        self.app.clock.now_string()
    }

    /// Replaces the injected faults (restarting fault draws and token budgets).
    pub fn set_faults(&self, faults: Faults) {
        self.app.set_faults(faults);
    }

    /// Replaces both rate limits (`None` = unlimited) and forgets past requests.
    pub fn set_limits(&self, general: Option<RateLimit>, reports: Option<RateLimit>) {
        self.app.set_limits(general, reports);
    }

    /// Whether responses carry a `Date` header (on by default): off, as behind a proxy that
    /// strips it, the connector has only its own clock.
    pub fn set_date_header(&self, on: bool) {
        write(&self.app.settings).date_header = on;
    }

    /// The refresh token the token endpoint accepts now, how often it was rotated, and whether
    /// refreshes rotate it: what a client that persists rotated tokens must hold.
    pub fn refresh_tokens(&self) -> RefreshTokens {
        let rotate = read(&self.app.settings).rotate_refresh_tokens;
        lock(&self.app.tokens).refresh_tokens(rotate)
    }

    /// Makes each refresh from now on issue a new refresh token and revoke the one it was
    /// given (`true`), or return it unchanged (`false`).
    pub fn set_refresh_token_rotation(&self, rotate: bool) {
        write(&self.app.settings).rotate_refresh_tokens = rotate;
    }

    /// Replaces the path prefixes answered with 403.
    pub fn set_forbidden(&self, prefixes: Vec<String>) {
        write(&self.app.settings).forbidden = prefixes;
    }

    /// Creates a record in `stream` (a connector stream name) from `fields` and returns it as
    /// served; a child's parent changes as Harvest's would unless `fields` has
    /// `"bump_parent": false`. Panics on an unknown stream or a field the stream does not have: a test bug.
    pub fn create(&self, stream: &str, fields: serde_json::Value) -> serde_json::Value {
        mutate::create(&mut write(&self.app.data), stream, &fields)
            .unwrap_or_else(|e| panic!("create {stream}: {e}"))
    }

    /// Updates a record and bumps its `updated_at` to now; `None` if the id is unknown.
    /// Panics on an unknown stream or field.
    pub fn update(
        &self,
        stream: &str,
        id: i64,
        fields: serde_json::Value,
    ) -> Option<serde_json::Value> {
        match mutate::update(&mut write(&self.app.data), stream, id, &fields) {
            Ok(v) => v,
            Err(e) => panic!("update {stream}/{id}: {e}"),
        }
    }

    /// Deletes `deletion.ids` just before the request to `deletion.path` that follows the next
    /// `deletion.after` ones is answered, each as [`Emulator::delete`] would; an id Harvest
    /// would refuse to delete is skipped and listed by [`Emulator::scheduled_refusals`]. Panics
    /// on an unknown stream or a non-API path.
    pub fn schedule_deletion(&self, deletion: ScheduledDeletion) {
        if let Some(why) = deletion.invalid() {
            panic!("schedule_deletion: {why}");
        }
        lock(&self.app.scheduled).push(deletion);
    }

    /// Deletes a record as the control API does (dependents go with it, a payment's invoice is
    /// settled again); `false` if there was none. Panics on an unknown stream or when Harvest
    /// would refuse the deletion (a client that still has projects, say): a test that means to
    /// see a refusal calls [`Emulator::try_delete`].
    pub fn delete(&self, stream: &str, id: i64) -> bool {
        self.try_delete(stream, id)
            .unwrap_or_else(|e| panic!("delete {stream}/{id}: {e}"))
            .is_some()
    }

    /// Deletes a record as the control API does: `Ok(None)` if there was none, `Err` with
    /// Harvest's message when Harvest refuses (nothing is deleted) or the stream is unknown,
    /// else what the deletion removed and changed besides the record.
    pub fn try_delete(&self, stream: &str, id: i64) -> Result<Option<Deletion>, String> {
        mutate::delete(&mut write(&self.app.data), stream, id, true)
    }

    /// Deletes a child record and leaves its parent exactly as it was (no `updated_at` bump, no
    /// `due_amount` change), as a change Harvest does not reflect on the parent; `false` if there
    /// was none. Panics on a stream without parents.
    pub fn delete_without_bumping_parent(&self, stream: &str, id: i64) -> bool {
        mutate::delete(&mut write(&self.app.data), stream, id, false)
            .unwrap_or_else(|e| panic!("delete {stream}/{id}: {e}"))
            .is_some()
    }

    /// The records scheduled deletions skipped because Harvest would refuse to delete them
    /// (see [`Emulator::schedule_deletion`]), oldest first.
    pub fn scheduled_refusals(&self) -> Vec<Refusal> {
        lock(&self.app.scheduled).refused().to_vec()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! The read engine: every selected stream, read the same way from its row in the stream table.
//!
//! A plan of one job per stream runs concurrently (bounded by `max_concurrency`); all jobs
//! share the HTTP client and so its rate limiters. A job walks its pages by following
//! `links.next`, writes each page's records through its [`Emitter`], and checkpoints at page
//! boundaries. Child streams share one listing of their parent's ids per sync.
//!
//! Incremental reads never trust the order of records (Harvest never sorts by `updated_at`):
//! a pass reads everything updated since the previous watermark, and only a completed pass
//! moves the watermark, to the server's time at the start of the pass minus [`OVERLAP`]. An
//! interrupted pass leaves a `resume` point so the next run finishes that pass.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{OnceCell, Semaphore};
use url::Url;

use crate::catalog::Selected;
use crate::config::{Config, ConfigError};
use crate::harvest::{Bucket, FetchError, HarvestClient, Response, RotationSink};
use crate::keys::RecordKeys;
use crate::output::Output;
use crate::page;
use crate::protocol::{AirbyteMessage, FailureType, StreamStatus, SyncMode};
use crate::state::{self, InputState, Position, Resume};
use crate::streams::{self, Cursor, StreamDef};

/// Subtracted from the server time at the start of a pass to make the next watermark: covers
/// clock differences between Harvest's servers and writes committed while the pass started.
pub const OVERLAP: Duration = Duration::minutes(5);

/// Malformed records reported one by one before the rest are only counted.
const MALFORMED_LOGGED: u64 = 10;

/// How a stream's read ended.
#[derive(Debug)]
pub enum StreamEnd {
    /// Every record was read and the final STATE written.
    Complete,
    /// Harvest answered 403: the token's role cannot read this stream.
    Forbidden,
    /// The read stopped; the trace was written.
    Failed,
}

/// Why a stream's read stopped.
#[derive(Debug)]
enum StreamError {
    Fetch(FetchError),
    /// The server broke the API's contract (a page without its array, a looping next link…).
    Malformed(String),
    /// Records were unusable (no id, wrong types); they were reported and not emitted.
    BadRecords(u64),
    /// stdout is gone.
    Output,
}

impl From<FetchError> for StreamError {
    fn from(e: FetchError) -> Self {
        StreamError::Fetch(e)
    }
}

impl From<io::Error> for StreamError {
    fn from(_: io::Error) -> Self {
        StreamError::Output
    }
}

/// The ids of a parent stream's records, listed once per sync for all its children.
struct ParentList {
    ids: Vec<i64>,
    listed_at: Option<DateTime<Utc>>,
}

/// State shared by every job of one `read`.
struct Engine {
    config: Config,
    client: HarvestClient,
    output: Output,
    parents: Mutex<BTreeMap<&'static str, Arc<OnceCell<Arc<ParentList>>>>>,
}

/// Why a `read` did not complete.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing was read: the state (or the client's setup) is unusable.
    Config(ConfigError),
    /// Some streams did not finish; each said why on the output already.
    Incomplete(Vec<&'static str>),
}

/// Reads the selected streams; `Ok` only when every one of them completed.
pub async fn read(
    config: Config,
    selected: Vec<Selected>,
    input: &InputState,
    output: Output,
    on_rotation: RotationSink,
) -> Result<(), ReadError> {
    let mut jobs = Vec::with_capacity(selected.len());
    for sel in selected {
        let position = input.position(sel.def).map_err(ReadError::Config)?;
        warn_if_future(sel.def, &position);
        jobs.push((sel, position));
    }
    for name in input.stream_names() {
        if !jobs.iter().any(|(s, _)| s.def.name == name) {
            tracing::info!("the state mentions stream {name}, which this catalog does not select; its state is left as it is");
        }
    }
    let client =
        HarvestClient::new(&config).map_err(|e| ReadError::Config(ConfigError(e.to_string())))?;
    client.on_refresh_token_rotated(on_rotation);
    let permits = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
    let engine = Arc::new(Engine {
        config,
        client,
        output,
        parents: Mutex::new(BTreeMap::new()),
    });
    let mut tasks = Vec::with_capacity(jobs.len());
    for (sel, position) in jobs {
        let engine = engine.clone();
        let permits = permits.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            let name = sel.def.name;
            (name, engine.run_stream(sel, position).await)
        }));
    }
    let mut forbidden = Vec::new();
    let mut failed = Vec::new();
    for task in tasks {
        let (name, end) = task.await.expect("stream jobs do not panic");
        match end {
            StreamEnd::Complete => {}
            StreamEnd::Forbidden => forbidden.push(name),
            StreamEnd::Failed => failed.push(name),
        }
    }
    engine.client.settle().await;
    let stats = engine.client.stats();
    tracing::info!("requests made: {stats:?}");
    if !forbidden.is_empty() {
        let _ = engine.output.emit(&AirbyteMessage::error(
            FailureType::ConfigError,
            format!(
                "Harvest refused access (403) to {}: the token's user lacks the permission these streams need (most need an administrator, or a manager allowed to see rates and invoices). Use an administrator's token, or deselect these streams.",
                forbidden.join(", ")
            ),
            None,
        ));
    }
    if forbidden.is_empty() && failed.is_empty() {
        Ok(())
    } else {
        let mut all = forbidden;
        all.extend(failed);
        Err(ReadError::Incomplete(all))
    }
}

fn warn_if_future(def: &StreamDef, position: &Position) {
    let now = Utc::now();
    let future = position.updated_at().is_some_and(|t| t > now)
        || position.to_date().is_some_and(|d| d > now.date_naive());
    if future {
        tracing::warn!(
            "the state of stream {} is in the future ({}): nothing will be read until then",
            def.name,
            position
                .updated_at
                .as_deref()
                .or(position.to.as_deref())
                .unwrap_or_default()
        );
    }
}

impl Engine {
    async fn run_stream(&self, sel: Selected, position: Position) -> StreamEnd {
        let name = sel.def.name;
        let mut out = Emitter::new(
            name,
            &self.output,
            sel.fields.clone(),
            self.config.checkpoint_interval,
        );
        if out
            .message(&AirbyteMessage::stream_status(name, StreamStatus::Started))
            .is_err()
        {
            return StreamEnd::Failed;
        }
        let result = match (sel.def.records_key, sel.def.parent, sel.def.cursor) {
            (None, _, _) => self.read_single(sel.def, &mut out).await,
            (_, Some(parent), _) => self.read_children(&sel, parent, &position, &mut out).await,
            (_, None, Cursor::ReportWindow) => self.read_reports(&sel, &position, &mut out).await,
            _ => self.read_list(&sel, &position, &mut out).await,
        };
        let result = match result {
            Ok(final_position) => out
                .running()
                .and_then(|()| out.state(&final_position))
                .and_then(|()| {
                    out.message(&AirbyteMessage::stream_status(name, StreamStatus::Complete))
                })
                .map_err(StreamError::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                tracing::info!("stream {name}: {} records", out.total);
                StreamEnd::Complete
            }
            Err(StreamError::Output) => StreamEnd::Failed,
            Err(error) => self.fail(name, error, &mut out),
        }
    }

    fn fail(&self, name: &str, error: StreamError, out: &mut Emitter<'_>) -> StreamEnd {
        let _ = out.flush_page();
        let _ = out.message(&AirbyteMessage::stream_status(
            name,
            StreamStatus::Incomplete,
        ));
        let (failure_type, message, end) = match error {
            StreamError::Fetch(FetchError::Forbidden { url_path }) => {
                tracing::warn!(
                    "stream {name} skipped: Harvest answered 403 Forbidden for {url_path}; the token's user lacks the permission to read it (an administrator's token can)"
                );
                return StreamEnd::Forbidden;
            }
            StreamError::Fetch(e @ (FetchError::Unauthorized { .. } | FetchError::Config { .. })) => {
                (FailureType::ConfigError, e.to_string(), StreamEnd::Failed)
            }
            StreamError::Fetch(e @ FetchError::Transient { .. }) => {
                (FailureType::TransientError, e.to_string(), StreamEnd::Failed)
            }
            StreamError::Fetch(e) => (FailureType::SystemError, e.to_string(), StreamEnd::Failed),
            StreamError::Malformed(m) => (FailureType::SystemError, m, StreamEnd::Failed),
            StreamError::BadRecords(n) => (
                FailureType::SystemError,
                format!("{n} records were malformed and not emitted (see the ERROR logs); the stream's cursor was not advanced so they are read again next time"),
                StreamEnd::Failed,
            ),
            StreamError::Output => return StreamEnd::Failed,
        };
        let resume = if out.wrote_state {
            "The last STATE it emitted lets the next sync continue from there"
        } else {
            "It emitted no STATE, so the next sync starts it where this one did"
        };
        let message = format!(
            "stream {name} stopped after {} records: {message}. {resume}.",
            out.total
        );
        let _ = out.message(&AirbyteMessage::error(failure_type, message, Some(name)));
        end
    }

    /// The lower bound of `updated_at` for this read: the state's watermark in incremental
    /// mode (never before the start date), the start date otherwise.
    fn lower_bound(&self, sel: &Selected, position: &Position) -> DateTime<Utc> {
        let start = self.config.start_date;
        match sel.mode {
            SyncMode::Incremental => position.updated_at().map_or(start, |t| t.max(start)),
            SyncMode::FullRefresh => start,
        }
    }

    /// The pass to continue, if the state holds one that fits the sync mode.
    fn resume_of<'p>(&self, sel: &Selected, position: &'p Position) -> Option<&'p Resume> {
        let resume = position.resume.as_ref()?;
        let fits = match sel.mode {
            SyncMode::Incremental => {
                resume.watermark.is_some() || !matches!(sel.def.cursor, Cursor::UpdatedAt { .. })
            }
            SyncMode::FullRefresh => resume.watermark.is_none(),
        };
        fits.then_some(resume)
    }

    /// What an entity stream's state says once its pass completed.
    fn completed(
        &self,
        sel: &Selected,
        lower: DateTime<Utc>,
        watermark: Option<DateTime<Utc>>,
    ) -> Position {
        match (sel.mode, sel.def.cursor) {
            (SyncMode::Incremental, Cursor::UpdatedAt { .. }) => {
                let mut mark = watermark.unwrap_or_else(Utc::now);
                if let Some(end) = self.config.end_date {
                    mark = mark.min(end);
                }
                Position {
                    updated_at: Some(state::format_instant(mark.max(lower))),
                    ..Position::default()
                }
            }
            _ => Position::finished_full_refresh(),
        }
    }

    /// The position written at a checkpoint of an unfinished pass.
    fn in_progress(&self, sel: &Selected, position: &Position, resume: Resume) -> Position {
        Position {
            updated_at: match sel.mode {
                SyncMode::Incremental => position.updated_at.clone(),
                SyncMode::FullRefresh => None,
            },
            to: match sel.mode {
                SyncMode::Incremental => position.to.clone(),
                SyncMode::FullRefresh => None,
            },
            resume: Some(resume),
            no_cursor: None,
        }
    }

    fn bucket(def: &StreamDef) -> Bucket {
        if def.is_report() {
            Bucket::Reports
        } else {
            Bucket::General
        }
    }

    fn first_url(&self, path: &str, mut query: Vec<(&str, String)>) -> Url {
        query.push(("per_page", self.config.page_size.to_string()));
        self.client.url(path, &query)
    }

    /// The path and query of a URL, as stored in a resume point; refuses foreign hosts.
    fn resume_link(&self, next: &str) -> Result<String, StreamError> {
        let url = Url::parse(next)
            .or_else(|_| self.config.api_url.join(next))
            .map_err(|_| StreamError::Malformed(format!("links.next is not a URL: {next:.80}")))?;
        if url.origin() != self.config.api_url.origin() {
            return Err(StreamError::Fetch(FetchError::ForeignHost {
                url: url.origin().ascii_serialization(),
            }));
        }
        let mut link = url.path().to_string();
        if let Some(q) = url.query() {
            link.push('?');
            link.push_str(q);
        }
        Ok(link)
    }

    /// A server's `links.next` as the resume link a STATE stores and the URL to request.
    fn next_link(&self, next: &str) -> Result<(String, Url), StreamError> {
        let link = self.resume_link(next)?;
        let url = self
            .config
            .api_url
            .join(&link)
            .expect("a link of our own origin");
        Ok((link, url))
    }

    /// Turns a stored resume link back into a URL. Page-numbered links step back one page:
    /// records deleted since the interruption shift later records onto earlier pages, and
    /// re-reading one page is cheaper than missing them. Cursor links (keyset on id) are stable.
    fn url_from_resume(&self, link: &str) -> Result<Url, StreamError> {
        let mut url = self.config.api_url.join(link).map_err(|_| {
            StreamError::Malformed(format!("the state's resume link is not a URL: {link:.80}"))
        })?;
        if url.origin() != self.config.api_url.origin()
            || !url.path().starts_with(self.config.api_url.path())
        {
            return Err(StreamError::Malformed(format!(
                "the state's resume link {link:.80} is not under the API URL {}; remove `resume` from the state to restart the pass",
                self.config.api_url
            )));
        }
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        if !pairs.iter().any(|(k, _)| k == "cursor") {
            let stepped: Vec<(String, String)> = pairs
                .into_iter()
                .map(|(k, v)| match (k.as_str(), v.parse::<u64>()) {
                    ("page", Ok(n)) if n > 1 => (k, (n - 1).to_string()),
                    _ => (k, v),
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(stepped);
        }
        Ok(url)
    }

    /// Follows `links.next` from `first` to the end, calling `on_page` with each page, the
    /// server's `Date` and the next page's resume link. Stops loops and endless empty pages.
    ///
    /// The next page is requested before this one is parsed and written, so the server's time
    /// to answer overlaps ours: one request ahead, never more. A request sent early is not
    /// taken back: a page that turns out empty, malformed or other than its end said costs one
    /// request whose answer is dropped (never to another host, never to a page already read).
    async fn walk<F>(&self, def: &StreamDef, first: Url, mut on_page: F) -> Result<(), StreamError>
    where
        F: FnMut(&page::Page<'_>, Option<DateTime<Utc>>, Option<&str>) -> Result<(), StreamError>,
    {
        let key = def.records_key.expect("list streams have a records key");
        let bucket = Self::bucket(def);
        let mut seen = HashSet::new();
        let mut fewest = None;
        let mut url = first;
        let mut prefetched: Option<Prefetch> = None;
        loop {
            seen.insert(url.to_string());
            let response = match prefetched.take().filter(|request| request.url == url) {
                Some(request) => request.response().await?,
                None => self.client.get(&url, bucket).await?,
            };
            let body = std::str::from_utf8(&response.body).map_err(|_| {
                StreamError::Malformed(format!(
                    "{} answered with a body that is not UTF-8",
                    url.path()
                ))
            })?;
            // Parsing a page costs about as much as the server takes to send the next one:
            // request it now, from the link at the body's end, unless the page's total says
            // the walk will step back instead; the parsed page confirms it.
            if let Some(hint) = page::hint(body)
                .filter(|hint| {
                    hint.total_entries
                        .is_none_or(|t| fewest.is_none_or(|f| t >= f))
                })
                .and_then(|hint| self.next_link(&hint.next).ok())
                .map(|(_, next_url)| next_url)
                .filter(|next_url| !seen.contains(next_url.as_str()))
            {
                prefetched = Some(Prefetch::start(&self.client, hint, bucket).await);
            }
            let page = page::parse(body, key)
                .map_err(|e| StreamError::Malformed(format!("{}: {e}", url.path())))?;
            if let Some(back) = self.step_back(&url, &mut fewest, page.total_entries) {
                tracing::info!(
                    "stream {}: records were deleted during the pass, moving later ones onto pages already read; reading again from {}",
                    def.name,
                    back.path()
                );
                // Pages are read again on purpose; each step back needs a new lowest total,
                // so this cannot loop.
                seen.clear();
                url = back;
                continue;
            }
            let next = page
                .next
                .as_deref()
                .map(|next| self.next_link(next))
                .transpose()?;
            let refusal = next
                .as_ref()
                .and_then(|(link, next_url)| Self::refuse_next(&url, next_url, link, &page, &seen));
            match (&next, &refusal) {
                (Some((_, next_url)), None) => {
                    if prefetched.as_ref().is_none_or(|p| p.url != *next_url) {
                        prefetched =
                            Some(Prefetch::start(&self.client, next_url.clone(), bucket).await);
                    }
                }
                _ => prefetched = None,
            }
            on_page(
                &page,
                response.date,
                next.as_ref().map(|(link, _)| link.as_str()),
            )?;
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
            let Some((_, next_url)) = next else {
                return Ok(());
            };
            url = next_url;
        }
    }

    /// Why the walk must not follow `next` (resolved: `next_url`) from `url`: a link back to a
    /// page already read, or an empty page that still links on; either would walk forever.
    fn refuse_next(
        url: &Url,
        next_url: &Url,
        next: &str,
        page: &page::Page<'_>,
        seen: &HashSet<String>,
    ) -> Option<StreamError> {
        if seen.contains(next_url.as_str()) {
            return Some(StreamError::Malformed(format!(
                "links.next of {} points back to a page already read ({next:.120}); stopped to avoid an endless loop",
                url.path()
            )));
        }
        if page.records.is_empty() {
            return Some(StreamError::Malformed(format!(
                "{} returned an empty page that links to another page; stopped to avoid an endless walk",
                url.path()
            )));
        }
        None
    }

    /// Where a page-numbered walk must go back to after `url` answered with `total` records
    /// in all, fewer than any page before it (`fewest`): records deleted from pages already read
    /// moved as many later records onto those pages, where the walk would miss them. Cursor
    /// links name the last record read, and deletions do not move them.
    fn step_back(&self, url: &Url, fewest: &mut Option<u64>, total: Option<u64>) -> Option<Url> {
        let total = total?;
        let before = fewest.replace(fewest.map_or(total, |f| f.min(total)));
        let deleted = before?.checked_sub(total).filter(|&d| d > 0)?;
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        if pairs.iter().any(|(k, _)| k == "cursor") {
            return None;
        }
        let page: u64 = pairs.iter().find(|(k, _)| k == "page")?.1.parse().ok()?;
        let back_to = page
            .saturating_sub(deleted.div_ceil(u64::from(self.config.page_size.max(1))))
            .max(1);
        if back_to == page {
            return None;
        }
        let mut back = url.clone();
        back.query_pairs_mut()
            .clear()
            .extend_pairs(pairs.iter().map(|(k, v)| {
                if k == "page" {
                    (k.clone(), back_to.to_string())
                } else {
                    (k.clone(), v.clone())
                }
            }));
        Some(back)
    }

    /// A stream whose body is one object (company).
    async fn read_single(
        &self,
        def: &StreamDef,
        out: &mut Emitter<'_>,
    ) -> Result<Position, StreamError> {
        let response = self
            .client
            .get(&self.client.url(def.path, &[]), Self::bucket(def))
            .await?;
        let body = std::str::from_utf8(&response.body)
            .ok()
            .filter(|b| b.trim_start().starts_with('{'))
            .ok_or_else(|| {
                StreamError::Malformed(format!("{} did not answer with a JSON object", def.path))
            })?;
        out.running()?;
        out.record(body.trim(), "");
        out.flush_page()?;
        Ok(Position::finished_full_refresh())
    }

    /// An entity stream (or project_budget): one pass over its pages.
    async fn read_list(
        &self,
        sel: &Selected,
        position: &Position,
        out: &mut Emitter<'_>,
    ) -> Result<Position, StreamError> {
        let def = sel.def;
        let lower = self.lower_bound(sel, position);
        let filter = RecordFilter::new(def, lower, self.config.end_date);
        let resume = self.resume_of(sel, position);
        let mut watermark = resume
            .and_then(|r| r.watermark.as_deref())
            .and_then(state::parse_instant);
        let first = match resume.and_then(|r| r.next.as_deref()) {
            Some(link) => {
                tracing::info!(
                    "stream {}: resuming the interrupted pass at {link}",
                    def.name
                );
                self.url_from_resume(link)?
            }
            None => {
                let mut query = Vec::new();
                if matches!(
                    def.cursor,
                    Cursor::UpdatedAt {
                        server_filter: true
                    }
                ) {
                    query.push(("updated_since", state::format_instant(lower)));
                }
                self.first_url(def.path, query)
            }
        };
        let mut first_page = resume.is_none();
        self.walk(def, first, |page, date, next| {
            if watermark.is_none() {
                watermark = Some(date.unwrap_or_else(Utc::now) - OVERLAP);
            }
            if std::mem::take(&mut first_page) {
                if let Some(total) = page.total_entries {
                    out.message(&AirbyteMessage::estimate(def.name, total))?;
                }
            }
            out.running()?;
            emit_records(def, &page.records, &filter, "", out);
            out.flush_page()?;
            if let Some(next) = next.filter(|_| out.checkpoint_due()) {
                let resume = Resume {
                    watermark: watermark
                        .filter(|_| sel.mode == SyncMode::Incremental)
                        .map(state::format_instant),
                    next: Some(next.to_string()),
                    ..Resume::default()
                };
                out.state(&self.in_progress(sel, position, resume))?;
            }
            Ok(())
        })
        .await?;
        out.finish(self.completed(sel, lower, watermark))
    }

    /// The ids of a parent stream, listed once per sync, ascending.
    async fn parent_list(&self, parent: &'static str) -> Result<Arc<ParentList>, StreamError> {
        let cell = self
            .parents
            .lock()
            .expect("not poisoned")
            .entry(parent)
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let def = streams::find(parent).expect("parents are in the table");
            let mut ids = Vec::new();
            let mut listed_at = None;
            let mut bad = 0u64;
            self.walk(
                def,
                self.first_url(def.path, Vec::new()),
                |page, date, _| {
                    listed_at = listed_at.or(date);
                    for record in &page.records {
                        match record
                            .keys
                            .as_ref()
                            .map_err(Clone::clone)
                            .and_then(|k| k.id())
                        {
                            Ok(id) => ids.push(id),
                            Err(why) => {
                                bad += 1;
                                tracing::error!(
                                    "stream {parent}: a record cannot be used as a parent: {why}"
                                );
                            }
                        }
                    }
                    Ok(())
                },
            )
            .await?;
            if bad > 0 {
                return Err(StreamError::BadRecords(bad));
            }
            ids.sort_unstable();
            ids.dedup();
            tracing::info!("listed {} {parent} as parents", ids.len());
            Ok(Arc::new(ParentList { ids, listed_at }))
        })
        .await
        .cloned()
    }

    /// A child stream: its records under each parent, parents in ascending id order.
    async fn read_children(
        &self,
        sel: &Selected,
        parent: &'static str,
        position: &Position,
        out: &mut Emitter<'_>,
    ) -> Result<Position, StreamError> {
        let def = sel.def;
        let parents = self.parent_list(parent).await?;
        let lower = self.lower_bound(sel, position);
        let filter = RecordFilter::new(def, lower, self.config.end_date);
        let resume = self.resume_of(sel, position);
        let after = resume.and_then(|r| r.after_parent_id);
        let watermark = resume
            .and_then(|r| r.watermark.as_deref())
            .and_then(state::parse_instant)
            .or_else(|| Some(parents.listed_at.unwrap_or_else(Utc::now) - OVERLAP));
        let incremental_filter = matches!(def.cursor, Cursor::UpdatedAt { .. });
        out.running()?;
        for &id in parents
            .ids
            .iter()
            .filter(|&&id| after.is_none_or(|a| id > a))
        {
            let mut query = Vec::new();
            if incremental_filter {
                query.push(("updated_since", state::format_instant(lower)));
            }
            let path = def.path.replace("{id}", &id.to_string());
            let extra = format!("\"parent_id\":{id}");
            let walked = self
                .walk(def, self.first_url(&path, query), |page, _, _| {
                    emit_records(def, &page.records, &filter, &extra, out);
                    out.flush_page()?;
                    Ok(())
                })
                .await;
            match walked {
                Err(StreamError::Fetch(FetchError::NotFound { url_path })) => {
                    tracing::warn!("stream {}: {parent} {id} disappeared during the sync ({url_path} answered 404); its records are skipped", def.name);
                }
                other => other?,
            }
            if out.checkpoint_due() {
                let resume = Resume {
                    watermark: watermark
                        .filter(|_| sel.mode == SyncMode::Incremental && incremental_filter)
                        .map(state::format_instant),
                    after_parent_id: Some(id),
                    ..Resume::default()
                };
                out.state(&self.in_progress(sel, position, resume))?;
            }
        }
        out.finish(self.completed(sel, lower, watermark))
    }

    /// A report stream: windows of at most 365 days from the start (or the state) to the end.
    async fn read_reports(
        &self,
        sel: &Selected,
        position: &Position,
        out: &mut Emitter<'_>,
    ) -> Result<Position, StreamError> {
        let def = sel.def;
        let start_day = self.config.start_date.date_naive();
        let resume = self.resume_of(sel, position);
        let mut from = match (resume.and_then(|r| r.from.as_deref()), sel.mode) {
            (Some(f), _) => state::parse_date(f).unwrap_or(start_day),
            (None, SyncMode::Incremental) => {
                position.to_date().map_or(start_day, |d| d.max(start_day))
            }
            (None, SyncMode::FullRefresh) => start_day,
        };
        let end_day = self
            .config
            .end_date
            .unwrap_or_else(Utc::now)
            .min(Utc::now())
            .date_naive();
        let mut last_to = match sel.mode {
            SyncMode::Incremental => position.to.clone(),
            SyncMode::FullRefresh => None,
        };
        let mut resume_link = resume.and_then(|r| r.next.clone());
        out.running()?;
        while from <= end_day {
            let to = (from + Duration::days(364)).min(end_day);
            let (from_text, to_text) = (state::format_date(from), state::format_date(to));
            // A window resumed mid-way: its total counts rows an earlier run already sent.
            let mut window_start = resume_link.is_none();
            let first = match resume_link.take() {
                Some(link) => self.url_from_resume(&link)?,
                None => self.first_url(
                    def.path,
                    vec![("from", from_text.clone()), ("to", to_text.clone())],
                ),
            };
            let extra = format!("\"from\":\"{from_text}\",\"to\":\"{to_text}\"");
            let filter = RecordFilter::none();
            self.walk(def, first, |page, _, next| {
                // Harvest counts a window's rows, not the stream's: the estimate is what was
                // read so far plus this window, exact once the last window begins.
                if let Some(total) = page.total_entries.filter(|_| window_start) {
                    out.message(&AirbyteMessage::estimate(def.name, out.total + total))?;
                }
                window_start = false;
                emit_records(def, &page.records, &filter, &extra, out);
                out.flush_page()?;
                if let Some(next) = next.filter(|_| out.checkpoint_due()) {
                    let resume = Resume {
                        from: Some(from_text.clone()),
                        next: Some(next.to_string()),
                        ..Resume::default()
                    };
                    out.state(&self.in_progress(
                        sel,
                        &Position {
                            to: last_to.clone(),
                            ..Position::default()
                        },
                        resume,
                    ))?;
                }
                Ok(())
            })
            .await?;
            from = to + Duration::days(1);
            last_to = Some(to_text);
            if from <= end_day {
                // The pass goes on at the next window, not at `to`: a window starting at `to`
                // (as after a completed pass) would shift every later window, and the rows of
                // shifted windows are other aggregates than a clean sync's.
                let position = Position {
                    to: last_to
                        .clone()
                        .filter(|_| sel.mode == SyncMode::Incremental),
                    resume: Some(Resume {
                        from: Some(state::format_date(from)),
                        ..Resume::default()
                    }),
                    ..Position::default()
                };
                out.state(&position)?;
            }
        }
        out.finish(match sel.mode {
            SyncMode::Incremental => Position {
                to: last_to,
                ..Position::default()
            },
            SyncMode::FullRefresh => Position::finished_full_refresh(),
        })
    }
}

/// Which records of a page are emitted: incremental streams keep what was updated within
/// `[lower, upper]`, whatever the server sent (a server that ignores `updated_since` still
/// yields a correct sync). Streams without a cursor keep everything.
struct RecordFilter {
    check_keys: bool,
    lower: Option<String>,
    upper: Option<String>,
}

impl RecordFilter {
    fn new(def: &StreamDef, lower: DateTime<Utc>, upper: Option<DateTime<Utc>>) -> RecordFilter {
        let by_cursor = matches!(def.cursor, Cursor::UpdatedAt { .. });
        RecordFilter {
            check_keys: def.primary_key == ["id"],
            lower: by_cursor.then(|| state::format_instant(lower)),
            upper: upper.filter(|_| by_cursor).map(state::format_instant),
        }
    }

    fn none() -> RecordFilter {
        RecordFilter {
            check_keys: false,
            lower: None,
            upper: None,
        }
    }

    /// `Ok(true)` to emit, `Ok(false)` to skip, `Err` for a malformed record.
    fn keep(&self, keys: &RecordKeys<'_>) -> Result<bool, String> {
        if self.check_keys {
            keys.id()?;
        }
        if self.lower.is_none() && self.upper.is_none() {
            return Ok(true);
        }
        let updated = keys.updated_at()?;
        if let Some(lower) = &self.lower {
            if compare_instants(updated, lower)?.is_lt() {
                return Ok(false);
            }
        }
        match &self.upper {
            Some(upper) => Ok(compare_instants(updated, upper)?.is_le()),
            None => Ok(true),
        }
    }
}

/// Compares a record's timestamp with one of ours. Harvest's fixed `YYYY-MM-DDTHH:MM:SSZ`
/// compares as text (no parsing on the hot path); anything else is parsed.
fn compare_instants(record: &str, ours: &str) -> Result<std::cmp::Ordering, String> {
    if record.len() == 20 && record.ends_with('Z') && record.as_bytes()[10] == b'T' {
        return Ok(record.cmp(ours));
    }
    let parsed = state::parse_instant(record)
        .ok_or_else(|| format!("its updated_at is not a date-time: {record:.40}"))?;
    Ok(parsed.cmp(&state::parse_instant(ours).expect("ours are well-formed")))
}

/// Emits a page's records that pass the filter, counting and logging the malformed ones.
fn emit_records(
    def: &StreamDef,
    records: &[page::Record<'_>],
    filter: &RecordFilter,
    extra: &str,
    out: &mut Emitter<'_>,
) {
    let needs_keys = filter.check_keys || filter.lower.is_some();
    for record in records {
        let verdict = match &record.keys {
            Ok(keys) if needs_keys => filter.keep(keys),
            Err(why) if needs_keys || !record.is_object() => Err(why.clone()),
            _ => Ok(true),
        };
        match verdict {
            Ok(true) => out.record(record.raw, extra),
            Ok(false) => {}
            Err(why) => {
                out.malformed += 1;
                if out.malformed <= MALFORMED_LOGGED {
                    let id = record.keys.as_ref().ok().and_then(|k| k.id);
                    tracing::error!(
                        "stream {}: a record (id {}) was not emitted: {why}",
                        def.name,
                        id.unwrap_or("unknown")
                    );
                }
            }
        }
    }
}

/// One stream's writer: renders its lines into a buffer handed to [`Output`] a page at a time,
/// and counts records between STATEs for `sourceStats.recordCount`.
struct Emitter<'a> {
    stream: &'static str,
    output: &'a Output,
    fields: Option<Vec<String>>,
    checkpoint_interval: u64,
    buf: Vec<u8>,
    since_state: u64,
    total: u64,
    malformed: u64,
    running: bool,
    /// Whether this run has written a STATE for the stream (a failure says where to resume).
    wrote_state: bool,
    /// `emitted_at` of the records being rendered, refreshed once per page.
    emitted_at: String,
}

impl<'a> Emitter<'a> {
    fn new(
        stream: &'static str,
        output: &'a Output,
        fields: Option<Vec<String>>,
        checkpoint_interval: u64,
    ) -> Self {
        Emitter {
            stream,
            output,
            fields,
            checkpoint_interval: checkpoint_interval.max(1),
            buf: Vec::with_capacity(1 << 16),
            since_state: 0,
            total: 0,
            malformed: 0,
            running: false,
            wrote_state: false,
            emitted_at: crate::protocol::now_millis().to_string(),
        }
    }

    /// Writes what is buffered, then `message`, flushed.
    fn message(&mut self, message: &AirbyteMessage) -> io::Result<()> {
        self.flush_page()?;
        self.output.emit(message)
    }

    /// RUNNING, once, before the first record.
    fn running(&mut self) -> io::Result<()> {
        if !std::mem::replace(&mut self.running, true) {
            self.message(&AirbyteMessage::stream_status(
                self.stream,
                StreamStatus::Running,
            ))?;
        }
        Ok(())
    }

    /// Renders one RECORD line: `data` is the raw record with `extra` fields spliced in front.
    fn record(&mut self, raw: &str, extra: &str) {
        let projected;
        let raw = match &self.fields {
            None => raw,
            Some(fields) => {
                projected = project(raw, fields);
                &projected
            }
        };
        let buf = &mut self.buf;
        buf.extend_from_slice(b"{\"type\":\"RECORD\",\"record\":{\"stream\":\"");
        buf.extend_from_slice(self.stream.as_bytes());
        buf.extend_from_slice(b"\",\"data\":");
        if extra.is_empty() {
            buf.extend_from_slice(raw.as_bytes());
        } else {
            let body = raw
                .trim_start()
                .strip_prefix('{')
                .unwrap_or(raw)
                .trim_start();
            buf.push(b'{');
            buf.extend_from_slice(extra.as_bytes());
            if !body.starts_with('}') {
                buf.push(b',');
            }
            buf.extend_from_slice(body.as_bytes());
        }
        buf.extend_from_slice(b",\"emitted_at\":");
        buf.extend_from_slice(self.emitted_at.as_bytes());
        buf.extend_from_slice(b"}}\n");
        self.since_state += 1;
        self.total += 1;
    }

    /// Hands the buffered lines to the output.
    fn flush_page(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.output.write_lines(&self.buf, false);
        self.buf.clear();
        self.emitted_at = crate::protocol::now_millis().to_string();
        result
    }

    /// Whether a STATE should follow the records written so far.
    fn checkpoint_due(&self) -> bool {
        self.since_state >= self.checkpoint_interval
    }

    /// The stream's end after its last page: malformed records fail it (see [`Self::state`]).
    fn finish(&self, position: Position) -> Result<Position, StreamError> {
        match self.malformed {
            0 => Ok(position),
            n => Err(StreamError::BadRecords(n)),
        }
    }

    /// A STATE covering every record written so far; none once a malformed record was seen,
    /// in any reader: the last STATE must stay before it, so that the next sync reads it again
    /// rather than resuming past it.
    fn state(&mut self, position: &Position) -> io::Result<()> {
        if self.malformed > 0 {
            return Ok(());
        }
        let message =
            AirbyteMessage::stream_state(self.stream, position.to_value(), self.since_state);
        tracing::debug!(
            "stream {}: STATE after {} more records ({} in all)",
            self.stream,
            self.since_state,
            self.total
        );
        self.since_state = 0;
        self.wrote_state = true;
        self.message(&message)
    }
}

/// The next page's request, running on the runtime while the current page is written.
/// Dropping it (the walk stopped or went elsewhere) cancels the request and its retries; an
/// OAuth renewal it started finishes anyway, in a task of its own.
struct Prefetch {
    url: Url,
    task: tokio::task::JoinHandle<Result<Response, FetchError>>,
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Prefetch {
    async fn start(client: &HarvestClient, url: Url, bucket: Bucket) -> Prefetch {
        let client = client.clone();
        let request = url.clone();
        let task = tokio::spawn(async move { client.get(&request, bucket).await });
        // The new task waits in this worker's LIFO slot, which no other worker takes from,
        // until this task yields: let it send its request before the page is parsed, so that
        // another worker receives the answer meanwhile.
        tokio::task::yield_now().await;
        Prefetch { url, task }
    }

    async fn response(mut self) -> Result<Response, FetchError> {
        match (&mut self.task).await {
            Ok(result) => result,
            // Only Drop aborts the task, and `self` is still alive: it ended by panicking.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// Keeps only `fields` of a record (the configured catalog narrowed the schema).
fn project(raw: &str, fields: &[String]) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw) {
        Ok(mut map) => {
            map.retain(|k, _| fields.iter().any(|f| f == k));
            serde_json::to_string(&map).expect("a map serialises")
        }
        Err(_) => raw.to_string(),
    }
}

//! The emitter: one stream's records, statuses and checkpoints on their way to the output,
//! and those of the streams derived from it (each a [`Sink`] of its own, fed by a tap).
//!
//! Records are rendered a page at a time into the stream's own buffer and handed to
//! [`Output`] in one piece, so the output's lock is taken once per page. Every STATE covers
//! exactly the records written before it, and carries their count in `sourceStats`.

use super::cursor::RecordFilter;
use super::derive;
use super::error::StreamError;
use crate::output::Output;
use crate::page;
use crate::protocol::{now_millis, AirbyteMessage, Extras, RecordWriter, StreamStatus};
use crate::state::Position;
use crate::streams::{Derived, StreamDef};

/// Malformed records reported one by one before the rest are only counted.
const MALFORMED_LOGGED: u64 = 10;

/// One stream's writer, and the writers of the streams derived from its records (see
/// [`crate::streams::Derived`]), which the records it keeps are handed to: the one listing
/// serves them all. A source read only for its derived streams is hidden: its own records,
/// statuses and STATEs are not written.
pub(super) struct Emitter<'a> {
    own: Sink<'a>,
    visible: bool,
    taps: Vec<Tap<'a>>,
    checkpoint_interval: u64,
    /// The position at the last boundary the read passed since its last STATE (see
    /// [`Emitter::checkpoint`]).
    boundary: Option<Position>,
}

/// A derived stream fed by its source's records.
struct Tap<'a> {
    derived: &'static Derived,
    sink: Sink<'a>,
}

/// What one stream of an [`Emitter`] writes: its records, statuses and STATEs.
pub(super) struct Sink<'a> {
    /// The stream's row.
    def: &'static StreamDef,
    /// The stream's name.
    pub(super) stream: &'static str,
    output: &'a Output,
    records: RecordWriter,
    buf: Vec<u8>,
    since_state: u64,
    /// Records written by this run.
    pub(super) total: u64,
    malformed: u64,
    running: bool,
    /// Whether this run has written a STATE for the stream (a failure says where to resume).
    pub(super) wrote_state: bool,
}

impl<'a> Sink<'a> {
    fn new(def: &'static StreamDef, output: &'a Output, fields: Option<Vec<String>>) -> Self {
        Sink {
            def,
            stream: def.name,
            output,
            records: RecordWriter::new(def.name, fields),
            buf: Vec::new(),
            since_state: 0,
            total: 0,
            malformed: 0,
            running: false,
            wrote_state: false,
        }
    }

    /// Writes what is buffered, then `message`, flushed.
    pub(super) fn message(&mut self, message: &AirbyteMessage) -> Result<(), StreamError> {
        self.flush_page()?;
        self.output
            .emit(message)
            .map_err(|e| StreamError::writing(e, self.output))
    }

    /// A stream status trace.
    pub(super) fn status(&mut self, status: StreamStatus) -> Result<(), StreamError> {
        self.message(&AirbyteMessage::stream_status(self.stream, status))
    }

    /// RUNNING, once, before the first record.
    pub(super) fn running(&mut self) -> Result<(), StreamError> {
        if !std::mem::replace(&mut self.running, true) {
            self.status(StreamStatus::Running)?;
        }
        Ok(())
    }

    fn write(&mut self, raw: &str, extras: &Extras) {
        self.records.write(&mut self.buf, raw, extras);
        self.since_state += 1;
        self.total += 1;
    }

    /// Hands the buffered lines to the output.
    pub(super) fn flush_page(&mut self) -> Result<(), StreamError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.output.write_lines(&self.buf, false);
        self.buf.clear();
        self.records.set_emitted_at(now_millis());
        result.map_err(|e| StreamError::writing(e, self.output))
    }

    /// Malformed records fail the stream at its end (see [`Self::state`]).
    pub(super) fn check(&self) -> Result<(), StreamError> {
        match self.malformed {
            0 => Ok(()),
            n => Err(StreamError::BadRecords(n)),
        }
    }

    /// A STATE covering every record written so far; none once a malformed record was seen:
    /// the last STATE must stay before it, so that the next sync reads it again rather than
    /// resuming past it.
    pub(super) fn state(&mut self, position: &Position) -> Result<(), StreamError> {
        if self.malformed > 0 {
            return Ok(());
        }
        let message = AirbyteMessage::stream_state(
            self.stream,
            position.to_value(self.def),
            self.since_state,
        );
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

    /// Counts a record that was not emitted, logging the first few: `which` names it.
    fn malformed(&mut self, which: &str, why: &str) {
        self.malformed += 1;
        if self.malformed <= MALFORMED_LOGGED {
            tracing::error!(
                "stream {}: a record ({which}) was not emitted: {why}",
                self.stream
            );
        }
    }
}

impl<'a> Emitter<'a> {
    /// The emitter of `def`'s stream, keeping only `fields` of its records when given.
    pub(super) fn new(
        def: &'static StreamDef,
        output: &'a Output,
        fields: Option<Vec<String>>,
        checkpoint_interval: u64,
    ) -> Self {
        let mut own = Sink::new(def, output, fields);
        own.buf.reserve(1 << 16);
        Emitter {
            own,
            visible: true,
            taps: Vec::new(),
            checkpoint_interval: checkpoint_interval.max(1),
            boundary: None,
        }
    }

    /// Also writes `def`'s rows (a stream derived from this one), keeping only `fields`.
    pub(super) fn tap(mut self, def: &'static StreamDef, fields: Option<Vec<String>>) -> Self {
        let derived = def.derived().expect("only derived streams tap a source");
        let sink = Sink::new(def, self.own.output, fields);
        self.taps.push(Tap { derived, sink });
        self
    }

    /// Writes nothing of the source's own: it is read for its derived streams only.
    pub(super) fn hidden(mut self) -> Self {
        self.visible = false;
        self
    }

    /// The streams written: the source unless hidden, then the derived ones.
    pub(super) fn sinks(&mut self) -> impl Iterator<Item = &mut Sink<'a>> {
        let own = self.visible.then_some(&mut self.own);
        own.into_iter()
            .chain(self.taps.iter_mut().map(|t| &mut t.sink))
    }

    /// A stream status trace of every stream written.
    pub(super) fn status(&mut self, status: StreamStatus) -> Result<(), StreamError> {
        self.sinks().try_for_each(|sink| sink.status(status))
    }

    /// RUNNING, once, before the first record.
    pub(super) fn running(&mut self) -> Result<(), StreamError> {
        self.sinks().try_for_each(Sink::running)
    }

    /// An ESTIMATE of the source's records (the derived streams' are not known).
    pub(super) fn estimate(&mut self, rows: u64) -> Result<(), StreamError> {
        if !self.visible {
            return Ok(());
        }
        self.own
            .message(&AirbyteMessage::estimate(self.own.stream, rows))
    }

    /// The source's records written by this run (counted when hidden too).
    pub(super) fn total(&self) -> u64 {
        self.own.total
    }

    /// Renders one record (a JSON object's raw text) with `extras` in front: a body that is
    /// its one record (company), which no stream derives from. Unlike a page's records, the
    /// body was not parsed: one that is not JSON (cut short, or nested deeper than
    /// serde_json's recursion limit of 128, which keeps the parse off a stack overflow) is
    /// counted as malformed, which fails the stream, instead of breaking the output's lines
    /// or a platform's parser. Parsed into a `Value` (one small body per sync): `IgnoredAny`
    /// and `RawValue` skip values without that limit.
    pub(super) fn record(&mut self, raw: &str, extras: &Extras) {
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(_) => self.keep(raw, extras),
            Err(e) => self.own.malformed(
                "the response's body",
                &format!("it is not valid JSON ({e}); Harvest answers with a JSON object, check what answers at the API URL"),
            ),
        }
    }

    /// Writes a tombstone of the source (ours: a JSON object without whitespace).
    pub(super) fn tombstone(&mut self, raw: &str) {
        self.keep(raw, &Extras::none());
    }

    /// Writes a tombstone of the derived stream `stream`: a row no record of the source
    /// holds any more.
    pub(super) fn derived_tombstone(&mut self, stream: &str, raw: &str) {
        if let Some(tap) = self.taps.iter_mut().find(|t| t.sink.stream == stream) {
            tap.sink.write(raw, &Extras::none());
        }
    }

    /// Writes a kept record of the source, or only counts it when the source is hidden.
    fn keep(&mut self, raw: &str, extras: &Extras) {
        if self.visible {
            self.own.write(raw, extras);
        } else {
            self.own.since_state += 1;
            self.own.total += 1;
        }
    }

    /// Renders a page's records that pass `filter`, and the rows derived from them, counting
    /// and logging the malformed ones.
    pub(super) fn records(
        &mut self,
        records: &[page::Record<'_>],
        filter: &RecordFilter,
        extras: &Extras,
    ) {
        let needs_keys = filter.needs_keys() || !self.taps.is_empty();
        for record in records {
            let verdict = match &record.keys {
                _ if record.nests_too_deep() => Err(format!(
                    "it nests deeper than {} levels, more than readers of the output accept",
                    page::MAX_DEPTH
                )),
                Ok(keys) if needs_keys => filter.keep(keys),
                Err(why) if needs_keys || !record.is_object() => Err(why.clone()),
                _ => Ok(true),
            };
            match verdict {
                Ok(true) => {
                    self.keep(record.raw, extras);
                    if let Ok(keys) = &record.keys {
                        for tap in &mut self.taps {
                            let sink = &mut tap.sink;
                            let derived = derive::rows(
                                tap.derived,
                                record.raw,
                                keys,
                                extras,
                                |extras, row| sink.write(row, extras),
                            );
                            if let Err(why) = derived {
                                let which = format!(
                                    "from {} {}",
                                    tap.derived.source,
                                    keys.id.unwrap_or("unknown")
                                );
                                sink.malformed(&which, &why);
                            }
                        }
                    }
                }
                Ok(false) => {}
                Err(why) => {
                    // Its derived rows are lost with it: they fail with it, and keep no STATE
                    // past it either.
                    let id = record.keys.as_ref().ok().and_then(|k| k.id);
                    let which = format!("id {}", id.unwrap_or("unknown"));
                    self.own.malformed(&which, &why);
                    for tap in &mut self.taps {
                        tap.sink.malformed(&format!("its source's {which}"), &why);
                    }
                }
            }
        }
    }

    /// Hands the buffered lines to the output.
    pub(super) fn flush_page(&mut self) -> Result<(), StreamError> {
        self.own.flush_page()?;
        self.taps.iter_mut().try_for_each(|t| t.sink.flush_page())
    }

    /// Whether a STATE should follow the records read so far.
    pub(super) fn checkpoint_due(&self) -> bool {
        self.own.since_state >= self.checkpoint_interval
    }

    /// A boundary the read could resume from (between pages, parents or windows), at
    /// `position`: its STATE is written when one is due, else kept for [`Emitter::stopped`].
    pub(super) fn checkpoint(&mut self, position: Position) -> Result<(), StreamError> {
        if self.checkpoint_due() {
            self.state(&position)
        } else {
            self.boundary = Some(position);
            Ok(())
        }
    }

    /// Writes the STATE of the last boundary the read passed, if it passed one since its last
    /// STATE: a read that fails resumes there, and keeps what it counted up to there for
    /// deletion capture. Without it, a record this read sent that Harvest deletes before the
    /// next sync would be in no listing, its tombstone never sent. Best effort: the read
    /// failed already, and the output may be why.
    pub(super) fn stopped(&mut self) {
        if let Some(position) = self.boundary.take() {
            let _ = self.state(&position);
        }
    }

    /// The stream's end after its last page: the source's malformed records fail it (see
    /// [`Sink::state`]); a derived stream's own are its to fail (see [`Sink::check`]).
    pub(super) fn finish(&self, position: Position) -> Result<Position, StreamError> {
        self.own.check().map(|()| position)
    }

    /// A STATE of every stream written, at `position` (a derived stream's state has its
    /// source's shape, so it could be read alone from it next time).
    pub(super) fn state(&mut self, position: &Position) -> Result<(), StreamError> {
        self.boundary = None;
        if !self.visible {
            self.own.since_state = 0;
        }
        self.sinks().try_for_each(|sink| sink.state(position))
    }
}

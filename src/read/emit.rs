//! The emitter: one stream's records, statuses and checkpoints on their way to the output.
//!
//! Records are rendered a page at a time into the stream's own buffer and handed to
//! [`Output`] in one piece, so the output's lock is taken once per page. Every STATE covers
//! exactly the records written before it, and carries their count in `sourceStats`.

use super::cursor::RecordFilter;
use super::error::StreamError;
use crate::output::Output;
use crate::page;
use crate::protocol::{now_millis, AirbyteMessage, Extras, RecordWriter, StreamStatus};
use crate::state::Position;
use crate::streams::StreamDef;

/// Malformed records reported one by one before the rest are only counted.
const MALFORMED_LOGGED: u64 = 10;

/// One stream's writer.
pub(super) struct Emitter<'a> {
    def: &'static StreamDef,
    stream: &'static str,
    output: &'a Output,
    records: RecordWriter,
    checkpoint_interval: u64,
    buf: Vec<u8>,
    since_state: u64,
    /// Records written by this run.
    pub(super) total: u64,
    malformed: u64,
    running: bool,
    /// Whether this run has written a STATE for the stream (a failure says where to resume).
    pub(super) wrote_state: bool,
}

impl<'a> Emitter<'a> {
    /// The emitter of `def`'s stream, keeping only `fields` of its records when given.
    pub(super) fn new(
        def: &'static StreamDef,
        output: &'a Output,
        fields: Option<Vec<String>>,
        checkpoint_interval: u64,
    ) -> Self {
        Emitter {
            def,
            stream: def.name,
            output,
            records: RecordWriter::new(def.name, fields),
            checkpoint_interval: checkpoint_interval.max(1),
            buf: Vec::with_capacity(1 << 16),
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

    /// An ESTIMATE of the stream's records.
    pub(super) fn estimate(&mut self, rows: u64) -> Result<(), StreamError> {
        self.message(&AirbyteMessage::estimate(self.stream, rows))
    }

    /// Renders one record (a JSON object's raw text) with `extras` in front.
    pub(super) fn record(&mut self, raw: &str, extras: &Extras) {
        self.records.write(&mut self.buf, raw, extras);
        self.since_state += 1;
        self.total += 1;
    }

    /// Renders a page's records that pass `filter`, counting and logging the malformed ones.
    pub(super) fn records(
        &mut self,
        records: &[page::Record<'_>],
        filter: &RecordFilter,
        extras: &Extras,
    ) {
        let needs_keys = filter.needs_keys();
        for record in records {
            let verdict = match &record.keys {
                Ok(keys) if needs_keys => filter.keep(keys),
                Err(why) if needs_keys || !record.is_object() => Err(why.clone()),
                _ => Ok(true),
            };
            match verdict {
                Ok(true) => self.record(record.raw, extras),
                Ok(false) => {}
                Err(why) => {
                    self.malformed += 1;
                    if self.malformed <= MALFORMED_LOGGED {
                        let id = record.keys.as_ref().ok().and_then(|k| k.id);
                        tracing::error!(
                            "stream {}: a record (id {}) was not emitted: {why}",
                            self.stream,
                            id.unwrap_or("unknown")
                        );
                    }
                }
            }
        }
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

    /// Whether a STATE should follow the records written so far.
    pub(super) fn checkpoint_due(&self) -> bool {
        self.since_state >= self.checkpoint_interval
    }

    /// The stream's end after its last page: malformed records fail it (see [`Self::state`]).
    pub(super) fn finish(&self, position: Position) -> Result<Position, StreamError> {
        match self.malformed {
            0 => Ok(position),
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
}

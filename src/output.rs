//! The one writer of stdout: records, states, traces and logs all go through [`Output`].
//!
//! Streams are read concurrently, so each stream renders a whole page of lines into its own
//! buffer and hands it over in one call: the lock is taken once per page, not once per record,
//! and one stream's lines never interleave with another's mid-line. A closed stdout (the reader
//! went away) turns every later write into an error, which ends the run with a non-zero code.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::protocol::{AirbyteMessage, LogLevel};

/// Bytes buffered before a write to stdout; large enough that a page of records is one syscall.
const BUFFER_BYTES: usize = 1 << 18;

/// A cheap-to-clone handle on the protocol output.
#[derive(Clone)]
pub struct Output {
    shared: Arc<Shared>,
}

struct Shared {
    writer: Mutex<BufWriter<Box<dyn Write + Send>>>,
    closed: AtomicBool,
}

impl Output {
    /// Output to the process's stdout.
    pub fn stdout() -> Output {
        Output::new(Box::new(io::stdout()))
    }

    /// Output to any writer (tests capture into a buffer).
    pub fn new(writer: Box<dyn Write + Send>) -> Output {
        Output {
            shared: Arc::new(Shared {
                writer: Mutex::new(BufWriter::with_capacity(BUFFER_BYTES, writer)),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Writes one message as a line and flushes, so that states, statuses and logs reach the
    /// platform promptly (records go through [`Output::write_lines`]).
    pub fn emit(&self, message: &AirbyteMessage) -> io::Result<()> {
        let mut line = serde_json::to_vec(message).map_err(io::Error::other)?;
        line.push(b'\n');
        self.write_lines(&line, true)
    }

    /// Writes already-rendered lines (each ending in `\n`) in one piece; `flush` pushes them
    /// out now instead of when the buffer fills.
    pub fn write_lines(&self, lines: &[u8], flush: bool) -> io::Result<()> {
        if self.shared.closed.load(Ordering::Relaxed) {
            return Err(closed());
        }
        let mut writer = self.shared.writer.lock().unwrap_or_else(|e| e.into_inner());
        let result = writer
            .write_all(lines)
            .and_then(|()| if flush { writer.flush() } else { Ok(()) });
        if result.is_err() {
            self.shared.closed.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Flushes everything buffered.
    pub fn flush(&self) -> io::Result<()> {
        self.write_lines(&[], true)
    }

    /// True once a write has failed: the reader is gone and nothing more can be said.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Relaxed)
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "stdout is closed")
}

/// A tracing layer that turns every event into a LOG message on the protocol output, so that
/// the platform sees logs where it looks for them and stdout carries nothing but messages.
pub struct LogLayer {
    output: Output,
}

impl LogLayer {
    /// Logs to `output`.
    pub fn new(output: Output) -> LogLayer {
        LogLayer { output }
    }
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = match *event.metadata().level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        };
        let mut text = MessageText::default();
        event.record(&mut text);
        // A log line that cannot be written has nowhere else to go; the next write of real
        // output reports the closed stream.
        let _ = self.output.emit(&AirbyteMessage::log(level, text.0));
    }
}

/// Renders an event as `message key=value …`.
#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(closed())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(closed())
        }
    }

    #[test]
    fn emit_writes_one_json_line_per_message() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let out = Output::new(Box::new(Captured(buf.clone())));
        out.emit(&AirbyteMessage::log(LogLevel::Info, "hello"))
            .unwrap();
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "{\"type\":\"LOG\",\"log\":{\"level\":\"INFO\",\"message\":\"hello\"}}\n"
        );
    }

    #[test]
    fn a_failed_write_closes_the_output_for_good() {
        let out = Output::new(Box::new(Closed));
        assert!(out.emit(&AirbyteMessage::log(LogLevel::Info, "x")).is_err());
        assert!(out.is_closed());
        assert!(out.write_lines(b"{}\n", false).is_err());
    }
}

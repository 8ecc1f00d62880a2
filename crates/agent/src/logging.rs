//! Logging: tracing to stderr, plus a ring of the last lines that `monitor` replays and
//! then follows (as the Serf agent does).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Lines kept for replay.
pub const RING_LINES: usize = 512;

/// One formatted log line with its level.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Severity.
    pub level: Level,
    /// The formatted line.
    pub text: String,
}

/// The shared ring and the live feed.
#[derive(Debug, Clone)]
pub struct LogRing {
    lines: Arc<Mutex<VecDeque<LogLine>>>,
    feed: broadcast::Sender<LogLine>,
}

impl Default for LogRing {
    fn default() -> Self {
        Self::new()
    }
}

impl LogRing {
    /// An empty ring.
    pub fn new() -> Self {
        let (feed, _) = broadcast::channel(RING_LINES);
        LogRing {
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(RING_LINES))),
            feed,
        }
    }

    /// The lines kept so far, oldest first, and a receiver for the lines after them.
    pub fn snapshot_and_follow(&self) -> (Vec<LogLine>, broadcast::Receiver<LogLine>) {
        let guard = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.feed.subscribe();
        (guard.iter().cloned().collect(), rx)
    }

    fn push(&self, line: LogLine) {
        let mut guard = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if guard.len() == RING_LINES {
            guard.pop_front();
        }
        guard.push_back(line.clone());
        drop(guard);
        let _ = self.feed.send(line);
    }
}

/// Parse a Serf-style level name (TRACE, DEBUG, INFO, WARN, ERR).
pub fn parse_level(s: &str) -> Option<Level> {
    match s.to_ascii_uppercase().as_str() {
        "TRACE" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" | "WARNING" => Some(Level::WARN),
        "ERR" | "ERROR" => Some(Level::ERROR),
        _ => None,
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for LogRing {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut f = Fields(String::new());
        event.record(&mut f);
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let text = format!("{secs:.3} [{}] {}:{}", meta.level(), meta.target(), f.0);
        self.push(LogLine {
            level: *meta.level(),
            text,
        });
    }
}

/// Install the subscriber: lines at `level` and above go to stderr and to the ring.
pub fn init(level: &str, ring: &LogRing) {
    use tracing_subscriber::prelude::*;
    let level = parse_level(level).unwrap_or(Level::INFO);
    let filter = tracing_subscriber::filter::LevelFilter::from_level(level);
    use std::io::IsTerminal;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(ring.clone())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_lines() {
        let ring = LogRing::new();
        for i in 0..(RING_LINES + 10) {
            ring.push(LogLine {
                level: Level::INFO,
                text: format!("line {i}"),
            });
        }
        let (lines, _rx) = ring.snapshot_and_follow();
        assert_eq!(lines.len(), RING_LINES);
        assert_eq!(lines[0].text, "line 10");
        assert_eq!(parse_level("err"), Some(Level::ERROR));
        assert_eq!(parse_level("loud"), None);
    }
}

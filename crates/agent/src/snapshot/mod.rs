//! The agent's snapshot file (`--snapshot PATH`, Serf's `-snapshot`): what lets a restarted
//! agent find its cluster again and not handle old events twice.
//!
//! The format and replay are rumor-serf's ([`rumor_serf::snapshot`]); this module owns the
//! file:
//!
//! - [`load`] reads it at start (a missing file is an empty one), logs every line it cannot
//!   use with the file name and line number, and replays the rest. Its clocks become
//!   [`rumor_serf::SerfConfig::restore`] before the pool starts.
//! - [`writer`] appends what happens (member joins and departures, clocks, user events) with
//!   `O_APPEND`, flushes at least every 500 ms and on leave and shutdown, writes `leave` at a
//!   graceful leave and nothing after it, and compacts through `PATH.compact` + fsync + rename.
//! - [`rejoin`] tries the previously known alive members one at a time, in random order,
//!   until one answers, as Serf does (also when `--join` is given).

pub mod rejoin;
pub mod writer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rumor_net::PoolHandle;
use rumor_serf::snapshot::{replay, Replay, MIN_COMPACT_SIZE};
use rumor_serf::{Restore, Serf};

use crate::config::AgentConfig;

pub use writer::{SnapshotHandle, SnapshotWriter};

/// A snapshot read and opened for appending, before the pool starts.
#[derive(Debug)]
pub struct Prepared {
    /// What was read.
    pub loaded: Loaded,
    writer: SnapshotWriter,
}

/// Reads the configured snapshot (if any) and opens it for appending. Errors: the file
/// cannot be read or opened (bad lines are only warnings).
pub fn prepare(config: &AgentConfig) -> Result<Option<Prepared>> {
    let Some(path) = &config.snapshot else {
        return Ok(None);
    };
    let loaded = load(path, config.rejoin_after_leave)?;
    let writer = SnapshotWriter::open(
        path,
        loaded.replay.state.clone(),
        config.rejoin_after_leave,
        MIN_COMPACT_SIZE,
        loaded.replay.unterminated,
    )
    .with_context(|| format!("cannot open snapshot {} for writing", path.display()))?;
    Ok(Some(Prepared { loaded, writer }))
}

impl Prepared {
    /// The clocks for [`rumor_serf::SerfConfig::restore`].
    pub fn restore(&self) -> Restore {
        self.loaded.replay.state.restore()
    }

    /// Starts recording `lan` (right after it starts). Returns the writer's handle and the
    /// members to rejoin (all alive ones but `own_name`).
    pub fn start(
        self,
        lan: PoolHandle<Serf>,
        own_name: &str,
    ) -> (SnapshotHandle, Vec<(String, SocketAddr)>) {
        let previous = self.loaded.replay.previous_nodes(own_name);
        (writer::spawn(self.writer, lan), previous)
    }
}

/// A snapshot read at start.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// What it says (the lines it could not use are in `replay.errors`, already logged).
    pub replay: Replay,
}

/// Reads and replays the snapshot at `path`. A file that does not exist yet is empty; one that
/// cannot be read is an error. Unusable lines are logged as warnings naming the file and the
/// line, and skipped.
pub fn load(path: &Path, rejoin_after_leave: bool) -> Result<Loaded> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read snapshot {}", path.display()))
        }
    };
    let r = replay(&data, rejoin_after_leave);
    for e in &r.errors {
        tracing::warn!(
            file = %path.display(),
            line = e.line,
            "snapshot {} line {}: {}; skipped",
            path.display(),
            e.line,
            e.error
        );
    }
    if r.leaves_ignored > 0 {
        tracing::info!(file = %path.display(), "ignoring previous leave in snapshot (rejoin after leave)");
    }
    tracing::info!(
        file = %path.display(),
        alive = r.state.alive.len(),
        clock = r.state.clock,
        event_clock = r.state.event_clock,
        query_clock = r.state.query_clock,
        left = r.leaves_applied > 0,
        "snapshot replayed"
    );
    Ok(Loaded {
        path: path.to_path_buf(),
        replay: r,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn missing_is_empty_and_unreadable_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let l = load(&dir.path().join("none"), false).unwrap();
        assert_eq!(l.replay, Replay::default());
        // A directory cannot be read as a file.
        let err = load(dir.path(), false).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read snapshot"),
            "{err:#}"
        );
    }

    #[test]
    fn serf_sample_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/serf-0.9.4/snapshot-plain-n1");
        let l = load(&p, false).unwrap();
        assert!(l.replay.errors.is_empty());
        assert_eq!(l.replay.state.alive.len(), 3);
        assert_eq!(l.replay.state.clock, 6);
    }
}

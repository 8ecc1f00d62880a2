//! Writing the snapshot: [`SnapshotWriter`] (the file, its buffer, what it says so far, and
//! compaction) and the task that feeds it from the pool ([`spawn`], driven through
//! [`SnapshotHandle`]).
//!
//! What is written when, as Serf's snapshotter does:
//!
//! | happened                         | line                         |
//! |----------------------------------|------------------------------|
//! | member joined                    | `alive: NAME IP:PORT`        |
//! | member left, failed (or reaped)  | `not-alive: NAME`            |
//! | user event newer than the last   | `event-clock: LTIME`         |
//! | member clock advanced            | `clock: CLOCK-1`, after each member event and every 500 ms |
//! | query clock advanced             | `query-clock: CLOCK-1`, every 500 ms |
//! | graceful leave starts            | `leave` (flushed and fsynced); nothing after it |
//!
//! Lines are buffered and written with `O_APPEND` at most 500 ms later, and at once on leave
//! and shutdown (then fsynced). When the file grows past
//! `max(min size, 2 × 128 B × alive members)` it is compacted: the alive members and the
//! three clocks go to `PATH.compact`, which is fsynced and renamed over `PATH`, and the
//! directory fsynced; a crash at any point leaves either the old file or the new one, whole.
//! If writing fails the lines are dropped (what they said is kept in memory) and a
//! compaction, tried at most every 30 s, rewrites the file from memory.
//!
//! The file is written from the task, with blocking calls: appends are small and rare, and
//! fsync happens only at leave, shutdown and compaction.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rumor_net::PoolHandle;
use rumor_serf::snapshot::{Record, SnapshotState, COMPACT_SUFFIX, FLUSH_INTERVAL};
use rumor_serf::{Event, LamportTime, MemberStatus, Serf, SerfState};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

/// After a failed write, a recovering compaction is tried at most this often (Serf's
/// `snapshotErrorRecoveryInterval`).
const RECOVERY_INTERVAL: Duration = Duration::from_secs(30);

/// Mode of the snapshot files (Serf writes the compacted file 0755; a data file needs no
/// execute bit).
const FILE_MODE: u32 = 0o644;

/// The snapshot file being appended to, and what it says. See the module docs.
#[derive(Debug)]
pub struct SnapshotWriter {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// Bytes in the file plus bytes buffered (what the file will hold after the next flush).
    offset: u64,
    min_compact: u64,
    state: SnapshotState,
    rejoin_after_leave: bool,
    leaving: bool,
    /// A write failed: the file lacks lines until a compaction rewrites it.
    needs_compaction: bool,
    last_recovery: Option<Instant>,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
}

impl SnapshotWriter {
    /// Opens (creating) `path` for appending, continuing from `state` (what [`super::load`]
    /// replayed). `unterminated`: the file ends in a cut line, which is compacted away at
    /// once so that the next line is not glued to it. `min_compact` is the smallest size at
    /// which the file is compacted ([`rumor_serf::snapshot::MIN_COMPACT_SIZE`]).
    pub fn open(
        path: &Path,
        state: SnapshotState,
        rejoin_after_leave: bool,
        min_compact: u64,
        unterminated: bool,
    ) -> io::Result<SnapshotWriter> {
        let file = open_append(path)?;
        let offset = file.metadata()?.len();
        let mut w = SnapshotWriter {
            path: path.to_path_buf(),
            file,
            buf: Vec::new(),
            offset,
            min_compact,
            state,
            rejoin_after_leave,
            leaving: false,
            needs_compaction: false,
            last_recovery: None,
        };
        if unterminated {
            tracing::info!(file = %path.display(), "snapshot ends in a cut line: compacting it away");
            w.compact()?;
        }
        Ok(w)
    }

    /// What the file says (with the buffered lines).
    pub fn state(&self) -> &SnapshotState {
        &self.state
    }

    /// The file's size once the buffer is written.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether `leave` was written (nothing is recorded after it).
    pub fn is_leaving(&self) -> bool {
        self.leaving
    }

    /// Records one line (applied to the state, buffered, compacted past the threshold).
    /// Nothing is recorded after a leave. A record that cannot be written as one line (a
    /// newline in a member name) is skipped with a warning.
    pub fn record(&mut self, rec: Record) {
        if self.leaving {
            return;
        }
        let line = match rec.encode() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "snapshot record skipped");
                return;
            }
        };
        self.state.apply(&rec, self.rejoin_after_leave);
        self.buf.extend_from_slice(line.as_bytes());
        self.offset += line.len() as u64;
        if self.offset > self.state.compaction_threshold(self.min_compact) {
            if let Err(e) = self.compact() {
                tracing::error!(file = %self.path.display(), error = %e, "snapshot compaction failed");
                self.needs_compaction = true;
            }
        }
    }

    /// Records what a pool event changes. Returns true for a member join or departure, after
    /// which the caller should [`observe_clocks`](Self::observe_clocks), as Serf does.
    pub fn on_event(&mut self, ev: &Event) -> bool {
        match ev {
            Event::MemberJoin(m) => {
                self.record(Record::Alive {
                    name: m.name.to_string(),
                    addr: m.addr,
                });
                true
            }
            Event::MemberLeave(m) | Event::MemberFailed(m) => {
                self.record(Record::NotAlive {
                    name: m.name.to_string(),
                });
                true
            }
            Event::MemberReap(m) => {
                // Reaped members were failed or left, so normally already not alive.
                if self.state.alive.contains_key(&*m.name) {
                    self.record(Record::NotAlive {
                        name: m.name.to_string(),
                    });
                }
                false
            }
            Event::MemberUpdate(m) => {
                // A new address for an alive member is where to find it next time.
                if self.state.alive.get(&*m.name).is_some_and(|a| *a != m.addr) {
                    self.record(Record::Alive {
                        name: m.name.to_string(),
                        addr: m.addr,
                    });
                }
                false
            }
            Event::User { ltime, .. } => {
                if *ltime > self.state.event_clock {
                    self.record(Record::EventClock(*ltime));
                }
                false
            }
            _ => false,
        }
    }

    /// Records the member and query clocks if they advanced: the last time used, i.e. the
    /// clock minus one.
    pub fn observe_clocks(&mut self, member_clock: LamportTime, query_clock: LamportTime) {
        let last = member_clock.saturating_sub(1);
        if last > self.state.clock {
            self.record(Record::Clock(last));
        }
        let last = query_clock.saturating_sub(1);
        if last > self.state.query_clock {
            self.record(Record::QueryClock(last));
        }
    }

    /// Brings the alive set in line with the member table after events were missed: members
    /// alive there are written alive, members it holds as failed or left are written not
    /// alive. Members it does not know are kept (they may be previously known members not
    /// rejoined yet).
    pub fn resync(&mut self, members: &[rumor_serf::Member]) {
        for m in members {
            let alive = matches!(m.status, MemberStatus::Alive | MemberStatus::Leaving);
            let known = self.state.alive.get(&*m.name).copied();
            if alive && known != Some(m.addr) {
                self.record(Record::Alive {
                    name: m.name.to_string(),
                    addr: m.addr,
                });
            } else if !alive && known.is_some() {
                self.record(Record::NotAlive {
                    name: m.name.to_string(),
                });
            }
        }
    }

    /// A graceful leave starts: forget the alive members (unless rejoining after a leave),
    /// write `leave`, flush and fsync. Nothing is recorded afterwards.
    pub fn leave(&mut self) -> io::Result<()> {
        if self.leaving {
            return Ok(());
        }
        if !self.rejoin_after_leave {
            self.state.alive.clear();
        }
        self.buf.extend_from_slice(b"leave\n");
        self.offset += "leave\n".len() as u64;
        self.leaving = true;
        self.sync()
    }

    /// Writes the buffered lines. On failure they are dropped (the state keeps what they
    /// said) and the file is marked for a recovering compaction.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.file.write_all(&self.buf);
        self.buf.clear();
        if r.is_err() {
            self.needs_compaction = true;
            if let Ok(m) = self.file.metadata() {
                self.offset = m.len();
            }
        }
        r
    }

    /// Flushes and fsyncs.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.file.sync_all()
    }

    /// After a failed write: compacts, at most every 30 s, to rewrite the file from memory.
    pub fn recover(&mut self, now: Instant) {
        if !self.needs_compaction || self.leaving {
            return;
        }
        if self
            .last_recovery
            .is_some_and(|t| now.duration_since(t) < RECOVERY_INTERVAL)
        {
            return;
        }
        self.last_recovery = Some(now);
        tracing::info!(file = %self.path.display(), "compacting the snapshot to recover from a write error");
        if let Err(e) = self.compact() {
            tracing::error!(file = %self.path.display(), error = %e, retry_in = ?RECOVERY_INTERVAL, "snapshot compaction failed");
        }
    }

    /// Rewrites the file as its alive members and clocks: `PATH.compact` is written,
    /// fsynced and renamed over `PATH`, then the directory is fsynced and `PATH` reopened.
    /// The buffer is dropped (the state holds what it said).
    pub fn compact(&mut self) -> io::Result<()> {
        let mut tmp_name = self.path.clone().into_os_string();
        tmp_name.push(COMPACT_SUFFIX);
        let tmp = PathBuf::from(tmp_name);
        let text = self.state.compacted();
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(FILE_MODE)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        File::open(&dir)?.sync_all()?;
        self.file = open_append(&self.path)?;
        self.buf.clear();
        self.offset = text.len() as u64;
        self.needs_compaction = false;
        tracing::debug!(file = %self.path.display(), bytes = self.offset, alive = self.state.alive.len(), "snapshot compacted");
        Ok(())
    }

    fn log_io(&self, what: &str, r: io::Result<()>) {
        if let Err(e) = r {
            tracing::error!(file = %self.path.display(), error = %e, "snapshot {what} failed");
        }
    }
}

/// Messages to the writer task.
#[derive(Debug)]
enum Control {
    /// Write `leave`, then answer.
    Leave(oneshot::Sender<()>),
    /// Write the clocks and what is pending, fsync, stop.
    Shutdown,
}

/// The running writer task.
#[derive(Debug)]
pub struct SnapshotHandle {
    ctl: mpsc::Sender<Control>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl SnapshotHandle {
    /// Writes `leave` (flushed and fsynced) and returns once it is on disk; from then on
    /// nothing is recorded. Call before the pool's graceful leave, as Serf does.
    pub async fn leave(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ctl.send(Control::Leave(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Writes the clocks and everything pending, fsyncs and stops the task; returns when it
    /// has. Idempotent.
    pub async fn shutdown(&self) {
        let _ = self.ctl.send(Control::Shutdown).await;
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

fn clocks(lan: &PoolHandle<Serf>) -> (LamportTime, LamportTime, bool) {
    lan.call(|serf, _| {
        (
            serf.member_clock(),
            serf.query_clock(),
            serf.state() != SerfState::Alive,
        )
    })
}

/// Starts the task that records `lan`'s events in `writer` (see the module docs). Must be
/// called within a tokio runtime, right after the pool starts: the members already in the
/// table (ourselves) are written alive at once.
pub fn spawn(mut writer: SnapshotWriter, lan: PoolHandle<Serf>) -> SnapshotHandle {
    let (ctl, mut ctl_rx) = mpsc::channel(4);
    // Subscribe before reading the table: an event between the two is then seen twice at
    // worst, never missed.
    let mut rx = lan.subscribe();
    let task = tokio::spawn(async move {
        let members = lan.call(|serf, _| serf.members());
        writer.resync(&members);
        let (m, q, _) = clocks(&lan);
        writer.observe_clocks(m, q);
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                c = ctl_rx.recv() => match c {
                    Some(Control::Leave(ack)) => {
                        let r = writer.leave();
                        writer.log_io("leave", r);
                        let _ = ack.send(());
                    }
                    Some(Control::Shutdown) | None => break,
                },
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        if writer.on_event(&ev) {
                            let (m, q, _) = clocks(&lan);
                            writer.observe_clocks(m, q);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "snapshot writer fell behind; re-reading the member table");
                        let members = lan.call(|serf, _| serf.members());
                        writer.resync(&members);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => {
                    let (m, q, leaving) = clocks(&lan);
                    if leaving && !writer.is_leaving() {
                        // A leave not announced through the handle.
                        let r = writer.leave();
                        writer.log_io("leave", r);
                    }
                    writer.observe_clocks(m, q);
                    let r = writer.flush();
                    writer.log_io("write", r);
                    writer.recover(Instant::now());
                }
            }
        }
        // Shutdown: what is still queued, the clocks, then flush and fsync.
        while let Ok(ev) = rx.try_recv() {
            writer.on_event(&ev);
        }
        let (m, q, _) = clocks(&lan);
        writer.observe_clocks(m, q);
        let r = writer.sync();
        writer.log_io("final sync", r);
    });
    SnapshotHandle {
        ctl,
        task: std::sync::Mutex::new(Some(task)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use rumor_serf::snapshot::replay;
    use std::net::SocketAddr;

    use rumor_serf::Member;

    use super::*;

    fn member(name: &str, addr: &str, status: MemberStatus) -> Member {
        Member {
            name: name.into(),
            addr: addr.parse().unwrap(),
            tags: BTreeMap::new(),
            status,
            protocol: [1, 2, 5],
            delegate: [2, 5, 5],
        }
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn appends_after_what_is_there_and_only_on_flush() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snap");
        std::fs::write(&p, "alive: old 10.0.0.9:7946\nclock: 4\n").unwrap();
        let st = replay(read(&p).as_bytes(), false).state;
        let mut w = SnapshotWriter::open(&p, st, false, 1 << 20, false).unwrap();
        w.on_event(&Event::MemberJoin(member(
            "a",
            "10.0.0.1:7946",
            MemberStatus::Alive,
        )));
        w.observe_clocks(5, 1);
        w.observe_clocks(5, 1);
        assert_eq!(read(&p), "alive: old 10.0.0.9:7946\nclock: 4\n", "buffered");
        w.flush().unwrap();
        w.on_event(&Event::MemberFailed(member(
            "old",
            "10.0.0.9:7946",
            MemberStatus::Failed,
        )));
        w.on_event(&Event::User {
            name: "e".into(),
            payload: bytes::Bytes::new(),
            ltime: 3,
            coalesce: true,
        });
        // An older event does not move event-clock back.
        w.on_event(&Event::User {
            name: "e".into(),
            payload: bytes::Bytes::new(),
            ltime: 2,
            coalesce: true,
        });
        w.observe_clocks(7, 4);
        w.sync().unwrap();
        assert_eq!(
            read(&p),
            "alive: old 10.0.0.9:7946\nclock: 4\nalive: a 10.0.0.1:7946\n\
             not-alive: old\nevent-clock: 3\nclock: 6\nquery-clock: 3\n"
        );
        assert_eq!(w.offset(), read(&p).len() as u64);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn nothing_after_leave_and_leave_forgets_members() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snap");
        let mut w =
            SnapshotWriter::open(&p, SnapshotState::default(), false, 1 << 20, false).unwrap();
        w.on_event(&Event::MemberJoin(member(
            "a",
            "10.0.0.1:7946",
            MemberStatus::Alive,
        )));
        w.leave().unwrap();
        // Flushed and synced by leave itself.
        assert_eq!(read(&p), "alive: a 10.0.0.1:7946\nleave\n");
        w.on_event(&Event::MemberJoin(member(
            "b",
            "10.0.0.2:7946",
            MemberStatus::Alive,
        )));
        w.observe_clocks(100, 100);
        w.leave().unwrap();
        w.sync().unwrap();
        assert_eq!(read(&p), "alive: a 10.0.0.1:7946\nleave\n");
        assert!(w.state().alive.is_empty());
        let r = replay(read(&p).as_bytes(), false);
        assert!(r.state.alive.is_empty());
        // With rejoin after leave, the members are kept and the leave is skipped on replay.
        let p2 = dir.path().join("snap2");
        let mut w =
            SnapshotWriter::open(&p2, SnapshotState::default(), true, 1 << 20, false).unwrap();
        w.on_event(&Event::MemberJoin(member(
            "a",
            "10.0.0.1:7946",
            MemberStatus::Alive,
        )));
        w.leave().unwrap();
        assert_eq!(w.state().alive.len(), 1);
        assert_eq!(replay(read(&p2).as_bytes(), true).state.alive.len(), 1);
    }

    #[test]
    fn compaction_keeps_the_alive_set_and_clocks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snap");
        // Threshold: max(300, 2 × 128 × alive).
        let mut w = SnapshotWriter::open(&p, SnapshotState::default(), false, 300, false).unwrap();
        let mut expected = SnapshotState::default();
        let mut compactions = 0;
        let mut last_offset = 0;
        for i in 0..150u64 {
            let name = format!("node-{}", i % 7);
            let addr: SocketAddr = format!("10.0.0.{}:7946", i % 7).parse().unwrap();
            let ev = if i % 3 == 2 {
                expected.alive.remove(&name);
                Event::MemberFailed(member(&name, "10.0.0.1:1", MemberStatus::Failed))
            } else {
                expected.alive.insert(name.clone(), addr);
                Event::MemberJoin(member(&name, &addr.to_string(), MemberStatus::Alive))
            };
            w.on_event(&ev);
            w.observe_clocks(i + 2, i / 2 + 1);
            expected.clock = i + 1;
            expected.query_clock = expected.query_clock.max(i / 2);
            if i % 5 == 0 {
                w.on_event(&Event::User {
                    name: "e".into(),
                    payload: bytes::Bytes::new(),
                    ltime: i + 10,
                    coalesce: false,
                });
                expected.event_clock = i + 10;
            }
            // At every step the file (flushed) says exactly what the writer holds.
            w.flush().unwrap();
            let text = read(&p);
            assert_eq!(text.len() as u64, w.offset());
            assert_eq!(&replay(text.as_bytes(), false).state, w.state());
            assert!(
                w.offset() <= w.state().compaction_threshold(300),
                "offset {} past the threshold",
                w.offset()
            );
            if w.offset() < last_offset {
                compactions += 1;
            }
            last_offset = w.offset();
        }
        // An explicit compaction writes the alive members, then the three clocks.
        w.compact().unwrap();
        let text = read(&p);
        assert_eq!(text, w.state().compacted());
        assert!(text.ends_with(&format!(
            "clock: {}\nevent-clock: {}\nquery-clock: {}\n",
            expected.clock, expected.event_clock, expected.query_clock
        )));
        assert_eq!(
            text.lines().filter(|l| l.starts_with("alive: ")).count(),
            expected.alive.len()
        );
        w.sync().unwrap();
        assert!(compactions >= 2, "compacted {compactions} times");
        assert_eq!(w.state(), &expected);
        assert_eq!(replay(read(&p).as_bytes(), false).state, expected);
        assert!(!dir.path().join("snap.compact").exists());
    }

    #[test]
    fn a_cut_last_line_is_compacted_away_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snap");
        std::fs::write(&p, "alive: a 10.0.0.1:7946\nclock: 12").unwrap();
        let r = replay(read(&p).as_bytes(), false);
        assert!(r.unterminated);
        let mut w = SnapshotWriter::open(&p, r.state, false, 1 << 20, true).unwrap();
        w.observe_clocks(3, 1);
        w.sync().unwrap();
        assert_eq!(
            read(&p),
            "alive: a 10.0.0.1:7946\nclock: 0\nevent-clock: 0\nquery-clock: 0\nclock: 2\n"
        );
    }

    #[test]
    fn resync_adds_alive_and_drops_known_dead_but_keeps_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("snap");
        let mut st = SnapshotState::default();
        st.alive
            .insert("prev".into(), "10.0.0.5:1".parse().unwrap());
        st.alive
            .insert("gone".into(), "10.0.0.6:1".parse().unwrap());
        let mut w = SnapshotWriter::open(&p, st, false, 1 << 20, false).unwrap();
        w.resync(&[
            member("me", "10.0.0.1:1", MemberStatus::Alive),
            member("gone", "10.0.0.6:1", MemberStatus::Failed),
        ]);
        w.sync().unwrap();
        assert_eq!(read(&p), "alive: me 10.0.0.1:1\nnot-alive: gone\n");
        assert_eq!(
            w.state().alive.keys().collect::<Vec<_>>(),
            vec!["me", "prev"]
        );
    }
}

//! Serf's push-pull state (type 2): the user state a Serf node attaches to every memberlist
//! push-pull. It carries the three clocks, every member's status time, the left members, and
//! the whole user event ring, so a joiner (or a node that missed gossip) catches up.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::read::{read_blob, read_name, read_string, read_struct, Result};
use super::LamportTime;
use crate::msgpack::{Reader, Writer};
use crate::Name;

/// `messagePushPull`. Keys `EventLTime`, `Events`, `LTime`, `LeftMembers`, `QueryLTime`,
/// `StatusLTimes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushPull {
    /// The sender's member clock.
    pub ltime: LamportTime,
    /// Status time of every member the sender knows (left and failed included).
    pub status_ltimes: BTreeMap<Name, LamportTime>,
    /// Members whose status is left. Written as an array even when empty (`90`), like Go.
    pub left_members: Vec<Name>,
    /// The sender's event clock.
    pub event_ltime: LamportTime,
    /// The sender's event ring: [`EVENT_BUFFER_SIZE`](super::EVENT_BUFFER_SIZE) slots from a
    /// Serf agent, `None` (`c0`) for an empty slot; slot index = `LTime % 512`.
    pub events: Vec<Option<UserEvents>>,
    /// The sender's query clock.
    pub query_ltime: LamportTime,
}

/// `userEvents`: the events of one event time (one ring slot). Keys `Events`, `LTime`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserEvents {
    /// The event time of the slot.
    pub ltime: LamportTime,
    /// The distinct events seen at that time.
    pub events: Vec<UserEventEntry>,
}

/// `userEvent`: one event in a ring slot. Keys `Name`, `Payload`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserEventEntry {
    /// Event name.
    pub name: String,
    /// Payload (nil reads as empty).
    pub payload: Bytes,
}

impl PushPull {
    pub(super) fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(6);
        w.write_str("EventLTime");
        w.write_uint(self.event_ltime);
        w.write_str("Events");
        w.write_array_len(self.events.len());
        for slot in &self.events {
            match slot {
                None => w.write_nil(),
                Some(e) => e.write(w),
            }
        }
        w.write_str("LTime");
        w.write_uint(self.ltime);
        w.write_str("LeftMembers");
        w.write_array_len(self.left_members.len());
        for n in &self.left_members {
            w.write_str(n);
        }
        w.write_str("QueryLTime");
        w.write_uint(self.query_ltime);
        w.write_str("StatusLTimes");
        w.write_map_len(self.status_ltimes.len());
        for (n, t) in &self.status_ltimes {
            w.write_str(n);
            w.write_uint(*t);
        }
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = PushPull::default();
        let decl = [
            "LTime",
            "StatusLTimes",
            "LeftMembers",
            "EventLTime",
            "Events",
            "QueryLTime",
        ];
        read_struct(r, &decl, |i, r| {
            match i {
                0 => m.ltime = r.read_uint()?,
                1 => {
                    let n = r.read_map_len()?;
                    for _ in 0..n {
                        let k = read_name(r)?;
                        let v = if r.try_read_nil()? { 0 } else { r.read_uint()? };
                        m.status_ltimes.insert(k, v);
                    }
                }
                2 => {
                    let n = r.read_array_len()?;
                    m.left_members = Vec::with_capacity(n.min(r.remaining_len()));
                    for _ in 0..n {
                        m.left_members.push(if r.try_read_nil()? {
                            Name::from("")
                        } else {
                            read_name(r)?
                        });
                    }
                }
                3 => m.event_ltime = r.read_uint()?,
                4 => {
                    let n = r.read_array_len()?;
                    m.events = Vec::with_capacity(n.min(r.remaining_len()));
                    for _ in 0..n {
                        m.events.push(if r.try_read_nil()? {
                            None
                        } else {
                            Some(UserEvents::read(r)?)
                        });
                    }
                }
                _ => m.query_ltime = r.read_uint()?,
            }
            Ok(())
        })?;
        Ok(m)
    }
}

impl UserEvents {
    fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(2);
        w.write_str("Events");
        w.write_array_len(self.events.len());
        for e in &self.events {
            e.write(w);
        }
        w.write_str("LTime");
        w.write_uint(self.ltime);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = UserEvents::default();
        read_struct(r, &["LTime", "Events"], |i, r| {
            match i {
                0 => m.ltime = r.read_uint()?,
                _ => {
                    let n = r.read_array_len()?;
                    m.events = Vec::with_capacity(n.min(r.remaining_len()));
                    for _ in 0..n {
                        m.events.push(UserEventEntry::read(r)?);
                    }
                }
            }
            Ok(())
        })?;
        Ok(m)
    }
}

impl UserEventEntry {
    fn write(&self, w: &mut Writer<'_>) {
        w.write_map_len(2);
        w.write_str("Name");
        w.write_str(&self.name);
        w.write_str("Payload");
        w.write_bytes(&self.payload);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut m = UserEventEntry::default();
        read_struct(r, &["Name", "Payload"], |i, r| {
            match i {
                0 => m.name = read_string(r)?,
                _ => m.payload = read_blob(r)?,
            }
            Ok(())
        })?;
        Ok(m)
    }
}

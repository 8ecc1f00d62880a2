//! User events: the 512-slot ring that dedupes them by (time, name, payload), and delivery.
//!
//! The ring is also Serf's push-pull `Events`, which is how a joiner that asks for replay
//! (and any member that missed gossip) receives recent events.

use rumor_wire::serf::{LamportTime, UserEvent, UserEventEntry, UserEvents, EVENT_BUFFER_SIZE};

use crate::event::Event;
use crate::state::State;

/// Serf's `eventBuffer` plus `eventMinTime`.
#[derive(Debug, Clone)]
pub(crate) struct EventRing {
    slots: Vec<Option<UserEvents>>,
    /// Events older than this are ignored (raised by a join without replay).
    pub(crate) min_time: LamportTime,
}

impl Default for EventRing {
    fn default() -> Self {
        EventRing {
            slots: vec![None; EVENT_BUFFER_SIZE],
            min_time: 0,
        }
    }
}

impl EventRing {
    /// Records the event if it is new; `now_time` is the event clock after witnessing it.
    /// Returns false for an event too old or already seen.
    pub(crate) fn accept(
        &mut self,
        ltime: LamportTime,
        name: &str,
        payload: &[u8],
        now_time: LamportTime,
    ) -> bool {
        if ltime < self.min_time {
            return false;
        }
        let size = EVENT_BUFFER_SIZE as LamportTime;
        if now_time > size && ltime < now_time - size {
            tracing::warn!(ltime, now_time, name, "received an old event");
            return false;
        }
        let Some(slot) = self.slots.get_mut((ltime % size) as usize) else {
            return false;
        };
        let entry = UserEventEntry {
            name: name.to_owned(),
            payload: bytes::Bytes::copy_from_slice(payload),
        };
        match slot {
            Some(seen) if seen.ltime == ltime => {
                if seen
                    .events
                    .iter()
                    .any(|e| e.name == entry.name && e.payload == entry.payload)
                {
                    return false;
                }
                seen.events.push(entry);
            }
            _ => {
                *slot = Some(UserEvents {
                    ltime,
                    events: vec![entry],
                })
            }
        }
        true
    }

    /// The ring as Serf's push-pull carries it.
    pub(crate) fn slots(&self) -> &[Option<UserEvents>] {
        &self.slots
    }
}

impl State {
    /// Handles a user event (gossiped, from a push-pull, or our own). Returns whether it is
    /// new, i.e. delivered and to be gossiped on.
    pub(crate) fn handle_user_event(&mut self, msg: &UserEvent) -> bool {
        self.event_clock.witness(msg.ltime);
        let now_time = self.event_clock.time();
        if !self
            .event_ring
            .accept(msg.ltime, &msg.name, &msg.payload, now_time)
        {
            return false;
        }
        self.emit(Event::User {
            name: msg.name.clone(),
            payload: msg.payload.clone(),
            ltime: msg.ltime,
            coalesce: msg.cc,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_by_time_name_payload() {
        let mut r = EventRing::default();
        assert!(r.accept(1, "a", b"x", 2));
        assert!(!r.accept(1, "a", b"x", 2), "duplicate");
        assert!(r.accept(1, "a", b"y", 2), "same time, other payload");
        assert!(r.accept(1, "b", b"x", 2), "same time, other name");
        // Slot 1 is reused by time 513: the old events are replaced.
        assert!(r.accept(513, "a", b"x", 514));
        assert_eq!(r.slots()[1].as_ref().map(|s| s.events.len()), Some(1));
        // Too old: more than 512 behind the clock.
        assert!(!r.accept(1, "z", b"", 600));
        r.min_time = 700;
        assert!(!r.accept(650, "m", b"", 700));
        assert!(r.accept(700, "m", b"", 701));
    }
}

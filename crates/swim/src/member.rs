//! The member table: one compact entry per known member, in probe order.
//!
//! Entries live in a `Vec` whose order is the probe order (memberlist inserts each new
//! member at a random position and reshuffles at every wrap-around); a name index maps names
//! to positions. Names and meta are reference-counted and shared, never copied per table.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use rumor_wire::{Name, WireState};

use crate::time::Instant;
use crate::version::Versions;

/// What the pool believes about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Answering probes (or not yet suspected).
    Alive,
    /// Missed probes; will be declared dead unless it refutes.
    Suspect,
    /// Declared failed.
    Dead,
    /// Left gracefully.
    Left,
}

impl State {
    /// The push-pull wire form.
    pub fn to_wire(self) -> WireState {
        match self {
            State::Alive => WireState::Alive,
            State::Suspect => WireState::Suspect,
            State::Dead => WireState::Dead,
            State::Left => WireState::Left,
        }
    }

    /// Dead or left: not probed, not counted as live.
    pub fn is_gone(self) -> bool {
        matches!(self, State::Dead | State::Left)
    }
}

/// One member as this node sees it. About 100 bytes, plus the shared name and meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique name.
    pub name: Name,
    /// IP, in the byte form the member advertised (4 bytes for IPv4, 16 for IPv6).
    pub ip: IpAddr,
    /// Gossip port.
    pub port: u16,
    /// Delegate metadata (Serf tags).
    pub meta: Bytes,
    /// Incarnation number: only the member itself raises it.
    pub incarnation: u32,
    /// Current state.
    pub state: State,
    /// Protocol versions; zeros when unknown.
    pub vsn: Versions,
    /// When `state` last changed.
    pub state_change: Instant,
}

impl Member {
    /// The member's gossip address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

/// Members in probe order plus a name index.
#[derive(Debug, Default)]
pub struct Members {
    list: Vec<Member>,
    index: HashMap<Name, usize>,
}

impl Members {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries (all states, including self).
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Position of a member in probe order.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// A member by name.
    pub fn get(&self, name: &str) -> Option<&Member> {
        self.position(name).map(|i| &self.list[i])
    }

    /// A member by name, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Member> {
        match self.index.get(name) {
            Some(&i) => Some(&mut self.list[i]),
            None => None,
        }
    }

    /// The member at a probe-order position.
    pub fn at(&self, i: usize) -> Option<&Member> {
        self.list.get(i)
    }

    /// All members in probe order.
    pub fn iter(&self) -> impl Iterator<Item = &Member> {
        self.list.iter()
    }

    /// Add a new member at probe position `pos` (clamped); the member previously there
    /// moves to the end. Caller ensures the name is new.
    pub fn insert_at(&mut self, m: Member, pos: usize) {
        let name = m.name.clone();
        if self.list.len() == self.list.capacity() {
            // Grow by an eighth, not double: tables of 10^4 members, 10^4 times over.
            self.list.reserve_exact(self.list.len() / 8 + 8);
        }
        self.list.push(m);
        let last = self.list.len() - 1;
        let pos = pos.min(last);
        self.list.swap(pos, last);
        self.index.insert(name, pos);
        let moved = self.list[last].name.clone();
        self.index.insert(moved, last);
    }

    /// Keep only the members `keep` accepts, then reorder by `order` (a permutation of the
    /// survivors' positions, e.g. a shuffle), and rebuild the index.
    pub fn retain_and_reorder(
        &mut self,
        keep: impl Fn(&Member) -> bool,
        shuffle: impl FnOnce(&mut [Member]),
    ) -> Vec<Member> {
        let (kept, removed): (Vec<Member>, Vec<Member>) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|m| keep(m));
        self.list = kept;
        shuffle(&mut self.list);
        self.index.clear();
        for (i, m) in self.list.iter().enumerate() {
            self.index.insert(m.name.clone(), i);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str) -> Member {
        Member {
            name: name.into(),
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 1,
            meta: Bytes::new(),
            incarnation: 1,
            state: State::Alive,
            vsn: Versions::from_bytes([1, 5, 2, 0, 0, 0]),
            state_change: Instant::ZERO,
        }
    }

    #[test]
    fn insert_keeps_index_true() {
        let mut t = Members::new();
        t.insert_at(m("a"), 0);
        t.insert_at(m("b"), 0);
        t.insert_at(m("c"), 1);
        for (i, mem) in t.iter().enumerate() {
            assert_eq!(t.position(&mem.name), Some(i));
        }
        let removed = t.retain_and_reorder(|x| &*x.name != "b", |s| s.reverse());
        assert_eq!(removed.len(), 1);
        assert_eq!(t.len(), 2);
        for (i, mem) in t.iter().enumerate() {
            assert_eq!(t.position(&mem.name), Some(i));
        }
    }

    #[test]
    fn entry_is_small() {
        // The simulator holds 10^8 entries: keep the entry compact.
        assert!(
            std::mem::size_of::<Member>() <= 104,
            "{}",
            std::mem::size_of::<Member>()
        );
    }
}

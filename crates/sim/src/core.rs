//! What the simulator runs on each simulated host: any [`SimCore`], a [`rumor_swim::Core`]
//! that can be built from the simulation's configuration and shows its SWIM table. Bare SWIM
//! nodes ([`Node`]) and Serf nodes ([`Serf`]) both are, so one simulator runs either, and
//! each runs exactly the production code.
//!
//! Every node of a run shares one [`Interner`], so 10,000 tables of 10,000 members hold each
//! name and meta value once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rumor_serf::{Serf, SerfConfig};
use rumor_swim::{Core, Instant, Interner, Member, Node, State};
use rumor_wire::Name;

use crate::config::SimConfig;

/// The interner every node of one run shares.
pub type SharedIntern = Arc<Mutex<Interner>>;

/// What the simulator records of a core's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// A member changed: `kind` 1 joined (or came back), 2 failed or left, 3 updated; with
    /// the member's SWIM state and incarnation as the observer holds them.
    Member {
        /// 1 join, 2 gone, 3 update.
        kind: u8,
        /// The member.
        name: Name,
        /// Its SWIM state at the observer.
        state: State,
        /// Its incarnation at the observer.
        incarnation: u32,
    },
    /// A join finished with this many failed addresses.
    JoinFinished {
        /// Failed addresses.
        errors: usize,
    },
    /// A graceful leave finished: the node shuts down.
    LeaveFinished,
    /// A user event was delivered.
    User {
        /// Event name.
        name: String,
        /// Event clock time.
        ltime: u64,
    },
    /// Nothing the simulator measures.
    Other,
}

/// What a simulated node is made from.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// The run's configuration.
    pub cfg: &'a SimConfig,
    /// The node's index.
    pub i: usize,
    /// Its name.
    pub name: Name,
    /// Its address.
    pub addr: SocketAddr,
    /// Its RNG seed.
    pub seed: u64,
    /// When it starts.
    pub now: Instant,
    /// The run's shared interner.
    pub intern: &'a SharedIntern,
}

/// A core the simulator can run. See the module docs.
pub trait SimCore: Core + Sized {
    /// Node `spec.i` of the run.
    fn build(spec: Spec<'_>) -> Result<Self, String>;

    /// The SWIM node underneath (its member table, stats, incarnation).
    fn swim(&self) -> &Node;

    /// What `event` means to the simulator.
    fn observe(&self, event: &Self::Event) -> Observed;

    /// Replace the node's meta (a Serf node: its tags, with `meta` as a tag value).
    fn set_meta(&mut self, now: Instant, meta: Bytes) -> Result<(), String>;

    /// Send a user event to every member. Bare SWIM has none.
    fn user_event(&mut self, now: Instant, name: &str, payload: Bytes) -> Result<(), String>;

    /// Broadcasts still queued for gossip.
    fn queued_broadcasts(&self) -> usize;
}

fn member_change(kind: u8, m: &Member) -> Observed {
    Observed::Member {
        kind,
        name: m.name.clone(),
        state: m.state,
        incarnation: m.incarnation,
    }
}

impl SimCore for Node {
    fn build(spec: Spec<'_>) -> Result<Self, String> {
        let (cfg, i) = (spec.cfg, spec.i);
        let config = cfg.node_config(spec.name, spec.addr);
        let meta = if cfg.meta_len == 0 {
            Bytes::new()
        } else {
            Bytes::from(vec![(i % 251) as u8; cfg.meta_len])
        };
        let mut node = Node::new(config, meta, spec.seed, spec.now).map_err(|e| e.to_string())?;
        node.set_interner(Box::new(Arc::clone(spec.intern)));
        Ok(node)
    }

    fn swim(&self) -> &Node {
        self
    }

    fn observe(&self, event: &rumor_swim::Event) -> Observed {
        use rumor_swim::Event as E;
        match event {
            E::Join(m) => member_change(1, m),
            E::Leave(m) => member_change(2, m),
            E::Update(m) => member_change(3, m),
            E::JoinFinished { errors, .. } => Observed::JoinFinished {
                errors: errors.len(),
            },
            E::LeaveFinished => Observed::LeaveFinished,
            _ => Observed::Other,
        }
    }

    fn set_meta(&mut self, now: Instant, meta: Bytes) -> Result<(), String> {
        Node::set_meta(self, now, meta).map_err(|e| e.to_string())
    }

    fn user_event(&mut self, _now: Instant, _name: &str, _payload: Bytes) -> Result<(), String> {
        Err("bare SWIM nodes carry no user events; run Serf nodes".to_string())
    }

    fn queued_broadcasts(&self) -> usize {
        Node::queued_broadcasts(self)
    }
}

impl SimCore for Serf {
    fn build(spec: Spec<'_>) -> Result<Self, String> {
        let (cfg, i) = (spec.cfg, spec.i);
        let swim = cfg.node_config(spec.name, spec.addr);
        let mut tags = BTreeMap::new();
        tags.insert("idx".to_string(), i.to_string());
        if let Some(extra) = cfg.tags {
            tags.extend(extra(i));
        }
        let mut serf = Serf::new(SerfConfig::new(swim, tags), spec.seed, spec.now)
            .map_err(|e| e.to_string())?;
        serf.set_interner(Box::new(Arc::clone(spec.intern)));
        Ok(serf)
    }

    fn swim(&self) -> &Node {
        Serf::swim(self)
    }

    fn observe(&self, event: &rumor_serf::Event) -> Observed {
        use rumor_serf::Event as E;
        // Serf's events carry no SWIM state or incarnation: read them from the table as it
        // stands right after the input that caused the event.
        let change = |kind: u8, name: &Name, gone: State| {
            let (state, incarnation) = match self.swim().member(name) {
                Some(m) => (m.state, m.incarnation),
                None => (gone, 0),
            };
            Observed::Member {
                kind,
                name: name.clone(),
                state,
                incarnation,
            }
        };
        match event {
            E::MemberJoin(m) => change(1, &m.name, State::Alive),
            E::MemberFailed(m) => change(2, &m.name, State::Dead),
            E::MemberLeave(m) => change(2, &m.name, State::Left),
            E::MemberUpdate(m) => change(3, &m.name, State::Alive),
            E::JoinFinished { errors, .. } => Observed::JoinFinished {
                errors: errors.len(),
            },
            E::LeaveFinished { .. } => Observed::LeaveFinished,
            E::User { name, ltime, .. } => Observed::User {
                name: name.clone(),
                ltime: *ltime,
            },
            _ => Observed::Other,
        }
    }

    fn set_meta(&mut self, now: Instant, meta: Bytes) -> Result<(), String> {
        let mut tags = self.local_member().tags;
        tags.insert("meta".to_string(), hex_of(&meta));
        self.set_tags(now, tags).map_err(|e| e.to_string())
    }

    fn user_event(&mut self, now: Instant, name: &str, payload: Bytes) -> Result<(), String> {
        Serf::user_event(self, now, name, payload, false).map_err(|e| e.to_string())
    }

    fn queued_broadcasts(&self) -> usize {
        let s = self.stats();
        self.swim().queued_broadcasts() + s.intent_queue + s.event_queue + s.query_queue
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

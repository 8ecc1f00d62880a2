//! The delegate every simulated node runs: it shares one interner for names and meta
//! across all nodes, so 10,000 tables of 10,000 members hold each name string once.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use bytes::Bytes;
use rumor_swim::{Delegate, Interner};
use rumor_wire::Name;

/// The shared copies of names and meta values (lookups only: nothing iterates it).
#[derive(Debug, Default)]
pub struct SharedIntern {
    names: Interner,
    metas: HashSet<Bytes>,
}

impl SharedIntern {
    /// The shared copy of `name`.
    pub fn name(&mut self, name: Name) -> Name {
        self.names.name(name)
    }

    /// The shared copy of `meta`.
    pub fn meta(&mut self, meta: Bytes) -> Bytes {
        if let Some(m) = self.metas.get(&meta) {
            return m.clone();
        }
        // Own the bytes: a decoded meta may be a slice of a whole packet or push-pull.
        let owned = Bytes::copy_from_slice(&meta);
        self.metas.insert(owned.clone());
        owned
    }
}

/// A node's delegate in the simulator: only interning, no user messages.
#[derive(Debug, Clone)]
pub struct SimDelegate {
    intern: Rc<RefCell<SharedIntern>>,
}

impl SimDelegate {
    /// A delegate using the shared interner.
    pub fn new(intern: Rc<RefCell<SharedIntern>>) -> Self {
        SimDelegate { intern }
    }
}

impl Delegate for SimDelegate {
    fn intern_name(&mut self, name: Name) -> Name {
        self.intern.borrow_mut().name(name)
    }

    fn intern_meta(&mut self, meta: Bytes) -> Bytes {
        self.intern.borrow_mut().meta(meta)
    }
}

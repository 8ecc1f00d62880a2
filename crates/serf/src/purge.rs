//! Changing the member guard at run time and removing the members it refuses
//! ([`Serf::set_guard`], [`Serf::purge_refused`]).
//!
//! A pool that ran without a guard (or with another) may hold members the new guard refuses:
//! another datacenter's, say. Purging removes them from the node ([`rumor_swim::Node::purge`]:
//! table, probe order, suspicion timers, its queued gossip about them) and from Serf's state
//! (member table, buffered intents, cached coordinates, queued intents about them), each
//! reported as [`Event::MemberReap`], so this member stops probing and gossiping about them.
//! The guard then keeps them out: their alive messages and push-pull entries are refused.
//!
//! The same removal runs when the guard refuses an alive about a member we know, at the same
//! address, with a newer incarnation: it restarted into another pool
//! ([`rumor_swim::Event::Removed`]).

use std::collections::{BTreeMap, BTreeSet};

use rumor_swim::Instant;
use rumor_wire::Name;

use crate::event::Event;
use crate::guard::MemberGuard;
use crate::member::{tags_of, Member, MemberStatus};
use crate::serf::Serf;
use crate::state::State;

impl Serf {
    /// Replaces the guard (None: admit everyone). Takes effect on the next message.
    pub fn set_guard(&mut self, guard: Option<Box<dyn MemberGuard + Send>>) {
        self.guard = guard;
    }

    /// Asks the guard about every member but ourselves and removes the refused from the node
    /// and from Serf's state (member table, intents, coordinates, queued broadcasts about
    /// them), so the pool stops gossiping about them. Emits [`Event::MemberReap`] for each.
    /// Returns their names in name order (none without a guard).
    pub fn purge_refused(&mut self, now: Instant) -> Vec<String> {
        let Some(guard) = self.guard.as_deref() else {
            return Vec::new();
        };
        let me = self.st.name.clone();
        let mut refused: BTreeMap<Name, Option<rumor_swim::Member>> = BTreeMap::new();
        for m in self.node.members() {
            if *m.name != *me && guard.check(&m.name, &tags_of(&m.name, &m.meta)).is_err() {
                refused.insert(m.name.clone(), Some(m.clone()));
            }
        }
        // Serf keeps failed members long after SWIM has forgotten them.
        for st in self.st.members.values() {
            let name = &st.member.name;
            if *name != me
                && !refused.contains_key(name)
                && guard.check(name, &st.member.tags).is_err()
            {
                refused.insert(name.clone(), None);
            }
        }
        let names: BTreeSet<Name> = refused.keys().cloned().collect();
        self.node.purge(now, |m| names.contains(&m.name));
        for (name, swim) in &refused {
            self.st.forget_member(name, swim.as_ref());
        }
        self.st.queues.drop_intents_about(&names);
        names.iter().map(|n| n.to_string()).collect()
    }
}

impl State {
    /// Forgets a member removed from the node (`swim`: its SWIM record, if the node had one):
    /// Serf's member entry and coordinate ([`Event::MemberReap`]), its buffered intent.
    /// Queued intents about it are dropped by the caller ([`crate::broadcast::Queues`]).
    pub(crate) fn forget_member(&mut self, name: &Name, swim: Option<&rumor_swim::Member>) {
        if self.members.contains_key(name) {
            self.erase(name, "refused by the guard");
        } else if let Some(m) = swim {
            // Known to SWIM only (no join reported yet): still reported, so the embedder
            // sees every member that was removed.
            let status = match m.state {
                rumor_swim::State::Alive | rumor_swim::State::Suspect => MemberStatus::Alive,
                rumor_swim::State::Dead => MemberStatus::Failed,
                rumor_swim::State::Left => MemberStatus::Left,
            };
            if let Some(c) = &mut self.coords {
                c.forget(name);
            }
            tracing::info!(node = %name, "member reaped (refused by the guard)");
            self.emit(Event::MemberReap(Member::from_swim(m, status)));
        }
        self.intents.forget(name);
    }
}

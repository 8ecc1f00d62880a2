//! The member guard: a policy, given by the embedder, that decides which members may enter.
//!
//! The agent's datacenter guard is one: a LAN pool refuses members whose `dc` tag is not its
//! own. Serf asks it, with the tags decoded from node meta, for every alive message
//! (gossiped or direct) and for every entry of a remote's table in a push-pull: a refused
//! entry is dropped on its own and the rest is merged. Only a join is refused whole, by this
//! policy (`SerfHooks::check_merge`): a join we dialed fails if the guard refuses the entry at
//! the address we dialed (the remote itself; without such an entry, as below); a join we
//! answer fails if the guard admits no alive entry but ours and refuses at least one. The
//! join then fails with the refusal ([`rumor_swim::JoinError::Refused`] at the dialer, the
//! responder's error as [`rumor_swim::JoinError::Remote`]).
//!
//! The guard can be replaced at run time ([`crate::Serf::set_guard`]); the members the new
//! one refuses are then removed with [`crate::Serf::purge_refused`].

use std::collections::BTreeMap;

use rumor_swim::Verdict;

/// Decides whether a member may enter the member table. See the module docs.
pub trait MemberGuard {
    /// `Ok` admits the member; a [`rumor_swim::Refusal`] refuses it, carrying the guard's own
    /// typed error. Its message is shown to operators (it becomes the error of a join that
    /// was refused), so it should name the member and say why.
    fn check(&self, name: &str, tags: &BTreeMap<String, String>) -> Verdict;
}

impl<F> MemberGuard for F
where
    F: Fn(&str, &BTreeMap<String, String>) -> Verdict,
{
    fn check(&self, name: &str, tags: &BTreeMap<String, String>) -> Verdict {
        self(name, tags)
    }
}

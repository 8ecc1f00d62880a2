//! The member guard: a policy, given by the embedder, that decides which members may enter.
//!
//! The agent's datacenter guard is one: a LAN pool refuses members whose `dc` tag is not its
//! own. Serf asks it, with the tags decoded from node meta, for every alive message
//! (gossiped, direct, or from a push-pull) and for every member of a remote's table before a
//! push-pull is merged. A refusal of a join push-pull makes the join fail with it
//! ([`rumor_swim::JoinError::Refused`]).

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

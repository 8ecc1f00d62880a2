//! Things that can be made to happen at a chosen virtual time: faults, heals, commands.
//!
//! Scenarios schedule these with [`crate::Sim::schedule`]; the `Sim` convenience methods
//! (`crash`, `pause`, ...) apply them at the current time.

use std::time::Duration;

use bytes::Bytes;

/// One scheduled change to the simulation. Node arguments are indexes `0..nodes`.
///
/// An action that does not apply is ignored: a crash of a node that is not running or
/// paused, a restart of one that is not crashed, a pause, leave or meta change of one that
/// is not running, an index out of range.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The node joins through the given nodes (a push-pull with each). An empty list makes
    /// it the founding member of the cluster.
    Join {
        /// The joining node.
        node: usize,
        /// Nodes to contact.
        seeds: Vec<usize>,
    },
    /// The node stops handling input forever (until a [`Action::Restart`]).
    Crash(usize),
    /// A crashed node comes back as a fresh process (incarnation 1, empty table) and
    /// joins through `seeds`.
    Restart {
        /// The node.
        node: usize,
        /// Nodes to contact.
        seeds: Vec<usize>,
    },
    /// The node stops processing for `duration` (a GC pause, a starved VM). Datagrams that
    /// arrive meanwhile wait in its socket buffer (up to its size); when it resumes it
    /// first runs its overdue timers, then handles what waited, in arrival order.
    Pause {
        /// The node.
        node: usize,
        /// How long.
        duration: Duration,
    },
    /// Each group is cut off from every other group and from the unlisted nodes.
    /// Replaces any partition in force.
    Partition(Vec<Vec<usize>>),
    /// End the partition.
    Heal,
    /// Set the i.i.d. datagram loss of every link.
    SetLoss(f64),
    /// Set an extra loss on datagrams to and from one node.
    SetNodeLoss {
        /// The node.
        node: usize,
        /// Loss probability.
        loss: f64,
    },
    /// The node leaves gracefully, then shuts down once its leave has been gossiped (or
    /// after the leave timeout).
    Leave(usize),
    /// The node changes its meta (a new incarnation is gossiped).
    SetMeta {
        /// The node.
        node: usize,
        /// The new meta.
        meta: Bytes,
    },
    /// The node sends a user event to every member (Serf nodes only; a bare SWIM node
    /// refuses it with a warning).
    UserEvent {
        /// The node.
        node: usize,
        /// Event name.
        name: String,
        /// Payload.
        payload: Bytes,
    },
}

//! Faults on real hosts: every host a network namespace of its own, joined to the others
//! through a bridge (`support/netns.rs`), real agents on them, packets dropped and links cut
//! with `nft`, agents paused, killed and restarted.
//!
//! Every test here is named `netns_*::…` so that `scripts/test.sh` can run them on their
//! own, all at once (they wait far more than they compute): the main `cargo test` run skips
//! them (`--skip netns_`) and a second run gives them a thread each. Each test needs root,
//! `ip` and `nft`; without them it prints why and passes without running.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    clippy::needless_range_loop,
    missing_docs
)]

#[path = "../support/mod.rs"]
mod support;

mod netns_dc;
mod netns_hosts;
mod netns_partition;

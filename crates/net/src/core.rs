//! What the driver runs: any [`rumor_swim::Core`] (the one sans-IO contract, defined in
//! rumor-swim and implemented by `rumor_swim::Node`, `rumor_swim::WithHooks` and
//! `rumor_serf::Serf`) that can move between threads.

pub use rumor_swim::JoinOutcome;

/// A sans-IO core the tokio driver can run: a [`rumor_swim::Core`] that is `Send` with
/// `Send` events. Implemented for every such core.
pub trait DriverCore: rumor_swim::Core<Event: Send + 'static> + Send + 'static {}

impl<T> DriverCore for T
where
    T: rumor_swim::Core + Send + 'static,
    T::Event: Send + 'static,
{
}

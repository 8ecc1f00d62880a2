//! rumor-sim: a deterministic discrete-event simulator for rumor-swim pools.

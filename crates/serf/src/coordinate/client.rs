//! The Vivaldi coordinate client (Serf's `coordinate.Client`): our own coordinate and how each
//! observed round trip moves it.
//!
//! One update, for an RTT sample to a node that sent its coordinate:
//!
//! 1. the sample goes through that node's median filter (the last `latency_filter_size`
//!    samples);
//! 2. Vivaldi: the error estimate and a spring force move us towards or away from the other
//!    node (height included);
//! 3. the adjustment is half the mean of the last `adjustment_window_size` residuals
//!    `rtt − raw distance`;
//! 4. gravity pulls us a little towards the origin;
//! 5. a coordinate that became NaN or infinite is reset to a fresh one, and counted.
//!
//! Deterministic: the only randomness (a direction when two coordinates coincide) is drawn
//! from the generator the caller passes in.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rumor_wire::serf::Coordinate;
use rumor_wire::Name;

/// Below this, two points coincide and a distance counts as zero (Serf's `zeroThreshold`).
const ZERO_THRESHOLD: f64 = 1.0e-6;

/// The longest RTT accepted (Serf's `maxRTT`).
pub(crate) const MAX_RTT: Duration = Duration::from_secs(10);

/// Vivaldi's tuning, with Serf's defaults ([`VivaldiConfig::default`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VivaldiConfig {
    /// Dimensions of the Euclidean part. 8.
    pub dimensionality: usize,
    /// Highest (and initial) error estimate. 1.5.
    pub error_max: f64,
    /// How fast the error estimate follows observations (`VivaldiCE`). 0.25.
    pub ce: f64,
    /// How far one observation moves the coordinate (`VivaldiCC`). 0.25.
    pub cc: f64,
    /// Residual samples averaged into the adjustment; 0 disables it. 20.
    pub adjustment_window_size: usize,
    /// Lowest height, in seconds (and a fresh coordinate's). 1e-5.
    pub height_min: f64,
    /// RTT samples per node in the median filter. 3.
    pub latency_filter_size: usize,
    /// Gravity's strength: the larger, the weaker (`GravityRho`). 150.
    pub gravity_rho: f64,
}

impl Default for VivaldiConfig {
    fn default() -> Self {
        VivaldiConfig {
            dimensionality: 8,
            error_max: 1.5,
            ce: 0.25,
            cc: 0.25,
            adjustment_window_size: 20,
            height_min: 10.0e-6,
            latency_filter_size: 3,
            gravity_rho: 150.0,
        }
    }
}

impl VivaldiConfig {
    /// A coordinate at the origin with the maximum error and the minimum height.
    pub fn fresh(&self) -> Coordinate {
        Coordinate {
            vec: vec![0.0; self.dimensionality],
            error: self.error_max,
            adjustment: 0.0,
            height: self.height_min,
        }
    }
}

/// Why an observation was not applied. Nothing changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpdateError {
    /// The other coordinate has a different number of dimensions.
    #[error("dimensions aren't compatible: {got} (need {want})")]
    Dimension {
        /// The other coordinate's dimension.
        got: usize,
        /// Ours.
        want: usize,
    },
    /// The other coordinate holds NaN or an infinity.
    #[error("coordinate is invalid")]
    Invalid,
    /// The RTT is above 10 s.
    #[error("round trip time {0:?} not in valid range [0, 10s]")]
    Rtt(Duration),
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Client {
    coord: Coordinate,
    origin: Coordinate,
    config: VivaldiConfig,
    adjustment_index: usize,
    adjustment_samples: Vec<f64>,
    latency_samples: BTreeMap<Name, VecDeque<f64>>,
    resets: u64,
}

/// Uniform in [0, 1) from 64 random bits (the top 53).
fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

fn magnitude(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The unit vector pointing at `a` from `b`, and the distance between them. Coincident points
/// get a random direction (and distance 0).
fn unit_vector_at(a: &[f64], b: &[f64], rng: &mut dyn FnMut() -> u64) -> (Vec<f64>, f64) {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let mag = magnitude(&d);
    if mag > ZERO_THRESHOLD {
        return (d.iter().map(|x| x / mag).collect(), mag);
    }
    let r: Vec<f64> = d.iter().map(|_| unit_f64(rng()) - 0.5).collect();
    let mag = magnitude(&r);
    if mag > ZERO_THRESHOLD {
        return (r.iter().map(|x| x / mag).collect(), 0.0);
    }
    let mut r = vec![0.0; d.len()];
    if let Some(first) = r.first_mut() {
        *first = 1.0;
    }
    (r, 0.0)
}

impl Client {
    /// A client at a fresh coordinate. A dimensionality of 0 is treated as 1 (Serf refuses
    /// it; the configuration here is not user input).
    pub fn new(mut config: VivaldiConfig) -> Self {
        config.dimensionality = config.dimensionality.max(1);
        Client {
            coord: config.fresh(),
            origin: config.fresh(),
            adjustment_index: 0,
            adjustment_samples: vec![0.0; config.adjustment_window_size],
            latency_samples: BTreeMap::new(),
            resets: 0,
            config,
        }
    }

    /// Our coordinate.
    pub fn coordinate(&self) -> &Coordinate {
        &self.coord
    }

    /// The tuning.
    pub fn config(&self) -> &VivaldiConfig {
        &self.config
    }

    /// How many times the coordinate was reset after becoming invalid.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Forgets the RTT samples of `node` (it was reaped).
    pub fn forget(&mut self, node: &str) {
        self.latency_samples.remove(node);
    }

    /// Checks `other` against our dimension and for finiteness (Serf's `checkCoordinate`).
    pub fn check(&self, other: &Coordinate) -> Result<(), UpdateError> {
        if other.vec.len() != self.coord.vec.len() {
            return Err(UpdateError::Dimension {
                got: other.vec.len(),
                want: self.coord.vec.len(),
            });
        }
        if !other.is_valid() {
            return Err(UpdateError::Invalid);
        }
        Ok(())
    }

    /// Applies one observation: `node`, whose coordinate is `other`, answered in `rtt`.
    /// Returns our new coordinate. `rng` gives random bits (only used when two coordinates
    /// coincide). On error nothing changed.
    pub fn update(
        &mut self,
        node: &Name,
        other: &Coordinate,
        rtt: Duration,
        rng: &mut dyn FnMut() -> u64,
    ) -> Result<&Coordinate, UpdateError> {
        self.check(other)?;
        if rtt > MAX_RTT {
            return Err(UpdateError::Rtt(rtt));
        }
        let rtt = self.latency_filter(node, rtt.as_secs_f64());
        self.update_vivaldi(other, rtt, rng);
        self.update_adjustment(other, rtt);
        self.update_gravity(rng);
        if !self.coord.is_valid() {
            self.resets += 1;
            tracing::warn!(resets = self.resets, "coordinate became invalid; reset");
            self.coord = self.config.fresh();
        }
        Ok(&self.coord)
    }

    /// Adds a sample to `node`'s filter and returns the median of its last samples.
    fn latency_filter(&mut self, node: &Name, rtt: f64) -> f64 {
        let size = self.config.latency_filter_size.max(1);
        let samples = self.latency_samples.entry(node.clone()).or_default();
        samples.push_back(rtt);
        while samples.len() > size {
            samples.pop_front();
        }
        let mut sorted: Vec<f64> = samples.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    /// `force` applied to our coordinate along the direction away from `other`.
    fn apply_force(&mut self, force: f64, other: &Coordinate, rng: &mut dyn FnMut() -> u64) {
        let (unit, mag) = unit_vector_at(&self.coord.vec, &other.vec, rng);
        for (x, u) in self.coord.vec.iter_mut().zip(&unit) {
            *x += u * force;
        }
        if mag > ZERO_THRESHOLD {
            let h = self.coord.height;
            let h = (h + other.height) * force / mag + h;
            self.coord.height = h.max(self.config.height_min);
        }
    }

    fn update_vivaldi(&mut self, other: &Coordinate, rtt: f64, rng: &mut dyn FnMut() -> u64) {
        let c = &self.config;
        let dist = self.coord.distance_secs(other);
        let rtt = rtt.max(ZERO_THRESHOLD);
        let wrongness = (dist - rtt).abs() / rtt;
        let total = (self.coord.error + other.error).max(ZERO_THRESHOLD);
        let weight = self.coord.error / total;
        let err = c.ce * weight * wrongness + self.coord.error * (1.0 - c.ce * weight);
        self.coord.error = err.min(c.error_max);
        let force = c.cc * weight * (rtt - dist);
        self.apply_force(force, other, rng);
    }

    fn update_adjustment(&mut self, other: &Coordinate, rtt: f64) {
        let window = self.config.adjustment_window_size;
        if window == 0 {
            return;
        }
        self.adjustment_samples[self.adjustment_index] = rtt - self.coord.raw_distance_to(other);
        self.adjustment_index = (self.adjustment_index + 1) % window;
        let sum: f64 = self.adjustment_samples.iter().sum();
        self.coord.adjustment = sum / (2.0 * window as f64);
    }

    fn update_gravity(&mut self, rng: &mut dyn FnMut() -> u64) {
        let dist = self.origin.distance_secs(&self.coord);
        let force = -(dist / self.config.gravity_rho).powi(2);
        let origin = self.origin.clone();
        self.apply_force(force, &origin, rng);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp)]
    use super::*;

    fn name(s: &str) -> Name {
        Name::from(s)
    }

    fn no_rng() -> impl FnMut() -> u64 {
        || panic!("no randomness expected")
    }

    fn cfg(dim: usize) -> VivaldiConfig {
        VivaldiConfig {
            dimensionality: dim,
            ..VivaldiConfig::default()
        }
    }

    fn at(vec: &[f64], error: f64, height: f64) -> Coordinate {
        Coordinate {
            vec: vec.to_vec(),
            error,
            adjustment: 0.0,
            height,
        }
    }

    #[test]
    fn defaults_are_serfs() {
        let c = VivaldiConfig::default();
        assert_eq!(c.dimensionality, 8);
        assert_eq!(c.error_max, 1.5);
        assert_eq!(c.ce, 0.25);
        assert_eq!(c.cc, 0.25);
        assert_eq!(c.adjustment_window_size, 20);
        assert_eq!(c.height_min, 1.0e-5);
        assert_eq!(c.latency_filter_size, 3);
        assert_eq!(c.gravity_rho, 150.0);
        assert_eq!(
            Client::new(c).coordinate(),
            &at(&[0.0; 8], 1.5, 1.0e-5),
            "fresh: origin, max error, min height"
        );
    }

    #[test]
    fn the_median_filter_keeps_the_last_three_samples_per_node() {
        let mut c = Client::new(cfg(2));
        let a = name("a");
        assert_eq!(c.latency_filter(&a, 0.010), 0.010);
        assert_eq!(c.latency_filter(&a, 0.030), 0.030, "[10, 30]: index 1");
        assert_eq!(c.latency_filter(&a, 0.020), 0.020, "[10, 20, 30]");
        assert_eq!(c.latency_filter(&a, 0.100), 0.030, "[30, 20, 100]");
        assert_eq!(c.latency_filter(&a, 0.001), 0.020, "[20, 100, 1]");
        // Another node has its own window; forgetting a node empties its window.
        assert_eq!(c.latency_filter(&name("b"), 0.5), 0.5);
        c.forget("a");
        assert_eq!(c.latency_filter(&a, 0.002), 0.002);
    }

    /// One update by hand, in one dimension, without adjustment or gravity effects that
    /// matter: us at the origin (error 1.5, height 1e-5), the other at x = 0.01 (error 0.5,
    /// height 1e-5), rtt 20 ms.
    #[test]
    fn one_vivaldi_step_matches_the_formulas() {
        let mut cfg = cfg(1);
        cfg.adjustment_window_size = 0;
        cfg.gravity_rho = f64::INFINITY; // no gravity
        let mut c = Client::new(cfg);
        let other = at(&[0.01], 0.5, 1.0e-5);
        let rtt = 0.020;
        c.update(&name("o"), &other, Duration::from_millis(20), &mut no_rng())
            .unwrap();
        // dist = 0.01 + 2e-5, truncated to whole nanoseconds as Go's Duration does.
        let dist = ((0.01f64 + 2.0e-5) * 1e9) as i64 as f64 / 1e9;
        let wrongness = (dist - rtt).abs() / rtt;
        let weight = 1.5 / (1.5 + 0.5);
        let err = 0.25 * weight * wrongness + 1.5 * (1.0 - 0.25 * weight);
        let force = 0.25 * weight * (rtt - dist);
        // The unit vector from the other to us is −1; the distance between points 0.01.
        let x = -force;
        let h = (1.0e-5 + 1.0e-5) * force / 0.01 + 1.0e-5;
        let got = c.coordinate();
        assert_eq!(got.error, err);
        assert_eq!(got.vec, vec![x]);
        assert_eq!(got.height, h);
        assert_eq!(got.adjustment, 0.0);
        // Cross-check the numbers themselves: weight 0.75, wrongness 0.499, error 1.2128...
        assert!((err - (0.1875 * 0.499 + 1.5 * 0.8125)).abs() < 1e-12);
        assert!((x + 0.0018712500000000002).abs() < 1e-12);
    }

    #[test]
    fn the_error_is_capped_and_the_height_floored() {
        let mut cfg = cfg(1);
        cfg.adjustment_window_size = 0;
        cfg.gravity_rho = f64::INFINITY;
        let mut c = Client::new(cfg);
        // The other is far (1 s) but answers in 1 ms: wrongness ~1000, error capped at 1.5;
        // the force pulls us towards it and the height would go negative: floored.
        let other = at(&[1.0], 1.5, 1.0e-5);
        c.update(&name("o"), &other, Duration::from_millis(1), &mut no_rng())
            .unwrap();
        assert_eq!(c.coordinate().error, 1.5);
        assert_eq!(c.coordinate().height, 1.0e-5);
        // weight 0.5, force = 0.125 × (0.001 − 1.00002); we move towards +1.
        let force = 0.125 * (0.001 - 1.00002);
        assert_eq!(c.coordinate().vec, vec![-force]);
    }

    #[test]
    fn the_adjustment_is_half_the_mean_residual_over_the_window() {
        let mut cfg = cfg(1);
        cfg.gravity_rho = f64::INFINITY; // no gravity: the final vector is the Vivaldi one
        cfg.adjustment_window_size = 4;
        let mut c = Client::new(cfg);
        let other = at(&[0.004], 1.0, 1.0e-5);
        let mut slots = [0.0f64; 4];
        for n in 0..6 {
            c.update(&name("o"), &other, Duration::from_millis(10), &mut no_rng())
                .unwrap();
            // The residual of this step: filtered rtt (10 ms) − raw distance after Vivaldi.
            slots[n % 4] = 0.010 - c.coordinate().raw_distance_to(&other);
            let sum = slots[0] + slots[1] + slots[2] + slots[3];
            assert_eq!(
                c.coordinate().adjustment,
                sum / 8.0,
                "after {} samples",
                n + 1
            );
        }
        assert!(
            c.coordinate().adjustment > 0.0,
            "under-estimates: positive adjustment"
        );
    }

    #[test]
    fn gravity_pulls_towards_the_origin_by_the_square_of_distance_over_rho() {
        let mut c = Client::new(cfg(1));
        c.coord = at(&[3.0], 1.5, 1.0e-5);
        c.update_gravity(&mut no_rng());
        // dist to origin = 3 + 2e-5; force = −(dist/150)²; unit vector +1 (away from origin).
        let dist: f64 = 3.00002;
        let force = -(dist / 150.0).powi(2);
        assert_eq!(c.coord.vec, vec![3.0 + force]);
        let h = ((1.0e-5 + 1.0e-5) * force / 3.0 + 1.0e-5).max(1.0e-5);
        assert_eq!(c.coord.height, h);
    }

    #[test]
    fn coincident_points_move_in_a_direction_from_the_given_generator() {
        let mut c = Client::new(cfg(2));
        let other = c.coordinate().clone();
        // Random bits 0.75 and 0.5 − 0.5 = (0.25, 0) -> unit (1, 0).
        let mut draws = vec![3u64 << 62, 1u64 << 63].into_iter();
        let mut rng = move || draws.next().unwrap_or(1 << 63);
        c.update(&name("o"), &other, Duration::from_millis(10), &mut rng)
            .unwrap();
        let v = &c.coordinate().vec;
        assert!(v[0] > 0.0 && v[1] == 0.0, "{v:?}");
    }

    #[test]
    fn invalid_observations_are_rejected_and_change_nothing() {
        let mut c = Client::new(cfg(8));
        let before = c.clone();
        let ok = at(&[0.0; 8], 1.0, 1.0e-5);
        let o = name("o");
        assert_eq!(
            c.update(
                &o,
                &at(&[0.0; 7], 1.0, 1.0e-5),
                Duration::from_millis(1),
                &mut no_rng()
            )
            .unwrap_err(),
            UpdateError::Dimension { got: 7, want: 8 }
        );
        let mut nan = ok.clone();
        nan.vec[2] = f64::NAN;
        assert_eq!(
            c.update(&o, &nan, Duration::from_millis(1), &mut no_rng())
                .unwrap_err(),
            UpdateError::Invalid
        );
        let inf = Coordinate {
            height: f64::INFINITY,
            ..ok.clone()
        };
        assert_eq!(
            c.update(&o, &inf, Duration::from_millis(1), &mut no_rng())
                .unwrap_err(),
            UpdateError::Invalid
        );
        let rtt = Duration::from_secs(10) + Duration::from_nanos(1);
        assert_eq!(
            c.update(&o, &ok, rtt, &mut no_rng()).unwrap_err(),
            UpdateError::Rtt(rtt)
        );
        assert_eq!(c.coordinate(), before.coordinate());
        assert!(c.latency_samples.is_empty(), "no sample recorded");
        // Exactly 10 s and exactly 0 are in range.
        let far = at(&[0.5; 8], 1.0, 1.0e-5);
        assert!(c
            .update(&o, &far, Duration::from_secs(10), &mut no_rng())
            .is_ok());
        assert!(c.update(&o, &far, Duration::ZERO, &mut no_rng()).is_ok());
    }

    #[test]
    fn a_coordinate_driven_to_infinity_is_reset_and_counted() {
        let mut c = Client::new(cfg(1));
        // A valid but huge remote coordinate: the distance overflows to infinity and so does
        // the adjustment. (Gravity then finds us at the origin: a random direction.)
        let other = at(&[f64::MAX], 1.5, f64::MAX);
        c.update(&name("o"), &other, Duration::from_secs(1), &mut || 1 << 63)
            .unwrap();
        assert_eq!(c.resets(), 1);
        assert_eq!(c.coordinate(), &cfg(1).fresh());
    }

    #[test]
    fn updates_converge_towards_the_observed_rtt() {
        let mut c = Client::new(cfg(8));
        let mut other = cfg(8).fresh();
        other.vec[0] = 0.010;
        other.error = 0.1;
        for _ in 0..200 {
            c.update(&name("o"), &other, Duration::from_millis(15), &mut no_rng())
                .unwrap();
        }
        let est = c.coordinate().distance_to(&other).as_secs_f64();
        assert!((est - 0.015).abs() < 0.001, "estimate {est}");
        assert!(c.coordinate().error < 0.5);
    }
}

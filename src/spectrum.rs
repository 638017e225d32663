//! `Spectrum`: eigenvalues (ascending) with their provenance, and the rules
//! that count the outliers standing out of the bulk; `Density`: a smoothed
//! spectral density.
//!
//! Sagun et al. (2017, Table 1) count the eigenvalues "above the gap" with
//! three heuristics; [`OutlierRule`] implements them, plus a fixed threshold.
//! All work on the eigenvalues sorted in descending order,
//! `λ₁ ≥ λ₂ ≥ … ≥ λₙ`, and return a count `j` meaning "λ₁ … λⱼ are outliers".
//!
//! Every rule looks only at the **head**: the eigenvalues above the bulk's
//! edge `b` ([`bulk_edge`]: the larger of the negative side's magnitude and
//! 5% of λ₁, or the `above` the caller gives). So a full Hessian spectrum,
//! a Gauss–Newton spectrum (whose bulk is ≥ 0 and spreads without bound on
//! a log scale towards 0) and a `top_eigs` spectrum comfortably longer than
//! the count give the same counts for the same outliers.
//!
//! - **Gap**: `argmaxⱼ (λⱼ − λⱼ₊₁)` over consecutive pairs of the head.
//! - **Ratio**: `argmaxⱼ λⱼ / λⱼ₊₁` over consecutive pairs of the head.
//! - **Elbow** (default): see [`elbow_count`] — log-gaps of the head (and of
//!   its last value against the edge); the outliers are everything above the
//!   *lowest* log-gap that is at least 0.75 of the largest one.
//! - **Threshold(t)**: the number of eigenvalues `> t` (no edge).
//!
//! ```
//! use hlab::spectrum::{OutlierRule, Spectrum, SpectrumInfo};
//! let s = Spectrum::new(vec![1e-6, -2e-6, 3e-6, 0.5, 0.2, 1e-6], SpectrumInfo::new("eigs", "matrix")).unwrap();
//! assert_eq!(s.top(2), vec![0.5, 0.2]);
//! assert_eq!(s.outliers(OutlierRule::Elbow).unwrap(), 2);
//! ```

use crate::error::{Error, Result};

/// How a spectrum or a density was obtained (the script's `info` map).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpectrumInfo {
    /// Algorithm: `"dense"`, `"lanczos"`, `"slq"`, …
    pub method: String,
    /// What matrix: `"hessian"`, `"gauss_newton"`, `"matrix"`, …
    pub matrix: String,
    /// Krylov steps (basis size) when iterative.
    pub steps: Option<usize>,
    /// Random probe vectors (SLQ).
    pub probes: Option<usize>,
    /// Seed of the random start / probes.
    pub seed: Option<u64>,
    /// Matrix-vector products used (0 for dense methods).
    pub matvecs: usize,
    /// Per-eigenvalue residuals `‖A y − θ y‖` (same order as the values),
    /// or one overall residual for dense solvers.
    pub residuals: Vec<f64>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Convergence tolerance asked for (Lanczos).
    pub tol: Option<f64>,
    /// Whether every wanted value met the tolerance (Lanczos).
    pub converged: Option<bool>,
    /// Gaussian smoothing variance σ² (densities).
    pub sigma2: Option<f64>,
    /// Other named accuracy figures, e.g. `("trace_rel_err", 3e-16)`.
    pub accuracy: Vec<(String, f64)>,
    /// The dense solver that ran (`"two-stage"`, `"faer"`), when dense.
    pub solver: Option<String>,
    /// Number of eigenvalues above `1e-12·λ_max` (Gram routes).
    pub rank: Option<usize>,
}

impl SpectrumInfo {
    /// Info with a method and matrix name and everything else empty.
    pub fn new(method: &str, matrix: &str) -> Self {
        SpectrumInfo {
            method: method.to_string(),
            matrix: matrix.to_string(),
            ..SpectrumInfo::default()
        }
    }
}

/// Which rule [`Spectrum::outliers`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum OutlierRule {
    /// Lowest large log-gap above the bulk (the default; see [`elbow_count`]).
    #[default]
    Elbow,
    /// Largest consecutive gap.
    Gap,
    /// Largest consecutive ratio among positive eigenvalues.
    Ratio,
    /// Eigenvalues strictly above a threshold.
    Threshold(f64),
}

impl OutlierRule {
    /// Parses `"elbow"`, `"gap"` or `"ratio"` (errors name the valid ones).
    pub fn parse(s: &str) -> Result<OutlierRule> {
        match s {
            "elbow" => Ok(OutlierRule::Elbow),
            "gap" => Ok(OutlierRule::Gap),
            "ratio" => Ok(OutlierRule::Ratio),
            _ => Err(Error::invalid(
                "outliers",
                format!("rule: expected \"elbow\", \"gap\", \"ratio\" or \"all\", got {s:?}"),
            )),
        }
    }

    /// The rule's name as scripts spell it (`"threshold"` for a threshold).
    pub fn name(self) -> &'static str {
        match self {
            OutlierRule::Elbow => "elbow",
            OutlierRule::Gap => "gap",
            OutlierRule::Ratio => "ratio",
            OutlierRule::Threshold(_) => "threshold",
        }
    }
}

/// Eigenvalues in ascending order plus how they were obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    values: Vec<f64>,
    /// Provenance.
    pub info: SpectrumInfo,
}

impl Spectrum {
    /// Sorts `values` ascending; errors (op `spectrum`) on NaN.
    pub fn new(mut values: Vec<f64>, info: SpectrumInfo) -> Result<Spectrum> {
        if let Some(i) = values.iter().position(|x| x.is_nan()) {
            return Err(Error::invalid(
                "spectrum",
                format!("expected eigenvalues that are numbers, got NaN at index {i}"),
            ));
        }
        values.sort_by(f64::total_cmp);
        Ok(Spectrum { values, info })
    }

    /// The eigenvalues, ascending.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The eigenvalues, ascending, by value.
    pub fn into_values(self) -> Vec<f64> {
        self.values
    }

    /// Number of eigenvalues.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Smallest eigenvalue (None when empty).
    pub fn min(&self) -> Option<f64> {
        self.values.first().copied()
    }

    /// Largest eigenvalue (None when empty).
    pub fn max(&self) -> Option<f64> {
        self.values.last().copied()
    }

    /// The `k` largest, largest first (all of them when `k > len`).
    pub fn top(&self, k: usize) -> Vec<f64> {
        self.values.iter().rev().take(k).copied().collect()
    }

    /// How many eigenvalues are strictly greater than `t`.
    pub fn count_above(&self, t: f64) -> usize {
        self.values.len() - self.values.partition_point(|&x| x <= t)
    }

    /// Fraction of eigenvalues `< 0` (0 when empty).
    pub fn frac_negative(&self) -> f64 {
        if self.values.is_empty() {
            return 0.0;
        }
        self.values.partition_point(|&x| x < 0.0) as f64 / self.values.len() as f64
    }

    /// How many eigenvalues stand out of the bulk by `rule` (see the module
    /// doc), above the default edge [`bulk_edge`]. Errors (op `outliers`) on
    /// a non-finite threshold.
    pub fn outliers(&self, rule: OutlierRule) -> Result<usize> {
        self.outliers_above(rule, None)
    }

    /// [`Spectrum::outliers`] above the edge `above` (the default
    /// [`bulk_edge`] when `None`). Errors (op `outliers`) on a non-finite
    /// threshold or edge.
    pub fn outliers_above(&self, rule: OutlierRule, above: Option<f64>) -> Result<usize> {
        let desc: Vec<f64> = self.values.iter().rev().copied().collect();
        let edge = self.edge(&desc, above)?;
        match rule {
            OutlierRule::Elbow => Ok(elbow_count(&desc, edge)),
            OutlierRule::Gap => Ok(gap_count(&desc, edge)),
            OutlierRule::Ratio => Ok(ratio_count(&desc, edge)),
            OutlierRule::Threshold(t) => {
                if !t.is_finite() {
                    return Err(Error::invalid(
                        "outliers",
                        format!("threshold: expected a finite number, got {t}"),
                    ));
                }
                Ok(self.count_above(t))
            }
        }
    }

    /// Every rule's count above one edge (`above`, or [`bulk_edge`]).
    pub fn all_outliers(&self, above: Option<f64>) -> Result<OutlierCounts> {
        let desc: Vec<f64> = self.values.iter().rev().copied().collect();
        let edge = self.edge(&desc, above)?;
        Ok(OutlierCounts {
            elbow: elbow_count(&desc, edge),
            gap: gap_count(&desc, edge),
            ratio: ratio_count(&desc, edge),
            edge,
        })
    }

    fn edge(&self, desc: &[f64], above: Option<f64>) -> Result<f64> {
        match above {
            None => Ok(bulk_edge(desc)),
            Some(a) if a.is_finite() => Ok(a.max(zero_floor(desc))),
            Some(a) => Err(Error::invalid(
                "outliers",
                format!("above: expected a finite number, got {a}"),
            )),
        }
    }
}

/// The counts of every rule above one edge ([`Spectrum::all_outliers`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutlierCounts {
    /// [`elbow_count`].
    pub elbow: usize,
    /// [`gap_count`].
    pub gap: usize,
    /// [`ratio_count`].
    pub ratio: usize,
    /// The edge the rules looked above.
    pub edge: f64,
}

/// The numerical-zero floor `n·ε·maxᵢ|λᵢ|`: eigenvalues computed by a
/// backward-stable solver carry absolute errors of about this size.
fn zero_floor(desc: &[f64]) -> f64 {
    let amax = desc.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    desc.len() as f64 * f64::EPSILON * amax
}

/// Fraction of λ₁ below which nothing counts as an outlier ([`bulk_edge`]).
pub const EDGE_TOP_FRACTION: f64 = 0.05;

/// Quantile of the negative eigenvalues (from the most negative) whose
/// magnitude is the negative side's magnitude in [`bulk_edge`].
pub const EDGE_NEG_QUANTILE: f64 = 0.02;

/// Fewest negative eigenvalues (beyond rounding) for [`bulk_edge`] to take
/// a quantile; with fewer it takes |λ_min| itself.
pub const EDGE_MIN_NEGATIVES: usize = 10;

/// The default edge of the bulk, on eigenvalues in descending order: the
/// largest of
///
/// - the negative side's magnitude: the Hessian's bulk is roughly symmetric
///   about 0 at its top, so its upper edge is read off the negative
///   eigenvalues — the magnitude at the 2% quantile from the most negative
///   when at least 10 lie below the rounding floor (robust to a few
///   negative outliers), |λ_min| when fewer do, nothing when none does
///   (a Gauss–Newton matrix, or a `top_eigs` spectrum);
/// - 5% of λ₁ ([`EDGE_TOP_FRACTION`]): a positive semi-definite bulk (G's)
///   spreads on a log scale without bound towards 0, and its deep tail must
///   not produce gaps; on the trained cluster nets of Sagun et al. the
///   outliers lie within a factor 5 of λ₁ (k ≤ 50), so the edge keeps them
///   all while keeping G's bulk out;
/// - the rounding floor `n·ε·max|λ|`.
pub fn bulk_edge(desc: &[f64]) -> f64 {
    let Some(&top) = desc.first() else {
        return 0.0;
    };
    let f = zero_floor(desc);
    let mut neg: Vec<f64> = desc.iter().filter(|&&x| x < -f).map(|x| -x).collect();
    let neg_side = if neg.len() >= EDGE_MIN_NEGATIVES {
        neg.sort_by(|a, b| b.total_cmp(a));
        let i = ((EDGE_NEG_QUANTILE * neg.len() as f64) as usize).min(neg.len() - 1);
        neg[i]
    } else {
        neg.iter().copied().fold(0.0, f64::max)
    };
    neg_side.max(EDGE_TOP_FRACTION * top.max(0.0)).max(f)
}

/// The eigenvalues (descending) strictly above `edge`.
fn head(desc: &[f64], edge: f64) -> &[f64] {
    &desc[..desc.partition_point(|&x| x > edge)]
}

/// The largest of `score(λⱼ, λⱼ₊₁)` over consecutive pairs of the head:
/// its `j` (first on ties). When some eigenvalue lies at or below the edge,
/// `score(λ_H, edge)` competes too and, as the largest, counts the whole
/// head (so a head of one value counts 1); an empty head counts 0.
fn argmax_pair(desc: &[f64], edge: f64, score: impl Fn(f64, f64) -> f64) -> usize {
    let h = head(desc, edge);
    let mut best = 0;
    let mut best_s = f64::NEG_INFINITY;
    for (j, w) in h.windows(2).enumerate() {
        let g = score(w[0], w[1]);
        if g > best_s {
            best_s = g;
            best = j + 1;
        }
    }
    if let Some(&last) = h.last() {
        if h.len() < desc.len() && edge > 0.0 && (score(last, edge) >= best_s || best_s.is_nan()) {
            return h.len();
        }
    }
    best
}

/// Largest consecutive gap `argmaxⱼ (λⱼ − λⱼ₊₁)` among the eigenvalues
/// (descending) above `edge`, the last of them against the edge included.
pub fn gap_count(desc: &[f64], edge: f64) -> usize {
    argmax_pair(desc, edge, |a, b| a - b)
}

/// Largest consecutive ratio `argmaxⱼ λⱼ/λⱼ₊₁` among the eigenvalues
/// (descending) above `edge` (at least the rounding floor, so all are
/// positive), the last of them against the edge included.
pub fn ratio_count(desc: &[f64], edge: f64) -> usize {
    argmax_pair(desc, edge.max(zero_floor(desc)).max(0.0), |a, b| a / b)
}

/// Fraction of the largest log-gap that counts as "large" in [`elbow_count`].
pub const ELBOW_GAP_FRACTION: f64 = 0.75;

/// The elbow rule, on eigenvalues in descending order, above `edge` `b`
/// (at least the rounding floor `n·ε·max|λ|`; [`bulk_edge`] by default).
///
/// 1. Head: the eigenvalues above the edge, `λ₁ ≥ … ≥ λ_H > b`. Keeping
///    the deep tail of the bulk out matters: its logarithms spread without
///    bound towards 0 and would produce spurious large gaps.
/// 2. Log-gaps `gⱼ = ln λⱼ − ln λⱼ₊₁` for `j < H`, and
///    `g_H = ln λ_H − ln b` when some eigenvalue lies at or below `b` (the
///    head against the bulk). The edge is an estimate, not an eigenvalue, so
///    `g_H` decides only when it is the largest gap: then the whole head
///    counts (outliers above exact zeros). Otherwise the gaps inside the
///    head decide — so a Gauss–Newton spectrum, whose second tier of
///    cross-class eigenvalues stands well above its bulk, counts the class
///    outliers as H does.
/// 3. The count is the largest `j < H` whose gap is "large",
///    `gⱼ ≥ 0.75 · maxᵢ gᵢ`: everything above the *lowest* large gap. A gap
///    nearly as large as the largest but lower down keeps a smaller last
///    outlier with the others (k − 1 large outliers and a smaller one, as
///    biases give); the 0.75 keeps out the second tier of Papyan's
///    cross-class eigenvalues, which on trained nets sits below a gap at
///    most ~0.7 of the main one, and the small spacings of the bulk.
///
/// The 0.75 was tuned, with the edge then read off the negative side alone,
/// on the full Hessian spectra of 27 trained ReLU nets in the setting of
/// Sagun et al. Table 1 (100–30–30–k on k Gaussian clusters, k = 2 … 50,
/// seeds 0 … 5, cluster std 1 and 10, full-batch GD with lr 0.1 for 2·10³
/// or 10⁴ steps): all within k ± 1, 18 of 27 exact. With the present edge
/// it is checked on 20–20–k nets, k = 2 … 10 (`tests/newcomer.rs`): the
/// full H, the full G and the top 2k by Lanczos all give exactly k (27 of
/// 27), where the previous rule gave 2k or k(k − 1) on G for k = 3, 4.
/// Tanh nets trained as long have not separated their outliers yet, and no
/// rule finds k there. Returns 0 for an empty head or no gap at all.
pub fn elbow_count(desc: &[f64], edge: f64) -> usize {
    let n = desc.len();
    if n == 0 {
        return 0;
    }
    let b = edge.max(zero_floor(desc));
    let head = head(desc, b);
    if head.is_empty() {
        return 0;
    }
    let gaps: Vec<f64> = head.windows(2).map(|w| w[0].ln() - w[1].ln()).collect();
    let inner_max = gaps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if head.len() < n && b > 0.0 {
        // The head against the edge: counts only as the largest gap.
        let g = head[head.len() - 1].ln() - b.ln();
        if g > 0.0 && (g >= inner_max || inner_max.is_nan()) {
            return head.len();
        }
    }
    if inner_max.is_nan() || inner_max <= 0.0 {
        return 0;
    }
    let bar = ELBOW_GAP_FRACTION * inner_max;
    gaps.iter().rposition(|&g| g >= bar).map_or(0, |j| j + 1)
}

/// A smoothed spectral density `φ(x)` sampled on a grid, with the Gauss
/// quadrature it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Density {
    /// Grid points, ascending and equally spaced.
    pub x: Vec<f64>,
    /// Density values on the grid (∫φ = 1).
    pub y: Vec<f64>,
    /// Quadrature nodes θ (Ritz values), one vector per probe.
    pub nodes: Vec<Vec<f64>>,
    /// Quadrature weights τ (they sum to 1 for each probe).
    pub weights: Vec<Vec<f64>>,
    /// Provenance (method, steps, probes, seed, matvecs, sigma2, seconds).
    pub info: SpectrumInfo,
}

impl Density {
    /// `∫ φ` by the trapezoid rule on the grid.
    pub fn integral(&self) -> f64 {
        trapezoid(&self.x, &self.y, |_| 1.0)
    }

    /// `∫ x φ(x) dx` by the trapezoid rule on the grid.
    pub fn mean(&self) -> f64 {
        trapezoid(&self.x, &self.y, |x| x)
    }

    /// The quadrature estimate of the `p`-th spectral moment
    /// `(1/n) tr(Aᵖ) ≈ mean over probes of Σⱼ τⱼ θⱼᵖ` (unsmoothed).
    pub fn moment(&self, p: i32) -> f64 {
        self.quadrature(|t| t.powi(p))
    }

    /// The quadrature estimate of the fraction of eigenvalues `> t`
    /// (unsmoothed: the weight of the nodes above `t`, averaged over probes).
    pub fn mass_above(&self, t: f64) -> f64 {
        self.quadrature(|x| if x > t { 1.0 } else { 0.0 })
    }

    /// `(1/n) tr f(A) ≈ mean over probes of Σⱼ τⱼ f(θⱼ)`; NaN without nodes.
    fn quadrature(&self, f: impl Fn(f64) -> f64) -> f64 {
        if self.nodes.is_empty() {
            return f64::NAN;
        }
        let s: f64 = self
            .nodes
            .iter()
            .zip(&self.weights)
            .map(|(th, w)| th.iter().zip(w).map(|(t, w)| w * f(*t)).sum::<f64>())
            .sum();
        s / self.nodes.len() as f64
    }

    /// Smallest node over all probes (an estimate of λ_min from above).
    pub fn node_min(&self) -> f64 {
        self.nodes
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min)
    }

    /// Largest node over all probes (an estimate of λ_max from below).
    pub fn node_max(&self) -> f64 {
        self.nodes
            .iter()
            .flatten()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// `∫ f(x) φ(x) dx` by the trapezoid rule.
fn trapezoid(x: &[f64], y: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| 0.5 * (xs[1] - xs[0]) * (f(xs[0]) * ys[0] + f(xs[1]) * ys[1]))
        .sum()
}

#[cfg(test)]
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn spec(v: Vec<f64>) -> Spectrum {
        Spectrum::new(v, SpectrumInfo::new("test", "matrix")).unwrap()
    }

    /// A bulk of `p` values near zero — 80% |N(0, s²)|, 20% −|N(0, (s/10)²)|
    /// — plus `k` outliers geometric from `hi` down to `lo`.
    fn synthetic(p: usize, k: usize, s: f64, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
        let mut r = Rng::new(seed);
        let mut v: Vec<f64> = (0..p)
            .map(|_| {
                if r.uniform() < 0.8 {
                    (s * r.normal()).abs()
                } else {
                    -(0.1 * s * r.normal()).abs()
                }
            })
            .collect();
        for i in 0..k {
            let t = if k == 1 {
                0.0
            } else {
                i as f64 / (k - 1) as f64
            };
            v.push(hi * (lo / hi).powf(t));
        }
        v
    }

    #[test]
    fn basic_accessors() {
        let s = spec(vec![3.0, -1.0, 0.0, 2.0, -0.5]);
        assert_eq!(s.values(), &[-1.0, -0.5, 0.0, 2.0, 3.0]);
        assert_eq!(s.len(), 5);
        assert_eq!(s.min(), Some(-1.0));
        assert_eq!(s.max(), Some(3.0));
        assert_eq!(s.top(2), vec![3.0, 2.0]);
        assert_eq!(s.top(9).len(), 5);
        assert_eq!(s.count_above(0.0), 2);
        assert_eq!(s.count_above(-0.5), 3);
        assert_eq!(s.count_above(3.0), 0);
        assert!((s.frac_negative() - 0.4).abs() < 1e-15);
        assert_eq!(s.outliers(OutlierRule::Threshold(1.5)).unwrap(), 2);
        let e = s
            .outliers(OutlierRule::Threshold(f64::NAN))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("outliers:"), "{e}");
        let empty = spec(vec![]);
        assert_eq!(empty.min(), None);
        assert_eq!(empty.frac_negative(), 0.0);
        assert_eq!(empty.outliers(OutlierRule::Elbow).unwrap(), 0);
        assert!(Spectrum::new(vec![1.0, f64::NAN], SpectrumInfo::default()).is_err());
        assert_eq!(OutlierRule::parse("gap").unwrap(), OutlierRule::Gap);
        let e = OutlierRule::parse("knee").unwrap_err().to_string();
        assert!(e.contains("\"elbow\"") && e.contains("\"knee\""), "{e}");
    }

    #[test]
    fn gap_and_ratio_rules() {
        // Gap: largest difference is 10 → 1.
        let s = spec(vec![10.0, 1.0, 0.9, 0.0]);
        assert_eq!(s.outliers(OutlierRule::Gap).unwrap(), 1);
        // Ratio: 1 → 0.01 beats 10 → 1, above an edge below 0.01; tiny
        // positive noise is ignored.
        let s = spec(vec![10.0, 1.0, 0.01, 0.009, 1e-300, -1e-3]);
        assert_eq!(
            s.outliers_above(OutlierRule::Ratio, Some(0.005)).unwrap(),
            2
        );
        // By default the edge is 5% of λ₁: only 10 and 1 are above it.
        assert_eq!(s.outliers(OutlierRule::Ratio).unwrap(), 1);
        let all = s.all_outliers(None).unwrap();
        assert_eq!((all.elbow, all.gap, all.ratio, all.edge), (1, 1, 1, 0.5));
        let s = spec(vec![-1.0, 2.0]);
        assert_eq!(s.outliers(OutlierRule::Ratio).unwrap(), 1);
        assert_eq!(
            spec(vec![-1.0, -2.0]).outliers(OutlierRule::Ratio).unwrap(),
            0
        );
        assert_eq!(spec(vec![5.0]).outliers(OutlierRule::Gap).unwrap(), 0);
    }

    #[test]
    fn elbow_counts_synthetic_outliers_within_one() {
        let mut fails = Vec::new();
        let mut exact = 0;
        let mut total = 0;
        let mut misses = Vec::new();
        for &p in &[100usize, 300, 1000, 5000] {
            for &k in &[1usize, 2, 5, 10, 20, 50] {
                for (lo, hi) in [(0.2, 1.0), (0.1, 1.0), (0.01, 0.1), (0.05, 0.5)] {
                    for seed in 0..4 {
                        let v = synthetic(p, k, 1e-4, lo, hi, seed + 100 * p as u64);
                        let c = spec(v).outliers(OutlierRule::Elbow).unwrap();
                        total += 1;
                        if c == k {
                            exact += 1;
                        } else {
                            misses.push((p, k, lo, hi, c));
                        }
                        if c.abs_diff(k) > 1 {
                            fails.push((p, k, lo, hi, seed, c));
                        }
                    }
                }
            }
        }
        assert!(fails.is_empty(), "elbow off by more than one: {fails:?}");
        // The misses are k = 2 with the two outliers 2–10× apart and the
        // lower one within 4× of the edge (5% of λ₁): read as one outlier
        // above a tier of one, as a Gauss–Newton spectrum's cross-class tier.
        assert!(
            misses.iter().all(|m| m.1 == 2 && m.4 == 1),
            "misses: {misses:?}"
        );
        assert!(
            exact * 10 >= total * 8,
            "exact in only {exact} of {total}: {misses:?}"
        );
    }

    #[test]
    fn elbow_keeps_spread_outliers_together() {
        // k − 1 large outliers and one much smaller one (the bias case).
        let mut v = synthetic(2000, 0, 1e-4, 0.0, 0.0, 3);
        v.extend_from_slice(&[1.0, 0.9, 0.8, 0.7, 0.3]);
        assert_eq!(spec(v).outliers(OutlierRule::Elbow).unwrap(), 5);
        // Only a bulk: at most a few top order statistics stand out.
        let v = synthetic(2000, 0, 1e-4, 0.0, 0.0, 4);
        assert!(spec(v).outliers(OutlierRule::Elbow).unwrap() <= 3);
        // Outliers above exact zeros (a low-rank matrix).
        let mut v = vec![0.0; 500];
        v.extend_from_slice(&[3.0, 2.0, 1.0]);
        assert_eq!(spec(v).outliers(OutlierRule::Elbow).unwrap(), 3);
    }

    // Hessian spectra of trained 100–30–30–k ReLU nets on k Gaussian
    // clusters (make_clusters n = 1000, std 1, half for training; init
    // 0.1·N(0, 1); full-batch GD, lr 0.1, 10⁴ steps; seed 0), sketched: all
    // eigenvalues above half the most negative one's magnitude and the 50
    // most negative, to 3 digits, in units of 1e-3. The other ~4,000
    // eigenvalues lie closer to 0.
    const RELU_K10_TOP: [f64; 243] = [
        2.55, 2.09, 1.97, 1.82, 1.75, 1.57, 1.43, 1.36, 1.26, 1.08, 0.62, 0.445, 0.416, 0.384,
        0.366, 0.359, 0.349, 0.336, 0.326, 0.28, 0.259, 0.253, 0.243, 0.233, 0.228, 0.222, 0.204,
        0.19, 0.182, 0.166, 0.165, 0.159, 0.153, 0.138, 0.129, 0.124, 0.123, 0.117, 0.105, 0.104,
        0.1, 0.0994, 0.0927, 0.0877, 0.087, 0.0843, 0.0794, 0.0776, 0.075, 0.0729, 0.0718, 0.0674,
        0.0653, 0.0636, 0.0624, 0.0608, 0.0586, 0.0583, 0.0574, 0.0557, 0.055, 0.0533, 0.0517,
        0.0513, 0.0509, 0.0506, 0.0502, 0.0499, 0.0495, 0.0492, 0.0488, 0.0483, 0.0479, 0.0475,
        0.0474, 0.0473, 0.047, 0.0469, 0.0468, 0.0462, 0.0461, 0.046, 0.0456, 0.0454, 0.0452,
        0.0451, 0.0449, 0.0448, 0.0446, 0.0445, 0.0443, 0.0442, 0.0439, 0.0437, 0.0435, 0.0433,
        0.0432, 0.043, 0.0429, 0.0427, 0.0426, 0.0424, 0.0423, 0.0421, 0.0419, 0.0418, 0.0416,
        0.0416, 0.0413, 0.0412, 0.0412, 0.0409, 0.0407, 0.0406, 0.0405, 0.0404, 0.0402, 0.0401,
        0.0399, 0.0399, 0.0396, 0.0394, 0.0393, 0.0393, 0.039, 0.0389, 0.0388, 0.0387, 0.0387,
        0.0385, 0.0383, 0.0382, 0.0381, 0.038, 0.0378, 0.0376, 0.0375, 0.0373, 0.0373, 0.0372,
        0.0369, 0.0369, 0.0367, 0.0367, 0.0366, 0.0365, 0.0364, 0.0362, 0.036, 0.0358, 0.0358,
        0.0357, 0.0355, 0.0354, 0.0353, 0.0352, 0.035, 0.0349, 0.0348, 0.0346, 0.0346, 0.0345,
        0.0344, 0.0342, 0.0342, 0.0341, 0.034, 0.0339, 0.0337, 0.0336, 0.0336, 0.0335, 0.0333,
        0.0332, 0.0331, 0.033, 0.0329, 0.0329, 0.0328, 0.0327, 0.0326, 0.0324, 0.0323, 0.0323,
        0.0322, 0.0321, 0.0319, 0.0318, 0.0317, 0.0316, 0.0315, 0.0314, 0.0314, 0.0313, 0.0312,
        0.031, 0.031, 0.0309, 0.0307, 0.0305, 0.0305, 0.0304, 0.0303, 0.0302, 0.0301, 0.03, 0.0299,
        0.0298, 0.0297, 0.0297, 0.0296, 0.0295, 0.0294, 0.0293, 0.0292, 0.0291, 0.029, 0.0288,
        0.0288, 0.0287, 0.0286, 0.0285, 0.0284, 0.0283, 0.0283, 0.0282, 0.028, 0.0279, 0.0277,
        0.0276, 0.0276, 0.0274, 0.0273, 0.0272, 0.0272, 0.0271, 0.0269, 0.0267, 0.0267, 0.0266,
        0.0264, 0.0264, 0.0263,
    ];
    const RELU_K10_NEG: [f64; 50] = [
        -0.0526, -0.0525, -0.0519, -0.051, -0.0505, -0.0499, -0.0495, -0.0491, -0.0487, -0.0485,
        -0.0483, -0.0481, -0.048, -0.0477, -0.047, -0.0468, -0.0467, -0.0462, -0.0461, -0.0456,
        -0.0455, -0.0454, -0.0452, -0.0448, -0.0447, -0.0447, -0.0442, -0.0439, -0.0439, -0.0437,
        -0.0437, -0.0434, -0.0433, -0.0432, -0.043, -0.0427, -0.0425, -0.0424, -0.0422, -0.042,
        -0.0419, -0.0417, -0.0416, -0.0415, -0.0413, -0.041, -0.0409, -0.0406, -0.0404, -0.0402,
    ];
    const RELU_K20_TOP: [f64; 343] = [
        4.63, 4.26, 3.98, 3.75, 3.58, 3.47, 3.25, 2.93, 2.8, 2.73, 2.54, 2.29, 2.19, 2.08, 2.04,
        1.88, 1.77, 1.67, 1.38, 1.09, 0.906, 0.791, 0.713, 0.68, 0.676, 0.651, 0.627, 0.597, 0.567,
        0.561, 0.546, 0.53, 0.516, 0.5, 0.496, 0.48, 0.474, 0.464, 0.444, 0.428, 0.422, 0.417,
        0.409, 0.403, 0.382, 0.376, 0.368, 0.356, 0.332, 0.326, 0.318, 0.312, 0.304, 0.301, 0.288,
        0.277, 0.276, 0.274, 0.268, 0.26, 0.258, 0.247, 0.238, 0.231, 0.229, 0.224, 0.223, 0.219,
        0.216, 0.209, 0.205, 0.196, 0.194, 0.19, 0.189, 0.185, 0.175, 0.174, 0.17, 0.165, 0.163,
        0.159, 0.157, 0.154, 0.15, 0.148, 0.145, 0.141, 0.139, 0.136, 0.132, 0.129, 0.127, 0.124,
        0.121, 0.118, 0.117, 0.115, 0.113, 0.112, 0.111, 0.108, 0.107, 0.106, 0.105, 0.104, 0.102,
        0.1, 0.0983, 0.0979, 0.0973, 0.0957, 0.0946, 0.0939, 0.0924, 0.0917, 0.0912, 0.0901,
        0.0882, 0.0876, 0.0871, 0.0856, 0.0848, 0.0842, 0.0828, 0.0822, 0.082, 0.0812, 0.0804,
        0.0793, 0.0785, 0.0781, 0.0778, 0.0765, 0.076, 0.0757, 0.0745, 0.0739, 0.0736, 0.073,
        0.0725, 0.0718, 0.0716, 0.0711, 0.0703, 0.0699, 0.0698, 0.0694, 0.0689, 0.0686, 0.0678,
        0.0675, 0.0673, 0.0666, 0.0663, 0.066, 0.0655, 0.0649, 0.0647, 0.0642, 0.0641, 0.064,
        0.0636, 0.0629, 0.0625, 0.0622, 0.0621, 0.0617, 0.0614, 0.0612, 0.0609, 0.0607, 0.0604,
        0.0601, 0.06, 0.0599, 0.0594, 0.0592, 0.0589, 0.0587, 0.0583, 0.0582, 0.0581, 0.0578,
        0.0578, 0.0575, 0.0572, 0.057, 0.0567, 0.0566, 0.0563, 0.0562, 0.0561, 0.0558, 0.0557,
        0.0554, 0.0554, 0.055, 0.0549, 0.0547, 0.0545, 0.0545, 0.054, 0.0538, 0.0537, 0.0535,
        0.0533, 0.0531, 0.053, 0.0529, 0.0526, 0.0524, 0.0522, 0.0521, 0.0519, 0.0518, 0.0517,
        0.0516, 0.0515, 0.0512, 0.0511, 0.0511, 0.0509, 0.0508, 0.0507, 0.0505, 0.0503, 0.0503,
        0.0502, 0.0498, 0.0497, 0.0495, 0.0494, 0.0492, 0.0491, 0.049, 0.0488, 0.0487, 0.0486,
        0.0485, 0.0484, 0.0482, 0.048, 0.048, 0.0479, 0.0478, 0.0476, 0.0475, 0.0474, 0.0473,
        0.0472, 0.0471, 0.0469, 0.0467, 0.0467, 0.0466, 0.0466, 0.0464, 0.0463, 0.0463, 0.046,
        0.046, 0.046, 0.0458, 0.0457, 0.0456, 0.0456, 0.0454, 0.0451, 0.0451, 0.0449, 0.0449,
        0.0448, 0.0447, 0.0446, 0.0445, 0.0444, 0.0444, 0.0443, 0.0441, 0.044, 0.0439, 0.0438,
        0.0437, 0.0436, 0.0435, 0.0434, 0.0433, 0.0433, 0.0431, 0.043, 0.0429, 0.0428, 0.0428,
        0.0425, 0.0425, 0.0424, 0.0424, 0.0423, 0.0422, 0.042, 0.0419, 0.0418, 0.0417, 0.0416,
        0.0416, 0.0415, 0.0414, 0.0414, 0.0413, 0.0412, 0.041, 0.041, 0.0409, 0.0408, 0.0408,
        0.0406, 0.0405, 0.0405, 0.0404, 0.0404, 0.0402, 0.0401, 0.04, 0.04, 0.0399, 0.0399, 0.0397,
        0.0396, 0.0396, 0.0395, 0.0395, 0.0393, 0.0392, 0.0391, 0.0391, 0.039, 0.0389, 0.0388,
        0.0387, 0.0386, 0.0385, 0.0384,
    ];
    const RELU_K20_NEG: [f64; 50] = [
        -0.0767, -0.0762, -0.075, -0.0733, -0.073, -0.0719, -0.0712, -0.0706, -0.0689, -0.0686,
        -0.0683, -0.0673, -0.0669, -0.0657, -0.0657, -0.0651, -0.065, -0.0644, -0.0642, -0.064,
        -0.0638, -0.0632, -0.0628, -0.0623, -0.062, -0.0619, -0.0613, -0.0608, -0.0606, -0.0605,
        -0.0604, -0.0602, -0.0596, -0.0594, -0.059, -0.0589, -0.0588, -0.0582, -0.0581, -0.058,
        -0.0578, -0.0572, -0.057, -0.0568, -0.0567, -0.0565, -0.0563, -0.056, -0.0559, -0.0556,
    ];

    /// A sketched spectrum: its head, its most negative values, and
    /// `zeros` eigenvalues at 0 standing for the rest of the bulk.
    fn sketch(top: &[f64], neg: &[f64], zeros: usize) -> Spectrum {
        let mut v: Vec<f64> = top.iter().chain(neg).map(|x| x * 1e-3).collect();
        v.extend(std::iter::repeat_n(0.0, zeros));
        spec(v)
    }

    #[test]
    fn elbow_on_trained_relu_nets() {
        // Weak gaps: 1.08 → 0.62 (k = 10), and for k = 20 a smooth decay
        // 1.7, 1.4, 1.1 | 0.91, 0.79 into the tier of smaller eigenvalues.
        let s10 = sketch(&RELU_K10_TOP, &RELU_K10_NEG, 4000);
        assert_eq!(s10.outliers(OutlierRule::Elbow).unwrap(), 10);
        let s20 = sketch(&RELU_K20_TOP, &RELU_K20_NEG, 4000);
        assert_eq!(s20.outliers(OutlierRule::Elbow).unwrap(), 20);
        // The largest-gap rule fails here, as in the paper's Table 1.
        assert_eq!(s20.outliers(OutlierRule::Gap).unwrap(), 1);
        // The same spectra as positive semi-definite partial spectra (what
        // Lanczos returns): the top 40 only.
        let top10 = spec(RELU_K10_TOP[..40].to_vec());
        assert_eq!(top10.outliers(OutlierRule::Elbow).unwrap(), 10);
        // k = 3 (seed 3): three outliers, a second tier of three
        // cross-class eigenvalues 6× lower, then the bulk 3.5× lower still.
        let top3 = [
            1.19, 1.17, 1.13, 0.186, 0.182, 0.167, 0.0483, 0.0465, 0.0461, 0.0445, 0.0441, 0.0431,
        ];
        let neg3: Vec<f64> = (0..20).map(|i| -0.0474 + 0.0006 * i as f64).collect();
        let s3 = sketch(&top3, &neg3, 4000);
        assert_eq!(s3.outliers(OutlierRule::Elbow).unwrap(), 3);
        // A single large negative outlier does not move the bulk edge.
        let mut v: Vec<f64> = s10.values().to_vec();
        v.push(-0.5);
        assert_eq!(spec(v).outliers(OutlierRule::Elbow).unwrap(), 10);
    }

    #[test]
    fn density_quadrature_helpers() {
        let d = Density {
            x: vec![0.0, 1.0, 2.0],
            y: vec![0.0, 1.0, 0.0],
            nodes: vec![vec![1.0, 3.0], vec![2.0]],
            weights: vec![vec![0.5, 0.5], vec![1.0]],
            info: SpectrumInfo::new("slq", "matrix"),
        };
        assert!((d.integral() - 1.0).abs() < 1e-15);
        assert!((d.mean() - 1.0).abs() < 1e-15);
        assert!((d.moment(1) - 2.0).abs() < 1e-15);
        assert!((d.moment(2) - (5.0 + 4.0) / 2.0).abs() < 1e-15);
        assert!((d.mass_above(1.5) - 0.75).abs() < 1e-15);
        assert_eq!(d.node_min(), 1.0);
        assert_eq!(d.node_max(), 3.0);
    }
}

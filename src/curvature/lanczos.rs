//! Lanczos with reorthogonalisation: a few extreme eigenpairs of a
//! symmetric operator from matrix-vector products only.
//!
//! Starting from `b` seeded random vectors (`block`, default 1), the method
//! builds a basis `Q = [q₁ … qₘ]` of the (block) Krylov space
//! `span{V, AV, A²V, …}` that never loses orthogonality enough to produce
//! spurious copies of converged eigenvalues. With a block (`b > 1`) each new
//! vector is `A qⱼ` minus its projections on *every* earlier basis vector
//! (classical Gram–Schmidt, repeated when it cancelled much: "twice is
//! enough"), so `Q` is orthonormal to machine precision and the projection
//! coefficients `Hᵢⱼ = qᵢᵀ A qⱼ` are kept. With one starting vector (the
//! default) the basis is kept *semi-orthogonal* (`|qᵢᵀqⱼ| ≤ √ε`) by partial
//! reorthogonalisation (Simon 1984): the three-term recurrence every step,
//! a full Gram–Schmidt pass only on the steps where Simon's ω-recurrence
//! says orthogonality is about to be lost (one step in ten for a net's
//! Hessian at initialisation, up to every other step when converged
//! outliers sit far above the bulk; each pass reads the whole basis), and
//! `H` is the Lanczos tridiagonal `T` (α on the diagonal, β beside it),
//! whose eigenvalues semi-orthogonality makes exact to `O(ε‖A‖)`. The Ritz
//! pairs `(θ, y = Q s)` of the eigenpairs `(θ, s)` of `H` approximate
//! eigenpairs of `A`, the extreme ones first.
//!
//! The basis grows until the `k` wanted Ritz pairs (algebraically largest
//! or smallest) have relative residual
//! `‖A y − θ y‖ ≤ tol · max(1, |θ|)`. The cheap estimate
//! `‖A y − θ y‖ = ‖B s_last‖` (B: the coupling of the last block to the next,
//! β for `b = 1`) decides when to look; then the residuals are computed
//! honestly with `k` more products and reported. When the new direction
//! vanishes (`‖r‖ ≤ 10⁻¹² ‖A‖`: an invariant subspace was found) the basis
//! continues with a seeded random vector orthogonal to it; the projected
//! matrix `H` stays exact because every coefficient `qᵢᵀ A qⱼ` is kept.
//! After such a restart a result is accepted only once a fresh random
//! sequence has changed none of the wanted values (it ended in an invariant
//! subspace itself, or ran as long as the invariant one) — this is how
//! missing copies of repeated eigenvalues are found when the spectrum has
//! few distinct values. When the basis spans the whole space the result is
//! exact.
//!
//! A single starting vector sees one direction of each eigenspace, so
//! without an invariant subspace an eigenvalue of multiplicity `r > 1` is
//! found once; `block ≥ r` finds all its copies. (Hessian outliers are
//! simple in practice; exact multiplicity shows up as large blocks of
//! exact zeros, e.g. dead ReLU units.)
//!
//! Cost: `m` products (plus `k` for the residuals per look at them) and
//! `O(m² n)` flops of reorthogonalisation (memory-bound: each pass streams
//! the basis once for the coefficients and once for the update, see
//! [`crate::mat::project_out`]; partial reorthogonalisation makes only
//! some of the passes, see above), `m · n` floats of memory for the basis.
//!
//! ```
//! use hlab::curvature::lanczos::{lanczos_top, LanczosOpts};
//! use hlab::mat::Mat;
//! let mut a = Mat::from_fn(50, 50, |i, j| if i == j { i as f64 } else { 0.0 });
//! let r = lanczos_top(&mut a, &LanczosOpts::new(3)).unwrap();
//! assert!((r.spectrum.top(1)[0] - 49.0).abs() < 1e-8);
//! assert_eq!(r.spectrum.info.converged, Some(true));
//! ```

use super::{require_finite, SymOp};
use crate::error::{Error, Result};
use crate::linalg::eig_dense;
use crate::mat::{axpy, dot, norm, project_out, Mat};
use crate::progress::{check_interrupt, Progress};
use crate::rng::Rng;
use crate::spectrum::{Spectrum, SpectrumInfo};
use std::time::Instant;

const OP: &str = "top_eigs";

/// Which end of the spectrum to compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Which {
    /// The algebraically largest eigenvalues.
    #[default]
    Largest,
    /// The algebraically smallest eigenvalues.
    Smallest,
}

impl Which {
    /// Parses `"largest"` or `"smallest"` (errors name the valid ones).
    pub fn parse(s: &str) -> Result<Which> {
        match s {
            "largest" => Ok(Which::Largest),
            "smallest" => Ok(Which::Smallest),
            _ => Err(Error::invalid(
                OP,
                format!("which: expected \"largest\" or \"smallest\", got {s:?}"),
            )),
        }
    }

    /// `"largest"` or `"smallest"`.
    pub fn name(self) -> &'static str {
        match self {
            Which::Largest => "largest",
            Which::Smallest => "smallest",
        }
    }
}

/// Default relative residual tolerance of [`lanczos_top`].
pub const DEFAULT_TOL: f64 = 1e-8;

/// Options of [`lanczos_top`].
#[derive(Clone, Debug, PartialEq)]
pub struct LanczosOpts {
    /// How many eigenvalues (≥ 1, ≤ dim).
    pub k: usize,
    /// Largest or smallest (algebraic).
    pub which: Which,
    /// Relative residual tolerance: stop when every wanted pair has
    /// `‖A y − θ y‖ ≤ tol · max(1, |θ|)` (default 1e-8).
    pub tol: f64,
    /// Largest basis size (products, not counting the `k` for the final
    /// residuals); 0 = automatic, `min(dim, max(300, 10·k + 10·block))`.
    pub max_iter: usize,
    /// Number of starting vectors (block size, default 1); use at least the
    /// multiplicity of a repeated eigenvalue to find all its copies.
    pub block: usize,
    /// Seed of the random starting vectors.
    pub seed: u64,
    /// Also return the Ritz vectors.
    pub vectors: bool,
    /// A warm start: the first starting vector (e.g. the sum of the Ritz
    /// vectors found at a nearby point). A seeded random part of 1 % of its
    /// norm is mixed in, so that directions it lacks are still found; the
    /// other `block − 1` starting vectors are random.
    pub start: Option<Vec<f64>>,
    /// Measure residuals against the largest wanted |θ| instead of each
    /// pair's own: stop when `‖A y − θ y‖ ≤ tol · max |θ_wanted|` for every
    /// wanted pair (the tracking criterion "Ritz residuals ≤ tol·λ₁").
    pub rel_to_top: bool,
}

impl LanczosOpts {
    /// Defaults for the `k` largest eigenvalues.
    pub fn new(k: usize) -> Self {
        LanczosOpts {
            k,
            ..LanczosOpts::default()
        }
    }
}

impl Default for LanczosOpts {
    fn default() -> Self {
        LanczosOpts {
            k: 10,
            which: Which::Largest,
            tol: DEFAULT_TOL,
            max_iter: 0,
            block: 1,
            seed: 0,
            vectors: false,
            start: None,
            rel_to_top: false,
        }
    }
}

/// What [`lanczos_top`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct LanczosResult {
    /// The `k` Ritz values, ascending; `info` holds method `"lanczos"`,
    /// steps (basis size), matvecs, seed, tol, converged, seconds and the
    /// honest residuals `‖A yᵢ − θᵢ yᵢ‖` in the same order as the values.
    pub spectrum: Spectrum,
    /// When asked for: the unit Ritz vectors as the columns of a
    /// `dim × k` matrix, column `j` for `spectrum.values()[j]`.
    pub vectors: Option<Mat>,
}

/// Bookkeeping of the check that follows an invariant subspace.
#[derive(Default)]
struct Verify {
    /// An invariant subspace was met: results need verifying.
    active: bool,
    /// Where the current sequence (since the last restart) began.
    seq_start: usize,
    /// Length of the last sequence that ended in an invariant subspace.
    prev_len: usize,
    /// Wanted Ritz values when the current sequence began.
    at_restart: Option<Vec<f64>>,
    /// Wanted Ritz values at `since`, the last time they changed.
    at_since: Option<Vec<f64>>,
    /// Basis size when the wanted values last changed.
    since: usize,
}

impl Verify {
    /// A sequence ended in an invariant subspace at basis size `e`; the
    /// wanted values then were `vals` (None while the basis is below k).
    fn restart(&mut self, e: usize, vals: Option<Vec<f64>>) {
        self.active = true;
        self.prev_len = e - self.seq_start;
        self.seq_start = e;
        self.since = e;
        self.at_since = vals.clone();
        self.at_restart = vals;
    }
}

/// The basis, the projected matrix and the counters of one run.
struct Krylov {
    n: usize,
    q: Vec<Vec<f64>>,
    h: Vec<Vec<f64>>,
    rng: Rng,
    anorm: f64,
    matvecs: usize,
    /// Set when a new direction had to be drawn at random.
    restarted: bool,
}

impl Krylov {
    /// Removes from `w` its components on the basis and on `extra`; returns
    /// the coefficients on the basis. See [`reorthogonalize`]; `local` is the
    /// number of trailing basis vectors that carry the three-term part.
    fn orthogonalize(&self, w: &mut [f64], extra: &[Vec<f64>], local: usize) -> Vec<f64> {
        reorthogonalize(&self.q, local, w, extra)
    }

    /// The step of single-vector Lanczos with partial reorthogonalisation
    /// for `w = A q_j`, `j` the last basis vector: Gram–Schmidt against
    /// `q_{j−1}` and `q_j`, then a full pass over the basis only when the
    /// ω-estimates ask for one (or the new direction nearly vanished).
    /// Returns the coefficients of the three-term part (zero elsewhere: the
    /// projected matrix stays the Lanczos tridiagonal).
    fn partial_step(&self, w: &mut [f64], om: &mut Omega) -> Vec<f64> {
        let e = self.q.len();
        let j = e - 1;
        let mut coef = vec![0.0; e];
        let lo = j.saturating_sub(1);
        for (qi, ci) in self.q[lo..].iter().zip(&mut coef[lo..]) {
            *ci = dot(qi, w);
            axpy(-*ci, qi, w);
        }
        let b = norm(w);
        if om.step(coef[j], b) || b <= 1e-10 * self.anorm {
            reorthogonalize(&self.q, 0, w, &[]);
            om.reorthogonalized(norm(w));
        }
        coef
    }

    /// A unit vector orthogonal to the basis and to `extra` made from `w`,
    /// or — when `w` (nearly) lies in their span — from seeded random
    /// vectors. `None` when the basis and `extra` already span ℝⁿ.
    /// `against_basis = false` when `w` is already orthogonal to the basis.
    fn new_direction(
        &mut self,
        mut w: Vec<f64>,
        extra: &[Vec<f64>],
        against_basis: bool,
    ) -> Option<Vec<f64>> {
        if self.q.len() + extra.len() >= self.n {
            return None;
        }
        if against_basis {
            self.orthogonalize(&mut w, extra, 0);
        } else {
            orthogonalize_to(&mut w, extra);
        }
        let thresh = 1e-12 * self.anorm.max(f64::MIN_POSITIVE);
        let mut nw = norm(&w);
        let mut tries = 0;
        while nw <= thresh || !nw.is_finite() {
            if tries == 5 {
                return None;
            }
            tries += 1;
            self.restarted = true;
            w = (0..self.n).map(|_| self.rng.normal()).collect();
            let n0 = norm(&w);
            self.orthogonalize(&mut w, extra, 0);
            nw = norm(&w);
            // A random vector keeps a fair share of its norm unless the
            // space is (numerically) exhausted.
            if nw <= 1e-8 * n0 {
                nw = 0.0;
            }
            if nw > 0.0 {
                break;
            }
        }
        for x in w.iter_mut() {
            *x /= nw;
        }
        Some(w)
    }

    /// Appends `v` to the basis, growing `h`.
    fn push(&mut self, v: Vec<f64>) {
        self.q.push(v);
        let m = self.q.len();
        for row in self.h.iter_mut() {
            row.push(0.0);
        }
        self.h.push(vec![0.0; m]);
    }

    /// `A · [q_s … q_e)` as vectors.
    fn apply(&mut self, op: &mut dyn SymOp, s: usize, e: usize) -> Result<Vec<Vec<f64>>> {
        let b = e - s;
        let out = if b == 1 {
            let mut y = vec![0.0; self.n];
            op.apply(&self.q[s], &mut y)?;
            vec![y]
        } else {
            let qs: Vec<&[f64]> = self.q[s..e].iter().map(|v| &v[..]).collect();
            let ys = op.apply_block(&to_block(self.n, &qs))?;
            if ys.shape() != (self.n, b) {
                return Err(Error::shape(
                    OP,
                    format!("a {}×{b} block product", self.n),
                    format!("{}×{}", ys.rows(), ys.cols()),
                ));
            }
            columns(&ys)
        };
        self.matvecs += b;
        for y in &out {
            require_finite(OP, y)?;
            self.anorm = self.anorm.max(norm(y));
        }
        Ok(out)
    }
}

/// Removes from `w` its components on the orthonormal `vs`, twice.
fn orthogonalize_to(w: &mut [f64], vs: &[Vec<f64>]) {
    for _ in 0..2 {
        project_out(vs, w);
    }
}

/// Full reorthogonalisation of `w` against the orthonormal basis `q` (and
/// the orthonormal `extra`): Gram–Schmidt against the last `local` vectors
/// first — for `w = A q_j` they hold the three-term part, nearly all of
/// `w` — then classical Gram–Schmidt over the whole basis, repeated (at most
/// once) only when a pass removed more than 1 − 1/√2 of the norm left (the
/// Daniel–Gragg–Kaufman–Stewart criterion). After the local step the first
/// full pass removes only rounding-level components, so one pass over the
/// (large) basis usually suffices. Returns the coefficients on `q`.
fn reorthogonalize(q: &[Vec<f64>], local: usize, w: &mut [f64], extra: &[Vec<f64>]) -> Vec<f64> {
    let mut coef = vec![0.0; q.len()];
    for i in q.len().saturating_sub(local)..q.len() {
        let c = dot(&q[i], w);
        axpy(-c, &q[i], w);
        coef[i] += c;
    }
    let mut before = norm(w);
    for _ in 0..2 {
        let c = project_out(q, w);
        for (a, b) in coef.iter_mut().zip(&c) {
            *a += b;
        }
        project_out(extra, w);
        let after = norm(w);
        if after >= std::f64::consts::FRAC_1_SQRT_2 * before {
            break;
        }
        before = after;
    }
    coef
}

/// Simon's ω-recurrence (Simon 1984; Larsen's PROPACK): running estimates
/// `ωᵢ ≈ |qᵢᵀ q_{j+1}|` of how far a single-vector Lanczos basis has lost
/// orthogonality, from the α and β alone. Partial reorthogonalisation
/// keeps the basis *semi-orthogonal* (every `ωᵢ ≤ √ε`) by a full
/// Gram–Schmidt pass only on the steps where an estimate would pass `√ε`,
/// and on the step after (the vector before it carries the same loss).
/// Semi-orthogonality is enough for the tridiagonal `T` to be the exact
/// projection of `A` on the Krylov space up to `O(ε‖A‖)`: its eigenvalues
/// and the first components of its eigenvectors (SLQ's nodes and weights)
/// are those of full reorthogonalisation to rounding, without spurious
/// copies. The estimates are deterministic (the rounding term takes the
/// sign of the value it is added to, as in PROPACK).
struct Omega {
    /// ω of `q_{j−1}` against `q₀ … q_{j−1}` (the last is 1).
    prev: Vec<f64>,
    /// ω of `q_j` against `q₀ … q_j` (the last is 1).
    cur: Vec<f64>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    /// The rounding level of a freshly orthogonalised vector, `√n·ε/2`.
    eps1: f64,
    /// The step after a reorthogonalisation is reorthogonalised too.
    force: bool,
    /// Full passes made (for tests and benchmarks).
    passes: usize,
}

/// `√ε`: the semi-orthogonality bound of [`Omega`].
const SQRT_EPS: f64 = 1.4901161193847656e-8;

impl Omega {
    fn new(n: usize) -> Omega {
        Omega {
            prev: Vec::new(),
            cur: vec![1.0],
            alpha: Vec::new(),
            beta: Vec::new(),
            eps1: (n as f64).sqrt() * f64::EPSILON / 2.0,
            force: false,
            passes: 0,
        }
    }

    /// Step `j` made `α_j` and the norm `β_j` of the new direction (before
    /// any reorthogonalisation); updates the estimates for `q_{j+1}` and
    /// says whether the new direction needs a full pass.
    fn step(&mut self, aj: f64, bj: f64) -> bool {
        self.alpha.push(aj);
        self.beta.push(bj);
        let j = self.alpha.len() - 1;
        let (a, b) = (&self.alpha, &self.beta);
        let mut next = vec![0.0; j + 2];
        let mut over = false;
        if bj > 0.0 && bj.is_finite() {
            for i in 0..j {
                let mut x =
                    b[i] * self.cur[i + 1] + (a[i] - a[j]) * self.cur[i] - b[j - 1] * self.prev[i];
                if i > 0 {
                    x += b[i - 1] * self.cur[i - 1];
                }
                let t = self.eps1 * (a[i].hypot(b[i]) + a[j].hypot(bj));
                x = (x + t.copysign(x)) / bj;
                over |= x.abs() > SQRT_EPS;
                next[i] = x;
            }
        } else {
            over = true;
        }
        next[j] = self.eps1;
        next[j + 1] = 1.0;
        self.prev = std::mem::replace(&mut self.cur, next);
        let due = over || self.force;
        self.force = over;
        due
    }

    /// The new direction of the last step was orthogonalised against the
    /// whole basis; `bj` is its norm now (its coupling β_j).
    fn reorthogonalized(&mut self, bj: f64) {
        let j = self.cur.len() - 1;
        for x in &mut self.cur[..j] {
            *x = self.eps1;
        }
        if let Some(b) = self.beta.last_mut() {
            *b = bj;
        }
        self.passes += 1;
    }
}

/// Checks the options against the dimension; returns the basis limit.
fn check_opts(n: usize, o: &LanczosOpts) -> Result<usize> {
    if n == 0 {
        return Err(Error::shape(
            OP,
            "an operator of dimension ≥ 1",
            "dimension 0",
        ));
    }
    if o.k == 0 {
        return Err(Error::shape(OP, "k ≥ 1", "k = 0"));
    }
    if o.k > n {
        return Err(Error::shape(
            OP,
            format!("k ≤ {n} (the dimension)"),
            format!("k = {}", o.k),
        ));
    }
    if !(o.tol > 0.0 && o.tol.is_finite()) {
        return Err(Error::invalid(
            OP,
            format!("tol: expected a positive number, got {}", o.tol),
        ));
    }
    if o.block == 0 {
        return Err(Error::shape(OP, "block ≥ 1", "block = 0"));
    }
    let max_basis = if o.max_iter == 0 {
        n.min(300.max(10 * o.k + 10 * o.block))
    } else {
        o.max_iter.min(n)
    };
    if max_basis < o.k {
        return Err(Error::shape(
            OP,
            format!("max_iter ≥ k = {}", o.k),
            format!("max_iter = {}", o.max_iter),
        ));
    }
    Ok(max_basis)
}

/// The `o.k` largest or smallest eigenvalues of the symmetric operator
/// `op` (and their vectors when `o.vectors`), by Lanczos with partial (one start
/// vector) or full (a block) reorthogonalisation (see the module doc).
///
/// Errors (op `top_eigs`) when `k = 0`, `k > dim`, `tol ≤ 0`, `block = 0`,
/// `max_iter < k`, the operator returns NaN/∞, or on an interrupt. Not
/// reaching the tolerance within `max_iter` is not an error: the result
/// has `info.converged = Some(false)` and the residuals say how far it got.
pub fn lanczos_top(op: &mut dyn SymOp, o: &LanczosOpts) -> Result<LanczosResult> {
    let t0 = Instant::now();
    let n = op.dim();
    let max_basis = check_opts(n, o)?;
    let k = o.k;
    let mut kr = Krylov {
        n,
        q: Vec::new(),
        h: Vec::new(),
        rng: Rng::new(o.seed),
        anorm: 0.0,
        matvecs: 0,
        restarted: false,
    };
    let progress = Progress::new(OP, max_basis as u64);

    // Starting block.
    let b0 = o.block.min(max_basis);
    for bi in 0..b0 {
        let mut w: Vec<f64> = (0..n).map(|_| kr.rng.normal()).collect();
        if let (0, Some(s)) = (bi, &o.start) {
            w = warm_start(s, &w)?;
        }
        match kr.new_direction(w, &[], true) {
            Some(v) => kr.push(v),
            None => break,
        }
    }
    kr.restarted = false;
    // One starting vector: partial reorthogonalisation (see [`Omega`]);
    // a block keeps full reorthogonalisation.
    let mut omega = (kr.q.len() == 1).then(|| Omega::new(n));
    let mut verify = Verify::default();
    let mut s = 0;
    let mut last_check = 0;
    let mut next_honest = 0;
    let mut converged;
    let (resid, vals, ys) = loop {
        check_interrupt(OP)?;
        let e = kr.q.len();
        let aq = kr.apply(op, s, e)?;
        progress.inc((e - s) as u64);
        // Projections of A q_j on the whole basis: column j of H.
        let mut resids = Vec::with_capacity(e - s);
        for (jj, w) in aq.iter().enumerate() {
            let j = s + jj;
            let mut r = w.clone();
            let c = match omega.as_mut() {
                Some(om) => kr.partial_step(&mut r, om),
                None => kr.orthogonalize(&mut r, &[], 2 * o.block),
            };
            for (i, ci) in c.iter().enumerate() {
                if i < s {
                    kr.h[i][j] = *ci;
                    kr.h[j][i] = *ci;
                } else {
                    // Both (i, j) and (j, i) are computed: average them.
                    kr.h[i][j] += 0.5 * ci;
                    kr.h[j][i] += 0.5 * ci;
                }
            }
            resids.push(r);
        }
        // The next block (not yet in the basis) and its coupling B.
        let room = max_basis.saturating_sub(e).min(o.block);
        let mut next: Vec<Vec<f64>> = Vec::new();
        for r in resids.into_iter().take(room) {
            match kr.new_direction(r, &next, false) {
                Some(v) => next.push(v),
                None => break,
            }
        }
        let coupling: Vec<Vec<f64>> = next
            .iter()
            .map(|ql| aq.iter().map(|w| dot(ql, w)).collect())
            .collect();

        // Look at the Ritz pairs when the basis is large enough and has
        // grown, and whenever the space was found invariant.
        let last = next.is_empty();
        let restarted = std::mem::take(&mut kr.restarted);
        if e >= k && (last || restarted || e - last_check >= (e / 10).max(1)) {
            last_check = e;
            let hm = Mat::from_fn(e, e, |i, j| kr.h[i][j]);
            let (theta, sv) = eig_dense(OP, &hm, true)?;
            let sv = sv.unwrap_or_else(|| Mat::zeros(e, e));
            let wanted: Vec<usize> = match o.which {
                Which::Largest => (e - k..e).collect(),
                Which::Smallest => (0..k).collect(),
            };
            let top_abs = wanted
                .iter()
                .map(|&i| theta[i].abs())
                .fold(0.0_f64, f64::max);
            let small = |i: usize, x: f64| {
                let scale = if o.rel_to_top {
                    top_abs
                } else {
                    theta[i].abs().max(1.0)
                };
                x <= o.tol * scale
            };
            let est_ok = wanted.iter().all(|&i| {
                let est: f64 = coupling
                    .iter()
                    .map(|row| {
                        let x: f64 = row
                            .iter()
                            .enumerate()
                            .map(|(jj, bij)| bij * sv.at(s + jj, i))
                            .sum();
                        x * x
                    })
                    .sum::<f64>()
                    .sqrt();
                small(i, est)
            });
            // After an invariant subspace, accept only once a fresh random
            // sequence changed none of the wanted values: either it ended
            // in an invariant subspace itself, or it ran at least as long
            // as the invariant one (it would reveal missing copies of
            // repeated eigenvalues).
            let vals: Vec<f64> = wanted.iter().map(|&i| theta[i]).collect();
            let close = |old: &Option<Vec<f64>>| {
                old.as_ref().is_some_and(|old| {
                    old.iter()
                        .zip(&vals)
                        .zip(&wanted)
                        .all(|((a, b), &i)| small(i, (a - b).abs()))
                })
            };
            let same_since = close(&verify.at_since);
            let verified = if restarted {
                verify.active && close(&verify.at_restart)
            } else {
                !verify.active || (same_since && e - verify.since >= verify.prev_len)
            };
            progress.message(format!("basis {e}"));
            if last || (est_ok && verified && e >= next_honest) {
                let resid = honest_residuals(op, &mut kr, &theta, &sv, &wanted)?;
                converged = wanted.iter().zip(&resid.0).all(|(&i, r)| small(i, *r));
                if converged || last {
                    break resid;
                }
                next_honest = e + (e / 4).max(1);
            }
            if restarted {
                verify.restart(e, Some(vals));
            } else if verify.active && !same_since {
                verify.at_since = Some(vals);
                verify.since = e;
            }
        } else if restarted {
            verify.restart(e, None);
        }
        if next.is_empty() {
            // Only reached when e < k: the space is exhausted (cannot happen
            // since k ≤ n), kept as a guard against an endless loop.
            return Err(Error::invalid(
                OP,
                "the Krylov basis stopped growing before k vectors",
            ));
        }
        if let (Some(om), Some(c)) = (omega.as_mut(), coupling.first()) {
            // The Lanczos β of the next vector (a fresh random direction
            // after an invariant subspace is orthogonal to everything).
            if restarted {
                om.reorthogonalized(c[0]);
            } else if let Some(b) = om.beta.last_mut() {
                *b = c[0];
            }
        }
        // Append the next block with its coupling.
        let e0 = kr.q.len();
        for (l, v) in next.into_iter().enumerate() {
            kr.push(v);
            for (jj, c) in coupling[l].iter().enumerate() {
                kr.h[e0 + l][s + jj] = *c;
                kr.h[s + jj][e0 + l] = *c;
            }
        }
        s = e0;
    };
    let steps = kr.q.len();
    let mut info = SpectrumInfo::new("lanczos", "operator");
    info.steps = Some(steps);
    info.seed = Some(o.seed);
    info.matvecs = kr.matvecs;
    info.residuals = resid;
    info.seconds = t0.elapsed().as_secs_f64();
    info.tol = Some(o.tol);
    info.converged = Some(converged);
    let spectrum = Spectrum::new(vals, info)?;
    Ok(LanczosResult {
        spectrum,
        vectors: o.vectors.then_some(ys),
    })
}

/// The warm starting vector `s/‖s‖ + 0.01·r/‖r‖` (r: a seeded random
/// vector); errors when `s` has the wrong length or is not finite and nonzero.
fn warm_start(s: &[f64], r: &[f64]) -> Result<Vec<f64>> {
    if s.len() != r.len() {
        return Err(Error::shape(
            OP,
            format!("a start vector of length {}", r.len()),
            format!("length {}", s.len()),
        ));
    }
    let ns = norm(s);
    if !(ns > 0.0 && ns.is_finite()) {
        return Err(Error::invalid(
            OP,
            format!("start: expected a finite nonzero vector, got norm {ns}"),
        ));
    }
    let nr = norm(r).max(f64::MIN_POSITIVE);
    Ok(s.iter()
        .zip(r)
        .map(|(a, b)| a / ns + 0.01 * b / nr)
        .collect())
}

/// The Lanczos tridiagonal of one start vector (see [`lanczos_tridiagonal`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Tridiagonal {
    /// Diagonal α₁ … αₘ.
    pub alpha: Vec<f64>,
    /// Off-diagonal β₁ … βₘ₋₁.
    pub beta: Vec<f64>,
    /// Products used (= m).
    pub matvecs: usize,
    /// Full Gram–Schmidt passes over the basis made by partial
    /// reorthogonalisation (full reorthogonalisation would make m − 1).
    pub full_passes: usize,
}

/// `m ≤ steps` steps of single-vector Lanczos with partial
/// reorthogonalisation (a semi-orthogonal basis, see the module doc) from
/// the unit vector `v0 / ‖v0‖`: the tridiagonal `T = Qᵀ A Q` with
/// `Q e₁ = v0/‖v0‖`, its eigenvalues and the first components of its
/// eigenvectors those of full reorthogonalisation up to rounding. It stops early (m <
/// steps) when the Krylov space is invariant (`β ≤ 10⁻¹² ‖A‖`), and at
/// `m = dim`; then `T`'s Gauss quadrature is exact. The building block of
/// stochastic Lanczos quadrature. Errors name `op_name`.
pub fn lanczos_tridiagonal(
    op: &mut dyn SymOp,
    v0: &[f64],
    steps: usize,
    op_name: &'static str,
) -> Result<Tridiagonal> {
    lanczos_tridiagonal_many(op, &[v0.to_vec()], steps, op_name)?
        .pop()
        .ok_or_else(|| Error::invalid(op_name, "no Lanczos run was made"))
}

/// The `n × b` block whose columns are `vs` (written row by row: each
/// vector is read once, in order).
fn to_block(n: usize, vs: &[&[f64]]) -> Mat {
    let b = vs.len();
    let mut m = Mat::zeros(n, b);
    if b > 0 {
        for (i, row) in m.data_mut().chunks_mut(b).enumerate() {
            for (x, v) in row.iter_mut().zip(vs) {
                *x = v[i];
            }
        }
    }
    m
}

/// The columns of `m` as vectors (read row by row).
fn columns(m: &Mat) -> Vec<Vec<f64>> {
    let b = m.cols();
    let mut out: Vec<Vec<f64>> = (0..b).map(|_| Vec::with_capacity(m.rows())).collect();
    if b > 0 {
        for row in m.data().chunks(b) {
            for (o, x) in out.iter_mut().zip(row) {
                o.push(*x);
            }
        }
    }
    out
}

/// `Y = Q S` for the columns `wanted` of `sv` (`Q`'s columns are `q`): an
/// `n × k` matrix. Rows are done in fixed pieces of 2,048 (the piece of `Y`
/// stays in cache) on all cores, each basis vector read once: one pass over
/// the basis instead of `k`, the same bits for any thread count.
fn ritz_vectors(q: &[Vec<f64>], sv: &Mat, wanted: &[usize]) -> Mat {
    use rayon::prelude::*;
    const ROWS: usize = 2048;
    let n = q.first().map_or(0, |v| v.len());
    let k = wanted.len();
    let mut y = Mat::zeros(n, k);
    if k == 0 {
        return y;
    }
    let coef: Vec<Vec<f64>> = (0..q.len())
        .map(|j| wanted.iter().map(|&i| sv.at(j, i)).collect())
        .collect();
    y.data_mut()
        .par_chunks_mut(ROWS * k)
        .enumerate()
        .for_each(|(p, out)| {
            let r0 = p * ROWS;
            for (qj, cj) in q.iter().zip(&coef) {
                let rows = out.chunks_mut(k).zip(&qj[r0..]);
                for (orow, &x) in rows {
                    for (o, c) in orow.iter_mut().zip(cj) {
                        *o += x * c;
                    }
                }
            }
        });
    y
}

/// Ritz vectors `y = Q s` of the wanted pairs and their honest residuals
/// `‖A y − θ y‖` (one block product). Returns (residuals, values, vectors),
/// values ascending.
fn honest_residuals(
    op: &mut dyn SymOp,
    kr: &mut Krylov,
    theta: &[f64],
    sv: &Mat,
    wanted: &[usize],
) -> Result<(Vec<f64>, Vec<f64>, Mat)> {
    let n = kr.n;
    let e = sv.rows();
    let k = wanted.len();
    let mut y = ritz_vectors(&kr.q[..e], sv, wanted);
    let mut sq = vec![0.0; k];
    for row in y.data().chunks(k) {
        for (a, x) in sq.iter_mut().zip(row) {
            *a += x * x;
        }
    }
    let inv: Vec<f64> = sq
        .iter()
        .map(|a| 1.0 / a.sqrt().max(f64::MIN_POSITIVE))
        .collect();
    for row in y.data_mut().chunks_mut(k) {
        for (x, f) in row.iter_mut().zip(&inv) {
            *x *= f;
        }
    }
    let ay = op.apply_block(&y)?;
    if ay.shape() != (n, k) {
        return Err(Error::shape(
            OP,
            format!("a {n}×{k} block product"),
            format!("{}×{}", ay.rows(), ay.cols()),
        ));
    }
    kr.matvecs += k;
    require_finite(OP, ay.data())?;
    let mut resid = vec![0.0; k];
    for (ar, yr) in ay.data().chunks(k).zip(y.data().chunks(k)) {
        for (((s, a), x), &i) in resid.iter_mut().zip(ar).zip(yr).zip(wanted) {
            *s += (a - theta[i] * x).powi(2);
        }
    }
    let resid = resid.into_iter().map(f64::sqrt).collect();
    let vals = wanted.iter().map(|&i| theta[i]).collect();
    Ok((resid, vals, y))
}

/// Independent Lanczos recurrences ([`lanczos_tridiagonal`]) from several
/// start vectors, run in lockstep so that every step costs one block
/// product `A [q₁ … q_b]` (matmul-bound for network operators) instead of
/// b single products. Each recurrence keeps its own basis and stops on its
/// own invariant subspace. The results equal those of separate runs up to
/// rounding.
pub fn lanczos_tridiagonal_many(
    op: &mut dyn SymOp,
    starts: &[Vec<f64>],
    steps: usize,
    op_name: &'static str,
) -> Result<Vec<Tridiagonal>> {
    use rayon::prelude::*;
    let n = op.dim();
    let m = steps.min(n);
    struct Run {
        q: Vec<Vec<f64>>,
        alpha: Vec<f64>,
        beta: Vec<f64>,
        anorm: f64,
        done: bool,
        omega: Omega,
    }
    let mut runs = Vec::with_capacity(starts.len());
    for v0 in starts {
        if v0.len() != n {
            return Err(Error::shape(
                op_name,
                format!("a start vector of length {n}"),
                format!("length {}", v0.len()),
            ));
        }
        let nv = norm(v0);
        if !(nv > 0.0 && nv.is_finite()) {
            return Err(Error::invalid(
                op_name,
                format!("expected a finite nonzero start vector, got norm {nv}"),
            ));
        }
        runs.push(Run {
            q: vec![v0.iter().map(|x| x / nv).collect()],
            alpha: Vec::with_capacity(m),
            beta: Vec::with_capacity(m),
            anorm: 0.0,
            done: false,
            omega: Omega::new(n),
        });
    }
    for j in 0..m {
        check_interrupt(op_name)?;
        let active: Vec<usize> = (0..runs.len()).filter(|&r| !runs[r].done).collect();
        if active.is_empty() {
            break;
        }
        // Block products of at most 16 vectors, checking for an interrupt
        // between them, so a large probe count stays responsive.
        let mut cols: Vec<Vec<f64>> = Vec::with_capacity(active.len());
        for chunk in active.chunks(16) {
            check_interrupt(op_name)?;
            let qs: Vec<&[f64]> = chunk.iter().map(|&r| &runs[r].q[j][..]).collect();
            let ab = op.apply_block(&to_block(n, &qs))?;
            if ab.shape() != (n, chunk.len()) {
                return Err(Error::shape(
                    op_name,
                    format!("a {n}×{} block product", chunk.len()),
                    format!("{}×{}", ab.rows(), ab.cols()),
                ));
            }
            require_finite(op_name, ab.data())?;
            cols.extend(columns(&ab));
        }
        // The probes' bookkeeping is independent: one probe per core.
        let advance = |(run, mut w): (&mut Run, Vec<f64>)| {
            run.anorm = run.anorm.max(norm(&w));
            let a = dot(&run.q[j], &w);
            run.alpha.push(a);
            if j + 1 == m {
                run.done = true;
                return;
            }
            // The three-term part (Gram–Schmidt against q_{j−1}, q_j), then
            // a full pass only when the ω-estimates ask for one.
            for i in j.saturating_sub(1)..=j {
                let c = dot(&run.q[i], &w);
                axpy(-c, &run.q[i], &mut w);
            }
            let mut b = norm(&w);
            if run.omega.step(a, b) || b <= 1e-10 * run.anorm {
                reorthogonalize(&run.q, 0, &mut w, &[]);
                b = norm(&w);
                run.omega.reorthogonalized(b);
            }
            if b <= 1e-12 * run.anorm || !b.is_finite() {
                run.done = true;
                return;
            }
            run.beta.push(b);
            run.q.push(w.iter().map(|x| x / b).collect());
        };
        let pairs: Vec<(&mut Run, Vec<f64>)> =
            runs.iter_mut().filter(|r| !r.done).zip(cols).collect();
        if pairs.len() > 1 && n >= 4096 {
            pairs.into_par_iter().for_each(advance);
        } else {
            pairs.into_iter().for_each(advance);
        }
    }
    Ok(runs
        .into_iter()
        .map(|r| Tridiagonal {
            matvecs: r.alpha.len(),
            full_passes: r.omega.passes,
            alpha: r.alpha,
            beta: r.beta,
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests;

//! Why the outliers: the Gauss–Newton matrix as a covariance of gradients
//! (Sagun et al. 2017; Papyan 2019, 2020).
//!
//! For example i and output c let `v_{i,c} = Jᵢᵀ u_{i,c}` with
//! `u_{i,c} = √p_{i,c} (e_c − pᵢ)` (softmax cross-entropy) or `e_c` (mse).
//! Then `G = (1/N) Σ_{i,c} v_{i,c} v_{i,c}ᵀ = (1/N) V Vᵀ`, so G's non-zero
//! eigenvalues are those of the `(N·C) × (N·C)` Gram matrix
//! `M = (1/N) VᵀV` ([`gn_gram`]), built from per-layer Gram factors
//! without ever forming a P-sized object.
//!
//! Papyan's decomposition ([`class_decomposition`]) splits G by true class
//! c and output c′. With `π_c = N_c/N`, `δ_{c,c′}` the mean of `v_{i,c′}`
//! over the examples of class c, and `δ_c` the mean of `δ_{c,c′}` over
//! `c′ ≠ c`:
//!
//! - same_class `= Σ_c π_c δ_{c,c} δ_{c,c}ᵀ`,
//! - class_means `= Σ_c π_c (C − 1) δ_c δ_cᵀ` (rank ≤ C),
//! - cross_class `= Σ_c π_c Σ_{c′≠c} (δ_{c,c′} − δ_c)(δ_{c,c′} − δ_c)ᵀ` (rank ≤ C(C − 2)),
//! - within `= (1/N) Σ_{i,c′} (v_{i,c′} − δ_{yᵢ,c′})(v_{i,c′} − δ_{yᵢ,c′})ᵀ`,
//!
//! and the four sum to G exactly. Every part is a Gram matrix of
//! combinations of the columns of V, so its spectrum follows from M: the
//! class means `δ` are `V·S` for a selection matrix S, their inner
//! products `N·SᵀMS` (C² × C²), and the within-class Gram is
//! `(I − SE)ᵀ M (I − SE)` with E mapping column (c′, i) to (yᵢ, c′).

use crate::curvature::lanczos::{lanczos_top, LanczosOpts};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::linalg::{sym_eig, sym_eigvals};
use crate::mat::Mat;
use crate::model::Network;
use crate::spectrum::Spectrum;
use std::time::Instant;

/// Eigenvalues at or below this fraction of λ_max count as zero (`info.rank`).
pub const RANK_TOL: f64 = 1e-12;

/// What [`gn_gram`] returns.
#[derive(Clone, Debug)]
pub struct GnGram {
    /// All N·C eigenvalues of `(1/N) VᵀV`, ascending (`info.rank`).
    pub spectrum: Spectrum,
    /// When asked for: G's top eigenvectors (unit norm) as the columns of
    /// a P × k matrix, column j for the j-th largest eigenvalue.
    pub vectors: Option<Mat>,
}

/// Peak bytes of the Gram route for N·C = `nc`: the Gram matrix, the
/// solver's two working copies and, for the decomposition, the
/// within-class Gram.
pub fn gram_bytes(nc: usize, decomposition: bool) -> f64 {
    let m = crate::linalg::dense_bytes(nc);
    if decomposition {
        5.0 * m
    } else {
        3.0 * m
    }
}

fn check_gram_memory(op: &'static str, n: usize, c: usize, p: usize, decomp: bool) -> Result<()> {
    let nc = n * c;
    let alt = if p < nc {
        format!(
            "; here P = {p} < N·C = {nc}, so eigs(gauss_newton(m, data)) is the cheaper exact route"
        )
    } else {
        String::new()
    };
    crate::mat::check_memory(
        op,
        || format!("the {nc}×{nc} Gram matrix (N = {n} examples × C = {c} outputs)"),
        gram_bytes(nc, decomp),
        &format!(
            "use fewer examples (data.take(n)), or top_eigs(m, data, k, #{{ matrix: \"gauss_newton\" }}) for G's top eigenvalues{alt}"
        ),
    )
}

/// The Gram matrix `M = (1/N) VᵀV` at `net`'s parameters on `data`, with
/// N and C.
fn gram_matrix(op: &'static str, net: &Network, data: &Dataset, decomp: bool) -> Result<GramParts> {
    let (_, c) = net.resolve(op, data)?;
    let n = data.len();
    check_gram_memory(op, n, c, net.num_params(), decomp)?;
    let batch = net.batch(op, data)?;
    let state = net.curvature_state(&batch)?;
    let m = state.gn_gram_matrix(op)?;
    Ok(GramParts { state, m, n, c })
}

struct GramParts {
    state: crate::model::CurvState,
    m: Mat,
    n: usize,
    c: usize,
}

/// The number of eigenvalues above `RANK_TOL · λ_max`.
pub fn rank_of(values: &[f64]) -> usize {
    let top = values.iter().fold(0.0f64, |m, &v| m.max(v));
    values.iter().filter(|&&v| v > RANK_TOL * top).count()
}

/// A Spectrum of the Gram matrix `a` (all its eigenvalues, ascending).
fn gram_spectrum(a: &Mat, matrix: &str, t0: Instant) -> Result<Spectrum> {
    let (vals, info) = sym_eigvals(a)?;
    let mut si = info.spectrum_info(matrix);
    si.method = "gram".into();
    si.rank = Some(rank_of(&vals));
    si.seconds = t0.elapsed().as_secs_f64();
    Spectrum::new(vals, si)
}

/// A dense symmetric matrix whose products run on faer's parallel GEMV.
struct FaerSym(faer::Mat<f64>);

impl crate::curvature::SymOp for FaerSym {
    fn dim(&self) -> usize {
        self.0.nrows()
    }
    fn apply(&mut self, v: &[f64], out: &mut [f64]) -> Result<()> {
        let n = self.0.nrows();
        let x = faer::MatRef::from_column_major_slice(v, n, 1);
        let y = faer::MatMut::from_column_major_slice_mut(out, n, 1);
        faer::linalg::matmul::matmul(
            y,
            faer::Accum::Replace,
            self.0.as_ref(),
            x,
            1.0,
            faer::Par::rayon(0),
        );
        Ok(())
    }
}

/// The top `k` eigenpairs of the symmetric `m` (descending): values and
/// the eigenvectors as the columns of an `n × k` matrix.
fn top_pairs(m: &Mat, k: usize) -> Result<(Vec<f64>, Mat)> {
    let n = m.rows();
    let k = k.min(n);
    if k == 0 {
        return Ok((Vec::new(), Mat::zeros(n, 0)));
    }
    if n <= 1500 {
        let (vals, vecs, _) = sym_eig(m)?;
        let idx: Vec<usize> = (0..n).rev().take(k).collect();
        let out = Mat::from_fn(n, k, |i, j| vecs.at(i, idx[j]));
        return Ok((idx.iter().map(|&i| vals[i]).collect(), out));
    }
    let mut o = LanczosOpts::new(k);
    o.tol = 1e-12;
    o.vectors = true;
    o.block = 2;
    let mut op = FaerSym(faer::Mat::from_fn(n, n, |i, j| m.at(i, j)));
    let r = lanczos_top(&mut op, &o)?;
    let vals = r.spectrum.values().to_vec();
    let vecs = r
        .vectors
        .ok_or_else(|| Error::invalid("gn_gram", "internal: Lanczos gave no vectors"))?;
    let kk = vals.len();
    let out = Mat::from_fn(n, kk, |i, j| vecs.at(i, kk - 1 - j));
    Ok((vals.iter().rev().copied().collect(), out))
}

/// G's eigenvalues through the Gram route: all N·C eigenvalues of
/// `(1/N) VᵀV` (G's non-zero spectrum plus zeros), and with `vectors > 0`
/// G's top `vectors` eigenvectors `V q / ‖V q‖`.
///
/// Exact (no sampling); cost O(N²·C²·(layer widths)) for the Gram matrix
/// plus a dense eigen-solve of size N·C.
pub fn gn_gram(net: &Network, data: &Dataset, vectors: usize) -> Result<GnGram> {
    let t0 = Instant::now();
    let g = gram_matrix("gn_gram", net, data, false)?;
    let spectrum = gram_spectrum(&g.m, "gauss_newton", t0)?;
    let vectors = if vectors > 0 {
        let rank = spectrum.info.rank.unwrap_or(0);
        if vectors > rank {
            return Err(Error::invalid(
                "gn_gram",
                format!(
                    "vectors: expected at most the rank of G ({rank}) eigenvectors, got {vectors}"
                ),
            ));
        }
        let (vals, q) = top_pairs(&g.m, vectors)?;
        let vq = g.state.gn_combine(&q)?; // k × P
        let p = vq.cols();
        let mut out = Mat::zeros(p, vals.len());
        for j in 0..vals.len() {
            let row = vq.row(j);
            let nrm = crate::mat::norm(row);
            let s = if nrm > 0.0 { 1.0 / nrm } else { 0.0 };
            for (i, &x) in row.iter().enumerate() {
                out.set(i, j, x * s);
            }
        }
        Some(out)
    } else {
        None
    };
    Ok(GnGram { spectrum, vectors })
}

/// The four parts of Papyan's decomposition as P × P matrices (for small
/// nets: checks and teaching).
#[derive(Clone, Debug)]
pub struct PartMatrices {
    /// `Σ_c π_c δ_{c,c} δ_{c,c}ᵀ`.
    pub same_class: Mat,
    /// `Σ_c π_c (C − 1) δ_c δ_cᵀ`.
    pub class_means: Mat,
    /// `Σ_c π_c Σ_{c′≠c} (δ_{c,c′} − δ_c)(δ_{c,c′} − δ_c)ᵀ`.
    pub cross_class: Mat,
    /// `(1/N) Σ_{i,c′} (v_{i,c′} − δ_{yᵢ,c′})(v_{i,c′} − δ_{yᵢ,c′})ᵀ`.
    pub within: Mat,
}

/// What [`class_decomposition`] returns.
#[derive(Clone, Debug)]
pub struct ClassDecomposition {
    /// G's spectrum through the Gram route (as [`gn_gram`]).
    pub gauss_newton: Spectrum,
    /// The C eigenvalues of the same-class part's Gram matrix.
    pub same_class: Spectrum,
    /// The C eigenvalues of the class-means part (rank ≤ C).
    pub class_means: Spectrum,
    /// The C(C − 1) eigenvalues of the cross-class part (rank ≤ C(C − 2)).
    pub cross_class: Spectrum,
    /// The N·C eigenvalues of the within-class part.
    pub within: Spectrum,
    /// Mean squared cosine of the principal angles between G's top-C
    /// eigenvectors and the class-means part's range (1: the same subspace).
    pub overlap: f64,
    /// The parts as P × P matrices, when asked for.
    pub matrices: Option<PartMatrices>,
}

/// Class sizes and labels of `data` for a net with `c` outputs, checked.
fn class_counts(op: &'static str, data: &Dataset, c: usize) -> Result<(Vec<usize>, Vec<usize>)> {
    let Some(y) = data.labels() else {
        return Err(Error::invalid(
            op,
            "expected a data set with class labels (it splits G by class), got regression targets",
        ));
    };
    if c == usize::MAX {
        return Ok((y.to_vec(), Vec::new()));
    }
    if c < 2 {
        return Err(Error::invalid(
            op,
            format!("expected a network with at least 2 outputs (classes), got {c}"),
        ));
    }
    let mut counts = vec![0usize; c];
    for (i, &yi) in y.iter().enumerate() {
        if yi >= c {
            return Err(Error::invalid(
                op,
                format!("expected labels below the network's {c} outputs, got {yi} at example {i}"),
            ));
        }
        counts[yi] += 1;
    }
    if let Some(e) = counts.iter().position(|&k| k == 0) {
        return Err(Error::invalid(
            op,
            format!(
                "expected every one of the {c} classes to have examples, got none of class {e} (class means need at least one)"
            ),
        ));
    }
    Ok((y.to_vec(), counts))
}

/// The coefficient matrices T (C² × m, row `c·C + c′` for `δ_{c,c′}`) of
/// the three mean parts: `part = D T Tᵀ Dᵀ` with `D = [δ_{c,c′}]`.
fn part_coefficients(pi: &[f64]) -> [Mat; 3] {
    let c = pi.len();
    let inv = 1.0 / (c as f64 - 1.0);
    let same = Mat::from_fn(
        c * c,
        c,
        |r, j| {
            if r == j * c + j {
                pi[j].sqrt()
            } else {
                0.0
            }
        },
    );
    let means = Mat::from_fn(c * c, c, |r, j| {
        let (a, b) = (r / c, r % c);
        if a == j && b != j {
            (pi[j] * (c as f64 - 1.0)).sqrt() * inv
        } else {
            0.0
        }
    });
    // Column (a, b) with b ≠ a, in order: √π_a (e_(a,b) − mean over e ≠ a).
    let cols: Vec<(usize, usize)> = (0..c)
        .flat_map(|a| (0..c).filter(move |&b| b != a).map(move |b| (a, b)))
        .collect();
    let cross = Mat::from_fn(c * c, cols.len(), |r, j| {
        let (a, b) = cols[j];
        let (ra, rb) = (r / c, r % c);
        if ra != a || rb == a {
            return 0.0;
        }
        let s = pi[a].sqrt();
        if rb == b {
            s * (1.0 - inv)
        } else {
            -s * inv
        }
    });
    [same, means, cross]
}

/// `Tᵀ A T`.
fn congruence(t: &Mat, a: &Mat) -> Result<Mat> {
    let at = a.matmul(t)?;
    let mut out = t.transpose().matmul(&at)?;
    crate::curvature::hessian::symmetrize(&mut out);
    Ok(out)
}

/// Papyan's class decomposition of G (see the module doc): the spectra of
/// its four parts through the Gram route, the overlap of G's top-C
/// eigenvectors with the class-means part, and with `matrices` the four
/// parts as P × P matrices formed from V itself.
pub fn class_decomposition(
    net: &Network,
    data: &Dataset,
    matrices: bool,
) -> Result<ClassDecomposition> {
    const OP: &str = "class_decomposition";
    let t0 = Instant::now();
    // Labels first: without them the decomposition has no meaning,
    // whatever else is wrong.
    class_counts(OP, data, usize::MAX)?;
    let (_, c_out) = net.resolve(OP, data)?;
    class_counts(OP, data, c_out)?;
    let g = gram_matrix(OP, net, data, true)?;
    let (y, counts) = class_counts(OP, data, g.c)?;
    let cl = Classes {
        y: &y,
        counts: &counts,
        n: g.n,
        c: g.c,
    };
    let m = &g.m;
    let (ms, delta) = class_mean_grams(m, &cl)?;
    let pi: Vec<f64> = counts.iter().map(|&k| k as f64 / g.n as f64).collect();
    let [t_same, t_means, t_cross] = part_coefficients(&pi);
    let same_class = gram_spectrum(&congruence(&t_same, &delta)?, "same_class", t0)?;
    let k_means = congruence(&t_means, &delta)?;
    let class_means = gram_spectrum(&k_means, "class_means", t0)?;
    let cross_class = gram_spectrum(&congruence(&t_cross, &delta)?, "cross_class", t0)?;
    let within = gram_spectrum(&within_gram(m, &ms, &delta, &cl)?, "within", t0)?;
    let gauss_newton = gram_spectrum(m, "gauss_newton", t0)?;
    let lam_max = gauss_newton.max().unwrap_or(0.0).max(0.0);
    let overlap = overlap_with_means(m, &ms, &t_means, &k_means, lam_max, &cl)?;
    let matrices = if matrices {
        Some(part_matrices(&g.state, &y, &counts, g.n, g.c)?)
    } else {
        None
    };
    Ok(ClassDecomposition {
        gauss_newton,
        same_class,
        class_means,
        cross_class,
        within,
        overlap,
        matrices,
    })
}

/// The labels of a decomposition: `y[i]`, class sizes, N and C.
struct Classes<'a> {
    y: &'a [usize],
    counts: &'a [usize],
    n: usize,
    c: usize,
}

/// `MS` ((N·C) × C²; column `a·C + b` = `(1/N_a) Σ_{yᵢ = a} M[:, b·N + i]`)
/// and `Δ = N·SᵀMS` (C² × C²; `Δ[s, t] = δ_sᵀ δ_t`).
fn class_mean_grams(m: &Mat, cl: &Classes) -> Result<(Mat, Mat)> {
    let (n, c) = (cl.n, cl.c);
    let (nc, cc) = (n * c, c * c);
    let mut ms = Mat::zeros(nc, cc);
    for r in 0..nc {
        crate::progress::check_interrupt("class_decomposition")?;
        let row = m.row(r);
        let out = &mut ms.data_mut()[r * cc..(r + 1) * cc];
        for b in 0..c {
            for (i, &yi) in cl.y.iter().enumerate() {
                out[yi * c + b] += row[b * n + i];
            }
        }
        for (a, &na) in cl.counts.iter().enumerate() {
            let s = 1.0 / na as f64;
            for x in &mut out[a * c..(a + 1) * c] {
                *x *= s;
            }
        }
    }
    let mut delta = Mat::zeros(cc, cc);
    for b in 0..c {
        for (i, &a) in cl.y.iter().enumerate() {
            let s = a * c + b;
            let w = n as f64 / cl.counts[a] as f64;
            let src = ms.row(b * n + i);
            let dst = &mut delta.data_mut()[s * cc..(s + 1) * cc];
            for (d, v) in dst.iter_mut().zip(src) {
                *d += w * v;
            }
        }
    }
    crate::curvature::hessian::symmetrize(&mut delta);
    Ok((ms, delta))
}

/// The within-class Gram `(I − SE)ᵀ M (I − SE)`, E mapping column
/// `(c′, i)` to `(yᵢ, c′)`.
fn within_gram(m: &Mat, ms: &Mat, delta: &Mat, cl: &Classes) -> Result<Mat> {
    let (n, c) = (cl.n, cl.c);
    let nc = n * c;
    let mut w = Mat::zeros(nc, nc);
    let inv_n = 1.0 / n as f64;
    for a in 0..c {
        for (i, &yi) in cl.y.iter().enumerate() {
            crate::progress::check_interrupt("class_decomposition")?;
            let r = a * n + i;
            let ya = yi * c + a;
            for b in 0..c {
                for (j, &yj) in cl.y.iter().enumerate() {
                    let s = b * n + j;
                    let v = m.at(r, s) - ms.at(r, yj * c + b) - ms.at(s, ya)
                        + delta.at(ya, yj * c + b) * inv_n;
                    w.data_mut()[r * nc + s] = v;
                }
            }
        }
    }
    crate::curvature::hessian::symmetrize(&mut w);
    Ok(w)
}

/// The mean squared cosine of the principal angles between G's top-C
/// eigenvectors `V Q Λ^{-1/2}/√N` and the class-means part's range
/// `D T R Σ^{-1/2}` (`D = V S`, `TᵀΔT = R Σ Rᵀ`):
/// `U_Gᵀ U_m = √N Λ^{-1/2} Qᵀ (M S) T R Σ^{-1/2}`.
fn overlap_with_means(
    m: &Mat,
    ms: &Mat,
    t_means: &Mat,
    k_means: &Mat,
    lam_max: f64,
    cl: &Classes,
) -> Result<f64> {
    let (lam, q) = top_pairs(m, cl.c)?;
    let (sig, r, _) = sym_eig(k_means)?;
    let sig_max = sig.iter().fold(0.0f64, |a, &b| a.max(b));
    let x = q.transpose().matmul(&ms.matmul(t_means)?)?.matmul(&r)?; // kG × C
    let mut fro2 = 0.0;
    for (gi, &l) in lam.iter().enumerate() {
        if l <= RANK_TOL * lam_max {
            continue;
        }
        for (mj, &s) in sig.iter().enumerate() {
            if s <= RANK_TOL * sig_max {
                continue;
            }
            let v = (cl.n as f64).sqrt() * x.at(gi, mj) / (l.sqrt() * s.sqrt());
            fro2 += v * v;
        }
    }
    Ok(fro2 / cl.c as f64)
}

/// The four parts as P × P matrices from V itself (rows `v_{i,c}`).
fn part_matrices(
    state: &crate::model::CurvState,
    y: &[usize],
    counts: &[usize],
    n: usize,
    c: usize,
) -> Result<PartMatrices> {
    let v = state.gn_factor_rows()?; // (C·N) × P
    let p = v.cols();
    crate::mat::check_memory(
        "class_decomposition",
        || format!("four {p}×{p} matrices"),
        8.0 * 6.0 * (p as f64) * (p as f64),
        "leave out `matrices: true` (the spectra never need them)",
    )?;
    // δ_{a,b} = mean over class a of v_{i,b}: (C²) × P.
    let mut d = Mat::zeros(c * c, p);
    for b in 0..c {
        for (i, &a) in y.iter().enumerate() {
            let src = v.row(b * n + i).to_vec();
            let dst = &mut d.data_mut()[(a * c + b) * p..(a * c + b + 1) * p];
            for (x, s) in dst.iter_mut().zip(&src) {
                *x += s;
            }
        }
    }
    for (a, &na) in counts.iter().enumerate() {
        let s = 1.0 / na as f64;
        for b in 0..c {
            for x in &mut d.data_mut()[(a * c + b) * p..(a * c + b + 1) * p] {
                *x *= s;
            }
        }
    }
    let pi: Vec<f64> = counts.iter().map(|&k| k as f64 / n as f64).collect();
    let outer = |rows: &Mat| -> Result<Mat> {
        let mut out = rows.transpose().matmul(rows)?;
        crate::curvature::hessian::symmetrize(&mut out);
        Ok(out)
    };
    let cm1 = c as f64 - 1.0;
    // δ_a = mean over b ≠ a of δ_{a,b}.
    let mean_of = |a: usize| -> Vec<f64> {
        let mut out = vec![0.0; p];
        for b in (0..c).filter(|&b| b != a) {
            for (o, x) in out.iter_mut().zip(d.row(a * c + b)) {
                *o += x / cm1;
            }
        }
        out
    };
    let same_rows = Mat::from_fn(c, p, |a, j| pi[a].sqrt() * d.at(a * c + a, j));
    let means: Vec<Vec<f64>> = (0..c).map(mean_of).collect();
    let mean_rows = Mat::from_fn(c, p, |a, j| (pi[a] * cm1).sqrt() * means[a][j]);
    let pairs: Vec<(usize, usize)> = (0..c)
        .flat_map(|a| (0..c).filter(move |&b| b != a).map(move |b| (a, b)))
        .collect();
    let cross_rows = Mat::from_fn(pairs.len(), p, |r, j| {
        let (a, b) = pairs[r];
        pi[a].sqrt() * (d.at(a * c + b, j) - means[a][j])
    });
    let sn = 1.0 / (n as f64).sqrt();
    let within_rows = Mat::from_fn(c * n, p, |r, j| {
        let (b, i) = (r / n, r % n);
        sn * (v.at(r, j) - d.at(y[i] * c + b, j))
    });
    Ok(PartMatrices {
        same_class: outer(&same_rows)?,
        class_means: outer(&mean_rows)?,
        cross_class: outer(&cross_rows)?,
        within: outer(&within_rows)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Targets;
    use crate::model::{Act, Init, LossKind, MlpOpts};
    use crate::rng::Rng;

    fn toy(y: Vec<usize>, d: usize, k: usize, seed: u64) -> Dataset {
        let mut r = Rng::new(seed);
        let x = Mat::from_fn(y.len(), d, |i, j| {
            r.normal() + if j == y[i] { 2.0 } else { 0.0 }
        });
        Dataset::new(x, Targets::Labels { y, classes: k }).unwrap()
    }

    fn net(loss: LossKind) -> Network {
        let o = MlpOpts {
            act: Act::Tanh,
            loss,
            bias: true,
            init: Init::Normal { std: 0.6 },
            seed: 5,
        };
        Network::mlp(&[4, 6, 4], &o).unwrap()
    }

    /// The top-k eigenvectors (columns) of a symmetric matrix, by faer.
    fn top_vectors(a: &Mat, k: usize) -> (Vec<f64>, Mat) {
        let (vals, vecs, _) = sym_eig(a).unwrap();
        let n = a.rows();
        (
            vals.iter().rev().take(k).copied().collect(),
            Mat::from_fn(n, k, |i, j| vecs.at(i, n - 1 - j)),
        )
    }

    #[test]
    fn overlap_equals_the_principal_angles_of_the_dense_subspaces() {
        // Unbalanced classes; CE and MSE.
        let y = vec![0, 1, 2, 3, 0, 0, 1, 2, 0, 1, 0, 3, 0, 2, 1, 0];
        let data = toy(y, 4, 4, 9);
        for loss in [LossKind::CrossEntropy, LossKind::Mse] {
            let m = net(loss);
            let d = class_decomposition(&m, &data, true).unwrap();
            let g = crate::curvature::hessian::gauss_newton(&m, &data, 1000).unwrap();
            let (_, ug) = top_vectors(&g, 4);
            let mats = d.matrices.unwrap();
            let (mv, um) = top_vectors(&mats.class_means, 4);
            let keep: Vec<usize> = (0..4).filter(|&j| mv[j] > 1e-12 * mv[0]).collect();
            let mut fro2 = 0.0;
            for i in 0..4 {
                for &j in &keep {
                    let c: f64 = (0..g.rows()).map(|r| ug.at(r, i) * um.at(r, j)).sum();
                    fro2 += c * c;
                }
            }
            let want = fro2 / 4.0;
            assert!(
                (d.overlap - want).abs() < 1e-8,
                "{loss:?}: {} vs {want}",
                d.overlap
            );
            assert!(d.overlap > 0.0 && d.overlap <= 1.0 + 1e-12);
        }
    }

    #[test]
    fn lanczos_top_pairs_match_the_dense_solver_above_its_size() {
        let a = crate::mat::random_symmetric(1600, 4);
        let (vals, vecs) = top_pairs(&a, 5).unwrap();
        let (all, _) = sym_eigvals(&a).unwrap();
        for (j, v) in vals.iter().enumerate() {
            let want = all[all.len() - 1 - j];
            assert!((v - want).abs() < 1e-9 * want.abs(), "{j}: {v} vs {want}");
            let x = vecs.col(j);
            let ax = a.matvec(&x).unwrap();
            let res: f64 = ax
                .iter()
                .zip(&x)
                .map(|(p, q)| (p - v * q).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(res < 1e-8 * want.abs(), "{j}: residual {res}");
        }
    }

    #[test]
    fn the_gram_of_v_is_m() {
        // V from single-example passes against M from the layer factors.
        let y = vec![0, 1, 2, 3, 1, 2];
        let data = toy(y, 4, 4, 2);
        for loss in [LossKind::CrossEntropy, LossKind::Mse] {
            let m = net(loss);
            let batch = m.batch("t", &data).unwrap();
            let st = m.curvature_state(&batch).unwrap();
            let gm = st.gn_gram_matrix("t").unwrap();
            let v = st.gn_factor_rows().unwrap();
            let vv = v.matmul(&v.transpose()).unwrap().scale(1.0 / 6.0);
            let scale = gm.max_abs();
            for (a, b) in gm.data().iter().zip(vv.data()) {
                assert!((a - b).abs() < 1e-12 * scale, "{a} vs {b}");
            }
            // For CE, Σ_c √p_{i,c} v_{i,c} = 0: at least N zero eigenvalues.
            if loss == LossKind::CrossEntropy {
                let (vals, _) = sym_eigvals(&gm).unwrap();
                let top = vals[vals.len() - 1];
                assert!(vals.iter().filter(|v| v.abs() < 1e-12 * top).count() >= 6);
            }
        }
    }
}

//! Exact curvature of a model's loss: Hessian-vector products, the dense
//! Hessian H, the Gauss–Newton matrix G and the residual R = H − G.
//!
//! Products come from [`Network`]'s R-operator (forward-over-reverse,
//! Pearlmutter 1994), exact to rounding. Dense matrices are assembled from
//! batched products with blocks of unit directions, so the work is
//! matmul-bound, and are symmetrised (the asymmetry before that is rounding,
//! ~1e-16 relative, and is reported).

use crate::data::Dataset;
use crate::error::{human_bytes, Error, Result};
use crate::mat::Mat;
use crate::model::{Batch, CurvState, Network};
use crate::progress::{check_interrupt, Progress};

/// Which matrix a product or a dense build is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curvature {
    /// The Hessian ∇²L.
    Hessian,
    /// The Gauss–Newton matrix G = (1/N) Σ Jᵢᵀ Hℓ,ᵢ Jᵢ.
    GaussNewton,
    /// The residual R = H − G = (1/N) Σ Σ_c ∂ℓ/∂f_c ∇²f_c.
    Residual,
}

impl Curvature {
    /// Parses "hessian", "gauss_newton", "residual".
    pub fn parse(op: &'static str, s: &str) -> Result<Curvature> {
        match s {
            "hessian" => Ok(Curvature::Hessian),
            "gauss_newton" => Ok(Curvature::GaussNewton),
            "residual" => Ok(Curvature::Residual),
            _ => Err(Error::invalid(
                op,
                format!(
                    "matrix: expected \"hessian\", \"gauss_newton\" or \"residual\", got \"{s}\""
                ),
            )),
        }
    }

    /// The name scripts use.
    pub fn name(self) -> &'static str {
        match self {
            Curvature::Hessian => "hessian",
            Curvature::GaussNewton => "gauss_newton",
            Curvature::Residual => "residual",
        }
    }
}

/// Default largest P for dense matrices: 20,000 parameters, 3.2 GB.
pub const DEFAULT_MAX_PARAMS: usize = 20_000;

/// A model and a data set, ready for many curvature products.
pub struct ModelCurvature<'a> {
    model: &'a Network,
    batch: Batch,
    /// Directions per batched product (memory-sized for the network).
    block: usize,
    state: std::sync::Arc<CurvState>,
    kind: Curvature,
    products: usize,
}

impl<'a> ModelCurvature<'a> {
    /// Checks `data` against `model` and prepares the tensors once.
    pub fn new(
        op: &'static str,
        model: &'a Network,
        data: &Dataset,
        kind: Curvature,
    ) -> Result<Self> {
        let (shape, _) = model.resolve(op, data)?;
        let batch = model.batch(op, data)?;
        let state = model.shared_state(data, &batch)?;
        let block = model.r_block(data.len(), &shape, block_size(model.num_params()));
        Ok(ModelCurvature {
            model,
            batch,
            block,
            state,
            kind,
            products: 0,
        })
    }

    /// Number of parameters P.
    pub fn dim(&self) -> usize {
        self.model.num_params()
    }

    /// Matrix–vector products done so far.
    pub fn products(&self) -> usize {
        self.products
    }

    /// Products with every row of `vs` (b × P); row j of the result is `C vⱼ`.
    /// Rows go through the R-pass in blocks sized for memory.
    pub fn apply_rows(&mut self, vs: &Mat) -> Result<Mat> {
        let b = vs.rows();
        if b <= self.block {
            return self.apply_block_rows(vs);
        }
        let p = vs.cols();
        let mut out = Mat::zeros(b, p);
        let mut start = 0;
        while start < b {
            check_interrupt("hvp")?;
            let e = (start + self.block).min(b);
            let part = Mat::from_vec(e - start, p, vs.data()[start * p..e * p].to_vec())?;
            let r = self.apply_block_rows(&part)?;
            out.data_mut()[start * p..e * p].copy_from_slice(r.data());
            start = e;
        }
        Ok(out)
    }

    fn apply_block_rows(&mut self, vs: &Mat) -> Result<Mat> {
        self.products += vs.rows();
        match self.kind {
            Curvature::Hessian => self.state.apply(vs, false),
            Curvature::GaussNewton => self.state.apply(vs, true),
            Curvature::Residual => {
                let h = self.state.apply(vs, false)?;
                let g = self.state.apply(vs, true)?;
                h.add_scaled(&g, -1.0, "residual")
            }
        }
    }

    /// One product `C v`.
    pub fn apply(&mut self, v: &[f64]) -> Result<Vec<f64>> {
        self.model.check_vector("hvp", v)?;
        let vs = Mat::from_vec(1, v.len(), v.to_vec())?;
        Ok(self.apply_rows(&vs)?.into_vec())
    }

    /// The dense P × P matrix, built from blocks of unit directions.
    pub fn dense(&mut self, op: &'static str, max_params: usize) -> Result<Mat> {
        let p = self.dim();
        check_dense_budget(op, p, max_params)?;
        let block = self.block;
        let mut out = Mat::zeros(p, p);
        let progress = Progress::new(op, p as u64);
        // One Linear layer's diagonal block by weighted Gram products
        // (exact; the layer with the most parameters), the other rows by
        // batched products with unit directions.
        let (o1, p1) = match (self.kind, self.state.gram_layer()) {
            (Curvature::Hessian | Curvature::GaussNewton, Some(l)) => {
                let p1 = self
                    .state
                    .gram_block(l, self.kind == Curvature::GaussNewton, &mut out)?;
                check_interrupt(op)?;
                progress.inc(p1 as u64);
                (self.state.layer_span(l).0, p1)
            }
            _ => (0, 0),
        };
        let in_block = |i: usize| (o1..o1 + p1).contains(&i);
        let rows: Vec<usize> = (0..p).filter(|&i| !in_block(i)).collect();
        let t0 = std::time::Instant::now();
        for (c, chunk) in rows.chunks(block.max(1)).enumerate() {
            if c == 1 {
                // One line with the estimate when the whole job will be long.
                let per_row = t0.elapsed().as_secs_f64() / block.max(1) as f64;
                crate::progress::announce_estimate(
                    Some(&progress),
                    op,
                    &format!(
                        "P = {} parameters, a {} MB matrix",
                        crate::progress::thousands(p),
                        (8.0 * (p as f64).powi(2) / 1e6).round()
                    ),
                    per_row * rows.len() as f64,
                    &format!("timed on the first {} rows", block.max(1)),
                );
            }
            check_interrupt(op)?;
            let b = chunk.len();
            let mut vs = Mat::zeros(b, p);
            for (j, &r) in chunk.iter().enumerate() {
                vs.set(j, r, 1.0);
            }
            let got = self.apply_rows(&vs)?;
            for (j, &r) in chunk.iter().enumerate() {
                out.data_mut()[r * p..(r + 1) * p].copy_from_slice(got.row(j));
            }
            progress.inc(b as u64);
        }
        // The Gram block is symmetric by construction; its rows beyond the
        // block are the transposed product rows; only the product rows
        // among themselves carry rounding asymmetry.
        {
            let data = out.data_mut();
            for &j in &rows {
                check_interrupt(op)?;
                for i in o1..o1 + p1 {
                    data[i * p + j] = data[j * p + i];
                }
            }
            for (a, &j) in rows.iter().enumerate() {
                for &i in &rows[..a] {
                    let s = 0.5 * (data[i * p + j] + data[j * p + i]);
                    data[i * p + j] = s;
                    data[j * p + i] = s;
                }
            }
        }
        Ok(out)
    }
}

impl crate::curvature::SymOp for ModelCurvature<'_> {
    fn dim(&self) -> usize {
        self.model.num_params()
    }

    fn apply(&mut self, v: &[f64], out: &mut [f64]) -> Result<()> {
        check_interrupt("hvp")?;
        let vs = Mat::from_vec(1, v.len(), v.to_vec())?;
        let r = self.apply_rows(&vs)?;
        out.copy_from_slice(r.data());
        Ok(())
    }

    fn apply_block(&mut self, vs: &Mat) -> Result<Mat> {
        check_interrupt("hvp")?;
        Ok(self.apply_rows(&vs.transpose())?.transpose())
    }
}

/// Directions per batched product: large enough to be matmul-bound, small
/// enough that the R-pass intermediates stay near the size of the result rows.
fn block_size(p: usize) -> usize {
    (4_000_000 / p.max(1)).clamp(8, 256).min(p.max(1))
}

/// Refuses at once when a dense P × P matrix exceeds `max_params`, or the
/// memory it needs exceeds [`crate::mat::memory_budget`].
pub fn check_dense_budget(op: &'static str, p: usize, max_params: usize) -> Result<()> {
    if p > max_params {
        let need = 8.0 * (p as f64) * (p as f64);
        let limit = 8.0 * (max_params as f64) * (max_params as f64);
        return Err(Error::TooLarge {
            op,
            what: format!("a dense {p}×{p} matrix"),
            need: human_bytes(need),
            limit: format!("{} ({max_params} parameters)", human_bytes(limit)),
            hint: format!(
                "use top_eigs(m, data, k) or density(m, data) (they never form the matrix), or raise the limit with #{{ max_params: {p} }}"
            ),
        });
    }
    // The matrix, plus a block of unit directions and its products.
    let block = block_size(p) as f64;
    let need = 8.0 * (p as f64) * (p as f64 + 2.0 * block);
    crate::mat::check_memory(
        op,
        || format!("a dense {p}×{p} matrix"),
        need,
        "use top_eigs(m, data, k) or density(m, data) (they never form the matrix), or raise HLAB_MEMORY_LIMIT",
    )
}

/// Replaces `a` by (a + aᵀ)/2.
pub fn symmetrize(a: &mut Mat) {
    let n = a.rows();
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (a.at(i, j) + a.at(j, i));
            a.set(i, j, s);
            a.set(j, i, s);
        }
    }
}

/// `H v` for the model's loss over `data`.
///
/// The model keeps its forward and backward passes at the current
/// parameters on `data` (see `Network`'s cache), so a product at the same
/// parameters and data is only the R-pass; otherwise the forward pass and
/// the R-pass share their sweep over the inputs.
pub fn hvp(model: &Network, data: &Dataset, v: &[f64]) -> Result<Vec<f64>> {
    let batch = model.batch("hvp", data)?;
    model.check_vector("hvp", v)?;
    model.hvp_once(data, &batch, v)
}

/// The dense Hessian (P ≤ `max_params`).
pub fn hessian(model: &Network, data: &Dataset, max_params: usize) -> Result<Mat> {
    check_dense_budget("hessian", model.num_params(), max_params)?;
    ModelCurvature::new("hessian", model, data, Curvature::Hessian)?.dense("hessian", max_params)
}

/// The dense Gauss–Newton matrix (P ≤ `max_params`).
pub fn gauss_newton(model: &Network, data: &Dataset, max_params: usize) -> Result<Mat> {
    check_dense_budget("gauss_newton", model.num_params(), max_params)?;
    ModelCurvature::new("gauss_newton", model, data, Curvature::GaussNewton)?
        .dense("gauss_newton", max_params)
}

/// The largest relative difference, over `directions` random unit
/// directions, between `H v` and the central difference
/// `(∇L(w + εv) − ∇L(w − εv)) / 2ε` with ε = 1e-4·max(1, ‖w‖)/√P-ish scaled.
pub fn check_hessian(model: &Network, data: &Dataset, directions: usize, seed: u64) -> Result<f64> {
    if directions == 0 {
        return Err(Error::shape(
            "check_hessian",
            "directions ≥ 1",
            "directions = 0",
        ));
    }
    let mut op = ModelCurvature::new("check_hessian", model, data, Curvature::Hessian)?;
    let p = model.num_params();
    let mut rng = crate::rng::Rng::new(seed);
    let mut worst: f64 = 0.0;
    let eps = 1e-5;
    for _ in 0..directions {
        check_interrupt("check_hessian")?;
        let mut v = rng.normals(p);
        let nv = crate::mat::norm(&v);
        v.iter_mut().for_each(|x| *x /= nv);
        let hv = op.apply(&v)?;
        let plus: Vec<f64> = model
            .params()
            .iter()
            .zip(&v)
            .map(|(w, d)| w + eps * d)
            .collect();
        let minus: Vec<f64> = model
            .params()
            .iter()
            .zip(&v)
            .map(|(w, d)| w - eps * d)
            .collect();
        let (_, gp) = model.loss_grad_batch(&op.batch, &plus)?;
        let (_, gm) = model.loss_grad_batch(&op.batch, &minus)?;
        let fd: Vec<f64> = gp
            .iter()
            .zip(&gm)
            .map(|(a, b)| (a - b) / (2.0 * eps))
            .collect();
        let diff: Vec<f64> = fd.iter().zip(&hv).map(|(a, b)| a - b).collect();
        let rel = crate::mat::norm(&diff) / crate::mat::norm(&hv).max(1e-300);
        worst = worst.max(rel);
    }
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Targets;
    use crate::model::{Act, Init, LossKind, MlpOpts};
    use crate::rng::Rng;

    fn toy(n: usize, d: usize, k: usize) -> Dataset {
        let mut r = Rng::new(11);
        let x = Mat::from_fn(n, d, |_, _| r.normal());
        Dataset::new(
            x,
            Targets::Labels {
                y: (0..n).map(|i| i % k).collect(),
                classes: k,
            },
        )
        .unwrap()
    }

    /// The dense builds (first-layer Gram block + unit-direction rows) agree
    /// with plain products against the identity, for H, G and every net kind.
    #[test]
    fn dense_matches_products_with_unit_vectors() {
        let data = toy(17, 5, 3);
        for act in [Act::Relu, Act::Tanh, Act::Sigmoid, Act::Linear] {
            for loss in [LossKind::CrossEntropy, LossKind::Mse] {
                for bias in [true, false] {
                    for sizes in [vec![5, 3], vec![5, 4, 3], vec![5, 4, 2, 3]] {
                        let m = Network::mlp(
                            &sizes,
                            &MlpOpts {
                                act,
                                loss,
                                bias,
                                init: Init::Normal { std: 0.7 },
                                seed: 2,
                            },
                        )
                        .unwrap();
                        let p = m.num_params();
                        for kind in [
                            Curvature::Hessian,
                            Curvature::GaussNewton,
                            Curvature::Residual,
                        ] {
                            let mut c = ModelCurvature::new("t", &m, &data, kind).unwrap();
                            let dense = c.dense("t", 1000).unwrap();
                            let mut plain = c.apply_rows(&Mat::identity(p)).unwrap();
                            symmetrize(&mut plain);
                            let diff = dense.add_scaled(&plain, -1.0, "t").unwrap().max_abs();
                            assert!(
                                diff <= 1e-13 * plain.max_abs().max(1e-3),
                                "{act:?} {loss:?} {bias} {sizes:?} {kind:?}: {diff}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn oversized_dense_is_refused_at_once_with_the_memory_needed() {
        let m = Network::mlp(&[1000, 100, 10], &MlpOpts::default()).unwrap();
        let e = hessian(&m, &toy(3, 1000, 3), DEFAULT_MAX_PARAMS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hessian: needs 81.8 GB"), "{e}");
        assert!(e.contains("top_eigs"), "{e}");
    }
}

//! The Gauss–Newton matrix as a Gram matrix (Papyan 2019, 2020):
//! `G = (1/N) V Vᵀ` with one column `v_{i,c} = Jᵢᵀ u_{i,c}` per example i
//! and output c, where `u_{i,c} = √p_{i,c} (e_c − pᵢ)` for softmax
//! cross-entropy (since `diag p − ppᵀ = Σ_c p_c (e_c − p)(e_c − p)ᵀ`) and
//! `u_{i,c} = e_c` for mse. G's non-zero spectrum is that of the
//! `(N·C) × (N·C)` matrix `M = (1/N) VᵀV`, built here without forming V
//! for `Linear` layers: the per-example Jacobian of a Linear layer's
//! parameters is an outer product (its input `a` times the back-propagated
//! vector `g`), so its part of M is the Hadamard product of the input Gram
//! `aᵢ·aⱼ (+1 for the bias)` and the back-propagated Gram `g·g′`.
//! Other layers (convolutions, LayerNorm, residual blocks) contribute
//! `V_l V_lᵀ` from their per-example parameter gradients.
//!
//! Index order everywhere: column `c·N + i` (output-major), the R-pass's
//! direction-major layout with the C outputs as directions.

use super::CurvState;
use crate::error::{Error, Result};
use crate::mat::Mat;
use crate::model::layer::RBack;
use candle_core::{Device, Tensor};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatRef, Par};

impl CurvState {
    /// The number of outputs C.
    pub(crate) fn outputs(&self) -> Result<usize> {
        Ok(self.whole()?.fwd.output().dim(1)?)
    }

    /// The output-space factors `u_{i,c}` as a `(C·N, C)` tensor, row
    /// `c·N + i` (see the module doc).
    pub(crate) fn gn_factors(&self) -> Result<Tensor> {
        let c = self.outputs()?;
        let n = self.n;
        let mut u = vec![0.0f64; c * n * c];
        match &self.whole()?.prob {
            Some(prob) => {
                let p = prob.flatten_all()?.to_vec1::<f64>()?;
                for cc in 0..c {
                    for i in 0..n {
                        let pi = &p[i * c..(i + 1) * c];
                        let s = pi[cc].max(0.0).sqrt();
                        let row = &mut u[(cc * n + i) * c..(cc * n + i + 1) * c];
                        for (r, &pj) in row.iter_mut().zip(pi) {
                            *r = -s * pj;
                        }
                        row[cc] += s;
                    }
                }
            }
            None => {
                for cc in 0..c {
                    for i in 0..n {
                        u[(cc * n + i) * c + cc] = 1.0;
                    }
                }
            }
        }
        Ok(Tensor::from_vec(u, (c * n, c), &Device::Cpu)?)
    }

    /// `M = (1/N) VᵀV`, `(C·N) × (C·N)`, symmetric to the last bit.
    pub(crate) fn gn_gram_matrix(&self, op: &'static str) -> Result<Mat> {
        let wh = self.whole()?;
        let c = self.outputs()?;
        let n = self.n;
        let nc = n * c;
        let layers = self.chain.layers();
        let nl = layers.len();
        let rf = self
            .chain
            .r_forward(&self.w, &wh.fwd, 0, None, None, c, None)?;
        let mut m = Mat::zeros(nc, nc);
        let mut g = self.gn_factors()?;
        for l in (0..nl).rev() {
            crate::progress::check_interrupt(op)?;
            if self.chain.layer_len(l) > 0 {
                match self.linear_at(l) {
                    Some((d, h, bias)) => {
                        let x = wh.fwd.xs[l].reshape((n, d))?;
                        let gv = g.reshape((nc, h))?.flatten_all()?.to_vec1::<f64>()?;
                        let xv = x.flatten_all()?.to_vec1::<f64>()?;
                        add_linear_gram(&mut m, &xv, d, bias, &gv, h, n, c, op)?;
                    }
                    None => {
                        let rows = self.layer_sample_grads(l, &g, c)?;
                        add_gram(&mut m, &rows)?;
                    }
                }
            }
            if l > 0 {
                g = self.back_one(l, &rf, &g, c, true)?;
            }
        }
        let s = 1.0 / n as f64;
        for v in m.data_mut() {
            *v *= s;
        }
        Ok(m)
    }

    /// Layer `l`'s transposed input Jacobian applied to `rdy`
    /// (`(b·N, *out)`, b directions): `(b·N, *in)`.
    fn back_one(
        &self,
        l: usize,
        rf: &crate::model::sequential::ChainRFwd,
        rdy: &Tensor,
        b: usize,
        need_dx: bool,
    ) -> Result<Tensor> {
        let wh = self.whole()?;
        let r = self.chain.tensor_range(l);
        let out = self.chain.layers()[l].r_backward(RBack {
            w: &self.w[r],
            x: &wh.fwd.xs[l],
            fwd: &wh.fwd.saved[l],
            bwd: &wh.bwd.saved[l],
            rfwd: &rf.saved[l],
            rx: None,
            v: None,
            dy: &wh.bwd.dys[l],
            rdy,
            b,
            gauss_newton: true,
            need_dx,
            want_grads: false,
        })?;
        out.rdx
            .ok_or_else(|| Error::invalid("gn_gram", "internal: no input error"))
    }

    /// Per-example parameter gradients of top-level layer `l` along the
    /// back-propagated vectors `g` (`(C·N, *out)`, row `c·N + i`): a
    /// `(C·N) × p_l` matrix, row `c·N + i` = `J_{θ,i}ᵀ g_{c·N+i}`. One
    /// single-example pass per example (on both cores).
    pub(crate) fn layer_sample_grads(&self, l: usize, g: &Tensor, c: usize) -> Result<Mat> {
        let wh = self.whole()?;
        use rayon::prelude::*;
        let n = self.n;
        let pl = self.chain.layer_len(l);
        crate::mat::check_memory(
            "gn_gram",
            || format!("the per-example gradients of layer {l} ({} × {pl})", c * n),
            8.0 * (c * n) as f64 * pl as f64 * 2.0,
            "use fewer examples (data.take(n))",
        )?;
        let layer = &self.chain.layers()[l];
        let r = self.chain.tensor_range(l);
        let w = &self.w[r];
        let out_dims = g.dims()[1..].to_vec();
        let per: usize = out_dims.iter().product();
        let g3 = g.reshape((c, n, per))?;
        let rows: Vec<Result<Vec<f64>>> = (0..n)
            .into_par_iter()
            .map(|i| -> Result<Vec<f64>> {
                crate::progress::check_interrupt("gn_gram")?;
                let xi = wh.fwd.xs[l].narrow(0, i, 1)?;
                let f = layer.forward(w, &xi)?;
                let dyi = wh.bwd.dys[l].narrow(0, i, 1)?;
                let bk = layer.backward_errors(w, &xi, &f.saved, &dyi, false)?;
                let rfw = layer.r_forward(w, &xi, &f.saved, None, None, c)?;
                let mut dims = vec![c];
                dims.extend_from_slice(&out_dims);
                let gi = g3.narrow(1, i, 1)?.contiguous()?.reshape(dims)?;
                let out = layer.r_backward(RBack {
                    w,
                    x: &xi,
                    fwd: &f.saved,
                    bwd: &bk.saved,
                    rfwd: &rfw.saved,
                    rx: None,
                    v: None,
                    dy: &dyi,
                    rdy: &gi,
                    b: c,
                    gauss_newton: true,
                    need_dx: false,
                    want_grads: true,
                })?;
                let parts: Vec<Tensor> = out
                    .rgrads
                    .iter()
                    .map(|t| {
                        let cnt = t.elem_count() / c;
                        t.reshape((c, cnt))
                    })
                    .collect::<candle_core::Result<_>>()?;
                let cat = Tensor::cat(&parts, 1)?;
                Ok(cat.flatten_all()?.to_vec1::<f64>()?)
            })
            .collect();
        let mut out = Mat::zeros(c * n, pl);
        for (i, row) in rows.into_iter().enumerate() {
            let row = row?;
            if row.len() != c * pl {
                return Err(Error::invalid(
                    "gn_gram",
                    format!(
                        "internal: layer {l} gave {} gradient entries, expected {}",
                        row.len(),
                        c * pl
                    ),
                ));
            }
            for cc in 0..c {
                out.data_mut()[(cc * n + i) * pl..(cc * n + i + 1) * pl]
                    .copy_from_slice(&row[cc * pl..(cc + 1) * pl]);
            }
        }
        Ok(out)
    }

    /// `V·Q` for the columns of `q` (`(C·N) × b`): a `b × P` matrix whose
    /// row j is `Σ_{c,i} q[c·N+i, j] v_{i,c}` (one backward pass with b
    /// directions).
    pub(crate) fn gn_combine(&self, q: &Mat) -> Result<Mat> {
        let wh = self.whole()?;
        let c = self.outputs()?;
        let n = self.n;
        let b = q.cols();
        if q.rows() != c * n {
            return Err(Error::shape(
                "gn_gram",
                format!("{} rows (N·C)", c * n),
                q.rows().to_string(),
            ));
        }
        let u = self.gn_factors()?.flatten_all()?.to_vec1::<f64>()?;
        // rdy[j·N + i] = Σ_c q[c·N + i, j] u[c·N + i].
        let mut rdy = vec![0.0f64; b * n * c];
        for j in 0..b {
            for cc in 0..c {
                for i in 0..n {
                    let w = q.at(cc * n + i, j);
                    if w == 0.0 {
                        continue;
                    }
                    let src = &u[(cc * n + i) * c..(cc * n + i + 1) * c];
                    let dst = &mut rdy[(j * n + i) * c..(j * n + i + 1) * c];
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += w * s;
                    }
                }
            }
        }
        let rdy = Tensor::from_vec(rdy, (b * n, c), &Device::Cpu)?;
        let rf = self
            .chain
            .r_forward(&self.w, &wh.fwd, 0, None, None, b, None)?;
        let (_, rgrads) = self.chain.r_backward(
            &self.w, &wh.fwd, &wh.bwd, &rf, 0, None, rdy, b, true, false, true,
        )?;
        super::rows_of("gn_gram", rgrads, b, self.p)
    }

    /// V itself, as its transpose: a `(C·N) × P` matrix, row `c·N + i` =
    /// `v_{i,c}` (one single-example pass per example; for small nets and
    /// tests).
    pub(crate) fn gn_factor_rows(&self) -> Result<Mat> {
        let wh = self.whole()?;
        let c = self.outputs()?;
        let n = self.n;
        let p = self.p;
        crate::mat::check_memory(
            "class_decomposition",
            || format!("the {} × {p} matrix V", c * n),
            8.0 * (c * n) as f64 * p as f64,
            "leave out `matrices: true` (the spectra never need V)",
        )?;
        let u = self.gn_factors()?.reshape((c, n, c))?;
        let mut out = Mat::zeros(c * n, p);
        let delta = &wh.bwd.dys[wh.bwd.dys.len() - 1];
        for i in 0..n {
            crate::progress::check_interrupt("class_decomposition")?;
            let xi = wh.fwd.xs[0].narrow(0, i, 1)?;
            let f = self.chain.forward(&self.w, &xi)?;
            let dyi = delta.narrow(0, i, 1)?;
            let bw = self.chain.backward(&self.w, &f, dyi, false, false)?;
            let rf = self.chain.r_forward(&self.w, &f, 0, None, None, c, None)?;
            let ui = u.narrow(1, i, 1)?.contiguous()?.reshape((c, c))?;
            let (_, rgrads) = self
                .chain
                .r_backward(&self.w, &f, &bw, &rf, 0, None, ui, c, true, false, true)?;
            let mut off = 0;
            for t in rgrads {
                let cnt = t.elem_count() / c;
                let vals = t.flatten_all()?.to_vec1::<f64>()?;
                for cc in 0..c {
                    out.data_mut()[(cc * n + i) * p + off..(cc * n + i) * p + off + cnt]
                        .copy_from_slice(&vals[cc * cnt..(cc + 1) * cnt]);
                }
                off += cnt;
            }
        }
        Ok(out)
    }
}

/// `m += rows · rowsᵀ` (faer, both cores).
fn add_gram(m: &mut Mat, rows: &Mat) -> Result<()> {
    let (r, k) = rows.shape();
    if m.rows() != r || m.cols() != r {
        return Err(Error::invalid("gn_gram", "internal: Gram size mismatch"));
    }
    let a = MatRef::from_row_major_slice(rows.data(), r, k);
    let mut out = faer::Mat::<f64>::zeros(r, r);
    matmul(
        out.as_mut(),
        Accum::Replace,
        a,
        a.transpose(),
        1.0,
        Par::rayon(0),
    );
    for i in 0..r {
        let row = &mut m.data_mut()[i * r..(i + 1) * r];
        for (j, v) in row.iter_mut().enumerate() {
            // Symmetric to the last bit: average the two triangles.
            *v += 0.5 * (out[(i, j)] + out[(j, i)]);
        }
    }
    Ok(())
}

/// The Linear layer's part of `N·M`: for outputs (c, c′) the block
/// `(g_c g_{c′}ᵀ) ⊙ (X Xᵀ + bias)`, with `x` (N × d) its input and `g`
/// (C·N × h) the back-propagated vectors at its output.
#[allow(clippy::too_many_arguments)]
fn add_linear_gram(
    m: &mut Mat,
    x: &[f64],
    d: usize,
    bias: bool,
    g: &[f64],
    h: usize,
    n: usize,
    c: usize,
    op: &'static str,
) -> Result<()> {
    let nc = n * c;
    let xr = MatRef::from_row_major_slice(x, n, d);
    let mut ag = faer::Mat::<f64>::zeros(n, n);
    matmul(
        ag.as_mut(),
        Accum::Replace,
        xr,
        xr.transpose(),
        1.0,
        Par::rayon(0),
    );
    let b = if bias { 1.0 } else { 0.0 };
    let mut blk = faer::Mat::<f64>::zeros(n, n);
    for a in 0..c {
        let ga = MatRef::from_row_major_slice(&g[a * n * h..(a + 1) * n * h], n, h);
        for cb in a..c {
            crate::progress::check_interrupt(op)?;
            let gb = MatRef::from_row_major_slice(&g[cb * n * h..(cb + 1) * n * h], n, h);
            matmul(
                blk.as_mut(),
                Accum::Replace,
                ga,
                gb.transpose(),
                1.0,
                Par::rayon(0),
            );
            for i in 0..n {
                let r = a * n + i;
                for j in 0..n {
                    let v = blk[(i, j)] * (ag[(i, j)] + b);
                    m.data_mut()[r * nc + cb * n + j] += v;
                    if cb != a {
                        m.data_mut()[(cb * n + j) * nc + r] += v;
                    }
                }
            }
        }
    }
    // The diagonal blocks: make them symmetric to the last bit.
    for a in 0..c {
        for i in 0..n {
            for j in 0..i {
                let (p, q) = ((a * n + i) * nc + a * n + j, (a * n + j) * nc + a * n + i);
                let s = 0.5 * (m.data()[p] + m.data()[q]);
                m.data_mut()[p] = s;
                m.data_mut()[q] = s;
            }
        }
    }
    Ok(())
}

//! `Conv2d(in, out, kernel, stride, padding, bias)`: a 2-D convolution
//! (cross-correlation) of NCHW samples, as `torch.nn.Conv2d`.
//!
//! By im2col (`im2col.rs`) on blocks of samples: a block's columns
//! `cols` `(K, c·P)` (`K = in·kh·kw`, `P = Ho·Wo`) are made in cache and
//! every product is a GEMM with the weight as `(out, K)`; with `dyᵀ` a
//! block's output error as `(out, c·P)`:
//! - `y = W · cols (+ b)`; `gW = Σ dyᵀ · colsᵀ`; `dx = fold(Wᵀ · dyᵀ)`;
//! - `Ry = W · cols(Rx) + V · cols + vb` (a block of directions of `V` in one GEMM);
//! - `R(gW) = Σ R(dy)ᵀ · colsᵀ + Σ dyᵀ · cols(Rx)ᵀ`,
//!   `R(dx) = fold(Wᵀ R(dy)ᵀ + Vᵀ dyᵀ)`, the second terms being the
//!   second-order ones (dropped for Gauss–Newton).
//!
//! Weight gradients are summed as `gWᵀ` `(K, out)` (the faster GEMM
//! orientation), per unit of blocks, then over the units in a fixed order.

use crate::error::Result;
use crate::model::im2col::{
    batch_geom, blocking, dir_block, fold_block, from_cm, gemm, mat, mat_mut, mat_strided,
    run_blocks, split_units, tensor, to_cm, transposed, unfold_block, with_data, Block, Geom,
};
use crate::model::layer::{nothing, saved, Bwd, Fwd, Layer, RBack, RBwd, RFwd, Saved};
use crate::model::Init;
use crate::rng::Rng;
use candle_core::Tensor;

/// A 2-D convolution layer (NCHW, zero padding).
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// Input channels.
    pub in_ch: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Kernel size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding on each side `[ph, pw]`.
    pub padding: [usize; 2],
    /// Whether it has a bias.
    pub bias: bool,
}

const KIND: &str = "Conv2d";

/// Runs `f` on the values of `t`, or on `None`.
fn with_opt<R>(t: Option<&Tensor>, f: impl FnOnce(Option<&[f64]>) -> R) -> Result<R> {
    match t {
        Some(t) => with_data(t, |d| f(Some(d))),
        None => Ok(f(None)),
    }
}

/// A tensor's values as a vector.
fn values(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.flatten_all()?.to_vec1::<f64>()?)
}

/// Scratch buffers of one parallel unit, grown on demand.
#[derive(Default)]
struct Scratch {
    /// Columns of the input block.
    cx: Vec<f64>,
    /// Columns of an input R-tensor's block.
    cr: Vec<f64>,
    /// A GEMM's output.
    ca: Vec<f64>,
    /// Output errors (or their R) in channel-major layout.
    dyb: Vec<f64>,
    /// The output error in channel-major layout.
    dyo: Vec<f64>,
    /// `[Wᵀ Vⱼᵀ]`, `(K, 2·out)`.
    lhs: Vec<f64>,
    /// `[R(dy)ⱼ; dy]`, `(2·out, c·P)`.
    st: Vec<f64>,
}

/// The first `n` values of `v`, grown to at least `n`.
fn buf(v: &mut Vec<f64>, n: usize) -> &mut [f64] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

/// Sizes of one pass: batch `n`, columns `k × p` per sample, `o` output
/// channels, `plane` input values per sample.
#[derive(Clone, Copy)]
struct Dims {
    geo: Geom,
    n: usize,
    k: usize,
    p: usize,
    o: usize,
    plane: usize,
}

impl Dims {
    fn new(geo: Geom, n: usize, o: usize) -> Dims {
        Dims {
            geo,
            n,
            k: geo.k(),
            p: geo.p(),
            o,
            plane: geo.plane(),
        }
    }

    /// Unfolds block `blk` of the `j`-th batch-sized slice of `src` into `dst`.
    fn unfold(&self, src: &[f64], j: usize, blk: Block, dst: &mut Vec<f64>) -> usize {
        let (s, c) = (j * self.n + blk.s0, blk.c);
        let cp = c * self.p;
        unfold_block(
            &src[s * self.plane..(s + c) * self.plane],
            c,
            &self.geo,
            buf(dst, self.k * cp),
        );
        cp
    }

    /// For block `blk`, whose columns are in `sc.cx`: `segs[j] = Wⱼ · cols
    /// (+ bⱼ)` for the `g` weights stacked in `ws` `(g·out, K)` (biases
    /// `bs` `(g·out)`), as `(c, out, P)` at the block's place, `bj` weights
    /// per GEMM.
    #[allow(clippy::too_many_arguments)]
    fn project(
        &self,
        sc: &mut Scratch,
        ws: &[f64],
        bs: Option<&[f64]>,
        g: usize,
        bj: usize,
        segs: &mut [&mut [f64]],
        blk: Block,
    ) {
        let Dims { k, p, o, .. } = *self;
        let (c, cp) = (blk.c, blk.c * p);
        let out = blk.b0 * o * p..(blk.b0 + c) * o * p;
        for j0 in (0..g).step_by(bj.max(1)) {
            let gg = bj.min(g - j0);
            let ca = buf(&mut sc.ca, gg * o * cp);
            let wj = mat(&ws[j0 * o * k..(j0 + gg) * o * k], gg * o, k);
            gemm(
                mat_mut(ca, gg * o, cp),
                false,
                wj,
                mat(&sc.cx[..k * cp], k, cp),
            );
            for (jj, cj) in ca.chunks(o * cp).enumerate() {
                let j = j0 + jj;
                let bias = bs.map(|bv| &bv[j * o..(j + 1) * o]);
                from_cm(cj, c, o, p, bias, &mut segs[j][out.clone()], false);
            }
        }
    }

    /// The output-shaped values of block `blk` of the `j`-th batch-sized
    /// slice of `src`, channel-major into `dst` `(out, c·P)`.
    fn outs_cm(&self, src: &[f64], j: usize, blk: Block, dst: &mut [f64]) {
        let (s, c, op) = (j * self.n + blk.s0, blk.c, self.o * self.p);
        to_cm(&src[s * op..(s + c) * op], c, self.o, self.p, dst);
    }
}

/// What the backward R-pass reads, as slices.
struct RBackData<'a> {
    d: Dims,
    b: usize,
    /// Directions per GEMM.
    bj: usize,
    w: &'a [f64],
    /// The weight directions when their second-order term `Vᵀ dy` is wanted.
    v: Option<&'a [f64]>,
    x: &'a [f64],
    dy: &'a [f64],
    rdy: &'a [f64],
    /// The input direction when its second-order term `dy · cols(Rx)ᵀ` is wanted.
    rx: Option<&'a [f64]>,
    want_grads: bool,
    need_dx: bool,
}

impl RBackData<'_> {
    /// One block: adds its `R(gWᵀ)` `(K, b·out)` and `R(gb)` `(b·out)` to
    /// `part`, folds its `R(dx)` into `segs[j]`.
    fn block(&self, sc: &mut Scratch, part: &mut [f64], segs: &mut [&mut [f64]], blk: Block) {
        let Dims { k, o, plane, .. } = self.d;
        let (b, c) = (self.b, blk.c);
        let cp = c * self.d.p;
        if self.rx.is_some() || self.v.is_some() {
            self.d.outs_cm(self.dy, 0, blk, buf(&mut sc.dyo, o * cp));
        }
        if self.want_grads {
            self.d.unfold(self.x, 0, blk, &mut sc.cx);
        }
        let (gw, gb) = part.split_at_mut(if self.want_grads { b * o * k } else { 0 });
        for j0 in (0..b).step_by(self.bj) {
            let g = self.bj.min(b - j0);
            // R(dy) of g directions, channel-major: (g·out, c·P).
            let dyb = buf(&mut sc.dyb, g * o * cp);
            for (jj, d) in dyb.chunks_mut(o * cp).enumerate() {
                self.d.outs_cm(self.rdy, j0 + jj, blk, d);
            }
            if self.want_grads {
                for (s, row) in gb[j0 * o..(j0 + g) * o].iter_mut().zip(dyb.chunks(cp)) {
                    *s += row.iter().sum::<f64>();
                }
                // Columns j0·out.. of gWᵀ += cols · R(dy)ᵀᵀ.
                let dst = mat_strided(&mut gw[j0 * o..], k, g * o, b * o);
                let cx = mat(&sc.cx[..k * cp], k, cp);
                gemm(dst, true, cx, mat(dyb, g * o, cp).transpose());
            }
            if self.need_dx {
                for (jj, d) in dyb.chunks(o * cp).enumerate() {
                    let j = j0 + jj;
                    let ca = buf(&mut sc.ca, k * cp);
                    match self.v {
                        Some(vd) => {
                            // [Wᵀ Vⱼᵀ] · [R(dy)ⱼ; dy] as one GEMM.
                            let vj = &vd[j * o * k..(j + 1) * o * k];
                            let lhs = buf(&mut sc.lhs, k * 2 * o);
                            for (r, row) in lhs.chunks_mut(2 * o).enumerate() {
                                for oo in 0..o {
                                    row[oo] = self.w[oo * k + r];
                                    row[o + oo] = vj[oo * k + r];
                                }
                            }
                            let st = buf(&mut sc.st, 2 * o * cp);
                            st[..o * cp].copy_from_slice(d);
                            st[o * cp..].copy_from_slice(&sc.dyo[..o * cp]);
                            gemm(
                                mat_mut(ca, k, cp),
                                false,
                                mat(lhs, k, 2 * o),
                                mat(st, 2 * o, cp),
                            );
                        }
                        None => {
                            let wt = mat(self.w, o, k).transpose();
                            gemm(mat_mut(ca, k, cp), false, wt, mat(d, o, cp));
                        }
                    }
                    let dst = &mut segs[j][blk.b0 * plane..(blk.b0 + c) * plane];
                    fold_block(ca, c, &self.d.geo, dst);
                }
            }
        }
        if let (Some(rxd), true) = (self.rx, self.want_grads) {
            // Columns j·out.. of gWᵀ += cols(Rxⱼ) · dyᵀᵀ.
            for j in 0..b {
                self.d.unfold(rxd, j, blk, &mut sc.cr);
                let dst = mat_strided(&mut gw[j * o..], k, o, b * o);
                let dyo = mat(&sc.dyo[..o * cp], o, cp);
                gemm(dst, true, mat(&sc.cr[..k * cp], k, cp), dyo.transpose());
            }
        }
    }
}

impl Conv2d {
    /// The backward pass; without `want_grads` only the input error.
    fn backward_with(
        &self,
        w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        need_dx: bool,
        want_grads: bool,
    ) -> Result<Bwd> {
        let d = Dims::new(*saved::<Geom>(fwd, KIND)?, x.dim(0)?, self.out_ch);
        let (n, k, p, o, plane) = (d.n, d.k, d.p, d.o, d.plane);
        let plen = o * k + o;
        let (nb, unit) = blocking(n, k * p, plen);
        let wd = values(&w[0])?;
        let mut dx = vec![0.0; if need_dx { n * plane } else { 0 }];
        let tasks = split_units(&mut dx, 1, n, plane, unit);
        let g = with_data(x, |xd| {
            with_data(dy, |dyd| {
                run_blocks(
                    tasks,
                    n,
                    nb,
                    unit,
                    plen,
                    |sc: &mut Scratch, part, segs, blk| {
                        let cp = blk.c * p;
                        let dyb = buf(&mut sc.dyb, o * cp);
                        d.outs_cm(dyd, 0, blk, dyb);
                        if want_grads {
                            let (gwt, gb) = part.split_at_mut(o * k);
                            for (s, row) in gb.iter_mut().zip(dyb.chunks(cp)) {
                                *s += row.iter().sum::<f64>();
                            }
                            // gWᵀ (K, out) += cols · dyᵀᵀ.
                            d.unfold(xd, 0, blk, &mut sc.cx);
                            let cx = mat(&sc.cx[..k * cp], k, cp);
                            gemm(mat_mut(gwt, k, o), true, cx, mat(dyb, o, cp).transpose());
                        }
                        if let Some(dst) = segs.first_mut() {
                            let ca = buf(&mut sc.ca, k * cp);
                            let wt = mat(&wd, o, k).transpose();
                            gemm(mat_mut(ca, k, cp), false, wt, mat(dyb, o, cp));
                            let dst = &mut dst[blk.b0 * plane..(blk.b0 + blk.c) * plane];
                            fold_block(ca, blk.c, &d.geo, dst);
                        }
                    },
                )
            })
        })??;
        let mut grads = Vec::new();
        if want_grads {
            grads.push(tensor(transposed(&g[..o * k], k, o), &[o, k])?);
            if self.bias {
                grads.push(tensor(g[o * k..].to_vec(), &[o])?);
            }
        }
        let dx = if need_dx {
            Some(tensor(dx, x.dims())?)
        } else {
            None
        };
        Ok(Bwd {
            dx,
            grads,
            saved: nothing(),
        })
    }

    /// Rows of the columns: `in·kh·kw`.
    fn k(&self) -> usize {
        self.in_ch * self.kernel[0] * self.kernel[1]
    }

    /// The geometry over a sample `[c, h, w]`, or `(expected, got)`.
    fn geometry(&self, input: &[usize]) -> std::result::Result<Geom, (String, String)> {
        let [kh, kw] = self.kernel;
        let [ph, pw] = self.padding;
        let wrong = || {
            (
                format!("an input of shape [{}, h, w]", self.in_ch),
                format!("shape {input:?}"),
            )
        };
        let &[c, h, w] = input else {
            return Err(wrong());
        };
        if c != self.in_ch {
            return Err(wrong());
        }
        if self.kernel.contains(&0) || self.stride.contains(&0) {
            return Err((
                "a kernel size and stride of at least 1".into(),
                format!("kernel_size={:?}, stride={:?}", self.kernel, self.stride),
            ));
        }
        Geom::new([c, h, w], self.kernel, self.stride, self.padding).ok_or_else(|| {
            if ph == 0 && pw == 0 {
                (
                    format!("an input of at least {kh}×{kw}"),
                    format!("shape {input:?}"),
                )
            } else {
                (
                    format!("an input of at least {kh}×{kw} after padding ({ph}, {pw})"),
                    format!(
                        "shape {input:?} ({}×{} padded)",
                        h.saturating_add(2 * ph),
                        w.saturating_add(2 * pw)
                    ),
                )
            }
        })
    }
}

impl Layer for Conv2d {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn describe(&self) -> String {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [ph, pw] = self.padding;
        let mut s = format!(
            "Conv2d({}, {}, kernel_size=({kh}, {kw}), stride=({sh}, {sw})",
            self.in_ch, self.out_ch
        );
        if ph != 0 || pw != 0 {
            s += &format!(", padding=({ph}, {pw})");
        }
        if !self.bias {
            s += ", bias=False";
        }
        s + ")"
    }

    fn out_shape(&self, input: &[usize]) -> std::result::Result<Vec<usize>, (String, String)> {
        let g = self.geometry(input)?;
        Ok(vec![self.out_ch, g.ho, g.wo])
    }

    fn params(&self) -> Vec<(String, Vec<usize>)> {
        let [kh, kw] = self.kernel;
        let mut p = vec![("weight".to_string(), vec![self.out_ch, self.in_ch, kh, kw])];
        if self.bias {
            p.push(("bias".to_string(), vec![self.out_ch]));
        }
        p
    }

    fn init(&self, init: Init, rng: &mut Rng, out: &mut [f64]) {
        let bound = 1.0 / (self.k().max(1) as f64).sqrt();
        for v in out {
            *v = match init {
                Init::Uniform => rng.uniform_in(-bound, bound),
                Init::Normal { std } => std * rng.normal(),
            };
        }
    }

    fn forward(&self, w: &[Tensor], x: &Tensor) -> Result<Fwd> {
        let geo = batch_geom(&self.describe(), x, |s| self.geometry(s))?;
        let d = Dims::new(geo, x.dim(0)?, self.out_ch);
        let (n, k, p, o) = (d.n, d.k, d.p, d.o);
        let (nb, unit) = blocking(n, k * p, 0);
        let wd = values(&w[0])?;
        let bias = match self.bias {
            true => Some(values(&w[1])?),
            false => None,
        };
        let mut y = vec![0.0; n * o * p];
        let tasks = split_units(&mut y, 1, n, o * p, unit);
        with_data(x, |xd| {
            run_blocks(tasks, n, nb, unit, 0, |sc: &mut Scratch, _, segs, blk| {
                d.unfold(xd, 0, blk, &mut sc.cx);
                d.project(sc, &wd, bias.as_deref(), 1, 1, segs, blk);
            })
        })?;
        Ok(Fwd {
            y: tensor(y, &[n, o, geo.ho, geo.wo])?,
            saved: Box::new(geo),
        })
    }

    fn forward_fused(
        &self,
        w: &[Tensor],
        x: &Tensor,
        v: &[Tensor],
        b: usize,
    ) -> Result<Option<(Fwd, RFwd)>> {
        // One unfold of x for y = W · cols + b and Ry = V · cols + vb.
        let geo = batch_geom(&self.describe(), x, |s| self.geometry(s))?;
        let d = Dims::new(geo, x.dim(0)?, self.out_ch);
        let (n, k, p, o) = (d.n, d.k, d.p, d.o);
        let (nb, unit) = blocking(n, k * p, 0);
        let mut ws = values(&w[0])?;
        ws.extend(values(&v[0])?);
        let bs = match self.bias {
            true => {
                let mut bs = values(&w[1])?;
                bs.extend(values(&v[1])?);
                Some(bs)
            }
            false => None,
        };
        let mut y = vec![0.0; n * o * p];
        let mut ry = vec![0.0; b * n * o * p];
        let mut tasks = split_units(&mut y, 1, n, o * p, unit);
        for (t, r) in tasks
            .iter_mut()
            .zip(split_units(&mut ry, b, n, o * p, unit))
        {
            t.extend(r);
        }
        let bj = dir_block(b + 1, o * nb * p);
        with_data(x, |xd| {
            run_blocks(tasks, n, nb, unit, 0, |sc: &mut Scratch, _, segs, blk| {
                d.unfold(xd, 0, blk, &mut sc.cx);
                d.project(sc, &ws, bs.as_deref(), b + 1, bj, segs, blk);
            })
        })?;
        Ok(Some((
            Fwd {
                y: tensor(y, &[n, o, geo.ho, geo.wo])?,
                saved: Box::new(geo),
            },
            RFwd {
                ry: Some(tensor(ry, &[b * n, o, geo.ho, geo.wo])?),
                saved: nothing(),
            },
        )))
    }

    fn backward(
        &self,
        w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        need_dx: bool,
    ) -> Result<Bwd> {
        self.backward_with(w, x, fwd, dy, need_dx, true)
    }

    fn backward_errors(
        &self,
        w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        need_dx: bool,
    ) -> Result<Bwd> {
        self.backward_with(w, x, fwd, dy, need_dx, false)
    }

    fn r_forward(
        &self,
        w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        rx: Option<&Tensor>,
        v: Option<&[Tensor]>,
        b: usize,
    ) -> Result<RFwd> {
        if rx.is_none() && v.is_none() {
            return Ok(RFwd {
                ry: None,
                saved: nothing(),
            });
        }
        let d = Dims::new(*saved::<Geom>(fwd, KIND)?, x.dim(0)?, self.out_ch);
        let (n, k, p, o) = (d.n, d.k, d.p, d.o);
        let (nb, unit) = blocking(n, k * p, 0);
        let bj = dir_block(b, o * nb * p);
        let wd = values(&w[0])?;
        let vd = v.map(|v| values(&v[0])).transpose()?;
        let vb = match (v, self.bias) {
            (Some(v), true) => Some(values(&v[1])?),
            _ => None,
        };
        let mut ry = vec![0.0; b * n * o * p];
        let tasks = split_units(&mut ry, b, n, o * p, unit);
        with_data(x, |xd| {
            with_opt(rx, |rxd| {
                run_blocks(tasks, n, nb, unit, 0, |sc: &mut Scratch, _, segs, blk| {
                    let cp = blk.c * p;
                    let out = blk.b0 * o * p..(blk.b0 + blk.c) * o * p;
                    if let Some(vd) = &vd {
                        // V · cols (+ vb), bj directions per GEMM.
                        d.unfold(xd, 0, blk, &mut sc.cx);
                        d.project(sc, vd, vb.as_deref(), b, bj, segs, blk);
                    }
                    if let Some(rxd) = rxd {
                        // W · cols(Rxⱼ), added.
                        for (j, seg) in segs.iter_mut().enumerate() {
                            d.unfold(rxd, j, blk, &mut sc.cr);
                            let ca = buf(&mut sc.ca, o * cp);
                            let cr = mat(&sc.cr[..k * cp], k, cp);
                            gemm(mat_mut(ca, o, cp), false, mat(&wd, o, k), cr);
                            from_cm(ca, blk.c, o, p, None, &mut seg[out.clone()], vd.is_some());
                        }
                    }
                })
            })
        })??;
        Ok(RFwd {
            ry: Some(tensor(ry, &[b * n, o, d.geo.ho, d.geo.wo])?),
            saved: nothing(),
        })
    }

    fn r_backward(&self, a: RBack<'_>) -> Result<RBwd> {
        let d = Dims::new(*saved::<Geom>(a.fwd, KIND)?, a.x.dim(0)?, self.out_ch);
        let (b, n, k, p, o, plane) = (a.b, d.n, d.k, d.p, d.o, d.plane);
        let plen = if a.want_grads { b * (o * k + o) } else { 0 };
        let (nb, unit) = blocking(n, k * p, plen);
        let wd = values(&a.w[0])?;
        // The weight directions, when their second-order term is wanted.
        let vd = match (a.gauss_newton, a.need_dx, a.v) {
            (false, true, Some(v)) => Some(values(&v[0])?),
            _ => None,
        };
        let rx = match (a.gauss_newton, a.want_grads) {
            (false, true) => a.rx,
            _ => None,
        };
        let mut rdx = vec![0.0; if a.need_dx { b * n * plane } else { 0 }];
        let tasks = split_units(&mut rdx, b, n, plane, unit);
        let g = with_data(a.x, |xd| {
            with_data(a.dy, |dyd| {
                with_data(a.rdy, |rdyd| {
                    with_opt(rx, |rxd| {
                        let data = RBackData {
                            d,
                            b,
                            bj: dir_block(b, o * nb * p),
                            w: &wd,
                            v: vd.as_deref(),
                            x: xd,
                            dy: dyd,
                            rdy: rdyd,
                            rx: rxd,
                            want_grads: a.want_grads,
                            need_dx: a.need_dx,
                        };
                        run_blocks(
                            tasks,
                            n,
                            nb,
                            unit,
                            plen,
                            |sc: &mut Scratch, part, segs, blk| data.block(sc, part, segs, blk),
                        )
                    })
                })
            })
        })????;
        let mut rgrads = Vec::new();
        if a.want_grads {
            rgrads.push(tensor(transposed(&g[..b * o * k], k, b * o), &[b, o * k])?);
            if self.bias {
                rgrads.push(tensor(g[b * o * k..].to_vec(), &[b, o])?);
            }
        }
        let rdx = if a.need_dx {
            let mut shape = a.x.dims().to_vec();
            shape[0] = b * n;
            Some(tensor(rdx, &shape)?)
        } else {
            None
        };
        Ok(RBwd { rdx, rgrads })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::im2col::testing::{check_all, data, flat, lin, net, tanh};
    use crate::model::pointwise::Pointwise;
    use crate::model::sigmoid::Sigmoid;
    use crate::model::{LossKind, NetOpts, Network};
    use std::sync::Arc;

    fn conv(
        i: usize,
        o: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        bias: bool,
    ) -> Conv2d {
        Conv2d {
            in_ch: i,
            out_ch: o,
            kernel,
            stride,
            padding,
            bias,
        }
    }

    fn arc(c: Conv2d) -> Arc<dyn Layer> {
        Arc::new(c)
    }

    /// A direct loop over output positions and the kernel: `(N, out, ho, wo)` flat.
    fn naive(l: &Conv2d, p: &[f64], x: &[f64], n: usize, h: usize, w: usize) -> Vec<f64> {
        let ([kh, kw], [sh, sw], [ph, pw]) = (l.kernel, l.stride, l.padding);
        let (ci, co) = (l.in_ch, l.out_ch);
        let ho = (h + 2 * ph - kh) / sh + 1;
        let wo = (w + 2 * pw - kw) / sw + 1;
        let nw = co * ci * kh * kw;
        let mut y = Vec::new();
        for s in 0..n {
            for o in 0..co {
                for oh in 0..ho {
                    for ow in 0..wo {
                        let mut acc = if l.bias { p[nw + o] } else { 0.0 };
                        for c in 0..ci {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let yy = (oh * sh + i) as isize - ph as isize;
                                    let xx = (ow * sw + j) as isize - pw as isize;
                                    if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                                        continue;
                                    }
                                    let xv = x[((s * ci + c) * h + yy as usize) * w + xx as usize];
                                    acc += p[((o * ci + c) * kh + i) * kw + j] * xv;
                                }
                            }
                        }
                        y.push(acc);
                    }
                }
            }
        }
        y
    }

    fn configs() -> Vec<(Conv2d, [usize; 3])> {
        vec![
            (conv(2, 3, [3, 3], [1, 1], [0, 0], true), [2, 5, 5]),
            (conv(1, 2, [3, 3], [2, 2], [0, 0], true), [1, 7, 8]),
            (conv(2, 2, [3, 2], [2, 1], [1, 2], true), [2, 5, 4]),
            (conv(3, 2, [2, 3], [1, 3], [2, 1], false), [3, 4, 6]),
            (conv(1, 3, [5, 5], [1, 1], [1, 1], true), [1, 3, 3]),
            (conv(2, 2, [1, 1], [2, 2], [0, 0], false), [2, 5, 5]),
        ]
    }

    #[test]
    fn forward_and_loss_match_a_naive_loop() {
        for (i, (l, shape)) in configs().into_iter().enumerate() {
            let out = l.out_shape(&shape).unwrap();
            let k = numel_of(&out);
            let n = 3;
            let m = net(
                vec![arc(l.clone()), flat()],
                &shape,
                LossKind::Mse,
                i as u64,
            );
            let d = data(n, &shape, k, 10 + i as u64);
            let f = m.predict(d.x()).unwrap();
            let want = naive(&l, m.params(), d.x().data(), n, shape[1], shape[2]);
            assert_eq!(f.data().len(), want.len());
            for (a, b) in f.data().iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{}: {a} vs {b}", l.describe());
            }
            let labels = d.labels().unwrap();
            let mut loss = 0.0;
            for s in 0..n {
                for j in 0..k {
                    let t = if labels[s] == j { 1.0 } else { 0.0 };
                    loss += 0.5 * (want[s * k + j] - t).powi(2);
                }
            }
            loss /= n as f64;
            assert!((m.loss(&d).unwrap() - loss).abs() < 1e-12);
        }
    }

    fn numel_of(s: &[usize]) -> usize {
        s.iter().product()
    }

    #[test]
    fn gradient_and_curvature_of_one_conv_match_differences() {
        // stride 1, no padding; then stride 2 with padding, non-square, no bias.
        let m = net(
            vec![
                arc(conv(2, 3, [3, 3], [1, 1], [0, 0], true)),
                tanh(),
                flat(),
                lin(27, 3),
            ],
            &[2, 5, 5],
            LossKind::CrossEntropy,
            1,
        );
        check_all(&m, &data(6, &[2, 5, 5], 3, 2));
        let m = net(
            vec![
                arc(conv(1, 2, [3, 2], [2, 1], [1, 0], false)),
                tanh(),
                flat(),
                lin(24, 3),
            ],
            &[1, 6, 5],
            LossKind::Mse,
            3,
        );
        check_all(&m, &data(5, &[1, 6, 5], 3, 4));
    }

    #[test]
    fn gradient_and_curvature_of_stacked_convs_match_differences() {
        // The second conv gets an input direction: its second-order terms count.
        let m = net(
            vec![
                arc(conv(1, 2, [3, 2], [2, 1], [1, 0], false)),
                Arc::new(Pointwise(Sigmoid)),
                arc(conv(2, 3, [2, 2], [1, 2], [1, 1], true)),
                flat(),
                lin(36, 3),
            ],
            &[1, 6, 5],
            LossKind::Mse,
            5,
        );
        check_all(&m, &data(5, &[1, 6, 5], 3, 6));
        // Two convs in a row (bilinear in the two weights), stride 2 + padding.
        let m = net(
            vec![
                arc(conv(2, 2, [2, 2], [1, 1], [0, 0], true)),
                arc(conv(2, 2, [2, 2], [2, 2], [1, 1], true)),
                tanh(),
                flat(),
                lin(18, 3),
            ],
            &[2, 5, 5],
            LossKind::CrossEntropy,
            7,
        );
        check_all(&m, &data(4, &[2, 5, 5], 3, 8));
    }

    #[test]
    fn describes_itself_and_initialises_like_pytorch() {
        let l = conv(1, 4, [5, 5], [1, 1], [0, 0], true);
        assert_eq!(
            l.describe(),
            "Conv2d(1, 4, kernel_size=(5, 5), stride=(1, 1))"
        );
        assert_eq!(
            conv(2, 3, [3, 2], [2, 1], [1, 0], false).describe(),
            "Conv2d(2, 3, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), bias=False)"
        );
        assert_eq!(l.kind(), "Conv2d");
        assert_eq!(
            l.params(),
            vec![
                ("weight".to_string(), vec![4, 1, 5, 5]),
                ("bias".to_string(), vec![4])
            ]
        );
        assert_eq!(l.out_shape(&[1, 28, 28]), Ok(vec![4, 24, 24]));
        assert_eq!(
            conv(2, 3, [3, 2], [2, 3], [1, 2], false).out_shape(&[2, 7, 9]),
            Ok(vec![3, (7 + 2 - 3) / 2 + 1, (9 + 4 - 2) / 3 + 1])
        );
        // U(−1/√fan_in, 1/√fan_in) with fan_in = in·kh·kw, weight then bias.
        let l = conv(2, 3, [3, 2], [1, 1], [0, 0], true);
        let mut out = vec![0.0; 3 * 12 + 3];
        l.init(Init::Uniform, &mut Rng::new(4), &mut out);
        let mut r = Rng::new(4);
        let bound = 1.0 / 12f64.sqrt();
        for v in &out {
            assert_eq!(*v, r.uniform_in(-bound, bound));
        }
        assert!(out.iter().all(|v| v.abs() <= bound));
        let mut out2 = vec![0.0; 39];
        l.init(Init::Normal { std: 0.1 }, &mut Rng::new(4), &mut out2);
        let mut r = Rng::new(4);
        assert!(out2.iter().all(|v| *v == 0.1 * r.normal()));
    }

    #[test]
    fn bad_shapes_are_errors() {
        let build = |l: Conv2d, input: &[usize]| {
            Network::new(
                vec![arc(l), flat()],
                &NetOpts {
                    input: Some(input.to_vec()),
                    ..NetOpts::default()
                },
            )
            .unwrap_err()
            .to_string()
        };
        let e = build(conv(1, 4, [5, 5], [1, 1], [0, 0], true), &[1, 4, 4]);
        assert!(
            e.contains("at least 5×5") && e.contains("got shape [1, 4, 4]"),
            "{e}"
        );
        let e = build(conv(1, 4, [5, 5], [1, 1], [1, 0], true), &[1, 2, 9]);
        assert!(
            e.contains("at least 5×5 after padding (1, 0)") && e.contains("4×9 padded"),
            "{e}"
        );
        let e = build(conv(3, 4, [3, 3], [1, 1], [0, 0], true), &[1, 6, 6]);
        assert!(
            e.contains("Conv2d(3, 4")
                && e.contains("an input of shape [3, h, w]")
                && e.contains("got shape [1, 6, 6]"),
            "{e}"
        );
        let e = build(conv(1, 4, [3, 3], [1, 1], [0, 0], true), &[36]);
        assert!(e.contains("got shape [36]"), "{e}");
        let e = build(conv(1, 4, [3, 3], [0, 1], [0, 0], true), &[1, 6, 6]);
        assert!(e.contains("at least 1"), "{e}");
        // Data of the wrong shape for a net without a declared input.
        let m = Network::new(
            vec![arc(conv(2, 2, [3, 3], [1, 1], [0, 0], true)), flat()],
            &NetOpts::default(),
        )
        .unwrap();
        let e = m.loss(&data(2, &[1, 5, 5], 3, 1)).unwrap_err().to_string();
        assert!(e.contains("shape [2, h, w]"), "{e}");
        // The layer itself refuses a batch of the wrong shape.
        let l = conv(2, 2, [3, 3], [1, 1], [0, 0], true);
        let x = Tensor::zeros(
            (2, 1, 5, 5),
            candle_core::DType::F64,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let w = [
            Tensor::zeros(
                (2, 2, 3, 3),
                candle_core::DType::F64,
                &candle_core::Device::Cpu,
            )
            .unwrap(),
            Tensor::zeros(2, candle_core::DType::F64, &candle_core::Device::Cpu).unwrap(),
        ];
        assert!(l.forward(&w, &x).is_err());
    }
}

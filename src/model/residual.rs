//! `Residual([layers…])`: `y = x + f(x)` with `f` the layers in sequence;
//! its layers are numbered inside it as PyTorch numbers the children of an
//! `nn.Sequential` subclass (`3.0.weight`). The body must keep the shape.

use crate::error::{Error, Result};
use crate::model::layer::{saved, Bwd, Fwd, Layer, RBack, RBwd, RFwd, Saved};
use crate::model::sequential::{Chain, ChainBwd, ChainFwd, ChainRFwd};
use crate::model::Init;
use crate::rng::Rng;
use candle_core::Tensor;

/// A residual block.
#[derive(Clone, Debug)]
pub struct Residual {
    /// The body f.
    pub body: Chain,
}

impl Residual {
    /// `dx = dy + J_fᵀ dy`, the body's gradients when `want_grads`; keeps
    /// the body's errors for the R-pass.
    fn backward_with(
        &self,
        w: &[Tensor],
        fwd: &Saved,
        dy: &Tensor,
        want_grads: bool,
    ) -> Result<Bwd> {
        let f = saved::<ChainFwd>(fwd, "Residual")?;
        let bw = self.body.backward(w, f, dy.clone(), true, want_grads)?;
        let inner = bw
            .dx
            .as_ref()
            .ok_or_else(|| Error::invalid("grad", "internal: residual body gave no input error"))?;
        Ok(Bwd {
            dx: Some(dy.add(inner)?),
            grads: bw.grads.clone(),
            saved: Box::new(bw),
        })
    }
}

impl Layer for Residual {
    fn kind(&self) -> &'static str {
        "Residual"
    }

    fn describe(&self) -> String {
        let inner: Vec<String> = self.body.layers().iter().map(|l| l.describe()).collect();
        format!("Residual([{}])", inner.join(", "))
    }

    fn out_shape(&self, input: &[usize]) -> std::result::Result<Vec<usize>, (String, String)> {
        let out = self.body.out_shape("net", "", input).map_err(|e| match e {
            Error::Shape { expected, got, .. } => (format!("inside it: {expected}"), got),
            other => ("a valid body".to_string(), other.to_string()),
        })?;
        if out != input {
            return Err((
                format!("a body that keeps the shape {input:?} (x + f(x))"),
                format!("a body whose output has shape {out:?}"),
            ));
        }
        Ok(out)
    }

    fn params(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        for (i, l) in self.body.layers().iter().enumerate() {
            for (name, shape) in l.params() {
                out.push((format!("{i}.{name}"), shape));
            }
        }
        out
    }

    fn init(&self, init: Init, rng: &mut Rng, out: &mut [f64]) {
        let mut off = 0;
        for (i, l) in self.body.layers().iter().enumerate() {
            let n = self.body.layer_len(i);
            l.init(init, rng, &mut out[off..off + n]);
            off += n;
        }
    }

    fn children(&self) -> Option<&Chain> {
        Some(&self.body)
    }

    fn forward(&self, w: &[Tensor], x: &Tensor) -> Result<Fwd> {
        let f = self.body.forward(w, x)?;
        Ok(Fwd {
            y: x.add(f.output())?,
            saved: Box::new(f),
        })
    }

    fn backward(
        &self,
        w: &[Tensor],
        _x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        _need_dx: bool,
    ) -> Result<Bwd> {
        self.backward_with(w, fwd, dy, true)
    }

    fn backward_errors(
        &self,
        w: &[Tensor],
        _x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        _need_dx: bool,
    ) -> Result<Bwd> {
        self.backward_with(w, fwd, dy, false)
    }

    fn r_forward(
        &self,
        w: &[Tensor],
        _x: &Tensor,
        fwd: &Saved,
        rx: Option<&Tensor>,
        v: Option<&[Tensor]>,
        b: usize,
    ) -> Result<RFwd> {
        let f = saved::<ChainFwd>(fwd, "Residual")?;
        let rf = self.body.r_forward(w, f, 0, rx.cloned(), v, b, None)?;
        let inner = rf.rxs[rf.rxs.len() - 1].clone();
        let ry = match (rx, inner) {
            (Some(a), Some(c)) => Some(a.add(&c)?),
            (Some(a), None) => Some(a.clone()),
            (None, c) => c,
        };
        Ok(RFwd {
            ry,
            saved: Box::new(rf),
        })
    }

    fn r_backward(&self, a: RBack<'_>) -> Result<RBwd> {
        let f = saved::<ChainFwd>(a.fwd, "Residual")?;
        let bw = saved::<ChainBwd>(a.bwd, "Residual")?;
        let rf = saved::<ChainRFwd>(a.rfwd, "Residual")?;
        let (inner, rgrads) = self.body.r_backward(
            a.w,
            f,
            bw,
            rf,
            0,
            a.v,
            a.rdy.clone(),
            a.b,
            a.gauss_newton,
            true,
            a.want_grads,
        )?;
        let rdx = match inner {
            Some(d) => a.rdy.add(&d)?,
            None => a.rdy.clone(),
        };
        Ok(RBwd {
            rdx: Some(rdx),
            rgrads,
        })
    }
}

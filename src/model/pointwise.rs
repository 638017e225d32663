//! Elementwise activations as layers: `y = σ(x)` with `σ'` and `σ''` kept
//! from the forward pass. One implementation of the layer products serves
//! every activation; each activation's file only says σ, σ' and σ''.

use crate::error::Result;
use crate::model::kernels;
use crate::model::layer::{nothing, rmul, saved, Bwd, Fwd, Layer, RBack, RBwd, RFwd, Saved};
use candle_core::{Device, Tensor};
use std::fmt::Debug;

/// An elementwise function with its first two derivatives.
pub trait Activation: Debug + Send + Sync + 'static {
    /// The module name (`"ReLU"`).
    fn kind(&self) -> &'static str;
    /// The description with arguments (`"LeakyReLU(0.1)"`).
    fn describe(&self) -> String {
        format!("{}()", self.kind())
    }
    /// `(σ(x), σ'(x), σ''(x))`, the last `None` where it is zero almost everywhere.
    fn eval(&self, x: &Tensor) -> Result<(Tensor, Tensor, Option<Tensor>)>;
}

/// `(σ, σ', σ'')` of every element of `x` from a scalar function.
pub fn map3(x: &Tensor, f: impl Fn(f64) -> (f64, f64, f64)) -> Result<(Tensor, Tensor, Tensor)> {
    let xs = x.flatten_all()?.to_vec1::<f64>()?;
    let mut y = Vec::with_capacity(xs.len());
    let mut d1 = Vec::with_capacity(xs.len());
    let mut d2 = Vec::with_capacity(xs.len());
    for &v in &xs {
        let (a, b, c) = f(v);
        y.push(a);
        d1.push(b);
        d2.push(c);
    }
    let s = x.shape();
    Ok((
        Tensor::from_vec(y, s, &Device::Cpu)?,
        Tensor::from_vec(d1, s, &Device::Cpu)?,
        Tensor::from_vec(d2, s, &Device::Cpu)?,
    ))
}

/// An activation as a layer.
#[derive(Debug)]
pub struct Pointwise<A>(pub A);

/// What the forward pass keeps: σ' and σ''.
struct Derivs {
    d1: Tensor,
    d2: Option<Tensor>,
}

impl<A: Activation> Layer for Pointwise<A> {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }

    fn describe(&self) -> String {
        self.0.describe()
    }

    fn out_shape(&self, input: &[usize]) -> std::result::Result<Vec<usize>, (String, String)> {
        Ok(input.to_vec())
    }

    fn forward(&self, _w: &[Tensor], x: &Tensor) -> Result<Fwd> {
        let (y, d1, d2) = self.0.eval(x)?;
        Ok(Fwd {
            y,
            saved: Box::new(Derivs { d1, d2 }),
        })
    }

    fn backward(
        &self,
        _w: &[Tensor],
        _x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        _need_dx: bool,
    ) -> Result<Bwd> {
        let d = saved::<Derivs>(fwd, self.0.kind())?;
        // dy ⊙ σ'' for the second-order term of the R-pass.
        let second: Saved = match &d.d2 {
            Some(d2) => Box::new(dy.mul(d2)?),
            None => nothing(),
        };
        Ok(Bwd {
            dx: Some(dy.mul(&d.d1)?),
            grads: Vec::new(),
            saved: second,
        })
    }

    fn r_forward(
        &self,
        _w: &[Tensor],
        _x: &Tensor,
        fwd: &Saved,
        rx: Option<&Tensor>,
        _v: Option<&[Tensor]>,
        b: usize,
    ) -> Result<RFwd> {
        let d = saved::<Derivs>(fwd, self.0.kind())?;
        Ok(RFwd {
            ry: match rx {
                Some(rx) if kernels::on_cpu(rx) => Some(kernels::rmul_add(rx, &d.d1, None, b)?),
                Some(rx) => Some(rmul(rx, &d.d1, b)?),
                None => None,
            },
            saved: nothing(),
        })
    }

    fn r_backward(&self, a: RBack<'_>) -> Result<RBwd> {
        let d = saved::<Derivs>(a.fwd, self.0.kind())?;
        // R(dx) = R(dy) ⊙ σ' + dy ⊙ σ'' ⊙ Rx.
        let second = match (a.bwd.downcast_ref::<Tensor>(), a.rx) {
            (Some(dd), Some(rx)) if !a.gauss_newton => Some((rx, dd)),
            _ => None,
        };
        let rdx = if kernels::on_cpu(a.rdy) {
            kernels::rmul_add(a.rdy, &d.d1, second, a.b)?
        } else {
            let rdx = rmul(a.rdy, &d.d1, a.b)?;
            match second {
                Some((rx, dd)) => rdx.add(&rmul(rx, dd, a.b)?)?,
                None => rdx,
            }
        };
        Ok(RBwd {
            rdx: Some(rdx),
            rgrads: Vec::new(),
        })
    }
}

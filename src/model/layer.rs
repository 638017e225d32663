//! The [`Layer`] trait: the few products the curvature engine needs from a
//! module, after BackPACK's per-module derivatives.
//!
//! Shapes. A forward tensor holds N samples: `(N, *sample_shape)`. An
//! R-tensor (a directional derivative along b directions at once) holds
//! `(b·N, *sample_shape)`, direction-major: rows `j·N .. (j+1)·N` belong to
//! direction j. A layer's parameters arrive as tensors of their own shapes
//! (`weight`, `bias`, …); parameter directions as `(b, *shape)`.
//!
//! For a layer `y = f(x; θ)` with output error `dy = ∂L/∂y`:
//! - `forward`: y, and what the other products need (`Saved`);
//! - `backward`: `dx = J_xᵀ dy` and `gθ = J_θᵀ dy` (summed over samples);
//! - `r_forward`: `Ry = J_x Rx + J_θ vθ`;
//! - `r_backward`: `R(dx)` and `R(gθ)` given `R(dy)`: the transposed
//!   Jacobians applied to `R(dy)`, plus — unless `gauss_newton` — the
//!   second-order terms `(∂²y/∂(x,θ)² · (Rx, vθ))ᵀ dy` that the
//!   Gauss–Newton product drops (zero for layers linear in their input and
//!   parameters jointly, such as pooling and flattening).

use crate::error::{Error, Result};
use crate::model::Init;
use crate::rng::Rng;
use candle_core::Tensor;
use std::any::Any;
use std::fmt::Debug;

/// What a layer keeps from one pass for the next ones.
pub type Saved = Box<dyn Any + Send + Sync>;

/// An empty [`Saved`].
pub fn nothing() -> Saved {
    Box::new(())
}

/// The result of [`Layer::forward`].
pub struct Fwd {
    /// The output, `(N, *out_shape)`.
    pub y: Tensor,
    /// Kept for the backward and R passes.
    pub saved: Saved,
}

/// The result of [`Layer::backward`].
pub struct Bwd {
    /// `J_xᵀ dy`, `(N, *in_shape)`; `None` when not asked for.
    pub dx: Option<Tensor>,
    /// `J_θᵀ dy` per parameter tensor (any shape with its element count).
    pub grads: Vec<Tensor>,
    /// Kept for [`Layer::r_backward`] (a residual block's inner errors).
    pub saved: Saved,
}

/// The result of [`Layer::r_forward`].
pub struct RFwd {
    /// `J_x Rx + J_θ vθ`, `(b·N, *out_shape)`; `None` when it is zero.
    pub ry: Option<Tensor>,
    /// Kept for [`Layer::r_backward`].
    pub saved: Saved,
}

/// The inputs of [`Layer::r_backward`].
pub struct RBack<'a> {
    /// The layer's parameters.
    pub w: &'a [Tensor],
    /// The layer's input, `(N, *in_shape)`.
    pub x: &'a Tensor,
    /// What `forward` kept.
    pub fwd: &'a Saved,
    /// What `backward` kept.
    pub bwd: &'a Saved,
    /// What `r_forward` kept.
    pub rfwd: &'a Saved,
    /// The input's R-tensor, `None` when zero.
    pub rx: Option<&'a Tensor>,
    /// Parameter directions, `(b, *shape)` each; `None` when zero.
    pub v: Option<&'a [Tensor]>,
    /// The output error `∂L/∂y`, `(N, *out_shape)`.
    pub dy: &'a Tensor,
    /// Its R-tensor, `(b·N, *out_shape)`.
    pub rdy: &'a Tensor,
    /// Number of directions.
    pub b: usize,
    /// Drop the second-order terms (Gauss–Newton product).
    pub gauss_newton: bool,
    /// Whether `R(dx)` is needed (false for the first layer).
    pub need_dx: bool,
    /// Whether `R(gθ)` is needed (false when only the input's R-error is).
    pub want_grads: bool,
}

/// The result of [`Layer::r_backward`].
pub struct RBwd {
    /// `R(dx)`, `(b·N, *in_shape)`; `None` when not asked for.
    pub rdx: Option<Tensor>,
    /// `R(gθ)` per parameter tensor, `(b, …)` with the tensor's element
    /// count per direction; empty when not asked for.
    pub rgrads: Vec<Tensor>,
}

/// One module of a network. Parameters live in the network's flat vector;
/// a layer only describes them and computes with them.
pub trait Layer: Debug + Send + Sync {
    /// The module's name as in `torch.nn` (`"Conv2d"`).
    fn kind(&self) -> &'static str;

    /// A one-line description with its arguments, as PyTorch prints it.
    fn describe(&self) -> String;

    /// The output sample shape for an input sample shape, or
    /// `(expected, got)` describing the mismatch.
    fn out_shape(&self, input: &[usize]) -> std::result::Result<Vec<usize>, (String, String)>;

    /// Parameter tensors in PyTorch's order: local name (`"weight"`,
    /// `"0.bias"` inside a residual block) and shape.
    fn params(&self) -> Vec<(String, Vec<usize>)> {
        Vec::new()
    }

    /// Fills this layer's slice of a freshly made flat vector.
    fn init(&self, _init: Init, _rng: &mut Rng, _out: &mut [f64]) {}

    /// Whether the output is linear in the input and the parameters jointly
    /// (no second-order term: BackPACK's `hessian_is_zero`).
    fn second_order_zero(&self) -> bool {
        false
    }

    /// Scratch elements per sample and per direction that the R-pass needs
    /// beyond the output (a convolution's unfolded input); sizes R-pass
    /// blocks so they fit in memory.
    fn r_scratch(&self, _input: &[usize]) -> usize {
        0
    }

    /// Module children for naming (`Residual`'s body).
    fn children(&self) -> Option<&crate::model::sequential::Chain> {
        None
    }

    /// The forward pass.
    fn forward(&self, w: &[Tensor], x: &Tensor) -> Result<Fwd>;

    /// The forward pass of a layer that receives no input direction, fused
    /// with the parameter part of its R-pass when that is cheaper (one GEMM
    /// over `x` for `[W; V]`): `(forward, R-forward)`, or `None` when the
    /// layer has no such fusion.
    fn forward_fused(
        &self,
        _w: &[Tensor],
        _x: &Tensor,
        _v: &[Tensor],
        _b: usize,
    ) -> Result<Option<(Fwd, RFwd)>> {
        Ok(None)
    }

    /// The backward pass.
    fn backward(
        &self,
        w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        need_dx: bool,
    ) -> Result<Bwd>;

    /// The backward pass when only the errors are wanted (the curvature
    /// state keeps every layer's output error, not the gradient): may
    /// leave `grads` empty. Defaults to [`Layer::backward`].
    fn backward_errors(
        &self,
        w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        dy: &Tensor,
        need_dx: bool,
    ) -> Result<Bwd> {
        self.backward(w, x, fwd, dy, need_dx)
    }

    /// The forward R-pass.
    fn r_forward(
        &self,
        w: &[Tensor],
        x: &Tensor,
        fwd: &Saved,
        rx: Option<&Tensor>,
        v: Option<&[Tensor]>,
        b: usize,
    ) -> Result<RFwd>;

    /// The backward R-pass.
    fn r_backward(&self, a: RBack<'_>) -> Result<RBwd>;
}

/// Downcasts a [`Saved`] to what the layer stored.
pub fn saved<'a, T: 'static>(s: &'a Saved, layer: &'static str) -> Result<&'a T> {
    s.downcast_ref::<T>().ok_or_else(|| {
        Error::invalid(
            "net",
            format!("internal: {layer} got another layer's state"),
        )
    })
}

/// `r ⊙ f` for an R-tensor `r` (b·N, …) and a forward tensor `f` (N, …).
pub fn rmul(r: &Tensor, f: &Tensor, b: usize) -> Result<Tensor> {
    if b == 1 {
        return Ok(r.mul(f)?);
    }
    let per = f.elem_count();
    let rr = r.reshape((b, per))?;
    let ff = f.reshape((1, per))?;
    Ok(rr.broadcast_mul(&ff)?.reshape(r.shape())?)
}

/// Sums an R-tensor's per-direction samples: (b·N, rest…) → (b, rest…) summed over N.
pub fn rsum_samples(r: &Tensor, b: usize) -> Result<Tensor> {
    let dims = r.dims();
    let n = dims[0] / b;
    let rest: usize = dims[1..].iter().product();
    Ok(r.reshape((b, n, rest))?.sum(1)?)
}

/// The product of a shape's dimensions.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// `"[1, 28, 28]"`.
pub fn shape_str(shape: &[usize]) -> String {
    format!("{shape:?}")
}

//! `Flatten()`: a sample of any shape becomes a vector, as `torch.nn.Flatten`.

use crate::error::Result;
use crate::model::layer::{nothing, numel, Bwd, Fwd, Layer, RBack, RBwd, RFwd, Saved};
use candle_core::Tensor;

/// Flattens each sample.
#[derive(Clone, Debug)]
pub struct Flatten;

fn flat(t: &Tensor) -> Result<Tensor> {
    let rows = t.dim(0)?;
    Ok(t.reshape((rows, t.elem_count() / rows.max(1)))?)
}

/// `t` (rows, …) reshaped to `like`'s sample shape with `rows` rows.
fn unflat(t: &Tensor, like: &Tensor) -> Result<Tensor> {
    let mut shape = like.dims().to_vec();
    shape[0] = t.dim(0)?;
    Ok(t.reshape(shape)?)
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn describe(&self) -> String {
        "Flatten()".into()
    }

    fn out_shape(&self, input: &[usize]) -> std::result::Result<Vec<usize>, (String, String)> {
        Ok(vec![numel(input)])
    }

    fn second_order_zero(&self) -> bool {
        true
    }

    fn forward(&self, _w: &[Tensor], x: &Tensor) -> Result<Fwd> {
        Ok(Fwd {
            y: flat(x)?,
            saved: nothing(),
        })
    }

    fn backward(
        &self,
        _w: &[Tensor],
        x: &Tensor,
        _fwd: &Saved,
        dy: &Tensor,
        _need_dx: bool,
    ) -> Result<Bwd> {
        Ok(Bwd {
            dx: Some(unflat(dy, x)?),
            grads: Vec::new(),
            saved: nothing(),
        })
    }

    fn r_forward(
        &self,
        _w: &[Tensor],
        _x: &Tensor,
        _fwd: &Saved,
        rx: Option<&Tensor>,
        _v: Option<&[Tensor]>,
        _b: usize,
    ) -> Result<RFwd> {
        Ok(RFwd {
            ry: match rx {
                Some(r) => Some(flat(r)?),
                None => None,
            },
            saved: nothing(),
        })
    }

    fn r_backward(&self, a: RBack<'_>) -> Result<RBwd> {
        Ok(RBwd {
            rdx: Some(unflat(a.rdy, a.x)?),
            rgrads: Vec::new(),
        })
    }
}

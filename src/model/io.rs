//! Saving and loading a network's parameters: `.npy` (the flat vector) or
//! `.safetensors` with PyTorch's `state_dict` names and shapes (`0.weight`,
//! `3.0.bias`), so state dicts move between hlab and PyTorch as they are.
//! The names hlab's MLPs used before (`layers.0.weight`, counting the
//! `Linear` layers) still load.

use crate::error::{Error, Result};
use crate::model::Network;
use candle_core::{DType, Device};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// One f64 tensor for `safetensors::serialize`: its shape and values,
/// turned into little-endian bytes as they are written.
struct F64Tensor<'a> {
    shape: Vec<usize>,
    vals: &'a [f64],
}

impl safetensors::View for F64Tensor<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F64
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.vals.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        8 * self.vals.len()
    }
}

fn extension(path: &Path) -> Option<&str> {
    path.extension().and_then(|e| e.to_str())
}

impl Network {
    /// Saves the parameters: `.npy` holds the flat vector, `.safetensors`
    /// one tensor per parameter, named as PyTorch's `state_dict`.
    pub fn save_params(&self, path: &Path) -> Result<()> {
        match extension(path) {
            Some("npy") => {
                let bytes = crate::data::npy::npy_bytes(&crate::data::npy::NpyArray::Vector(
                    self.params.to_vec(),
                ));
                crate::fsio::write_atomic("save_params", path, &bytes)
            }
            Some("safetensors") => {
                crate::fsio::write_atomic("save_params", path, &self.safetensors_bytes()?)
            }
            _ => Err(Error::invalid(
                "save_params",
                format!(
                    "expected a path ending in .npy or .safetensors, got {}",
                    path.display()
                ),
            )),
        }
    }

    /// Loads parameters saved by [`Network::save_params`] or by PyTorch,
    /// checking every name and shape against this model.
    pub fn load_params(&mut self, path: &Path) -> Result<()> {
        if !path.exists() {
            return Err(Error::io("load_params", path, "no such file"));
        }
        if path.is_dir() {
            return Err(Error::io(
                "load_params",
                path,
                "is a directory, expected a file",
            ));
        }
        match extension(path) {
            Some("npy") => match crate::data::npy::read_npy(path)? {
                crate::data::npy::NpyArray::Vector(v) => {
                    self.check_vector("load_params", &v)?;
                    self.params.set(v);
                    Ok(())
                }
                crate::data::npy::NpyArray::Matrix(m) => Err(Error::shape(
                    "load_params",
                    format!("a 1-D array of {} parameters", self.params.len()),
                    format!("a {}×{} matrix", m.rows(), m.cols()),
                )),
            },
            Some("safetensors") => {
                let bytes = crate::data::read_regular_file("load_params", path, "a file")?;
                self.load_safetensors(&bytes, path)
            }
            _ => Err(Error::invalid(
                "load_params",
                format!(
                    "expected a path ending in .npy or .safetensors, got {}",
                    path.display()
                ),
            )),
        }
    }

    /// The parameters in the `.safetensors` format, serialised by the
    /// `safetensors` crate (the reference implementation): an 8-byte
    /// little-endian header length, a JSON header naming each tensor
    /// (`0.weight`, …; dtype F64, shape, byte offsets) padded with spaces to
    /// a multiple of 8, then the little-endian data (tensors ordered by
    /// name, as the crate does).
    pub fn safetensors_bytes(&self) -> Result<Vec<u8>> {
        let tensors = self
            .named_tensors()
            .into_iter()
            .map(|(name, shape, vals)| (name, F64Tensor { shape, vals }));
        safetensors::serialize(tensors, None).map_err(|e| {
            Error::invalid(
                "save_params",
                format!("expected parameters safetensors can serialise, got: {e}"),
            )
        })
    }

    /// The names hlab's MLPs saved before (`layers.{i}.weight`, `i`
    /// counting the `Linear` layers), for a network of top-level `Linear`
    /// layers and activations; `None` otherwise.
    fn legacy_names(&self) -> Option<Vec<String>> {
        let mut names = Vec::new();
        let mut li = 0;
        for (i, l) in self.chain.layers().iter().enumerate() {
            let r = self.chain.tensor_range(i);
            if r.is_empty() {
                continue;
            }
            if l.kind() != "Linear" {
                return None;
            }
            for (name, _) in &self.chain.param_shapes()[r] {
                names.push(format!("layers.{li}.{name}"));
            }
            li += 1;
        }
        Some(names)
    }

    /// Loads parameters from the bytes of a `.safetensors` file (`path` is
    /// for messages), checking every name and shape; the model is unchanged
    /// on any error. f32, f16 and bf16 tensors are widened to f64.
    pub fn load_safetensors(&mut self, bytes: &[u8], path: &Path) -> Result<()> {
        let map = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| Error::format("load_params", path, e.to_string()))?;
        let want = self.named_tensors();
        let mut names: Vec<String> = want.iter().map(|(n, _, _)| n.clone()).collect();
        if !names.iter().any(|n| map.contains_key(n)) {
            if let Some(old) = self.legacy_names() {
                if old.iter().any(|n| map.contains_key(n)) {
                    names = old;
                }
            }
        }
        let mut have: Vec<&String> = map.keys().collect();
        have.sort();
        let missing: Vec<String> = names
            .iter()
            .zip(&want)
            .filter(|(n, _)| !map.contains_key(*n))
            .map(|(n, (_, s, _))| format!("{n} {s:?}"))
            .collect();
        if !missing.is_empty() {
            return Err(Error::format(
                "load_params",
                path,
                format!(
                    "missing tensor{} {} for this model; the file has {have:?}",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", ")
                ),
            ));
        }
        let extra: Vec<&String> = have
            .iter()
            .copied()
            .filter(|h| !names.contains(h))
            .collect();
        if !extra.is_empty() {
            return Err(Error::format(
                "load_params",
                path,
                format!(
                    "unexpected tensor{} {extra:?} (this model has {names:?})",
                    if extra.len() > 1 { "s" } else { "" }
                ),
            ));
        }
        let shapes: BTreeMap<&String, &Vec<usize>> =
            names.iter().zip(want.iter().map(|(_, s, _)| s)).collect();
        let mut p = Vec::with_capacity(self.params.len());
        for name in &names {
            let t = &map[name];
            let shape = shapes[name];
            if t.dims() != shape.as_slice() {
                return Err(Error::shape(
                    "load_params",
                    format!("{name} of shape {shape:?}"),
                    format!("{:?}", t.dims()),
                ));
            }
            let vals = t
                .to_dtype(DType::F64)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f64>())
                .map_err(|e| Error::format("load_params", path, format!("{name}: {e}")))?;
            p.extend(vals);
        }
        self.check_vector("load_params", &p)?;
        self.params.set(p);
        Ok(())
    }
}

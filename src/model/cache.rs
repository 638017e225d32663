//! Passes kept across calls: a network's parameters carry the identity of
//! their values, and the curvature state (forward pass, output errors,
//! softmax) of the last data set used is kept under that identity and the
//! data set's, so script calls at fixed parameters (`hvp` in a loop,
//! `grad` then `top_eigs`) skip the forward and backward passes, and any
//! change of either is a miss.

use super::curv::CurvState;
use super::{Batch, Network};
use crate::data::Dataset;
use crate::error::Result;
use std::sync::Arc;

/// The flat parameter vector and the identity of its values: every way of
/// changing them goes through [`Params::set`] or [`Params::values_mut`],
/// which take a fresh id, so a pass cached under an id can never be used
/// with other values.
#[derive(Clone, Debug)]
pub(super) struct Params {
    v: Vec<f64>,
    pub(super) id: u64,
}

impl Params {
    pub(super) fn new(v: Vec<f64>) -> Params {
        Params {
            v,
            id: crate::data::fresh_id(),
        }
    }

    /// Replaces the values.
    pub(super) fn set(&mut self, v: Vec<f64>) {
        self.v = v;
        self.id = crate::data::fresh_id();
    }

    /// The values, to change in place.
    pub(super) fn values_mut(&mut self) -> &mut [f64] {
        self.id = crate::data::fresh_id();
        &mut self.v
    }
}

impl std::ops::Deref for Params {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        &self.v
    }
}

/// The curvature state ([`CurvState`]: forward pass, output errors of every
/// layer, softmax) of one network at one version of its parameters on one
/// data set, kept across calls: script calls at the same parameters and
/// data (`hvp` in a loop, `grad` then `top_eigs`) skip the forward and
/// backward passes. Keyed by the parameters' id and the data set's id, both
/// fresh on every change, so a change of either is a miss. Off with
/// `HLAB_CURV_CACHE=0` (to time the uncached cost). A clone of the network
/// starts with an empty cache.
#[derive(Default)]
pub(crate) struct CurvCache(std::sync::Mutex<Option<CacheEntry>>);

struct CacheEntry {
    params: u64,
    data: u64,
    state: Arc<CurvState>,
}

impl Clone for CurvCache {
    fn clone(&self) -> Self {
        CurvCache::default()
    }
}

impl std::fmt::Debug for CurvCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurvCache")
    }
}

/// Largest state kept in a [`CurvCache`] (bytes, estimated): larger ones
/// are recomputed per call rather than held.
const CACHE_MAX_BYTES: f64 = 512.0 * 1024.0 * 1024.0;

/// Whether cached passes are used (`HLAB_CURV_CACHE=0` turns them off).
pub(super) fn cache_enabled() -> bool {
    std::env::var_os("HLAB_CURV_CACHE").is_none_or(|v| v != "0")
}

impl Network {
    /// The cached curvature state for `data` at the current parameters.
    pub(crate) fn cached_state(&self, data: &Dataset) -> Option<Arc<CurvState>> {
        if !cache_enabled() {
            return None;
        }
        let g = self.cache.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*g {
            Some(e) if e.params == self.params.id && e.data == data.id() => Some(e.state.clone()),
            _ => None,
        }
    }

    /// Keeps `state` (made at the current parameters on `data`) for the
    /// next calls, replacing what was kept, unless it is too large.
    pub(super) fn keep_state(&self, data: &Dataset, state: Arc<CurvState>) {
        if !cache_enabled() {
            return;
        }
        let mut g = self.cache.0.lock().unwrap_or_else(|e| e.into_inner());
        *g = (state.bytes() <= CACHE_MAX_BYTES).then(|| CacheEntry {
            params: self.params.id,
            data: data.id(),
            state,
        });
    }

    /// The curvature state at the current parameters on `data` (`batch`:
    /// `data` as tensors): the cached one, or a new one, then kept.
    pub(crate) fn shared_state(&self, data: &Dataset, batch: &Batch) -> Result<Arc<CurvState>> {
        if let Some(s) = self.cached_state(data) {
            return Ok(s);
        }
        let s = Arc::new(CurvState::new(self, batch, None)?);
        self.keep_state(data, s.clone());
        Ok(s)
    }
}

//! hlab against an independent implementation: fixtures made by JAX
//! (`tools/make_fixtures.py`, float64 autodiff) for relu, tanh, sigmoid and
//! linear nets, cross-entropy and mse, with and without bias.
//!
//! ```python
//! # the reference, in short (see tools/make_fixtures.py)
//! loss = lambda p: mean(-log_softmax(f(p, x))[arange(n), y])   # or ½‖f − onehot‖²
//! H = jax.hessian(loss)(p);  G = mean_i J_iᵀ (diag(s_i) − s_i s_iᵀ) J_i
//! ```

#![allow(clippy::needless_range_loop)]

use hlab::curvature::hessian::{gauss_newton, hessian, hvp};
use hlab::data::npy::{read_npy, NpyArray};
use hlab::data::Dataset;
use hlab::mat::Mat;
use hlab::model::{Act, Init, LossKind, MlpOpts, Network};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn vector(p: &Path) -> Vec<f64> {
    match read_npy(p).unwrap() {
        NpyArray::Vector(v) => v,
        NpyArray::Matrix(m) => m.into_vec(),
    }
}

fn matrix(p: &Path) -> Mat {
    match read_npy(p).unwrap() {
        NpyArray::Matrix(m) => m,
        NpyArray::Vector(v) => panic!("{}: expected a matrix, got {} values", p.display(), v.len()),
    }
}

struct Fixture {
    name: String,
    model: Network,
    data: Dataset,
    path: PathBuf,
}

fn fixtures() -> Vec<Fixture> {
    let index: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("index.json")).unwrap()).unwrap();
    assert!(
        index.len() >= 12,
        "expected the full fixture set, got {index:?}"
    );
    index
        .into_iter()
        .map(|name| {
            let path = dir().join(&name);
            let meta: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path.join("meta.json")).unwrap())
                    .unwrap();
            let sizes: Vec<usize> = meta["sizes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            let o = MlpOpts {
                act: Act::parse(meta["act"].as_str().unwrap()).unwrap(),
                loss: LossKind::parse(meta["loss"].as_str().unwrap()).unwrap(),
                bias: meta["bias"].as_bool().unwrap(),
                init: Init::Uniform,
                seed: 0,
            };
            let mut model = Network::mlp(&sizes, &o).unwrap();
            model.set_params(&vector(&path.join("params.npy"))).unwrap();
            let x = matrix(&path.join("x.npy"));
            let y: Vec<usize> = vector(&path.join("y.npy"))
                .iter()
                .map(|&v| v as usize)
                .collect();
            let k = *sizes.last().unwrap();
            let data = Dataset::new(x, hlab::data::Targets::Labels { y, classes: k }).unwrap();
            Fixture {
                name,
                model,
                data,
                path,
            }
        })
        .collect()
}

/// max |a − b| / max |b| (so tiny entries of a large matrix do not dominate).
fn rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn loss_accuracy_gradient_and_outputs_match_jax() {
    for f in fixtures() {
        let (loss, grad) = f.model.loss_grad(&f.data).unwrap();
        let want = vector(&f.path.join("loss.npy"))[0];
        assert!(
            (loss - want).abs() <= 1e-12 * want.abs(),
            "{}: loss {loss} vs {want}",
            f.name
        );
        let e = rel(&grad, &vector(&f.path.join("grad.npy")));
        assert!(e < 1e-10, "{}: grad rel err {e:e}", f.name);
        let acc = f.model.accuracy(&f.data).unwrap();
        assert_eq!(acc, vector(&f.path.join("acc.npy"))[0], "{}", f.name);
    }
}

#[test]
fn hvp_hessian_and_gauss_newton_match_jax() {
    for f in fixtures() {
        let v = vector(&f.path.join("v.npy"));
        let e = rel(
            &hvp(&f.model, &f.data, &v).unwrap(),
            &vector(&f.path.join("hvp.npy")),
        );
        assert!(e < 1e-10, "{}: hvp rel err {e:e}", f.name);
        let h = hessian(&f.model, &f.data, 10_000).unwrap();
        let e = rel(h.data(), matrix(&f.path.join("hessian.npy")).data());
        assert!(e < 1e-10, "{}: hessian rel err {e:e}", f.name);
        let g = gauss_newton(&f.model, &f.data, 10_000).unwrap();
        let e = rel(g.data(), matrix(&f.path.join("gauss_newton.npy")).data());
        assert!(e < 1e-10, "{}: gauss_newton rel err {e:e}", f.name);
    }
}

/// Closed form, independent of JAX: for one linear layer with mse,
/// H = [[I_k ⊗ XᵀX/N, M], [Mᵀ, I_k]] with M[r·d + j, r] = mean_i x_ij.
#[test]
fn linear_mse_hessian_has_its_closed_form() {
    let mut r = hlab::rng::Rng::new(4);
    let (n, d, k) = (13, 4, 3);
    let x = Mat::from_fn(n, d, |_, _| r.normal());
    let data = Dataset::classification(x.clone(), (0..n).map(|i| i % k).collect()).unwrap();
    let m = Network::mlp(
        &[d, k],
        &MlpOpts {
            loss: LossKind::Mse,
            seed: 3,
            ..MlpOpts::default()
        },
    )
    .unwrap();
    let h = hessian(&m, &data, 1000).unwrap();
    let xtx = x.transpose().matmul(&x).unwrap().scale(1.0 / n as f64);
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| x.at(i, j)).sum::<f64>() / n as f64)
        .collect();
    let p = d * k + k;
    let mut want = Mat::zeros(p, p);
    for rr in 0..k {
        for (a, &mean_a) in mean.iter().enumerate() {
            for b in 0..d {
                want.set(rr * d + a, rr * d + b, xtx.at(a, b));
            }
            want.set(rr * d + a, d * k + rr, mean_a);
            want.set(d * k + rr, rr * d + a, mean_a);
        }
        want.set(d * k + rr, d * k + rr, 1.0);
    }
    let e = rel(h.data(), want.data());
    assert!(e < 1e-13, "closed form rel err {e:e}");
}

/// Closed form, independent of JAX: multinomial logistic regression (one
/// affine layer, softmax cross-entropy) has
/// H[(r,j),(s,l)] = (1/N) Σᵢ Aᵢ[r,s] x̃ᵢⱼ x̃ᵢₗ with Aᵢ = diag(pᵢ) − pᵢpᵢᵀ, and H = G.
#[test]
fn logistic_regression_hessian_has_its_closed_form() {
    let mut r = hlab::rng::Rng::new(8);
    let (n, d, k) = (19, 3, 4);
    let x = Mat::from_fn(n, d, |_, _| r.normal());
    let data = Dataset::classification(x.clone(), (0..n).map(|i| (i * 7) % k).collect()).unwrap();
    let m = Network::mlp(
        &[d, k],
        &MlpOpts {
            seed: 5,
            ..MlpOpts::default()
        },
    )
    .unwrap();
    let f = m.predict(&x).unwrap();
    let p = d * k + k;
    let mut want = Mat::zeros(p, p);
    // index of weight (r, j) or, for j == d, of bias r
    let idx = |r: usize, j: usize| if j < d { r * d + j } else { d * k + r };
    for i in 0..n {
        let row = f.row(i);
        let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = row.iter().map(|v| (v - mx).exp()).collect();
        let z: f64 = e.iter().sum();
        let pr: Vec<f64> = e.iter().map(|v| v / z).collect();
        let xt: Vec<f64> = x.row(i).iter().cloned().chain([1.0]).collect();
        for rr in 0..k {
            for s in 0..k {
                let a = if rr == s { pr[rr] } else { 0.0 } - pr[rr] * pr[s];
                for j in 0..=d {
                    for l in 0..=d {
                        let (u, v) = (idx(rr, j), idx(s, l));
                        want.set(u, v, want.at(u, v) + a * xt[j] * xt[l] / n as f64);
                    }
                }
            }
        }
    }
    let h = hessian(&m, &data, 1000).unwrap();
    let g = gauss_newton(&m, &data, 1000).unwrap();
    assert!(
        rel(h.data(), want.data()) < 1e-13,
        "H: {:e}",
        rel(h.data(), want.data())
    );
    assert!(
        rel(g.data(), want.data()) < 1e-13,
        "G: {:e}",
        rel(g.data(), want.data())
    );
}

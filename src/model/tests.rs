//! Unit tests of the network engine (MLPs; every layer type has its own
//! tests beside it and in tests/fixtures.rs).

use super::*;
use crate::data::Targets;
use std::sync::Arc;

fn toy(n: usize, d: usize, k: usize, seed: u64) -> Dataset {
    let mut r = Rng::new(seed);
    let x = Mat::from_fn(n, d, |_, _| r.normal());
    let y = (0..n).map(|i| i % k).collect();
    Dataset::new(x, Targets::Labels { y, classes: k }).unwrap()
}

fn model(sizes: &[usize], act: Act, loss: LossKind, bias: bool) -> Network {
    let o = MlpOpts {
        act,
        loss,
        bias,
        init: Init::Normal { std: 0.5 },
        seed: 3,
    };
    Network::mlp(sizes, &o).unwrap()
}

fn all_models() -> Vec<Network> {
    let mut out = vec![];
    for act in [Act::Relu, Act::Tanh, Act::Sigmoid, Act::Linear] {
        for loss in [LossKind::CrossEntropy, LossKind::Mse] {
            for bias in [true, false] {
                out.push(model(&[4, 5, 3, 3], act, loss, bias));
            }
        }
    }
    out
}

#[test]
fn gradient_matches_central_differences() {
    let data = toy(13, 4, 3, 1);
    for m in all_models() {
        let (l0, g) = m.loss_grad(&data).unwrap();
        assert!((l0 - m.loss(&data).unwrap()).abs() < 1e-14);
        let h = 1e-6;
        for i in 0..m.num_params() {
            let mut p = m.params().to_vec();
            p[i] += h;
            let mut mp = m.clone();
            mp.set_params(&p).unwrap();
            let lp = mp.loss(&data).unwrap();
            p[i] -= 2.0 * h;
            mp.set_params(&p).unwrap();
            let lm = mp.loss(&data).unwrap();
            let fd = (lp - lm) / (2.0 * h);
            let err = (fd - g[i]).abs() / g[i].abs().max(1e-3);
            assert!(err < 1e-6, "{} param {i}: fd {fd} vs {}", m.summary(), g[i]);
        }
    }
}

#[test]
fn one_shot_hvp_matches_the_reused_operator() {
    // `hvp_once` takes X V₁ᵀ from the forward pass's stacked product;
    // it must agree with the operator that recomputes it.
    let data = toy(13, 4, 3, 4);
    for m in all_models() {
        let p = m.num_params();
        let mut r = Rng::new(8);
        let v: Vec<f64> = (0..p).map(|_| r.normal()).collect();
        let batch = m.batch("test", &data).unwrap();
        let once = m.clone().hvp_once(&data, &batch, &v).unwrap();
        let vs = Mat::from_vec(1, p, v.clone()).unwrap();
        let reused = m.curvature_block(&batch, &vs, false).unwrap();
        let scale = crate::mat::norm(reused.row(0)).max(1e-300);
        for (a, b) in once.iter().zip(reused.row(0)) {
            assert!((a - b).abs() <= 1e-14 * scale, "{a} vs {b}");
        }
    }
}

/// HVPs against central differences of the gradient (and the one-shot
/// product against the block's), every activation, loss and bias setting.
#[test]
fn hvp_matches_differences_of_gradients() {
    let data = toy(11, 4, 3, 2);
    for m in all_models() {
        crate::model::im2col::testing::check_hvp(&m, &data);
    }
}

#[test]
fn gauss_newton_product_is_symmetric_psd() {
    let data = toy(9, 4, 3, 4);
    for m in all_models() {
        let p = m.num_params();
        let batch = m.batch("test", &data).unwrap();
        let g = m.curvature_block(&batch, &Mat::identity(p), true).unwrap();
        assert!(g.asymmetry() < 1e-12 * g.max_abs().max(1.0));
        let mut r = Rng::new(9);
        for _ in 0..5 {
            let v: Vec<f64> = (0..p).map(|_| r.normal()).collect();
            let gv = g.matvec(&v).unwrap();
            assert!(crate::mat::dot(&v, &gv) >= -1e-12);
        }
    }
}

#[test]
fn bad_shapes_are_errors() {
    let m = model(&[4, 5, 3], Act::Relu, LossKind::CrossEntropy, true);
    let e = m.loss(&toy(5, 3, 3, 1)).unwrap_err().to_string();
    assert!(e.contains("4 features") && e.contains("got 3"), "{e}");
    let e = m.loss(&toy(5, 4, 5, 1)).unwrap_err().to_string();
    assert!(e.contains("labels below 3"), "{e}");
    assert!(Network::mlp(&[3], &MlpOpts::default()).is_err());
    assert!(Network::mlp(&[3, 0, 2], &MlpOpts::default()).is_err());
    assert!(Network::mlp(&[1 << 20, 1 << 20, 2], &MlpOpts::default()).is_err());
    let mut m2 = m.clone();
    assert!(m2.set_params(&[1.0, 2.0]).is_err());
}

/// A network of every smooth layer type after a leading `Linear`.
fn mixed_net(loss: LossKind) -> Network {
    use crate::model::gelu::GELU;
    use crate::model::layer_norm::LayerNorm;
    use crate::model::linear::Linear;
    use crate::model::pointwise::Pointwise;
    use crate::model::residual::Residual;
    use crate::model::softplus::Softplus;
    let lin = |i, o| {
        Arc::new(Linear {
            fan_in: i,
            fan_out: o,
            bias: true,
        }) as Arc<dyn Layer>
    };
    let layers: Vec<Arc<dyn Layer>> = vec![
        lin(4, 5),
        Arc::new(Residual {
            body: Chain::new(vec![
                Arc::new(LayerNorm {
                    shape: vec![5],
                    eps: 1e-5,
                }),
                lin(5, 5),
                Arc::new(Pointwise(GELU { tanh: false })),
            ]),
        }),
        Arc::new(Pointwise(Softplus)),
        lin(5, 3),
    ];
    let mut m = Network::new(
        layers,
        &NetOpts {
            loss,
            init: Init::Normal { std: 0.5 },
            seed: 7,
            input: Some(vec![4]),
        },
    )
    .unwrap();
    // Non-trivial LayerNorm scale and shift.
    let mut r = Rng::new(11);
    let p: Vec<f64> = m.params().iter().map(|x| x + 0.2 * r.normal()).collect();
    m.set_params(&p).unwrap();
    m
}

/// The Gram route for any `Linear` layer (weighted AᵀDA products) gives the
/// same block as the general R-pass with unit directions, for H and G.
#[test]
fn gram_blocks_of_every_linear_equal_the_general_path() {
    let data = toy(9, 4, 3, 6);
    let mut nets = vec![mixed_net(LossKind::CrossEntropy), mixed_net(LossKind::Mse)];
    nets.push(model(
        &[4, 5, 3, 3],
        Act::Tanh,
        LossKind::CrossEntropy,
        true,
    ));
    nets.push(model(&[4, 5, 3], Act::Sigmoid, LossKind::Mse, false));
    for m in nets {
        let batch = m.batch("test", &data).unwrap();
        let state = m.curvature_state(&batch).unwrap();
        let p = m.num_params();
        let linears: Vec<usize> = (0..m.chain().layers().len())
            .filter(|&l| m.chain().layers()[l].kind() == "Linear")
            .collect();
        assert!(linears.len() >= 2);
        for gn in [false, true] {
            let general = state.apply(&Mat::identity(p), gn).unwrap();
            let scale = general.max_abs();
            for &l in &linears {
                let mut dense = Mat::zeros(p, p);
                let p1 = state.gram_block(l, gn, &mut dense).unwrap();
                let (o1, len) = state.layer_span(l);
                assert!(p1 == len && p1 > 0 && p1 < p);
                for i in o1..o1 + p1 {
                    for j in o1..o1 + p1 {
                        let (a, b) = (dense.at(i, j), general.at(i, j));
                        assert!(
                            (a - b).abs() <= 1e-13 * scale,
                            "{} layer {l} gn={gn} ({i},{j}): {a} vs {b}",
                            m.summary()
                        );
                    }
                }
            }
        }
    }
}

/// The dense matrices (built with the Gram route on the largest `Linear`)
/// equal the R-pass on every unit direction, for H and G.
#[test]
fn dense_matrices_equal_products_on_unit_directions() {
    let data = toy(9, 4, 3, 8);
    for m in [
        mixed_net(LossKind::CrossEntropy),
        model(&[4, 3, 6], Act::Tanh, LossKind::Mse, true),
    ] {
        let p = m.num_params();
        let batch = m.batch("test", &data).unwrap();
        let state = m.curvature_state(&batch).unwrap();
        for (gn, kind) in [
            (false, crate::curvature::hessian::Curvature::Hessian),
            (true, crate::curvature::hessian::Curvature::GaussNewton),
        ] {
            let general = state.apply(&Mat::identity(p), gn).unwrap();
            let mut op =
                crate::curvature::hessian::ModelCurvature::new("test", &m, &data, kind).unwrap();
            let dense = op.dense("test", 10_000).unwrap();
            let scale = general.max_abs();
            for i in 0..p {
                for j in 0..p {
                    let (a, b) = (dense.at(i, j), 0.5 * (general.at(i, j) + general.at(j, i)));
                    assert!(
                        (a - b).abs() <= 1e-13 * scale,
                        "{} ({i},{j}): {a} vs {b}",
                        m.summary()
                    );
                }
            }
        }
    }
}

/// HVPs of a mixed network (residual, LayerNorm, GELU, Softplus) against
/// central differences of the gradient, and G symmetric PSD.
#[test]
fn mixed_network_hvp_matches_differences_and_g_is_psd() {
    let data = toy(11, 4, 3, 3);
    for m in [mixed_net(LossKind::CrossEntropy), mixed_net(LossKind::Mse)] {
        let p = m.num_params();
        crate::model::im2col::testing::check_hvp(&m, &data);
        let batch = m.batch("test", &data).unwrap();
        let g = m.curvature_block(&batch, &Mat::identity(p), true).unwrap();
        assert!(g.asymmetry() < 1e-12 * g.max_abs());
        let h = m.curvature_block(&batch, &Mat::identity(p), false).unwrap();
        assert!(h.asymmetry() < 1e-12 * h.max_abs());
        let mut r = Rng::new(9);
        for _ in 0..5 {
            let v: Vec<f64> = (0..p).map(|_| r.normal()).collect();
            assert!(crate::mat::dot(&v, &g.matvec(&v).unwrap()) >= -1e-12);
        }
    }
}

/// `H v` as a fresh network computes it (a clone starts with an empty cache).
fn fresh_hvp(m: &Network, data: &Dataset, v: &[f64]) -> Vec<f64> {
    crate::curvature::hessian::hvp(&m.clone(), data, v).unwrap()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |s, x| s.max(x.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0f64, |s, (x, y)| s.max((x - y).abs()))
        / scale
}

#[test]
fn cached_passes_follow_every_change_of_parameters_and_data() {
    use crate::curvature::hessian::{hvp, Curvature, ModelCurvature};
    let data = toy(17, 4, 3, 5);
    let other = toy(17, 4, 3, 6);
    for (act, loss) in [
        (Act::Relu, LossKind::CrossEntropy),
        (Act::Tanh, LossKind::Mse),
    ] {
        let mut m = model(&[4, 6, 5, 3], act, loss, true);
        let p = m.num_params();
        let mut r = Rng::new(9);
        let v = r.normals(p);
        let batch = m.batch("t", &data).unwrap();
        // A miss, then hits: the same products to rounding, and the
        // gradient from the kept errors equals the full backward pass's.
        let h0 = hvp(&m, &data, &v).unwrap();
        assert!(m.cached_state(&data).is_some());
        let h1 = hvp(&m, &data, &v).unwrap();
        let exact = m
            .curvature_block(&batch, &Mat::from_vec(1, p, v.clone()).unwrap(), false)
            .unwrap();
        assert!(max_rel(&h1, exact.data()) < 1e-12);
        assert!(max_rel(&h0, &h1) < 1e-12);
        let (l, g) = m.loss_grad(&data).unwrap();
        let (l_ref, g_ref) = m.loss_grad_batch(&batch, m.params()).unwrap();
        assert!(max_rel(&g, &g_ref) < 1e-12 && (l - l_ref).abs() < 1e-14);

        // New parameters: every product is the fresh network's, exactly.
        let p2: Vec<f64> = m.params().iter().map(|w| w * 0.9 + 0.01).collect();
        m.set_params(&p2).unwrap();
        assert!(m.cached_state(&data).is_none());
        let h2 = hvp(&m, &data, &v).unwrap();
        assert_eq!(h2, fresh_hvp(&m, &data, &v));
        assert!(max_rel(&h2, &h1) > 1e-3, "the product did not change");
        let (_, g2) = m.loss_grad(&data).unwrap();
        assert_eq!(g2, m.clone().loss_grad(&data).unwrap().1);
        assert_eq!(g2, m.loss_grad_batch(&batch, &p2).unwrap().1);
        // The gradient's miss kept the passes; the next product uses them.
        let h2b = hvp(&m, &data, &v).unwrap();
        assert!(max_rel(&h2b, &h2) < 1e-12);

        // Other data at the same parameters, and back.
        let h3 = hvp(&m, &other, &v).unwrap();
        assert_eq!(h3, fresh_hvp(&m, &other, &v));
        assert!(max_rel(&h3, &h2) > 1e-3);
        let (_, g3) = m.loss_grad(&data).unwrap();
        assert_eq!(g3, g2);
        // A data set with new sample shape metadata is a new data set.
        let reshaped = data.clone().with_shape(&[4]).unwrap();
        assert!(reshaped.id() != data.id());

        // Products through the shared operator (top_eigs, density) use
        // the current parameters too.
        let mut op = ModelCurvature::new("t", &m, &data, Curvature::Hessian).unwrap();
        let h4 = op.apply(&v).unwrap();
        assert!(max_rel(&h4, &h2) < 1e-12);
        drop(op);

        // In-place changes through load_params.
        let dir = std::env::temp_dir().join(format!("hlab_cache_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(format!("p_{:?}.npy", act));
        let saved = m.clone();
        m.set_params(&vec![0.05; p]).unwrap();
        let h5 = hvp(&m, &data, &v).unwrap();
        saved.save_params(&f).unwrap();
        m.load_params(&f).unwrap();
        assert!(m.cached_state(&data).is_none());
        let h6 = hvp(&m, &data, &v).unwrap();
        assert_eq!(h6, fresh_hvp(&saved, &data, &v));
        assert!(max_rel(&h6, &h5) > 1e-3);
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn batched_products_equal_one_direction_at_a_time() {
    // Linear layers much wider in than out take b directions as one wide
    // product, the others one product per direction; a single direction
    // always the latter. Both must give every row's product.
    let data = toy(11, 12, 2, 7);
    for act in [Act::Relu, Act::Tanh] {
        for gn in [false, true] {
            let m = model(&[12, 3, 8, 2], act, LossKind::CrossEntropy, true);
            let p = m.num_params();
            let mut r = Rng::new(4);
            let vs = Mat::from_fn(3, p, |_, _| r.normal());
            let batch = m.batch("t", &data).unwrap();
            let block = m.curvature_block(&batch, &vs, gn).unwrap();
            for j in 0..3 {
                let one = Mat::from_vec(1, p, vs.row(j).to_vec()).unwrap();
                let single = m.curvature_block(&batch, &one, gn).unwrap();
                assert!(
                    max_rel(block.row(j), single.data()) < 1e-12,
                    "{act:?} gn {gn} row {j}"
                );
            }
        }
    }
}

/// The R-pass's CPU kernels (Linear: fused products into fresh storage,
/// per-direction views; activations: one elementwise pass) give what
/// candle's tensor path gives, for H and G,
/// one and several directions, with and without bias, and on an image
/// input that the Linear layer flattens itself.
#[test]
fn cpu_kernels_equal_the_tensor_path() {
    use crate::model::conv2d::Conv2d;
    use crate::model::im2col::testing;
    use crate::model::kernels::CANDLE_PATH;
    use crate::model::linear::Linear;
    let conv_lin = testing::net(
        vec![
            Arc::new(Conv2d {
                in_ch: 2,
                out_ch: 3,
                kernel: [3, 3],
                stride: [1, 1],
                padding: [1, 1],
                bias: true,
            }),
            testing::tanh(),
            Arc::new(Linear {
                fan_in: 3 * 4 * 4,
                fan_out: 3,
                bias: false,
            }),
        ],
        &[2, 4, 4],
        LossKind::CrossEntropy,
        5,
    );
    let cases = [
        (
            model(&[12, 7, 8, 3], Act::Relu, LossKind::CrossEntropy, true),
            toy(11, 12, 3, 7),
        ),
        (
            model(&[12, 9, 3], Act::Tanh, LossKind::Mse, false),
            toy(11, 12, 3, 8),
        ),
        (mixed_net(LossKind::CrossEntropy), toy(9, 4, 3, 6)),
        (conv_lin, testing::data(6, &[2, 4, 4], 3, 9)),
    ];
    for (ci, (m, data)) in cases.iter().enumerate() {
        let p = m.num_params();
        let batch = m.batch("t", data).unwrap();
        for b in [1, 3] {
            let mut r = Rng::new(10 + b as u64);
            let vs = Mat::from_fn(b, p, |_, _| r.normal());
            for gn in [false, true] {
                let fast = m.curvature_block(&batch, &vs, gn).unwrap();
                CANDLE_PATH.with(|c| c.set(true));
                let slow = m.curvature_block(&batch, &vs, gn);
                CANDLE_PATH.with(|c| c.set(false));
                let slow = slow.unwrap();
                let d = max_rel(fast.data(), slow.data());
                assert!(d < 1e-13, "case {ci} b {b} gn {gn}: {d:e}");
            }
        }
    }
}

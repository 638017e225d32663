//! Networks of layers against PyTorch: fixtures made by
//! `tools/make_layer_fixtures.py` (torch.func, float64) for every layer
//! type alone and for whole conv, pooling, residual and LayerNorm nets.
//!
//! Each fixture is run the way a user runs it: the net is built from the
//! script expression in its `meta.json`, the parameters come from the
//! state dict PyTorch saved, and every quantity is computed by the script
//! primitives and written with `save_npy`; the test compares the files.

#![allow(clippy::needless_range_loop)]

use hlab::data::npy::{read_npy, NpyArray};
use hlab::script::Session;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers")
}

fn values(p: &Path) -> Vec<f64> {
    match read_npy(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())) {
        NpyArray::Vector(v) => v,
        NpyArray::Matrix(m) => m.into_vec(),
    }
}

/// ‖a − b‖ / ‖b‖ (max-norm), or the absolute difference when b is tiny.
fn rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn names() -> Vec<String> {
    let index: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("index.json")).unwrap()).unwrap();
    assert!(
        index.len() >= 15,
        "expected the full fixture set, got {index:?}"
    );
    index
}

fn meta(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name).join("meta.json")).unwrap())
        .unwrap()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("hlab-layerfix-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The script that builds fixture `name`'s net and data.
fn prelude(name: &str) -> String {
    let m = meta(name);
    let d = dir().join(name);
    format!(
        "let dir = \"{}\";\n\
         let m = net({}, #{{ input: {}, loss: \"{}\" }});\n\
         load_params(m, dir + \"/state_dict.safetensors\");\n\
         let d = dataset(load_npy(dir + \"/x.npy\"), load_npy(dir + \"/y.npy\"), #{{ shape: {} }});\n",
        d.display(),
        m["hlab"].as_str().unwrap(),
        m["shape"],
        m["loss"].as_str().unwrap(),
        m["shape"],
    )
}

#[test]
fn every_layer_and_net_matches_pytorch() {
    let mut failures = Vec::new();
    for name in names() {
        let t = Scratch::new(&name);
        let out = t.0.display().to_string();
        let code = format!(
            "{}\
             save_npy(m.params, \"{out}/params.npy\");\n\
             save_npy(predict(m, d), \"{out}/outputs.npy\");\n\
             save_npy([loss(m, d), accuracy(m, d)], \"{out}/loss.npy\");\n\
             save_npy(grad(m, d), \"{out}/grad.npy\");\n\
             save_npy(hvp(m, d, load_npy(dir + \"/v.npy\")), \"{out}/hvp.npy\");\n\
             let h = hessian(m, d);\n\
             let g = gauss_newton(m, d);\n\
             save_npy(h, \"{out}/hessian.npy\");\n\
             save_npy(g, \"{out}/gauss_newton.npy\");\n\
             save_npy(eigs(h), \"{out}/eig_h.npy\");\n\
             save_npy(eigs(g), \"{out}/eig_g.npy\");\n\
             check_hessian(m, d)",
            prelude(&name)
        );
        let (mut s, _) = Session::collecting();
        let fd = match s.eval(&code) {
            Ok(Some(v)) => v.text.parse::<f64>().unwrap_or(f64::NAN),
            Ok(None) => f64::NAN,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let want = dir().join(&name);
        let got = |f: &str| values(&t.0.join(f));
        let exp = |f: &str| values(&want.join(f));
        // The state dict saved by PyTorch gives PyTorch's flat vector exactly.
        if got("params.npy") != exp("params.npy") {
            failures.push(format!(
                "{name}: state dict did not give parameters_to_vector"
            ));
        }
        let lossacc = got("loss.npy");
        let checks = [
            ("loss", rel(&lossacc[..1], &exp("loss.npy")), 1e-12),
            ("accuracy", rel(&lossacc[1..], &exp("acc.npy")), 1e-15),
            (
                "outputs",
                rel(&got("outputs.npy"), &exp("outputs.npy")),
                1e-12,
            ),
            ("grad", rel(&got("grad.npy"), &exp("grad.npy")), 1e-10),
            ("hvp", rel(&got("hvp.npy"), &exp("hvp.npy")), 1e-10),
            (
                "hessian",
                rel(&got("hessian.npy"), &exp("hessian.npy")),
                1e-10,
            ),
            (
                "gauss_newton",
                rel(&got("gauss_newton.npy"), &exp("gauss_newton.npy")),
                1e-10,
            ),
            ("eig_h", rel(&got("eig_h.npy"), &exp("eig_h.npy")), 1e-9),
            ("eig_g", rel(&got("eig_g.npy"), &exp("eig_g.npy")), 1e-9),
            // Exact HVPs against finite differences of the gradient.
            ("check_hessian", fd, 1e-5),
        ];
        for (what, e, tol) in checks {
            if e.is_nan() || e > tol {
                failures.push(format!("{name}: {what} rel err {e:e} (tolerance {tol:e})"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// f32 and bf16 state dicts saved by PyTorch load, widened to f64, to
/// exactly the widened values PyTorch holds.
#[test]
fn reduced_precision_state_dicts_load_widened() {
    let mut tried = 0;
    for name in names() {
        for kind in ["f32", "bf16"] {
            let file = dir()
                .join(&name)
                .join(format!("state_dict_{kind}.safetensors"));
            if !file.exists() {
                continue;
            }
            let t = Scratch::new(&format!("{name}-{kind}"));
            let code = format!(
                "{}load_params(m, \"{}\");\nsave_npy(m.params, \"{}/p.npy\");",
                prelude(&name),
                file.display(),
                t.0.display()
            );
            let (mut s, _) = Session::collecting();
            s.eval(&code)
                .unwrap_or_else(|e| panic!("{name} {kind}: {e}"));
            let got = values(&t.0.join("p.npy"));
            let want = values(&dir().join(&name).join(format!("params_{kind}.npy")));
            assert_eq!(got, want, "{name} {kind}");
            tried += 1;
        }
    }
    assert!(tried >= 3, "only {tried} reduced-precision state dicts");
}

/// hlab's own state dict round-trips, and its names are PyTorch's.
#[test]
fn saved_state_dicts_use_pytorch_names() {
    for name in ["cnn_ce", "resmlp_ce"] {
        let t = Scratch::new(&format!("{name}-save"));
        let code = format!(
            "{}let p = \"{}/s.safetensors\";\nsave_params(m, p);\n\
             let m2 = net({}, #{{ input: {} }});\nload_params(m2, p);\nm2.params == m.params",
            prelude(name),
            t.0.display(),
            meta(name)["hlab"].as_str().unwrap(),
            meta(name)["shape"],
        );
        let (mut s, _) = Session::collecting();
        let r = s.eval(&code).unwrap().unwrap();
        assert_eq!(r.text, "true", "{name}");
        let map =
            candle_core::safetensors::load(t.0.join("s.safetensors"), &candle_core::Device::Cpu)
                .unwrap();
        let mut got: Vec<&String> = map.keys().collect();
        got.sort();
        let m = meta(name);
        let mut want: Vec<String> = m["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        want.sort();
        assert_eq!(got, want.iter().collect::<Vec<_>>(), "{name}");
        for (n, shape) in m["names"]
            .as_array()
            .unwrap()
            .iter()
            .zip(m["shapes"].as_array().unwrap())
        {
            let dims: Vec<usize> = shape
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(
                map[n.as_str().unwrap()].dims(),
                dims.as_slice(),
                "{name} {n}"
            );
        }
    }
}

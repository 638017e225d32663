//! The outliers' origin through the script API: `gn_gram` against the
//! dense Gauss–Newton matrix (MLP, conv and residual/LayerNorm nets, CE and
//! MSE), Papyan's four parts summing to G as matrices (balanced and
//! unbalanced classes), their Gram spectra against the matrices' own
//! eigenvalues, G's eigenvectors, and bad input.

use hlab::script::{ErrorKind, Session};

fn run(code: &str) -> Session {
    let (mut s, _out) = Session::collecting();
    if let Err(e) = s.eval(code) {
        panic!("script failed: {}\n{code}", e.message);
    }
    s
}

/// The nets: (constructor, data) in script syntax.
fn cases() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            r#"mlp([5, 7, 4], #{ act: "tanh", seed: 3, init: "normal", init_std: 0.7 })"#,
            r#"make_clusters(#{ n: 24, k: 4, dim: 5, seed: 2 })"#,
        ),
        (
            r#"mlp([5, 6, 6, 4], #{ act: "relu", loss: "mse", seed: 4 })"#,
            r#"make_clusters(#{ n: 20, k: 4, dim: 5, seed: 5 })"#,
        ),
        (
            r#"net([Conv2d(1, 2, 3), ReLU(), MaxPool2d(2), Flatten(), Linear(8, 3)], #{ input: [1, 6, 6], seed: 6 })"#,
            r#"dataset(randn(15, 36, 9), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], #{ shape: [1, 6, 6] })"#,
        ),
        (
            r#"net([Linear(4, 5), Residual([LayerNorm(5), Linear(5, 5), GELU()]), Softplus(), Linear(5, 3)], #{ loss: "mse", seed: 7, init: "normal", init_std: 0.5 })"#,
            r#"dataset(randn(12, 4, 8), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])"#,
        ),
    ]
}

#[test]
fn gn_gram_equals_the_dense_gauss_newton_spectrum() {
    for (net, data) in cases() {
        let code = format!(
            r#"
            let m = {net};
            let d = {data};
            let s = gn_gram(m, d);
            let g = eigs(gauss_newton(m, d));
            let k = min(m.num_params, s.len());
            let a = s.top(k);
            let b = g.top(k);
            let lmax = g.max();
            let worst = 0.0;
            for i in 0..k {{ worst = max(worst, abs(a[i] - b[i])); }}
            assert(worst <= 1e-10 * lmax, `gram vs dense: ${{worst}} vs λmax ${{lmax}}`);
            assert(s.info.method == "gram", "method");
            assert(s.info.rank == g.count_above(1e-12 * lmax), `rank ${{s.info.rank}}`);
            // The zeros: N·C values in all, at least N exact zeros for CE.
            assert(s.len() == d.len * 3 || s.len() == d.len * 4, "N·C values");
            // Eigenvectors: G u = λ u, unit norm.
            let e = gn_gram(m, d, #{{ vectors: 2 }});
            let gm = gauss_newton(m, d);
            for j in 0..2 {{
                let u = vector(e.vectors.transpose()[j].to_array());
                let lam = e.values.top(2)[j];
                assert_close(norm(u), 1.0, 1e-12);
                assert(norm(gm * u - lam * u) <= 1e-9 * lmax, `residual of vector ${{j}}`);
            }}
            "#
        );
        run(&code);
    }
}

#[test]
fn the_four_parts_sum_to_g_and_their_gram_spectra_are_theirs() {
    // Balanced and unbalanced classes (5, 2, 1 examples), CE and MSE.
    let datas = [
        r#"make_clusters(#{ n: 18, k: 3, dim: 4, seed: 11 })"#,
        r#"dataset(randn(8, 4, 3), [0, 0, 1, 0, 2, 0, 1, 0])"#,
    ];
    for data in datas {
        for loss in ["cross_entropy", "mse"] {
            let code = format!(
                r#"
                let d = {data};
                let m = mlp([4, 6, 3], #{{ act: "tanh", loss: "{loss}", seed: 12, init: "normal", init_std: 0.8 }});
                let p = class_decomposition(m, d, #{{ matrices: true }});
                let x = p.matrices;
                let g = gauss_newton(m, d);
                let diff = x.same_class + x.class_means + x.cross_class + x.within - g;
                let worst = 0.0;
                let gmax = 0.0;
                for i in 0..g.rows {{
                    for j in 0..g.cols {{
                        worst = max(worst, abs(diff.get(i, j)));
                        gmax = max(gmax, abs(g.get(i, j)));
                    }}
                }}
                assert(worst <= 1e-10 * gmax, `parts vs G: ${{worst}} of ${{gmax}}`);
                // Each part's Gram spectrum is the matrix's non-zero spectrum.
                for name in ["same_class", "class_means", "cross_class", "within"] {{
                    let s = p[name];
                    let e = eigs(x[name]);
                    let k = min(s.len(), e.len());
                    let a = s.top(k);
                    let b = e.top(k);
                    let top = max(e.max(), 1e-300);
                    for i in 0..k {{
                        assert(abs(a[i] - b[i]) <= 1e-10 * top, `${{name}} eigenvalue ${{i}}: ${{a[i]}} vs ${{b[i]}}`);
                    }}
                }}
                assert(p.class_means.info.rank <= 3, "class means rank ≤ C");
                assert(p.cross_class.info.rank <= 3, "cross-class rank ≤ C(C − 2)");
                assert(p.same_class.len() == 3 && p.cross_class.len() == 6, "part sizes");
                assert(p.overlap >= 0.0 && p.overlap <= 1.0 + 1e-12, `overlap ${{p.overlap}}`);
                assert_close(p.gauss_newton.top(3), eigs(g).top(3), 1e-10);
                "#
            );
            run(&code);
        }
    }
}

#[test]
fn outlier_origin_inputs_are_refused_clearly() {
    let (mut s, _out) = Session::collecting();
    s.eval(
        r#"
        let keep = 42;
        let m = mlp([3, 4, 3], #{ seed: 1 });
        let reg = dataset(randn(6, 3, 1), randn(6, 3, 2));
        let missing = dataset(randn(6, 3, 1), [0, 1, 0, 1, 0, 1]);
        let big = make_clusters(#{ n: 200000, k: 3, dim: 3, seed: 1 });
        "#,
    )
    .unwrap();
    let rows: &[(&str, &[&str])] = &[
        (
            "class_decomposition(m, reg)",
            &[
                "class_decomposition: expected a data set with class labels",
                "regression targets",
            ],
        ),
        (
            "class_decomposition(m, missing)",
            &[
                "class_decomposition: expected every one of the 3 classes",
                "none of class 2",
            ],
        ),
        (
            "gn_gram(m, big)",
            &[
                "gn_gram: needs",
                "600000×600000 Gram matrix",
                "data.take(n)",
            ],
        ),
        (
            "class_decomposition(m, big)",
            &["class_decomposition: needs", "Gram matrix"],
        ),
        (
            "gn_gram(m, missing, #{ vectors: 100 })",
            &["gn_gram: vectors: expected at most the rank of G"],
        ),
        (
            "gn_gram(m, missing, #{ vectorz: 1 })",
            &[
                "gn_gram: unknown option `vectorz`",
                "did you mean `vectors`",
            ],
        ),
        (
            "marchenko_pastur(-1, 1)",
            &["marchenko_pastur: expected a ratio d/N > 0, got -1"],
        ),
        (
            "marchenko_pastur(0.5, 0)",
            &["marchenko_pastur: expected a variance sigma2 > 0, got 0"],
        ),
        (
            "marchenko_pastur(\"a\", 1)",
            &["marchenko_pastur: expected ratio to be a number, got string"],
        ),
        (
            "ks_distance([], marchenko_pastur(0.5, 1))",
            &["ks_distance: expected at least one finite value"],
        ),
        (
            "hvp(m, missing, [randn(m.num_params, 1), 2])",
            &["hvp: expected an array of Vectors of length 31, got i64 at index 1"],
        ),
        (
            "hvp(m, missing, [randn(5, 1)])",
            &[
                "hvp: expected Vectors of length 31",
                "got length 5 at index 0",
            ],
        ),
        (
            "hist([1, 2], #{ overlay: 3 })",
            &["hist: option `overlay`: expected a Density"],
        ),
    ];
    let mut failures = Vec::new();
    for (code, wants) in rows {
        let t0 = std::time::Instant::now();
        match s.eval(code) {
            Ok(v) => failures.push(format!("{code}: expected an error, got {v:?}")),
            Err(e) => {
                if e.kind == ErrorKind::Internal {
                    failures.push(format!("{code}: a panic"));
                }
                for w in *wants {
                    if !e.message.contains(w) {
                        failures.push(format!("{code}: message lacks `{w}`: {}", e.message));
                    }
                }
            }
        }
        assert!(
            t0.elapsed().as_secs_f64() < 5.0,
            "{code}: refused only after {:?}",
            t0.elapsed()
        );
        assert!(
            matches!(s.eval("keep"), Ok(Some(d)) if d.text == "42"),
            "{code}: lost the session"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn e8_fails_with_a_shifted_law() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/e8_marchenko_pastur.rhai");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hlab"))
            .arg("run")
            .arg(&script)
            .args(extra)
            .output()
            .unwrap()
    };
    // The passing run is `shipped_scripts_run` (tests/cli.rs).
    let bad = run(&["--sigma2", "0.6"]);
    assert!(!bad.status.success(), "a wrong law passed the check");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("KS distance"), "{err}");
}

/// PyTorch fixtures (`tools/make_outlier_fixtures.py`): G and Papyan's four
/// parts formed from per-example Jacobians (torch.func) in P × P, their
/// eigenvalues and the overlap from their eigenvectors — against the Gram
/// route, from the same parameters and data.
#[test]
fn class_decomposition_matches_pytorch() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/outliers");
    let index: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index.len(), 2);
    for name in index {
        let f = dir.join(&name);
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f.join("meta.json")).unwrap()).unwrap();
        let code = format!(
            r#"
            let dir = "{dir}";
            let m = {net};
            m.params = load_npy(dir + "/params.npy");
            let labels = [];
            for v in load_npy(dir + "/y.npy").to_array() {{ labels.push(v.to_int()); }}
            let d = dataset(load_npy(dir + "/x.npy"), labels);
            let p = class_decomposition(m, d);
            let pairs = [["g", p.gauss_newton], ["same_class", p.same_class], ["class_means", p.class_means],
                         ["cross_class", p.cross_class], ["within", p.within]];
            let gmax = load_npy(dir + "/g.npy").to_array().reduce(|a, b| max(a, b), 0.0);
            for pr in pairs {{
                let want = load_npy(dir + "/" + pr[0] + ".npy").to_array();
                want.reverse();
                let got = pr[1];
                let k = min(want.len(), got.len());
                let top = got.top(k);
                for i in 0..k {{
                    assert(abs(top[i] - want[i]) <= 1e-10 * gmax, `${{pr[0]}} eigenvalue ${{i}}: ${{top[i]}} vs torch ${{want[i]}}`);
                }}
            }}
            let ov = load_npy(dir + "/overlap.npy")[0];
            assert(abs(p.overlap - ov) <= 1e-8, `overlap ${{p.overlap}} vs torch ${{ov}}`);
            "#,
            dir = f.display(),
            net = meta["hlab"].as_str().unwrap(),
        );
        run(&code);
    }
}

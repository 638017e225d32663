//! What a newcomer hits (issue 17): `eigs` refusing a non-symmetric matrix,
//! consistent calls (counts positional or as options, integers for floats,
//! properties, `info` keys), and outlier rules that hold on full spectra.

use hlab::script::Session;

fn session() -> Session {
    Session::collecting().0
}

/// The value of `code` as text.
fn val(s: &mut Session, code: &str) -> String {
    match s.eval(code) {
        Ok(Some(d)) => d.text,
        Ok(None) => String::new(),
        Err(e) => panic!("{code}: {}", e.message),
    }
}

fn err(s: &mut Session, code: &str) -> String {
    match s.eval(code) {
        Ok(v) => panic!("{code}: expected an error, got {:?}", v.map(|d| d.text)),
        Err(e) => e.message,
    }
}

#[test]
fn eigs_refuses_a_non_symmetric_matrix() {
    let mut s = session();
    let e = err(&mut s, "eigs(matrix([[1, 2], [0, 1]]))");
    assert!(e.starts_with("eigs: expected a symmetric matrix"), "{e}");
    // ‖A − Aᵀ‖_F / ‖A‖_F = √8 / √6 for this A.
    assert!(e.contains("got 1.155e0"), "{e}");
    let e = err(&mut s, "eigs(matrix([[1, 2], [0, 1]]), #{ vectors: true })");
    assert!(e.contains("symmetric"), "{e}");
    // Symmetric to rounding passes: A·Aᵀ of a random A, and a Hessian.
    val(
        &mut s,
        "let a = matrix([[0.1, 0.7, 1.3], [2.9, -0.3, 0.77], [1e-3, 5.0, 0.2]]);",
    );
    assert_eq!(val(&mut s, "eigs(a * a.transpose()).len"), "3");
    val(&mut s, "let d = make_clusters(#{ n: 30, k: 3, dim: 4, seed: 1 }); let m = mlp([4, 6, 3], #{ seed: 1 });");
    assert_eq!(val(&mut s, "eigs(hessian(m, d)).len"), "51");
    // The symmetric part, asked for explicitly, answers.
    assert_eq!(
        val(
            &mut s,
            "let b = matrix([[1, 2], [0, 1]]); eigs((b + b.transpose) / 2).to_array()"
        ),
        "[0.0, 2.0]"
    );
}

#[test]
fn calls_are_consistent() {
    let mut s = session();
    val(&mut s, "let d = make_clusters(#{ n: 40, k: 3, dim: 4, seed: 1 }); let m = mlp([4, 6, 3], #{ seed: 1 });");
    // A count positional or as an option.
    assert_eq!(
        val(
            &mut s,
            "top_eigs(m, d, #{ k: 4 }).top(4) == top_eigs(m, d, 4).top(4)"
        ),
        "true"
    );
    let e = err(&mut s, "top_eigs(m, d, #{ tol: 1e-6 })");
    assert!(e.contains("expected the count k"), "{e}");
    let e = err(&mut s, "top_eigs(m, d, 3, #{ k: 4 })");
    assert!(e.contains("expected k once"), "{e}");
    assert_eq!(
        val(
            &mut s,
            "hessian_trace(m, d, 50).value == hessian_trace(m, d, #{ probes: 50 }).value"
        ),
        "true"
    );
    assert_eq!(
        val(&mut s, "hessian_trace(m, d, 30, #{ seed: 2 }).probes"),
        "30"
    );
    assert_eq!(val(&mut s, "check_hessian(m, d, 2) < 1e-6"), "true");
    assert_eq!(val(&mut s, "type_of(hist([1, 2, 3], 5))"), "\"Plot\"");
    // Integers where a float is expected.
    val(&mut s, "let sp = eigs(matrix([[3, 0], [0, 0.5]]));");
    assert_eq!(val(&mut s, "sp.count_above(1)"), "1");
    val(&mut s, "assert_close(2, 2.0, 0);");
    // An integer fraction reaches split's own check (not "function not found").
    let e = err(&mut s, "d.split(1, 3)");
    assert!(
        e.contains("expected a fraction strictly between 0 and 1, got 1"),
        "{e}"
    );
    assert_eq!(val(&mut s, "LeakyReLU(1).to_string()"), "\"LeakyReLU(1)\"");
    // `^` points to `**`.
    let e = err(&mut s, "let x = 2.0; x ^ 2");
    assert!(e.contains("for a power write `**`"), "{e}");
    // Properties as the contract lists them, methods kept.
    assert_eq!(
        val(&mut s, "[sp.min, sp.max, sp.min(), sp.max()]"),
        "[0.5, 3.0, 0.5, 3.0]"
    );
    val(&mut s, "let a = matrix([[1, 2], [3, 4]]);");
    assert_eq!(
        val(
            &mut s,
            "[a.trace, a.trace(), a.transpose.get(0, 1), a.transpose().get(0, 1)]"
        ),
        "[5.0, 5.0, 3.0, 3.0]"
    );
    // Every Spectrum's info has the contract's keys (() where not applicable).
    for code in ["sp", "top_eigs(m, d, 2)", "eigs(hessian(m, d))"] {
        for key in [
            "method",
            "steps",
            "probes",
            "seed",
            "matvecs",
            "residuals",
            "seconds",
        ] {
            assert_eq!(
                val(&mut s, &format!("({code}).info.contains(\"{key}\")")),
                "true",
                "{code} lacks {key}"
            );
        }
    }
    assert_eq!(val(&mut s, "sp.info.steps == ()"), "true");
}

/// Trained cluster nets, k = 2 … 10 (20–20–k ReLU, 40 samples per class,
/// full-batch GD for 2,000 steps): on the full Hessian, the full
/// Gauss–Newton matrix and the top 2k by Lanczos, the elbow is within ±1 of
/// k and the gap and ratio rules never say more than 2k; `rule: "all"`
/// gives every count and the edge.
#[test]
fn outlier_rules_hold_on_full_spectra() {
    let mut s = session();
    let out = val(
        &mut s,
        r#"
let rows = [];
for k in 2..11 {
  let d = make_clusters(#{ n: 40 * k, k: k, dim: 20, seed: k });
  let m = mlp([20, 20, k], #{ seed: k, init: "normal", init_std: 0.1 });
  train(m, d, #{ lr: 0.1, steps: 2000 });
  let h = eigs(hessian(m, d)).outliers(#{ rule: "all" });
  let g = eigs(gauss_newton(m, d)).outliers(#{ rule: "all" });
  let t = top_eigs(m, d, 2 * k).outliers(#{ rule: "all" });
  for c in [h, g, t] {
    rows.push(`${k} ${c.elbow} ${c.gap} ${c.ratio} ${c.edge}`);
  }
}
rows
"#,
    );
    let rows: Vec<Vec<f64>> = out
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .map(|r| {
            r.trim_matches('"')
                .split(' ')
                .map(|x| x.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 27, "{out}");
    for r in &rows {
        let (k, elbow, gap, ratio, edge) = (r[0], r[1], r[2], r[3], r[4]);
        assert!((elbow - k).abs() <= 1.0, "elbow {elbow} for k = {k}: {out}");
        assert!(gap <= 2.0 * k && ratio <= 2.0 * k, "k = {k}: {r:?}: {out}");
        assert!(edge > 0.0, "{out}");
    }
}

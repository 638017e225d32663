//! What a newcomer hits (issue 17): `eigs` refusing a non-symmetric matrix,
//! consistent calls (counts positional or as options, integers for floats,
//! properties, `info` keys), and outlier rules that hold on full spectra.

use hlab::plot::colour_codes;
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

/// Two series on one chart, as `hlab -e` code with extra plot options.
fn two_series(opts: &str) -> String {
    format!(
        "plot([eigs(matrix([[1, 0], [0, 2]])), eigs(matrix([[3, 0], [0, 5]]))], #{{ labels: [\"a\", \"b\"]{opts} }});"
    )
}

fn eval_piped(code: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hlab"));
    cmd.args(["-e", code])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Charts in colour where the terminal has it (issue 17, item 2): two
/// series in two ANSI colours, the legend in the same ones; none when stdout
/// is not a terminal, with NO_COLOR, or in the kernel's text; the `color`
/// option and CLICOLOR_FORCE force it.
#[test]
fn several_series_in_colour_only_where_wanted() {
    // Piped: plain, unless forced.
    let plain = eval_piped(&two_series(""), &[]);
    assert!(plain.contains("·· a   ·· b"), "{plain}");
    assert!(!plain.contains('\x1b'), "piped output has colour:\n{plain}");
    for (opts, env) in [
        (", color: true", vec![]),
        (", color: true", vec![("NO_COLOR", "1")]),
        ("", vec![("CLICOLOR_FORCE", "1")]),
    ] {
        let t = eval_piped(&two_series(opts), &env);
        let mut codes = colour_codes(&t);
        codes.sort();
        assert_eq!(codes, ["33", "34"], "{opts} {env:?}:\n{t}");
        assert!(
            t.contains("\x1b[34m·· a\x1b[0m   \x1b[33m·· b\x1b[0m"),
            "the legend in the same colours:\n{t}"
        );
    }
    let t = eval_piped(&two_series(", color: false"), &[("CLICOLOR_FORCE", "1")]);
    assert!(!t.contains('\x1b'), "{t}");
    let e = std::process::Command::new(env!("CARGO_BIN_EXE_hlab"))
        .args(["-e", &two_series(", color: 1")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&e.stderr).contains("option `color`: expected true or false"));
    // The kernel's text (the same Display as any session's): plain.
    let (mut s, out) = Session::collecting();
    s.eval(&two_series("")).unwrap();
    let texts: Vec<String> = out
        .lock()
        .unwrap()
        .iter()
        .filter_map(|o| match o {
            hlab::output::Output::Display(d) => Some(d.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains("·· a   ·· b") && !texts[0].contains('\x1b'));

    // A terminal: in colour, unless NO_COLOR is set.
    let dir = std::env::temp_dir().join(format!("hlab-colour-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_hlab");
    let code = two_series("").replace('"', "\\\"");
    let cmd = format!(
        "env -u NO_COLOR -u CLICOLOR_FORCE {bin} -e \"{code}\"; echo FIRST-DONE; \
         env NO_COLOR=1 {bin} -e \"{code}\"; echo SECOND-DONE"
    );
    let t = crate::repl::Tmux::command(&dir, 100, 60, &cmd);
    let screen = t.wait_for(
        "both runs",
        std::time::Duration::from_secs(30),
        crate::repl::Tmux::screen_with_escapes,
        |s| s.contains("SECOND-DONE"),
    );
    drop(t);
    let (first, second) = screen.split_once("FIRST-DONE").unwrap();
    let codes = colour_codes(first);
    assert!(
        codes.iter().any(|c| c == "34") && codes.iter().any(|c| c == "33"),
        "a terminal gets two colours: {codes:?}\n{first}"
    );
    assert!(
        colour_codes(second).is_empty(),
        "NO_COLOR still has colour:\n{second}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `assert_answer` (the course's checks): passes within the tolerance, and
/// otherwise says which way the answer is off and by how much, for numbers,
/// counts, Vectors and Matrices, with the hints of its `about` map.
#[test]
fn assert_answer_says_which_way_and_by_how_much() {
    let mut s = session();
    val(&mut s, "assert_answer(1.0 + 1e-13, 1.0, 1e-12, \"x\");");
    val(
        &mut s,
        "assert_answer(vector([1, 2]) * 3, vector([3, 6]), 0, \"v\");",
    );
    let e = err(&mut s, "assert_answer(3, 4, 0, \"step 2: n\")");
    assert_eq!(e, "assert: step 2: n: expected 4, got 3: too few by 1");
    let e = err(
        &mut s,
        "assert_answer(1.5, 1.0, 1e-6, #{ what: \"x\", large: \"L\", small: \"S\", hint: \"H\" })",
    );
    assert_eq!(
        e,
        "assert: x: expected 1, got 1.5: too large by 0.5 (1.5× the expected; tolerance 1e-6 relative); L; H"
    );
    let e = err(&mut s, "assert_answer(1.0 - 1e-9, 1.0, 1e-12, \"x\")");
    assert!(
        e.contains("expected 1, got 0.999999999: too small by 1e-9"),
        "{e}"
    );
    let e = err(
        &mut s,
        "assert_answer(matrix([[1, 2], [3, 4]]) * 2.0, matrix([[1, 2], [3, 4]]), 1e-9, \"m\")",
    );
    assert!(
        e.contains("expected [1, 2, 3, 4], got [2, 4, 6, 8]: off by 1 relative")
            && e.contains("too large as a whole (norm 2× the expected)")
            && e.contains("furthest off at index 3: 8 instead of 4, too large by 4"),
        "{e}"
    );
    let e = err(
        &mut s,
        "assert_answer(vector([0, 1]), vector([1, 0]), 1e-9, \"d\")",
    );
    assert!(e.contains("points another way (cosine 0"), "{e}");
    let e = err(
        &mut s,
        "assert_answer(vector([1, 2]), vector([1, 2, 3]), 0, \"v\")",
    );
    assert!(
        e.contains("expected Vector of 3 entries, got Vector of 2 entries"),
        "{e}"
    );
    let e = err(
        &mut s,
        "assert_answer(matrix([[1, 2]]), matrix([[1], [2]]), 0, \"m\")",
    );
    assert!(e.contains("expected a 2×1 Matrix, got a 1×2 Matrix"), "{e}");
    let e = err(&mut s, "assert_answer(\"x\", 1.0, 0, \"a\")");
    assert!(e.contains("a: expected a number, got string"), "{e}");
    let e = err(&mut s, "assert_answer(1, 1, 0, #{ wht: \"x\" })");
    assert!(e.contains("unknown key `wht`"), "{e}");
    let e = err(&mut s, "assert_answer(1, 1, -1, \"x\")");
    assert!(e.contains("expected a tolerance rtol ≥ 0, got -1"), "{e}");
}

//! The teaching course: every solution passes `hlab check`, every exercise
//! fails it at step 1, and each exercise is its solution with the TODOs
//! blanked (same steps, same checks).

use std::path::PathBuf;
use std::process::Command;

fn course_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/course")
}

/// (exercise, solution) paths, sorted.
fn pairs() -> Vec<(PathBuf, PathBuf)> {
    let mut exercises: Vec<PathBuf> = std::fs::read_dir(course_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.ends_with(".rhai") && !n.ends_with(".solution.rhai")
        })
        .collect();
    exercises.sort();
    exercises
        .into_iter()
        .map(|e| {
            let s = e.with_extension("solution.rhai");
            assert!(s.exists(), "{} has no solution file", e.display());
            (e, s)
        })
        .collect()
}

fn check(path: &PathBuf) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hlab"))
        .arg("check")
        .arg(path)
        .env("HLAB_NO_PROGRESS", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn the_course_has_at_least_six_exercises_all_embedded() {
    let p = pairs();
    assert!(p.len() >= 6, "{} exercises", p.len());
    let stems: Vec<String> = p
        .iter()
        .map(|(e, _)| e.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    let embedded: Vec<&str> = hlab::course::EXERCISES.iter().map(|e| e.0).collect();
    assert_eq!(
        stems, embedded,
        "course::EXERCISES lists every exercise file"
    );
}

#[test]
fn every_solution_passes_and_every_exercise_is_not_done_at_step_1() {
    for (ex, sol) in pairs() {
        let (ok, out) = check(&sol);
        assert!(ok, "{} fails:\n{}", sol.display(), last_lines(&out, 12));
        assert!(out.contains("steps done."), "{}", last_lines(&out, 3));
        let (ok, out) = check(&ex);
        let nn = &ex.file_name().unwrap().to_str().unwrap()[..2];
        assert!(!ok, "{} passes untouched", ex.display());
        let want = format!("exercise {nn}: step 1 (");
        assert!(
            out.contains(&want) && out.contains("not done yet"),
            "{}:\n{}",
            ex.display(),
            last_lines(&out, 6)
        );
    }
}

#[test]
fn each_exercise_is_its_solution_with_the_todos_blanked() {
    for (ex, sol) in pairs() {
        let e = std::fs::read_to_string(&ex).unwrap();
        let s = std::fs::read_to_string(&sol).unwrap();
        let (el, sl): (Vec<&str>, Vec<&str>) = (e.lines().collect(), s.lines().collect());
        assert_eq!(el.len(), sl.len(), "{}: line counts differ", ex.display());
        for (i, (a, b)) in el.iter().zip(&sl).enumerate() {
            if a == b {
                continue;
            }
            let header = a.starts_with("//! Check your work") && b.starts_with("//! The solution");
            let todo = a.contains("// TODO") && b.contains("// TODO");
            assert!(
                header || todo,
                "{}:{}: differs from the solution outside a TODO line:\n  {a}\n  {b}",
                ex.display(),
                i + 1
            );
        }
        assert!(e.starts_with("//! Exercise "), "{}", ex.display());
    }
}

#[test]
fn a_partly_done_exercise_names_the_first_step_left() {
    // Exercise 01 with step 1 done: step 2 is next.
    let ex = course_dir().join("01_warmup.rhai");
    let code = std::fs::read_to_string(&ex)
        .unwrap()
        .replace("let u = ();", "let u = v / norm(v);");
    let dir = std::env::temp_dir().join(format!("hlab-course-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mine = dir.join("01_warmup.rhai");
    std::fs::write(&mine, &code).unwrap();
    let (ok, out) = check(&mine);
    assert!(!ok);
    assert!(
        out.contains("exercise 01: step 2 (count the parameters by hand) not done yet"),
        "{}",
        last_lines(&out, 4)
    );
    // A wrong answer is named by the failing assert.
    let wrong = code.replace("let p = ();", "let p = 200;");
    std::fs::write(&mine, wrong).unwrap();
    let (_, out) = check(&mine);
    assert!(
        out.contains(
            "step 2 (count the parameters by hand) not done yet: p, the number of parameters: \
             expected 227, got 200: too few by 27; each Linear layer has out × in weights"
        ),
        "{}",
        last_lines(&out, 4)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A wrong answer fails its step with the right value and which way it is
/// off (exercise 05 once accepted ‖H‖/‖R‖ for ‖R‖/‖H‖), wrong training gets
/// a hint, and a file that is no exercise is refused without running it.
#[test]
fn wrong_answers_and_strangers_are_caught() {
    let dir = std::env::temp_dir().join(format!("hlab-course05-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let solution = std::fs::read_to_string(course_dir().join("05_spectrum.solution.rhai")).unwrap();
    let wrong = solution.replace(
        "let share0 = frob(r0) / frob(h0);",
        "let share0 = frob(h0) / frob(r0);",
    );
    assert_ne!(wrong, solution);
    let p = dir.join("05_spectrum.rhai");
    std::fs::write(&p, &wrong).unwrap();
    let (ok, text) = check(&p);
    assert!(!ok, "{text}");
    let last = last_lines(&text, 1);
    assert!(
        last.contains("step 3") && last.contains("expected 0.95"),
        "{last}"
    );
    assert!(
        last.contains("too large by") && last.contains("not the other way?"),
        "{last}"
    );

    let untrained = solution.replace("epochs: 100,", "epochs: 1,");
    assert_ne!(untrained, solution);
    std::fs::write(&p, &untrained).unwrap();
    let (ok, text) = check(&p);
    assert!(!ok, "{text}");
    let last = last_lines(&text, 1);
    assert!(
        last.contains("step 4") && last.contains("train as given"),
        "{text}"
    );

    let stranger = dir.join("notes.rhai");
    std::fs::write(&stranger, "print(\"ran anyway\");").unwrap();
    let (ok, text) = check(&stranger);
    assert!(!ok);
    assert!(
        text.contains("is not one of the course's exercises"),
        "{text}"
    );
    assert!(!text.contains("ran anyway"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Exercise 01 does not show the parameter count before asking for it, and
/// a step that still holds a placeholder prints nothing half-done.
#[test]
fn no_answers_before_the_question_and_nothing_half_done() {
    let dir = std::env::temp_dir().join(format!("hlab-course01-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let solution = std::fs::read_to_string(course_dir().join("01_warmup.solution.rhai")).unwrap();
    let p = dir.join("01_warmup.rhai");
    let line = solution
        .lines()
        .find(|l| l.starts_with("let p = "))
        .unwrap();
    std::fs::write(&p, solution.replace(line, "let p = 100;")).unwrap();
    let (ok, text) = check(&p);
    assert!(!ok, "{text}");
    assert!(
        !text.contains("Model: ") && !text.contains("Linear(10"),
        "the layer table shows before the count is asked for:\n{text}"
    );
    assert!(
        last_lines(&text, 1).contains("step 2") && text.contains("too few"),
        "{text}"
    );
    let line = solution
        .lines()
        .find(|l| l.starts_with("let predicted = "))
        .unwrap();
    std::fs::write(
        &p,
        solution.replace(line, "let predicted = (); // TODO: lr·‖g‖²"),
    )
    .unwrap();
    let (ok, text) = check(&p);
    assert!(!ok, "{text}");
    assert!(
        !text.contains("first order predicts"),
        "half-done output:\n{text}"
    );
    assert!(
        text.contains("step 3") && text.contains("placeholder"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Checks a copy of `stem`'s solution with each wrong answer in turn: it
/// fails at that step, saying which way the answer is off and by how much.
/// `wrong`: (step, code in the solution, wrong code, directions accepted).
fn wrong_answers_fail_their_step(stem: &str, wrong: &[(usize, &str, &str, &[&str])]) {
    let dir = std::env::temp_dir().join(format!("hlab-wrong-{stem}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let solution =
        std::fs::read_to_string(course_dir().join(format!("{stem}.solution.rhai"))).unwrap();
    let (nn, _) = stem.split_once('_').unwrap();
    let mine = dir.join(format!("{stem}.rhai"));
    let mut steps_seen = Vec::new();
    for (step, right, bad, dirs) in wrong {
        assert_eq!(
            solution.matches(right).count(),
            1,
            "{stem}: `{right}` should occur once in the solution"
        );
        std::fs::write(&mine, solution.replacen(right, bad, 1)).unwrap();
        let (ok, text) = check(&mine);
        let last = last_lines(&text, 1);
        assert!(!ok, "{stem}: `{bad}` passes:\n{text}");
        assert!(
            last.starts_with(&format!("exercise {nn}: step {step} ("))
                && last.contains("not done yet"),
            "{stem}: `{bad}` should fail step {step}:\n{}",
            last_lines(&text, 4)
        );
        assert!(
            dirs.iter().any(|d| last.contains(&format!("{d} by "))),
            "{stem}: `{bad}` should say {dirs:?} by how much:\n{last}"
        );
        steps_seen.push(*step);
    }
    let n_steps = hlab::course::steps(hlab::course::split_checks(&solution).0).len();
    assert_eq!(
        steps_seen,
        (1..=n_steps).collect::<Vec<_>>(),
        "{stem}: one wrong answer per step"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

const LARGE: &[&str] = &["too large"];
const SMALL: &[&str] = &["too small"];
const EITHER: &[&str] = &["too large", "too small"];

#[test]
fn wrong_answers_01() {
    wrong_answers_fail_their_step(
        "01_warmup",
        &[
            (1, "let u = v / norm(v);", "let u = v / dot(v, v);", SMALL),
            (
                2,
                "let p = 10 * 16 + 16 + 16 * 3 + 3;",
                "let p = 10 * 16 + 16 + 16 * 3;",
                &["too few"],
            ),
            (
                3,
                "let predicted = lr * dot(g, g);",
                "let predicted = 2.0 * lr * dot(g, g);",
                LARGE,
            ),
            (
                4,
                "#{ lr: 0.1, epochs: 20, batch: 30, seed: 1 }); // TODO",
                "#{ lr: 0.1, epochs: 2, batch: 30, seed: 1 }); // TODO",
                LARGE,
            ),
        ],
    );
}

#[test]
fn wrong_answers_02() {
    wrong_answers_fail_their_step(
        "02_quadratic",
        &[
            (1, "r + [1.0]); // TODO", "r + [2.0]); // TODO", LARGE),
            (
                2,
                "xt.transpose() * xt / n.to_float();",
                "xt.transpose() * xt;",
                LARGE,
            ),
            (
                3,
                "moved.params = m.params + v;",
                "moved.params = m.params + 2.0 * v;",
                LARGE,
            ),
            (
                4,
                "let lambda = dot(q, h * q);",
                "let lambda = dot(q, h * q) / 2.0;",
                SMALL,
            ),
        ],
    );
}

#[test]
fn wrong_answers_03() {
    wrong_answers_fail_their_step(
        "03_stability",
        &[
            (
                1,
                "let lam = eigs(hessian(m, data)).max();",
                "let lam = eigs(hessian(m, data)).max() * 2.0;",
                LARGE,
            ),
            (
                2,
                "lr: 0.9 * edge, steps: 300, batch: 0 }); // TODO",
                "lr: 0.5 * edge, steps: 300, batch: 0 }); // TODO",
                LARGE,
            ),
            (
                3,
                "lr: 1.1 * edge, steps: 300, batch: 0 }); // TODO",
                "lr: 1.05 * edge, steps: 300, batch: 0 }); // TODO",
                SMALL,
            ),
            (
                4,
                "abs(1.0 - 1.1 * edge * lam);",
                "abs(1.0 - edge * lam);",
                SMALL,
            ),
        ],
    );
}

#[test]
fn wrong_answers_04() {
    wrong_answers_fail_their_step(
        "04_hvp",
        &[
            (1, "/ (2.0 * eps);", "/ eps;", LARGE),
            (
                2,
                "let rel = norm(fd - hv) / norm(hv);",
                "let rel = 2.0 * norm(fd - hv) / norm(hv);",
                LARGE,
            ),
            (
                3,
                "trail.push(dot(q, hq));",
                "trail.push(2.0 * dot(q, hq));",
                LARGE,
            ),
        ],
    );
}

#[test]
fn wrong_answers_05() {
    wrong_answers_fail_their_step(
        "05_spectrum",
        &[
            (
                1,
                "let neg0 = s0.frac_negative();",
                "let neg0 = s0.frac_negative() * 100.0;",
                LARGE,
            ),
            (
                2,
                "let exact = h0.trace();",
                "let exact = h0.trace() + 1.0;",
                LARGE,
            ),
            (
                3,
                "let share0 = frob(r0) / frob(h0);",
                "let share0 = frob(h0) / frob(r0);",
                LARGE,
            ),
            (
                4,
                "let share = frob(h - g) / frob(h);",
                "let share = 2.0 * frob(h - g) / frob(h);",
                LARGE,
            ),
        ],
    );
}

#[test]
fn wrong_answers_06() {
    wrong_answers_fail_their_step(
        "06_outliers",
        &[
            (
                1,
                "let s = trained_spectrum(4);",
                "let s = { let d4 = make_clusters(#{ n: 400, k: 4, dim: 20, seed: 4 }); let m4 = mlp([20, 24, 4], #{ seed: 1 }); train(m4, d4, #{ lr: 0.1, epochs: 30, batch: 40, seed: 1 }); eigs(hessian(m4, d4) * 2.0) };",
                LARGE,
            ),
            (2, "let n4 = s.outliers();", "let n4 = s.outliers() + 1;", &["too many"]),
            (3, "counts.push(trained_spectrum(k).outliers());", "counts.push(trained_spectrum(k).outliers() - 1);", &["too few"]),
        ],
    );
}

#[test]
fn wrong_answers_07() {
    wrong_answers_fail_their_step(
        "07_mnist",
        &[
            (
                1,
                "epochs: 30, batch: 50, seed: 1 }); // TODO",
                "epochs: 3, batch: 50, seed: 1 }); // TODO",
                LARGE,
            ),
            (
                2,
                "top_eigs(m, data, 20, #{ seed: 1 });",
                "top_eigs(m, data, 20, #{ seed: 1, matrix: \"gauss_newton\" });",
                EITHER,
            ),
            (
                3,
                "let n = s.outliers();",
                "let n = s.outliers() + 1;",
                &["too many"],
            ),
            (
                4,
                "below += 0.5 * (d.y[i] + d.y[i - 1])",
                "below += (d.y[i] + d.y[i - 1])",
                LARGE,
            ),
        ],
    );
}

#[test]
fn wrong_answers_08() {
    wrong_answers_fail_their_step(
        "08_edge_of_stability",
        &[
            (1, "let edge = 2.0 / lr;", "let edge = 1.0 / lr;", SMALL),
            (
                2,
                "let lam0 = top_eigs(m, data, 1).max();",
                "let lam0 = 0.5 * top_eigs(m, data, 1).max();",
                SMALL,
            ),
            (
                3,
                "lr: lr, steps: 1000, track: #{ every: 20 } }); // TODO",
                "lr: 0.9 * lr, steps: 1000, track: #{ every: 20 } }); // TODO",
                EITHER,
            ),
            (
                4,
                "/ h.sharpness.extract(30).len();",
                "/ h.sharpness.len();",
                SMALL,
            ),
        ],
    );
}

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
        out.contains("step 2 (count the parameters by hand) not done yet: p is 200, too few"),
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
    assert!(last.contains("step 3") && last.contains("= 0.95"), "{last}");
    assert!(last.contains("too large"), "{last}");

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
        !text.contains("227"),
        "the answer shows before it is asked for:\n{text}"
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

//! The teaching course in `examples/course/` and `hlab check`.
//!
//! Each exercise `NN_name.rhai` is a script in numbered steps (`// Step K:`
//! comments) whose unfinished parts are `()` placeholders marked `// TODO`,
//! followed by a checks section (after a `// ==== checks` line) of asserts
//! whose messages start with `step K:`. `NN_name.solution.rhai` fills in the
//! TODOs and shares the checks.
//!
//! [`check`] runs a learner's file with the original checks of its exercise
//! (embedded in hlab, so edited or deleted asserts do not count) and says in
//! plain words which step is not done yet: the first step that still holds
//! a placeholder, or the step whose assert failed, or where the code failed.

use crate::script::{ErrorKind, ScriptError, Session};

/// The marker line that starts an exercise's checks.
pub const CHECKS_MARKER: &str = "// ==== checks";

/// Every exercise, as shipped: (file stem, source).
pub const EXERCISES: &[(&str, &str)] = &[
    (
        "01_warmup",
        include_str!("../examples/course/01_warmup.rhai"),
    ),
    (
        "02_quadratic",
        include_str!("../examples/course/02_quadratic.rhai"),
    ),
    (
        "03_stability",
        include_str!("../examples/course/03_stability.rhai"),
    ),
    ("04_hvp", include_str!("../examples/course/04_hvp.rhai")),
    (
        "05_spectrum",
        include_str!("../examples/course/05_spectrum.rhai"),
    ),
    (
        "06_outliers",
        include_str!("../examples/course/06_outliers.rhai"),
    ),
    ("07_mnist", include_str!("../examples/course/07_mnist.rhai")),
    (
        "08_edge_of_stability",
        include_str!("../examples/course/08_edge_of_stability.rhai"),
    ),
];

/// The outcome of checking a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Every check passed.
    pub passed: bool,
    /// What to tell the learner (several lines).
    pub report: String,
}

/// A step of an exercise: its number, title and first line (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// K in `// Step K:`.
    pub number: usize,
    /// The text after `// Step K:` on that line.
    pub title: String,
    /// The line of the `// Step K:` comment.
    pub line: usize,
}

/// The `// Step K: …` headers of `code`, in order.
pub fn steps(code: &str) -> Vec<Step> {
    code.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let rest = l.trim_start().strip_prefix("// Step ")?;
            let (num, title) = rest.split_once(':')?;
            Some(Step {
                number: num.trim().parse().ok()?,
                title: title.trim().to_string(),
                line: i + 1,
            })
        })
        .collect()
}

/// Splits a file at the checks marker: (the learner's part, the checks).
pub fn split_checks(code: &str) -> (&str, Option<&str>) {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        if line.trim_start().starts_with(CHECKS_MARKER) {
            return (&code[..offset], Some(&code[offset..]));
        }
        offset += line.len();
    }
    (code, None)
}

/// Lines (1-based) that still hold a `()` placeholder on a TODO line.
pub fn placeholders(code: &str) -> Vec<usize> {
    code.lines()
        .enumerate()
        .filter(|(_, l)| {
            let Some((code, _)) = l.split_once("// TODO") else {
                return false;
            };
            code.match_indices("()").any(|(i, _)| {
                let before = code[..i].trim_end();
                let after = code[i + 2..].trim_start();
                matches!(before.chars().last(), Some('=' | '(' | ','))
                    && matches!(after.chars().next(), Some(';' | ')' | ','))
            })
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// The exercise a file belongs to: by its name (`NN_name.rhai`,
/// `NN_name.solution.rhai` or anything starting `NN_`), else by an
/// `//! Exercise NN` header.
pub fn exercise_for(file_name: &str, code: &str) -> Option<(&'static str, &'static str)> {
    let base = std::path::Path::new(file_name)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or(file_name);
    let by_prefix = |nn: &str| {
        EXERCISES
            .iter()
            .find(|(stem, _)| stem.split('_').next() == Some(nn))
            .copied()
    };
    if let Some(found) = EXERCISES
        .iter()
        .find(|(stem, _)| base.starts_with(&format!("{stem}.")))
    {
        return Some(*found);
    }
    if let Some((nn, _)) = base.split_once('_') {
        if nn.len() == 2 && nn.chars().all(|c| c.is_ascii_digit()) {
            if let Some(found) = by_prefix(nn) {
                return Some(found);
            }
        }
    }
    let header = code
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .find_map(|l| l.strip_prefix("//! Exercise "))?;
    by_prefix(header.get(..2)?)
}

fn step_of_line(steps: &[Step], line: usize) -> Option<&Step> {
    steps.iter().rev().find(|s| s.line <= line)
}

/// "exercise NN" and the title of the exercise's first line.
fn label_and_title(stem: &str, code: &str) -> (String, String) {
    let nn = stem.split('_').next().unwrap_or(stem);
    let title = code
        .lines()
        .next()
        .and_then(|l| l.split_once(" — "))
        .map_or("", |(_, t)| t)
        .trim_end_matches('.');
    (format!("exercise {nn}"), title.to_string())
}

/// The first sentence of a step's comment.
fn short_title(t: &str) -> &str {
    let t = t.split(". ").next().unwrap_or(t);
    t.trim_end_matches('.')
}

/// Checks a learner's `code` (from `file_name`) in `session`: runs it with
/// its exercise's original checks and says what is not done yet.
pub fn check(session: &mut Session, file_name: &str, code: &str) -> Verdict {
    let (mine, my_checks) = split_checks(code);
    let mut notes = Vec::new();
    let ((label, title), checks) = match exercise_for(file_name, code) {
        Some((stem, original)) => {
            let (_, orig_checks) = split_checks(original);
            let orig_checks = orig_checks.unwrap_or("");
            if my_checks.map(str::trim) != Some(orig_checks.trim()) {
                notes.push(format!(
                    "note: the checks at the end of {file_name} differ from exercise {stem}'s; the original checks are used"
                ));
            }
            (label_and_title(stem, original), orig_checks.to_string())
        }
        None => {
            // Said at once, and nothing of the file is run.
            let names: Vec<&str> = EXERCISES.iter().map(|(s, _)| *s).collect();
            return Verdict {
                passed: false,
                report: format!(
                    "{file_name} is not one of the course's exercises ({}, in examples/course/); \
                     it was not run — `hlab run {file_name}` runs any script",
                    names.join(", ")
                ),
            };
        }
    };
    let steps = steps(mine);
    let sep = if mine.ends_with('\n') || mine.is_empty() {
        ""
    } else {
        "\n"
    };
    let full = format!("{mine}{sep}{checks}");
    let checks_line = mine.lines().count() + 1;
    let first_todo = placeholders(mine)
        .first()
        .map(|&l| (l, step_of_line(&steps, l).map_or(0, |s| s.number)));
    let ctx = Failure {
        label: &label,
        steps: &steps,
        first_todo,
        mine,
    };
    let outcome = match session.check_syntax(&full) {
        Err(e) => Err(ctx.report(&e.error, None)),
        Ok(_) => match pieces(session, mine, &checks, checks_line, &steps) {
            // Step by step: each step's code, then its checks, so a wrong
            // answer shows before a later TODO stops the run; a step that
            // still holds a placeholder is not run (nothing half-done shows).
            Some(pieces) => pieces.iter().try_for_each(|p| {
                if let (None, Some((l, _))) = (p.check_of, first_todo) {
                    if (p.first_line..p.first_line + p.code.lines().count()).contains(&l) {
                        return Err(ctx.todo_report().unwrap_or_default());
                    }
                }
                session.eval(&p.code).map(|_| ()).map_err(|mut e| {
                    e.line = e.line.map(|l| l + p.first_line - 1);
                    ctx.report(&e, p.check_of)
                })
            }),
            // Steps that do not stand alone (a step inside a block): the whole.
            None => session.eval(&full).map(|_| ()).map_err(|e| {
                let in_checks = e.line.is_some_and(|l| l >= checks_line);
                ctx.report(&e, in_checks.then_some(None))
            }),
        },
    };
    let passed = match outcome {
        Ok(()) => {
            let about = if title.is_empty() {
                String::new()
            } else {
                format!(" ({title})")
            };
            notes.push(format!("{label}{about}: all {} steps done.", steps.len()));
            if let Some((l, _)) = first_todo {
                notes.push(format!(
                    "(line {l} still has a `()` placeholder, but the checks pass)"
                ));
            }
            true
        }
        Err(report) => {
            notes.push(report);
            false
        }
    };
    Verdict {
        passed,
        report: notes.join("\n"),
    }
}

/// A piece of a checked file, run on its own in the session.
struct Piece {
    code: String,
    /// Its first line in the file (1-based).
    first_line: usize,
    /// `None` for the learner's code; `Some(step)` for checks (of that step,
    /// when known).
    check_of: Option<Option<usize>>,
}

/// The step a check line names (`"step K: …"`), if it names one.
fn named_step(line: &str) -> Option<usize> {
    let i = line.find("step ")?;
    if !matches!(line[..i].chars().last(), Some('"' | '`')) {
        return None;
    }
    let rest = &line[i + 5..];
    let (n, _) = rest.split_once(':')?;
    n.trim().parse().ok()
}

/// The file cut into steps, each followed by its checks; `None` when a piece
/// does not parse alone.
fn pieces(
    session: &Session,
    mine: &str,
    checks: &str,
    checks_line: usize,
    steps: &[Step],
) -> Option<Vec<Piece>> {
    let lines: Vec<&str> = mine.lines().collect();
    let mut bounds: Vec<usize> = vec![1];
    bounds.extend(steps.iter().map(|s| s.line));
    bounds.push(lines.len() + 1);
    bounds.dedup();
    // Check lines grouped by the step they name; unnamed lines go with the
    // group above (or the first group).
    let mut groups: Vec<(Option<usize>, usize, Vec<&str>)> = Vec::new();
    for (i, l) in checks.lines().enumerate() {
        let k = named_step(l);
        let new_group = match (k, groups.last()) {
            (_, None) => true,
            (Some(k), Some(g)) => g.0 != Some(k),
            (None, Some(_)) => false,
        };
        if new_group {
            groups.push((k, checks_line + i, vec![l]));
        } else if let Some(g) = groups.last_mut() {
            g.2.push(l);
        }
    }
    let mut out = Vec::new();
    let mut used = vec![false; groups.len()];
    for w in bounds.windows(2) {
        let code = lines[w[0] - 1..w[1] - 1].join("\n");
        let step = step_of_line(steps, w[0]).map(|s| s.number);
        out.push(Piece {
            code,
            first_line: w[0],
            check_of: None,
        });
        for (g, u) in groups.iter().zip(used.iter_mut()) {
            if step.is_some() && g.0 == step {
                *u = true;
                out.push(Piece {
                    code: g.2.join("\n"),
                    first_line: g.1,
                    check_of: Some(g.0),
                });
            }
        }
    }
    for (g, u) in groups.iter().zip(&used) {
        if !u {
            out.push(Piece {
                code: g.2.join("\n"),
                first_line: g.1,
                check_of: Some(g.0),
            });
        }
    }
    out.iter()
        .all(|p| session.check_syntax(&p.code).is_ok())
        .then_some(out)
}

fn describe(step: Option<&Step>) -> String {
    match step {
        Some(s) if !s.title.is_empty() => {
            format!("step {} ({})", s.number, short_title(&s.title))
        }
        Some(s) => format!("step {}", s.number),
        None => "the code before step 1".to_string(),
    }
}

/// What a failure report needs to know.
struct Failure<'a> {
    label: &'a str,
    steps: &'a [Step],
    /// The first placeholder line and its step.
    first_todo: Option<(usize, usize)>,
    mine: &'a str,
}

impl Failure<'_> {
    fn step(&self, n: usize) -> Option<&Step> {
        self.steps.iter().find(|s| s.number == n)
    }

    /// "step K not done yet: line L still has the `()` placeholder".
    fn todo_report(&self) -> Option<String> {
        let (line, todo_step) = self.first_todo?;
        let src = self.mine.lines().nth(line - 1).unwrap_or("").trim();
        Some(format!(
            "{}: {} not done yet: line {line} still has the `()` placeholder:\n    {src}",
            self.label,
            describe(self.step(todo_step))
        ))
    }

    /// The report for error `e`, raised by the learner's code (`check_of`
    /// `None`) or by the checks (of a step, when known).
    fn report(&self, e: &ScriptError, check_of: Option<Option<usize>>) -> String {
        let label = self.label;
        if e.kind == ErrorKind::Syntax {
            return format!("{label}: the file does not parse yet:\n{}", e.pretty());
        }
        if e.kind == ErrorKind::Interrupted {
            return format!("{label}: interrupted.");
        }
        let assert_step = e
            .message
            .strip_prefix("assert: step ")
            .and_then(|r| r.split_once(':'))
            .and_then(|(n, msg)| Some((n.trim().parse::<usize>().ok()?, msg.trim())));
        let failed_step = match (assert_step, check_of) {
            (Some((n, _)), _) => Some(n),
            (None, Some(k)) => k,
            (None, None) => e
                .line
                .and_then(|l| step_of_line(self.steps, l))
                .map(|s| s.number),
        };
        // A placeholder at or before the failing step: that step is not done.
        if let Some((_, todo_step)) = self.first_todo {
            if failed_step.is_none_or(|f| todo_step <= f) {
                return self.todo_report().unwrap_or_default();
            }
        }
        match (check_of, failed_step) {
            (Some(_), Some(n)) => {
                let msg = assert_step.map_or(e.message.as_str(), |(_, m)| m);
                format!("{label}: {} not done yet: {msg}", describe(self.step(n)))
            }
            (Some(_), None) => format!("{label}: a check failed: {}", e.message),
            (None, n) => {
                let hint = if e.message.contains("()") {
                    "\n(is a value there still the `()` placeholder of a TODO?)"
                } else {
                    ""
                };
                format!(
                    "{label}: {} fails:\n{}{hint}",
                    describe(n.and_then(|n| self.step(n))),
                    e.pretty()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_placeholders_are_found() {
        let code = "let a = 1;\n// Step 1: first\nlet x = (); // TODO: x\n// Step 2: second\nq.push(()); // TODO\nlet c = m.clone(); // TODO: done\nlet k = f(a, ()); // TODO\n";
        let s = steps(code);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].number, s[0].title.as_str(), s[0].line),
            (1, "first", 2)
        );
        assert_eq!(placeholders(code), vec![3, 5, 7]);
    }

    #[test]
    fn files_map_to_their_exercise() {
        assert_eq!(
            exercise_for("x/02_quadratic.rhai", "").map(|e| e.0),
            Some("02_quadratic")
        );
        assert_eq!(
            exercise_for("02_quadratic.solution.rhai", "").map(|e| e.0),
            Some("02_quadratic")
        );
        assert_eq!(
            exercise_for("04_mine.rhai", "").map(|e| e.0),
            Some("04_hvp")
        );
        assert_eq!(
            exercise_for("mine.rhai", "//! Exercise 03 — x\n").map(|e| e.0),
            Some("03_stability")
        );
        assert_eq!(exercise_for("mine.rhai", "let a = 1;"), None);
    }

    #[test]
    fn every_exercise_has_steps_checks_and_placeholders() {
        for (stem, src) in EXERCISES {
            let (mine, checks) = split_checks(src);
            let checks = checks.unwrap_or_else(|| panic!("{stem}: no checks"));
            let st = steps(mine);
            assert!(!st.is_empty(), "{stem}: no steps");
            for (i, s) in st.iter().enumerate() {
                assert_eq!(s.number, i + 1, "{stem}: steps numbered in order");
                assert!(
                    checks.contains(&format!("step {}:", s.number)),
                    "{stem}: no check names step {}",
                    s.number
                );
            }
            assert!(
                !placeholders(mine).is_empty(),
                "{stem}: no TODO placeholders"
            );
            assert!(src.starts_with("//! Exercise "), "{stem}: header");
        }
    }

    #[test]
    fn a_fresh_exercise_is_not_done_at_step_1() {
        let (mut s, _) = Session::collecting();
        let (_, src) = EXERCISES[0];
        let v = check(&mut s, "01_warmup.rhai", src);
        assert!(!v.passed);
        assert!(
            v.report
                .contains("exercise 01: step 1 (a unit vector) not done yet"),
            "{}",
            v.report
        );
        assert!(v.report.contains("not done yet"), "{}", v.report);
    }

    #[test]
    fn edited_checks_are_replaced_by_the_originals() {
        let (mut s, _) = Session::collecting();
        let (_, src) = EXERCISES[0];
        let (mine, _) = split_checks(src);
        let cheat = format!("{mine}// ==== checks\nassert(true, \"step 1: fine\");\n");
        let v = check(&mut s, "01_warmup.rhai", &cheat);
        assert!(!v.passed, "{}", v.report);
        assert!(
            v.report.contains("the original checks are used"),
            "{}",
            v.report
        );
    }
}

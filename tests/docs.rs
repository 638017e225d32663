//! Every documented function's ```rhai example runs, and its `// prints …`
//! comments match what it prints — so help text cannot go stale.

use hlab::output::Output;
use hlab::script::Session;

/// The `// prints X` expectations of an example, in order.
fn expectations(example: &str) -> Vec<String> {
    example
        .lines()
        .filter_map(|l| {
            l.split_once("// prints ")
                .map(|(_, e)| e.trim().to_string())
        })
        .collect()
}

fn printed(outputs: &[Output]) -> Vec<String> {
    let mut lines = Vec::new();
    for o in outputs {
        if let Output::Stdout(s) = o {
            lines.extend(s.lines().map(str::to_string));
        }
    }
    lines
}

#[test]
fn every_example_runs_and_prints_what_it_says() {
    let (probe, _) = Session::collecting();
    let docs = probe.docs();
    let mut ran = 0;
    let mut failures = Vec::new();
    for d in &docs {
        let Some(ex) = d.example() else { continue };
        let (mut s, out) = Session::collecting();
        match s.eval(&ex) {
            Err(e) => failures.push(format!("{}: example failed: {}\n{ex}", d.name, e)),
            Ok(_) => {
                let got = printed(&out.lock().unwrap());
                let want = expectations(&ex);
                let mut it = got.iter();
                for w in &want {
                    if !it.any(|g| g.trim() == w) {
                        failures.push(format!(
                            "{}: expected a printed line `{w}`, got:\n{}",
                            d.name,
                            got.join("\n")
                        ));
                        break;
                    }
                }
            }
        }
        ran += 1;
    }
    assert!(ran >= 30, "only {ran} examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_api_primitive_has_a_doc_with_an_example() {
    let (probe, _) = Session::collecting();
    let docs = probe.docs();
    // Every name :help lists by topic, plus properties and methods that
    // the topic table does not list.
    let extra = ["layers", "shape", "tracked", "sharpness", "split", "take"];
    let required = hlab::script::docs::TOPICS
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .chain(extra);
    let mut missing = Vec::new();
    for name in required {
        let found = docs.iter().any(|d| d.name == name && d.example().is_some());
        if !found {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "no documented example for: {missing:?}");
    let help = hlab::script::docs::help_text(&docs, "train").unwrap();
    assert!(
        help.contains("train(m: Model, data: Dataset, opts: Map)"),
        "{help}"
    );
    assert!(help.contains("until_grad_norm"), "{help}");
}

/// docs/REFERENCE.md is what `hlab help --reference` writes today.
#[test]
fn the_reference_is_current() {
    let (s, _) = Session::collecting();
    let now = s.reference();
    let file = std::fs::read_to_string("docs/REFERENCE.md").unwrap_or_default();
    assert!(
        file == now,
        "docs/REFERENCE.md is out of date: run `hlab help --reference > docs/REFERENCE.md`"
    );
    for name in [
        "make_clusters",
        "top_eigs",
        "class_decomposition",
        "Type Spectrum",
    ] {
        assert!(now.contains(&format!("### {name}\n")), "{name} missing");
    }
    assert!(
        now.contains("Options: `lr`, `batch`"),
        "train's options missing"
    );
}

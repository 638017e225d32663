//! The shape of the house: `src/lib.rs`'s module table lists every module,
//! in layers, and no module reaches up the table (so there are no import
//! cycles); only `src/script/` imports rhai.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The modules in the order of `src/lib.rs`'s table.
fn table() -> Vec<String> {
    let lib = std::fs::read_to_string("src/lib.rs").unwrap();
    lib.lines()
        .filter_map(|l| l.strip_prefix("//! | [`"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

fn declared() -> BTreeSet<String> {
    let lib = std::fs::read_to_string("src/lib.rs").unwrap();
    lib.lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The files of module `m`: `src/m.rs` and everything under `src/m/`.
fn files_of(m: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = PathBuf::from(format!("src/{m}.rs"));
    if file.exists() {
        out.push(file);
    }
    let dir = PathBuf::from(format!("src/{m}"));
    if dir.is_dir() {
        rust_files(&dir, &mut out);
    }
    out
}

/// A file's code without comments and without its test module (tests may
/// use anything).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text,
    };
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `crate::NAME` modules a piece of code refers to.
fn uses(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = code[i + 7..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        out.insert(name);
    }
    out
}

#[test]
fn the_module_table_lists_every_module_once() {
    let t = table();
    let listed: BTreeSet<String> = t.iter().cloned().collect();
    assert_eq!(listed.len(), t.len(), "a module listed twice: {t:?}");
    assert_eq!(
        listed,
        declared(),
        "src/lib.rs: table and `pub mod`s differ"
    );
}

#[test]
fn no_module_reaches_up_the_table() {
    let t = table();
    let mut bad = Vec::new();
    for (i, m) in t.iter().enumerate() {
        for f in files_of(m) {
            for u in uses(&code_of(&f)) {
                if let Some(j) = t.iter().position(|x| *x == u) {
                    if j > i {
                        bad.push(format!("{} uses crate::{u}", f.display()));
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "modules must use only those above them in src/lib.rs's table:\n{}",
        bad.join("\n")
    );
    // The check sees real uses: the scripting layer uses the math.
    assert!(uses(&code_of(Path::new("src/script/api/curvature.rs"))).contains("curvature"));
}

#[test]
fn only_the_scripting_layer_imports_rhai() {
    let mut all = Vec::new();
    rust_files(Path::new("src"), &mut all);
    let offenders: Vec<String> = all
        .iter()
        .filter(|f| !f.starts_with("src/script"))
        .filter(|f| {
            let c = code_of(f);
            c.contains("rhai::") || c.contains("use rhai")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "rhai outside src/script/: {offenders:?}"
    );
}

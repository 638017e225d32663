//! Embeds every `stdlib/*.rhai` file into the binary (sorted by name), so
//! adding a helper library needs no Rust change.

use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-changed=stdlib");
    let mut files: Vec<_> = std::fs::read_dir("stdlib")
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from(
        "/// Embedded stdlib sources: (name, code).\npub const STDLIB: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("stdlib");
        let abs = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        );
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()))
        .join("stdlib.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=could not write {}: {e}", dest.display());
    }
}

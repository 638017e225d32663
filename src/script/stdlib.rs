//! hlab's standard library written in its own language (`stdlib/*.rhai`),
//! embedded at build time and loaded into every session, so its functions
//! are global and their `///` docs show in `:help`.

include!(concat!(env!("OUT_DIR"), "/stdlib.rs"));

/// Compiles the stdlib into one AST of functions.
pub fn compile(engine: &rhai::Engine) -> Result<rhai::AST, String> {
    let mut ast = rhai::AST::empty();
    for (name, code) in STDLIB {
        let mut a = engine
            .compile(code)
            .map_err(|e| format!("stdlib/{name}.rhai: {e}"))?;
        a.set_source(format!("stdlib/{name}.rhai"));
        a.clear_statements();
        ast = ast.merge(&a);
    }
    Ok(ast)
}

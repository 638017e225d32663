//! Function docs read back from rhai's metadata: the `///` comments of the
//! Rust built-ins and of script-defined (stdlib) functions alike.

use rhai::{Engine, AST};

/// One documented function overload.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDoc {
    /// Function name as scripts call it.
    pub name: String,
    /// `name(a: Type, …) -> Type`.
    pub signature: String,
    /// The doc text, `///` markers removed.
    pub doc: String,
}

impl FnDoc {
    /// The first ```` ```rhai ```` block of the doc, if any.
    pub fn example(&self) -> Option<String> {
        let start = self.doc.find("```rhai")?;
        let rest = &self.doc[start + 7..];
        let end = rest.find("```")?;
        Some(rest[..end].trim_matches('\n').to_string())
    }

    /// The one-line summary.
    pub fn summary(&self) -> &str {
        self.doc.lines().next().unwrap_or("")
    }

    /// The first sentence of the doc (its first paragraph up to `. `), cut to
    /// at most `max` characters with `…`.
    pub fn sentence(&self, max: usize) -> String {
        let para: Vec<&str> = self
            .doc
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect();
        let para = para.join(" ");
        let first = match para.find(". ") {
            Some(i) => &para[..=i],
            None => para.as_str(),
        };
        if first.chars().count() <= max {
            first.to_string()
        } else {
            let cut: String = first.chars().take(max.saturating_sub(1)).collect();
            format!("{}…", cut.trim_end())
        }
    }
}

fn clean_type(t: &str) -> String {
    // Unwrap result types: `RResult<X>` / `Result<X, …>` → `X`.
    let mut t = t.trim().to_string();
    for wrapper in ["RResult<", "Result<"] {
        while let Some(i) = t.find(wrapper) {
            let inner_start = i + wrapper.len();
            let mut depth = 1;
            let mut end = None;
            for (k, ch) in t[inner_start..].char_indices() {
                match ch {
                    '<' => depth += 1,
                    '>' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(inner_start + k);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let Some(end) = end else { break };
            let inner = t[inner_start..end]
                .split(", Box<")
                .next()
                .unwrap_or("")
                .to_string();
            t = format!("{}{}{}", &t[..i], inner, &t[end + 1..]);
        }
    }
    // Map word by word.
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let w = word.rsplit("::").next().unwrap_or(word).to_string();
        out.push_str(match w.as_str() {
            "INT" | "i64" => "int",
            "FLOAT" | "f64" => "float",
            "ImmutableString" | "str" | "String" => "string",
            "Dynamic" => "any",
            "mut" => "",
            other => other,
        });
        word.clear();
    };
    for ch in t.chars() {
        if ch.is_alphanumeric() || ch == '_' || ch == ':' {
            word.push(ch);
        } else {
            flush(&mut word, &mut out);
            if ch != '&' {
                out.push(ch);
            }
        }
    }
    flush(&mut word, &mut out);
    out.replace("  ", " ")
}

fn clean_doc(comments: &[impl AsRef<str>]) -> String {
    let mut lines = Vec::new();
    for c in comments {
        for line in c.as_ref().lines() {
            let l = line.trim_start();
            let l = l
                .strip_prefix("///")
                .or_else(|| l.strip_prefix("//!"))
                .unwrap_or(l);
            lines.push(l.strip_prefix(' ').unwrap_or(l).to_string());
        }
    }
    lines.join("\n").trim().to_string()
}

/// Every documented function: hlab's built-ins, then those of `ast` (stdlib
/// and user-defined functions).
pub fn collect(engine: &Engine, ast: Option<&AST>) -> Vec<FnDoc> {
    let mut out: Vec<FnDoc> = engine.collect_fn_metadata(
        None,
        |info| {
            let m = info.metadata;
            if m.name.starts_with("get$")
                || m.name.starts_with("set$")
                || m.name.starts_with("index$")
            {
                // Properties: documented under their plain name.
                let prop = m.name.split('$').nth(1).unwrap_or(&m.name).to_string();
                if m.name.starts_with("set$") {
                    return None;
                }
                return Some(FnDoc {
                    name: prop.clone(),
                    signature: format!(".{prop} (property)"),
                    doc: clean_doc(&m.comments),
                });
            }
            let sig = m.gen_signature(|t| clean_type(t).into());
            Some(FnDoc {
                name: m.name.to_string(),
                signature: clean_type(&sig),
                doc: clean_doc(&m.comments),
            })
        },
        false,
    );
    if let Some(ast) = ast {
        for f in ast.iter_functions() {
            if f.name.starts_with('_') {
                continue;
            }
            out.push(FnDoc {
                name: f.name.to_string(),
                signature: format!("{}({})", f.name, f.params.join(", ")),
                doc: clean_doc(&f.comments),
            });
        }
    }
    out
}

/// The docs of every overload named `name`.
pub fn lookup<'a>(docs: &'a [FnDoc], name: &str) -> Vec<&'a FnDoc> {
    docs.iter().filter(|d| d.name == name).collect()
}

/// `:help name` text: signatures, then the longest doc among the overloads.
pub fn help_text(docs: &[FnDoc], name: &str) -> Option<String> {
    let found = lookup(docs, name);
    if found.is_empty() {
        return None;
    }
    let mut sigs: Vec<&str> = found.iter().map(|d| d.signature.as_str()).collect();
    // Sorted: rhai lists a function's overloads in no fixed order.
    sigs.sort();
    sigs.dedup();
    let main = found.iter().max_by(|a, b| longest_doc(a, b))?;
    let mut s = sigs.join("\n");
    s.push_str("\n\n");
    s.push_str(&main.doc);
    Some(s)
}

/// A doc as terminal text: code fences dropped, example lines indented.
pub fn terminal_doc(doc: &str) -> String {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in doc.lines() {
        let t = line.trim_start();
        if t.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push(format!("    {line}"));
        } else if let Some(h) = t.strip_prefix("# ") {
            out.push(format!("{h}:"));
        } else {
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

/// `:help`-style text (signatures, a blank line, the doc) as Markdown for a
/// notebook tooltip: the signatures in a code block, `# Example` as a bold
/// line, code fences kept (they are Markdown already).
pub fn markdown_doc(help: &str) -> String {
    let (sigs, doc) = help.split_once("\n\n").unwrap_or((help, ""));
    format!("```rhai\n{sigs}\n```\n{}", markdown_body(doc))
}

/// hlab's functions by topic, for `:help` (names not defined in a session
/// are skipped; defined ones missing here are listed under "more").
pub const TOPICS: &[(&str, &[&str])] = &[
    ("data", &["make_clusters", "load_mnist", "dataset"]),
    (
        "models and layers",
        &[
            "mlp",
            "net",
            "predict",
            "Linear",
            "Conv2d",
            "MaxPool2d",
            "AvgPool2d",
            "Flatten",
            "ReLU",
            "LeakyReLU",
            "Tanh",
            "Sigmoid",
            "GELU",
            "Softplus",
            "LayerNorm",
            "Residual",
        ],
    ),
    (
        "training",
        &["train", "last_history", "loss", "accuracy", "grad"],
    ),
    (
        "curvature",
        &[
            "hvp",
            "hessian",
            "gauss_newton",
            "hessian_trace",
            "gn_gram",
            "class_decomposition",
        ],
    ),
    (
        "spectra",
        &[
            "eigs",
            "top_eigs",
            "density",
            "marchenko_pastur",
            "ks_distance",
        ],
    ),
    ("landscape", &["interpolate", "landscape"]),
    ("plots", &["plot", "hist", "save_svg"]),
    (
        "files",
        &[
            "load_npy",
            "save_npy",
            "save_params",
            "load_params",
            "temp_path",
        ],
    ),
    (
        "vectors and matrices",
        &[
            "vector", "zeros", "randn", "matrix", "eye", "dot", "norm", "sum",
        ],
    ),
    (
        "checks",
        &["assert", "assert_close", "assert_answer", "check_hessian"],
    ),
];

/// The script types, with one line each, for `:help TYPE` (the table in
/// [`super::types`]).
pub use super::types::TYPES;

/// Orders docs by length, ties by signature, so the doc chosen among a
/// function's overloads does not depend on rhai's order.
fn longest_doc(a: &FnDoc, b: &FnDoc) -> std::cmp::Ordering {
    a.doc
        .len()
        .cmp(&b.doc.len())
        .then_with(|| b.signature.cmp(&a.signature))
}

/// The first line of the doc of `name` (the longest doc among its
/// overloads), or "".
fn summary_of(docs: &[FnDoc], name: &str) -> String {
    lookup(docs, name)
        .into_iter()
        .filter(|d| !d.signature.starts_with('.'))
        .max_by(|a, b| longest_doc(a, b))
        .map(|d| d.sentence(60))
        .unwrap_or_default()
}

/// hlab's functions by topic, one line each (`:help` with no name).
pub fn topics_overview(docs: &[FnDoc]) -> String {
    let defined = |n: &str| {
        docs.iter()
            .any(|d| d.name == n && !d.signature.starts_with('.'))
    };
    let width = TOPICS
        .iter()
        .flat_map(|(_, ns)| ns.iter())
        .filter(|n| defined(n))
        .map(|n| n.len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("Functions (`:help NAME` for one, `:help Spectrum` for a type):\n");
    let mut listed: Vec<&str> = Vec::new();
    for (topic, names) in TOPICS {
        let here: Vec<&&str> = names.iter().filter(|n| defined(n)).collect();
        if here.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{topic}:\n"));
        for n in here {
            listed.push(n);
            out.push_str(&format!("  {n:<width$}  {}\n", summary_of(docs, n)));
        }
    }
    let listed: Vec<String> = listed.iter().map(|n| n.to_string()).collect();
    let more = more_names(docs, &listed);
    if !more.is_empty() {
        out.push_str("\nmore:\n");
        for n in &more {
            out.push_str(&format!("  {n:<width$}  {}\n", summary_of(docs, n)));
        }
    }
    out.push_str(&format!(
        "\ntypes: {}\n",
        TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
    ));
    out
}

/// Functions not in [`TOPICS`] (new ones), without rhai's own helpers,
/// methods of values and the stdlib's private names: `:help`'s "more".
fn more_names(docs: &[FnDoc], listed: &[String]) -> Vec<String> {
    let mut more: Vec<String> = docs
        .iter()
        .filter(|d| {
            !d.signature.starts_with('.')
                && d.name.chars().all(|c| c.is_alphanumeric() || c == '_')
                && !d.name.starts_with('_')
                && !listed.contains(&d.name)
                && d.signature.contains("->")
                && !matches!(
                    d.name.as_str(),
                    "to_string" | "to_debug" | "to_array" | "get"
                )
                && first_param_is_value(&d.signature)
        })
        .map(|d| d.name.clone())
        .collect();
    more.sort();
    more.dedup();
    more
}

/// True when a signature's first parameter is not one of the script types
/// (so the function is a global one, not a method of a value).
fn first_param_is_value(sig: &str) -> bool {
    let Some(open) = sig.find('(') else {
        return true;
    };
    let first = sig[open + 1..].split([',', ')']).next().unwrap_or("");
    let ty = first.split(':').nth(1).unwrap_or("").trim();
    !TYPES.iter().any(|(t, _)| *t == ty)
}

/// `:help TYPE`: what the type is, its properties and its methods, one line
/// each; `None` when `name` is not a script type.
pub fn type_help(docs: &[FnDoc], members: &[Member], name: &str) -> Option<String> {
    let (ty, what) = TYPES.iter().find(|(t, _)| *t == name)?;
    let (props, methods) = type_members(members, ty);
    let line = |n: &str, prop: bool| -> String {
        member_doc(docs, ty, n, prop)
            .map(|d| d.sentence(60))
            .unwrap_or_default()
    };
    let width = props
        .iter()
        .chain(&methods)
        .map(|n| n.len() + 3)
        .max()
        .unwrap_or(0);
    let mut out = format!("{ty}: {what}\n");
    if !props.is_empty() {
        out.push_str("\nproperties:\n");
        for p in &props {
            out.push_str(&format!(
                "  {:<width$}  {}\n",
                format!(".{p}"),
                line(p, true)
            ));
        }
    }
    if !methods.is_empty() {
        out.push_str("\nmethods:\n");
        for m in &methods {
            out.push_str(&format!(
                "  {:<width$}  {}\n",
                format!(".{m}()"),
                line(m, false)
            ));
        }
    }
    Some(out)
}

/// `docs/REFERENCE.md`: every function (signatures, option keys, the doc
/// `:help` shows, its example), grouped by the topics of `:help`, then
/// every type with its properties and methods. Written by
/// `hlab help --reference`; a test fails when the file is out of date.
pub fn reference(docs: &[FnDoc], members: &[Member]) -> String {
    let defined = |n: &str| {
        docs.iter()
            .any(|d| d.name == n && !d.signature.starts_with('.'))
    };
    let mut out = String::from(
        "# hlab reference\n\n\
         Every function and type of hlab's scripting language, with the docs \
         `:help NAME` shows in the REPL and Shift-Tab shows in Jupyter. \
         Generated by `hlab help --reference > docs/REFERENCE.md` \
         (a test fails when it is out of date); every example here runs \
         in the test suite.\n\n",
    );
    let mut groups: Vec<(String, Vec<String>)> = TOPICS
        .iter()
        .map(|(t, ns)| {
            let names = ns.iter().filter(|n| defined(n)).map(|n| n.to_string());
            (t.to_string(), names.collect::<Vec<String>>())
        })
        .filter(|(_, ns)| !ns.is_empty())
        .collect();
    let listed: Vec<String> = groups.iter().flat_map(|(_, ns)| ns.clone()).collect();
    let more = more_names(docs, &listed);
    if !more.is_empty() {
        groups.push(("more".to_string(), more));
    }
    out.push_str("## Contents\n\n");
    for (topic, names) in &groups {
        let links: Vec<String> = names
            .iter()
            .map(|n| format!("[`{n}`](#{})", anchor(n)))
            .collect();
        out.push_str(&format!("- **{topic}**: {}\n", links.join(", ")));
    }
    let types: Vec<String> = TYPES
        .iter()
        .map(|(t, _)| format!("[`{t}`](#type-{})", anchor(t)))
        .collect();
    out.push_str(&format!("- **types**: {}\n", types.join(", ")));
    for (topic, names) in &groups {
        out.push_str(&format!("\n## Functions: {topic}\n"));
        for n in names {
            let Some(help) = help_text(docs, n) else {
                continue;
            };
            let (sigs, doc) = help.split_once("\n\n").unwrap_or((&help, ""));
            out.push_str(&format!("\n### {n}\n\n```rhai\n{sigs}\n```\n\n"));
            let keys = crate::script::api::option_keys(n);
            if !keys.is_empty() {
                let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                out.push_str(&format!("Options: {}.\n\n", keys.join(", ")));
            }
            out.push_str(&markdown_body(doc));
        }
    }
    out.push_str(&reference_types(docs, members));
    out
}

/// The types part of the reference: each type's properties and methods
/// with their call forms and the first paragraph of their docs.
fn reference_types(docs: &[FnDoc], members: &[Member]) -> String {
    let mut out = String::new();
    out.push_str("\n## Types\n");
    for (ty, what) in TYPES {
        out.push_str(&format!("\n### Type {ty}\n\n{what}.\n"));
        let (props, methods) = type_members(members, ty);
        for (title, names, prop) in [("Properties", props, true), ("Methods", methods, false)] {
            if names.is_empty() {
                continue;
            }
            out.push_str(&format!("\n**{title}**\n\n"));
            for n in names {
                let call = if prop {
                    format!(".{n}")
                } else {
                    method_forms(docs, ty, n).join("`, `")
                };
                let about = member_doc(docs, ty, n, prop)
                    .map(|d| d.doc.split("\n\n").next().unwrap_or("").replace('\n', " "))
                    .unwrap_or_default();
                out.push_str(&format!("- `{call}` — {about}\n"));
            }
        }
    }
    out
}

/// A GitHub heading anchor for a name (`top_eigs` → `top_eigs`,
/// `Conv2d` → `conv2d`).
fn anchor(name: &str) -> String {
    name.to_lowercase()
}

/// A doc body as Markdown: `# Example` as a bold line, fences kept.
fn markdown_body(doc: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for line in doc.lines() {
        let t = line.trim_start();
        if t.starts_with("```") {
            in_code = !in_code;
            out.push_str(line);
        } else if let (false, Some(h)) = (in_code, t.strip_prefix("# ")) {
            out.push_str(&format!("**{h}**"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The properties and the methods of script type `ty`, sorted, without
/// `to_string`/`to_debug`.
fn type_members<'a>(members: &'a [Member], ty: &str) -> (Vec<&'a str>, Vec<&'a str>) {
    let key = type_key(ty);
    let mut props: Vec<&str> = Vec::new();
    let mut methods: Vec<&str> = Vec::new();
    for m in members
        .iter()
        .filter(|m| m.receiver.as_deref() == Some(key.as_str()))
    {
        if matches!(m.name.as_str(), "to_string" | "to_debug") {
            continue;
        }
        if m.property {
            props.push(&m.name);
        } else {
            methods.push(&m.name);
        }
    }
    props.sort();
    props.dedup();
    methods.sort();
    methods.dedup();
    (props, methods)
}

/// The call forms of method `name` on `ty`, receiver dropped:
/// `count_above(s: Spectrum, t: float) -> int` → `.count_above(t: float) -> int`.
fn method_forms(docs: &[FnDoc], ty: &str, name: &str) -> Vec<String> {
    let mut forms: Vec<String> = lookup(docs, name)
        .into_iter()
        .filter_map(|d| {
            let open = d.signature.find('(')?;
            let rest = &d.signature[open + 1..];
            let (first, after) = match rest.find([',', ')']) {
                Some(k) => (&rest[..k], &rest[k..]),
                None => (rest, ""),
            };
            if first.split(':').nth(1)?.trim() != ty {
                return None;
            }
            let after = after.strip_prefix(", ").unwrap_or(after);
            Some(format!(".{name}({after}"))
        })
        .collect();
    forms.sort();
    forms.dedup();
    if forms.is_empty() {
        forms.push(format!(".{name}()"));
    }
    forms
}

/// The doc of member `name` of type `ty`: the longest among the overloads
/// on `ty`, else among all (getters only, for a property).
fn member_doc<'a>(docs: &'a [FnDoc], ty: &str, name: &str, prop: bool) -> Option<&'a FnDoc> {
    let found = lookup(docs, name);
    let typed = found
        .iter()
        .filter(|d| d.signature.contains(&format!(": {ty}")) && !d.doc.is_empty())
        .max_by(|a, b| longest_doc(a, b));
    typed
        .or_else(|| {
            found
                .iter()
                .filter(|d| !prop || d.signature.starts_with('.'))
                .max_by(|a, b| longest_doc(a, b))
        })
        .copied()
}

/// A function as completion sees it: its name, whether it is a property
/// (`value.name`) and the types around it.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Name as scripts call it (`num_params`, `push`).
    pub name: String,
    /// The first parameter's type (the receiver of `value.name`), as
    /// [`type_key`] writes it; `None` for a function without parameters.
    pub receiver: Option<String>,
    /// The result type, as [`type_key`] writes it.
    pub returns: String,
    /// A property getter rather than a method.
    pub property: bool,
    /// From rhai's standard library rather than hlab.
    pub builtin: bool,
}

/// A type name in one comparable form: `Model`, `&mut Model` → `model`;
/// `Array` → `array`; `INT`, `i64` → `int`; `ImmutableString` → `string`;
/// `Data` (the Rust name) and `Dataset` → `dataset`.
pub fn type_key(t: &str) -> String {
    let t = t.split_once(": ").map_or(t, |(_, ty)| ty);
    clean_type(t).trim().to_lowercase()
}

/// Every native function the engine knows (hlab's and, with `builtin`
/// marked, rhai's standard library), with receiver and result types, for
/// completion after `value.`.
pub fn members(engine: &Engine) -> Vec<Member> {
    let map = |builtin: bool| {
        move |info: rhai::FuncInfo| {
            let m = info.metadata;
            let (name, property) = if let Some(p) = m.name.strip_prefix("get$") {
                (p.to_string(), true)
            } else if m.name.contains('$') {
                return None;
            } else {
                (m.name.to_string(), false)
            };
            if !name.chars().all(|c| c.is_alphanumeric() || c == '_') || name.starts_with('_') {
                return None;
            }
            Some(Member {
                name,
                receiver: m.params_info.first().map(|p| type_key(p)),
                returns: type_key(&m.return_type),
                property,
                builtin,
            })
        }
    };
    let mut out = engine.collect_fn_metadata(None, map(false), false);
    let same = |a: &Member, b: &Member| {
        a.name == b.name && a.receiver == b.receiver && a.property == b.property
    };
    let std_only: Vec<Member> = engine
        .collect_fn_metadata(None, map(true), true)
        .into_iter()
        .filter(|m| !out.iter().any(|h| same(h, m)))
        .collect();
    out.extend(std_only);
    out
}

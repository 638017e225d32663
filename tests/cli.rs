//! The `hlab` binary: running scripts, exit codes, error positions.

use std::path::PathBuf;
use std::process::Command;

fn hlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hlab"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write_script(name: &str, code: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hlab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, code).unwrap();
    p
}

#[test]
fn run_passes_args_and_exits_zero() {
    let p = write_script("args.rhai", "print(ARGS.len()); print(ARGS[1]);");
    let out = hlab()
        .args(["run"])
        .arg(&p)
        .args(["--quick", "x"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\nx\n");
}

#[test]
fn eval_prints_the_last_value() {
    let out = hlab()
        .args(["-e", "let v = vector([3, 4]); norm(v)"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5.0");
}

/// Each wrong script exits non-zero with one line `FILE:LINE:COL: message`.
#[test]
fn wrong_scripts_fail_with_one_clear_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown function",
            "let a = 1;\nfoo(a);",
            ":2:1: foo: unknown function, called as foo(int)",
        ),
        (
            "unknown option",
            "let m = mlp([2, 3], #{ actt: \"relu\" });",
            "unknown option `actt`",
        ),
        (
            "dimension mismatch",
            "let d = make_clusters(#{ n: 10, k: 2, dim: 3 });\nlet m = mlp([4, 2]);\nloss(m, d);",
            ":3:1: loss: expected data with 4 features",
        ),
        (
            "wrong parameter length",
            "let m = mlp([2, 2]);\nm.params = zeros(5);",
            "params: expected a vector of length 6",
        ),
        (
            "missing file",
            "load_npy(\"/nonexistent/x.npy\");",
            "load_npy",
        ),
        (
            "invalid sizes",
            "mlp([3, 0, 2]);",
            "mlp: expected every size ≥ 1",
        ),
        ("syntax error", "let x = (1 + ;", ":1:"),
        (
            "labels beyond outputs",
            "let d = make_clusters(#{ n: 10, k: 5, dim: 2 });\ntrain(mlp([2, 3]), d);",
            "labels below 3",
        ),
        (
            "failed assert",
            "assert(1 > 2, \"one is not above two\");",
            "assert: one is not above two",
        ),
    ];
    for (what, code, want) in cases {
        let p = write_script(&format!("bad-{}.rhai", what.replace(' ', "_")), code);
        let out = hlab().arg("run").arg(&p).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: exited 0");
        assert!(err.contains(want), "{what}: expected `{want}` in:\n{err}");
        assert!(!err.contains("panicked"), "{what}: panicked:\n{err}");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{what}: not one line:\n{err}"
        );
        assert!(
            err.starts_with(&p.display().to_string()),
            "{what}: no file position:\n{err}"
        );
    }
}

/// The shipped examples and scripts run and pass their own asserts.
#[test]
fn shipped_scripts_run() {
    for dir in ["examples", "scripts"] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "rhai"))
            .collect();
        paths.sort();
        for p in paths {
            let out = hlab().arg("run").arg(&p).arg("--quick").output().unwrap();
            assert!(
                out.status.success(),
                "{} failed:\n{}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn same_seed_gives_identical_output() {
    let code = "let d = make_clusters(#{ k: 4, dim: 20, n: 400, seed: 3 });\n\
                let m = mlp([20, 16, 4], #{ seed: 3 });\n\
                let h = train(m, d, #{ lr: 0.1, batch: 20, epochs: 20, seed: 3 });\n\
                print(h.loss); print(m.params.to_array()); print(accuracy(m, d));";
    let p = write_script("det.rhai", code);
    let a = hlab().arg("run").arg(&p).output().unwrap();
    let b = hlab().arg("run").arg(&p).output().unwrap();
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let acc: f64 = String::from_utf8_lossy(&a.stdout)
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        acc, 1.0,
        "20-16-4 on 4 clusters reaches 100% train accuracy"
    );
}

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

/// The curvature products are the same bits on one thread and on several:
/// the passes over row blocks (N = 1,200: four) are summed in block order,
/// whatever runs them.
#[test]
fn curvature_does_not_depend_on_the_thread_count() {
    let code = "let d = make_clusters(#{ k: 3, dim: 12, n: 1200, seed: 4 });\n\
                let m = mlp([12, 24, 3], #{ seed: 4 });\n\
                let v = randn(m.num_params, 5);\n\
                print(loss(m, d)); print(grad(m, d).to_array());\n\
                print(hvp(m, d, v).to_array());\n\
                print(hvp(m, d, [v, randn(m.num_params, 6)])[1].to_array());\n\
                print(top_eigs(m, d, 3).to_array());";
    let p = write_script("threads.rhai", code);
    let run = |threads: &str| {
        let out = hlab()
            .env("RAYON_NUM_THREADS", threads)
            .arg("run")
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let one = run("1");
    assert_eq!(one.iter().filter(|&&c| c == b'\n').count(), 5);
    assert_eq!(one, run("2"));
    assert_eq!(one, run("3"));
}

/// Waits for `child` at most `secs` seconds; kills it and fails after that.
fn wait_within(child: &mut std::process::Child, secs: u64, what: &str) -> std::process::ExitStatus {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t0.elapsed() > std::time::Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let mut s = String::new();
    child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

/// The exit-status table of README.md: 0 success, 1 a script or runtime
/// error (a missing or unreadable script too), 2 a usage error (also a
/// malformed HLAB_MEMORY_LIMIT), 130 interrupted.
#[test]
fn exit_statuses_follow_the_table() {
    let status = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = hlab();
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(status(&["-e", "1 + 1"], &[]).0, Some(0));
    assert_eq!(status(&["-e", "foo()"], &[]).0, Some(1));
    let (code, err) = status(&["run", "/nonexistent/script.rhai"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("/nonexistent/script.rhai"), "{err}");
    assert_eq!(status(&["run", "/tmp"], &[]).0, Some(1));
    assert_eq!(status(&["--no-such-flag"], &[]).0, Some(2));
    assert_eq!(status(&["run"], &[]).0, Some(2));
    assert_eq!(status(&["kernel"], &[]).0, Some(2));
    for bad in ["2^30", "1 GBs", "lots", "-5"] {
        let (code, err) = status(&["-e", "1"], &[("HLAB_MEMORY_LIMIT", bad)]);
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert!(
            err.contains("HLAB_MEMORY_LIMIT: expected a byte count"),
            "{err}"
        );
    }
    for good in ["1GiB", "512MiB", "2G", "3000000000", "1.5 GB"] {
        let (code, err) = status(&["-e", "1"], &[("HLAB_MEMORY_LIMIT", good)]);
        assert_eq!(code, Some(0), "{good}: {err}");
    }
    // The budget is the one given: 1 MiB refuses a 2 MB vector.
    let (code, err) = status(&["-e", "zeros(250000)"], &[("HLAB_MEMORY_LIMIT", "1MiB")]);
    assert_eq!(code, Some(1));
    assert!(err.contains("more than the limit of 1.0 MB"), "{err}");
    // An endless "script" is refused after a bounded read, not read forever.
    let (code, err) = status(&["run", "/dev/zero"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("expected a script of at most"), "{err}");
}

/// A script written with a UTF-8 byte-order mark runs.
#[test]
fn a_byte_order_mark_is_accepted() {
    let p = write_script("bom.rhai", "\u{feff}let a = 2;\nprint(a * 21);");
    let out = hlab().arg("run").arg(&p).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
    let out = hlab().args(["-e", "\u{feff}6 * 7"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}

/// A reader that goes away ends the run quietly with status 0: an endless
/// printing loop stops, and a value printed into a closed pipe does not
/// panic.
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    for code in [
        "loop { print(\"y\"); }",
        "for i in 0..100000000 { print(i); }",
    ] {
        let mut child = hlab()
            .args(["-e", code])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 5];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let st = wait_within(&mut child, 20, code);
        let err = stderr_of(&mut child);
        assert_eq!(st.code(), Some(0), "{code}: {err}");
        assert!(err.is_empty(), "{code}: {err}");
    }
    // `hlab -e` printing its value after the reader left (`| head -c 0`).
    let mut child = hlab()
        .args(["-e", "let s = \"x\"; s.pad(200000, \"y\"); s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let st = wait_within(&mut child, 20, "-e value");
    let err = stderr_of(&mut child);
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Ctrl-C stops a running script with status 130 and says so; two quick
/// ones also end with 130 and "interrupted".
#[test]
fn ctrl_c_exits_130_and_says_interrupted() {
    use std::io::BufRead;
    use std::process::Stdio;
    for presses in [1, 2] {
        let mut child = hlab()
            .args(["-e", "print(\"ready\"); let i = 0; loop { i += 1; }"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        for _ in 0..presses {
            // SAFETY: sending SIGINT to our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        }
        let st = wait_within(&mut child, 20, "interrupted script");
        let err = stderr_of(&mut child);
        assert_eq!(st.code(), Some(130), "{presses} presses: {err}");
        assert!(err.contains("interrupted"), "{presses} presses: {err}");
    }
}

/// The kernel refuses a connection "file" that is a device or too large,
/// at once, instead of reading it without end.
#[test]
fn kernel_refuses_a_device_as_its_connection_file() {
    let dir = std::env::temp_dir().join(format!("hlab-cli-conn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let huge = dir.join("huge.json");
    std::fs::write(&huge, vec![b' '; 100_000]).unwrap();
    for (file, want) in [
        (
            "/dev/zero".to_string(),
            "expected a regular connection file",
        ),
        (
            huge.display().to_string(),
            "expected a connection file of at most 65536 bytes, got 100000 bytes",
        ),
    ] {
        let mut child = hlab()
            .args(["kernel", "--connection-file", &file])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let st = wait_within(&mut child, 10, &file);
        let err = stderr_of(&mut child);
        assert_eq!(st.code(), Some(1), "{err}");
        assert!(err.contains(want), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `hlab help NAME` works from the shell, as `:help NAME` in the REPL.
#[test]
fn help_from_the_shell() {
    let out = hlab().args(["help", "train"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("train(m: Model, data: Dataset"), "{text}");
    assert!(text.contains("Example:") && !text.contains("```"), "{text}");
    let out = hlab().args(["help", "Spectrum"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Spectrum: ") && text.contains(".outliers()"),
        "{text}"
    );
    let out = hlab().arg("help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\ncurvature:\n  hvp "), "{text}");
    let out = hlab().args(["help", "trian"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean `train`?"), "{err}");
}

/// The README matches the program: every `$ hlab -e '…'` example prints the
/// error line shown under it (position included), the clippy command is the
/// one CI runs, and no link leaves the repository.
#[test]
fn readme_matches_the_program() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut checked = 0;
    for (i, l) in lines.iter().enumerate() {
        let Some(code) = l
            .strip_prefix("$ hlab -e '")
            .and_then(|c| c.strip_suffix('\''))
        else {
            continue;
        };
        let want = lines[i + 1];
        let out = hlab().args(["-e", code]).output().unwrap();
        let got = String::from_utf8_lossy(&out.stderr);
        assert_eq!(got.trim_end(), want, "README example {code}");
        checked += 1;
    }
    assert!(checked >= 3, "found {checked} examples");
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let clippy = ci
        .lines()
        .find(|l| l.trim_start().starts_with("cargo clippy"))
        .unwrap()
        .trim();
    assert!(
        readme.contains(&format!("`{clippy}`")),
        "README's clippy command is not CI's: {clippy}"
    );
    let doc = ci
        .lines()
        .find(|l| l.contains("cargo doc"))
        .expect("CI builds the docs")
        .trim();
    assert!(
        readme.contains(&format!("`{doc}`")),
        "README's cargo doc command is not CI's: {doc}"
    );
    for bad in ["](../", "](/", "`shared/", "](shared/"] {
        assert!(
            !readme.contains(bad),
            "a link outside the repository: {bad}"
        );
    }
    // Every relative link names a file that exists.
    for part in readme.split("](").skip(1) {
        let target = part.split(')').next().unwrap();
        if !target.starts_with("http") && !target.starts_with('#') {
            assert!(
                root().join(target).exists(),
                "README links to missing {target}"
            );
        }
    }
}

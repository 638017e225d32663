//! The REPL in a real terminal (driven through tmux) and with piped input.
//!
//! The terminal test needs `tmux` on the PATH (`apt-get install -y tmux`).
//! It waits for output with timeouts instead of sleeping where it can.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hlab_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hlab")
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("hlab-repl-{tag}-{}-{k}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One tmux server of our own (its own socket), running hlab in one pane.
pub(crate) struct Tmux {
    /// The server's socket, in the test's temporary folder.
    socket: String,
}

impl Tmux {
    fn start(dir: &Path, history: &Path) -> Tmux {
        Tmux::start_sized(dir, history, 120)
    }

    /// hlab in a pane `cols` columns wide (50 rows).
    fn start_sized(dir: &Path, history: &Path, cols: u32) -> Tmux {
        let socket = dir.join("tmux.sock").display().to_string();
        let t = Tmux { socket };
        let cmd = format!(
            "env NO_COLOR=1 HLAB_HISTORY={} {}",
            history.display(),
            hlab_bin()
        );
        let ok = Command::new("tmux")
            .args(["-S", &t.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-s", "t", "-x", &cols.to_string(), "-y", "50", &cmd])
            .status()
            .unwrap_or_else(|e| {
                panic!("this test drives the REPL through tmux: install it (apt-get install -y tmux): {e}")
            });
        assert!(ok.success(), "tmux new-session failed");
        t.tmux(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        t.tmux(&["set-option", "-t", "t", "history-limit", "5000"]);
        t
    }

    /// Runs the shell command `cmd` in a pane `cols`×`rows`; the pane stays
    /// after the command ends. The command waits (`tmux wait-for go`) until
    /// the pane is set to stay, so a fast command cannot end the session
    /// before it is read.
    pub(crate) fn command(dir: &Path, cols: u32, rows: u32, cmd: &str) -> Tmux {
        let socket = dir.join("tmux.sock").display().to_string();
        let cmd = format!("tmux -S {socket} wait-for go; {cmd}");
        let t = Tmux { socket };
        let ok = Command::new("tmux")
            .args(["-S", &t.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-s", "t", "-x", &cols.to_string(), "-y", &rows.to_string()])
            .args(["sh", "-c", &cmd])
            .status()
            .unwrap_or_else(|e| panic!("this test needs tmux (apt-get install -y tmux): {e}"));
        assert!(ok.success(), "tmux new-session failed");
        t.tmux(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        t.tmux(&["wait-for", "-S", "go"]);
        t
    }

    /// The pane with its colour escapes (`capture-pane -e`).
    pub(crate) fn screen_with_escapes(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "t", "-S", "-200"])
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-S", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` literally (tmux reads a `;` at the end of an argument as
    /// a command separator, so semicolons go as hex).
    fn type_text(&self, text: &str) {
        for (i, part) in text.split(';').enumerate() {
            if i > 0 {
                self.tmux(&["send-keys", "-t", "t", "-H", "3b"]);
            }
            if !part.is_empty() {
                self.tmux(&["send-keys", "-t", "t", "-l", "--", part]);
            }
        }
    }

    fn key(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "t", key]);
    }

    /// Types a line and presses Enter.
    fn line(&self, text: &str) {
        self.type_text(text);
        self.key("Enter");
    }

    /// The whole pane, scrollback included.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-t", "t", "-S", "-5000"])
    }

    /// Waits until `pred` holds for the screen; panics with the screen if not.
    fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for(what, timeout, Tmux::screen, pred)
    }

    /// Waits until `pred` holds for what `read` captures.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        read: impl Fn(&Tmux) -> String,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let t0 = Instant::now();
        loop {
            let s = read(self);
            if pred(&s) {
                return s;
            }
            if t0.elapsed() > timeout {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits until `needle` appears at least `n` times.
    fn wait_count(&self, needle: &str, n: usize) -> String {
        self.wait(&format!("{n}× {needle:?}"), Duration::from_secs(20), |s| {
            s.matches(needle).count() >= n
        })
    }

    fn prompts(&self) -> usize {
        self.screen().matches("hlab> ").count()
    }

    /// Enters a line and waits for the next prompt.
    fn run(&self, text: &str) -> String {
        let n = self.prompts();
        self.line(text);
        self.wait_count("hlab> ", n + 1)
    }

    fn pane_dead(&self) -> bool {
        self.tmux(&["display-message", "-p", "-t", "t", "#{pane_dead}"])
            .trim()
            == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-S", &self.socket, "kill-server"])
            .status();
    }
}

/// The text after the last prompt that starts with `input`.
fn output_of(screen: &str, input: &str) -> String {
    let key = format!("hlab> {input}");
    let start = screen.rfind(&key).expect("the input is on the screen") + key.len();
    let rest = &screen[start..];
    let end = rest.find("hlab> ").unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

#[test]
fn repl_in_a_terminal() {
    let dir = temp_dir("tty");
    let history = dir.join("sub").join("history.txt");
    let t = Tmux::start(&dir, &history);
    t.wait_count("hlab> ", 1);
    assert!(t.screen().contains(":help"), "the banner points to :help");

    // A value, then a multi-line function: Enter continues while a brace is open.
    t.run("let kept = 41 + 1;");
    t.line("fn sq(x) {");
    t.line("  x * x");
    let s = t.screen();
    assert!(
        !s.contains("error"),
        "an open brace continues the input:\n{s}"
    );
    t.run("}");
    let s = t.run("sq(kept)");
    assert_eq!(output_of(&s, "sq(kept)"), "1764");

    // An invalid input is not a continuation: the error shows with a caret.
    let s = t.run("sq(1 2)");
    let out = output_of(&s, "sq(1 2)");
    assert!(out.contains("^"), "{out}");
    assert!(out.contains("error: Expecting ','"), "{out}");

    // Tab completes a function name, a property by the variable's type and
    // an option key inside #{ } of a known call.
    t.type_text("let d = make_clu");
    t.key("Tab");
    t.wait("completion of make_clusters", Duration::from_secs(5), |s| {
        s.contains("let d = make_clusters")
    });
    t.run("(#{ n: 200, k: 4, dim: 20, seed: 1 });");
    t.run("let m = mlp([20, 16, 4], #{ seed: 1 });");
    t.type_text("d.cla");
    t.key("Tab");
    t.wait("completion of d.classes", Duration::from_secs(5), |s| {
        s.contains("hlab> d.classes")
    });
    let n = t.prompts();
    t.key("Enter");
    let s = t.wait_count("hlab> ", n + 1);
    assert_eq!(output_of(&s, "d.classes"), "4");

    // :help NAME shows signature, doc and example.
    let s = t.run(":help train");
    let out = output_of(&s, ":help train");
    assert!(out.contains("train(m: Model, data: Dataset"), "{out}");
    assert!(out.contains("Example:"), "{out}");
    // `hessian` arrives with the curvature primitives; once it exists its
    // help must be complete too.
    let s = t.run(":help hessian");
    let out = output_of(&s, ":help hessian");
    if !out.contains("no function or command named `hessian`") {
        assert!(out.contains("hessian(m: Model"), "{out}");
        assert!(out.contains("Example:"), "{out}");
    }

    // Ctrl-C stops a long training within a second; variables stay.
    t.type_text("let h = train(m, d, #{ epo");
    t.key("Tab");
    t.wait("completion of epochs", Duration::from_secs(5), |s| {
        s.contains("#{ epochs")
    });
    t.line(": 100000 });");
    t.wait("the progress bar", Duration::from_secs(20), |s| {
        s.contains("/100000")
    });
    let n = t.prompts();
    let t0 = Instant::now();
    t.key("C-c");
    let s = t.wait("the interruption", Duration::from_secs(10), |s| {
        s.contains("interrupted") && s.matches("hlab> ").count() > n
    });
    let took = t0.elapsed();
    eprintln!(
        "train stopped {:.0} ms after Ctrl-C",
        took.as_secs_f64() * 1e3
    );
    assert!(
        took < Duration::from_secs(1),
        "stopped after {took:?}:\n{s}"
    );
    let s = t.run("kept");
    assert_eq!(output_of(&s, "kept"), "42");
    let s = t.run("m.num_params");
    assert_eq!(output_of(&s, "m.num_params"), "404");

    // A Rhai loop stops too.
    t.line("let spins = 0; loop { spins += 1; }");
    t.wait("the loop to run", Duration::from_secs(5), |s| {
        s.contains("spins += 1; }")
    });
    std::thread::sleep(Duration::from_millis(300));
    let n = t.prompts();
    let t0 = Instant::now();
    t.key("C-c");
    t.wait("the loop's interruption", Duration::from_secs(10), |s| {
        s.matches("hlab> ").count() > n
    });
    assert!(t0.elapsed() < Duration::from_secs(1));
    let s = t.run("spins > 0 && kept == 42");
    assert_eq!(output_of(&s, "spins > 0 && kept == 42"), "true");

    // Ctrl-C at the prompt clears the line.
    t.type_text("this is not code");
    t.key("C-c");
    let s = t.run("kept + 1");
    assert_eq!(output_of(&s, "kept + 1"), "43");
    assert!(!s.contains("Variable not found: this"), "{s}");

    // :vars lists what was defined.
    let s = t.run(":vars");
    let out = output_of(&s, ":vars");
    assert!(out.lines().any(|l| l.starts_with("kept ")), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("m ") && l.contains("Model")),
        "{out}"
    );

    // Ctrl-D leaves; the history was saved, multi-line inputs whole.
    t.key("C-d");
    t.wait("hlab to exit", Duration::from_secs(5), |_| t.pane_dead());
    let hist = std::fs::read_to_string(&history).expect("the history file was written");
    assert!(hist.contains("sq(kept)"), "{hist}");
    assert!(hist.contains("fn sq(x) {"), "{hist}");
    drop(t);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A newcomer's session in an 80-column terminal: `:help` by topic, a
/// type's properties and methods, completion that ranks hlab's names first,
/// plots that fit without wrapping, several spectra on one chart, a Plot
/// that draws again when evaluated, "1 step".
#[test]
fn newcomer_session_at_80_columns() {
    let dir = temp_dir("tty80");
    let history = dir.join("history.txt");
    let t = Tmux::start_sized(&dir, &history, 80);
    t.wait_count("hlab> ", 1);

    let s = t.run(":help");
    let out = output_of(&s, ":help");
    for topic in [
        "data:",
        "models and layers:",
        "training:",
        "curvature:",
        "spectra:",
        "plots:",
        "files:",
        "checks:",
    ] {
        assert!(out.lines().any(|l| l == topic), "{topic} missing:\n{out}");
    }
    assert!(
        out.lines().any(|l| l.starts_with("  make_clusters  ")),
        "{out}"
    );
    let s = t.run(":help Spectrum");
    let out = output_of(&s, ":help Spectrum");
    assert!(out.starts_with("Spectrum: "), "{out}");
    for m in [
        ".min ",
        ".max ",
        ".info ",
        ".top()",
        ".outliers()",
        ".count_above()",
    ] {
        assert!(out.contains(m), "{m} missing:\n{out}");
    }

    // Tab on a partial name lists hlab's functions before Rhai's internals.
    t.type_text("pa");
    t.key("Tab");
    t.key("Tab");
    let s = t.wait("the completion list", Duration::from_secs(5), |s| {
        s.contains("parse_be_float")
    });
    let list = &s[s.find("hlab> pa").unwrap()..];
    let at = |n: &str| list.find(n).unwrap_or(usize::MAX);
    assert!(at("paper_clusters") < at("parse_be_float"), "{list}");
    t.key("C-c");

    t.run("let d = make_clusters(#{ n: 60, k: 3, dim: 4, seed: 1 });");
    t.run("let m = mlp([4, 6, 3], #{ seed: 1 });");
    let s = t.run("train(m, d, #{ steps: 1 })");
    assert!(
        output_of(&s, "train(m, d, #{ steps: 1 })").starts_with("History: 1 step ("),
        "{s}"
    );
    let cmd = "let p = plot([eigs(hessian(m, d)), eigs(gauss_newton(m, d))], #{ labels: [\"H\", \"G\"] });";
    let s = t.run(cmd);
    let out = output_of(&s, cmd);
    assert!(out.contains("·· H   ·· G"), "a legend:\n{out}");
    assert!(
        out.contains("x: index (ascending)   y: eigenvalue"),
        "{out}"
    );
    // capture-pane -J joins wrapped lines: none is wider than the terminal.
    for l in out.lines() {
        assert!(l.chars().count() <= 80, "wider than 80 columns: {l:?}");
    }
    let plot_lines = out.lines().count();
    assert!(plot_lines >= 15, "{out}");
    let s = t.run("p");
    let again = output_of(&s, "p");
    assert_eq!(
        again.lines().count(),
        plot_lines,
        "a Plot value draws itself:\n{again}"
    );
    t.run("let v = [1, 1, 2]; for i in 0..22 { v.push(3) }");
    let s = t.run("hist(v, #{ log: true, bins: 3 })");
    let out = output_of(&s, "hist(v, #{ log: true, bins: 3 })");
    assert!(out.starts_with("histogram of 25 values (3 bins)"), "{out}");
    assert!(out.contains("x: value   y: count"), "{out}");
    for l in out.lines().filter(|l| l.contains('⠀') || l.contains('⡇')) {
        if let Some(label) = l.rsplit(' ').next().filter(|x| x.parse::<f64>().is_ok()) {
            assert!(!label.contains('.'), "count labels are whole numbers: {l}");
        }
    }
    drop(t);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Long work is never silent under `hlab run` and `hlab -e` when stderr is
/// a terminal: progress bars, and one line with the estimate before a dense
/// job expected to be long (the threshold lowered to 0 s here).
#[test]
fn run_and_eval_show_progress_and_estimates_in_a_terminal() {
    let dir = temp_dir("runtty");
    let script = dir.join("dense.rhai");
    std::fs::write(
        &script,
        "let d = make_clusters(#{ n: 50, k: 10, dim: 4, seed: 1 });\n\
         let m = mlp([4, 40, 40, 10], #{ seed: 1 });\n\
         let s = eigs(hessian(m, d));\n\
         print(`done ${s.len}`);\n",
    )
    .unwrap();
    let cmd = format!(
        "env NO_COLOR=1 HLAB_ESTIMATE_SECONDS=0 {bin} run {script}; \
         {bin} -e 'train(mlp([20, 16, 4]), make_clusters(#{{ n: 200, k: 4, dim: 20 }}), #{{ steps: 40000 }})'",
        bin = hlab_bin(),
        script = script.display()
    );
    let t = Tmux::command(&dir, 120, 50, &cmd);
    let s = t.wait("the estimates", Duration::from_secs(30), |s| {
        s.contains("done 2250")
    });
    assert!(
        s.contains("hessian: P = 2,250 parameters, a 41 MB matrix, about ")
            && s.contains("on this machine (timed on the first "),
        "{s}"
    );
    assert!(
        s.contains("eigs: all eigenvalues of a 2,250×2,250 matrix, 122 MB, about "),
        "{s}"
    );
    t.wait("the progress bar of -e", Duration::from_secs(30), |s| {
        s.contains("/40000")
    });
    drop(t);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `hlab` in `dir` with `input` written to its piped stdin (no history file).
fn spawn_piped(dir: &std::path::Path, input: &str) -> std::process::Child {
    let mut child = Command::new(hlab_bin())
        .current_dir(dir)
        .env("HLAB_HISTORY", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child
}

fn run_piped(input: &str) -> (bool, String, String) {
    let dir = temp_dir("pipe");
    let child = spawn_piped(&dir, input);
    let out = child.wait_with_output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn piped_input_runs_cell_by_cell() {
    let input = "\
let a = 6
fn times(x,
         y) {
  x * y
}
times(a, 7)
let s = `two
lines`
s.len()

bad(1 2)
a + 1
:vars
print(\"done\")
";
    let (ok, out, err) = run_piped(input);
    assert!(!ok, "a failed input makes the exit status non-zero");
    assert_eq!(
        out, "42\n9\n7\na  int     6\ns  string  \"two\\nlines\"\ndone\n",
        "stderr:\n{err}"
    );
    // The error names its line in the whole input, with a caret, and no colour.
    assert!(err.contains("  11 | bad(1 2)\n"), "{err}");
    assert!(err.contains("^\nerror: Expecting ','"), "{err}");
    assert!(!out.contains('\x1b') && !err.contains('\x1b'), "no colours");
}

#[test]
fn piped_input_that_succeeds_exits_zero_and_quit_stops() {
    let (ok, out, err) =
        run_piped("let x = [1, 2,\n 3];\nx.len()\n:quit\nprint(\"not reached\")\n");
    assert!(ok, "{err}");
    assert_eq!(out, "3\n");
    // An unfinished input at the end still runs, and fails clearly.
    let (ok, _, err) = run_piped("let y = [1,\n");
    assert!(!ok);
    assert!(err.contains("error:"), "{err}");
}

/// `:save` goes through the one atomic writer: a FIFO in the way is refused
/// at once (a plain write would block on it forever) and stays a FIFO; a
/// save that cannot finish leaves the old script whole.
#[test]
fn repl_save_is_atomic_and_refuses_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("save");
    let fifo = dir.join("fifo.rhai");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // 250 bytes: the file fits, a temporary file beside it cannot.
    let long = dir.join(format!("{}.rhai", "x".repeat(245)));
    std::fs::write(&long, "old script").unwrap();
    let input = format!(
        "let a = 1\n:save {}\n:save {}\n:save {}\n",
        fifo.display(),
        long.display(),
        dir.join("ok.rhai").display()
    );
    let mut child = spawn_piped(&dir, &input);
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!(":save blocked on the FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("expected a regular file or a new file name, got a FIFO"),
        "{err}"
    );
    assert!(err.contains("File name too long"), "{err}");
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(std::fs::read_to_string(&long).unwrap(), "old script");
    let saved = std::fs::read_to_string(dir.join("ok.rhai")).unwrap();
    assert!(saved.contains("let a = 1"), "{saved}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Piped input whose reader went away ends quietly with status 0: a printing
/// loop stops, and `:commands` writing to the closed pipe do not fail.
#[test]
fn piped_input_into_a_closed_stdout_ends_quietly() {
    use std::io::Read;
    for (input, read_first) in [
        (
            "let i = 0\nloop { print(i); i += 1; }\nprint(\"after\")\n".to_string(),
            true,
        ),
        (":help\n".repeat(200), false),
    ] {
        let dir = temp_dir("closed");
        let mut child = Command::new(hlab_bin())
            .current_dir(&dir)
            .env("HLAB_HISTORY", "")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        if read_first {
            let mut first = [0u8; 4];
            child
                .stdout
                .as_mut()
                .unwrap()
                .read_exact(&mut first)
                .unwrap();
        }
        drop(child.stdout.take());
        let t0 = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t0.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("still running 20 s after stdout closed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.is_empty(), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

// Each `:command` on piped input, one test each: what its answer says.
// tests/kernel/test_commands.py checks that a notebook cell gives the same
// answer, text for text.

/// Runs `input` (lines) piped in `dir`: (success, stdout, stderr).
fn piped_in(dir: &Path, input: &str) -> (bool, String, String) {
    let out = spawn_piped(dir, input).wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn command_help_lists_every_command_from_the_table() {
    let (ok, out, err) = run_piped(":help\n");
    assert!(ok, "{err}");
    for c in hlab::commands::COMMANDS {
        assert!(
            out.contains(format!(":{} {}", c.name, c.args).trim_end()),
            "{out}"
        );
        assert!(out.contains(c.summary), "{out}");
    }
    assert!(out.contains("Try:"), "{out}");
    // The same text as `hlab help`, the command line's way in.
    let cli = Command::new(hlab_bin()).arg("help").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&cli.stdout), out);
}

#[test]
fn command_help_name_shows_a_function_a_type_or_a_command() {
    let (ok, out, err) = run_piped(":help train\n:help Spectrum\n:help :load\n");
    assert!(ok, "{err}");
    assert!(out.contains("train(m: Model, data: Dataset"), "{out}");
    assert!(out.contains("Example:"), "{out}");
    assert!(
        out.contains(":load FILE\n\nevaluate a script file"),
        "{out}"
    );
    let (ok, _, err) = run_piped(":help trian\n");
    assert!(!ok);
    assert!(
        err.starts_with("error: no function or command named `trian`; did you mean `train`?"),
        "{err}"
    );
}

#[test]
fn command_vars_lines_up_names_types_and_values() {
    let (ok, out, err) = run_piped(":vars\nlet count = 3; let name = \"x\";\n:vars\n");
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "no variables yet\ncount  int     3\nname   string  \"x\"\n"
    );
}

#[test]
fn command_time_shows_the_value_then_the_time() {
    let (ok, out, err) = run_piped(":time 6 * 7\n:time let t = 1\nt\n");
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!((lines[0], lines[3]), ("42", "1"), "{out}");
    for l in &lines[1..3] {
        let t = l.strip_prefix("time: ").unwrap_or_else(|| panic!("{out}"));
        let (n, unit) = t.split_once(' ').unwrap();
        assert!(
            n.parse::<f64>().is_ok() && ["µs", "ms", "s"].contains(&unit),
            "{out}"
        );
    }
    let (ok, _, err) = run_piped(":time nope(1)\n:time\n");
    assert!(!ok);
    assert!(
        err.contains("   1 | nope(1)\n       ^\nerror: nope: unknown function"),
        "{err}"
    );
    assert!(err.contains("(failed after "), "{err}");
    assert!(
        err.contains("error: :time: expected code to evaluate"),
        "{err}"
    );
}

#[test]
fn command_save_then_load_replays_the_session() {
    let dir = temp_dir("save-load");
    let file = dir.join("saved.rhai");
    let (ok, out, err) = piped_in(
        &dir,
        &format!(
            "let a = 20 // twenty\nfn twice(x) {{ 2 * x }}\nbad(1 2)\n:save {}\n",
            file.display()
        ),
    );
    assert!(!ok, "the failed input counts");
    assert_eq!(
        out,
        format!("saved 2 inputs to {}\n", file.display()),
        "{err}"
    );
    // A second session loads it: variables and functions arrive.
    let (ok, out, err) = piped_in(&dir, &format!(":load {}\ntwice(a) + 2\n", file.display()));
    assert!(ok, "{err}");
    assert_eq!(out, "42\n");
    let (ok, _, err) = piped_in(&dir, ":load none.rhai\n:save\n");
    assert!(!ok);
    assert!(err.contains("error: :load: none.rhai: "), "{err}");
    assert!(err.contains("error: :save: expected a file name"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn command_reset_forgets_everything() {
    let (ok, out, err) = run_piped("let a = 1;\nfn f() { 2 }\n:reset\n:vars\nf()\n");
    assert!(!ok, "f is gone");
    assert_eq!(
        out,
        "session reset: every variable and function is forgotten\nno variables yet\n"
    );
    assert!(err.contains("f: unknown function"), "{err}");
}

#[test]
fn command_quit_stops_and_unknown_commands_name_the_closest() {
    let (ok, out, _) = run_piped("1\n:quit\n2\n");
    assert!(ok);
    assert_eq!(out, "1\n");
    let (ok, _, err) = run_piped(":hepl\n");
    assert!(!ok);
    assert_eq!(
        err,
        "error: unknown command `:hepl`; did you mean `:help`? (`:help` lists the commands)\n"
    );
}

//! The `hlab` command line: REPL, script runner, one-shot evaluation, kernel.

use clap::{Parser, Subcommand};
use hlab::console::{install_ctrlc, interruptible, sink, write_stdout, CtrlC};
use hlab::script::{ErrorKind, ScriptError, Session};
use std::process::ExitCode;

/// hlab — the curvature of neural-network loss surfaces, interactively.
#[derive(Parser)]
#[command(name = "hlab", version, about, long_about = None, disable_help_subcommand = true)]
struct Cli {
    /// Evaluate CODE and exit.
    #[arg(short = 'e', long = "eval", value_name = "CODE")]
    eval: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a script; ARGS reach it as the array `ARGS`.
    Run {
        /// The script file (.rhai).
        file: std::path::PathBuf,
        /// Arguments for the script.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check a course exercise (examples/course/NN_name.rhai): run it with the
    /// exercise's checks and say which step is not done yet.
    Check {
        /// The exercise file, e.g. examples/course/02_quadratic.rhai.
        file: std::path::PathBuf,
    },
    /// Show the help of a function, type or REPL command (`hlab help train`,
    /// `hlab help Spectrum`); with no NAME, every function by topic.
    Help {
        /// A function, type (Spectrum, Model, …) or command name.
        name: Option<String>,
        /// Print the whole reference as Markdown (docs/REFERENCE.md).
        #[arg(long, conflicts_with = "name")]
        reference: bool,
    },
    /// Run the Jupyter kernel, or install its kernelspec.
    Kernel {
        /// The connection file Jupyter passes to the kernel.
        #[arg(long, value_name = "FILE")]
        connection_file: Option<std::path::PathBuf>,
        #[command(subcommand)]
        action: Option<KernelAction>,
    },
}

#[derive(Subcommand)]
enum KernelAction {
    /// Install the kernelspec `hlab` (default: for this user).
    Install {
        /// In the user's Jupyter data directory (the default).
        #[arg(long, conflicts_with_all = ["sys_prefix", "prefix"])]
        user: bool,
        /// In the active Python environment (VIRTUAL_ENV, CONDA_PREFIX or python3's sys.prefix).
        #[arg(long, conflicts_with = "prefix")]
        sys_prefix: bool,
        /// Under P/share/jupyter/kernels.
        #[arg(long, value_name = "P")]
        prefix: Option<std::path::PathBuf>,
    },
}

/// The exit statuses of `hlab` (the table in README.md, "Exit status").
mod status {
    /// Success, also when the reader of stdout went away (`| head`).
    pub const OK: u8 = 0;
    /// A script or runtime error, a missing or unreadable script file.
    pub const ERROR: u8 = 1;
    /// A command-line usage error (clap's own status), or a malformed
    /// `HLAB_MEMORY_LIMIT`.
    pub const USAGE: u8 = 2;
    /// Interrupted (Ctrl-C; a second quick Ctrl-C leaves at once with the
    /// same status, from the one Ctrl-C handler in `hlab::console`).
    pub const INTERRUPTED: u8 = hlab::console::INTERRUPTED;
}

fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// The status for a failed evaluation, after printing it (nothing is
/// printed when stdout was closed by its reader: that ends the run quietly).
fn failed(e: &ScriptError, file: &str) -> ExitCode {
    if hlab::progress::stdout_closed() {
        return exit(status::OK);
    }
    eprintln!("{}", e.with_file(file));
    match e.kind {
        ErrorKind::Interrupted => exit(status::INTERRUPTED),
        _ => exit(status::ERROR),
    }
}

/// Reads a script and opens a session for it with Ctrl-C wired to the
/// interrupt flag; on a read error prints it and gives exit status 1.
fn open_script(file: &std::path::Path) -> Result<(String, String, Session), ExitCode> {
    let name = file.display().to_string();
    let code = hlab::fsio::read_script(file).map_err(|e| {
        eprintln!("hlab: {e}");
        exit(status::ERROR)
    })?;
    let session = Session::new(sink());
    install_ctrlc(CtrlC::Script);
    Ok((name, code, session))
}

fn run_file(file: &std::path::Path, args: &[String]) -> ExitCode {
    let (name, code, mut session) = match open_script(file) {
        Ok(s) => s,
        Err(status) => return status,
    };
    session.set_args(args);
    match interruptible(|| session.eval(&code)) {
        Ok(_) => exit(status::OK),
        Err(e) => failed(&e, &name),
    }
}

fn check_file(file: &std::path::Path) -> ExitCode {
    let (name, code, mut session) = match open_script(file) {
        Ok(s) => s,
        Err(status) => return status,
    };
    let verdict = interruptible(|| hlab::course::check(&mut session, &name, &code));
    write_stdout(format!("\n{}\n", verdict.report).as_bytes());
    if verdict.passed || hlab::progress::stdout_closed() {
        exit(status::OK)
    } else {
        exit(status::ERROR)
    }
}

fn kernel(connection_file: Option<std::path::PathBuf>, action: Option<KernelAction>) -> ExitCode {
    use hlab::kernel::Target;
    match (action, connection_file) {
        (
            Some(KernelAction::Install {
                sys_prefix, prefix, ..
            }),
            None,
        ) => {
            let target = match (sys_prefix, prefix) {
                (_, Some(p)) => Target::Prefix(p),
                (true, None) => Target::SysPrefix,
                (false, None) => Target::User,
            };
            match hlab::kernel::install(&target) {
                Ok(dir) => {
                    write_stdout(
                        format!("installed the kernelspec hlab in {}\n", dir.display()).as_bytes(),
                    );
                    exit(status::OK)
                }
                Err(e) => {
                    eprintln!("hlab: {e}");
                    exit(status::ERROR)
                }
            }
        }
        (None, Some(file)) => match hlab::kernel::run(&file) {
            Ok(()) => exit(status::OK),
            Err(e) => {
                eprintln!("hlab: {e}");
                exit(status::ERROR)
            }
        },
        _ => {
            eprintln!(
                "hlab kernel: use `hlab kernel --connection-file FILE` (Jupyter does this) or `hlab kernel install [--user | --sys-prefix | --prefix P]`"
            );
            exit(status::USAGE)
        }
    }
}

fn main() -> ExitCode {
    hlab::init_threads();
    let cli = Cli::parse();
    if let Err(e) = hlab::mat::init_memory_budget() {
        eprintln!("hlab: {e}");
        return exit(status::USAGE);
    }
    // Charts in colour on a terminal (not in the kernel: Jupyter's text is
    // no terminal, whatever stdout the kernel inherited).
    if !matches!(cli.command, Some(Command::Kernel { .. })) {
        hlab::plot::set_terminal_color(hlab::plot::color_from_env());
    }
    if let Some(code) = cli.eval {
        let mut session = Session::new(sink());
        install_ctrlc(CtrlC::Script);
        return match interruptible(|| session.eval(&code)) {
            Ok(Some(v)) => {
                write_stdout(format!("{}\n", v.text).as_bytes());
                exit(status::OK)
            }
            Ok(None) => exit(status::OK),
            Err(e) => failed(&e, "-e"),
        };
    }
    match cli.command {
        Some(Command::Run { file, args }) => run_file(&file, &args),
        Some(Command::Check { file }) => check_file(&file),
        Some(Command::Help {
            reference: true, ..
        }) => {
            let session = Session::new(sink());
            write_stdout(session.reference().as_bytes());
            ExitCode::SUCCESS
        }
        Some(Command::Help { name, .. }) => {
            let session = Session::new(sink());
            match hlab::commands::help_for(&session, name.as_deref().unwrap_or("")) {
                Ok(text) => {
                    write_stdout(format!("{text}\n").as_bytes());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hlab help: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Command::Kernel {
            connection_file,
            action,
        }) => kernel(connection_file, action),
        None => hlab::repl::main(),
    }
}

//! The `hlab` command line: REPL, script runner, one-shot evaluation, kernel.

use clap::{Parser, Subcommand};
use hlab::session::{Output, Session, Sink};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

/// hlab — the curvature of neural-network loss surfaces, interactively.
#[derive(Parser)]
#[command(name = "hlab", version, about, long_about = None)]
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

fn stdout_sink() -> Sink {
    Arc::new(|o| match o {
        Output::Stdout(s) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(s.as_bytes());
            let _ = out.flush();
        }
        Output::Stderr(s) => eprint!("{s}"),
        Output::Display(d) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", d.text);
            let _ = out.flush();
        }
    })
}

fn install_ctrlc() {
    let _ = ctrlc::set_handler(|| {
        if hlab::progress::interrupt_requested() {
            // A second Ctrl-C while the first is being handled: leave now.
            std::process::exit(130);
        }
        hlab::progress::request_interrupt();
    });
}

/// Reads a script and opens a session for it with Ctrl-C wired to the
/// interrupt flag; on a read error prints it and gives exit status 2.
fn open_script(file: &std::path::Path) -> Result<(String, String, Session), ExitCode> {
    let name = file.display().to_string();
    let code = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("hlab: {name}: {e}");
        ExitCode::from(2)
    })?;
    let session = Session::new(stdout_sink());
    install_ctrlc();
    Ok((name, code, session))
}

fn run_file(file: &std::path::Path, args: &[String]) -> ExitCode {
    let (name, code, mut session) = match open_script(file) {
        Ok(s) => s,
        Err(status) => return status,
    };
    session.set_args(args);
    match session.eval(&code) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.with_file(&name));
            ExitCode::from(1)
        }
    }
}

fn check_file(file: &std::path::Path) -> ExitCode {
    let (name, code, mut session) = match open_script(file) {
        Ok(s) => s,
        Err(status) => return status,
    };
    let verdict = hlab::course::check(&mut session, &name, &code);
    println!("\n{}", verdict.report);
    if verdict.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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
                    println!("installed the kernelspec hlab in {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hlab: {e}");
                    ExitCode::from(1)
                }
            }
        }
        (None, Some(file)) => match hlab::kernel::run(&file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hlab: {e}");
                ExitCode::from(1)
            }
        },
        _ => {
            eprintln!(
                "hlab kernel: use `hlab kernel --connection-file FILE` (Jupyter does this) or `hlab kernel install [--user | --sys-prefix | --prefix P]`"
            );
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    hlab::init_threads();
    let cli = Cli::parse();
    if let Some(code) = cli.eval {
        let mut session = Session::new(stdout_sink());
        install_ctrlc();
        return match session.eval(&code) {
            Ok(Some(v)) => {
                println!("{}", v.text);
                ExitCode::SUCCESS
            }
            Ok(None) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}", e.with_file("-e"));
                ExitCode::from(1)
            }
        };
    }
    match cli.command {
        Some(Command::Run { file, args }) => run_file(&file, &args),
        Some(Command::Check { file }) => check_file(&file),
        Some(Command::Kernel {
            connection_file,
            action,
        }) => kernel(connection_file, action),
        None => hlab::repl::main(),
    }
}

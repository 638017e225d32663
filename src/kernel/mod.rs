//! hlab as a Jupyter kernel: messaging protocol 5.3 over ZeroMQ.
//!
//! `hlab kernel --connection-file F` binds the five sockets the connection
//! file names ([`ConnectionInfo`]) and serves them on one async thread,
//! while a second thread ([`worker`]) owns the [`crate::script::Session`]
//! and evaluates cells:
//!
//! | socket | type | what is on it |
//! |---|---|---|
//! | shell | ROUTER | execute, complete, inspect, is_complete, history, kernel_info, comm_info (one at a time, in order) |
//! | control | ROUTER | interrupt, shutdown, kernel_info — answered even while a cell runs |
//! | iopub | PUB | status busy → execute_input → streams / display_data → execute_result or error → status idle |
//! | stdin | ROUTER | bound; hlab never asks for input |
//! | heartbeat | REP | echoes |
//!
//! Every incoming message is verified ([`wire::Wire::decode`]: HMAC-SHA256
//! under the connection key, replays refused) before anything reads it; a
//! forged one is logged to stderr and dropped — no reply, no status, no
//! effect. Outputs stream to IOPub as the cell prints them; plots arrive as
//! `display_data` with `image/svg+xml` and `text/plain`.
//!
//! A cell whose first non-blank line starts with `:` holds the REPL's
//! `:commands` ([`crate::commands`], the same table): each `:` line is one
//! command (lines after it that do not start with `:` continue it, so
//! `:time` can time several lines), run in order; their text arrives as a
//! `stream`, and the first failure ends the cell with an `error` reply
//! ([`worker::command_error_parts`]).

pub mod complete;
pub mod install;
pub mod wire;
pub mod worker;

use crate::error::{Error, Result};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};
use wire::{Message, Wire};
use worker::{Job, Publish};
use zeromq::{PubSocket, RepSocket, RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

pub use install::{install, Target};

/// The connection file Jupyter writes for a kernel.
#[derive(Clone, Debug, Deserialize)]
pub struct ConnectionInfo {
    /// `tcp` (the only transport hlab binds).
    pub transport: String,
    /// The address to bind.
    pub ip: String,
    /// Shell ROUTER port.
    pub shell_port: u16,
    /// IOPub PUB port.
    pub iopub_port: u16,
    /// Stdin ROUTER port.
    pub stdin_port: u16,
    /// Control ROUTER port.
    pub control_port: u16,
    /// Heartbeat REP port.
    pub hb_port: u16,
    /// The HMAC key (empty: unsigned).
    #[serde(default)]
    pub key: String,
    /// `hmac-sha256`.
    #[serde(default = "default_scheme")]
    pub signature_scheme: String,
}

fn default_scheme() -> String {
    "hmac-sha256".into()
}

impl ConnectionInfo {
    /// Reads and checks a connection file.
    pub fn read(path: &Path) -> Result<ConnectionInfo> {
        let op = "kernel";
        // A connection file is a few hundred bytes of JSON; anything that is
        // not a regular file (`/dev/zero`, a FIFO) or is larger is refused
        // before it is read, and the read itself stops at the limit.
        const MAX: u64 = 64 * 1024;
        let md = std::fs::metadata(path).map_err(|e| Error::io(op, path, e))?;
        if !md.is_file() {
            return Err(Error::io(
                op,
                path,
                "expected a regular connection file, got a device, FIFO, socket or folder",
            ));
        }
        if md.len() > MAX {
            return Err(Error::io(
                op,
                path,
                format!(
                    "expected a connection file of at most {MAX} bytes, got {} bytes",
                    md.len()
                ),
            ));
        }
        let mut text = String::new();
        {
            use std::io::Read;
            let f = std::fs::File::open(path).map_err(|e| Error::io(op, path, e))?;
            f.take(MAX + 1)
                .read_to_string(&mut text)
                .map_err(|e| Error::io(op, path, e))?;
        }
        if text.len() as u64 > MAX {
            return Err(Error::io(
                op,
                path,
                format!("expected a connection file of at most {MAX} bytes, got more"),
            ));
        }
        let info: ConnectionInfo = serde_json::from_str(&text).map_err(|e| Error::Format {
            op,
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
        if info.transport != "tcp" {
            return Err(Error::invalid(
                op,
                format!("expected transport \"tcp\", got {:?}", info.transport),
            ));
        }
        if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
            return Err(Error::invalid(
                op,
                format!(
                    "expected signature_scheme \"hmac-sha256\", got {:?}",
                    info.signature_scheme
                ),
            ));
        }
        Ok(info)
    }

    fn endpoint(&self, port: u16) -> String {
        let ip = if self.ip == "*" { "0.0.0.0" } else { &self.ip };
        format!("tcp://{ip}:{port}")
    }
}

/// Runs the kernel until a shutdown_request (or the parent process dies).
pub fn run(connection_file: &Path) -> Result<()> {
    let info = ConnectionInfo::read(connection_file)?;
    crate::progress::set_progress_enabled(false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::invalid("kernel", format!("cannot start the runtime: {e}")))?;
    rt.block_on(serve(info))
}

/// State shared by the socket tasks.
struct Shared {
    wire: Mutex<Wire>,
    session: String,
    iopub: mpsc::UnboundedSender<Publish>,
    shutdown: Notify,
}

impl Shared {
    fn wire(&self) -> std::sync::MutexGuard<'_, Wire> {
        self.wire.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, msg_type: &str, content: Value, parent: &Value) {
        let _ = self.iopub.send(Publish {
            msg_type: msg_type.into(),
            content,
            parent: parent.clone(),
        });
    }

    fn status(&self, state: &str, parent: &Value) {
        self.publish("status", json!({ "execution_state": state }), parent);
    }

    /// Verifies incoming frames; logs and returns `None` for a refused one.
    fn decode(&self, channel: &str, msg: ZmqMessage) -> Option<Message> {
        match self.wire().decode(msg.into_vec()) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("hlab kernel: dropped a message on {channel}: {e}");
                None
            }
        }
    }

    /// The reply to `req` on a ROUTER socket, signed.
    fn reply(&self, req: &Message, content: Value) -> Option<ZmqMessage> {
        let msg_type = req.msg_type().replace("_request", "_reply");
        let msg = Message {
            identities: req.identities.clone(),
            header: wire::header(&msg_type, &self.session),
            parent_header: req.header.clone(),
            metadata: json!({}),
            content,
            buffers: vec![],
        };
        ZmqMessage::try_from(self.wire().encode(&msg)).ok()
    }
}

async fn bind<S: Socket>(mut socket: S, info: &ConnectionInfo, port: u16, name: &str) -> Result<S> {
    let ep = info.endpoint(port);
    socket.bind(&ep).await.map_err(|e| {
        Error::invalid(
            "kernel",
            format!("cannot bind the {name} socket to {ep}: {e}"),
        )
    })?;
    Ok(socket)
}

async fn serve(info: ConnectionInfo) -> Result<()> {
    let shell = bind(RouterSocket::new(), &info, info.shell_port, "shell").await?;
    let control = bind(RouterSocket::new(), &info, info.control_port, "control").await?;
    let stdin = bind(RouterSocket::new(), &info, info.stdin_port, "stdin").await?;
    let iopub = bind(PubSocket::new(), &info, info.iopub_port, "iopub").await?;
    let hb = bind(RepSocket::new(), &info, info.hb_port, "heartbeat").await?;

    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        wire: Mutex::new(Wire::new(info.key.as_bytes())),
        session: uuid::Uuid::new_v4().to_string(),
        iopub: tx.clone(),
        shutdown: Notify::new(),
    });
    let jobs = worker::spawn(tx).map_err(|e| {
        Error::invalid("kernel", format!("cannot start the evaluation thread: {e}"))
    })?;

    tokio::spawn(iopub_loop(iopub, rx, shared.clone()));
    tokio::spawn(heartbeat_loop(hb));
    tokio::spawn(stdin_loop(stdin, shared.clone()));
    tokio::spawn(control_loop(control, shared.clone()));
    #[cfg(unix)]
    tokio::spawn(watch_parent(shared.clone()));
    shared.status("starting", &json!({}));

    tokio::select! {
        _ = shell_loop(shell, jobs, shared.clone()) => {}
        _ = shared.shutdown.notified() => {}
    }
    // Let the reply and the last IOPub messages leave the send queues.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

fn kernel_info() -> Value {
    json!({
        "status": "ok",
        "protocol_version": wire::PROTOCOL_VERSION,
        "implementation": "hlab",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "rhai",
            "version": env!("CARGO_PKG_VERSION"),
            "mimetype": "text/x-rhai",
            "file_extension": ".rhai",
            "pygments_lexer": "rust",
            "codemirror_mode": "rust",
            "nbconvert_exporter": "script",
        },
        "banner": format!(
            "hlab {} — Hessian spectra of neural networks, scripted in Rhai",
            env!("CARGO_PKG_VERSION")
        ),
        "help_links": [],
        "debugger": false,
    })
}

async fn send(socket: &mut RouterSocket, msg: Option<ZmqMessage>, channel: &str) {
    if let Some(m) = msg {
        if let Err(e) = socket.send(m).await {
            eprintln!("hlab kernel: cannot send on {channel}: {e}");
        }
    }
}

/// Shell requests are handled one at a time, in order. When a cell fails
/// (or is interrupted) and its request asked for `stop_on_error`, the
/// execute_requests already waiting on the socket are not run: each gets an
/// error reply `Aborted` (as ipykernel does for "Run All"). They are collected
/// *before* the failed cell's reply goes out, so a client that sends its next
/// cell after reading that reply is never aborted.
async fn shell_loop(
    mut shell: RouterSocket,
    jobs: std::sync::mpsc::Sender<Job>,
    shared: Arc<Shared>,
) {
    let mut backlog: VecDeque<(Message, bool)> = VecDeque::new();
    loop {
        let (req, abort) = match backlog.pop_front() {
            Some(queued) => queued,
            None => {
                let frames = match shell.recv().await {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("hlab kernel: shell: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                match shared.decode("shell", frames) {
                    Some(req) => (req, false),
                    None => continue,
                }
            }
        };
        shared.status("busy", &req.header);
        let mut stop = false;
        let content = match req.msg_type() {
            "execute_request" if abort => Some(json!({
                "status": "error",
                "ename": "Aborted",
                "evalue": "not run: an earlier cell failed or was interrupted",
                "traceback": [],
            })),
            "kernel_info_request" => Some(kernel_info()),
            "comm_info_request" => Some(json!({ "status": "ok", "comms": {} })),
            "execute_request"
            | "complete_request"
            | "inspect_request"
            | "is_complete_request"
            | "history_request" => {
                let (reply, wait) = oneshot::channel();
                let job = Job {
                    request: req.clone(),
                    reply,
                };
                let content = match jobs.send(job) {
                    Ok(()) => match wait.await {
                        Ok(c) => c,
                        Err(_) => internal_error("the evaluation thread stopped"),
                    },
                    Err(_) => internal_error("the evaluation thread stopped"),
                };
                if req.msg_type() == "execute_request"
                    && content["status"] == "error"
                    && req.bool_field("stop_on_error", true)
                {
                    drain_waiting(&mut shell, &shared, &mut backlog).await;
                }
                Some(content)
            }
            "shutdown_request" => {
                stop = true;
                Some(shutdown_reply(&req, &shared))
            }
            "comm_open" | "comm_msg" | "comm_close" => None,
            other => {
                eprintln!("hlab kernel: shell: ignoring unknown message type {other:?}");
                None
            }
        };
        if let Some(c) = content {
            let msg = shared.reply(&req, c);
            send(&mut shell, msg, "shell").await;
        }
        shared.status("idle", &req.header);
        if stop {
            return;
        }
    }
}

/// Moves the requests already waiting on the shell socket into `backlog`,
/// marking the execute_requests among them to be aborted.
async fn drain_waiting(
    shell: &mut RouterSocket,
    shared: &Shared,
    backlog: &mut VecDeque<(Message, bool)>,
) {
    // A zero timeout still polls the receive once: it takes what is there.
    while let Ok(Ok(frames)) = tokio::time::timeout(Duration::ZERO, shell.recv()).await {
        if let Some(m) = shared.decode("shell", frames) {
            let abort = m.msg_type() == "execute_request";
            backlog.push_back((m, abort));
        }
    }
}

fn internal_error(msg: &str) -> Value {
    json!({
        "status": "error",
        "ename": "InternalError",
        "evalue": format!("hlab kernel: {msg}"),
        "traceback": [],
    })
}

fn shutdown_reply(req: &Message, shared: &Shared) -> Value {
    let restart = req.bool_field("restart", false);
    let content = json!({ "status": "ok", "restart": restart });
    shared.publish("shutdown_reply", content.clone(), &req.header);
    content
}

async fn control_loop(mut control: RouterSocket, shared: Arc<Shared>) {
    loop {
        let frames = match control.recv().await {
            Ok(f) => f,
            Err(e) => {
                eprintln!("hlab kernel: control: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(req) = shared.decode("control", frames) else {
            continue;
        };
        match req.msg_type() {
            "interrupt_request" => {
                crate::progress::request_interrupt();
                let msg = shared.reply(&req, json!({ "status": "ok" }));
                send(&mut control, msg, "control").await;
            }
            "shutdown_request" => {
                let content = shutdown_reply(&req, &shared);
                let msg = shared.reply(&req, content);
                send(&mut control, msg, "control").await;
                shared.shutdown.notify_one();
            }
            "kernel_info_request" => {
                let msg = shared.reply(&req, kernel_info());
                send(&mut control, msg, "control").await;
            }
            other => eprintln!("hlab kernel: control: ignoring message type {other:?}"),
        }
    }
}

async fn stdin_loop(mut stdin: RouterSocket, shared: Arc<Shared>) {
    // hlab never sends input_request; anything arriving here is verified
    // (so a forgery is still logged) and otherwise ignored.
    while let Ok(frames) = stdin.recv().await {
        if let Some(m) = shared.decode("stdin", frames) {
            eprintln!("hlab kernel: stdin: ignoring {:?}", m.msg_type());
        }
    }
}

async fn heartbeat_loop(mut hb: RepSocket) {
    loop {
        match hb.recv().await {
            Ok(m) => {
                let _ = hb.send(m).await;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Most bytes of stream text merged into one IOPub message.
const STREAM_CHUNK: usize = 64 * 1024;

fn same_stream(a: &Publish, b: &Publish) -> bool {
    a.msg_type == "stream"
        && b.msg_type == "stream"
        && a.content["name"] == b.content["name"]
        && a.parent.get("msg_id") == b.parent.get("msg_id")
}

async fn iopub_loop(
    mut iopub: PubSocket,
    mut rx: mpsc::UnboundedReceiver<Publish>,
    shared: Arc<Shared>,
) {
    let mut pending: Option<Publish> = None;
    loop {
        let mut out = match pending.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        // Merge a burst of prints into one stream message.
        while out.msg_type == "stream"
            && out.content["text"].as_str().map_or(0, str::len) < STREAM_CHUNK
        {
            match rx.try_recv() {
                Ok(next) if same_stream(&out, &next) => {
                    let mut text = out.content["text"].as_str().unwrap_or("").to_string();
                    text.push_str(next.content["text"].as_str().unwrap_or(""));
                    out.content["text"] = Value::String(text);
                }
                Ok(next) => {
                    pending = Some(next);
                    break;
                }
                Err(_) => break,
            }
        }
        let msg = Message {
            identities: vec![Bytes::from(format!(
                "kernel.{}.{}",
                shared.session, out.msg_type
            ))],
            header: wire::header(&out.msg_type, &shared.session),
            parent_header: out.parent,
            metadata: json!({}),
            content: out.content,
            buffers: vec![],
        };
        let frames = shared.wire().encode(&msg);
        if let Ok(m) = ZmqMessage::try_from(frames) {
            if let Err(e) = iopub.send(m).await {
                eprintln!("hlab kernel: cannot publish on iopub: {e}");
            }
        }
    }
}

/// Exits when the process that started the kernel goes away (so a crashed
/// notebook server leaves no kernel behind), as ipykernel does: about once
/// a second it checks `JPY_PARENT_PID` when that is set to a pid, else the
/// parent at start (gone, or this process re-parented). Not stdin, which
/// may be /dev/null.
#[cfg(unix)]
async fn watch_parent(shared: Arc<Shared>) {
    let start_parent = std::os::unix::process::parent_id();
    let jpy = std::env::var("JPY_PARENT_PID")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|&p| p > 1);
    if jpy.is_none() && start_parent <= 1 {
        return;
    }
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let gone = match jpy {
            Some(pid) => !crate::fsio::process_alive(pid),
            None => {
                std::os::unix::process::parent_id() != start_parent
                    || !crate::fsio::process_alive(start_parent)
            }
        };
        if gone {
            eprintln!("hlab kernel: the parent process exited; shutting down");
            shared.shutdown.notify_one();
            return;
        }
    }
}

//! In-process SMTP receiver for integration tests, with fault injection.
//!
//! A real SMTP server (RFC 5321 subset) listening on a random `127.0.0.1`
//! port, so tests can point a real SMTP client (e.g. lettre) at it and
//! inspect what was delivered. Depends only on `std` and `tokio`.
//!
//! Supported: 220 greeting, EHLO/HELO (advertises PIPELINING, 8BITMIME,
//! SMTPUTF8, SIZE and AUTH PLAIN LOGIN; no STARTTLS), AUTH PLAIN/LOGIN (any
//! credentials are accepted with 235), MAIL FROM, RCPT TO, DATA (dot
//! unstuffing, ends at CRLF.CRLF), RSET, NOOP, VRFY, HELP, QUIT; anything
//! else gets 500. Pipelined commands are handled (replies are flushed when
//! the input buffer has been drained). Garbage input never panics.
//!
//! Fault injection is selected with [`SmtpSink::set_behaviour`]; the server
//! can be taken down with [`SmtpSink::stop`] and brought back on the same
//! port with [`SmtpSink::restart`].
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::{JoinHandle, JoinSet};

/// Maximum accepted message size (advertised with the SIZE extension).
pub const MAX_MESSAGE_SIZE: usize = 32 * 1024 * 1024;
/// Longest command line accepted; longer lines get `500 line too long`.
const MAX_COMMAND_LINE: usize = 16 * 1024;
/// Longest DATA line accepted; a longer one makes the message fail with 552.
const MAX_DATA_LINE: usize = 1024 * 1024;
/// A connection idle for this long is closed with 421.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
const SERVER_NAME: &str = "smtp-sink.clarion.test";

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/// How the server answers. Changing it with [`SmtpSink::set_behaviour`]
/// resets the fault counters (temp-fail counts per recipient, drops done).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Accept everything.
    #[default]
    Accept,
    /// Reply to RCPT TO with `code` (e.g. 451) for the first `times`
    /// attempts for each recipient address (case-insensitive), then accept.
    TempFailFirst { times: u32, code: u16 },
    /// Reject recipients whose address contains `needle` (case-insensitive)
    /// with `code` (e.g. 550) and "5.1.1 mailbox unknown".
    RejectRecipient { needle: String, code: u16 },
    /// Answer RCPT TO for an address containing a needle (case-insensitive)
    /// with that needle's reply line, `{addr}` in it replaced by the address
    /// as the client sent it; the first matching needle wins, and addresses
    /// matching none are accepted. Replies repeat on every attempt.
    Replies(Vec<(String, String)>),
    /// Close the connection without replying right after the DATA content
    /// has been received, for the first `times` messages. Those messages are
    /// not recorded.
    DropAfterData { times: u32 },
}

/// One accepted message (one per DATA that got a 250).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Envelope sender (`MAIL FROM`), without angle brackets; empty for `<>`.
    pub mail_from: String,
    /// Envelope recipients (`RCPT TO` that were accepted), without brackets.
    pub rcpt_to: Vec<String>,
    /// Raw message incl. headers, CRLF line endings, dot-unstuffed. Bytes
    /// that are not valid UTF-8 are replaced with U+FFFD.
    pub data: String,
}

/// Handle to a running in-process SMTP server. Cheap to clone; the server
/// shuts down when the last clone is dropped.
#[derive(Clone)]
pub struct SmtpSink {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSink")
            .field("port", &self.inner.port)
            .field("messages", &self.inner.shared.lock().messages.len())
            .field("connections", &self.connections())
            .field("attempts", &self.attempts())
            .finish()
    }
}

impl SmtpSink {
    /// Binds `127.0.0.1:0` and starts serving. Must be called inside a tokio
    /// runtime.
    pub async fn start() -> SmtpSink {
        let listener = bind(0).unwrap_or_else(|e| panic!("SmtpSink: cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("SmtpSink: no local address: {e}"))
            .port();
        let shared = Arc::new(Shared::default());
        let running = spawn_server(listener, shared.clone());
        SmtpSink {
            inner: Arc::new(Inner {
                shared,
                port,
                running: tokio::sync::Mutex::new(Some(running)),
            }),
        }
    }

    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// `smtp://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.inner.port)
    }

    /// Snapshot of every message accepted so far, in acceptance order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.inner.shared.lock().messages.clone()
    }

    /// Forgets the messages accepted so far (counters are kept).
    pub fn clear_messages(&self) {
        let mut state = self.inner.shared.lock();
        state.messages.clear();
        state.arrivals.clear();
    }

    /// When each message of [`messages`](Self::messages) was accepted, in
    /// the same order.
    pub fn arrival_times(&self) -> Vec<std::time::Instant> {
        self.inner.shared.lock().arrivals.clone()
    }

    /// How many times RCPT TO for `addr` (case-insensitive) was refused so
    /// far, whatever the behaviour then.
    pub fn refusals(&self, addr: &str) -> u32 {
        self.inner
            .shared
            .lock()
            .refusals
            .get(&addr.to_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Waits until at least `n` messages have been accepted and returns all
    /// of them. Panics if they have not arrived within `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let shared = &self.inner.shared;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = shared.notify.notified();
            tokio::pin!(notified);
            // Register before checking so a notification in between is not lost.
            notified.as_mut().enable();
            {
                let state = shared.lock();
                if state.messages.len() >= n {
                    return state.messages.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let state = shared.lock();
                if state.messages.len() >= n {
                    return state.messages.clone();
                }
                panic!(
                    "SmtpSink::wait_for: expected at least {n} message(s) within {timeout:?}, \
                     but only {} arrived (connections: {}, RCPT TO attempts: {}, behaviour: {:?})",
                    state.messages.len(),
                    shared.connections.load(Ordering::SeqCst),
                    shared.attempts.load(Ordering::SeqCst),
                    state.behaviour,
                );
            }
        }
    }

    /// Changes the behaviour for subsequent commands and resets the fault
    /// counters.
    pub fn set_behaviour(&self, b: Behaviour) {
        let mut state = self.inner.shared.lock();
        state.behaviour = b;
        state.temp_fail_counts.clear();
        state.drops_done = 0;
    }

    pub fn behaviour(&self) -> Behaviour {
        self.inner.shared.lock().behaviour.clone()
    }

    /// Number of RCPT TO commands seen (accepted, rejected or malformed).
    pub fn attempts(&self) -> usize {
        self.inner.shared.attempts.load(Ordering::SeqCst)
    }

    /// `(MAIL FROM commands, those pipelined)`: a MAIL FROM counts as
    /// pipelined when its RCPT TO commands and DATA had arrived with it.
    pub fn pipelining(&self) -> (usize, usize) {
        (
            self.inner.shared.mail_commands.load(Ordering::SeqCst),
            self.inner.shared.pipelined.load(Ordering::SeqCst),
        )
    }

    /// Number of TCP connections accepted in total (across restarts).
    pub fn connections(&self) -> usize {
        self.inner.shared.connections.load(Ordering::SeqCst)
    }

    /// User names of successful AUTH exchanges, in order.
    pub fn auth_usernames(&self) -> Vec<String> {
        self.inner.shared.lock().auth_usernames.clone()
    }

    /// Simulates the server going down: closes the listener and drops every
    /// live connection. When this returns, connecting is refused.
    /// No-op if already stopped.
    pub async fn stop(&self) {
        let mut running = self.inner.running.lock().await;
        if let Some(r) = running.take() {
            let _ = r.shutdown.send(());
            let _ = r.task.await;
        }
    }

    /// Listens again on the same port after [`stop`](Self::stop). No-op if
    /// running. Panics if the port cannot be bound again.
    pub async fn restart(&self) {
        let mut running = self.inner.running.lock().await;
        if running.is_some() {
            return;
        }
        let port = self.inner.port;
        let listener =
            bind(port).unwrap_or_else(|e| panic!("SmtpSink: cannot re-bind 127.0.0.1:{port}: {e}"));
        *running = Some(spawn_server(listener, self.inner.shared.clone()));
    }

    /// Whether the server is currently listening.
    pub async fn is_running(&self) -> bool {
        self.inner.running.lock().await.is_some()
    }
}

impl ReceivedMail {
    /// First value of header `name` (case-insensitive), unfolded and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        parse_headers(split_head_body(&self.data).0)
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All values of header `name` (case-insensitive), in order.
    pub fn headers(&self, name: &str) -> Vec<String> {
        parse_headers(split_head_body(&self.data).0)
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }

    /// Names of all top-level headers as written, in order (duplicates kept).
    pub fn header_names(&self) -> Vec<String> {
        parse_headers(split_head_body(&self.data).0)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// Like [`header`](Self::header), with RFC 2047 encoded words
    /// (`=?charset?B?...?=` / `=?charset?Q?...?=`) decoded.
    pub fn decoded_header(&self, name: &str) -> Option<String> {
        self.header(name).map(|v| decode_rfc2047(&v))
    }

    /// Raw body: everything after the first empty line (not decoded).
    pub fn body(&self) -> &str {
        split_head_body(&self.data).1
    }

    /// Leaf MIME parts as `(mime type, decoded text)`.
    ///
    /// The mime type is lower-case without parameters (e.g. `text/plain`).
    /// Multipart bodies are walked recursively (nested multiparts included);
    /// every leaf part is decoded from its Content-Transfer-Encoding
    /// (base64 / quoted-printable / 7bit / 8bit) and converted to a String
    /// using its charset (UTF-8, US-ASCII and ISO-8859-1 are understood;
    /// anything else is read as UTF-8, lossily). Line endings are kept as in
    /// the message (CRLF). A single-part message yields one entry.
    pub fn text_parts(&self) -> Vec<(String, String)> {
        let (head, body) = split_head_body(&self.data);
        let mut out = Vec::new();
        collect_parts(&parse_headers(head), body, "text/plain", 0, &mut out);
        out
    }
}

// ---------------------------------------------------------------------------
// Server internals
// ---------------------------------------------------------------------------

struct Inner {
    shared: Arc<Shared>,
    port: u16,
    running: tokio::sync::Mutex<Option<Running>>,
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    notify: Notify,
    attempts: AtomicUsize,
    connections: AtomicUsize,
    /// MAIL FROM commands seen, and those that came with their RCPT TO and
    /// DATA already behind them in the same read (pipelined, RFC 2920).
    mail_commands: AtomicUsize,
    pipelined: AtomicUsize,
}

#[derive(Default)]
struct State {
    messages: Vec<ReceivedMail>,
    behaviour: Behaviour,
    temp_fail_counts: HashMap<String, u32>,
    drops_done: u32,
    auth_usernames: Vec<String>,
    /// Refused RCPT TO commands per address (lower-cased), across behaviours.
    refusals: HashMap<String, u32>,
    /// When each message in `messages` was accepted, in the same order.
    arrivals: Vec<std::time::Instant>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means some thread panicked while holding it;
        // the data is still usable for a test helper.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `None` to accept the recipient, `Some(reply)` to refuse it; refusals
    /// are counted per address.
    fn rcpt_verdict(&self, addr: &str) -> Option<String> {
        let verdict = self.rcpt_reply(addr);
        if verdict.is_some() {
            *self.lock().refusals.entry(addr.to_lowercase()).or_insert(0) += 1;
        }
        verdict
    }

    fn rcpt_reply(&self, addr: &str) -> Option<String> {
        let mut guard = self.lock();
        let state = &mut *guard;
        match &state.behaviour {
            Behaviour::Accept | Behaviour::DropAfterData { .. } => None,
            Behaviour::TempFailFirst { times, code } => {
                let count = state
                    .temp_fail_counts
                    .entry(addr.to_lowercase())
                    .or_insert(0);
                if *count < *times {
                    *count += 1;
                    Some(format!(
                        "{code:03} {}.3.0 <{addr}>: temporary failure, try again later",
                        code / 100
                    ))
                } else {
                    None
                }
            }
            Behaviour::Replies(rules) => {
                let lower = addr.to_lowercase();
                rules
                    .iter()
                    .find(|(needle, _)| lower.contains(&needle.to_lowercase()))
                    .map(|(_, reply)| reply.replace("{addr}", addr))
            }
            Behaviour::RejectRecipient { needle, code } => {
                if addr.to_lowercase().contains(&needle.to_lowercase()) {
                    Some(format!(
                        "{code:03} {}.1.1 <{addr}>: mailbox unknown",
                        code / 100
                    ))
                } else {
                    None
                }
            }
        }
    }

    fn should_drop_after_data(&self) -> bool {
        let mut state = self.lock();
        if let Behaviour::DropAfterData { times } = state.behaviour {
            if state.drops_done < times {
                state.drops_done += 1;
                return true;
            }
        }
        false
    }

    fn store(&self, mail: ReceivedMail) -> usize {
        let n = {
            let mut state = self.lock();
            state.messages.push(mail);
            state.arrivals.push(std::time::Instant::now());
            state.messages.len()
        };
        self.notify.notify_waiters();
        n
    }
}

fn bind(port: u16) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(1024)
}

fn spawn_server(listener: TcpListener, shared: Arc<Shared>) -> Running {
    let (shutdown, mut shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                // Fires on stop() and also when the SmtpSink is dropped.
                _ = &mut shutdown_rx => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        shared.connections.fetch_add(1, Ordering::SeqCst);
                        conns.spawn(handle_connection(stream, shared.clone()));
                    }
                    // e.g. too many open files: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(listener);
        conns.shutdown().await;
    });
    Running { shutdown, task }
}

async fn handle_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut conn = Conn {
        reader: BufReader::new(r),
        writer: BufWriter::new(w),
        shared,
        greeted: false,
        authenticated: false,
        tx: None,
    };
    // I/O errors just end the connection.
    let _ = conn.run().await;
}

enum Input {
    Line(Vec<u8>),
    TooLong,
    Eof,
}

struct Transaction {
    from: String,
    rcpts: Vec<String>,
}

struct Conn<R, W> {
    reader: BufReader<R>,
    writer: BufWriter<W>,
    shared: Arc<Shared>,
    greeted: bool,
    authenticated: bool,
    tx: Option<Transaction>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Conn<R, W> {
    async fn reply(&mut self, line: &str) -> io::Result<()> {
        self.writer.write_all(line.as_bytes()).await?;
        self.writer.write_all(b"\r\n").await
    }

    /// Reads one line (terminator stripped). Pending replies are flushed
    /// first if no more pipelined input is buffered. Lines longer than `max`
    /// are discarded up to their end and reported as `TooLong`.
    async fn read_line(&mut self, max: usize) -> io::Result<Input> {
        if self.reader.buffer().is_empty() {
            self.writer.flush().await?;
        }
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let (done, used) = {
                let buf = match tokio::time::timeout(IDLE_TIMEOUT, self.reader.fill_buf()).await {
                    Ok(r) => r?,
                    Err(_) => {
                        let _ = self
                            .reply("421 4.4.2 Idle timeout, closing connection")
                            .await;
                        let _ = self.writer.flush().await;
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                };
                if buf.is_empty() {
                    return Ok(Input::Eof);
                }
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        if !too_long {
                            line.extend_from_slice(&buf[..i]);
                        }
                        (true, i + 1)
                    }
                    None => {
                        if !too_long {
                            line.extend_from_slice(buf);
                        }
                        (false, buf.len())
                    }
                }
            };
            self.reader.consume(used);
            if !too_long && line.len() > max {
                too_long = true;
                line = Vec::new();
            }
            if done {
                if too_long {
                    return Ok(Input::TooLong);
                }
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Input::Line(line));
            }
        }
    }

    async fn run(&mut self) -> io::Result<()> {
        self.reply(&format!("220 {SERVER_NAME} ESMTP Clarion test sink ready"))
            .await?;
        loop {
            let raw = match self.read_line(MAX_COMMAND_LINE).await? {
                Input::Eof => return Ok(()),
                Input::TooLong => {
                    self.reply("500 5.5.2 Error: line too long").await?;
                    continue;
                }
                Input::Line(l) => l,
            };
            let line = String::from_utf8_lossy(&raw).into_owned();
            let (verb, arg) = split_verb(&line);
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" => {
                    if arg.is_empty() {
                        self.reply("501 5.5.4 Syntax: EHLO hostname").await?;
                        continue;
                    }
                    self.greeted = true;
                    self.tx = None;
                    self.reply(&format!("250-{SERVER_NAME} greets {arg}"))
                        .await?;
                    self.reply("250-PIPELINING").await?;
                    self.reply("250-8BITMIME").await?;
                    self.reply("250-SMTPUTF8").await?;
                    self.reply(&format!("250-SIZE {MAX_MESSAGE_SIZE}")).await?;
                    self.reply("250 AUTH PLAIN LOGIN").await?;
                }
                "HELO" => {
                    if arg.is_empty() {
                        self.reply("501 5.5.4 Syntax: HELO hostname").await?;
                        continue;
                    }
                    self.greeted = true;
                    self.tx = None;
                    self.reply(&format!("250 {SERVER_NAME}")).await?;
                }
                "MAIL" => self.mail(arg).await?,
                "RCPT" => self.rcpt(arg).await?,
                "DATA" => {
                    if !self.data().await? {
                        return Ok(());
                    }
                }
                "AUTH" => {
                    if !self.auth(arg).await? {
                        return Ok(());
                    }
                }
                "RSET" => {
                    self.tx = None;
                    self.reply("250 2.0.0 OK").await?;
                }
                "NOOP" => self.reply("250 2.0.0 OK").await?,
                "VRFY" => {
                    self.reply("252 2.5.0 Cannot VRFY user, but will accept message")
                        .await?
                }
                "HELP" => {
                    self.reply(
                        "214 2.0.0 Commands: EHLO HELO AUTH MAIL RCPT DATA RSET NOOP VRFY HELP QUIT",
                    )
                    .await?
                }
                "STARTTLS" => self.reply("502 5.5.1 STARTTLS not supported").await?,
                "QUIT" => {
                    self.reply("221 2.0.0 Bye").await?;
                    self.writer.flush().await?;
                    return Ok(());
                }
                _ => self.reply("500 5.5.2 Error: command not recognized").await?,
            }
        }
    }

    async fn mail(&mut self, arg: &str) -> io::Result<()> {
        self.shared.mail_commands.fetch_add(1, Ordering::SeqCst);
        let behind = self.reader.buffer().to_ascii_uppercase();
        if behind.starts_with(b"RCPT TO:") && behind.ends_with(b"\r\nDATA\r\n") {
            self.shared.pipelined.fetch_add(1, Ordering::SeqCst);
        }
        if !self.greeted {
            return self.reply("503 5.5.1 Error: send HELO/EHLO first").await;
        }
        if self.tx.is_some() {
            return self.reply("503 5.5.1 Error: nested MAIL command").await;
        }
        let Some((from, params)) = strip_prefix_ci(arg, "FROM:").and_then(parse_path) else {
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        for p in params.split_whitespace() {
            if let Some(size) = strip_prefix_ci(p, "SIZE=") {
                match size.parse::<u64>() {
                    Ok(s) if s > MAX_MESSAGE_SIZE as u64 => {
                        return self
                            .reply("552 5.3.4 Message size exceeds fixed maximum message size")
                            .await;
                    }
                    Ok(_) => {}
                    Err(_) => return self.reply("501 5.5.4 Bad SIZE parameter").await,
                }
            }
        }
        self.tx = Some(Transaction {
            from,
            rcpts: Vec::new(),
        });
        self.reply("250 2.1.0 Sender OK").await
    }

    async fn rcpt(&mut self, arg: &str) -> io::Result<()> {
        self.shared.attempts.fetch_add(1, Ordering::SeqCst);
        if self.tx.is_none() {
            return self.reply("503 5.5.1 Error: need MAIL command").await;
        }
        let addr = match strip_prefix_ci(arg, "TO:").and_then(parse_path) {
            Some((addr, _)) if !addr.is_empty() => addr,
            _ => return self.reply("501 5.1.3 Syntax: RCPT TO:<address>").await,
        };
        if let Some(refusal) = self.shared.rcpt_verdict(&addr) {
            return self.reply(&refusal).await;
        }
        if let Some(tx) = self.tx.as_mut() {
            tx.rcpts.push(addr);
        }
        self.reply("250 2.1.5 Recipient OK").await
    }

    /// Returns `false` when the connection must be closed.
    async fn data(&mut self) -> io::Result<bool> {
        match &self.tx {
            None => {
                self.reply("503 5.5.1 Error: need MAIL command").await?;
                return Ok(true);
            }
            Some(tx) if tx.rcpts.is_empty() => {
                self.reply("554 5.5.1 Error: no valid recipients").await?;
                return Ok(true);
            }
            Some(_) => {}
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let mut data: Vec<u8> = Vec::new();
        let mut oversize = false;
        loop {
            match self.read_line(MAX_DATA_LINE).await? {
                Input::Eof => return Ok(false),
                Input::TooLong => oversize = true,
                Input::Line(l) => {
                    if l == b"." {
                        break;
                    }
                    let content = l.strip_prefix(b".").unwrap_or(&l);
                    if data.len() + content.len() + 2 > MAX_MESSAGE_SIZE {
                        oversize = true;
                    }
                    if !oversize {
                        data.extend_from_slice(content);
                        data.extend_from_slice(b"\r\n");
                    }
                }
            }
        }
        let Some(tx) = self.tx.take() else {
            return Ok(true);
        };
        if oversize {
            self.reply("552 5.3.4 Error: message too big").await?;
            return Ok(true);
        }
        if self.shared.should_drop_after_data() {
            return Ok(false);
        }
        let n = self.shared.store(ReceivedMail {
            mail_from: tx.from,
            rcpt_to: tx.rcpts,
            data: String::from_utf8_lossy(&data).into_owned(),
        });
        self.reply(&format!("250 2.0.0 OK: queued as {n}")).await?;
        Ok(true)
    }

    /// Reads one line of an AUTH exchange. `Ok(None)`: connection closed.
    async fn auth_line(&mut self) -> io::Result<Option<Option<String>>> {
        Ok(match self.read_line(MAX_COMMAND_LINE).await? {
            Input::Eof => None,
            Input::TooLong => Some(None),
            Input::Line(l) => Some(Some(String::from_utf8_lossy(&l).trim().to_string())),
        })
    }

    /// Returns `false` when the connection must be closed.
    async fn auth(&mut self, arg: &str) -> io::Result<bool> {
        if !self.greeted {
            self.reply("503 5.5.1 Error: send HELO/EHLO first").await?;
            return Ok(true);
        }
        if self.authenticated {
            self.reply("503 5.5.1 Error: already authenticated").await?;
            return Ok(true);
        }
        let (mech, initial) = split_verb(arg);
        let initial = (!initial.is_empty()).then(|| initial.to_string());
        let username = match mech.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let resp = match initial {
                    Some(r) => r,
                    None => {
                        self.reply("334 ").await?;
                        match self.auth_line().await? {
                            None => return Ok(false),
                            Some(None) => {
                                self.reply("500 5.5.6 Error: authentication line too long")
                                    .await?;
                                return Ok(true);
                            }
                            Some(Some(r)) => r,
                        }
                    }
                };
                if resp == "*" {
                    self.reply("501 5.7.0 Authentication cancelled").await?;
                    return Ok(true);
                }
                // authzid NUL authcid NUL password
                let decoded = if resp == "=" {
                    Vec::new()
                } else {
                    decode_base64(&resp)
                };
                let mut fields = decoded.split(|&b| b == 0);
                let authzid = fields.next().unwrap_or_default();
                let authcid = fields.next().unwrap_or(authzid);
                String::from_utf8_lossy(authcid).into_owned()
            }
            "LOGIN" => {
                let user = match initial {
                    Some(u) => u,
                    None => {
                        self.reply("334 VXNlcm5hbWU6").await?;
                        match self.auth_line().await? {
                            None => return Ok(false),
                            Some(None) => {
                                self.reply("500 5.5.6 Error: authentication line too long")
                                    .await?;
                                return Ok(true);
                            }
                            Some(Some(u)) => u,
                        }
                    }
                };
                if user == "*" {
                    self.reply("501 5.7.0 Authentication cancelled").await?;
                    return Ok(true);
                }
                self.reply("334 UGFzc3dvcmQ6").await?;
                match self.auth_line().await? {
                    None => return Ok(false),
                    Some(None) => {
                        self.reply("500 5.5.6 Error: authentication line too long")
                            .await?;
                        return Ok(true);
                    }
                    Some(Some(p)) if p == "*" => {
                        self.reply("501 5.7.0 Authentication cancelled").await?;
                        return Ok(true);
                    }
                    Some(Some(_)) => {}
                }
                String::from_utf8_lossy(&decode_base64(&user)).into_owned()
            }
            _ => {
                self.reply("504 5.5.4 Unrecognized authentication type")
                    .await?;
                return Ok(true);
            }
        };
        self.authenticated = true;
        self.shared.lock().auth_usernames.push(username);
        self.reply("235 2.7.0 Authentication successful").await?;
        Ok(true)
    }
}

/// Splits `"VERB rest"` into the verb and the trimmed rest.
fn split_verb(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim_start()),
        None => (line, ""),
    }
}

/// Case-insensitive ASCII prefix strip; never panics on char boundaries.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Parses `<address> params` (brackets optional, source route dropped).
fn parse_path(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let (addr, rest) = if let Some(inner) = s.strip_prefix('<') {
        let end = inner.find('>')?;
        (&inner[..end], &inner[end + 1..])
    } else {
        match s.find([' ', '\t']) {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        }
    };
    // Obsolete source route: <@a,@b:user@host>
    let addr = match (addr.starts_with('@'), addr.find(':')) {
        (true, Some(i)) => &addr[i + 1..],
        _ => addr,
    };
    Some((addr.trim().to_string(), rest.trim()))
}

// ---------------------------------------------------------------------------
// Message parsing
// ---------------------------------------------------------------------------

/// Splits an entity at its first empty line into (header block, body).
fn split_head_body(s: &str) -> (&str, &str) {
    let mut pos = 0;
    while pos <= s.len() {
        let end = s[pos..].find('\n').map(|i| pos + i);
        let line = &s[pos..end.unwrap_or(s.len())];
        if line.is_empty() || line == "\r" {
            let body_start = end.map(|e| e + 1).unwrap_or(s.len());
            return (&s[..pos], &s[body_start..]);
        }
        match end {
            Some(e) => pos = e + 1,
            None => break,
        }
    }
    (s, "")
}

/// Parses a header block into (name, unfolded trimmed value) pairs.
fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                // Unfolding: drop the CRLF, keep the whitespace.
                value.push_str(line);
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.to_string()));
        }
    }
    for (_, v) in &mut out {
        *v = v.trim().to_string();
    }
    out
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `text/plain; charset="utf-8"` -> ("text/plain", [("charset", "utf-8")]).
/// Parameter names are lower-cased; values are unquoted.
fn parse_content_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => segments.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    segments.push(current);
    let mut iter = segments.into_iter();
    let mime = iter.next().unwrap_or_default().trim().to_ascii_lowercase();
    let params = iter
        .filter_map(|seg| {
            let (n, v) = seg.split_once('=')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    (mime, params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Splits a multipart body into its parts (preamble and epilogue dropped).
/// The CRLF before a delimiter line belongs to the delimiter.
fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delim = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    loop {
        let end = body[pos..].find('\n').map(|i| pos + i);
        let line = body[pos..end.unwrap_or(body.len())].trim_end();
        let is_close = line == close;
        if line == delim || is_close {
            if let Some(s) = start {
                let mut e = pos;
                if e > s && body.as_bytes()[e - 1] == b'\n' {
                    e -= 1;
                    if e > s && body.as_bytes()[e - 1] == b'\r' {
                        e -= 1;
                    }
                }
                parts.push(&body[s..e]);
            }
            if is_close {
                return parts;
            }
            start = Some(end.map(|e| e + 1).unwrap_or(body.len()));
        }
        match end {
            Some(e) => pos = e + 1,
            None => break,
        }
    }
    // No closing delimiter: take what we have.
    if let Some(s) = start {
        parts.push(&body[s..]);
    }
    parts
}

fn collect_parts(
    headers: &[(String, String)],
    body: &str,
    default_type: &str,
    depth: usize,
    out: &mut Vec<(String, String)>,
) {
    let (mime, params) = match find_header(headers, "content-type") {
        Some(v) => parse_content_type(v),
        None => (default_type.to_string(), Vec::new()),
    };
    if mime.starts_with("multipart/") && depth < 32 {
        if let Some(boundary) = param(&params, "boundary") {
            let child_default = if mime == "multipart/digest" {
                "message/rfc822"
            } else {
                "text/plain"
            };
            for part in split_multipart(body, boundary) {
                let (h, b) = split_head_body(part);
                collect_parts(&parse_headers(h), b, child_default, depth + 1, out);
            }
            return;
        }
    }
    let cte = find_header(headers, "content-transfer-encoding")
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let text = match cte.as_str() {
        "base64" => bytes_to_string(&decode_base64(body), param(&params, "charset")),
        "quoted-printable" => {
            bytes_to_string(&decode_quoted_printable(body), param(&params, "charset"))
        }
        _ => body.to_string(),
    };
    out.push((mime, text));
}

fn bytes_to_string(bytes: &[u8], charset: Option<&str>) -> String {
    let charset = charset.unwrap_or("utf-8").trim().to_ascii_lowercase();
    match charset.as_str() {
        "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1" | "windows-1252" | "cp1252" => {
            bytes.iter().map(|&b| b as char).collect()
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Lenient base64 (standard or URL-safe alphabet); ignores whitespace and
/// other junk, `=` ends a quantum.
fn decode_base64(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in s.as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                acc = 0;
                bits = 0;
                continue;
            }
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `=XX` escapes; with `underscore_space` (RFC 2047 Q), `_` is a space.
fn decode_qp_escapes(s: &[u8], underscore_space: bool, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'=' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex_val(s[i + 1]), hex_val(s[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if underscore_space && b == b'_' {
            b' '
        } else {
            b
        });
        i += 1;
    }
}

/// Quoted-printable (RFC 2045): soft line breaks removed, hard breaks kept
/// as CRLF, trailing whitespace of encoded lines dropped.
fn decode_quoted_printable(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut lines = s.split('\n').peekable();
    while let Some(raw) = lines.next() {
        let has_newline = lines.peek().is_some();
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = line.trim_end_matches([' ', '\t']);
        let (content, soft) = match line.strip_suffix('=') {
            Some(c) => (c, true),
            None => (line, false),
        };
        decode_qp_escapes(content.as_bytes(), false, &mut out);
        if has_newline && !soft {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Decodes RFC 2047 encoded words; whitespace between adjacent encoded
/// words is dropped. Malformed words are left as they are.
fn decode_rfc2047(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut last_was_word = false;
    while let Some(i) = rest.find("=?") {
        let (before, candidate) = rest.split_at(i);
        match parse_encoded_word(candidate) {
            Some((decoded, len)) => {
                if !(last_was_word && before.chars().all(char::is_whitespace)) {
                    out.push_str(before);
                }
                out.push_str(&decoded);
                rest = &candidate[len..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses `=?charset?enc?text?=` at the start of `s`; returns the decoded
/// text and the number of bytes consumed.
fn parse_encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let q1 = inner.find('?')?;
    let charset = &inner[..q1];
    let after_charset = &inner[q1 + 1..];
    let q2 = after_charset.find('?')?;
    let encoding = &after_charset[..q2];
    let after_enc = &after_charset[q2 + 1..];
    let end = after_enc.find("?=")?;
    let text = &after_enc[..end];
    if charset.is_empty() || charset.contains(char::is_whitespace) || text.contains(' ') {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => decode_base64(text),
        "Q" | "q" => {
            let mut out = Vec::with_capacity(text.len());
            decode_qp_escapes(text.as_bytes(), true, &mut out);
            out
        }
        _ => return None,
    };
    // RFC 2231 language suffix: utf-8*en
    let charset = charset.split('*').next().unwrap_or(charset);
    let consumed = 2 + q1 + 1 + q2 + 1 + end + 2;
    Some((bytes_to_string(&bytes, Some(charset)), consumed))
}

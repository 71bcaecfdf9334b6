//! Getting bytes to a mail server. Each sending task holds one SMTP connection
//! of its own (lettre's `AsyncSmtpConnection`) over a TCP socket with
//! TCP_NODELAY: lettre's stock pooled transport leaves Nagle's algorithm on,
//! and its small command writes then wait for delayed ACKs — measured here at
//! about 23 messages/s per connection, against thousands with NODELAY.
//! Without SMTP settings, messages become `.eml` files in the outbox folder.
//!
//! Where the server announces PIPELINING (RFC 2920), a message costs two
//! round trips instead of four: `MAIL`, `RCPT` and `DATA` go out in one
//! write and their replies are read together, then the dot-stuffed message
//! and its closing dot in one more. Any failure on the way ends the
//! connection, as lettre's own exchange does (a connection left in the
//! middle of `DATA` is closed without a dot, so nothing half-sent is
//! delivered).
//!
//! Every failure text this module hands on has its addresses masked
//! ([`mask_addresses`]), whatever the server put in its reply.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use super::compose::Outgoing;
use super::reply::ReplyClass;
use crate::config::MailTransportSettings;
use crate::domain::mask_addresses;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// smtps://: TLS from the first byte.
    Implicit,
    /// STARTTLS, refusing to go on without it.
    Required,
    /// STARTTLS when the server offers it.
    Opportunistic,
    None,
}

#[derive(Debug, Clone)]
pub struct SmtpTarget {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    timeout: Duration,
}

/// Where messages go.
#[derive(Debug, Clone)]
pub enum Mailer {
    Smtp(SmtpTarget),
    Outbox(PathBuf),
}

/// Why a send failed, as the queue needs to know it: whether it may work
/// later, the class of the reply (contract §8) and its masked text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: 4xx, a full mailbox, refused or broken
    /// connection, timeout. `class` is `Temporary`, `MailboxFull` or
    /// `Throttled`.
    #[error("temporary failure: {message}")]
    Temporary { message: String, class: ReplyClass },
    /// The server refused for good (5xx): `MailboxGone` (the address does
    /// not exist), `Policy` or `Rejected`.
    #[error("permanent failure: {message}")]
    Permanent { message: String, class: ReplyClass },
}

impl SendError {
    /// A temporary failure that is no reply of the server (a broken
    /// connection, a timeout, the outbox folder).
    pub fn temporary(message: impl Into<String>) -> SendError {
        SendError::Temporary {
            message: message.into(),
            class: ReplyClass::Temporary,
        }
    }

    pub fn class(&self) -> ReplyClass {
        match self {
            SendError::Temporary { class, .. } | SendError::Permanent { class, .. } => *class,
        }
    }
}

impl Mailer {
    pub fn from_settings(mail: &MailTransportSettings, timeout_secs: u64) -> Mailer {
        match mail {
            MailTransportSettings::Outbox(dir) => Mailer::Outbox(dir.clone()),
            MailTransportSettings::Smtp(url) => {
                let implicit = url.scheme() == "smtps";
                let tls = match url
                    .query_pairs()
                    .find(|(k, _)| k == "tls")
                    .map(|(_, v)| v.to_string())
                {
                    _ if implicit => Tls::Implicit,
                    Some(v) if v == "required" => Tls::Required,
                    Some(v) if v == "none" => Tls::None,
                    _ => Tls::Opportunistic,
                };
                let credentials = (!url.username().is_empty()).then(|| {
                    let decode = |s: &str| {
                        url::form_urlencoded::parse(format!("x={s}").as_bytes())
                            .next()
                            .map(|(_, v)| v.to_string())
                            .unwrap_or_default()
                    };
                    Credentials::new(decode(url.username()), decode(url.password().unwrap_or("")))
                });
                Mailer::Smtp(SmtpTarget {
                    host: url.host_str().unwrap_or("localhost").to_string(),
                    port: url.port().unwrap_or(if implicit { 465 } else { 25 }),
                    tls,
                    credentials,
                    timeout: Duration::from_secs(timeout_secs),
                })
            }
        }
    }

    /// A sending session: one connection, opened lazily and reopened after
    /// an error.
    pub fn session(&self) -> Session {
        Session {
            mailer: self.clone(),
            conn: None,
        }
    }
}

pub struct Session {
    mailer: Mailer,
    conn: Option<Connection>,
}

/// An open SMTP connection and whether its server takes pipelined commands.
struct Connection {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
}

/// The kind of failure, and its text with every address masked: servers
/// quote the refused address back (`550 5.1.1 <bob@example.org>: …`), and
/// this text is logged and kept as the delivery's `last_error`.
fn classify(e: lettre::transport::smtp::Error) -> SendError {
    let message = mask_addresses(&e.to_string()).into_owned();
    match e.status().map(u16::from) {
        Some(code) => of_reply(code, message),
        // No reply at all: a broken connection, a timeout, TLS.
        None => SendError::Temporary {
            message,
            class: ReplyClass::Temporary,
        },
    }
}

/// A server's negative reply as a failure: its class from the code and the
/// enhanced status in its (masked) text ([`ReplyClass::of_reply`]). The
/// basic code decides between now and later where the two disagree: a 4xx
/// is never a permanent refusal, and a 5xx is one unless the mailbox is
/// full (which the contract counts as temporary).
fn of_reply(code: u16, message: String) -> SendError {
    let class = ReplyClass::of_reply(code, &message);
    match (code / 100, class) {
        (5, ReplyClass::Temporary | ReplyClass::Throttled) => SendError::Permanent {
            message,
            class: ReplyClass::Rejected,
        },
        (5, c) if !c.is_temporary() => SendError::Permanent { message, class: c },
        (_, c) if c.is_temporary() => SendError::Temporary { message, class: c },
        _ => SendError::Temporary {
            message,
            class: ReplyClass::Temporary,
        },
    }
}

impl SmtpTarget {
    async fn connect(&self) -> Result<Connection, SendError> {
        let hello = ClientId::default();
        let tls_params = || {
            TlsParameters::new(self.host.clone())
                .map_err(|e| SendError::temporary(format!("TLS set-up: {e}")))
        };
        let mut conn = if self.tls == Tls::Implicit {
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &hello,
                Some(tls_params()?),
                None,
            )
            .await
            .map_err(classify)?
        } else {
            let tcp = tokio::time::timeout(
                self.timeout,
                tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
            )
            .await
            .map_err(|_| SendError::temporary("connect timed out"))?
            .map_err(|e| SendError::temporary(format!("connect: {e}")))?;
            tcp.set_nodelay(true)
                .map_err(|e| SendError::temporary(format!("socket: {e}")))?;
            let mut conn = tokio::time::timeout(
                self.timeout,
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello),
            )
            .await
            .map_err(|_| SendError::temporary("greeting timed out"))?
            .map_err(classify)?;
            match self.tls {
                Tls::Required | Tls::Opportunistic if conn.can_starttls() => {
                    conn.starttls(tls_params()?, &hello)
                        .await
                        .map_err(classify)?;
                }
                Tls::Required => {
                    return Err(SendError::temporary(
                        "the server does not offer STARTTLS, which tls=required demands",
                    ))
                }
                _ => {}
            }
            conn
        };
        // lettre keeps only the extensions it uses from its own EHLO, so
        // ask again (before AUTH, which some servers want last).
        let pipelining = announces_pipelining(&mut conn, &hello).await?;
        if let Some(c) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], c)
                .await
                .map_err(classify)?;
        }
        Ok(Connection {
            smtp: conn,
            pipelining,
        })
    }
}

/// Whether the server's EHLO reply lists PIPELINING (its first line is the
/// greeting, whose first word is the server's name).
async fn announces_pipelining(
    conn: &mut AsyncSmtpConnection,
    hello: &ClientId,
) -> Result<bool, SendError> {
    let reply = match conn.command(Ehlo::new(hello.clone())).await {
        Ok(reply) => reply,
        // A server that will not greet twice is sent to without pipelining.
        Err(e) if e.status().is_some() => return Ok(false),
        Err(e) => return Err(classify(e)),
    };
    let announced = reply.message().skip(1).any(|line| {
        line.split_ascii_whitespace()
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("PIPELINING"))
    });
    Ok(announced)
}

/// A message as `DATA` carries it (RFC 5321 §4.5.2): a dot that starts a
/// line doubled, then `CRLF . CRLF`, byte for byte what lettre's own
/// `message` writes (it too ends every message with that CRLF, and counts a
/// line as started only after CRLF).
struct DotStuffed<'a>(&'a str);

impl std::fmt::Display for DotStuffed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        if rest.starts_with('.') {
            f.write_str(".")?;
        }
        while let Some(at) = rest.find("\r\n.") {
            // Up to and including the CRLF, then the extra dot; the line's
            // own dot starts the rest.
            f.write_str(&rest[..at + 2])?;
            f.write_str(".")?;
            rest = &rest[at + 2..];
        }
        f.write_str(rest)?;
        f.write_str("\r\n.\r\n")
    }
}

/// What [`send_pipelined`] could not do itself.
enum Pipelined {
    /// The message was sent, or refused: the connection is good only after
    /// `Ok`.
    Done(Result<(), SendError>),
    /// It needs something this exchange does not do (an address that is not
    /// ASCII, or 8-bit text for a server without 8BITMIME): lettre's own
    /// exchange sends it, or says why not.
    NotHere,
}

/// One message in two round trips (RFC 2920). After any failure the
/// connection is no longer usable: the caller drops it.
async fn send_pipelined(conn: &mut AsyncSmtpConnection, out: &Outgoing) -> Pipelined {
    let mut params = Vec::new();
    if !out.bytes.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Pipelined::NotHere;
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let Ok(text) = std::str::from_utf8(&out.bytes) else {
        return Pipelined::NotHere;
    };
    let envelope = &out.envelope;
    let ascii = |a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii();
    if !envelope.from().is_none_or(ascii) || !envelope.to().iter().all(ascii) {
        return Pipelined::NotHere;
    }
    let mut head = Mail::new(envelope.from().cloned(), params).to_string();
    for to in envelope.to() {
        head += &Rcpt::new(to.clone(), vec![]).to_string();
    }
    head += "DATA\r\n";

    // The reply to MAIL, then one per RCPT, then DATA's. A refusal is kept
    // (the first one is the answer) while the rest are read; a reply that
    // does not come means the connection is gone.
    let mut refused = None;
    let mut data_open = false;
    let replies = 1 + envelope.to().len() + 1;
    for i in 0..replies {
        let reply = if i == 0 {
            // lettre's `command` writes what it is given in one write, then
            // reads one reply.
            conn.command(head.as_str()).await
        } else {
            conn.read_response().await
        };
        match reply {
            Ok(r) => data_open = i == replies - 1 && u16::from(r.code()) == 354,
            Err(e) if e.status().is_some() => {
                refused.get_or_insert_with(|| classify(e));
            }
            // The server's refusal says more than the connection it then
            // closed (`421 … closing connection` comes before the close).
            Err(e) => return Pipelined::Done(Err(refused.unwrap_or_else(|| classify(e)))),
        }
    }
    if let Some(err) = refused {
        // A server that opened DATA despite a refusal waits for a message:
        // the caller closes the connection, without the dot.
        if !data_open {
            conn.abort().await;
        }
        return Pipelined::Done(Err(err));
    }
    if !data_open {
        return Pipelined::Done(Err(SendError::temporary(
            "the server did not open DATA (no 354 reply)",
        )));
    }
    Pipelined::Done(
        conn.command(DotStuffed(text))
            .await
            .map(drop)
            .map_err(classify),
    )
}

impl Session {
    pub async fn send(&mut self, out: &Outgoing) -> Result<(), SendError> {
        match &self.mailer {
            Mailer::Outbox(dir) => write_eml(dir, out).await,
            Mailer::Smtp(target) => {
                if self.conn.as_ref().is_some_and(|c| c.smtp.has_broken()) {
                    self.conn = None;
                }
                if self.conn.is_none() {
                    self.conn = Some(target.connect().await?);
                }
                let conn = self.conn.as_mut().expect("connected above");
                let result = tokio::time::timeout(target.timeout, async {
                    if conn.pipelining {
                        if let Pipelined::Done(r) = send_pipelined(&mut conn.smtp, out).await {
                            return r;
                        }
                    }
                    // lettre ends the connection after any failure
                    // (`has_broken`).
                    conn.smtp
                        .send(&out.envelope, &out.bytes)
                        .await
                        .map(drop)
                        .map_err(classify)
                })
                .await;
                match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(err)) => {
                        // Whatever failed, the next message starts afresh.
                        self.conn = None;
                        Err(err)
                    }
                    Err(_) => {
                        self.conn = None;
                        Err(SendError::temporary("the SMTP server timed out"))
                    }
                }
            }
        }
    }

    /// Says goodbye politely (QUIT) if a connection is open.
    pub async fn close(&mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.smtp.quit()).await;
        }
    }
}

async fn write_eml(dir: &std::path::Path, out: &Outgoing) -> Result<(), SendError> {
    let io = |e: std::io::Error| SendError::temporary(format!("outbox {}: {e}", dir.display()));
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let stem: String = out
        .message_id
        .trim_matches(|c| c == '<' || c == '>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tmp = dir.join(format!(".{stem}.tmp"));
    let path = dir.join(format!(
        "{}-{stem}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f")
    ));
    tokio::fs::write(&tmp, &out.bytes).await.map_err(io)?;
    // Rename so a reader never sees half a message.
    tokio::fs::rename(&tmp, &path).await.map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that announces PIPELINING, answers MAIL with `reply` and
    /// closes the connection: what the session makes of it, and whether
    /// RCPT and DATA came with the MAIL. With `refuse_second_ehlo`, the EHLO
    /// that asks for the extensions again is refused.
    async fn send_to_a_server_that_answers(
        reply: &'static str,
        refuse_second_ehlo: bool,
    ) -> (Result<(), SendError>, bool) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 test ESMTP\r\n").await.unwrap();
            let mut ehlos = 0;
            while let Some(line) = lines.next_line().await.unwrap() {
                let line = line.to_ascii_uppercase();
                if line.starts_with("EHLO") {
                    ehlos += 1;
                    let answer: &[u8] = if refuse_second_ehlo && ehlos == 2 {
                        b"502 5.5.1 Once is enough\r\n"
                    } else {
                        b"250-test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                    };
                    write.write_all(answer).await.unwrap();
                } else if line.starts_with("MAIL FROM") {
                    let pipelined = lines.get_ref().buffer().starts_with(b"RCPT TO:");
                    write.write_all(reply.as_bytes()).await.unwrap();
                    return pipelined;
                }
            }
            false
        });
        let mailer = Mailer::from_settings(
            &MailTransportSettings::Smtp(
                url::Url::parse(&format!("smtp://127.0.0.1:{port}?tls=none")).unwrap(),
            ),
            5,
        );
        let out = Outgoing {
            message_id: "<m@example.org>".into(),
            envelope: lettre::address::Envelope::new(
                Some("alerts@example.org".parse().unwrap()),
                vec!["someone@example.net".parse().unwrap()],
            )
            .unwrap(),
            bytes: b"Subject: hi\r\n\r\nHello\r\n".to_vec(),
        };
        let result = mailer.session().send(&out).await;
        (result, server.await.unwrap())
    }

    #[tokio::test]
    async fn a_refusal_before_the_server_hangs_up_is_the_answer_not_the_hang_up() {
        let (sent, pipelined) =
            send_to_a_server_that_answers("421 4.7.0 Too fast, closing connection\r\n", false)
                .await;
        assert!(pipelined);
        let err = sent.unwrap_err();
        assert_eq!(err.class(), ReplyClass::Throttled, "{err}");
        let (sent, pipelined) =
            send_to_a_server_that_answers("550 5.7.1 Refused by policy\r\n", false).await;
        assert!(pipelined);
        let err = sent.unwrap_err();
        assert!(matches!(err, SendError::Permanent { .. }), "{err}");
        assert_eq!(err.class(), ReplyClass::Policy, "{err}");
    }

    #[tokio::test]
    async fn a_server_that_will_not_greet_twice_is_sent_to_one_command_at_a_time() {
        let (sent, pipelined) =
            send_to_a_server_that_answers("421 4.7.0 Too fast, closing connection\r\n", true).await;
        assert!(!pipelined, "MAIL came with RCPT");
        // The connection was made: the refusal is the server's reply.
        assert_eq!(sent.unwrap_err().class(), ReplyClass::Throttled);
    }

    #[test]
    fn a_message_is_dot_stuffed_as_lettre_does_it() {
        let cases = [
            ("", "\r\n.\r\n"),
            ("a\r\nb", "a\r\nb\r\n.\r\n"),
            (".a", "..a\r\n.\r\n"),
            ("a\r\n.b\r\n..c\r\n.", "a\r\n..b\r\n...c\r\n..\r\n.\r\n"),
            ("end\r\n", "end\r\n\r\n.\r\n"),
            // Only CRLF starts a line, as in lettre's codec.
            ("a\n.b\r.c", "a\n.b\r.c\r\n.\r\n"),
            ("\r\n\r\n.", "\r\n\r\n..\r\n.\r\n"),
        ];
        for (text, sent) in cases {
            assert_eq!(DotStuffed(text).to_string(), sent, "{text:?}");
        }
    }

    #[test]
    fn the_basic_code_decides_now_or_later_and_the_reply_its_class() {
        let cases: &[(u16, &str, bool, ReplyClass)] = &[
            (
                550,
                "5.1.1 u***@e***.org: unknown",
                true,
                ReplyClass::MailboxGone,
            ),
            (550, "mailbox unavailable", true, ReplyClass::MailboxGone),
            (550, "5.7.1 likely unsolicited", true, ReplyClass::Policy),
            (554, "transaction failed", true, ReplyClass::Rejected),
            (552, "5.2.2 over quota", false, ReplyClass::MailboxFull),
            (452, "4.2.2 over quota", false, ReplyClass::MailboxFull),
            (421, "4.7.28 unusual rate", false, ReplyClass::Throttled),
            (451, "4.3.0 local error", false, ReplyClass::Temporary),
            // Replies whose enhanced status contradicts their code.
            (450, "5.1.1 unknown", false, ReplyClass::Temporary),
            (550, "4.7.1 try later", true, ReplyClass::Rejected),
        ];
        for (code, text, permanent, class) in cases {
            let e = of_reply(*code, text.to_string());
            assert_eq!(
                matches!(e, SendError::Permanent { .. }),
                *permanent,
                "{code} {text}"
            );
            assert_eq!(e.class(), *class, "{code} {text}");
        }
    }
}

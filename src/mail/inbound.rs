//! Late reports as they arrive by mail (contract §8): bytes in, typed
//! reports out. A delivery status notification (RFC 3464,
//! `multipart/report; report-type=delivery-status`) says what became of a
//! message after the relay took it; a feedback report (RFC 5965, ARF) says
//! that someone marked it as spam. Each report carries the keys that name
//! its delivery: a VERP address (`bounces+ID-TAG@…`, see [`super::verp`])
//! and the original `Message-ID`.
//!
//! Pure, and total: any bytes at all read as a list of reports, a message
//! that is neither kind as [`ReportKind::Other`]; nothing here is an error
//! and nothing panics (a property test feeds it arbitrary bytes). The MIME
//! structure is read by `mail-parser`; only the report parts' own fields
//! (header-like blocks, RFC 3464 §2.1) are split here. What a report then
//! does to a delivery or a supporter is `campaign::reports`'.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use super::reply::{EnhancedStatus, ReplyClass};

/// One message read from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The message's bytes as they came (for an mbox, one message with its
    /// `>From ` quoting undone), kept if nothing matches it.
    pub raw: Vec<u8>,
    pub kind: ReportKind,
    pub keys: MatchKeys,
}

/// What a message reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportKind {
    /// A delivery status notification, with one entry per recipient block.
    DeliveryStatus(Vec<RecipientStatus>),
    /// A feedback report; `feedback_type` lower-cased (`abuse`, `fraud`, …).
    Feedback { feedback_type: String },
    /// Anything else: an auto-reply, a hand-written answer, garbage.
    Other,
}

/// One per-recipient block of a DSN's `message/delivery-status` part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipientStatus {
    /// `failed`, `delayed`, `delivered`, `relayed` or `expanded`, lower-cased.
    pub action: String,
    /// The `Status:` field's code, e.g. 5.1.1.
    pub status: Option<EnhancedStatus>,
    /// The address of `Final-Recipient: rfc822; …`.
    pub final_recipient: Option<String>,
    /// `Diagnostic-Code: smtp; 550 5.1.1 …`, without its type.
    pub diagnostic: Option<String>,
}

impl RecipientStatus {
    pub fn failed(&self) -> bool {
        self.action == "failed"
    }

    /// The class of this recipient's outcome: from the `Status:` field
    /// (with the diagnostic's basic code, if it has one), else from the
    /// diagnostic's SMTP reply alone.
    pub fn class(&self) -> Option<ReplyClass> {
        let reply = self.diagnostic.as_deref().and_then(smtp_reply);
        match (self.status, reply) {
            (Some(status), reply) => Some(ReplyClass::of_status(
                reply.map(|(code, _)| code).unwrap_or(0),
                status,
            )),
            (None, Some((code, text))) => Some(ReplyClass::of_reply(code, text)),
            (None, None) => None,
        }
    }

    /// What the receiver said, for the delivery's last error: the
    /// diagnostic, else the status code.
    pub fn reply_text(&self) -> String {
        match (&self.diagnostic, self.status) {
            (Some(d), _) => d.clone(),
            (None, Some(EnhancedStatus(c, s, d))) => format!("{c}.{s}.{d}"),
            (None, None) => format!("action {}", self.action),
        }
    }
}

/// What may name the delivery a report is about, best first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MatchKeys {
    /// Candidate VERP addresses (`bounces+…@…`), as written.
    pub verp: Vec<String>,
    /// The original message's `Message-ID`s, without angle brackets.
    pub message_ids: Vec<String>,
}

/// Reads `input`: an mbox (it starts with `From `) as its messages, else
/// one message. Empty input is one message that reports nothing.
pub fn read(input: &[u8]) -> Vec<Inbound> {
    if input.starts_with(b"From ") {
        let messages: Vec<Vec<u8>> =
            mail_parser::mailbox::mbox::MessageIterator::new(std::io::Cursor::new(input))
                .filter_map(Result::ok)
                .map(|m| m.unwrap_contents())
                .collect();
        if !messages.is_empty() {
            return messages.into_iter().map(read_message).collect();
        }
    }
    vec![read_message(input.to_vec())]
}

/// The `From` (its address, or its text) and `Subject` of a message, as
/// far as they can be read: for listing kept reports.
pub fn from_and_subject(raw: &[u8]) -> (Option<String>, Option<String>) {
    let Some(m) = MessageParser::default().parse_headers(raw) else {
        return (None, None);
    };
    let from = m.from().and_then(|a| a.first()).and_then(|a| {
        a.address()
            .map(str::to_string)
            .or(a.name().map(str::to_string))
    });
    (from, m.subject().map(str::to_string))
}

/// Reads one RFC 5322 message.
pub fn read_message(raw: Vec<u8>) -> Inbound {
    let (kind, keys) = match MessageParser::default().parse(&raw) {
        Some(message) => classify(&message),
        None => (ReportKind::Other, MatchKeys::default()),
    };
    Inbound { raw, kind, keys }
}

/// Headers of the report itself that may hold the address it was sent to.
const ENVELOPE_HEADERS: [&str; 4] = ["to", "delivered-to", "x-original-to", "envelope-to"];

fn classify(message: &Message<'_>) -> (ReportKind, MatchKeys) {
    let mut keys = MatchKeys::default();
    for (name, value) in message.headers_raw() {
        if ENVELOPE_HEADERS
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            verp_candidates(value, &mut keys.verp);
        }
    }
    let mut recipients: Option<Vec<RecipientStatus>> = None;
    let mut feedback: Option<String> = None;
    // The parts of this message only: a returned original is one part
    // (`PartType::Message`), its own parts are not walked.
    for part in message.parts.iter() {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let sub = ct.subtype().unwrap_or("");
        let is =
            |t: &str, s: &str| ct.ctype().eq_ignore_ascii_case(t) && sub.eq_ignore_ascii_case(s);
        if is("message", "delivery-status") || is("message", "global-delivery-status") {
            let found = delivery_status(&String::from_utf8_lossy(part.contents()));
            recipients.get_or_insert_with(Vec::new).extend(found);
        } else if is("message", "feedback-report") {
            let fields = field_blocks(&String::from_utf8_lossy(part.contents()));
            for (name, value) in fields.iter().flatten() {
                if name.eq_ignore_ascii_case("feedback-type") && feedback.is_none() {
                    feedback = Some(first_word(value).to_ascii_lowercase());
                }
                if name.eq_ignore_ascii_case("original-mail-from") {
                    verp_candidates(value, &mut keys.verp);
                }
            }
        } else if is("message", "rfc822") || is("message", "global") {
            match &part.body {
                PartType::Message(original) => original_keys(original, &mut keys),
                _ => headers_keys(part.contents(), &mut keys),
            }
        } else if is("text", "rfc822-headers") || is("message", "rfc822-headers") {
            headers_keys(part.contents(), &mut keys);
        }
    }
    let kind = match (recipients, feedback) {
        (Some(r), _) => ReportKind::DeliveryStatus(r),
        (None, Some(feedback_type)) => ReportKind::Feedback { feedback_type },
        (None, None) => ReportKind::Other,
    };
    keys.verp.dedup();
    keys.message_ids.dedup();
    (kind, keys)
}

/// The keys in a returned original's headers: its `Message-ID`, and any
/// VERP address (its `Return-Path`, mostly).
fn original_keys(original: &Message<'_>, keys: &mut MatchKeys) {
    if let Some(id) = original.message_id() {
        push_message_id(id, &mut keys.message_ids);
    }
    for (name, value) in original.headers_raw() {
        if name.eq_ignore_ascii_case("message-id") && original.message_id().is_none() {
            push_message_id(value, &mut keys.message_ids);
        }
        verp_candidates(value, &mut keys.verp);
    }
}

/// As [`original_keys`], for headers that came without a body
/// (`text/rfc822-headers`).
fn headers_keys(bytes: &[u8], keys: &mut MatchKeys) {
    if let Some(original) = MessageParser::default().parse_headers(bytes) {
        original_keys(&original, keys);
    }
}

fn push_message_id(raw: &str, out: &mut Vec<String>) {
    let id = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if !id.is_empty() && id.len() <= 998 && !out.iter().any(|x| x == id) {
        out.push(id.to_string());
    }
}

/// Words in `text` that look like a VERP return path: `bounces+…@…`.
fn verp_candidates(text: &str, out: &mut Vec<String>) {
    for word in text.split(|c: char| {
        c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"' | '(' | ')' | '[' | ']')
    }) {
        let looks = word.len() > 8
            && word.is_char_boundary(8)
            && word[..8].eq_ignore_ascii_case("bounces+")
            && word.contains('@');
        if looks && !out.iter().any(|x| x == word) {
            out.push(word.to_string());
        }
    }
}

/// The per-recipient blocks of a `message/delivery-status` body: every
/// block with an `Action` or a `Final-Recipient` (the per-message block,
/// `Reporting-MTA` and the like, has neither).
fn delivery_status(text: &str) -> Vec<RecipientStatus> {
    let mut out = Vec::new();
    for block in field_blocks(text) {
        let mut r = RecipientStatus::default();
        let mut is_recipient = false;
        for (name, value) in block {
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "action" => {
                    r.action = first_word(&value).to_ascii_lowercase();
                    is_recipient = true;
                }
                "final-recipient" => {
                    r.final_recipient = Some(typed_value(&value).to_string());
                    is_recipient = true;
                }
                "status" => r.status = EnhancedStatus::parse(first_word(&value)),
                "diagnostic-code" => r.diagnostic = Some(typed_value(&value).to_string()),
                _ => {}
            }
        }
        if is_recipient {
            out.push(r);
        }
    }
    out
}

/// `rfc822; bob@example.org` → `bob@example.org` (the address-type or
/// diagnostic-type before the `;` dropped).
fn typed_value(value: &str) -> &str {
    match value.split_once(';') {
        Some((_, rest)) => rest.trim(),
        None => value.trim(),
    }
}

fn first_word(value: &str) -> &str {
    value.split_whitespace().next().unwrap_or("")
}

/// A diagnostic's SMTP reply: `550 5.1.1 user unknown` → (550, the text).
/// `550-5.1.1 …` (a continuation line quoted as is) reads the same.
fn smtp_reply(diagnostic: &str) -> Option<(u16, &str)> {
    let d = diagnostic.trim();
    let code = d.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = d.get(3..)?;
    if !(rest.is_empty() || rest.starts_with([' ', '-'])) {
        return None;
    }
    let code: u16 = code.parse().ok()?;
    (200..600)
        .contains(&code)
        .then_some((code, rest.get(1..).unwrap_or("")))
}

/// Header-like fields in blocks separated by blank lines (RFC 3464 §2.1,
/// RFC 5965 §3.1), continuation lines unfolded. A line that is no field
/// is skipped.
fn field_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut block: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !block.is_empty() {
                blocks.push(std::mem::take(&mut block));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = block.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if !name.is_empty() && !name.contains(char::is_whitespace) {
                block.push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    if !block.is_empty() {
        blocks.push(block);
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After RFC 3464 appendix B, as Postfix writes it: headers only of the
    /// original returned.
    pub(crate) const DSN: &str = "Return-Path: <>\r\n\
Received: by mx.example.net (Postfix) id 1A2B3C\r\n\
Date: Tue, 1 Dec 2026 10:00:00 +0000 (UTC)\r\n\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
To: bounces+42-0123456789ab@bounce.example.org\r\n\
Auto-Submitted: auto-replied\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status;\r\n\
\tboundary=\"B1\"\r\n\
Message-Id: <20261201100000.1A2B3C@mx.example.net>\r\n\
\r\n\
This is a MIME-encapsulated message.\r\n\
\r\n\
--B1\r\n\
Content-Description: Notification\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
I'm sorry to have to inform you that your message could not\r\n\
be delivered to one or more recipients.\r\n\
\r\n\
--B1\r\n\
Content-Description: Delivery report\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.example.net\r\n\
X-Postfix-Queue-ID: 1A2B3C\r\n\
Arrival-Date: Tue, 1 Dec 2026 09:59:59 +0000 (UTC)\r\n\
\r\n\
Final-Recipient: rfc822; gone@example.com\r\n\
Original-Recipient: rfc822;gone@example.com\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
Remote-MTA: dns; mail.example.com\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.com>: Recipient address\r\n\
\x20   rejected: User unknown in local recipient table\r\n\
\r\n\
--B1\r\n\
Content-Description: Undelivered Message Headers\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
Return-Path: <bounces+42-0123456789ab@bounce.example.org>\r\n\
From: Campaign <alerts@example.org>\r\n\
To: Gone Person <gone@example.com>\r\n\
Subject: Act now\r\n\
Message-ID: <2b0c7a2e-aaaa-bbbb-cccc-000000000001@example.org>\r\n\
\r\n\
--B1--\r\n";

    /// After RFC 5965 appendix B.
    pub(crate) const ARF: &str = "From: <abusedesk@example.com>\r\n\
Date: Thu, 8 Mar 2005 17:40:36 EDT\r\n\
Subject: FW: Earn money\r\n\
To: <abuse@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report;\r\n\
\x20    boundary=\"part1_13d.2e68ed54_boundary\"\r\n\
\r\n\
--part1_13d.2e68ed54_boundary\r\n\
Content-Type: text/plain; charset=\"US-ASCII\"\r\n\
Content-Transfer-Encoding: 7bit\r\n\
\r\n\
This is an email abuse report for an email message received from IP\r\n\
192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.\r\n\
\r\n\
--part1_13d.2e68ed54_boundary\r\n\
Content-Type: message/feedback-report\r\n\
\r\n\
Feedback-Type: abuse\r\n\
User-Agent: SomeGenerator/1.0\r\n\
Version: 1\r\n\
Original-Mail-From: <bounces+7-abcdefabcdef@bounce.example.org>\r\n\
Original-Rcpt-To: <user@example.com>\r\n\
Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT\r\n\
Source-IP: 192.0.2.1\r\n\
\r\n\
--part1_13d.2e68ed54_boundary\r\n\
Content-Type: message/rfc822\r\n\
Content-Disposition: inline\r\n\
\r\n\
From: <alerts@example.org>\r\n\
Received: from mailserver.example.org (mailserver.example.org [192.0.2.1])\r\n\
\tby example.com with ESMTP id M63d4137594e46;\r\n\
\tThu, 08 Mar 2005 14:00:00 -0400\r\n\
To: <user@example.com>\r\n\
Subject: Earn money\r\n\
MIME-Version: 1.0\r\n\
Content-type: text/plain\r\n\
Message-ID: <8787KJKJ3K4J3K4J3K4J3.mail@example.org>\r\n\
Date: Thu, 02 Sep 2004 12:31:03 -0500\r\n\
\r\n\
Spam Spam Spam\r\n\
--part1_13d.2e68ed54_boundary--\r\n";

    #[test]
    fn a_dsn_names_its_recipient_status_and_the_keys_of_the_original() {
        let r = read(DSN.as_bytes());
        assert_eq!(r.len(), 1);
        let ReportKind::DeliveryStatus(recipients) = &r[0].kind else {
            panic!("{:?}", r[0].kind)
        };
        assert_eq!(recipients.len(), 1);
        let rs = &recipients[0];
        assert!(rs.failed());
        assert_eq!(rs.status, Some(EnhancedStatus(5, 1, 1)));
        assert_eq!(rs.final_recipient.as_deref(), Some("gone@example.com"));
        assert!(
            rs.diagnostic
                .as_deref()
                .unwrap()
                .starts_with("550 5.1.1 <gone@example.com>: Recipient address rejected"),
            "{:?}",
            rs.diagnostic
        );
        assert_eq!(rs.class(), Some(ReplyClass::MailboxGone));
        assert_eq!(
            r[0].keys.verp,
            ["bounces+42-0123456789ab@bounce.example.org"]
        );
        assert_eq!(
            r[0].keys.message_ids,
            ["2b0c7a2e-aaaa-bbbb-cccc-000000000001@example.org"]
        );
    }

    #[test]
    fn a_policy_refusal_and_several_recipient_blocks_are_read() {
        let dsn = DSN
            .replace("Status: 5.1.1", "Status: 5.7.1")
            .replace(
                "550 5.1.1 <gone@example.com>: Recipient address",
                "550 5.7.1 Our system has detected that this message is",
            )
            .replace(
                "Final-Recipient: rfc822; gone@example.com\r\n",
                "Final-Recipient: rfc822; other@example.com\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\n",
            );
        let r = read(dsn.as_bytes());
        let ReportKind::DeliveryStatus(recipients) = &r[0].kind else {
            panic!("{:?}", r[0].kind)
        };
        assert_eq!(recipients.len(), 2);
        assert_eq!(recipients[0].action, "delayed");
        assert_eq!(recipients[0].class(), Some(ReplyClass::Temporary));
        assert!(recipients[1].failed());
        assert_eq!(recipients[1].class(), Some(ReplyClass::Policy));
    }

    #[test]
    fn a_feedback_report_is_a_complaint_with_the_original_keys() {
        let r = read(ARF.as_bytes());
        assert_eq!(
            r[0].kind,
            ReportKind::Feedback {
                feedback_type: "abuse".into()
            }
        );
        assert_eq!(
            r[0].keys.verp,
            ["bounces+7-abcdefabcdef@bounce.example.org"]
        );
        assert_eq!(
            r[0].keys.message_ids,
            ["8787KJKJ3K4J3K4J3K4J3.mail@example.org"]
        );
    }

    #[test]
    fn an_mbox_is_split_into_its_messages_with_from_quoting_undone() {
        let plain = "From: someone@example.net\r\nSubject: Out of office\r\n\r\nI am away.\r\n>From here on\r\n";
        let mbox = format!(
            "From MAILER-DAEMON Tue Dec  1 10:00:00 2026\n{}\nFrom someone@example.net Tue Dec  1 10:00:01 2026\n{}\n",
            DSN.replace("\r\n", "\n"),
            plain.replace("\r\n", "\n"),
        );
        let r = read(mbox.as_bytes());
        assert_eq!(r.len(), 2);
        assert!(matches!(r[0].kind, ReportKind::DeliveryStatus(_)));
        assert_eq!(r[1].kind, ReportKind::Other);
        let text = String::from_utf8_lossy(&r[1].raw);
        assert!(text.contains("\nFrom here on"), "{text}");
    }

    #[test]
    fn auto_replies_garbage_and_nothing_report_nothing() {
        for input in [
            &b""[..],
            b"\0\xff\xfe garbage",
            b"From: a@example.net\r\nSubject: Re: Act now\r\nIn-Reply-To: <x@example.org>\r\n\r\nThanks!",
            b"From \n",
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n",
        ] {
            let r = read(input);
            assert!(!r.is_empty());
            for m in r {
                match m.kind {
                    ReportKind::Other => {}
                    ReportKind::DeliveryStatus(ref v) if v.is_empty() => {}
                    ref k => panic!("{input:?} → {k:?}"),
                }
            }
        }
    }

    #[test]
    fn a_diagnostic_alone_gives_a_class() {
        let r = RecipientStatus {
            action: "failed".into(),
            diagnostic: Some("550 no such user here".into()),
            ..Default::default()
        };
        assert_eq!(r.class(), Some(ReplyClass::MailboxGone));
        assert_eq!(smtp_reply("5"), None);
        assert_eq!(smtp_reply("550"), Some((550, "")));
        assert_eq!(smtp_reply("550-5.7.1 x"), Some((550, "5.7.1 x")));
        assert_eq!(smtp_reply("5€0 x"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_read_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
            let _ = read(&bytes);
        }

        #[test]
        fn any_mangled_report_reads_without_panicking(cut in 0usize..3000, junk in ".{0,40}", at in 0usize..3000) {
            for base in [DSN, ARF] {
                let mut b = base.as_bytes().to_vec();
                b.truncate(cut.min(b.len()));
                let at = at.min(b.len());
                b.splice(at..at, junk.bytes());
                let _ = read(&b);
                let mut mbox = b"From x\n".to_vec();
                mbox.extend_from_slice(&b);
                let _ = read(&mbox);
            }
        }
    }
}

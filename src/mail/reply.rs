//! What a receiving server's reply means for the queue (contract §8): the
//! class of an SMTP reply, from its basic code (RFC 5321) and its enhanced
//! status (RFC 3463), whether it came during the SMTP conversation or later
//! in a delivery status notification.
//!
//! Pure: it reads texts and says what they mean. What the worker, the
//! supporter or the alert then do with a class is decided elsewhere.

/// The class of a reply, as stored on the delivery (`reply_class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// The address itself is refused (5.1.x, 5.2.1, or a bare 550/551/553):
    /// the supporter becomes `bounced`.
    MailboxGone,
    /// A policy or authentication refusal (5.7.x): this delivery fails, the
    /// supporter stays `active`; a run of them pauses the domain.
    Policy,
    /// The mailbox is full (5.2.2, 4.2.2): tried again later.
    MailboxFull,
    /// The receiver asks us to slow down (421/451/452 with 4.7.x): the
    /// domain's deliveries wait, with a doubling delay.
    Throttled,
    /// Any other temporary failure (4xx, a broken connection, a timeout).
    Temporary,
    /// Any other permanent refusal: this delivery fails, the supporter
    /// stays `active`.
    Rejected,
    /// A feedback report (a spam complaint) about a delivered message.
    Complaint,
}

impl ReplyClass {
    pub const ALL: [ReplyClass; 7] = [
        ReplyClass::MailboxGone,
        ReplyClass::Policy,
        ReplyClass::MailboxFull,
        ReplyClass::Throttled,
        ReplyClass::Temporary,
        ReplyClass::Rejected,
        ReplyClass::Complaint,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReplyClass::MailboxGone => "mailbox_gone",
            ReplyClass::Policy => "policy",
            ReplyClass::MailboxFull => "mailbox_full",
            ReplyClass::Throttled => "throttled",
            ReplyClass::Temporary => "temporary",
            ReplyClass::Rejected => "rejected",
            ReplyClass::Complaint => "complaint",
        }
    }

    pub fn parse(s: &str) -> Option<ReplyClass> {
        ReplyClass::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the message may still get through later.
    pub fn is_temporary(self) -> bool {
        matches!(
            self,
            ReplyClass::MailboxFull | ReplyClass::Throttled | ReplyClass::Temporary
        )
    }

    /// The class of an SMTP reply: its basic code and its text, in which
    /// the first enhanced status code (`5.1.1`), if any, is looked for.
    pub fn of_reply(code: u16, text: &str) -> ReplyClass {
        let enhanced = enhanced_status(text);
        match enhanced {
            Some(status) => ReplyClass::of_status(code, status),
            None => match code {
                550 | 551 | 553 => ReplyClass::MailboxGone,
                500..=599 => ReplyClass::Rejected,
                _ => ReplyClass::Temporary,
            },
        }
    }

    /// The class of an enhanced status (`class.subject.detail`), with the
    /// basic code it came with (0 when there is none, as in a DSN's
    /// `Status:` field).
    pub fn of_status(code: u16, status: EnhancedStatus) -> ReplyClass {
        let EnhancedStatus(class, subject, detail) = status;
        match (class, subject, detail) {
            (_, 2, 2) => ReplyClass::MailboxFull,
            (5, 1, _) | (5, 2, 1) => ReplyClass::MailboxGone,
            (5, 7, _) => ReplyClass::Policy,
            (4, 7, _) if matches!(code, 421 | 451 | 452 | 0) => ReplyClass::Throttled,
            (5, _, _) => ReplyClass::Rejected,
            _ => ReplyClass::Temporary,
        }
    }
}

impl std::fmt::Display for ReplyClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An enhanced mail system status code (RFC 3463): class (2, 4 or 5),
/// subject and detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedStatus(pub u8, pub u16, pub u16);

impl EnhancedStatus {
    /// `5.1.1` exactly (surrounding white space allowed).
    pub fn parse(s: &str) -> Option<EnhancedStatus> {
        let mut parts = s.trim().split('.');
        let class: u8 = parts.next()?.parse().ok()?;
        let subject = parts.next()?;
        let detail = parts.next()?;
        if parts.next().is_some()
            || !matches!(class, 2 | 4 | 5)
            || !(1..=3).contains(&subject.len())
            || !(1..=3).contains(&detail.len())
        {
            return None;
        }
        Some(EnhancedStatus(
            class,
            subject.parse().ok()?,
            detail.parse().ok()?,
        ))
    }
}

/// The first enhanced status code in a reply text: a word `c.s.d` with c
/// 2, 4 or 5, standing apart from the words around it (so `192.0.2.1` in
/// the same text is not taken for one).
pub fn enhanced_status(text: &str) -> Option<EnhancedStatus> {
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | ',' | ';' | '<' | '>' | '"')
    })
    .map(|w| w.trim_end_matches([':', '.']))
    .find_map(EnhancedStatus::parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplyClass::*;

    #[test]
    fn replies_fall_into_the_classes_of_the_contract() {
        let cases: &[(u16, &str, ReplyClass)] = &[
            (550, "5.1.1 <bob@example.org>: Recipient address rejected: User unknown", MailboxGone),
            (550, "5.1.10 RESOLVER.ADR.RecipientNotFound", MailboxGone),
            (550, "5.1.2 no such domain", MailboxGone),
            (551, "5.1.6 moved", MailboxGone),
            (550, "5.2.1 The email account that you tried to reach is disabled", MailboxGone),
            (550, "mailbox unavailable", MailboxGone),
            (551, "user not local", MailboxGone),
            (553, "mailbox name not allowed", MailboxGone),
            (550, "5.7.1 [192.0.2.1] Our system has detected that this message is likely unsolicited mail", Policy),
            (550, "5.7.26 This mail has been blocked because the sender is unauthenticated", Policy),
            (550, "5.7.515 Access denied, sending domain does not meet the required authentication level", Policy),
            (554, "5.7.1 Service unavailable; client host blocked", Policy),
            (552, "5.2.2 The email account that you tried to reach is over quota", MailboxFull),
            (452, "4.2.2 The email account that you tried to reach is over quota", MailboxFull),
            (421, "4.7.28 Our system has detected an unusual rate of unsolicited mail", Throttled),
            (451, "4.7.650 The mail server has been temporarily rate limited", Throttled),
            (452, "4.7.0 too many", Throttled),
            (450, "4.7.1 greylisted, try again", Temporary),
            (421, "service not available, closing channel", Temporary),
            (451, "4.3.0 local error", Temporary),
            (554, "transaction failed", Rejected),
            (552, "5.3.4 message too big", Rejected),
        ];
        for (code, text, want) in cases {
            assert_eq!(ReplyClass::of_reply(*code, text), *want, "{code} {text}");
        }
    }

    #[test]
    fn a_dsn_status_field_is_classed_without_a_basic_code() {
        let of = |s: &str| ReplyClass::of_status(0, EnhancedStatus::parse(s).unwrap());
        assert_eq!(of("5.1.1"), MailboxGone);
        assert_eq!(of("5.7.1"), Policy);
        assert_eq!(of("4.2.2"), MailboxFull);
        assert_eq!(of("4.4.7"), Temporary);
        assert_eq!(of(" 5.0.0 "), Rejected);
        for bad in [
            "",
            "5.1",
            "6.1.1",
            "5.1.1.1",
            "5.x.1",
            "5.1234.1",
            "192.0.2.1",
        ] {
            assert_eq!(EnhancedStatus::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_class_reads_back_from_its_word() {
        for c in ReplyClass::ALL {
            assert_eq!(ReplyClass::parse(c.as_str()), Some(c));
        }
        assert_eq!(ReplyClass::parse("bounced"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_reply_text_gets_a_class_without_panicking(code in 200u16..600, text in ".{0,200}") {
            let _ = ReplyClass::of_reply(code, &text);
        }
    }
}

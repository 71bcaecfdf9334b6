//! Turns a message into MIME: the parts every kind shares. Headers are built
//! only from validated values through lettre's typed builders (which encode
//! display names and subjects), so nothing a person typed can add a header or
//! a recipient. The one exception is the `To` header of an ASCII name, which
//! is written here as an RFC 5322 quoted string (`"Smith, Jr." <…>`, see
//! [`To`]) from printable ASCII alone; the envelope is always built from the
//! address, never parsed back out of a header.
//!
//! What each kind of mail says (its templates and their context) lives in
//! [`super::kinds`]; this module knows no kind.

use lettre::address::Envelope;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use serde::Serialize;
use std::sync::Arc;

use crate::db::deliveries::RecipientRow;
use crate::domain::{AlertId, DeliveryId, SupporterId};
use crate::i18n::Locale;
use crate::security::Keys;
use crate::templates::Templates;

pub use super::kinds::alert::AlertContent;

/// Who a message goes to. Names come from validated supporter records.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub supporter_id: Option<SupporterId>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// A name an alert's frame is checked with (see `kinds::alert::Frame`).
pub(super) const DEFAULT_GREETING_NAME: &str = "friend";

/// A supporter as the worker loaded them: their name and address as stored
/// (a missing name or address as empty).
impl From<&RecipientRow> for Recipient {
    fn from(row: &RecipientRow) -> Recipient {
        Recipient {
            supporter_id: Some(row.id.clone()),
            email: row.email.clone().unwrap_or_default(),
            first_name: row.first_name.clone().unwrap_or_default(),
            last_name: row.last_name.clone().unwrap_or_default(),
        }
    }
}

/// A message ready for the transport.
pub struct Outgoing {
    pub message_id: String,
    pub envelope: lettre::address::Envelope,
    pub bytes: Vec<u8>,
}

/// The three rendered parts, as the preview route shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("the recipient address is not deliverable: {0}")]
    BadAddress(String),
    #[error("the return path at bounce domain {0} is not an address")]
    BadReturnPath(String),
    #[error("rendering failed: {0:#}")]
    Render(#[from] anyhow::Error),
    #[error("building the message failed: {0}")]
    Build(#[from] lettre::error::Error),
}

#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        // RFC 8058 §3.1: exactly this value.
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}

/// `Feedback-ID: ALERT_ID:KIND:clarion` (contract §8): the campaign, the
/// kind of mail and the sender, as the feedback loops of Gmail and others
/// group complaints. Its value is an alert id and fixed words, nothing a
/// person typed.
#[derive(Clone)]
pub(super) struct FeedbackId(String);

impl FeedbackId {
    /// The sender field: the same for every Clarion message.
    const SENDER: &'static str = "clarion";

    pub(super) fn new(alert: &AlertId, kind: &str) -> FeedbackId {
        FeedbackId(format!("{}:{kind}:{}", alert.as_str(), Self::SENDER))
    }
}

impl Header for FeedbackId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Feedback-ID")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(FeedbackId(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The headers that tie a message to a mailing, when it belongs to one.
#[derive(Default)]
pub(super) struct MailingHeaders {
    /// The one-click link: adds the RFC 8058 pair.
    pub unsubscribe_url: Option<String>,
    pub feedback_id: Option<FeedbackId>,
}

/// The `To` header of one recipient whose display name is ASCII (or who
/// has none), written by hand. lettre would write a name with a comma, a
/// quote or a full stop as an RFC 2047 encoded word; contract §7 wants
/// `To: "Smith, Jr." <…>`, the quoted string of RFC 5322 §3.2.4, which every
/// reader shows as written and which stays one mailbox.
#[derive(Clone)]
struct To {
    /// As lettre would show it (its `raw_value`, which nothing sends).
    raw: String,
    /// The header value as sent: printable ASCII, folded.
    encoded: String,
}

impl To {
    /// `First Last <addr>` when the name is atoms only, `"Smith, Jr."
    /// <addr>` (with `"` and `\` escaped) when it needs quotes, the bare
    /// address without a name; `None` when the name is not printable ASCII.
    fn ascii(name: &str, address: &Address) -> Option<To> {
        if !name.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return None;
        }
        let raw = Mailbox::new(
            (!name.is_empty()).then(|| name.to_string()),
            address.clone(),
        )
        .to_string();
        if name.is_empty() {
            return Some(To {
                raw,
                encoded: address.to_string(),
            });
        }
        let phrase = if is_atom_phrase(name) {
            name.to_string()
        } else {
            let mut q = String::with_capacity(name.len() + 2);
            q.push('"');
            for c in name.chars() {
                if c == '"' || c == '\\' {
                    q.push('\\');
                }
                q.push(c);
            }
            q.push('"');
            q
        };
        // Fold before the address when the line would pass the 78
        // characters RFC 5322 §2.1.1 asks for ("To: " included); a name is
        // at most 201 characters, so the first line stays far below 998.
        let address = address.to_string();
        let sep = if "To: ".len() + phrase.len() + address.len() + 3 > 78 {
            "\r\n "
        } else {
            " "
        };
        Some(To {
            raw,
            encoded: format!("{phrase}{sep}<{address}>"),
        })
    }
}

/// A display name that may go unquoted: words of RFC 5322 `atext`
/// separated by single spaces, and no `=?` that a reader could take for the
/// start of an encoded word.
fn is_atom_phrase(name: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    !name.contains("=?")
        && name.split(' ').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
        })
}

impl Header for To {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("To")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(To {
            raw: s.to_string(),
            encoded: s.to_string(),
        })
    }
    fn display(&self) -> HeaderValue {
        // Pre-encoded: `encoded` is printable ASCII (checked in `ascii`)
        // folded only at the one place chosen there, so no header can be
        // added through it.
        HeaderValue::dangerous_new_pre_encoded(Self::name(), self.raw.clone(), self.encoded.clone())
    }
}

/// A recipient's display name: first and last name, header-safe, with
/// every run of whitespace one space.
fn display_name(first: &str, last: &str) -> String {
    header_safe(&format!("{first} {last}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Drops anything that is not a printable character: a last line of defence
/// for header values, which are validated at the edge already.
pub(super) fn header_safe(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// The headers a DKIM signature covers (`h=`), contract §8: RFC 8058 asks
/// that it cover the unsubscribe pair, and `Feedback-ID` is signed so that
/// a feedback loop can trust it. A header a message lacks (a confirmation
/// has no `List-Unsubscribe`) is still named: RFC 6376 §5.4 counts it as
/// empty, so nobody can add one later without breaking the signature.
/// Only headers of the message itself: the `Content-Type` of its
/// multipart body is written by the body, which lettre's signer does not
/// see as a header.
pub const DKIM_SIGNED_HEADERS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
];

/// Builds lettre's DKIM configuration: an RSA key in PKCS#1 PEM, or an
/// Ed25519 secret key in base64, signing [`DKIM_SIGNED_HEADERS`] with
/// relaxed/relaxed canonicalisation. (lettre's default is simple header
/// canonicalisation, under which it hashes its own DKIM-Signature header
/// unfolded but writes it folded, so no verifier accepts the signature;
/// relaxed canonicalisation unfolds before hashing, on both sides.)
pub fn dkim_config(d: &crate::config::DkimSettings) -> Result<DkimConfig, String> {
    use secrecy::ExposeSecret;
    let key = d.key.expose_secret();
    let algorithm = if key.contains("BEGIN RSA PRIVATE KEY") {
        DkimSigningAlgorithm::Rsa
    } else {
        DkimSigningAlgorithm::Ed25519
    };
    let key = DkimSigningKey::new(key, algorithm)
        .map_err(|e| format!("not a PKCS#1 RSA or base64 Ed25519 key: {e}"))?;
    Ok(DkimConfig::new(
        d.selector.clone(),
        d.domain.clone(),
        key,
        DKIM_SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

#[derive(Clone)]
pub struct Composer {
    dkim: Option<Arc<DkimConfig>>,
    /// `CLARION_BOUNCE_DOMAIN`: each delivery's envelope sender is its VERP
    /// address there ([`super::verp`]); without it, the From address.
    bounce_domain: Option<String>,
    templates: Templates,
    keys: Keys,
    base_url: String,
    from: Mailbox,
    message_id_domain: String,
    /// The language of mail to supporters who have none, and of an alert
    /// that names none.
    default_locale: Locale,
}

/// Where a kind's templates are: a folder with `subject.txt`, `body.html`
/// and `body.txt`. The names are spelled out once, as constants, so
/// rendering a message formats no template name.
pub struct TemplateFolder {
    pub subject: &'static str,
    pub html: &'static str,
    pub text: &'static str,
}

/// The [`TemplateFolder`] at `email/<name>`.
macro_rules! template_folder {
    ($name:literal) => {
        $crate::mail::compose::TemplateFolder {
            subject: concat!("email/", $name, "/subject.txt"),
            html: concat!("email/", $name, "/body.html"),
            text: concat!("email/", $name, "/body.txt"),
        }
    };
}
pub(crate) use template_folder;

impl Composer {
    pub fn new(templates: Templates, keys: Keys, base_url: &str, from: Mailbox) -> Composer {
        let message_id_domain = from.email.domain().to_string();
        Composer {
            dkim: None,
            bounce_domain: None,
            templates,
            keys,
            base_url: base_url.trim_end_matches('/').to_string(),
            from,
            message_id_domain,
            default_locale: Locale::EN,
        }
    }

    /// Writes to supporters without a language, and alerts that name none,
    /// in `locale`.
    pub fn with_default_locale(mut self, locale: Locale) -> Composer {
        self.default_locale = locale;
        self
    }

    pub(super) fn default_locale(&self) -> Locale {
        self.default_locale
    }

    /// Signs every message with this DKIM key.
    pub fn with_dkim(mut self, dkim: DkimConfig) -> Composer {
        self.dkim = Some(Arc::new(dkim));
        self
    }

    /// Sends each delivery with its VERP return path at `domain`.
    pub fn with_bounce_domain(mut self, domain: Option<String>) -> Composer {
        self.bounce_domain = domain;
        self
    }

    /// The envelope sender (`MAIL FROM`) of `delivery`: its VERP address
    /// with a bounce domain, else the From address.
    fn envelope_sender(&self, delivery: DeliveryId) -> Result<Address, ComposeError> {
        match &self.bounce_domain {
            None => Ok(self.from.email.clone()),
            Some(domain) => super::verp::return_path(&self.keys, delivery, domain)
                .parse()
                .map_err(|_| ComposeError::BadReturnPath(domain.clone())),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The process keys, for the links a kind signs.
    pub(super) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(super) fn org_name(&self) -> &str {
        self.from.name.as_deref().unwrap_or("Clarion")
    }

    /// The signed one-click unsubscribe link of a supporter.
    pub fn unsubscribe_url(&self, supporter_id: &SupporterId) -> String {
        format!(
            "{}/unsubscribe/{}",
            self.base_url,
            self.keys.sign("unsubscribe", supporter_id.as_str())
        )
    }

    /// `<DELIVERY.RANDOM@domain>`: unique, and naming its delivery, so a
    /// late report that quotes it finds the row by its key (the number is
    /// no secret: the VERP return path shows it too; the random part is
    /// what a report must match).
    pub fn new_message_id(&self, delivery: DeliveryId) -> String {
        format!(
            "<{}.{}@{}>",
            delivery.0,
            uuid::Uuid::new_v4().simple(),
            self.message_id_domain
        )
    }

    /// A kind's three templates rendered with `ctx`; the subject trimmed and
    /// made header-safe.
    pub(super) fn render(
        &self,
        folder: &TemplateFolder,
        ctx: &impl Serialize,
    ) -> Result<Rendered, ComposeError> {
        Ok(Rendered {
            subject: header_safe(self.templates.render(folder.subject, ctx)?.trim()),
            html: self.templates.render(folder.html, ctx)?,
            text: self.templates.render(folder.text, ctx)?,
        })
    }

    pub(super) fn test_unsubscribe_url(&self) -> String {
        format!("{}/unsubscribe/test-send", self.base_url)
    }

    /// The message of `delivery` to `r`, with the headers of the mailing
    /// it belongs to.
    pub(super) fn build(
        &self,
        delivery: DeliveryId,
        r: &Recipient,
        subject: String,
        [text, html]: [Body; 2],
        mailing: MailingHeaders,
    ) -> Result<Outgoing, ComposeError> {
        let address: Address = r
            .email
            .parse()
            .map_err(|_| ComposeError::BadAddress(crate::mail::mask(&r.email)))?;
        let name = display_name(&r.first_name, &r.last_name);
        // The envelope names the address alone, whatever the To header
        // says: RCPT TO is never derived from a name.
        let envelope = Envelope::new(Some(self.envelope_sender(delivery)?), vec![address.clone()])?;
        let message_id = self.new_message_id(delivery);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .envelope(envelope)
            .subject(subject)
            .message_id(Some(message_id.clone()));
        builder = match To::ascii(&name, &address) {
            Some(to) => builder.header(to),
            // Not ASCII: lettre's encoded words (RFC 2047), one mailbox.
            None => builder.to(Mailbox::new(Some(name), address)),
        };
        let MailingHeaders {
            unsubscribe_url,
            feedback_id,
        } = mailing;
        if let Some(url) = unsubscribe_url {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        if let Some(id) = feedback_id {
            builder = builder.header(id);
        }
        let mut message = builder.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )?;
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        Ok(Outgoing {
            message_id,
            envelope: message.envelope().clone(),
            bytes: message.formatted(),
        })
    }
}

/// CRLF line ends, whatever the template files used.
pub(super) fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    for line in text.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(l) => {
                out.push_str(l.strip_suffix('\r').unwrap_or(l));
                out.push_str("\r\n");
            }
            None => out.push_str(line),
        }
    }
    out
}

/// A rendered body as a MIME body: 7bit when it is plain ASCII in short
/// lines, quoted-printable otherwise. (lettre's own `Body::new` does the
/// same but inserts each CR with a copy of the rest of the text.)
pub(super) fn text_body(text: &str) -> Body {
    let text = crlf(text);
    let seven_bit = text.is_ascii()
        && !text.bytes().any(|b| b == 0)
        && text.split("\r\n").all(|l| l.len() <= 76);
    if seven_bit {
        Body::dangerous_pre_encoded(text.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::dangerous_pre_encoded(
            quoted_printable::encode(text),
            ContentTransferEncoding::QuotedPrintable,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &Body) -> String {
        let bytes = match body.encoding() {
            ContentTransferEncoding::QuotedPrintable => {
                quoted_printable::decode(body.as_ref(), quoted_printable::ParseMode::Strict)
                    .expect("valid quoted-printable")
            }
            ContentTransferEncoding::SevenBit => body.as_ref().to_vec(),
            other => panic!("unexpected encoding {other:?}"),
        };
        String::from_utf8(bytes).unwrap()
    }

    fn to(name: &str) -> Option<String> {
        let address: Address = "ann@example.org".parse().unwrap();
        To::ascii(name, &address).map(|t| t.encoded)
    }

    /// The header value read back by lettre's own parser: the mailboxes and
    /// their names.
    fn parsed(value: &str) -> Vec<(Option<String>, String)> {
        let unfolded = value.replace("\r\n", "");
        let boxes: lettre::message::Mailboxes = unfolded.parse().expect("parses");
        boxes
            .into_iter()
            .map(|m| (m.name, m.email.to_string()))
            .collect()
    }

    #[test]
    fn to_header_quotes_a_name_only_when_it_must() {
        assert_eq!(to("Ann Lee").unwrap(), "Ann Lee <ann@example.org>");
        assert_eq!(to("Ann O'Neil").unwrap(), "Ann O'Neil <ann@example.org>");
        assert_eq!(to("").unwrap(), "ann@example.org");
        assert_eq!(
            to("John Smith, Jr.").unwrap(),
            "\"John Smith, Jr.\" <ann@example.org>"
        );
        assert_eq!(
            to("Ann \"Annie\" O'Neil").unwrap(),
            r#""Ann \"Annie\" O'Neil" <ann@example.org>"#
        );
        assert_eq!(
            to(r"back\slash").unwrap(),
            r#""back\\slash" <ann@example.org>"#
        );
        assert_eq!(
            to("=?utf-8?q?x?=").unwrap(),
            "\"=?utf-8?q?x?=\" <ann@example.org>"
        );
        assert_eq!(to("Müller"), None, "non-ASCII names are lettre's to encode");
    }

    #[test]
    fn a_quoted_to_header_is_one_mailbox_with_the_name_as_written() {
        for name in [
            "John Smith, Jr.",
            "Ann \"Annie\" O'Neil",
            "Louis 14",
            "A (B) <C> D; E: F @ G",
            r#"tricky\" <x@evil.example>, "y"#,
        ] {
            assert_eq!(
                parsed(&to(name).unwrap()),
                vec![(Some(name.to_string()), "ann@example.org".to_string())],
                "{name}"
            );
        }
    }

    #[test]
    fn a_long_name_is_folded_before_the_address() {
        let name = format!("{}, {}", "A".repeat(60), "B".repeat(60));
        let value = to(&name).unwrap();
        let (first, second) = value.split_once("\r\n ").expect("folded");
        assert!(first.starts_with('"') && first.ends_with('"'));
        assert_eq!(second, "<ann@example.org>");
        assert_eq!(
            parsed(&value),
            vec![(Some(name.clone()), "ann@example.org".to_string())]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any printable ASCII name makes a To header of exactly one mailbox,
        /// this name and this address, with no line break but a fold.
        #[test]
        fn any_ascii_name_stays_one_mailbox(raw in "[ -~]{0,100}") {
            let name = display_name(&raw, "");
            let value = to(&name).unwrap();
            proptest::prop_assert!(value.bytes().all(|b| (b' '..=b'~').contains(&b) || b == b'\r' || b == b'\n'));
            proptest::prop_assert!(value.matches("\r\n").count() <= 1);
            proptest::prop_assert!(!value.contains('\r') || value.contains("\r\n "));
            let expected_name = (!name.is_empty()).then(|| name.clone());
            proptest::prop_assert_eq!(parsed(&value), vec![(expected_name, "ann@example.org".to_string())]);
        }
    }

    fn composer() -> Composer {
        Composer::new(
            Templates::load(None).unwrap(),
            Keys::new("0123456789abcdef0123456789abcdef"),
            "https://clarion.example.org",
            "Clarion <alerts@clarion.example.org>".parse().unwrap(),
        )
    }

    fn longest(r: &str) -> Recipient {
        Recipient {
            supporter_id: Some(SupporterId::new()),
            email: "ann@example.org".into(),
            first_name: r.repeat(100),
            last_name: r.repeat(100),
        }
    }

    /// The signature names the headers of contract §8, relaxed, even for
    /// the longest subject and name a supporter can have (lettre
    /// canonicalises headers recursively, a frame a character).
    #[test]
    fn a_signed_message_covers_the_unsubscribe_headers_even_at_full_length() {
        use base64::Engine;
        let dkim = dkim_config(&crate::config::DkimSettings {
            domain: "act.example.org".into(),
            selector: "s1".into(),
            key: base64::engine::general_purpose::STANDARD
                .encode([7u8; 32])
                .into(),
        })
        .unwrap();
        let c = composer().with_dkim(dkim);
        let body = || text_body("Hello\n");
        let out = c
            .build(
                DeliveryId(1),
                &longest("Ж"),
                "Суд ".repeat(50),
                [body(), body()],
                MailingHeaders {
                    unsubscribe_url: Some(c.unsubscribe_url(&SupporterId::new())),
                    feedback_id: Some(FeedbackId::new(&AlertId::new(), "alert")),
                },
            )
            .unwrap();
        let text = String::from_utf8(out.bytes).unwrap();
        let sig = text
            .split("\r\n")
            .skip_while(|l| !l.starts_with("DKIM-Signature:"))
            .take_while(|l| !l.contains(": ") || l.starts_with("DKIM-Signature:"))
            .collect::<String>();
        assert!(sig.contains("c=relaxed/relaxed"), "{sig}");
        let h = sig.split("h=").nth(1).unwrap().split(';').next().unwrap();
        let h: Vec<String> = h.split(':').map(|n| n.trim().to_string()).collect();
        let want: Vec<String> = DKIM_SIGNED_HEADERS
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        assert_eq!(h, want);
    }

    #[test]
    fn the_envelope_sender_is_the_verp_address_with_a_bounce_domain_else_from() {
        let body = || text_body("Hello\n");
        let send = |c: &Composer| {
            c.build(
                DeliveryId(42),
                &longest("a"),
                "Hi".into(),
                [body(), body()],
                MailingHeaders::default(),
            )
            .unwrap()
            .envelope
        };
        let plain = send(&composer());
        assert_eq!(
            plain.from().map(|a| a.to_string()).as_deref(),
            Some("alerts@clarion.example.org")
        );
        let c = composer().with_bounce_domain(Some("bounces.example.org".into()));
        let verp = send(&c);
        let sender = verp.from().unwrap().to_string();
        assert_eq!(
            sender,
            crate::mail::verp::return_path(c.keys(), DeliveryId(42), "bounces.example.org")
        );
        assert_eq!(
            crate::mail::verp::delivery_of(c.keys(), &sender),
            Some(DeliveryId(42))
        );
        assert_eq!(verp.to(), plain.to(), "the recipient stays the address");
    }

    #[test]
    fn plain_ascii_in_short_lines_goes_as_7bit_and_the_rest_as_quoted_printable() {
        let b = text_body("Hello\nworld\r\n");
        assert_eq!(b.encoding(), ContentTransferEncoding::SevenBit);
        assert_eq!(b.as_ref(), b"Hello\r\nworld\r\n");
        let b = text_body("Привет\n");
        assert_eq!(b.encoding(), ContentTransferEncoding::QuotedPrintable);
        assert_eq!(decode(&b), "Привет\r\n");
        let b = text_body(&"x".repeat(200));
        assert_eq!(b.encoding(), ContentTransferEncoding::QuotedPrintable);
    }
}

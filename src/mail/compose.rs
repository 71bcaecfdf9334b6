//! Turns a queued delivery into a MIME message: templates rendered per
//! recipient, headers built only from validated values through lettre's typed
//! builders (which encode display names and subjects), so nothing a person
//! typed can add a header or a recipient.

use lettre::message::dkim::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use serde::Serialize;
use std::sync::{Arc, OnceLock};

use crate::i18n::Locale;
use crate::security::Keys;
use crate::templates::Templates;

/// An alert's content, rendered once per alert and shared by every delivery.
#[derive(Debug, Clone, Serialize)]
pub struct AlertContent {
    pub alert_id: String,
    pub subject: String,
    pub body_html: String,
    pub body_text: String,
    pub case_title: String,
    pub case_summary: String,
    pub petition_url: Option<String>,
    /// The alert's message bodies with the per-recipient parts left as
    /// holes, built on first use and shared by every delivery of the alert.
    #[serde(skip)]
    pub frame: Arc<OnceLock<Option<Frame>>>,
}

/// Where a recipient's own values go in a pre-rendered alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    FirstName,
    Unsubscribe,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Rendered text, already quoted-printable encoded with CRLF line ends.
    Fixed(Vec<u8>),
    Hole(Hole),
}

/// An alert rendered once for all its recipients.
///
/// Rendering the templates and quoted-printable encoding some 10 KB per
/// recipient was most of the cost of a send. The templates are rendered once
/// with random markers for the recipient's first name and unsubscribe link;
/// the text between them is encoded once; each message then joins the
/// encoded pieces with the recipient's encoded values by quoted-printable
/// soft line breaks (`=` CRLF, which decoding removes), so the decoded bodies
/// are byte for byte what a full rendering gives. The first name is
/// HTML-escaped in the HTML part, as the template would escape it.
///
/// Templates whose output depends on those values other than by inserting
/// them (a helper that changes them, a subject with the name in it) have no
/// frame, and their messages are rendered in full.
#[derive(Debug)]
pub struct Frame {
    subject: String,
    text: Vec<Piece>,
    html: Vec<Piece>,
}

impl Frame {
    /// The text and HTML bodies for one recipient.
    fn fill(&self, first_name: &str, unsubscribe_url: &str) -> [Body; 2] {
        [(&self.text, false), (&self.html, true)].map(|(pieces, html)| {
            let mut out = Vec::with_capacity(
                pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Fixed(b) => b.len() + 3,
                        Piece::Hole(_) => 128,
                    })
                    .sum(),
            );
            for piece in pieces {
                match piece {
                    Piece::Fixed(b) => join_encoded(&mut out, b),
                    Piece::Hole(hole) => {
                        let value = match hole {
                            Hole::FirstName => first_name,
                            Hole::Unsubscribe => unsubscribe_url,
                        };
                        let encoded = if html {
                            quoted_printable::encode(handlebars::html_escape(value))
                        } else {
                            quoted_printable::encode(value)
                        };
                        join_encoded(&mut out, &encoded);
                    }
                }
            }
            Body::dangerous_pre_encoded(out, ContentTransferEncoding::QuotedPrintable)
        })
    }
}

/// Who a message goes to. Names come from validated supporter records.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub supporter_id: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// How an alert greets someone whose first name we do not have.
const DEFAULT_GREETING_NAME: &str = "friend";

impl Recipient {
    /// The name an alert greets this person by.
    fn greeting_name(&self) -> &str {
        if self.first_name.is_empty() {
            DEFAULT_GREETING_NAME
        } else {
            &self.first_name
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

/// Drops anything that is not a printable character: a last line of defence
/// for header values, which are validated at the edge already.
fn header_safe(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Builds lettre's DKIM configuration: an RSA key in PKCS#1 PEM, or an
/// Ed25519 secret key in base64.
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
    Ok(DkimConfig::default_config(
        d.selector.clone(),
        d.domain.clone(),
        key,
    ))
}

#[derive(Clone)]
pub struct Composer {
    dkim: Option<Arc<DkimConfig>>,
    templates: Templates,
    keys: Keys,
    base_url: String,
    from: Mailbox,
    message_id_domain: String,
}

#[derive(Serialize)]
struct AlertCtx<'a> {
    lang: &'a str,
    title: &'a str,
    banner: &'a str,
    footer: String,
    org_name: &'a str,
    first_name: &'a str,
    subject: &'a str,
    body_html: &'a str,
    body_text: &'a str,
    case_title: &'a str,
    case_summary: &'a str,
    petition_url: &'a Option<String>,
    unsubscribe_url: String,
}

#[derive(Serialize)]
struct ConfirmCtx<'a> {
    lang: &'a str,
    title: &'a str,
    banner: &'a str,
    footer: String,
    subject: String,
    greeting: String,
    thanks: String,
    counts_once: &'a str,
    button: &'a str,
    or_open: &'a str,
    ignore: &'a str,
    confirm_url: String,
    unsubscribe_url: Option<String>,
}

impl Composer {
    pub fn new(templates: Templates, keys: Keys, base_url: &str, from: Mailbox) -> Composer {
        let message_id_domain = from.email.domain().to_string();
        Composer {
            dkim: None,
            templates,
            keys,
            base_url: base_url.trim_end_matches('/').to_string(),
            from,
            message_id_domain,
        }
    }

    /// Signs every message with this DKIM key.
    pub fn with_dkim(mut self, dkim: DkimConfig) -> Composer {
        self.dkim = Some(Arc::new(dkim));
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn org_name(&self) -> &str {
        self.from.name.as_deref().unwrap_or("Clarion")
    }

    /// The signed one-click unsubscribe link of a supporter.
    pub fn unsubscribe_url(&self, supporter_id: &str) -> String {
        format!(
            "{}/unsubscribe/{}",
            self.base_url,
            self.keys.sign("unsubscribe", supporter_id)
        )
    }

    pub fn new_message_id(&self) -> String {
        format!("<{}@{}>", uuid::Uuid::new_v4(), self.message_id_domain)
    }

    /// Subject, HTML and text of an alert for one recipient.
    pub fn render_alert(
        &self,
        content: &AlertContent,
        r: &Recipient,
        test: bool,
    ) -> Result<Rendered, ComposeError> {
        let unsubscribe_url = match &r.supporter_id {
            Some(id) => self.unsubscribe_url(id),
            None => self.test_unsubscribe_url(),
        };
        let first_name = r.greeting_name();
        let mut rendered = self.render_with(content, first_name, unsubscribe_url)?;
        if test {
            rendered.subject = format!("[TEST] {}", rendered.subject);
        }
        Ok(rendered)
    }

    fn render_with(
        &self,
        content: &AlertContent,
        first_name: &str,
        unsubscribe_url: String,
    ) -> Result<Rendered, ComposeError> {
        let ctx = AlertCtx {
            lang: "en",
            title: &content.subject,
            banner: "Urgent action",
            footer: format!(
                "You receive this because you support {}'s urgent actions.",
                self.org_name()
            ),
            org_name: self.org_name(),
            first_name,
            subject: &content.subject,
            body_html: &content.body_html,
            body_text: &content.body_text,
            case_title: &content.case_title,
            case_summary: &content.case_summary,
            petition_url: &content.petition_url,
            unsubscribe_url,
        };
        let subject = header_safe(
            self.templates
                .render("email/alert/subject.txt", &ctx)?
                .trim(),
        );
        Ok(Rendered {
            subject,
            html: self.templates.render("email/alert/body.html", &ctx)?,
            text: self.templates.render("email/alert/body.txt", &ctx)?,
        })
    }

    pub fn alert(
        &self,
        content: &AlertContent,
        r: &Recipient,
        test: bool,
    ) -> Result<Outgoing, ComposeError> {
        let unsubscribe = r.supporter_id.as_deref().map(|id| self.unsubscribe_url(id));
        let (subject, text, html) = self.alert_parts(content, r, test, unsubscribe.as_deref())?;
        self.build(r, subject, text, html, unsubscribe)
    }

    /// Subject and encoded text and HTML bodies of an alert for one
    /// recipient: from the alert's frame when it has one.
    fn alert_parts(
        &self,
        content: &AlertContent,
        r: &Recipient,
        test: bool,
        unsubscribe: Option<&str>,
    ) -> Result<(String, Body, Body), ComposeError> {
        let frame = content.frame.get_or_init(|| match self.frame(content) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(alert.id = %content.alert_id, error = %e, "alert frame not built; rendering each message in full");
                None
            }
        });
        let Some(frame) = frame else {
            let rendered = self.render_alert(content, r, test)?;
            return Ok((
                rendered.subject,
                text_body(&rendered.text),
                text_body(&rendered.html),
            ));
        };
        let first_name = r.greeting_name();
        let unsubscribe_url = match unsubscribe {
            Some(url) => url.to_string(),
            None => self.test_unsubscribe_url(),
        };
        let subject = if test {
            format!("[TEST] {}", frame.subject)
        } else {
            frame.subject.clone()
        };
        let [text, html] = frame.fill(first_name, &unsubscribe_url);
        Ok((subject, text, html))
    }

    fn test_unsubscribe_url(&self) -> String {
        format!("{}/unsubscribe/test-send", self.base_url)
    }

    /// Renders an alert with markers in place of the recipient's values and
    /// cuts it into encoded pieces and holes; `None` when the templates use
    /// those values in any other way than inserting them.
    fn frame(&self, content: &AlertContent) -> Result<Option<Frame>, ComposeError> {
        let render =
            |nonce: &str| -> Result<(String, String, String, String, String), ComposeError> {
                let first = format!("clarionfirstname{nonce}");
                let unsub = format!("clarionunsubscribe{nonce}");
                let r = self.render_with(content, &first, unsub.clone())?;
                Ok((r.subject, r.text, r.html, first, unsub))
            };
        let nonce = || uuid::Uuid::new_v4().simple().to_string();
        let (subject, text, html, first, unsub) = render(&nonce())?;
        let (subject2, text2, html2, first2, unsub2) = render(&nonce())?;
        if subject.contains(&first) || subject.contains(&unsub) || subject != subject2 {
            return Ok(None);
        }
        let text_pieces = cut(&text, &first, &unsub);
        let html_pieces = cut(&html, &first, &unsub);
        // The same pieces with other markers: the output depends on the
        // values only where they are inserted.
        if text_pieces != cut(&text2, &first2, &unsub2)
            || html_pieces != cut(&html2, &first2, &unsub2)
        {
            return Ok(None);
        }
        let frame = Frame {
            subject,
            text: text_pieces,
            html: html_pieces,
        };
        // And the same output as a rendering with the values most likely
        // to be looked at: the default name and the test link.
        let unsub = self.test_unsubscribe_url();
        let probe = self.render_with(content, DEFAULT_GREETING_NAME, unsub.clone())?;
        let [text, html] = frame.fill(DEFAULT_GREETING_NAME, &unsub);
        let decode = |b: &Body| {
            quoted_printable::decode(b.as_ref(), quoted_printable::ParseMode::Robust)
                .unwrap_or_default()
        };
        if probe.subject != frame.subject
            || decode(&text) != crlf(&probe.text).as_bytes()
            || decode(&html) != crlf(&probe.html).as_bytes()
        {
            return Ok(None);
        }
        Ok(Some(frame))
    }

    /// The confirmation mail of a pending signature, in the language the
    /// person signed in.
    pub fn confirmation(
        &self,
        petition_title: &str,
        token: &str,
        r: &Recipient,
        locale: Locale,
    ) -> Result<Outgoing, ComposeError> {
        let name = if r.first_name.is_empty() {
            locale.get("mail_confirm_friend")
        } else {
            &r.first_name
        };
        let ctx = ConfirmCtx {
            lang: locale.code(),
            title: petition_title,
            banner: locale.get("mail_confirm_banner"),
            footer: locale.format("mail_confirm_footer", &[("org", self.org_name())]),
            subject: locale.format("mail_confirm_subject", &[("title", petition_title)]),
            greeting: locale.format("mail_confirm_greeting", &[("name", name)]),
            thanks: locale.format("mail_confirm_thanks", &[("title", petition_title)]),
            counts_once: locale.get("mail_confirm_counts_once"),
            button: locale.get("mail_confirm_button"),
            or_open: locale.get("mail_confirm_or_open"),
            ignore: locale.get("mail_confirm_ignore"),
            confirm_url: format!("{}/confirm/{}", self.base_url, token),
            unsubscribe_url: None,
        };
        let rendered = Rendered {
            subject: header_safe(
                self.templates
                    .render("email/confirmation/subject.txt", &ctx)?
                    .trim(),
            ),
            html: self
                .templates
                .render("email/confirmation/body.html", &ctx)?,
            text: self.templates.render("email/confirmation/body.txt", &ctx)?,
        };
        self.build(
            r,
            rendered.subject,
            text_body(&rendered.text),
            text_body(&rendered.html),
            None,
        )
    }

    fn build(
        &self,
        r: &Recipient,
        subject: String,
        text: Body,
        html: Body,
        unsubscribe_url: Option<String>,
    ) -> Result<Outgoing, ComposeError> {
        let address: Address = r
            .email
            .parse()
            .map_err(|_| ComposeError::BadAddress(crate::mail::mask(&r.email)))?;
        let name = header_safe(&format!("{} {}", r.first_name, r.last_name));
        let to = Mailbox::new((!name.is_empty()).then_some(name), address);
        let message_id = self.new_message_id();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.clone()));
        if let Some(url) = unsubscribe_url {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
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
fn crlf(text: &str) -> String {
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
fn text_body(text: &str) -> Body {
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

/// Cuts a rendering at the markers into encoded text and holes.
fn cut(rendered: &str, first: &str, unsub: &str) -> Vec<Piece> {
    let rendered = crlf(rendered);
    let mut pieces = Vec::new();
    let mut rest = rendered.as_str();
    loop {
        let next = [(first, Hole::FirstName), (unsub, Hole::Unsubscribe)]
            .into_iter()
            .filter_map(|(marker, hole)| rest.find(marker).map(|at| (at, marker.len(), hole)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, len, hole)) = next else {
            break;
        };
        if at > 0 {
            pieces.push(Piece::Fixed(quoted_printable::encode(&rest[..at])));
        }
        pieces.push(Piece::Hole(hole));
        rest = &rest[at + len..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Fixed(quoted_printable::encode(rest)));
    }
    pieces
}

/// Appends one encoded piece, joined to what is there by a soft line break
/// unless that ended a line.
fn join_encoded(out: &mut Vec<u8>, piece: &[u8]) {
    if piece.is_empty() {
        return;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"=\r\n");
    }
    out.extend_from_slice(piece);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn composer(templates: Templates) -> Composer {
        Composer::new(
            templates,
            Keys::new("0123456789abcdef0123456789abcdef"),
            "https://clarion.example.org",
            "Clarion <alerts@clarion.example.org>".parse().unwrap(),
        )
    }

    fn content() -> AlertContent {
        let long = "Азимжан Аскаров = ".repeat(40);
        AlertContent {
            alert_id: "a1".into(),
            subject: "Court date: write today".into(),
            body_html: format!("<p>{long}</p>\n<p>Trailing spaces   \n\tand a tab\n</p>"),
            body_text: format!("{long}\nTrailing spaces   \n\tand a tab\n=3D stays literal\n"),
            case_title: "Azimjan Askarov".into(),
            case_summary: "Serving a life sentence; «review» on 12 October.".into(),
            petition_url: Some("https://clarion.example.org/petitions/free-askarov".into()),
            frame: Default::default(),
        }
    }

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

    fn recipients() -> Vec<Recipient> {
        let names = [
            "",
            "Zhanna",
            "Азимжан",
            "<script>alert('x')</script> & \"=\"",
            "Trailing ",
            &"Ünïcødé".repeat(30),
        ];
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Recipient {
                supporter_id: (i % 2 == 0).then(|| format!("s{i}")),
                email: format!("p{i}@example.org"),
                first_name: n.to_string(),
                last_name: "Doe".into(),
            })
            .collect()
    }

    /// What each recipient reads is what a full rendering gives, whether
    /// the frame or the full rendering made it.
    fn assert_same_as_full_rendering(c: &Composer, content: &AlertContent) {
        for r in recipients() {
            for test in [false, true] {
                let unsub = r.supporter_id.as_deref().map(|id| c.unsubscribe_url(id));
                let (subject, text, html) =
                    c.alert_parts(content, &r, test, unsub.as_deref()).unwrap();
                let full = c.render_alert(content, &r, test).unwrap();
                assert_eq!(subject, full.subject);
                assert_eq!(
                    decode(&text),
                    crlf(&full.text),
                    "text for {:?}",
                    r.first_name
                );
                assert_eq!(
                    decode(&html),
                    crlf(&full.html),
                    "html for {:?}",
                    r.first_name
                );
                for body in [&text, &html] {
                    for line in body.as_ref().split(|b| *b == b'\n') {
                        assert!(line.len() <= 77, "line of {} bytes", line.len());
                        assert!(line.is_ascii());
                    }
                }
            }
        }
    }

    #[test]
    fn an_alert_frame_gives_every_recipient_the_full_rendering() {
        let c = composer(Templates::load(None).unwrap());
        let content = content();
        assert_same_as_full_rendering(&c, &content);
        let frame = content
            .frame
            .get()
            .expect("built")
            .as_ref()
            .expect("a frame");
        let holes = |p: &[Piece]| p.iter().filter(|p| matches!(p, Piece::Hole(_))).count();
        assert_eq!(
            holes(&frame.text),
            2,
            "name and unsubscribe link in the text"
        );
        assert!(holes(&frame.html) >= 2);
    }

    #[test]
    fn templates_that_look_at_the_name_are_rendered_per_recipient() {
        let dir = tempfile::tempdir().unwrap();
        let alert = dir.path().join("email/alert");
        std::fs::create_dir_all(&alert).unwrap();
        std::fs::write(
            alert.join("body.txt.hbs"),
            "{{#if (eq first_name \"friend\")}}Hello!{{else}}Dear {{first_name}},{{/if}}\n{{body_text}}\n{{unsubscribe_url}}\n",
        )
        .unwrap();
        let c = composer(Templates::load(Some(dir.path())).unwrap());
        let content = content();
        assert_same_as_full_rendering(&c, &content);
        assert!(content.frame.get().expect("tried").is_none());

        // A name in the subject, too.
        std::fs::remove_file(alert.join("body.txt.hbs")).unwrap();
        std::fs::write(alert.join("subject.txt.hbs"), "{{first_name}}: {{subject}}").unwrap();
        let c = composer(Templates::load(Some(dir.path())).unwrap());
        let content = self::content();
        assert_same_as_full_rendering(&c, &content);
        assert!(content.frame.get().expect("tried").is_none());
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

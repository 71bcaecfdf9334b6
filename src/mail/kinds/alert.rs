//! An alert, one copy to one supporter: the templates in `email/alert/`,
//! the context [`AlertCtx`], and the content every copy shares
//! ([`AlertContent`]), loaded and rendered once per alert.
//!
//! Rendering is the hot path of a big send, so an alert is also cut once into
//! a [`Frame`] that each copy only fills in (see there). Nothing here sends
//! or records; the worker does.

use std::sync::{Arc, OnceLock};

use lettre::message::header::ContentTransferEncoding;
use lettre::message::Body;
use serde::Serialize;

use super::Mail;
use crate::db::deliveries::Delivery;
use crate::db::{self, DbError};
use crate::domain::{AlertId, AlertStatus, DeliveryId};
use crate::i18n::Locale;
use crate::mail::compose::{
    crlf, template_folder, text_body, ComposeError, Composer, FeedbackId, MailingHeaders, Outgoing,
    Recipient, Rendered, TemplateFolder, DEFAULT_GREETING_NAME,
};

/// Where an alert's templates are.
pub const TEMPLATES: TemplateFolder = template_folder!("alert");

/// An alert's content, rendered once per alert and shared by every delivery.
#[derive(Debug, Clone)]
pub struct AlertContent {
    pub alert_id: AlertId,
    pub case_title: String,
    pub case_summary: String,
    pub petition_url: Option<String>,
    /// The alert's own text first, then its variants (contract §9), each
    /// rendered from Markdown once for every copy in its language.
    pub texts: Vec<AlertText>,
}

/// One language's text of an alert.
#[derive(Debug, Clone)]
pub struct AlertText {
    /// The language its recipients read it in, fixed parts included; `None`
    /// on the alert's own text when it names none (the configured default).
    pub locale: Option<Locale>,
    /// A translation: only supporters of its language get it.
    pub is_variant: bool,
    pub subject: String,
    pub body_html: String,
    pub body_text: String,
    /// The message bodies with the per-recipient parts left as holes, built
    /// on first use and shared by every delivery of this text.
    pub frame: Arc<OnceLock<Option<Frame>>>,
}

impl AlertText {
    /// A text from its subject and Markdown body, rendered now.
    pub fn new(
        locale: Option<Locale>,
        is_variant: bool,
        subject: &str,
        markdown: &str,
    ) -> AlertText {
        AlertText {
            locale,
            is_variant,
            subject: subject.to_string(),
            body_html: crate::mail::markdown::to_html(markdown),
            body_text: crate::mail::markdown::to_text(markdown),
            frame: Default::default(),
        }
    }
}

impl AlertContent {
    /// The text a supporter whose language is `want` gets (the variant of
    /// that language, else the alert's own), and the language its fixed
    /// parts are in; `default` is the language of an alert that names none.
    pub fn text_for(&self, want: Locale, default: Locale) -> (usize, Locale) {
        let variant = self
            .texts
            .iter()
            .position(|t| t.is_variant && t.locale == Some(want));
        match variant {
            Some(i) => (i, want),
            None => (0, self.texts[0].locale.unwrap_or(default)),
        }
    }
}

/// The content of an alert, rendered once: its own text and each variant's
/// Markdown to sanitised HTML and to text, the case, and the petition link.
/// `None` when no alert has `id`.
pub fn alert_content(
    c: &mut db::DbConnection,
    id: &AlertId,
    base_url: &str,
) -> Result<Option<AlertContent>, DbError> {
    let Some(alert) = db::alerts::get(c, id)? else {
        return Ok(None);
    };
    let case = db::cases::get(c, &alert.case_id)?;
    let petition = match &alert.petition_id {
        Some(p) => db::petitions::get(c, p)?,
        None => None,
    };
    let own_locale = db::alert_variants::locale_of(c, id)?
        .as_deref()
        .and_then(Locale::from_tag);
    let mut texts = vec![AlertText::new(
        own_locale,
        false,
        &alert.subject,
        &alert.body_markdown,
    )];
    for v in db::alert_variants::of(c, id)? {
        // Only shipped locales are stored; one removed since is skipped.
        if let Some(l) = Locale::from_tag(&v.locale) {
            texts.push(AlertText::new(Some(l), true, &v.subject, &v.body_markdown));
        }
    }
    Ok(Some(AlertContent {
        alert_id: id.clone(),
        case_title: case.as_ref().map(|c| c.title.clone()).unwrap_or_default(),
        case_summary: case.map(|c| c.summary).unwrap_or_default(),
        petition_url: petition.map(|p| format!("{base_url}/petitions/{}", p.slug)),
        texts,
    }))
}

/// A claimed alert delivery as a message, or why it will not be sent: the
/// alert was cancelled, or the supporter may no longer be mailed
/// ([`RecipientRow::mailable`](crate::db::deliveries::RecipientRow::mailable)).
/// The message is in the supporter's language when the alert has it.
pub(super) fn prepare(d: &Delivery, batch: &super::Batch) -> Result<(Recipient, Mail), String> {
    let status = d.alert_id.as_ref().and_then(|a| batch.alert_status.get(a));
    let person = d
        .supporter_id
        .as_ref()
        .and_then(|s| batch.recipients.get(s));
    let content = d.alert_id.as_ref().and_then(|a| batch.alerts.get(a));
    match (status, person, content) {
        (Some(AlertStatus::Cancelled), _, _) => Err("alert cancelled".into()),
        (_, Some(p), Some(content)) if p.mailable() => {
            let locale = p.locale.as_deref().and_then(Locale::from_tag);
            Ok((Recipient::from(p), Mail::Alert(content.clone(), locale)))
        }
        (_, Some(p), _) => Err(format!("supporter is {}", p.status)),
        _ => Err("supporter or alert not found".into()),
    }
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

#[derive(Serialize)]
struct AlertCtx<'a> {
    lang: &'a str,
    title: &'a str,
    banner: &'a str,
    footer: String,
    org_name: &'a str,
    first_name: &'a str,
    /// "Dear NAME," in the text's language.
    greeting: String,
    sign_button: &'a str,
    sign_text: &'a str,
    or_open: &'a str,
    unsubscribe_label: &'a str,
    unsubscribe_text: &'a str,
    subject: &'a str,
    body_html: &'a str,
    body_text: &'a str,
    case_title: &'a str,
    case_summary: &'a str,
    petition_url: &'a Option<String>,
    unsubscribe_url: String,
}

impl Composer {
    /// Subject, HTML and text of an alert for one recipient whose language
    /// is `locale` (`None`: the default): the alert's variant in it, else
    /// its own text.
    pub fn render_alert(
        &self,
        content: &AlertContent,
        r: &Recipient,
        locale: Option<Locale>,
        test: bool,
    ) -> Result<Rendered, ComposeError> {
        let unsubscribe_url = match &r.supporter_id {
            Some(id) => self.unsubscribe_url(id),
            None => self.test_unsubscribe_url(),
        };
        let (text, lang) = self.text_of(content, locale);
        let first_name = greeting_name(r, lang);
        let mut rendered = self.render_with(content, text, lang, first_name, unsubscribe_url)?;
        if test {
            rendered.subject = format!("[TEST] {}", rendered.subject);
        }
        Ok(rendered)
    }

    /// Which of `content`'s texts a supporter of `locale` gets, and the
    /// language of its fixed parts.
    fn text_of(&self, content: &AlertContent, locale: Option<Locale>) -> (usize, Locale) {
        let default = self.default_locale();
        content.text_for(locale.unwrap_or(default), default)
    }

    fn render_with(
        &self,
        content: &AlertContent,
        text: usize,
        lang: Locale,
        first_name: &str,
        unsubscribe_url: String,
    ) -> Result<Rendered, ComposeError> {
        let t = &content.texts[text];
        let ctx = AlertCtx {
            lang: lang.code(),
            title: &t.subject,
            banner: lang.get("mail_alert_banner"),
            footer: lang.format("mail_alert_footer", &[("org", self.org_name())]),
            org_name: self.org_name(),
            first_name,
            greeting: lang.format("mail_alert_greeting", &[("name", first_name)]),
            sign_button: lang.get("mail_alert_sign_button"),
            sign_text: lang.get("mail_alert_sign_text"),
            or_open: lang.get("mail_confirm_or_open"),
            unsubscribe_label: lang.get("mail_alert_unsubscribe"),
            unsubscribe_text: lang.get("mail_alert_unsubscribe_text"),
            subject: &t.subject,
            body_html: &t.body_html,
            body_text: &t.body_text,
            case_title: &content.case_title,
            case_summary: &content.case_summary,
            petition_url: &content.petition_url,
            unsubscribe_url,
        };
        self.render(&TEMPLATES, &ctx)
    }

    /// Delivery `delivery` of an alert (or of its `[TEST]` copy) to `r`:
    /// with the unsubscribe pair when a supporter is behind it, and a
    /// Feedback-ID naming the alert (`ALERT_ID:alert:clarion`, or
    /// `ALERT_ID:test:clarion` for a test copy, so that a feedback loop
    /// keeps the campaigners' own copies apart).
    pub fn alert(
        &self,
        content: &AlertContent,
        r: &Recipient,
        locale: Option<Locale>,
        test: bool,
        delivery: DeliveryId,
    ) -> Result<Outgoing, ComposeError> {
        let unsubscribe = r.supporter_id.as_ref().map(|id| self.unsubscribe_url(id));
        let (subject, text, html) =
            self.alert_parts(content, r, locale, test, unsubscribe.as_deref())?;
        let kind = if test { "test" } else { "alert" };
        self.build(
            delivery,
            r,
            subject,
            [text, html],
            MailingHeaders {
                unsubscribe_url: unsubscribe,
                feedback_id: Some(FeedbackId::new(&content.alert_id, kind)),
            },
        )
    }

    /// Subject and encoded text and HTML bodies of an alert for one
    /// recipient: from the alert's frame when it has one.
    fn alert_parts(
        &self,
        content: &AlertContent,
        r: &Recipient,
        locale: Option<Locale>,
        test: bool,
        unsubscribe: Option<&str>,
    ) -> Result<(String, Body, Body), ComposeError> {
        let (text, lang) = self.text_of(content, locale);
        let frame = content.texts[text].frame.get_or_init(|| match self.frame(content, text, lang) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(alert.id = %content.alert_id, error = %e, "alert frame not built; rendering each message in full");
                None
            }
        });
        let Some(frame) = frame else {
            let rendered = self.render_alert(content, r, locale, test)?;
            return Ok((
                rendered.subject,
                text_body(&rendered.text),
                text_body(&rendered.html),
            ));
        };
        let first_name = greeting_name(r, lang);
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

    /// Renders an alert with markers in place of the recipient's values and
    /// cuts it into encoded pieces and holes; `None` when the templates use
    /// those values in any other way than inserting them.
    fn frame(
        &self,
        content: &AlertContent,
        which: usize,
        lang: Locale,
    ) -> Result<Option<Frame>, ComposeError> {
        let render =
            |nonce: &str| -> Result<(String, String, String, String, String), ComposeError> {
                let first = format!("clarionfirstname{nonce}");
                let unsub = format!("clarionunsubscribe{nonce}");
                let r = self.render_with(content, which, lang, &first, unsub.clone())?;
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
        let probe = self.render_with(content, which, lang, DEFAULT_GREETING_NAME, unsub.clone())?;
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
}

/// The name an alert greets `r` by: their first name, or the word for a
/// friend in the mail's language.
fn greeting_name(r: &Recipient, lang: Locale) -> &str {
    if r.first_name.is_empty() {
        lang.get("mail_confirm_friend")
    } else {
        &r.first_name
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
    use crate::security::Keys;
    use crate::templates::Templates;

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
        let text = |locale: Option<Locale>, is_variant: bool, subject: &str| AlertText {
            locale,
            is_variant,
            subject: subject.into(),
            body_html: format!("<p>{long}</p>\n<p>Trailing spaces   \n\tand a tab\n</p>"),
            body_text: format!("{long}\nTrailing spaces   \n\tand a tab\n=3D stays literal\n"),
            frame: Default::default(),
        };
        AlertContent {
            alert_id: AlertId::new(),
            texts: vec![
                text(None, false, "Court date: write today"),
                text(
                    Locale::from_tag("fr"),
                    true,
                    "Audience : écrivez aujourd’hui",
                ),
                text(Locale::from_tag("ar"), true, "موعد المحكمة"),
            ],
            case_title: "Azimjan Askarov".into(),
            case_summary: "Serving a life sentence; «review» on 12 October.".into(),
            petition_url: Some("https://clarion.example.org/petitions/free-askarov".into()),
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
                supporter_id: (i % 2 == 0).then(crate::domain::SupporterId::new),
                email: format!("p{i}@example.org"),
                first_name: n.to_string(),
                last_name: "Doe".into(),
            })
            .collect()
    }

    /// What each recipient reads is what a full rendering gives, whether
    /// the frame or the full rendering made it.
    fn assert_same_as_full_rendering(c: &Composer, content: &AlertContent) {
        let locales = [
            None,
            Locale::from_tag("fr"),
            Locale::from_tag("ar"),
            Locale::from_tag("ru"),
        ];
        for r in recipients() {
            for (test, locale) in [false, true]
                .into_iter()
                .flat_map(|t| locales.map(|l| (t, l)))
            {
                let unsub = r.supporter_id.as_ref().map(|id| c.unsubscribe_url(id));
                let (subject, text, html) = c
                    .alert_parts(content, &r, locale, test, unsub.as_deref())
                    .unwrap();
                let full = c.render_alert(content, &r, locale, test).unwrap();
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
        for (i, t) in content.texts.iter().enumerate() {
            assert!(t.frame.get().expect("built").is_some(), "text {i} framed");
        }
        let frame = content.texts[0]
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
        assert!(content.texts[0].frame.get().expect("tried").is_none());

        // A name in the subject, too.
        std::fs::remove_file(alert.join("body.txt.hbs")).unwrap();
        std::fs::write(alert.join("subject.txt.hbs"), "{{first_name}}: {{subject}}").unwrap();
        let c = composer(Templates::load(Some(dir.path())).unwrap());
        let content = self::content();
        assert_same_as_full_rendering(&c, &content);
        assert!(content.texts[0].frame.get().expect("tried").is_none());
    }
}

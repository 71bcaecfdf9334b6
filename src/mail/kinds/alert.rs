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
use crate::mail::compose::{
    crlf, template_folder, text_body, ComposeError, Composer, FeedbackId, MailingHeaders, Outgoing,
    Recipient, Rendered, TemplateFolder, DEFAULT_GREETING_NAME,
};

/// Where an alert's templates are.
pub const TEMPLATES: TemplateFolder = template_folder!("alert");

/// An alert's content, rendered once per alert and shared by every delivery.
#[derive(Debug, Clone, Serialize)]
pub struct AlertContent {
    pub alert_id: AlertId,
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

/// The content of an alert, rendered once: Markdown to sanitised HTML and
/// to text, the case, and the petition link. `None` when no alert has `id`.
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
    Ok(Some(AlertContent {
        alert_id: id.clone(),
        subject: alert.subject,
        body_html: crate::mail::markdown::to_html(&alert.body_markdown),
        body_text: crate::mail::markdown::to_text(&alert.body_markdown),
        case_title: case.as_ref().map(|c| c.title.clone()).unwrap_or_default(),
        case_summary: case.map(|c| c.summary).unwrap_or_default(),
        petition_url: petition.map(|p| format!("{base_url}/petitions/{}", p.slug)),
        frame: Default::default(),
    }))
}

/// A claimed alert delivery as a message, or why it will not be sent: the
/// alert was cancelled, or the supporter may no longer be mailed
/// ([`RecipientRow::mailable`](crate::db::deliveries::RecipientRow::mailable)).
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
            Ok((Recipient::from(p), Mail::Alert(content.clone())))
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
    subject: &'a str,
    body_html: &'a str,
    body_text: &'a str,
    case_title: &'a str,
    case_summary: &'a str,
    petition_url: &'a Option<String>,
    unsubscribe_url: String,
}

impl Composer {
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
        test: bool,
        delivery: DeliveryId,
    ) -> Result<Outgoing, ComposeError> {
        let unsubscribe = r.supporter_id.as_ref().map(|id| self.unsubscribe_url(id));
        let (subject, text, html) = self.alert_parts(content, r, test, unsubscribe.as_deref())?;
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
        AlertContent {
            alert_id: AlertId::new(),
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
        for r in recipients() {
            for test in [false, true] {
                let unsub = r.supporter_id.as_ref().map(|id| c.unsubscribe_url(id));
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
}

//! Turns a queued delivery into a MIME message: templates rendered per
//! recipient, headers built only from validated values through lettre's typed
//! builders (which encode display names and subjects), so nothing a person
//! typed can add a header or a recipient.

use lettre::message::dkim::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use serde::Serialize;
use std::sync::Arc;

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
}

/// Who a message goes to. Names come from validated supporter records.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub supporter_id: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
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
            None => format!("{}/unsubscribe/test-send", self.base_url),
        };
        let ctx = AlertCtx {
            lang: "en",
            title: &content.subject,
            banner: "Urgent action",
            footer: format!(
                "You receive this because you support {}'s urgent actions.",
                self.org_name()
            ),
            org_name: self.org_name(),
            first_name: if r.first_name.is_empty() {
                "friend"
            } else {
                &r.first_name
            },
            subject: &content.subject,
            body_html: &content.body_html,
            body_text: &content.body_text,
            case_title: &content.case_title,
            case_summary: &content.case_summary,
            petition_url: &content.petition_url,
            unsubscribe_url,
        };
        let mut subject = header_safe(
            self.templates
                .render("email/alert/subject.txt", &ctx)?
                .trim(),
        );
        if test {
            subject = format!("[TEST] {subject}");
        }
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
        let rendered = self.render_alert(content, r, test)?;
        let unsubscribe = r.supporter_id.as_deref().map(|id| self.unsubscribe_url(id));
        self.build(r, rendered, unsubscribe)
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
        self.build(r, rendered, None)
    }

    fn build(
        &self,
        r: &Recipient,
        rendered: Rendered,
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
            .subject(rendered.subject)
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
                        .body(rendered.text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(rendered.html),
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

//! The mail that asks a signer to confirm their signature: the templates in
//! `email/confirmation/`, the context [`ConfirmCtx`], in the language the
//! person signed in. It goes to anyone with an address while the signature
//! is pending, whatever their mailing status: it answers their own request
//! and is not a mailing.

use serde::Serialize;

use super::Mail;
use crate::db::deliveries::Delivery;
use crate::domain::SignatureStatus;
use crate::i18n::Locale;
use crate::mail::compose::{
    template_folder, text_body, ComposeError, Composer, Outgoing, Recipient, TemplateFolder,
};

/// Where a confirmation's templates are.
pub const TEMPLATES: TemplateFolder = template_folder!("confirmation");

/// What one confirmation mail says beyond its recipient.
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub petition_title: String,
    /// The plaintext token of the confirmation link.
    pub token: String,
    pub locale: Locale,
}

/// A claimed confirmation as a message, or why it will not be sent.
pub(super) fn prepare(d: &Delivery, batch: &super::Batch) -> Result<(Recipient, Mail), String> {
    let person = d
        .supporter_id
        .as_ref()
        .and_then(|s| batch.recipients.get(s));
    let signature = d
        .signature_id
        .as_ref()
        .and_then(|s| batch.signatures.get(s));
    match (person, signature, d.payload.clone()) {
        (Some(p), Some((title, SignatureStatus::Pending, locale)), Some(token))
            if p.email.is_some() =>
        {
            Ok((
                Recipient::from(p),
                Mail::Confirmation(Confirmation {
                    petition_title: title.clone(),
                    token,
                    locale: locale
                        .as_deref()
                        .and_then(Locale::from_tag)
                        .unwrap_or(Locale::EN),
                }),
            ))
        }
        _ => Err("signature already confirmed, or the person is gone".into()),
    }
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
    /// The confirmation mail of a pending signature, in the language the
    /// person signed in.
    pub fn confirmation(
        &self,
        mail: &Confirmation,
        r: &Recipient,
    ) -> Result<Outgoing, ComposeError> {
        let Confirmation {
            petition_title,
            token,
            locale,
        } = mail;
        let locale = *locale;
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
            confirm_url: format!("{}/confirm/{}", self.base_url(), token),
            unsubscribe_url: None,
        };
        let rendered = self.render(&TEMPLATES, &ctx)?;
        self.build(
            r,
            rendered.subject,
            text_body(&rendered.text),
            text_body(&rendered.html),
            None,
        )
    }
}

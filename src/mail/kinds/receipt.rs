//! The short mail that answers a confirmation: the signer's receipt code
//! (contract §10) and where to look it up, in the language they signed in.
//! Like the confirmation mail it answers the person's own act, so it is not
//! a mailing: no unsubscribe pair, and it goes out whatever their mailing
//! status, once the signature counts.
//!
//! Owns the receipt code, too: [`code_for`] makes it from the signature id
//! under the process keys, so the code is never stored and the public log
//! (which names signature ids) does not give it away.

use serde::Serialize;

use super::Mail;
use crate::db::deliveries::Delivery;
use crate::domain::{DeliveryId, SignatureId, SignatureStatus};
use crate::i18n::Locale;
use crate::mail::compose::{
    template_folder, text_body, ComposeError, Composer, MailingHeaders, Outgoing, Recipient,
    TemplateFolder,
};
use crate::security::Keys;

/// The purpose receipt tags are made for.
const PURPOSE: &str = "receipt";
/// Bytes of tag after the id's 32 digits: 20 hex digits.
const TAG_BYTES: usize = 10;

/// The receipt code of a signature: its id's 32 hex digits and a tag that
/// only this service's key makes, so codes cannot be guessed from the
/// public log.
pub fn code_for(keys: &Keys, signature: &SignatureId) -> String {
    let digits: String = signature.as_str().chars().filter(|c| *c != '-').collect();
    let tag = keys.mac_hex(PURPOSE, &digits, TAG_BYTES);
    format!("{digits}{tag}")
}

/// The signature `code` is the receipt of, if this service's key made it
/// (any case, spaces around it forgiven).
pub fn signature_of(keys: &Keys, code: &str) -> Option<SignatureId> {
    let code = code.trim().to_ascii_lowercase();
    if code.len() != 32 + 2 * TAG_BYTES || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (digits, tag) = code.split_at(32);
    if !keys.proves_hex(PURPOSE, digits, tag) {
        return None;
    }
    SignatureId::parse(digits).ok()
}

/// Where a receipt's templates are.
pub const TEMPLATES: TemplateFolder = template_folder!("receipt");

/// What one receipt mail says beyond its recipient.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub petition_title: String,
    pub signature_id: SignatureId,
    pub locale: Locale,
}

/// A claimed receipt as a message, or why it will not be sent.
pub(super) fn prepare(d: &Delivery, batch: &super::Batch) -> Result<(Recipient, Mail), String> {
    match super::signer(d, batch) {
        Some((p, sig)) if sig.status == SignatureStatus::Confirmed => Ok((
            Recipient::from(p),
            Mail::Receipt(Receipt {
                petition_title: sig.petition_title.clone(),
                signature_id: sig.signature_id.clone(),
                locale: super::signed_in(sig),
            }),
        )),
        _ => Err("the signature no longer counts, or the person is gone".into()),
    }
}

#[derive(Serialize)]
struct ReceiptCtx<'a> {
    lang: &'a str,
    title: &'a str,
    banner: &'a str,
    footer: String,
    subject: String,
    counted: String,
    keep: &'a str,
    code_label: &'a str,
    code: &'a str,
    button: &'a str,
    receipt_url: String,
    no_identity: &'a str,
    unsubscribe_url: Option<String>,
}

impl Composer {
    /// The receipt mail of a counted signature, in the language the person
    /// signed in.
    pub fn receipt(
        &self,
        mail: &Receipt,
        r: &Recipient,
        delivery: DeliveryId,
    ) -> Result<Outgoing, ComposeError> {
        let locale = mail.locale;
        let code = code_for(self.keys(), &mail.signature_id);
        let title = mail.petition_title.as_str();
        let ctx = ReceiptCtx {
            lang: locale.code(),
            title,
            banner: locale.get("mail_receipt_banner"),
            footer: locale.format("mail_confirm_footer", &[("org", self.org_name())]),
            subject: locale.format("mail_receipt_subject", &[("title", title)]),
            counted: locale.format("mail_receipt_counted", &[("title", title)]),
            keep: locale.get("receipt_intro"),
            code_label: locale.get("mail_receipt_code"),
            code: &code,
            button: locale.get("receipt_link"),
            receipt_url: format!("{}/receipts/{code}", self.base_url()),
            no_identity: locale.get("receipt_no_identity"),
            unsubscribe_url: None,
        };
        let rendered = self.render(&TEMPLATES, &ctx)?;
        // Not a mailing: no unsubscribe pair, no Feedback-ID.
        self.build(
            delivery,
            r,
            rendered.subject,
            [text_body(&rendered.text), text_body(&rendered.html)],
            MailingHeaders::default(),
        )
    }
}

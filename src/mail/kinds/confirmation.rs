//! The mail that asks a signer to confirm their signature: the templates in
//! `email/confirmation/`, the context [`ConfirmCtx`], in the language the
//! person signed in. It goes to anyone with an address while the signature
//! is pending, whatever their mailing status: it answers their own request
//! and is not a mailing.
//!
//! The signing's one reminder is the same mail with the same link, worded
//! as a reminder (a confirmation delivery whose payload says so).
//!
//! Owns the confirmation token, too: [`token_for`] makes it from the
//! signature when the message is built, and [`proves`] checks it, so no
//! token is ever stored, not even in the queued delivery.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDateTime;
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

/// The purpose confirmation tokens are signed for: a token made for any
/// other purpose (an unsubscribe link, a session) confirms nothing.
const PURPOSE: &str = "confirm";

/// Length of the signature id at the head of a token: its 32 hex digits.
const ID_LEN: usize = 32;

/// The token of a signature's confirmation link: the signature id as 32 hex
/// digits, then the HMAC, under the process keys, of those digits and the
/// moment of signing (the part of `keys.sign` after its dot), URL-safe.
/// Anyone can read the id off a link; only the keys make the rest, and the
/// database holds neither. Signing again after an expiry is a new moment,
/// so the expired mail's link stays dead.
pub fn token_for(keys: &Keys, signature: &SignatureId, signed_at: NaiveDateTime) -> String {
    let head = id_digits(signature);
    let signed = keys.sign(PURPOSE, &payload(&head, signed_at));
    let mac = signed.rsplit_once('.').map_or("", |(_, mac)| mac);
    format!("{head}{mac}")
}

/// The signature a token names (its first 32 characters), if they are an
/// id; says nothing of whether the token is genuine.
pub fn named_signature(token: &str) -> Option<SignatureId> {
    let head = token.get(..ID_LEN)?;
    if !head.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    SignatureId::parse(head).ok()
}

/// Whether `token` is the [`token_for`] of this signing. A token mailed
/// before these (checked against a stored hash instead) is not.
pub fn proves(keys: &Keys, token: &str, signature: &SignatureId, signed_at: NaiveDateTime) -> bool {
    let head = id_digits(signature);
    let Some(mac) = token.strip_prefix(head.as_str()).filter(|m| !m.is_empty()) else {
        return false;
    };
    let payload = payload(&head, signed_at);
    // `verify` compares the MACs in constant time.
    let signed = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(&payload));
    keys.verify(PURPOSE, &signed).as_deref() == Some(payload.as_str())
}

fn id_digits(signature: &SignatureId) -> String {
    signature.as_str().replace('-', "")
}

fn payload(head: &str, signed_at: NaiveDateTime) -> String {
    // Microseconds: what both databases keep of a timestamp.
    format!("{head}.{}", signed_at.and_utc().timestamp_micros())
}

/// Where a confirmation's templates are.
pub const TEMPLATES: TemplateFolder = template_folder!("confirmation");

/// What one confirmation mail says beyond its recipient.
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub petition_title: String,
    /// The signing to confirm: its link's token is made from it when the
    /// message is built ([`token_for`]).
    pub signature_id: SignatureId,
    pub signed_at: NaiveDateTime,
    pub locale: Locale,
    /// The signing's one reminder (`CLARION_CONFIRM_REMINDER_HOURS`): the
    /// same link, worded as a reminder.
    pub reminder: bool,
}

/// A claimed confirmation as a message, or why it will not be sent.
pub(super) fn prepare(d: &Delivery, batch: &super::Batch) -> Result<(Recipient, Mail), String> {
    // A payload left by a delivery queued before tokens were derived is
    // ignored: the link made from the signature id confirms just the same.
    match super::signer(d, batch) {
        Some((p, sig)) if sig.status == SignatureStatus::Pending => {
            // Greeted by the name typed on the form: the supporter takes it
            // only once the address is confirmed.
            let mut to = Recipient::from(p);
            if let Some(first) = &sig.first_name {
                to.first_name = first.clone();
                to.last_name = sig.last_name.clone().unwrap_or_default();
            }
            Ok((
                to,
                Mail::Confirmation(Confirmation {
                    petition_title: sig.petition_title.clone(),
                    signature_id: sig.signature_id.clone(),
                    signed_at: sig.signed_at,
                    locale: super::signed_in(sig),
                    reminder: d.payload.as_deref() == Some(crate::db::signatures::REMINDER_PAYLOAD),
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
        delivery: DeliveryId,
    ) -> Result<Outgoing, ComposeError> {
        let Confirmation {
            petition_title,
            signature_id,
            signed_at,
            locale,
            reminder,
        } = mail;
        let token = token_for(self.keys(), signature_id, *signed_at);
        let locale = *locale;
        let name = if r.first_name.is_empty() {
            locale.get("mail_confirm_friend")
        } else {
            &r.first_name
        };
        let ctx = ConfirmCtx {
            lang: locale.code(),
            title: petition_title,
            banner: locale.get(if *reminder {
                "mail_remind_banner"
            } else {
                "mail_confirm_banner"
            }),
            footer: locale.format("mail_confirm_footer", &[("org", self.org_name())]),
            subject: locale.format(
                if *reminder {
                    "mail_remind_subject"
                } else {
                    "mail_confirm_subject"
                },
                &[("title", petition_title)],
            ),
            greeting: locale.format("mail_confirm_greeting", &[("name", name)]),
            thanks: locale.format(
                if *reminder {
                    "mail_remind_thanks"
                } else {
                    "mail_confirm_thanks"
                },
                &[("title", petition_title)],
            ),
            counts_once: locale.get("mail_confirm_counts_once"),
            button: locale.get("mail_confirm_button"),
            or_open: locale.get("mail_confirm_or_open"),
            ignore: locale.get("mail_confirm_ignore"),
            confirm_url: format!("{}/confirm/{}", self.base_url(), token),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_proves_one_signing_and_only_the_keys_make_it() {
        let keys = Keys::new("0123456789abcdef0123456789abcdef");
        let id = SignatureId::new();
        let at = chrono::Utc::now().naive_utc();
        let token = token_for(&keys, &id, at);
        assert_eq!(token.len(), 32 + 43);
        assert_eq!(named_signature(&token), Some(id.clone()));
        assert!(proves(&keys, &token, &id, at));
        let other = Keys::new("fedcba9876543210fedcba9876543210");
        assert!(!proves(&other, &token, &id, at), "another key");
        let later = at + chrono::Duration::seconds(1);
        assert!(!proves(&keys, &token, &id, later), "another signing");
        let another = SignatureId::new();
        assert!(!proves(&keys, &token, &another, at), "another signature");
        let theirs = token_for(&keys, &another, at);
        let swapped = format!("{}{}", &token[..32], &theirs[32..]);
        assert!(!proves(&keys, &swapped, &id, at), "another signature's MAC");
        let unsubscribe = keys.sign("unsubscribe", &payload(&token[..32], at));
        let mac = unsubscribe.rsplit_once('.').unwrap().1;
        let forged = format!("{}{mac}", &token[..32]);
        assert!(!proves(&keys, &forged, &id, at), "another purpose");
        assert!(!proves(&keys, &token[..32], &id, at));
        assert_eq!(named_signature("short"), None);
        assert_eq!(named_signature(&format!("{}x", "g".repeat(32))), None);
    }
}

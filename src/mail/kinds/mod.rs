//! The kinds of mail, one module each (its templates, its context, what it
//! needs of a claimed delivery), and the one place that matches on
//! [`DeliveryKind`]: adding a kind is a variant there, a module here and its
//! templates, and the compiler points at every match that must learn it.

pub mod alert;
pub mod confirmation;
pub mod receipt;
pub mod test;

use std::collections::HashMap;
use std::sync::Arc;

use crate::db::deliveries::{ConfirmationRow, Delivery, RecipientRow};
use crate::domain::{AlertId, AlertStatus, DeliveryId, DeliveryKind, SignatureId, SupporterId};
use crate::i18n::Locale;

use super::compose::{AlertContent, ComposeError, Composer, Outgoing, Recipient};

/// A claimed delivery made ready to compose, by kind.
pub enum Mail {
    /// Shares the alert's content (rendered once) with every other copy;
    /// the supporter's language picks its text.
    Alert(Arc<AlertContent>, Option<Locale>),
    /// A campaigner's `[TEST]` copy, in the language asked for.
    Test(Arc<AlertContent>, Option<Locale>),
    Confirmation(confirmation::Confirmation),
    Receipt(receipt::Receipt),
}

impl Mail {
    /// The message of `delivery` for `r` (the delivery names its VERP
    /// return path).
    pub fn compose(
        &self,
        composer: &Composer,
        r: &Recipient,
        delivery: DeliveryId,
    ) -> Result<Outgoing, ComposeError> {
        match self {
            Mail::Alert(content, locale) => composer.alert(content, r, *locale, false, delivery),
            Mail::Test(content, locale) => test::compose(composer, content, *locale, r, delivery),
            Mail::Confirmation(mail) => composer.confirmation(mail, r, delivery),
            Mail::Receipt(mail) => composer.receipt(mail, r, delivery),
        }
    }

    /// The alert whose cancellation stops this message while it waits for a
    /// connection. Test copies go out whatever the alert's status.
    pub fn stopped_by_cancelling(&self) -> Option<&AlertId> {
        match self {
            Mail::Alert(content, _) => Some(&content.alert_id),
            Mail::Test(..) | Mail::Confirmation(_) | Mail::Receipt(_) => None,
        }
    }
}

/// What the worker loaded for one claimed batch, in one blocking call, so
/// that preparing each delivery queries nothing.
pub struct Batch<'a> {
    pub recipients: HashMap<SupporterId, RecipientRow>,
    /// What confirmation and receipt mails need of each signature.
    pub signatures: HashMap<SignatureId, ConfirmationRow>,
    pub alert_status: HashMap<AlertId, AlertStatus>,
    /// The content of every alert in the batch (the worker keeps them while
    /// the alert sends).
    pub alerts: &'a HashMap<AlertId, Arc<AlertContent>>,
}

/// The signer a delivery about a signature goes to (with an address) and
/// that signature, from what the batch loaded.
fn signer<'b>(d: &Delivery, batch: &'b Batch) -> Option<(&'b RecipientRow, &'b ConfirmationRow)> {
    let person = d
        .supporter_id
        .as_ref()
        .and_then(|s| batch.recipients.get(s))
        .filter(|p| p.email.is_some())?;
    let signature = d
        .signature_id
        .as_ref()
        .and_then(|s| batch.signatures.get(s))?;
    Some((person, signature))
}

/// The language a signature was made in (English if unknown).
fn signed_in(sig: &ConfirmationRow) -> crate::i18n::Locale {
    sig.locale
        .as_deref()
        .and_then(crate::i18n::Locale::from_tag)
        .unwrap_or(crate::i18n::Locale::EN)
}

/// A claimed delivery as its recipient and message, or the reason it will
/// never be sent (recorded as cancelled).
pub fn prepare(d: &Delivery, batch: &Batch) -> Result<(Recipient, Mail), String> {
    match d.kind {
        DeliveryKind::Alert => alert::prepare(d, batch),
        DeliveryKind::Test => test::prepare(d, batch),
        DeliveryKind::Confirmation => confirmation::prepare(d, batch),
        DeliveryKind::Receipt => receipt::prepare(d, batch),
    }
}

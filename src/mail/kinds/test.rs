//! A `[TEST]` copy of an alert to an address a campaigner typed: the alert's
//! own templates ([`alert::TEMPLATES`]) and content, the subject marked
//! `[TEST]`, in the language the campaigner asked for (the delivery's
//! `payload`: that language's variant and fixed parts) or else the alert's
//! own text, no supporter behind it (so a harmless unsubscribe link and no
//! `List-Unsubscribe` header; its Feedback-ID says `test`, not `alert`). It
//! is sent whatever the alert's status: a test of a draft is the point.

use super::{alert, Mail};
use crate::db::deliveries::Delivery;
use crate::domain::DeliveryId;
use crate::i18n::Locale;
use crate::mail::compose::{ComposeError, Composer, Outgoing, Recipient, TemplateFolder};

/// A test copy looks exactly like the alert.
pub const TEMPLATES: TemplateFolder = alert::TEMPLATES;

/// A claimed test send as a message, or why it will not be sent.
pub(super) fn prepare(d: &Delivery, batch: &super::Batch) -> Result<(Recipient, Mail), String> {
    let content = d.alert_id.as_ref().and_then(|a| batch.alerts.get(a));
    match (content, d.to_email.clone()) {
        (Some(content), Some(email)) => Ok((
            Recipient {
                supporter_id: None,
                email,
                first_name: String::new(),
                last_name: String::new(),
            },
            Mail::Test(content.clone(), language(d, content)),
        )),
        _ => Err("the alert or address is gone".into()),
    }
}

/// The language a test copy is written for: the one asked for, else the
/// alert's own (`None`: the default, which is the alert's own then too).
fn language(d: &Delivery, content: &alert::AlertContent) -> Option<Locale> {
    d.payload
        .as_deref()
        .and_then(Locale::from_tag)
        .or(content.texts[0].locale)
}

pub(super) fn compose(
    composer: &Composer,
    content: &alert::AlertContent,
    locale: Option<Locale>,
    r: &Recipient,
    delivery: DeliveryId,
) -> Result<Outgoing, ComposeError> {
    composer.alert(content, r, locale, true, delivery)
}

//! A `[TEST]` copy of an alert to an address a campaigner typed: the alert's
//! own templates ([`alert::TEMPLATES`]) and content, the subject marked
//! `[TEST]`, no supporter behind it (so a harmless unsubscribe link and no
//! `List-Unsubscribe` header; its Feedback-ID says `test`, not `alert`). It
//! is sent whatever the alert's status: a test of a draft is the point.

use super::{alert, Mail};
use crate::db::deliveries::Delivery;
use crate::domain::DeliveryId;
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
            Mail::Test(content.clone()),
        )),
        _ => Err("the alert or address is gone".into()),
    }
}

pub(super) fn compose(
    composer: &Composer,
    content: &alert::AlertContent,
    r: &Recipient,
    delivery: DeliveryId,
) -> Result<Outgoing, ComposeError> {
    composer.alert(content, r, None, true, delivery)
}

//! Signing a petition: the one action behind the public signing form.
//!
//! Owns: turning a parsed form into a stored signature (through the
//! batching [`writer`] when the process started one), the consent sentence
//! recorded with it, and what follows: a signature that counts at once
//! empties the public pages' petition cache, a queued confirmation mail
//! wakes the worker.
//!
//! Never: HTTP or HTML (the form's fields, the limiter, the honeypot and the
//! answers are `web::public`'s), and no per-signature work beyond building
//! the row: signing is the hot path (`bench/sign`), and the writer's batching
//! is what makes it fast.

mod writer;

use chrono::Duration;

pub use writer::{SignWriter, Signatures};

use super::writer::WriteError;

pub use crate::db::signatures::SignOutcome;
use crate::db::signatures::{self as store, NewSignature};
use crate::domain::{Comment, CountryCode, Email, PersonName, Postcode};
use crate::i18n::Locale;

use super::public::Petition;
use super::{Actor, CampaignError, CampaignResult, Context};

/// What a person gave the signing form, already parsed.
#[derive(Debug, Clone)]
pub struct SignatureForm {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub email: Email,
    pub country: CountryCode,
    pub postcode: Option<Postcode>,
    pub comment: Option<Comment>,
    /// The "keep me informed" box: recorded as consent once the signature
    /// counts.
    pub email_opt_in: bool,
    /// The language of the form: the confirmation mail and the consent
    /// sentence are in it.
    pub locale: Locale,
    /// The keyed hash of the client's address, if known.
    pub ip_hash: Option<String>,
}

/// The consent sentence shown beside the checkbox in `locale`: what a
/// supporter's consent records they agreed to.
pub fn consent_wording(locale: Locale) -> &'static str {
    locale.get("form_opt_in")
}

/// How long a pending signature waits for its confirmation link.
pub(super) fn pending_ttl(ctx: &Context) -> Duration {
    Duration::hours(ctx.settings.pending_signature_ttl_hours as i64)
}

/// Signs `petition` (which the caller found open a moment ago, maybe in a
/// cache: the writer checks again in the transaction that stores it).
/// Anyone may sign; the outcome is the caller's to render, and the public
/// form answers every outcome but [`SignOutcome::Closed`] alike.
pub async fn sign(
    ctx: &Context,
    _actor: &Actor,
    petition: &Petition,
    form: SignatureForm,
) -> CampaignResult<SignOutcome> {
    let signature = NewSignature {
        petition_id: petition.id.as_str().to_owned(),
        petition_slug: petition.slug.as_str().to_owned(),
        require_confirmation: petition.require_confirmation,
        email: form.email,
        first_name: form.first_name,
        last_name: form.last_name,
        country: form.country,
        postcode: form.postcode,
        comment: form.comment,
        email_opt_in: form.email_opt_in,
        consent_wording: consent_wording(form.locale).to_string(),
        ip_hash: form.ip_hash,
        locale: form.locale.code().to_string(),
    };
    let outcome = match &ctx.signing {
        Some(writer) => writer.write(signature).await.map_err(internal)?,
        // A process that started no writer (the CLI) stores the signature
        // on its own, as the writer does when a batch fails.
        None => {
            let ttl = pending_ttl(ctx);
            ctx.run(move |c| store::sign(c, &signature, ttl).map_err(|e| internal(e.into())))
                .await?
        }
    };
    match outcome {
        SignOutcome::Confirmed => ctx.events.petitions_changed(),
        o if o.mail_queued() => ctx.events.mail_queued(),
        _ => {}
    }
    Ok(outcome)
}

/// Storing a signature fails only for our reasons: a 500, never a 404 (as
/// a bare `DbError` conversion could make of a missing row).
fn internal(e: WriteError) -> CampaignError {
    CampaignError::Internal(anyhow::Error::new(e))
}

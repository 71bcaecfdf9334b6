//! Confirming a signature: the double opt-in behind the link in the
//! confirmation mail.
//!
//! Owns: what a confirmation token points at (a token the process keys
//! prove, see `mail::kinds::confirmation::token_for`, or one mailed before
//! those, proven by the hash stored with its signature), confirming it
//! (idempotently: twice counts once), the consent sentence recorded then
//! (the one the signer saw, in their language), and emptying the public
//! pages' petition cache when a count went up.
//!
//! Never: decides what a page shows or when (a GET must change nothing
//! because link scanners fetch it: that is `web::public::confirm`'s rule),
//! nor composes mail.

use chrono::NaiveDateTime;

use crate::db::signatures::{self as store, ConfirmOutcome, ConfirmRequest};
use crate::db::{DbConnection, DbResult};
use crate::domain::SignatureId;
use crate::i18n::Locale;
use crate::mail::kinds::confirmation::proves;
use crate::security::Keys;

pub use crate::db::signatures::TokenTarget;

use super::public::{self, Petition};
use super::signing::consent_wording;
use super::writer::{Store, WriteError, Writer};
use super::{Actor, CampaignError, CampaignResult, Context};

/// Whether `token` could be one of ours: short, URL-safe. Anything else is
/// answered as unknown without asking the database.
pub fn plausible(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What `token` points at, if it is genuine; changes nothing.
pub async fn find(ctx: &Context, token: &str) -> CampaignResult<Option<TokenTarget>> {
    if !plausible(token) {
        return Ok(None);
    }
    let token = token.to_string();
    let keys = ctx.keys.clone();
    let now = ctx.now();
    ctx.run(move |c| {
        let proof = |id: &_, at| proves(&keys, &token, id, at);
        Ok(store::find_by_token(c, &token, &proof, now)?)
    })
    .await
}

/// What confirming did. A counted signature comes with the signer's
/// receipt code (see [`super::evidence::receipt_code`]).
#[derive(Debug, Clone)]
pub enum Confirmation {
    /// Counted now.
    Confirmed(Petition, String),
    /// Counted before: nothing changed.
    AlreadyConfirmed(Petition, String),
    /// Pending past its expiry: the person must sign again.
    Expired,
    /// No signature has this token.
    Unknown,
}

/// Confirms the signature `token` belongs to. Anyone holding the link may;
/// the token is the credential.
pub async fn confirm(ctx: &Context, _actor: &Actor, token: &str) -> CampaignResult<Confirmation> {
    if !plausible(token) {
        return Ok(Confirmation::Unknown);
    }
    let request = ConfirmRequest {
        token: token.to_string(),
        at: ctx.now(),
    };
    let outcome = match &ctx.confirming {
        Some(writer) => writer.write(request).await.map_err(internal)?,
        // A process that started no writer (the CLI, some tests) confirms
        // on its own, as the writer does when a batch fails.
        None => {
            let store = Confirmations::new(ctx.keys.clone());
            ctx.run(move |c| store.one(c, &request).map_err(|e| internal(e.into())))
                .await?
        }
    };
    let (petition_id, signature_id, now_counted) = match outcome {
        ConfirmOutcome::Unknown => return Ok(Confirmation::Unknown),
        ConfirmOutcome::Expired { .. } => return Ok(Confirmation::Expired),
        ConfirmOutcome::Confirmed {
            petition_id,
            signature_id,
        } => {
            // The count went up: before anything else can fail. The
            // receipt mail waits in the queue.
            ctx.events.petitions_changed();
            ctx.events.mail_queued();
            (petition_id, signature_id, true)
        }
        ConfirmOutcome::AlreadyConfirmed {
            petition_id,
            signature_id,
        } => (petition_id, signature_id, false),
    };
    let receipt = super::evidence::receipt_code(ctx, &signature_id);
    let petition = public::petition_by_id(ctx, &petition_id)
        .await?
        .ok_or(CampaignError::not_found("petition"))?;
    Ok(if now_counted {
        Confirmation::Confirmed(petition, receipt)
    } else {
        Confirmation::AlreadyConfirmed(petition, receipt)
    })
}

/// How confirmations are stored by the batching writer: many in one
/// transaction ([`store::confirm_batch`]), or one by one.
pub struct Confirmations {
    keys: Keys,
}

impl Confirmations {
    pub fn new(keys: Keys) -> Confirmations {
        Confirmations { keys }
    }

    fn proves(&self, token: &str, id: &SignatureId, at: NaiveDateTime) -> bool {
        proves(&self.keys, token, id, at)
    }
}

/// The consent sentence the signer saw, by the locale of their signature.
fn wording(locale: Option<&str>) -> String {
    let l = locale.and_then(Locale::from_tag).unwrap_or(Locale::EN);
    consent_wording(l).to_string()
}

impl Store for Confirmations {
    type Request = ConfirmRequest;
    type Outcome = ConfirmOutcome;
    const WHAT: &'static str = "confirmation";

    fn batch(
        &self,
        conn: &mut DbConnection,
        batch: &[ConfirmRequest],
    ) -> DbResult<Vec<ConfirmOutcome>> {
        store::confirm_batch(conn, batch, &|t, id, at| self.proves(t, id, at), &wording)
    }

    fn one(&self, conn: &mut DbConnection, r: &ConfirmRequest) -> DbResult<ConfirmOutcome> {
        let proof = |id: &SignatureId, at| self.proves(&r.token, id, at);
        store::confirm(conn, &r.token, &proof, r.at, &wording)
    }
}

pub type ConfirmWriter = Writer<Confirmations>;

/// Confirming fails only for our reasons: a 500.
fn internal(e: WriteError) -> CampaignError {
    CampaignError::Internal(anyhow::Error::new(e))
}

#[cfg(test)]
mod tests {
    use super::plausible;

    #[test]
    fn only_short_url_safe_tokens_reach_the_database() {
        assert!(plausible("0123abcd-_XY"));
        assert!(plausible(&"a".repeat(128)));
        assert!(!plausible(""));
        assert!(!plausible(&"a".repeat(129)));
        assert!(!plausible("abc def"));
        assert!(!plausible("abc%20"));
        assert!(!plausible("абв"));
    }
}

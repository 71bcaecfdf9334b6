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

use crate::db::signatures::{self as store, ConfirmOutcome};
use crate::i18n::Locale;
use crate::mail::kinds::confirmation::proves;

pub use crate::db::signatures::TokenTarget;

use super::public::{self, Petition};
use super::signing::consent_wording;
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
    let token = token.to_string();
    let keys = ctx.keys.clone();
    let now = ctx.now();
    let outcome = ctx
        .run(move |c| {
            let proof = |id: &_, at| proves(&keys, &token, id, at);
            Ok(store::confirm(c, &token, &proof, now, &|locale| {
                let l = locale.and_then(Locale::from_tag).unwrap_or(Locale::EN);
                consent_wording(l).to_string()
            })?)
        })
        .await?;
    let (petition_id, signature_id, now_counted) = match outcome {
        ConfirmOutcome::Unknown => return Ok(Confirmation::Unknown),
        ConfirmOutcome::Expired { .. } => return Ok(Confirmation::Expired),
        ConfirmOutcome::Confirmed {
            petition_id,
            signature_id,
        } => {
            // The count went up: before anything else can fail.
            ctx.events.petitions_changed();
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

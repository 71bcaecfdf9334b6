//! Leaving campaign mail: the signed link every campaign mail carries.
//!
//! Owns: what an unsubscribe token proves (the supporter it was made for,
//! `keys.sign(PURPOSE, supporter_id)`) and unsubscribing, idempotently.
//!
//! Never: asks for anything but the token (it is the credential, and
//! unsubscribing is harmless to repeat), nor resubscribes anyone.

use crate::db::subscriptions as store;
use crate::domain::{SupporterId, SupporterStatus};

use super::{Actor, CampaignResult, Context};

/// What unsubscribe tokens are signed for.
pub const PURPOSE: &str = "unsubscribe";

/// Where the person behind a genuine link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Campaign mail may still reach them: offer to stop it.
    Subscribed,
    /// Unsubscribed or erased already: nothing left to do.
    Left,
}

/// The supporter `token` was made for, if it is genuine.
fn supporter(ctx: &Context, token: &str) -> Option<SupporterId> {
    let id = ctx.keys.verify(PURPOSE, token)?;
    SupporterId::parse(&id).ok()
}

/// Where the supporter of `token` stands; `None` if the token is not
/// genuine or they no longer exist.
pub async fn standing(ctx: &Context, token: &str) -> CampaignResult<Option<Standing>> {
    let Some(id) = supporter(ctx, token) else {
        return Ok(None);
    };
    let status = ctx.run(move |c| Ok(store::status(c, &id)?)).await?;
    Ok(status.map(|s| match s {
        SupporterStatus::Unsubscribed | SupporterStatus::Erased => Standing::Left,
        SupporterStatus::Active | SupporterStatus::Bounced => Standing::Subscribed,
    }))
}

/// Unsubscribes the supporter of `token`. `false` if the token is not
/// genuine or they no longer exist.
pub async fn unsubscribe(ctx: &Context, _actor: &Actor, token: &str) -> CampaignResult<bool> {
    let Some(id) = supporter(ctx, token) else {
        return Ok(false);
    };
    let now = ctx.now();
    ctx.run(move |c| Ok(store::unsubscribe(c, &id, now)?)).await
}

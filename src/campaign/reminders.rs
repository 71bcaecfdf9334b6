//! What the confirmation reminders achieved: how many went out and how many
//! of those signatures were confirmed since, for a petition's console page
//! and for `/metrics`, with a petition's confirmation rate.
//!
//! Reads only; the reminders themselves are queued by `crate::jobs::reminders`.

use super::{Actor, CampaignError, CampaignResult, Context};
use crate::db;
use crate::domain::{PetitionId, Role};

pub use crate::db::signatures::ReminderCounts;

/// A petition's reminders and its confirmation rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PetitionReminders {
    pub counts: ReminderCounts,
    /// Confirmed signatures of all those signed (confirmed or pending);
    /// `None` before anyone signed.
    pub confirmation_rate: Option<f64>,
}

/// Reminders of petition `id` and its confirmation rate.
pub async fn for_petition(
    ctx: &Context,
    actor: &Actor,
    id: &PetitionId,
) -> CampaignResult<PetitionReminders> {
    actor.require(Role::Organiser)?;
    let id = id.clone();
    ctx.run(move |c| {
        let p = db::petitions::get(c, &id)?.ok_or(CampaignError::not_found("petition"))?;
        let counts = db::signatures::reminder_counts(c, Some(&id))?;
        Ok(PetitionReminders {
            counts,
            confirmation_rate: rate(p.confirmed_count, p.pending_count),
        })
    })
    .await
}

/// Confirmed of signed, when anyone signed.
pub fn rate(confirmed: i64, pending: i64) -> Option<f64> {
    let signed = confirmed + pending;
    (signed > 0).then(|| confirmed as f64 / signed as f64)
}

/// Reminders of every petition (for `/metrics`, which answers without an actor).
pub async fn totals(ctx: &Context) -> CampaignResult<ReminderCounts> {
    ctx.run(|c| Ok(db::signatures::reminder_counts(c, None)?))
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rate_is_confirmed_of_signed() {
        assert_eq!(super::rate(0, 0), None);
        assert_eq!(super::rate(3, 1), Some(0.75));
        assert_eq!(super::rate(0, 4), Some(0.0));
    }
}

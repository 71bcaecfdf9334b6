//! The commands of the CLI beyond serving: each parses its arguments into
//! domain types and calls the campaign layer, as the API routes do, so a
//! file imported or exported either way is treated the same.

pub mod bounces;
pub mod export;
pub mod import;
pub mod keys;
pub mod tokens;
pub mod users;
pub mod verify;

pub use bounces::{bounces, BouncesCommand};
pub use export::{export, ExportCommand};
pub use import::{import, ImportCommand};
pub use tokens::token_create;
pub use users::user_create;

use crate::campaign::CampaignError;

/// The campaign layer's refusal as the command's one-line reason; our own
/// failures keep their cause's chain.
pub(crate) fn reason(e: CampaignError) -> anyhow::Error {
    match e {
        CampaignError::Internal(e) => e,
        e => anyhow::anyhow!(e.one_line()),
    }
}

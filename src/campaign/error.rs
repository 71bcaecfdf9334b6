//! The one error type of the campaign layer: a stable code, the field it
//! concerns (if any), and an English text. The edges translate it: the API
//! to problem+json (`crate::error`), the console to a message beside the
//! field in the page's language, the CLI to a one-line reason.

use crate::db::DbError;
use crate::domain::DomainError;

/// A bad value, named by the field it came in (`"slug"`, `"list_ids"`).
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<DomainError> for FieldError {
    fn from(e: DomainError) -> Self {
        FieldError::new(e.field(), e.to_string())
    }
}

/// Why an action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The thing named does not exist (or is not visible to the caller).
    #[error("{what} not found")]
    NotFound { what: &'static str },

    /// The actor's role may not do this.
    #[error("this role may not do that")]
    Forbidden,

    /// Some input fields are invalid; every bad field at once.
    #[error("some fields are invalid")]
    Invalid(Vec<FieldError>),

    /// Another case or petition already has this slug.
    #[error("A {what} with the slug {slug:?} already exists.")]
    SlugTaken { what: &'static str, slug: String },

    /// Another list already has this name.
    #[error("A list named {name:?} already exists.")]
    ListNameTaken { name: String },

    /// Another console user already has this address.
    #[error("A user with this email already exists.")]
    UserEmailTaken,

    /// The alert has been sent (or cancelled): its text can no longer change.
    #[error("This alert is no longer a draft.")]
    AlertNotDraft,

    /// Only a paused alert can be resumed.
    #[error("This alert is not paused.")]
    AlertNotPaused,

    /// Only an alert waiting for approval can be approved.
    #[error("This alert is not waiting for approval.")]
    AlertNotAwaitingApproval,

    /// A supporter file could not be read as CSV.
    #[error("cannot read the CSV: {0}")]
    UnreadableFile(String),

    /// A supporter file's header row names no `email` column.
    #[error("the CSV header has no \"email\" column (columns read: {})", crate::import::COLUMNS.join(", "))]
    NoEmailColumn,

    /// More input than the action takes.
    #[error("the request body is too large")]
    TooLarge,

    /// Anything that is not the caller's fault; the cause goes to the log.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type CampaignResult<T> = Result<T, CampaignError>;

impl CampaignError {
    pub fn not_found(what: &'static str) -> CampaignError {
        CampaignError::NotFound { what }
    }

    /// One invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> CampaignError {
        CampaignError::Invalid(vec![FieldError::new(field, message)])
    }

    /// The stable code: what scripts and translations key on. Never change
    /// one; add a new variant instead.
    pub fn code(&self) -> &'static str {
        match self {
            CampaignError::NotFound { .. } => "not_found",
            CampaignError::Forbidden => "forbidden",
            CampaignError::Invalid(_) => "invalid",
            CampaignError::SlugTaken { .. } => "slug_taken",
            CampaignError::ListNameTaken { .. } => "list_name_taken",
            CampaignError::UserEmailTaken => "user_email_taken",
            CampaignError::AlertNotDraft => "alert_not_draft",
            CampaignError::AlertNotPaused => "alert_not_paused",
            CampaignError::AlertNotAwaitingApproval => "alert_not_awaiting_approval",
            CampaignError::UnreadableFile(_) => "unreadable_file",
            CampaignError::NoEmailColumn => "no_email_column",
            CampaignError::TooLarge => "too_large",
            CampaignError::Internal(_) => "internal",
        }
    }

    /// The form field this error belongs beside, if one; `None` for errors
    /// about the whole request (shown above the form).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            CampaignError::SlugTaken { .. } => Some("slug"),
            CampaignError::ListNameTaken { .. } => Some("name"),
            CampaignError::UserEmailTaken => Some("email"),
            CampaignError::UnreadableFile(_)
            | CampaignError::NoEmailColumn
            | CampaignError::TooLarge => Some("file"),
            CampaignError::NotFound { .. }
            | CampaignError::Forbidden
            | CampaignError::Invalid(_)
            | CampaignError::AlertNotDraft
            | CampaignError::AlertNotPaused
            | CampaignError::AlertNotAwaitingApproval
            | CampaignError::Internal(_) => None,
        }
    }

    /// The reason in one line, for the CLI: field errors as `field: message`.
    pub fn one_line(&self) -> String {
        match self {
            CampaignError::Invalid(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }

    /// Whether the caller can mend this (a 4xx), as opposed to our fault.
    pub fn is_callers(&self) -> bool {
        !matches!(self, CampaignError::Internal(_))
    }
}

impl From<DbError> for CampaignError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Query(diesel::result::Error::NotFound) => {
                CampaignError::NotFound { what: "resource" }
            }
            other => CampaignError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel::result::Error> for CampaignError {
    fn from(e: diesel::result::Error) -> Self {
        CampaignError::from(DbError::from(e))
    }
}

impl From<DomainError> for CampaignError {
    fn from(e: DomainError) -> Self {
        CampaignError::Invalid(vec![e.into()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let all = [
            CampaignError::not_found("case"),
            CampaignError::Forbidden,
            CampaignError::Invalid(vec![]),
            CampaignError::SlugTaken {
                what: "case",
                slug: "x".into(),
            },
            CampaignError::ListNameTaken { name: "x".into() },
            CampaignError::UserEmailTaken,
            CampaignError::AlertNotDraft,
            CampaignError::AlertNotPaused,
            CampaignError::AlertNotAwaitingApproval,
            CampaignError::UnreadableFile("x".into()),
            CampaignError::NoEmailColumn,
            CampaignError::TooLarge,
            CampaignError::Internal(anyhow::anyhow!("x")),
        ];
        let mut codes: Vec<&str> = all.iter().map(|e| e.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}

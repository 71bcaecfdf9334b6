//! The one error type of the domain layer.

/// Why a value from outside was refused.
///
/// The `Display` text is meant for the person filling in the form: show it
/// next to the field as it is. [`DomainError::field`] names the field the
/// error belongs to, for layers that place messages themselves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// A required value was empty (or only whitespace).
    #[error("This field is required")]
    Empty {
        /// Field the error belongs to.
        field: &'static str,
    },

    /// More characters than the field allows.
    #[error("Use at most {max} characters")]
    TooLong {
        /// Field the error belongs to.
        field: &'static str,
        /// The largest allowed number of characters.
        max: usize,
    },

    /// Fewer characters than the field needs.
    #[error("Use at least {min} characters")]
    TooShort {
        /// Field the error belongs to.
        field: &'static str,
        /// The smallest allowed number of characters.
        min: usize,
    },

    /// A line break in a single-line field.
    #[error("Keep this to a single line")]
    LineBreak {
        /// Field the error belongs to.
        field: &'static str,
    },

    /// A control character or an invisible formatting character (such as a
    /// bidirectional override).
    #[error("Remove invisible or control characters")]
    ControlCharacter {
        /// Field the error belongs to.
        field: &'static str,
    },

    /// Not an email address we accept.
    #[error("Enter an email address like name@example.org")]
    InvalidEmail,

    /// Not an officially assigned ISO 3166-1 alpha-2 code.
    #[error("Enter a two-letter country code such as KG")]
    InvalidCountry,

    /// Not a valid slug.
    #[error("Use only lowercase letters, digits and single hyphens, like free-them-now")]
    InvalidSlug,

    /// A character that does not belong in a person's name.
    #[error(
        "Use letters, digits, spaces and the punctuation names carry, such as ' - . , ( ) \" &"
    )]
    InvalidName {
        /// Field the error belongs to.
        field: &'static str,
    },

    /// Text that looks like a web address, an email address, markup or a
    /// MIME encoded word, where a name was expected.
    #[error("Enter a name, not a web or email address")]
    LooksLikeLink {
        /// Field the error belongs to.
        field: &'static str,
    },

    /// Not a postcode we accept.
    #[error("Enter a postcode using only letters, digits, spaces and hyphens")]
    InvalidPostcode,

    /// Not an id (a UUID) of the thing named.
    #[error("No {what} has this id.")]
    InvalidId {
        /// What the id should name ("petition").
        what: &'static str,
    },

    /// Not one of a fixed set of words (a status, a role).
    #[error("Must be one of: {}.", allowed.join(", "))]
    InvalidChoice {
        /// What the word should be ("petition status").
        what: &'static str,
        /// The words accepted.
        allowed: &'static [&'static str],
    },
}

impl DomainError {
    /// The name of the field this error belongs to, as passed to the parser
    /// (`"email"`, `"country"`, `"slug"`, `"postcode"` for the fixed ones).
    pub fn field(&self) -> &'static str {
        match self {
            DomainError::Empty { field }
            | DomainError::TooLong { field, .. }
            | DomainError::TooShort { field, .. }
            | DomainError::LineBreak { field }
            | DomainError::ControlCharacter { field }
            | DomainError::InvalidName { field }
            | DomainError::LooksLikeLink { field } => field,
            DomainError::InvalidEmail => "email",
            DomainError::InvalidCountry => "country",
            DomainError::InvalidSlug => "slug",
            DomainError::InvalidPostcode => "postcode",
            DomainError::InvalidId { what } | DomainError::InvalidChoice { what, .. } => what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_for_people() {
        assert_eq!(
            DomainError::InvalidEmail.to_string(),
            "Enter an email address like name@example.org"
        );
        assert_eq!(
            DomainError::InvalidCountry.to_string(),
            "Enter a two-letter country code such as KG"
        );
        assert_eq!(
            DomainError::TooLong {
                field: "comment",
                max: 1000
            }
            .to_string(),
            "Use at most 1000 characters"
        );
    }

    #[test]
    fn field_names() {
        assert_eq!(DomainError::InvalidEmail.field(), "email");
        assert_eq!(DomainError::Empty { field: "title" }.field(), "title");
        assert_eq!(
            DomainError::TooLong {
                field: "comment",
                max: 3
            }
            .field(),
            "comment"
        );
    }
}

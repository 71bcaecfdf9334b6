//! Domain types for Clarion: parse, don't validate.
//!
//! # Policy
//!
//! * The domain knows nothing of HTTP or SQL. Nothing in this module imports
//!   a web framework, a database driver or a template engine; those layers
//!   depend on the domain, never the other way round.
//! * Every value that comes from outside (form field, JSON body, CSV import,
//!   command-line argument) is parsed **once, at the edge**, into one of the
//!   types below. From then on the type itself is the proof that the value is
//!   well formed, so no code further in re-checks or re-normalises it.
//! * Each type has exactly one way in: its `parse` function (also reachable
//!   through `FromStr`, `TryFrom` and serde's `Deserialize`, which all call
//!   `parse`). There is no constructor that skips the checks.
//! * [`Email::parse`] is *the* normalisation of email addresses for the whole
//!   project. Deduplication of signatures relies on every address having gone
//!   through it; do not lowercase or trim addresses anywhere else.
//! * Errors are [`DomainError`]s whose `Display` text is written for the
//!   person filling in the form, so the web layer can show it next to the
//!   field unchanged.
//! * Types holding personal data (`Email`, `PersonName`, `Comment`) have a
//!   `Debug` that does not print the value, so an accidental `{:?}` in a log
//!   line does not leak who signed what. Use `Display` / `as_str()` where the
//!   real value is needed, and [`Email::mask`] for logs; text from outside
//!   that may quote addresses (an SMTP reply) goes through
//!   [`mask_addresses`] before it is logged.

/// Implements the string-like traits shared by every newtype here:
/// `Display`, `AsRef<str>`, `FromStr`, `TryFrom<&str>`, `TryFrom<String>`,
/// `From<T> for String`, and serde `Serialize`/`Deserialize` as a plain
/// string. Deserialising goes through `parse`, so the invariants hold for
/// values that arrive as JSON too.
macro_rules! string_newtype {
    ($ty:ident) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::convert::AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = super::DomainError;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $ty {
            type Error = super::DomainError;
            fn try_from(s: &str) -> ::std::result::Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $ty {
            type Error = super::DomainError;
            fn try_from(s: String) -> ::std::result::Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl ::std::convert::From<$ty> for String {
            fn from(v: $ty) -> String {
                v.as_str().to_owned()
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                Self::parse(&s).map_err(::serde::de::Error::custom)
            }
        }
    };
}

mod country;
mod email;
mod error;
mod ids;
pub mod ledger;
mod mask;
mod name;
mod slug;
mod status;
pub mod text;

pub use country::CountryCode;
pub use email::Email;
pub use error::DomainError;
pub use ids::{
    AlertId, CaseId, DeliveryId, ListId, PetitionId, SignatureId, SupporterId, TokenId, UserId,
};
pub use mask::mask_addresses;
pub use name::{Comment, PersonName, Postcode};
pub use slug::Slug;
pub use status::{
    AlertStatus, CaseStatus, DeliveryKind, DeliveryStatus, PetitionStatus, Role, SignatureStatus,
    SupporterStatus,
};
pub use text::{multi_line, single_line};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn no_line_breaks(s: &str) -> bool {
        !s.contains('\r') && !s.contains('\n')
    }

    /// Arbitrary strings, and strings built from pieces that each parser
    /// accepts with line breaks mixed in, so the `Ok` paths get exercised.
    fn inputs() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just("ann".to_owned()),
                    Just("@example.org".to_owned()),
                    Just("kg".to_owned()),
                    Just("free-them".to_owned()),
                    Just("SW1A 1AA".to_owned()),
                    Just(" ".to_owned()),
                    Just("\r".to_owned()),
                    Just("\n".to_owned()),
                    Just("\r\n".to_owned()),
                    Just("\u{2028}".to_owned()),
                    Just("\u{85}".to_owned()),
                    "[a-zа-я]{1,5}",
                ],
                0..8,
            )
            .prop_map(|v| v.concat()),
        ]
    }

    proptest! {
        #[test]
        fn no_parser_yields_cr_or_lf(s in inputs()) {
            if let Ok(v) = Email::parse(&s) { prop_assert!(no_line_breaks(v.as_str())); }
            if let Ok(v) = CountryCode::parse(&s) { prop_assert!(no_line_breaks(v.as_str())); }
            if let Ok(v) = Slug::parse(&s) { prop_assert!(no_line_breaks(v.as_str())); }
            if let Ok(v) = PersonName::parse(&s) { prop_assert!(no_line_breaks(v.as_str())); }
            if let Ok(v) = Postcode::parse(&s) { prop_assert!(no_line_breaks(v.as_str())); }
            if let Ok(v) = single_line(&s, "f", 200) { prop_assert!(no_line_breaks(&v)); }
            // The multi-line parsers may keep '\n', never '\r'.
            if let Ok(v) = Comment::parse(&s) { prop_assert!(!v.as_str().contains('\r')); }
            if let Ok(v) = multi_line(&s, "f", 200) { prop_assert!(!v.contains('\r')); }
        }
    }
}

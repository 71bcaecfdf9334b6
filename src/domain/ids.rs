//! Typed ids: one newtype per thing an id can name, so a supporter's id can
//! never stand where a petition's belongs.
//!
//! Ids are UUIDs (v7, so they sort by creation) kept in their canonical text
//! form, which is also how they are stored. [`DeliveryId`] is the exception:
//! deliveries are numbered by the database.

use uuid::Uuid;

use super::DomainError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// What this id names, in the campaigners' words ("petition").
            pub const WHAT: &'static str = $what;

            /// A fresh id (UUID v7: ids sort by creation time).
            pub fn new() -> $ty {
                $ty(Uuid::now_v7().to_string())
            }

            /// A UUID in any form `uuid` accepts, kept in canonical form.
            pub fn parse(s: &str) -> Result<$ty, DomainError> {
                Uuid::parse_str(s.trim())
                    .map(|u| $ty(u.hyphenated().to_string()))
                    .map_err(|_| DomainError::InvalidId { what: $what })
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// Reads as its text wherever a `&str` is wanted (a form value, a
        /// log field); one id type still cannot stand for another.
        impl ::std::ops::Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Default for $ty {
            fn default() -> $ty {
                $ty::new()
            }
        }

        string_newtype!($ty);
    };
}

uuid_id!(
    /// A case: the person or situation a campaign is about.
    CaseId,
    "case"
);
uuid_id!(
    /// A petition, always of one case.
    PetitionId,
    "petition"
);
uuid_id!(
    /// One signature of one petition.
    SignatureId,
    "signature"
);
uuid_id!(
    /// A supporter: one person, known by their address.
    SupporterId,
    "supporter"
);
uuid_id!(
    /// A list of supporters.
    ListId,
    "list"
);
uuid_id!(
    /// An urgent-action alert.
    AlertId,
    "alert"
);
uuid_id!(
    /// A console user.
    UserId,
    "user"
);
uuid_id!(
    /// An API token (its row, never its secret).
    TokenId,
    "token"
);

/// One queued message: numbered by the database in order of queueing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct DeliveryId(pub i64);

impl std::fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_to_their_canonical_form_and_refuse_anything_else() {
        let id = PetitionId::new();
        assert_eq!(PetitionId::parse(id.as_str()).unwrap(), id);
        assert_eq!(
            PetitionId::parse(&id.as_str().to_uppercase()).unwrap(),
            id,
            "upper case is the same UUID"
        );
        assert_eq!(
            PetitionId::parse("nope"),
            Err(DomainError::InvalidId { what: "petition" })
        );
        assert!(CaseId::parse("").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Ids come in paths and forms: any text is parsed without a panic,
        /// and an accepted id is the canonical lowercase hyphenated form,
        /// accepted again as it is.
        #[test]
        fn any_text_parses_to_a_canonical_id_or_none(s in proptest::prelude::any::<String>()) {
            if let Ok(id) = SupporterId::parse(&s) {
                let v = id.as_str();
                proptest::prop_assert_eq!(v.len(), 36);
                proptest::prop_assert!(v.bytes().all(|b| (b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) || b == b'-'));
                proptest::prop_assert_eq!(SupporterId::parse(v), Ok(id.clone()));
            }
        }

        #[test]
        fn every_spelling_of_a_uuid_names_the_same_id(
            bytes in proptest::prelude::any::<[u8; 16]>(),
            upper in proptest::prelude::any::<bool>(),
        ) {
            let u = uuid::Uuid::from_bytes(bytes);
            let canonical = u.hyphenated().to_string();
            for spelling in [u.simple().to_string(), u.braced().to_string(), u.urn().to_string(), format!(" {canonical} ")] {
                let spelling = if upper { spelling.to_uppercase() } else { spelling };
                proptest::prop_assert_eq!(CaseId::parse(&spelling).map(|id| id.as_str().to_string()), Ok(canonical.clone()));
            }
        }
    }
}

//! URL slugs for campaigns and actions.

use std::fmt;

use super::DomainError;

/// A URL slug such as `free-them-now`: 3..=64 characters, lowercase ASCII
/// letters, digits and single hyphens, neither starting nor ending with a
/// hyphen. Safe to put in a URL path unescaped.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slug(String);

impl Slug {
    /// Shortest slug accepted, in characters.
    pub const MIN_LEN: usize = 3;
    /// Longest slug accepted, in characters.
    pub const MAX_LEN: usize = 64;

    /// Parses a slug. Surrounding whitespace is trimmed; nothing else is
    /// rewritten (an uppercase letter is refused, not lowercased, so that a
    /// slug has exactly one spelling).
    pub fn parse(input: &str) -> Result<Slug, DomainError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(DomainError::Empty { field: "slug" });
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(DomainError::InvalidSlug);
        }
        // ASCII only from here, so bytes are characters.
        if s.len() < Self::MIN_LEN {
            return Err(DomainError::TooShort {
                field: "slug",
                min: Self::MIN_LEN,
            });
        }
        if s.len() > Self::MAX_LEN {
            return Err(DomainError::TooLong {
                field: "slug",
                max: Self::MAX_LEN,
            });
        }
        if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
            return Err(DomainError::InvalidSlug);
        }
        Ok(Slug(s.to_owned()))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Slug").field(&self.0).finish()
    }
}

string_newtype!(Slug);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts() {
        for s in [
            "abc",
            "free-them-now",
            "a-b",
            "2024",
            "kg-2024-azimjan",
            &"a".repeat(64),
        ] {
            assert_eq!(Slug::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(Slug::parse(" free-them \n").unwrap().as_str(), "free-them");
    }

    #[test]
    fn refuses() {
        assert_eq!(Slug::parse(""), Err(DomainError::Empty { field: "slug" }));
        assert_eq!(
            Slug::parse("ab"),
            Err(DomainError::TooShort {
                field: "slug",
                min: 3
            })
        );
        assert_eq!(
            Slug::parse(&"a".repeat(65)),
            Err(DomainError::TooLong {
                field: "slug",
                max: 64
            })
        );
        for s in [
            "-abc",
            "abc-",
            "a--b",
            "Free-them",
            "free_them",
            "free them",
            "free.them",
            "свобода",
            "abc/def",
            "a\nbc",
            "éte",
            "---",
        ] {
            assert!(Slug::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let s = Slug::parse("free-them").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"free-them\"");
        assert!(serde_json::from_str::<Slug>("\"Free-them\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>()) {
            if let Ok(slug) = Slug::parse(&s) {
                let v = slug.as_str();
                prop_assert!((Slug::MIN_LEN..=Slug::MAX_LEN).contains(&v.len()));
                prop_assert!(!v.contains('\r') && !v.contains('\n'));
                prop_assert_eq!(Slug::parse(v), Ok(slug.clone()));
            }
        }

        #[test]
        fn well_formed_slugs_are_accepted(s in "[a-z0-9]{3,10}(-[a-z0-9]{1,10}){0,4}") {
            prop_assert!(Slug::parse(&s).is_ok());
        }

        #[test]
        fn accepted_slugs_are_well_formed(s in "[a-z0-9-]{0,70}") {
            let ok = Slug::parse(&s).is_ok();
            let expected = (3..=64).contains(&s.len())
                && !s.starts_with('-') && !s.ends_with('-') && !s.contains("--");
            prop_assert_eq!(ok, expected);
        }
    }
}

//! Every status, role and kind the service stores, as enums: a new variant is
//! a compile error wherever it is not handled.
//!
//! Each is stored and shown as the same lowercase word it always was
//! ([`as_str`](CaseStatus::as_str)); `parse` is the one way back in.

use super::DomainError;

macro_rules! word_enum {
    ($(#[$doc:meta])* $ty:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {
            $($(#[$vdoc])* $variant),+
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word),+
                }
            }

            pub fn parse(s: &str) -> Result<$ty, DomainError> {
                match s {
                    $($word => Ok($ty::$variant),)+
                    _ => Err(DomainError::InvalidChoice {
                        what: $what,
                        allowed: &[$($word),+],
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with the stored word (`status == "open"`).
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<$ty, DomainError> {
                $ty::parse(s)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                $ty::parse(&s).map_err(::serde::de::Error::custom)
            }
        }
    };
}

word_enum!(
    /// Where a case stands.
    CaseStatus, "case status" {
        Open = "open",
        Resolved = "resolved",
        Closed = "closed",
    }
);

word_enum!(
    /// Whether a petition is shown and signable.
    PetitionStatus, "petition status" {
        /// Not public yet: its page is a 404.
        Draft = "draft",
        Open = "open",
        /// Shown, no longer signable.
        Closed = "closed",
    }
);

word_enum!(
    /// A signature counts once confirmed.
    SignatureStatus, "signature status" {
        Pending = "pending",
        Confirmed = "confirmed",
    }
);

word_enum!(
    /// Whether a supporter may be mailed.
    SupporterStatus, "supporter status" {
        Active = "active",
        Unsubscribed = "unsubscribed",
        /// Their mailbox refused mail for good.
        Bounced = "bounced",
        /// Their personal data is gone; their signatures still count.
        Erased = "erased",
    }
);

word_enum!(
    /// An alert's life: drafted, sent once, finished or stopped.
    AlertStatus, "alert status" {
        Draft = "draft",
        /// Sent by its author where four eyes are required: waits for
        /// another campaigner's approval before its audience is taken.
        AwaitingApproval = "awaiting_approval",
        /// Takes its audience and starts sending at its `send_at`.
        Scheduled = "scheduled",
        Sending = "sending",
        /// Stopped by itself (complaints passed their limit) until resumed;
        /// its undelivered messages are held.
        Paused = "paused",
        Sent = "sent",
        Cancelled = "cancelled",
    }
);

word_enum!(
    /// A queued message's state.
    DeliveryStatus, "delivery status" {
        Queued = "queued",
        /// Leased by a worker.
        Sending = "sending",
        /// Waiting for its alert or its domain to be resumed; not claimed.
        Held = "held",
        Sent = "sent",
        Failed = "failed",
        /// Not to be sent: the alert was cancelled, or the person left.
        Cancelled = "cancelled",
        /// Not made by its alert's `send_by`, so never made.
        Expired = "expired",
    }
);

word_enum!(
    /// What a queued message is.
    DeliveryKind, "delivery kind" {
        /// One copy of an alert to one supporter.
        Alert = "alert",
        /// A `[TEST]` copy of an alert to an address a campaigner typed.
        Test = "test",
        /// The mail that asks a signer to confirm.
        Confirmation = "confirmation",
        /// The short mail with a counted signature's receipt code.
        Receipt = "receipt",
    }
);

word_enum!(
    /// Roles in increasing power: each may do everything the one before may.
    Role, "role" {
        /// Reads everything and exports.
        Organiser = "organiser",
        /// Also writes cases, petitions, lists, supporters and alerts, and sends.
        Campaigner = "campaigner",
        /// Also erases supporters and manages users.
        Admin = "admin",
    }
);

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Organiser => 0,
            Role::Campaigner => 1,
            Role::Admin => 2,
        }
    }
}

impl PartialOrd for Role {
    fn partial_cmp(&self, other: &Role) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Role {
    fn cmp(&self, other: &Role) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl SupporterStatus {
    /// Whether alerts may go to someone in this status (who also needs an
    /// address): the one definition of "active" for the audience, the
    /// claim-time check and previews.
    pub fn mailable(self) -> bool {
        match self {
            SupporterStatus::Active => true,
            SupporterStatus::Unsubscribed | SupporterStatus::Bounced | SupporterStatus::Erased => {
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_parses_back_to_its_value() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()), Ok(*s));
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Ok(*s));
        }
        for s in Role::ALL {
            assert_eq!(Role::parse(s.as_str()), Ok(*s));
        }
        assert_eq!(
            PetitionStatus::parse("published").unwrap_err().to_string(),
            "Must be one of: draft, open, closed."
        );
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Organiser < Role::Campaigner && Role::Campaigner < Role::Admin);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Statuses and roles arrive as query parameters and JSON: any text
        /// is parsed without a panic, and only the exact stored word is
        /// accepted.
        #[test]
        fn only_the_exact_word_is_accepted(
            s in "[a-z_ A-Z]{0,20}|\\PC{0,10}",
        ) {
            if let Ok(v) = SignatureStatus::parse(&s) {
                proptest::prop_assert_eq!(v.as_str(), s.as_str());
            }
            if let Ok(v) = Role::parse(&s) {
                proptest::prop_assert_eq!(v.as_str(), s.as_str());
            }
            if let Ok(v) = AlertStatus::parse(&s) {
                proptest::prop_assert_eq!(v.as_str(), s.as_str());
            }
            if let Ok(v) = SupporterStatus::parse(&s) {
                proptest::prop_assert_eq!(v.as_str(), s.as_str());
            }
        }
    }
}

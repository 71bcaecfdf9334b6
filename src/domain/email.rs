//! Email addresses, and the one place they are normalised.

use std::fmt;

use super::DomainError;

/// Longest address accepted, in bytes: the 256-octet SMTP path limit of
/// RFC 5321 §4.5.3.1.3 less the two angle brackets.
const MAX_LEN: usize = 254;
/// Longest local part (before the `@`), in bytes (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_LEN: usize = 64;
/// Longest domain label, in bytes (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// ASCII characters allowed in a local part besides letters, digits and the
/// dot: the `atext` specials of RFC 5322 §3.2.3. Quoted local parts
/// (`"john doe"@example.org`) are not accepted.
const LOCAL_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

/// An email address, parsed and normalised.
///
/// Built only by [`Email::parse`], which is **the** normalisation of email
/// addresses for the whole project: signatures are deduplicated on the
/// normalised form, so every address must come through here and nothing
/// else may lowercase, trim or otherwise rewrite addresses.
///
/// `Debug` prints the masked form (see [`Email::mask`]); `Display`,
/// `as_str()` and serde give the full address.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

impl Email {
    /// Parses and normalises an email address.
    ///
    /// Normalisation:
    ///
    /// * Surrounding whitespace is trimmed (Unicode whitespace included, so a
    ///   no-break space pasted from a document goes too).
    /// * The **whole** address is lowercased. The domain part is
    ///   case-insensitive by RFC 5321 §2.4. The local part technically is
    ///   case-sensitive, but no mainstream provider treats it so, and a
    ///   person must be able to sign a petition only once: `Ann@x.org` and
    ///   `ann@x.org` are the same signer.
    /// * Nothing else. In particular Gmail-style dot and `+tag` stripping is
    ///   **not** done: on other providers `j.smith` and `jsmith`, or
    ///   `ann+work` and `ann`, can be different mailboxes belonging to
    ///   different people, and merging them would silently drop a real
    ///   person's signature.
    ///
    /// After normalisation the address is refused if it:
    ///
    /// * is empty, longer than 254 bytes, or has a local part longer than 64
    ///   bytes;
    /// * does not have exactly one `@`;
    /// * contains whitespace, a control character (CR and LF included), an
    ///   invisible formatting character, or any of `<>()[],;:"\`;
    /// * has a local part that starts or ends with `.` or contains `..`, or
    ///   that contains anything but letters (of any script), digits, `.` and
    ///   ``!#$%&'*+-/=?^_`{|}~``;
    /// * has a domain without a dot, with an empty label, a label longer than
    ///   63 bytes, a label starting or ending with `-`, a label with anything
    ///   but letters (of any script, for internationalised domain names),
    ///   digits and `-`, or an all-digit top-level label.
    ///
    /// Checks run on the normalised form, so `parse` is idempotent:
    /// `Email::parse(e.as_str()) == Ok(e)` for every parsed `e`.
    pub fn parse(input: &str) -> Result<Email, DomainError> {
        let normalised = input.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(DomainError::InvalidEmail);
        }
        if normalised.len() > MAX_LEN {
            return Err(DomainError::TooLong {
                field: "email",
                max: MAX_LEN,
            });
        }
        if normalised.chars().any(|c| {
            c.is_whitespace()
                || super::text::is_forbidden_control(c)
                || matches!(
                    c,
                    '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '"' | '\\'
                )
        }) {
            return Err(DomainError::InvalidEmail);
        }

        let mut parts = normalised.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(DomainError::InvalidEmail);
        };

        if !valid_local(local) || !valid_domain(domain) {
            return Err(DomainError::InvalidEmail);
        }
        Ok(Email(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.split().0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.split().1
    }

    /// The address masked for logs: `ursula@example.org` becomes
    /// `u***@e***.org` — first character of the local part, `***@`, first
    /// character of the domain, `***`, then the top-level label with its dot.
    pub fn mask(&self) -> String {
        let (local, domain) = self.split();
        // parse guarantees a non-empty local part and a domain with at least
        // one dot and no empty label, so these never fall back.
        let first_local = local.chars().next().unwrap_or('?');
        let first_domain = domain.chars().next().unwrap_or('?');
        let tld = domain.rsplit('.').next().unwrap_or("");
        format!("{first_local}***@{first_domain}***.{tld}")
    }

    fn split(&self) -> (&str, &str) {
        // Exactly one '@' is an invariant of the type.
        self.0.split_once('@').unwrap_or((&self.0, ""))
    }
}

fn valid_local(local: &str) -> bool {
    if local.is_empty() || local.len() > MAX_LOCAL_LEN {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    local.chars().all(|c| {
        if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == '.' || LOCAL_SPECIALS.contains(c)
        } else {
            // Internationalised local parts (RFC 6531): letters and digits of
            // any script.
            c.is_alphanumeric()
        }
    })
}

fn valid_domain(domain: &str) -> bool {
    if !domain.contains('.') {
        return false;
    }
    let mut labels = domain.split('.').peekable();
    while let Some(label) = labels.next() {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return false;
        }
        if label.starts_with('-') || label.ends_with('-') {
            return false;
        }
        // Letters and digits of any script (IDN in its Unicode form), and '-'.
        if !label.chars().all(|c| c == '-' || c.is_alphanumeric()) {
            return false;
        }
        let is_tld = labels.peek().is_none();
        if is_tld && label.chars().all(|c| c.is_ascii_digit()) {
            // "1.2.3.4" is an IP address, not a domain; IP literals are
            // written in brackets, which are refused anyway.
            return false;
        }
    }
    true
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.mask()).finish()
    }
}

string_newtype!(Email);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> String {
        match Email::parse(s) {
            Ok(e) => e.as_str().to_owned(),
            Err(err) => panic!("{s:?} refused: {err}"),
        }
    }

    fn bad(s: &str) {
        assert!(Email::parse(s).is_err(), "{s:?} accepted");
    }

    #[test]
    fn accepts_ordinary_addresses() {
        assert_eq!(ok("name@example.org"), "name@example.org");
        assert_eq!(
            ok("first.last@sub.example.co.uk"),
            "first.last@sub.example.co.uk"
        );
        assert_eq!(ok("a@b.cd"), "a@b.cd");
        assert_eq!(ok("x_y-z@my-domain.kg"), "x_y-z@my-domain.kg");
        assert_eq!(ok("o'brien@example.ie"), "o'brien@example.ie");
        assert_eq!(
            ok("a!#$%&'*+-/=?^_`{|}~b@example.org"),
            "a!#$%&'*+-/=?^_`{|}~b@example.org"
        );
        assert_eq!(ok("user@123.example"), "user@123.example");
    }

    #[test]
    fn trims_and_lowercases_everything() {
        assert_eq!(ok("  Ann.Lee@Example.ORG \n"), "ann.lee@example.org");
        assert_eq!(
            ok("\u{00A0}\u{3000}bob@example.org\u{2003}"),
            "bob@example.org"
        );
        assert_eq!(ok("\tBOB@EXAMPLE.ORG\r\n"), "bob@example.org");
    }

    #[test]
    fn no_gmail_dot_or_plus_stripping() {
        assert_eq!(
            ok("J.Smith+petitions@gmail.com"),
            "j.smith+petitions@gmail.com"
        );
        assert_ne!(
            Email::parse("j.smith@example.org"),
            Email::parse("jsmith@example.org")
        );
        assert_ne!(
            Email::parse("ann+work@example.org"),
            Email::parse("ann@example.org")
        );
    }

    #[test]
    fn internationalised_addresses() {
        assert_eq!(ok("Иван@Почта.РФ"), "иван@почта.рф");
        assert_eq!(ok("user@münchen.de"), "user@münchen.de");
        assert_eq!(ok("user@xn--mnchen-3ya.de"), "user@xn--mnchen-3ya.de");
        assert_eq!(ok("用户@例子.中国"), "用户@例子.中国");
    }

    #[test]
    fn refuses_structural_errors() {
        for s in [
            "",
            "   ",
            "plainaddress",
            "@example.org",
            "name@",
            "name@@example.org",
            "a@b@example.org",
            "name@localhost",
            "name@example",
            "name@.example.org",
            "name@example.org.",
            "name@example..org",
            "name@-example.org",
            "name@example-.org",
            "name@exa_mple.org",
            "name@exa+mple.org",
            "name@1.2.3.4",
            "name@[1.2.3.4]",
            ".name@example.org",
            "name.@example.org",
            "na..me@example.org",
            "name@example.org\u{3002}com",
        ] {
            bad(s);
        }
    }

    #[test]
    fn refuses_forbidden_characters() {
        for s in [
            "na me@example.org",
            "name@exa mple.org",
            "name\r\n@example.org",
            "name@example.org\r\nBcc: victim@example.org",
            "name\n@example.org",
            "na\tme@example.org",
            "na\u{0}me@example.org",
            "na\u{7F}me@example.org",
            "na\u{85}me@example.org",
            "na\u{00A0}me@example.org",
            "na\u{200B}me@example.org",
            "na\u{202E}me@example.org",
            "na\u{FEFF}me@example.org",
            "<name@example.org>",
            "Name <name@example.org>",
            "name(comment)@example.org",
            "name@[example].org",
            "a,b@example.org",
            "a;b@example.org",
            "a:b@example.org",
            "\"john doe\"@example.org",
            "a\\b@example.org",
            "na😀me@example.org",
            "name@exa😀mple.org",
        ] {
            bad(s);
        }
    }

    #[test]
    fn length_limits() {
        let local64 = "a".repeat(64);
        assert!(Email::parse(&format!("{local64}@example.org")).is_ok());
        bad(&format!("{local64}b@example.org"));

        let label63 = "b".repeat(63);
        assert!(Email::parse(&format!("a@{label63}.org")).is_ok());
        bad(&format!("a@{label63}c.org"));

        // 254 bytes exactly: 64 + 1 + 189
        let domain = format!(
            "{}.{}.{}.org",
            "c".repeat(61),
            "d".repeat(61),
            "e".repeat(61)
        );
        assert_eq!(domain.len(), 189);
        let max = format!("{local64}@{domain}");
        assert_eq!(max.len(), 254);
        assert!(Email::parse(&max).is_ok());
        let over = format!("{local64}@x{domain}");
        assert_eq!(
            Email::parse(&over),
            Err(DomainError::TooLong {
                field: "email",
                max: 254
            })
        );
    }

    #[test]
    fn mask_for_logs() {
        let e = Email::parse("ursula@example.org").unwrap();
        assert_eq!(e.mask(), "u***@e***.org");
        let e = Email::parse("a@mail.example.co.uk").unwrap();
        assert_eq!(e.mask(), "a***@m***.uk");
        let e = Email::parse("иван@почта.рф").unwrap();
        assert_eq!(e.mask(), "и***@п***.рф");
        assert_eq!(format!("{e:?}"), "Email(\"и***@п***.рф\")");
    }

    #[test]
    fn accessors_and_traits() {
        let e: Email = " Ann@Example.org ".parse().unwrap();
        assert_eq!(e.as_str(), "ann@example.org");
        assert_eq!(e.local_part(), "ann");
        assert_eq!(e.domain(), "example.org");
        assert_eq!(e.to_string(), "ann@example.org");
        let r: &str = e.as_ref();
        assert_eq!(r, "ann@example.org");
        assert_eq!(String::from(e.clone()), "ann@example.org");
        assert_eq!(Email::try_from("ann@example.org".to_owned()), Ok(e));
    }

    #[test]
    fn serde_round_trip() {
        let e = Email::parse("Ann@Example.org").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"ann@example.org\"");
        let back: Email = serde_json::from_str("\" ANN@example.org\"").unwrap();
        assert_eq!(back, e);
        let err = serde_json::from_str::<Email>("\"not an email\"").unwrap_err();
        assert!(err.to_string().contains("Enter an email address"));
    }

    fn near_email() -> impl Strategy<Value = String> {
        (
            "[ \t\u{A0}]{0,2}",
            "[A-Za-z0-9._%+'!ÄÖÜäöüßİıΣσςЖж-]{0,20}",
            prop_oneof![Just("@"), Just("@@"), Just(""), Just("@ ")],
            "[A-Za-z0-9ÀÉéİЖж.-]{0,20}",
            prop_oneof![Just(".org"), Just(".RU"), Just(".рф"), Just(""), Just(".1")],
            "[ \r\n]{0,2}",
        )
            .prop_map(|(a, b, c, d, e, f)| format!("{a}{b}{c}{d}{e}{f}"))
    }

    fn check_invariants(input: &str) -> Result<(), TestCaseError> {
        if let Ok(e) = Email::parse(input) {
            let s = e.as_str();
            prop_assert_eq!(Email::parse(s), Ok(e.clone()));
            prop_assert!(!s.contains('\r') && !s.contains('\n'));
            prop_assert!(!s.chars().any(|c| c.is_control() || c.is_whitespace()));
            prop_assert_eq!(s.matches('@').count(), 1);
            prop_assert!(s.len() <= MAX_LEN);
            prop_assert_eq!(s.to_lowercase(), s);
            let m = e.mask();
            prop_assert!(m.contains("***@") && m.contains("***."));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_strings(s in any::<String>()) {
            check_invariants(&s)?;
        }

        #[test]
        fn idempotent_on_near_valid_input(s in near_email()) {
            check_invariants(&s)?;
        }

        #[test]
        fn valid_shapes_are_accepted(
            local in "[a-z0-9]([a-z0-9_+-]{0,10}[a-z0-9])?",
            host in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
            tld in "[a-z]{2,6}",
        ) {
            let addr = format!("{local}@{host}.{tld}");
            prop_assert_eq!(Email::parse(&addr.to_uppercase()).map(|e| e.as_str().to_owned()), Ok(addr));
        }
    }
}

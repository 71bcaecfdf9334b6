//! What a signer tells us about themselves: name, postcode, comment.

use std::fmt;

use super::text::{is_forbidden_control, is_line_break, multi_line};
use super::DomainError;

/// A first name or a last name, as a person wrote it.
///
/// Built only by [`PersonName::parse`]. Holds 1..=100 characters as the
/// person wrote them (contract §7): letters of any script (with their
/// combining marks), digits, single spaces and the punctuation real names
/// carry (`Smith, Jr.`, `Louis 14`, `Ann-Marie "Annie" O'Neil`,
/// `Müller (geb. Schmidt)`); at least one letter; no control or invisible
/// formatting characters; nothing that looks like a link, an address, markup
/// or a MIME encoded word. Names go into emails to authorities and onto
/// public signature lists, so they must not be able to carry a link or a
/// header injection: whatever is accepted is escaped in HTML, quoted in
/// headers and formula-guarded in CSV where it is shown.
///
/// `Debug` does not print the name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersonName(String);

impl PersonName {
    /// Longest name accepted, in characters.
    pub const MAX_LEN: usize = 100;

    const FIELD: &'static str = "name";

    /// Parses a first or last name.
    ///
    /// Trims surrounding whitespace and turns every run of inner spaces
    /// (no-break and ideographic spaces included) into one ordinary space.
    /// Refuses:
    ///
    /// * an empty name, or one longer than 100 characters (counted as
    ///   `char`s, not bytes);
    /// * control characters, tab, CR, LF, U+2028/U+2029, bidirectional
    ///   controls (U+202A–U+202E, U+2066–U+2069, LRM, RLM, ALM) and other
    ///   invisible characters (zero-width space, BOM, soft hyphen, word
    ///   joiner);
    /// * `://`, `www.`, `@`, `<`, `>` (links, addresses, markup) and `=?`
    ///   (a MIME encoded word, which a mail client would decode);
    /// * any character other than letters, combining marks, digits, spaces,
    ///   apostrophes (`'`, `’`, `ʼ`, `‘`), hyphens and dashes (`-`, `‐`,
    ///   `‑`, `–`), dots (`.`, `·`, `・`), commas, brackets, quotation marks
    ///   (`"`, `“`, `”`, `„`, `«`, `»`) and `&`: emoji, `!`, `_`, `/`, `;`,
    ///   `=`, `%`, `$`, `#` and the like are refused;
    /// * a name without any letter.
    pub fn parse(input: &str) -> Result<PersonName, DomainError> {
        let field = Self::FIELD;
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(DomainError::Empty { field });
        }
        if trimmed
            .chars()
            .any(|c| is_forbidden_control(c) || is_line_break(c))
        {
            return Err(DomainError::ControlCharacter { field });
        }
        let lower = trimmed.to_lowercase();
        if ["://", "www.", "@", "<", ">", "=?"]
            .iter()
            .any(|needle| lower.contains(needle))
        {
            return Err(DomainError::LooksLikeLink { field });
        }

        let mut name = String::with_capacity(trimmed.len());
        let mut last_was_space = false;
        for c in trimmed.chars() {
            if c.is_whitespace() {
                if !last_was_space {
                    name.push(' ');
                }
                last_was_space = true;
                continue;
            }
            last_was_space = false;
            if !is_name_char(c) {
                return Err(DomainError::InvalidName { field });
            }
            name.push(c);
        }
        if !name.chars().any(char::is_alphabetic) {
            return Err(DomainError::InvalidName { field });
        }
        if name.chars().count() > Self::MAX_LEN {
            return Err(DomainError::TooLong {
                field,
                max: Self::MAX_LEN,
            });
        }
        Ok(PersonName(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Letters of any script, the marks that go with them, digits, and the
/// punctuation names carry. Spaces are handled by the caller.
fn is_name_char(c: char) -> bool {
    if c.is_alphabetic() || c.is_numeric() {
        return true;
    }
    if matches!(
        c,
        '\'' | '\u{2019}' | '\u{02BC}' | '\u{2018}' // apostrophes: ' ’ ʼ ‘
            | '-' | '\u{2010}' | '\u{2011}' | '\u{2013}' // hyphen-minus, hyphen, non-breaking hyphen, en dash
            | '.' | '\u{00B7}' | '\u{30FB}' // full stop, middle dot (Catalan), katakana middle dot
            | ',' | '(' | ')' | '&' // "Smith, Jr.", "Müller (geb. Schmidt)", "Ann & Lee"
            | '"' | '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}' // quotation marks: " “ ” „ « »
            | '\u{200C}' | '\u{200D}' // ZWNJ, ZWJ: needed in Persian and Indic names
    ) {
        return true;
    }
    is_combining_mark_like(c)
}

/// Combining marks are not `Alphabetic` in Unicode, yet names in many
/// scripts need them (a decomposed "é", a Devanagari virama, Arabic
/// harakat, Hebrew points, kana voicing marks). Without a Unicode tables
/// crate we accept the non-numeric characters of the combining-mark blocks
/// and of the Brahmic script blocks, whose non-letters are almost all marks.
fn is_combining_mark_like(c: char) -> bool {
    if c.is_numeric() {
        return false;
    }
    matches!(
        c,
        '\u{0300}'..='\u{036F}'     // combining diacritical marks
            | '\u{0483}'..='\u{0489}' // Cyrillic combining marks
            | '\u{0591}'..='\u{05C7}' // Hebrew points and accents
            | '\u{0610}'..='\u{061A}' // Arabic marks
            | '\u{064B}'..='\u{065F}'
            | '\u{0670}'
            | '\u{06D6}'..='\u{06DC}'
            | '\u{06DF}'..='\u{06E4}'
            | '\u{06E7}'..='\u{06E8}'
            | '\u{06EA}'..='\u{06ED}'
            | '\u{0730}'..='\u{074A}' // Syriac marks
            | '\u{0900}'..='\u{0DFF}' // Devanagari … Sinhala
            | '\u{0E00}'..='\u{0EFF}' // Thai, Lao
            | '\u{0F71}'..='\u{0FBC}' // Tibetan vowel signs and subjoined letters
            | '\u{1000}'..='\u{109F}' // Myanmar
            | '\u{1780}'..='\u{17FF}' // Khmer
            | '\u{1AB0}'..='\u{1AFF}' // combining diacritical marks extended
            | '\u{1DC0}'..='\u{1DFF}' // combining diacritical marks supplement
            | '\u{3099}'..='\u{309A}' // kana voicing marks
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FE20}'..='\u{FE2F}' // combining half marks
            | '\u{E0100}'..='\u{E01EF}' // ideographic variation selectors (CJK names)
    )
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName(<{} chars>)", self.0.chars().count())
    }
}

string_newtype!(PersonName);

/// A postcode, such as `SW1A 1AA`, `720001` or `1010-123`.
///
/// Built only by [`Postcode::parse`] (or [`Postcode::parse_optional`] for the
/// optional form field). Holds 1..=16 characters: ASCII letters (uppercased),
/// digits, single spaces and hyphens, with at least one letter or digit.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Postcode(String);

impl Postcode {
    /// Longest postcode accepted, in characters.
    pub const MAX_LEN: usize = 16;

    /// Parses a postcode: trims, uppercases ASCII letters, turns runs of
    /// inner spaces into one, then requires 1..=16 characters of ASCII
    /// letters, digits, spaces and hyphens, at least one a letter or digit.
    /// An empty value is an error; use [`Postcode::parse_optional`] for the
    /// optional field.
    pub fn parse(input: &str) -> Result<Postcode, DomainError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(DomainError::Empty { field: "postcode" });
        }
        let mut code = String::with_capacity(trimmed.len());
        let mut last_was_space = false;
        for c in trimmed.chars() {
            match c {
                ' ' => {
                    if !last_was_space {
                        code.push(' ');
                    }
                    last_was_space = true;
                    continue;
                }
                c if c.is_ascii_alphanumeric() || c == '-' => code.push(c.to_ascii_uppercase()),
                _ => return Err(DomainError::InvalidPostcode),
            }
            last_was_space = false;
        }
        if !code.bytes().any(|b| b.is_ascii_alphanumeric()) {
            return Err(DomainError::InvalidPostcode);
        }
        // ASCII only, so bytes are characters.
        if code.len() > Self::MAX_LEN {
            return Err(DomainError::TooLong {
                field: "postcode",
                max: Self::MAX_LEN,
            });
        }
        Ok(Postcode(code))
    }

    /// Parses the optional postcode field: blank (empty or whitespace) is
    /// `Ok(None)`, anything else goes through [`Postcode::parse`].
    pub fn parse_optional(input: &str) -> Result<Option<Postcode>, DomainError> {
        if input.trim().is_empty() {
            Ok(None)
        } else {
            Postcode::parse(input).map(Some)
        }
    }

    /// The postcode.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Postcode").field(&self.0).finish()
    }
}

string_newtype!(Postcode);

/// A signer's free-text comment: at most 1000 characters, may span lines.
///
/// Built only by [`Comment::parse`] (or [`Comment::parse_optional`]). Line
/// endings are normalised to `\n`; the only control characters it can hold
/// are `\n` and `\t`. See [`multi_line`](super::text::multi_line).
///
/// `Debug` does not print the text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Comment(String);

impl Comment {
    /// Longest comment accepted, in characters.
    pub const MAX_LEN: usize = 1000;

    /// Parses a comment through [`multi_line`](super::text::multi_line):
    /// CRLF, CR, NEL, U+2028 and U+2029 become `\n`, surrounding whitespace
    /// is trimmed, other control characters are refused, 1..=1000
    /// characters. An empty value is an error; use
    /// [`Comment::parse_optional`] for the optional field.
    pub fn parse(input: &str) -> Result<Comment, DomainError> {
        multi_line(input, "comment", Self::MAX_LEN).map(Comment)
    }

    /// Parses the optional comment field: blank is `Ok(None)`, anything
    /// else goes through [`Comment::parse`].
    pub fn parse_optional(input: &str) -> Result<Option<Comment>, DomainError> {
        match Comment::parse(input) {
            Ok(c) => Ok(Some(c)),
            Err(DomainError::Empty { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The comment.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Comment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Comment(<{} chars>)", self.0.chars().count())
    }
}

string_newtype!(Comment);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(s: &str) -> String {
        match PersonName::parse(s) {
            Ok(n) => n.as_str().to_owned(),
            Err(e) => panic!("{s:?} refused: {e}"),
        }
    }

    #[test]
    fn names_of_every_script() {
        for s in [
            "Ann",
            "Ann-Marie",
            "O'Brien",
            "O’Brien",
            "d'Artagnan",
            "J. R. R.",
            "van der Berg",
            "Azimjan",
            "Азимжан",
            "Аскаров",
            "Müller",
            "Ærøskøbing",
            "Þórunn",
            "Łukasz",
            "Nguyễn",
            "محمد",
            "مهدی\u{200C}زاده",
            "דוד",
            "שָׁלוֹם",
            "王秀英",
            "山田",
            "辻\u{E0100}",
            "김민준",
            "लक्ष्मी",
            "ரமேஷ்",
            "สมชาย",
            "ქეთევანი",
            "Արամ",
            "Ἀλέξανδρος",
            "Gal·la",
            "ジョン・スミス",
            "Jose\u{301}",
            "ʻIolani",
            "Nāʼālehu",
        ] {
            assert_eq!(name(s), s);
        }
    }

    #[test]
    fn names_are_trimmed_and_spaces_collapsed() {
        assert_eq!(name("  Ann   Lee \n"), "Ann Lee");
        assert_eq!(name("山田\u{3000}太郎"), "山田 太郎");
        assert_eq!(name("Ann\u{00A0}Lee"), "Ann Lee");
    }

    #[test]
    fn name_length_counts_chars() {
        let hundred = "Ж".repeat(100); // 200 bytes
        assert_eq!(name(&hundred), hundred);
        assert_eq!(
            PersonName::parse(&"Ж".repeat(101)),
            Err(DomainError::TooLong {
                field: "name",
                max: 100
            })
        );
        assert_eq!(
            PersonName::parse("  "),
            Err(DomainError::Empty { field: "name" })
        );
    }

    #[test]
    fn names_refuse_controls_and_invisibles() {
        for s in [
            "Ann\nLee",
            "Ann\rLee",
            "Ann\r\nBcc: x@example.org",
            "Ann\tLee",
            "Ann\u{2028}Lee",
            "Ann\u{2029}Lee",
            "Ann\u{85}Lee",
            "Ann\u{0}",
            "Ann\u{1B}[2J",
            "Ann\u{202A}Lee",
            "Ann\u{202B}Lee",
            "Ann\u{202C}Lee",
            "Ann\u{202D}Lee",
            "Ann\u{202E}eeL",
            "Ann\u{2066}Lee",
            "Ann\u{2067}Lee",
            "Ann\u{2068}Lee",
            "Ann\u{2069}Lee",
            "Ann\u{200F}",
            "Ann\u{200B}Lee",
            "\u{FEFF}Ann",
        ] {
            assert_eq!(
                PersonName::parse(s),
                Err(DomainError::ControlCharacter { field: "name" }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn names_refuse_links_and_encoded_words() {
        for s in [
            "http://evil.example",
            "Visit HTTPS://x",
            "www.example",
            "WWW.Example",
            "ann@example",
            "<b>Ann</b>",
            "Ann>",
            "=?utf-8?b?QW5u?=",
            "=?",
        ] {
            assert_eq!(
                PersonName::parse(s),
                Err(DomainError::LooksLikeLink { field: "name" }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn names_refuse_other_characters() {
        for s in [
            "Ann!",
            "Ann_Lee",
            "Ann/Lee",
            "Ann;",
            "Ann😀",
            "Ann=Lee",
            "Ann%20",
            "Ann$",
            "Ann#",
            "١٢٣",
            "14",
            "(1)",
            "...",
            "-",
            "' - .",
            "Ann\u{2063}",
        ] {
            let r = PersonName::parse(s);
            assert!(
                matches!(
                    r,
                    Err(DomainError::InvalidName { .. } | DomainError::ControlCharacter { .. })
                ),
                "{s:?}: {r:?}"
            );
        }
    }

    #[test]
    fn names_as_people_write_them() {
        for s in [
            "Smith, Jr.",
            "Louis 14",
            "Ann-Marie \"Annie\" O'Neil",
            "Müller (geb. Schmidt)",
            "Ann & Lee",
            "«Айгуль»",
            "R2D2",
            "Jean–Luc",
        ] {
            assert_eq!(name(s), s, "{s:?}");
        }
    }

    #[test]
    fn name_debug_hides_the_name() {
        let n = PersonName::parse("Azimjan").unwrap();
        assert_eq!(format!("{n:?}"), "PersonName(<7 chars>)");
        assert_eq!(n.to_string(), "Azimjan");
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"Azimjan\"");
        assert!(serde_json::from_str::<PersonName>("\"www.x\"").is_err());
    }

    #[test]
    fn postcodes() {
        let p = |s: &str| Postcode::parse(s).map(|p| p.as_str().to_owned());
        assert_eq!(p(" sw1a  1aa ").unwrap(), "SW1A 1AA");
        assert_eq!(p("720001").unwrap(), "720001");
        assert_eq!(p("1010-123").unwrap(), "1010-123");
        assert_eq!(p("K1A 0B1").unwrap(), "K1A 0B1");
        assert_eq!(p("1234567890123456").unwrap().len(), 16);
        assert_eq!(
            p("12345678901234567"),
            Err(DomainError::TooLong {
                field: "postcode",
                max: 16
            })
        );
        assert_eq!(p(""), Err(DomainError::Empty { field: "postcode" }));
        for s in [
            "12\n34",
            "12\t34",
            "12_34",
            "12/34",
            "۱۲۳",
            "١٢٣",
            "ПР 1",
            "-",
            "- -",
            "12\u{A0}34",
        ] {
            assert_eq!(p(s), Err(DomainError::InvalidPostcode), "{s:?}");
        }
    }

    #[test]
    fn optional_postcode() {
        assert_eq!(Postcode::parse_optional(""), Ok(None));
        assert_eq!(Postcode::parse_optional("  \t"), Ok(None));
        assert_eq!(
            Postcode::parse_optional("ab1"),
            Ok(Some(Postcode::parse("AB1").unwrap()))
        );
        assert_eq!(
            Postcode::parse_optional("a_b"),
            Err(DomainError::InvalidPostcode)
        );
    }

    #[test]
    fn comments() {
        let c = Comment::parse("  Free them!\r\nNow.\r\n").unwrap();
        assert_eq!(c.as_str(), "Free them!\nNow.");
        assert_eq!(format!("{c:?}"), "Comment(<15 chars>)");
        assert!(Comment::parse(&"ж".repeat(1000)).is_ok());
        assert_eq!(
            Comment::parse(&"ж".repeat(1001)),
            Err(DomainError::TooLong {
                field: "comment",
                max: 1000
            })
        );
        assert_eq!(
            DomainError::TooLong {
                field: "comment",
                max: 1000
            }
            .to_string(),
            "Use at most 1000 characters"
        );
        assert_eq!(
            Comment::parse("a\u{7}b"),
            Err(DomainError::ControlCharacter { field: "comment" })
        );
        assert_eq!(
            Comment::parse("a\u{202E}b"),
            Err(DomainError::ControlCharacter { field: "comment" })
        );
        assert_eq!(Comment::parse_optional(" \r\n "), Ok(None));
        assert!(Comment::parse_optional("x").unwrap().is_some());
        assert!(Comment::parse_optional("\u{0}").is_err());
    }

    fn near_name() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                6 => "[A-Za-zÀ-ÿА-Яа-яא-תا-ي一-龥]",
                1 => Just(" ".to_owned()),
                1 => Just("'".to_owned()),
                1 => Just("-".to_owned()),
                1 => Just(".".to_owned()),
                1 => "[\t\r\n\u{0}\u{85}\u{2028}\u{2029}\u{202A}-\u{202E}\u{2066}-\u{2069}\u{A0}\u{3000}]",
                1 => "[@<>:/=?w0-9\u{300}-\u{36F}\u{900}-\u{97F}]",
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    fn check_name(s: &str) -> Result<(), TestCaseError> {
        if let Ok(n) = PersonName::parse(s) {
            let v = n.as_str();
            prop_assert!(!v.chars().any(|c| c.is_control()));
            prop_assert!(!v.chars().any(is_forbidden_control));
            prop_assert!(!v.chars().any(is_line_break));
            prop_assert!(!v.contains('\r') && !v.contains('\n'));
            prop_assert!(!v.contains("  "));
            prop_assert_eq!(v.trim(), v);
            prop_assert!((1..=PersonName::MAX_LEN).contains(&v.chars().count()));
            prop_assert!(
                !v.contains('@') && !v.contains('<') && !v.contains('>') && !v.contains("=?")
            );
            prop_assert_eq!(PersonName::parse(v), Ok(n.clone()));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn name_never_panics(s in any::<String>()) {
            check_name(&s)?;
        }

        #[test]
        fn name_invariants_on_near_names(s in near_name()) {
            check_name(&s)?;
        }

        #[test]
        fn postcode_never_panics(s in any::<String>()) {
            if let Ok(p) = Postcode::parse(&s) {
                let v = p.as_str();
                prop_assert!(v.len() <= Postcode::MAX_LEN);
                prop_assert!(v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'-'));
                prop_assert!(!v.contains('\r') && !v.contains('\n'));
                prop_assert_eq!(Postcode::parse(v), Ok(p.clone()));
            }
            let _ = Postcode::parse_optional(&s);
        }

        #[test]
        fn postcode_shapes(s in "[ a-zA-Z0-9-]{0,20}") {
            match Postcode::parse_optional(&s) {
                Ok(Some(p)) => prop_assert!(p.as_str().len() <= 16),
                Ok(None) => prop_assert!(s.trim().is_empty()),
                Err(e) => {
                    let expected = matches!(e, DomainError::TooLong { .. } | DomainError::InvalidPostcode);
                    prop_assert!(expected, "{:?}", e);
                }
            }
        }

        #[test]
        fn comment_never_panics(s in any::<String>()) {
            if let Ok(c) = Comment::parse(&s) {
                let v = c.as_str();
                prop_assert!(!v.contains('\r'));
                prop_assert!(v.chars().count() <= Comment::MAX_LEN);
                prop_assert!(!v.chars().any(|c| c != '\n' && c != '\t' && is_forbidden_control(c)));
                prop_assert_eq!(Comment::parse(v), Ok(c.clone()));
            }
            let _ = Comment::parse_optional(&s);
        }
    }
}

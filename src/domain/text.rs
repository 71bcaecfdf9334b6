//! Bounded free text: titles, subjects, bodies, comments.
//!
//! Two parsers, both returning an owned, normalised `String`:
//!
//! * [`single_line`] for titles, subjects and the like: trimmed, 1..=max
//!   characters, no control characters at all (no tab, no line break of any
//!   kind).
//! * [`multi_line`] for bodies and comments: line endings normalised to
//!   `\n`, tab allowed, every other control character refused.
//!
//! Lengths are counted in Unicode scalar values (`char`s), not bytes, after
//! normalisation, so "Use at most 200 characters" means what a person thinks
//! it means (near enough: a letter with a combining accent counts as two).
//!
//! Both silently drop a few invisible characters that turn up when text is
//! pasted from word processors and that carry no meaning in plain text: the
//! byte-order mark U+FEFF, zero-width space U+200B, word joiner U+2060 and
//! soft hyphen U+00AD. Bidirectional controls are refused, not dropped: they
//! can make text display differently from what it says.

use super::DomainError;

/// Bidirectional formatting characters: the embeddings and overrides
/// U+202A–U+202E, the isolates U+2066–U+2069, the marks LRM, RLM and ALM.
/// Used to disguise text ("Trojan Source"), so never accepted.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// A line break in any of its Unicode forms (LF, CR, VT, FF, NEL, LS, PS).
pub(crate) fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Invisible characters with no meaning in plain text, dropped from free
/// text (and refused in names and addresses, where being exact matters).
pub(crate) fn is_droppable_invisible(c: char) -> bool {
    matches!(c, '\u{FEFF}' | '\u{200B}' | '\u{2060}' | '\u{00AD}')
}

/// Characters that must never appear in a stored single-line value:
/// every `Cc` control character (C0, DEL, C1), the Unicode line and
/// paragraph separators, bidirectional controls, the invisible operators
/// U+2060–U+2064, the interlinear annotation characters U+FFF9–U+FFFB and
/// the droppable invisibles above.
pub(crate) fn is_forbidden_control(c: char) -> bool {
    c.is_control()
        || is_line_break(c)
        || is_bidi_control(c)
        || is_droppable_invisible(c)
        || matches!(c, '\u{2060}'..='\u{2064}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Parses a single-line text field such as a title or an email subject.
///
/// Drops the invisible characters listed in the module docs, trims
/// surrounding whitespace, then requires 1..=`max` characters and no control
/// characters at all (tab and every kind of line break included).
///
/// `field` names the field in the returned error.
pub fn single_line(input: &str, field: &'static str, max: usize) -> Result<String, DomainError> {
    let cleaned: String = input
        .chars()
        .filter(|&c| !is_droppable_invisible(c))
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        return Err(DomainError::Empty { field });
    }
    if trimmed.chars().any(is_line_break) {
        return Err(DomainError::LineBreak { field });
    }
    if trimmed.chars().any(is_forbidden_control) {
        return Err(DomainError::ControlCharacter { field });
    }
    if trimmed.chars().count() > max {
        return Err(DomainError::TooLong { field, max });
    }
    Ok(trimmed.to_owned())
}

/// Parses a multi-line text field such as a petition body or a comment.
///
/// Normalises every line ending (CRLF, lone CR, NEL, U+2028, U+2029) to
/// `\n`, drops the invisible characters listed in the module docs, trims
/// surrounding whitespace, then requires 1..=`max` characters and no control
/// characters other than `\n` and `\t`.
///
/// The result never contains `\r`.
///
/// `field` names the field in the returned error.
pub fn multi_line(input: &str, field: &'static str, max: usize) -> Result<String, DomainError> {
    let mut normalised = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                // CRLF becomes one \n, a lone CR too.
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                normalised.push('\n');
            }
            '\u{85}' | '\u{2028}' | '\u{2029}' => normalised.push('\n'),
            c if is_droppable_invisible(c) => {}
            c => normalised.push(c),
        }
    }
    let trimmed = normalised.trim();
    if trimmed.is_empty() {
        return Err(DomainError::Empty { field });
    }
    if trimmed
        .chars()
        .any(|c| c != '\n' && c != '\t' && is_forbidden_control(c))
    {
        return Err(DomainError::ControlCharacter { field });
    }
    if trimmed.chars().count() > max {
        return Err(DomainError::TooLong { field, max });
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_line_trims_and_keeps_inner_spaces() {
        assert_eq!(
            single_line("  Free  them now \u{3000}", "title", 50).unwrap(),
            "Free  them now"
        );
    }

    #[test]
    fn single_line_counts_chars_not_bytes() {
        let ru = "Свободу узникам совести"; // 23 chars, 43 bytes
        assert_eq!(ru.chars().count(), 23);
        assert!(single_line(ru, "title", 23).is_ok());
        assert_eq!(
            single_line(ru, "title", 22),
            Err(DomainError::TooLong {
                field: "title",
                max: 22
            })
        );
    }

    #[test]
    fn single_line_refuses_empty() {
        for s in ["", "   ", "\u{FEFF}", " \u{200B} "] {
            assert_eq!(
                single_line(s, "subject", 10),
                Err(DomainError::Empty { field: "subject" }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn single_line_refuses_line_breaks() {
        for s in [
            "a\nb",
            "a\r\nb",
            "a\rb",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{85}b",
            "a\u{0B}b",
            "a\u{0C}b",
        ] {
            assert_eq!(
                single_line(s, "subject", 10),
                Err(DomainError::LineBreak { field: "subject" }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn single_line_refuses_controls() {
        for s in [
            "a\tb",
            "a\u{0}b",
            "a\u{7F}b",
            "a\u{1B}[31mb",
            "a\u{9B}b",
            "a\u{202E}b",
            "a\u{2066}b",
            "a\u{200F}b",
            "a\u{2062}b",
        ] {
            assert_eq!(
                single_line(s, "subject", 10),
                Err(DomainError::ControlCharacter { field: "subject" }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn single_line_drops_pasted_invisibles() {
        assert_eq!(
            single_line("\u{FEFF}Hel\u{AD}lo\u{200B}", "title", 10).unwrap(),
            "Hello"
        );
    }

    #[test]
    fn multi_line_normalises_line_endings() {
        assert_eq!(
            multi_line("a\r\nb\rc\u{2028}d\u{85}e\n\tf", "body", 100).unwrap(),
            "a\nb\nc\nd\ne\n\tf"
        );
    }

    #[test]
    fn multi_line_trims_and_counts_after_normalising() {
        assert_eq!(multi_line("\r\n  hi \r\n", "body", 2).unwrap(), "hi");
        // "a\r\nb" is three characters once normalised.
        assert!(multi_line("a\r\nb", "body", 3).is_ok());
        assert_eq!(
            multi_line("a\r\nbc", "body", 3),
            Err(DomainError::TooLong {
                field: "body",
                max: 3
            })
        );
    }

    #[test]
    fn multi_line_refuses_other_controls() {
        for s in ["a\u{0}b", "a\u{1B}b", "a\u{0B}b", "a\u{202D}b", "a\u{9F}b"] {
            assert_eq!(
                multi_line(s, "body", 10),
                Err(DomainError::ControlCharacter { field: "body" }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn multi_line_refuses_empty() {
        assert_eq!(
            multi_line("\r\n\t \n", "body", 10),
            Err(DomainError::Empty { field: "body" })
        );
    }

    proptest! {
        #[test]
        fn single_line_never_panics_and_has_no_controls(s in any::<String>(), max in 0usize..300) {
            if let Ok(v) = single_line(&s, "f", max) {
                prop_assert!(!v.is_empty());
                prop_assert!(v.chars().count() <= max);
                prop_assert!(!v.chars().any(is_forbidden_control));
                prop_assert!(!v.contains('\r') && !v.contains('\n'));
                prop_assert_eq!(single_line(&v, "f", max), Ok(v.clone()));
            }
        }

        #[test]
        fn multi_line_never_panics_and_has_no_cr(s in any::<String>(), max in 0usize..300) {
            if let Ok(v) = multi_line(&s, "f", max) {
                prop_assert!(!v.is_empty());
                prop_assert!(v.chars().count() <= max);
                prop_assert!(!v.contains('\r'));
                prop_assert!(!v.chars().any(|c| c != '\n' && c != '\t' && is_forbidden_control(c)));
                prop_assert_eq!(multi_line(&v, "f", max), Ok(v.clone()));
            }
        }

        #[test]
        fn multi_line_accepts_ordinary_lines(lines in proptest::collection::vec("[a-zA-Zа-яА-Я0-9 ,.!?]{1,20}", 1..8)) {
            let joined = lines.join("\r\n");
            if let Ok(v) = multi_line(&joined, "f", 1000) {
                prop_assert!(!v.contains('\r'));
            }
        }
    }
}

//! Masking addresses in text that comes from outside (an SMTP server's
//! reply, a transport error) before it reaches a log line or a stored
//! `last_error`: such text quotes the refused address back
//! (`550 5.1.1 <bob@example.org>: Recipient address rejected`), and a log is
//! no place to learn who supports a case.
//!
//! Every addr-spec found is masked to its first character, `***@` and the
//! domain (`b***@example.org`): the domain stays because it tells an
//! operator which receiving system refused, and it names nobody on the big
//! providers. The scan errs on the side of masking: anything that looks like
//! `local@domain` is masked, whether or not it is a deliverable address.

use std::borrow::Cow;

/// Quoted local parts (`"ann smith"@example.org`) are looked for this far
/// back, in bytes: RFC 5321's 64-byte local part and its quotes, with room
/// for escapes. Bounding it keeps a text of many quotes and `@`s linear.
const MAX_QUOTED_LOCAL: usize = 160;

/// `text` with every address in it masked; unchanged (and not copied) when
/// it holds none.
pub fn mask_addresses(text: &str) -> Cow<'_, str> {
    if !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // Bytes of `text` before `done` are in `out` already.
    let mut done = 0;
    let mut search_from = 0;
    while let Some(rel) = text[search_from..].find('@') {
        let at = search_from + rel;
        search_from = at + 1;
        let Some(start) = local_start(text, done, at) else {
            continue;
        };
        let end = domain_end(text, at + 1);
        if end == at + 1 {
            continue;
        }
        out.push_str(&text[done..start]);
        // The first letter or digit tells two refusals apart in a log; a
        // local part without one (`***`, already masked) stays as it is,
        // and so does one right after another `@`, which it would
        // otherwise give a domain.
        let first = text[start..at].chars().find(|c| c.is_alphanumeric());
        if let (Some(first), false) = (first, text[..start].ends_with('@')) {
            out.push(first);
        }
        out.push_str("***@");
        out.push_str(&text[at + 1..end]);
        done = end;
        search_from = end;
    }
    if done == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

/// A character of an unquoted local part: RFC 5322 `atext` and the dot, and
/// letters and digits of any script (RFC 6531).
fn is_local_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
    } else {
        c.is_alphanumeric()
    }
}

/// A character of a domain: letters and digits of any script, `-` and `.`.
fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '.'
}

/// Where the local part ending at `at` starts (not before `floor`), or
/// `None` when nothing that could be a local part stands before the `@`.
fn local_start(text: &str, floor: usize, at: usize) -> Option<usize> {
    let before = &text[floor..at];
    if let Some(inner) = before.strip_suffix('"') {
        // A quoted local part: back to the opening quote, skipping escaped
        // ones (`\"`).
        let lowest = inner.len().saturating_sub(MAX_QUOTED_LOCAL);
        let mut i = inner.len();
        while let Some(q) = inner[..i].rfind('"') {
            if q < lowest {
                break;
            }
            let escapes = inner[..q].bytes().rev().take_while(|&b| b == b'\\').count();
            if escapes % 2 == 0 {
                // Whatever runs into the opening quote goes with it, so
                // that the masked text holds no longer local part.
                return Some(local_run_start(text, floor, floor + q).unwrap_or(floor + q));
            }
            i = q;
        }
        // An unbalanced quote: mask what stands before it.
        return local_run_start(text, floor, at - 1);
    }
    local_run_start(text, floor, at)
}

/// The start of the run of local-part characters that ends at `end`, not
/// before `floor`; `None` when the run is empty.
fn local_run_start(text: &str, floor: usize, end: usize) -> Option<usize> {
    text[floor..end]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_local_char(c))
        .last()
        .map(|(i, _)| floor + i)
}

/// The end of the domain starting at `from`: an address literal in
/// brackets, or a run of domain characters without its trailing dots and
/// hyphens (the full stop that ends a sentence is not part of the domain).
fn domain_end(text: &str, from: usize) -> usize {
    let rest = &text[from..];
    if rest.starts_with('[') {
        if let Some(close) = rest.find(']') {
            if rest[1..close]
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | 'v' | 'V'))
            {
                return from + close + 1;
            }
        }
    }
    let run: usize = rest
        .chars()
        .take_while(|&c| is_domain_char(c))
        .map(char::len_utf8)
        .sum();
    from + rest[..run].trim_end_matches(['.', '-']).len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(s: &str) -> String {
        mask_addresses(s).into_owned()
    }

    #[test]
    fn masks_the_address_an_smtp_reply_quotes_back() {
        assert_eq!(
            m("permanent error (550): 5.1.1 <bob@example.org>: Recipient address rejected"),
            "permanent error (550): 5.1.1 <b***@example.org>: Recipient address rejected"
        );
        assert_eq!(
            m("550 5.1.1 bob.smith+news@mail.example.co.uk... User unknown"),
            "550 5.1.1 b***@mail.example.co.uk... User unknown"
        );
        assert_eq!(
            m("RCPT TO:<Ann@Example.ORG> refused; also mailto:cy@x.kg."),
            "RCPT TO:<A***@Example.ORG> refused; also mailto:c***@x.kg."
        );
    }

    #[test]
    fn masks_every_address_of_a_text() {
        assert_eq!(
            m("a@b.org, c@d.org;e@f.org"),
            "a***@b.org, c***@d.org;e***@f.org"
        );
    }

    #[test]
    fn masks_quoted_literal_and_international_addresses() {
        assert_eq!(
            m(r#"550 <"ann smith"@example.org> unknown"#),
            "550 <a***@example.org> unknown"
        );
        assert_eq!(m(r#"<"a\"b c"@example.org>"#), "<a***@example.org>");
        assert_eq!(m("<root@[192.0.2.1]>"), "<r***@[192.0.2.1]>");
        assert_eq!(m("иван@почта.рф: нет"), "и***@почта.рф: нет");
        assert_eq!(m("'single'@example.org"), "s***@example.org");
        assert_eq!(m("bob\"@example.org"), "b***@example.org");
        assert_eq!(m("ab\"cd\"@x.org"), "a***@x.org");
        assert_eq!(m("a@\"b\"@x.org"), "a@***@x.org");
        assert_eq!(m("a@_b@x.org"), "a@***@x.org");
    }

    #[test]
    fn leaves_text_without_addresses_alone() {
        for s in [
            "421 4.7.28 try again later",
            "connect: Connection refused (os error 111)",
            "an @ sign alone",
            "trailing@",
            "@leading.example",
            "",
        ] {
            assert!(matches!(mask_addresses(s), Cow::Borrowed(_)), "{s:?}");
            assert_eq!(m(s), s);
        }
    }

    #[test]
    fn masking_twice_changes_nothing_more() {
        let once = m("550 5.1.1 <bob@example.org>");
        assert_eq!(m(&once), once);
    }

    fn local() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9][a-zA-Z0-9._%+'!#=-]{1,20}[a-zA-Z0-9]"
    }

    fn domain() -> impl Strategy<Value = String> {
        "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?){0,2}\\.[a-z]{2,6}"
    }

    /// Text an SMTP server might wrap an address in.
    fn surround() -> impl Strategy<Value = (String, String)> {
        let before = prop_oneof![
            Just(""),
            Just("550 5.1.1 <"),
            Just("RCPT TO:"),
            Just(" "),
            Just("\""),
            Just("("),
            Just("user "),
        ];
        let after = prop_oneof![
            Just(""),
            Just(">: unknown"),
            Just("... User unknown"),
            Just("."),
            Just(", "),
            Just(")"),
            Just(" is over quota"),
        ];
        (before, after).prop_map(|(b, a)| (b.to_string(), a.to_string()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics_and_is_idempotent(s in any::<String>()) {
            let once = m(&s);
            prop_assert_eq!(m(&once), once.clone());
        }

        #[test]
        fn never_panics_on_punctuation_soup(s in "[a-z@.\"\\\\\\[\\]<> -]{0,60}") {
            let once = m(&s);
            prop_assert_eq!(m(&once), once);
        }

        #[test]
        fn an_address_in_any_reply_loses_its_local_part(
            local in local(),
            domain in domain(),
            (before, after) in surround(),
        ) {
            let addr = format!("{local}@{domain}");
            let text = format!("{before}{addr}{after}");
            let masked = m(&text);
            prop_assert!(!masked.contains(&addr), "{} → {}", text, masked);
            prop_assert!(!masked.contains(&format!("{local}@")), "{} → {}", text, masked);
            let expected = format!("***@{domain}");
            prop_assert!(masked.contains(&expected), "{} → {}", text, masked);
        }
    }
}

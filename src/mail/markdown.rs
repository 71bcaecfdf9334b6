//! The campaigner writes an alert in Markdown. It becomes sanitised HTML for
//! the HTML part (pulldown-cmark, then ammonia, so no script, style, event
//! handler or remote form survives) and readable plain text for the text part.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

fn options() -> Options {
    Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES
}

/// Sanitised HTML. Links keep their href (http, https, mailto only) and get
/// `rel="noopener noreferrer"`.
pub fn to_html(markdown: &str) -> String {
    let mut raw = String::new();
    pulldown_cmark::html::push_html(&mut raw, Parser::new_ext(markdown, options()));
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .clean(&raw)
        .to_string()
}

/// Plain text: paragraphs separated by blank lines, list items with "- ",
/// links as "text (url)", emphasis dropped, raw HTML dropped.
pub fn to_text(markdown: &str) -> String {
    let mut out = String::new();
    let mut link_stack: Vec<String> = Vec::new();
    let mut list_depth = 0usize;
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(Tag::Link { dest_url, .. }) => link_stack.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = link_stack.pop() {
                    out.push_str(&format!(" ({url})"));
                }
            }
            Event::Start(Tag::Item) => {
                out.push_str(&"  ".repeat(list_depth.saturating_sub(1)));
                out.push_str("- ");
            }
            Event::End(TagEnd::Item) => ensure_newline(&mut out),
            Event::Start(Tag::List(_)) => {
                ensure_newline(&mut out);
                list_depth += 1;
            }
            Event::End(TagEnd::List(_)) => {
                list_depth = list_depth.saturating_sub(1);
                if list_depth == 0 {
                    out.push('\n');
                }
            }
            Event::Start(Tag::Heading { .. }) => ensure_blank_line(&mut out),
            Event::End(TagEnd::Heading(_)) | Event::End(TagEnd::Paragraph) => {
                if list_depth == 0 {
                    out.push_str("\n\n");
                } else {
                    ensure_newline(&mut out);
                }
            }
            Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => out.push('\n'),
            Event::End(TagEnd::TableCell) => out.push('\t'),
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Rule => out.push_str("----\n\n"),
            _ => {}
        }
    }
    let trimmed = out.trim_end();
    let mut s = trimmed.to_string();
    s.push('\n');
    // Collapse runs of blank lines.
    while s.contains("\n\n\n") {
        s = s.replace("\n\n\n", "\n\n");
    }
    s
}

fn ensure_newline(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn ensure_blank_line(out: &mut String) {
    ensure_newline(out);
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_handlers_do_not_survive() {
        let html = to_html(
            "Hi <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n**bold**",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
    }

    #[test]
    fn text_keeps_links_and_lists_readable() {
        let text =
            to_text("# Act now\n\nWrite to the [court](https://example.org/c).\n\n- one\n- two\n");
        assert!(
            text.contains("Act now\n\nWrite to the court (https://example.org/c)."),
            "{text}"
        );
        assert!(text.contains("- one\n- two"), "{text}");
        assert!(!text.contains('#') && !text.contains('['), "{text}");
    }

    /// Markdown a campaigner might paste, with the HTML and links an
    /// attacker would try.
    fn markdownish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![
                4 => "[A-Za-zА-я0-9 ]{0,12}",
                1 => "[*_#>`|\\[\\]()!-]{1,3}",
                1 => Just("\n".to_string()),
                1 => Just("\n\n".to_string()),
                1 => Just("<script>alert(1)</script>".to_string()),
                1 => Just("<img src=x onerror=alert(1)>".to_string()),
                1 => Just("[x](javascript:alert(1))".to_string()),
                1 => Just("<a href=\"javascript:alert(1)\" onclick=\"x()\">a</a>".to_string()),
                1 => Just("<style>body{}</style><iframe src=//x></iframe>".to_string()),
                1 => Just("<form action=//x><input></form>".to_string()),
                1 => Just("[ok](https://example.org/a?b=1)".to_string()),
                1 => Just("- item\n".to_string()),
                1 => Just("| a | b |\n|---|---|\n| 1 | 2 |\n".to_string()),
            ],
            0..25,
        )
        .prop_map(|parts| parts.concat())
    }

    /// Every tag of `html` (text is escaped, so each `<` opens one) is
    /// harmless: no script, style, frame or form element, no event-handler
    /// attribute, no javascript: URL.
    fn no_active_content(html: &str) -> bool {
        let lower = html.to_lowercase();
        lower.split('<').skip(1).all(|rest| {
            let tag = rest.split('>').next().unwrap_or("");
            let name = tag
                .trim_start_matches('/')
                .split([' ', '\n', '\t'])
                .next()
                .unwrap_or("");
            ![
                "script", "style", "iframe", "form", "input", "object", "embed",
            ]
            .contains(&name)
                && !tag.contains("javascript:")
                && tag
                    .split([' ', '\n', '\t'])
                    .skip(1)
                    .all(|a| !a.starts_with("on"))
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any text renders to HTML without a panic and without a script,
        /// a style, a frame, a form, an event handler or a javascript: link.
        #[test]
        fn any_text_renders_to_html_without_active_content(s in proptest::prelude::any::<String>()) {
            proptest::prop_assert!(no_active_content(&to_html(&s)));
        }

        #[test]
        fn markdown_with_attacks_renders_without_active_content(s in markdownish()) {
            let html = to_html(&s);
            proptest::prop_assert!(no_active_content(&html), "{:?} → {}", s, html);
        }

        /// The text part of any input ends in a line break and has no run
        /// of blank lines.
        #[test]
        fn any_text_renders_to_tidy_plain_text(s in markdownish()) {
            let text = to_text(&s);
            proptest::prop_assert!(text.ends_with('\n'));
            proptest::prop_assert!(!text.contains("\n\n\n"), "{:?}", text);
        }

        #[test]
        fn any_text_renders_to_text_without_a_panic(s in proptest::prelude::any::<String>()) {
            let text = to_text(&s);
            proptest::prop_assert!(text.ends_with('\n'));
        }
    }
}

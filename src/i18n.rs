//! Page strings in several languages, from `locales/*.toml` (embedded).
//!
//! Policy: every string a person reads on a public page comes from a locale
//! file; English is complete and the reference, every other locale must have
//! exactly the same keys (a unit test holds them to it). A page's locale is
//! chosen by `?lang=`, then `Accept-Language`, then the configured default.
//! The same API serves the web console later: [`Locale::negotiate`], then
//! [`Locale::strings`] for a template's `t` map or [`Locale::get`] for one
//! string.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A supported language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    En,
    Ru,
}

const EN_TOML: &str = include_str!("../locales/en.toml");
const RU_TOML: &str = include_str!("../locales/ru.toml");

pub type Strings = BTreeMap<String, String>;

fn parse(name: &str, text: &str) -> Strings {
    toml::from_str::<Strings>(text)
        .unwrap_or_else(|e| panic!("locales/{name}.toml is not a flat table of strings: {e}"))
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Ru];

    /// `"en"`, `"ru"`: the BCP 47 tag used in `lang=` attributes and `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Ru => "ru",
        }
    }

    /// The locale for a language tag (`ru`, `ru-RU`, `EN-gb`), if supported.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Locale::En),
            "ru" => Some(Locale::Ru),
            _ => None,
        }
    }

    /// Chooses a page's locale: an explicit `?lang=` first, then the best
    /// supported language of `Accept-Language` (by q-value, ties in header
    /// order), then `default`.
    pub fn negotiate(
        query_lang: Option<&str>,
        accept_language: Option<&str>,
        default: Locale,
    ) -> Locale {
        if let Some(l) = query_lang.and_then(Locale::from_tag) {
            return l;
        }
        if let Some(header) = accept_language {
            let mut best: Option<(f32, Locale)> = None;
            for part in header.split(',') {
                let mut bits = part.split(';');
                let tag = bits.next().unwrap_or("").trim();
                let q = bits
                    .filter_map(|b| b.trim().strip_prefix("q="))
                    .filter_map(|q| q.trim().parse::<f32>().ok())
                    .next()
                    .unwrap_or(1.0);
                if q <= 0.0 {
                    continue;
                }
                if let Some(l) = Locale::from_tag(tag) {
                    if best.is_none_or(|(bq, _)| q > bq) {
                        best = Some((q, l));
                    }
                }
            }
            if let Some((_, l)) = best {
                return l;
            }
        }
        default
    }

    /// Every string of this locale, for a template's `t`.
    pub fn strings(self) -> &'static Strings {
        static EN: OnceLock<Strings> = OnceLock::new();
        static RU: OnceLock<Strings> = OnceLock::new();
        match self {
            Locale::En => EN.get_or_init(|| parse("en", EN_TOML)),
            Locale::Ru => RU.get_or_init(|| parse("ru", RU_TOML)),
        }
    }

    /// One string; a missing key falls back to English, then to the key
    /// itself (the unit test makes both impossible for shipped files).
    pub fn get(self, key: &str) -> &'static str {
        self.strings()
            .get(key)
            .or_else(|| Locale::En.strings().get(key))
            .map(String::as_str)
            .unwrap_or_else(|| {
                tracing::warn!(key, "missing locale string");
                ""
            })
    }

    /// One string if this locale or English has it: for keys that may
    /// legitimately be absent (a translation of an error code).
    pub fn lookup(self, key: &str) -> Option<&'static str> {
        self.strings()
            .get(key)
            .or_else(|| Locale::En.strings().get(key))
            .map(String::as_str)
    }

    /// A string with `{name}` placeholders replaced.
    pub fn format(self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.get(key).to_string();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// A count written the local way: `12,345` in English, `12 345` in
    /// Russian (with a no-break space).
    pub fn number(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let sep = match self {
            Locale::En => ",",
            Locale::Ru => "\u{a0}",
        };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(sep);
            }
            out.push(c);
        }
        if n < 0 {
            out.insert(0, '-');
        }
        out
    }

    /// Name of a country in this locale, from its ISO code.
    pub fn country_name(self, code: &crate::domain::CountryCode) -> &'static str {
        match self {
            Locale::En => code.name_en(),
            Locale::Ru => code.name_ru(),
        }
    }

    /// Every country `(code, name)` sorted for this locale, for a `<select>`.
    pub fn countries(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Locale::En => crate::domain::CountryCode::all().collect(),
            Locale::Ru => crate::domain::CountryCode::all_ru().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_locale_has_exactly_the_english_keys_and_no_empty_string() {
        let en: Vec<&String> = Locale::En.strings().keys().collect();
        for l in Locale::ALL {
            let keys: Vec<&String> = l.strings().keys().collect();
            assert_eq!(keys, en, "locale {} keys differ from en", l.code());
            for (k, v) in l.strings() {
                assert!(!v.trim().is_empty(), "{}:{k} is empty", l.code());
            }
        }
    }

    #[test]
    fn lang_parameter_wins_then_accept_language_then_default() {
        let n = Locale::negotiate;
        assert_eq!(n(Some("ru"), Some("en"), Locale::En), Locale::Ru);
        assert_eq!(
            n(Some("xx"), Some("ru-RU,en;q=0.5"), Locale::En),
            Locale::Ru
        );
        assert_eq!(
            n(None, Some("de, en;q=0.4, ru;q=0.8"), Locale::En),
            Locale::Ru
        );
        assert_eq!(n(None, Some("ru;q=0, en-GB"), Locale::Ru), Locale::En);
        assert_eq!(n(None, Some("de-DE"), Locale::Ru), Locale::Ru);
        assert_eq!(n(None, None, Locale::En), Locale::En);
    }

    #[test]
    fn numbers_are_grouped_per_locale() {
        assert_eq!(Locale::En.number(1234567), "1,234,567");
        assert_eq!(Locale::En.number(999), "999");
        assert_eq!(Locale::Ru.number(10000), "10\u{a0}000");
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            Locale::En.format("err_too_long", &[("max", "5")]),
            "Use at most 5 characters"
        );
    }
}

//! Page and mail strings in several languages, from `locales/*.toml`
//! (embedded in the binary).
//!
//! Policy: the locale files *are* the list of languages. Adding one is adding
//! `locales/<tag>.toml` (and templates only if it needs its own): no Rust to
//! extend. English (`en.toml`) is complete and the reference; every other
//! file must have exactly the same flat keys (a unit test holds them to it).
//! Beside the strings, a file says what the code needs to know of its
//! language: `locale_name` (its own name, for the language menu),
//! `locale_dir` (`ltr` or `rtl`), `number_group_separator`,
//! `number_decimal_separator`, `number_percent`, and optionally a
//! `[countries]` table of country names by ISO code (without it, countries
//! show their English names).
//!
//! A page's locale is chosen by `?lang=`, then `Accept-Language`, then the
//! configured default ([`Locale::negotiate`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use rust_embed::RustEmbed;

use crate::domain::CountryCode;

#[derive(RustEmbed)]
#[folder = "locales/"]
struct Files;

pub type Strings = BTreeMap<String, String>;

/// One language as its file describes it.
struct Language {
    code: String,
    strings: Strings,
    countries: BTreeMap<CountryCode, String>,
    sorted_countries: OnceLock<Vec<(&'static str, &'static str)>>,
}

/// Every language, English first, then by tag. Read once from the embedded
/// files; a malformed shipped file is a bug caught by the unit tests, so it
/// panics with the file's name.
fn languages() -> &'static [Language] {
    static ALL: OnceLock<Vec<Language>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut files: Vec<String> = Files::iter()
            .filter(|f| f.ends_with(".toml"))
            .map(|f| f.to_string())
            .collect();
        files.sort_by_key(|f| (f != "en.toml", f.clone()));
        assert!(
            files.first().is_some_and(|f| f == "en.toml"),
            "locales/en.toml, the reference locale, is missing"
        );
        assert!(files.len() <= usize::from(u8::MAX), "too many locales");
        files
            .iter()
            .map(|f| {
                let text = Files::get(f).expect("listed file exists");
                let text = std::str::from_utf8(&text.data)
                    .unwrap_or_else(|_| panic!("locales/{f} is not UTF-8"));
                parse(f, text)
            })
            .collect()
    })
}

fn parse(file: &str, text: &str) -> Language {
    let table: toml::Table =
        toml::from_str(text).unwrap_or_else(|e| panic!("locales/{file} is not TOML: {e}"));
    let mut strings = Strings::new();
    let mut countries = BTreeMap::new();
    for (key, value) in table {
        match (key.as_str(), value) {
            ("countries", toml::Value::Table(names)) => {
                for (code, name) in names {
                    let code = CountryCode::parse(&code).unwrap_or_else(|_| {
                        panic!("locales/{file}: [countries] {code} is no country")
                    });
                    let toml::Value::String(name) = name else {
                        panic!("locales/{file}: [countries] {code} is not a string");
                    };
                    countries.insert(code, name);
                }
            }
            (_, toml::Value::String(s)) => {
                strings.insert(key, s);
            }
            _ => panic!("locales/{file}: {key} is neither a string nor the [countries] table"),
        }
    }
    Language {
        code: file.trim_end_matches(".toml").to_string(),
        strings,
        countries,
        sorted_countries: OnceLock::new(),
    }
}

/// A supported language: one of the locale files.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Locale(u8);

impl std::fmt::Debug for Locale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Locale({})", self.code())
    }
}

impl Locale {
    /// English: the reference locale, always present.
    pub const EN: Locale = Locale(0);

    fn language(self) -> &'static Language {
        &languages()[usize::from(self.0)]
    }

    /// Every supported locale, English first.
    pub fn all() -> impl Iterator<Item = Locale> {
        (0..languages().len()).map(|i| Locale(i as u8))
    }

    /// Its place among [`Locale::all`], for per-locale tables.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// `"en"`, `"ru"`: the BCP 47 tag used in `lang=` attributes and `?lang=`.
    pub fn code(self) -> &'static str {
        &self.language().code
    }

    /// The language's own name, for the language menu: `"Русский"`.
    pub fn name(self) -> &'static str {
        self.get("locale_name")
    }

    /// Whether the language is written right to left.
    pub fn is_rtl(self) -> bool {
        self.get("locale_dir") == "rtl"
    }

    /// `"ltr"` or `"rtl"`, for a `dir=` attribute.
    pub fn dir(self) -> &'static str {
        if self.is_rtl() {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// The locale for a language tag (`ru`, `ru-RU`, `EN-gb`), if supported.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Locale::all().find(|l| l.code() == primary)
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
        &self.language().strings
    }

    /// One string if this locale or English has it: for keys that may
    /// legitimately be absent (a translation of an error code).
    pub fn lookup(self, key: &str) -> Option<&'static str> {
        self.strings()
            .get(key)
            .or_else(|| Locale::EN.strings().get(key))
            .map(String::as_str)
    }

    /// One string; a missing key falls back to English, then to the key
    /// itself, logged (the unit test makes both impossible for shipped
    /// files, so a key only goes missing in an operator's edit).
    pub fn get(self, key: &str) -> &'static str {
        if let Some(s) = self.lookup(key) {
            return s;
        }
        tracing::warn!(key, "missing locale string");
        // Keys are few and fixed; leaking each missing one once is bounded.
        static MISSING: OnceLock<std::sync::Mutex<BTreeMap<String, &'static str>>> =
            OnceLock::new();
        let mut missing = MISSING
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        missing
            .entry(key.to_string())
            .or_insert_with(|| Box::leak(key.to_string().into_boxed_str()))
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
        let sep = self.get("number_group_separator");
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

    /// A rate with `places` decimals, written the local way: `1,234.5` in
    /// English, `1 234,5` in French (`number_decimal_separator`).
    pub fn decimal(self, x: f64, places: usize) -> String {
        let fixed = format!("{:.places$}", x.abs());
        let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, ""));
        let mut out = self.number(whole.parse().unwrap_or(0));
        if x < 0.0 && fixed.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            out.insert(0, '-');
        }
        if !fraction.is_empty() {
            out.push_str(self.get("number_decimal_separator"));
            out.push_str(fraction);
        }
        out
    }

    /// A whole per cent written the local way: `50%` in English, `50 %` in
    /// French (`number_percent`).
    pub fn percent(self, n: i64) -> String {
        self.format("number_percent", &[("n", &self.number(n))])
    }

    /// Name of a country in this locale, from its ISO code.
    pub fn country_name(self, code: &CountryCode) -> &'static str {
        self.language()
            .countries
            .get(code)
            .map(String::as_str)
            .unwrap_or_else(|| code.name_en())
    }

    /// Every country `(code, name)` sorted for this locale, for a `<select>`.
    pub fn countries(self) -> Vec<(&'static str, &'static str)> {
        if self.language().countries.is_empty() {
            return CountryCode::all().collect();
        }
        self.language()
            .sorted_countries
            .get_or_init(|| CountryCode::sorted_by(|c| self.country_name(&c)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ru() -> Locale {
        Locale::from_tag("ru").expect("ru.toml ships")
    }

    #[test]
    fn every_locale_has_exactly_the_english_keys_and_no_empty_string() {
        let en: Vec<&String> = Locale::EN.strings().keys().collect();
        assert_eq!(Locale::EN.code(), "en");
        for l in Locale::all() {
            let keys: Vec<&String> = l.strings().keys().collect();
            assert_eq!(keys, en, "locale {} keys differ from en", l.code());
            for (k, v) in l.strings() {
                assert!(
                    !v.trim().is_empty() || k == "number_group_separator",
                    "{}:{k} is empty",
                    l.code()
                );
            }
            assert!(matches!(l.get("locale_dir"), "ltr" | "rtl"), "{}", l.code());
        }
    }

    #[test]
    fn a_locale_that_names_countries_names_them_all() {
        for l in Locale::all() {
            let named = l.language().countries.len();
            assert!(
                named == 0 || named == CountryCode::every().count(),
                "locale {} names {named} countries",
                l.code()
            );
        }
        let kg = CountryCode::parse("KG").unwrap();
        assert_eq!(ru().country_name(&kg), "Кыргызстан");
        assert_eq!(Locale::EN.country_name(&kg), "Kyrgyzstan");
        let sorted = ru().countries();
        assert_eq!(sorted[0], ("AU", "Австралия"));
        assert_eq!(sorted.last(), Some(&("JP", "Япония")));
        let kg_in = |code: &str| locale(code).country_name(&kg);
        assert_eq!(kg_in("fr"), "Kirghizstan");
        assert_eq!(kg_in("es"), "Kirguistán");
        assert_eq!(kg_in("ar"), "قيرغيزستان");
        let fr = locale("fr").countries();
        assert_eq!(fr[0], ("AF", "Afghanistan"));
        let pos = |code: &str| fr.iter().position(|(c, _)| *c == code).unwrap();
        // "États-Unis" sorts with the E's, not after "Zimbabwe".
        assert!(pos("ER") < pos("US") && pos("US") < pos("ET"));
        let ar = locale("ar").countries();
        let pos = |code: &str| ar.iter().position(|(c, _)| *c == code).unwrap();
        // إسبانيا (Spain) before أستراليا (Australia): the hamza does not
        // split the alifs.
        assert!(pos("ES") < pos("AU"), "{ar:?}");
    }

    fn locale(code: &str) -> Locale {
        Locale::from_tag(code).unwrap_or_else(|| panic!("{code}.toml ships"))
    }

    /// `{count}`, `{title}`, … in the order they appear.
    fn placeholders(s: &str) -> Vec<&str> {
        let mut out: Vec<&str> = s
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn every_translation_keeps_the_english_placeholders() {
        for l in Locale::all() {
            for (key, en) in Locale::EN.strings() {
                assert_eq!(
                    placeholders(l.get(key)),
                    placeholders(en),
                    "{}:{key} has other placeholders than English",
                    l.code()
                );
            }
        }
    }

    #[test]
    fn the_five_languages_ship_and_only_arabic_is_right_to_left() {
        let codes: Vec<&str> = Locale::all().map(Locale::code).collect();
        assert_eq!(codes, ["en", "ar", "es", "fr", "ru"]);
        for l in Locale::all() {
            assert_eq!(l.is_rtl(), l.code() == "ar", "{}", l.code());
        }
        assert_eq!(locale("ar").dir(), "rtl");
        assert_eq!(locale("fr").dir(), "ltr");
        assert_eq!(locale("ar").name(), "العربية");
        assert_eq!(locale("es-MX").code(), "es");
    }

    #[test]
    fn french_puts_a_no_break_space_before_high_punctuation_and_inside_guillemets() {
        for (key, s) in locale("fr").strings() {
            for bad in [" :", " ;", " !", " ?", "« ", " »", "\u{a0};", "\u{a0}?"] {
                assert!(!s.contains(bad), "fr:{key} has {bad:?}: {s}");
            }
            for (i, c) in s.char_indices() {
                let before = s[..i].chars().next_back();
                if matches!(c, ':' | ';' | '!' | '?' | '»') && i > 0 {
                    assert!(
                        matches!(before, Some('\u{a0}' | '\u{202f}')),
                        "fr:{key}: {c:?} without a no-break space before it: {s}"
                    );
                }
            }
            // err_name lists the straight apostrophe names may carry.
            if key != "err_name" {
                assert!(!s.contains('\''), "fr:{key} has a straight apostrophe");
            }
        }
    }

    #[test]
    fn spanish_opens_its_questions_and_exclamations() {
        for (key, s) in locale("es").strings() {
            assert_eq!(
                s.matches('?').count(),
                s.matches('¿').count(),
                "es:{key}: {s}"
            );
            assert_eq!(
                s.matches('!').count(),
                s.matches('¡').count(),
                "es:{key}: {s}"
            );
        }
    }

    #[test]
    fn arabic_uses_arabic_punctuation() {
        for (key, s) in locale("ar").strings() {
            if key == "err_name" {
                continue; // lists the Latin punctuation names may carry
            }
            for latin in ['?', ';'] {
                assert!(!s.contains(latin), "ar:{key} has {latin:?}: {s}");
            }
            assert!(!s.contains(", "), "ar:{key} has a Latin comma: {s}");
        }
        let greeting = locale("ar").format("mail_confirm_greeting", &[("name", "ليلى")]);
        assert_eq!(greeting, "مرحبًا ليلى،");
    }

    #[test]
    fn lang_parameter_wins_then_accept_language_then_default() {
        let n = Locale::negotiate;
        let (en, ru) = (Locale::EN, ru());
        assert_eq!(n(Some("ru"), Some("en"), en), ru);
        assert_eq!(n(Some("xx"), Some("ru-RU,en;q=0.5"), en), ru);
        assert_eq!(n(None, Some("de, en;q=0.4, ru;q=0.8"), en), ru);
        assert_eq!(n(None, Some("ru;q=0, en-GB"), ru), en);
        assert_eq!(n(None, Some("de-DE"), ru), ru);
        assert_eq!(n(None, None, en), en);
    }

    #[test]
    fn numbers_are_grouped_per_locale() {
        assert_eq!(Locale::EN.number(1234567), "1,234,567");
        assert_eq!(Locale::EN.number(999), "999");
        assert_eq!(ru().number(10000), "10\u{a0}000");
        assert_eq!(locale("fr").number(12345), "12\u{202f}345");
        assert_eq!(locale("es").number(12345), "12.345");
        assert_eq!(locale("ar").number(12345), "12,345");
    }

    #[test]
    fn decimals_and_per_cents_are_written_per_locale() {
        assert_eq!(Locale::EN.decimal(1234.56, 1), "1,234.6");
        assert_eq!(Locale::EN.decimal(0.0, 1), "0.0");
        assert_eq!(Locale::EN.decimal(-2.25, 1), "-2.2");
        assert_eq!(Locale::EN.decimal(-0.01, 1), "0.0");
        assert_eq!(Locale::EN.decimal(7.0, 0), "7");
        assert_eq!(locale("fr").decimal(1234.5, 1), "1\u{202f}234,5");
        assert_eq!(ru().decimal(0.1, 1), "0,1");
        assert_eq!(locale("es").decimal(0.1, 1), "0,1");
        assert_eq!(locale("ar").decimal(0.1, 1), "0.1");
        assert_eq!(Locale::EN.percent(50), "50%");
        assert_eq!(locale("fr").percent(50), "50\u{202f}%");
        assert_eq!(locale("es").percent(50), "50\u{a0}%");
        assert_eq!(ru().percent(50), "50\u{a0}%");
        assert_eq!(locale("ar").percent(50), "50٪");
    }

    #[test]
    fn placeholders_are_filled_and_a_missing_key_shows_itself() {
        assert_eq!(
            Locale::EN.format("err_too_long", &[("max", "5")]),
            "Use at most 5 characters"
        );
        assert_eq!(
            Locale::EN.get("no_such_key_anywhere"),
            "no_such_key_anywhere"
        );
        assert_eq!(Locale::EN.lookup("no_such_key_anywhere"), None);
    }
}

//! ISO 3166-1 alpha-2 country codes, with English names (other languages
//! name them in their locale file).

use std::fmt;
use std::sync::OnceLock;

use super::DomainError;

/// An officially assigned ISO 3166-1 alpha-2 country code, such as `KG`.
///
/// Built only by [`CountryCode::parse`]. Exceptionally or transitionally
/// reserved codes (`UK`, `EU`, `SU`, `XK`, …) and user-assigned codes are
/// refused. The value is `Copy`; it orders by code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode(u8); // index into COUNTRIES, which is sorted by code

impl CountryCode {
    /// Parses a country code: trims surrounding whitespace, uppercases, and
    /// accepts only the 249 officially assigned ISO 3166-1 alpha-2 codes.
    pub fn parse(input: &str) -> Result<CountryCode, DomainError> {
        let code = input.trim().to_ascii_uppercase();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(DomainError::InvalidCountry);
        }
        COUNTRIES
            .binary_search_by(|(c, _)| (*c).cmp(code.as_str()))
            .ok()
            .and_then(|i| u8::try_from(i).ok())
            .map(CountryCode)
            .ok_or(DomainError::InvalidCountry)
    }

    /// The two-letter code, uppercase: `"KG"`.
    pub fn as_str(&self) -> &'static str {
        COUNTRIES[usize::from(self.0)].0
    }

    /// The English short name: `"Kyrgyzstan"`.
    pub fn name_en(&self) -> &'static str {
        COUNTRIES[usize::from(self.0)].1
    }

    /// Every code, in code order.
    pub fn every() -> impl Iterator<Item = CountryCode> {
        (0..COUNTRIES.len()).map(|i| CountryCode(i as u8))
    }

    /// Every code with its name as `name` gives it, sorted by that name with
    /// the same rough collation as [`CountryCode::all`]: for a `<select>` in
    /// another language.
    pub fn sorted_by(
        name: impl Fn(CountryCode) -> &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        let table: Vec<(&'static str, &'static str)> = CountryCode::every()
            .map(|c| (c.as_str(), name(c)))
            .collect();
        sorted_by_name(&table)
    }

    /// Every code with its English name, sorted by the English name
    /// (ignoring case and accents, so "Åland Islands" comes first and
    /// "Côte d'Ivoire" sits between "Costa Rica" and "Croatia"), for a
    /// `<select>`.
    pub fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
        static SORTED: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
        SORTED
            .get_or_init(|| sorted_by_name(COUNTRIES))
            .iter()
            .copied()
    }
}

fn sorted_by_name(table: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut v = table.to_vec();
    v.sort_by_cached_key(|&(code, name)| (sort_key(name), code));
    v
}

/// A rough collation key: lowercase, Latin letters stripped of the accents
/// that occur in the tables, «ё» as «е», Arabic «أ إ آ» as «ا». Enough for
/// these names.
fn sort_key(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'å' | 'á' | 'à' | 'â' | 'ä' | 'ã' => 'a',
            'ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ё' => 'е',
            // Arabic collates alif with or without hamza or madda as one letter.
            'آ' | 'أ' | 'إ' => 'ا',
            c => c,
        })
        .collect()
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CountryCode").field(&self.as_str()).finish()
    }
}

string_newtype!(CountryCode);

/// All officially assigned ISO 3166-1 alpha-2 codes (249), sorted by code,
/// with English short names. Names follow ISO 3166-1 as carried by Debian's
/// iso-codes package, using its common name where it has one ("Iran",
/// "South Korea", "Taiwan") and a few shorter forms ("Russia", "Palestine"),
/// since these are shown to people in a list.
const COUNTRIES: &[(&str, &str)] = &[
    ("AD", "Andorra"),
    ("AE", "United Arab Emirates"),
    ("AF", "Afghanistan"),
    ("AG", "Antigua and Barbuda"),
    ("AI", "Anguilla"),
    ("AL", "Albania"),
    ("AM", "Armenia"),
    ("AO", "Angola"),
    ("AQ", "Antarctica"),
    ("AR", "Argentina"),
    ("AS", "American Samoa"),
    ("AT", "Austria"),
    ("AU", "Australia"),
    ("AW", "Aruba"),
    ("AX", "Åland Islands"),
    ("AZ", "Azerbaijan"),
    ("BA", "Bosnia and Herzegovina"),
    ("BB", "Barbados"),
    ("BD", "Bangladesh"),
    ("BE", "Belgium"),
    ("BF", "Burkina Faso"),
    ("BG", "Bulgaria"),
    ("BH", "Bahrain"),
    ("BI", "Burundi"),
    ("BJ", "Benin"),
    ("BL", "Saint Barthélemy"),
    ("BM", "Bermuda"),
    ("BN", "Brunei"),
    ("BO", "Bolivia"),
    ("BQ", "Bonaire, Sint Eustatius and Saba"),
    ("BR", "Brazil"),
    ("BS", "Bahamas"),
    ("BT", "Bhutan"),
    ("BV", "Bouvet Island"),
    ("BW", "Botswana"),
    ("BY", "Belarus"),
    ("BZ", "Belize"),
    ("CA", "Canada"),
    ("CC", "Cocos (Keeling) Islands"),
    ("CD", "Congo, Democratic Republic of the"),
    ("CF", "Central African Republic"),
    ("CG", "Congo"),
    ("CH", "Switzerland"),
    ("CI", "Côte d'Ivoire"),
    ("CK", "Cook Islands"),
    ("CL", "Chile"),
    ("CM", "Cameroon"),
    ("CN", "China"),
    ("CO", "Colombia"),
    ("CR", "Costa Rica"),
    ("CU", "Cuba"),
    ("CV", "Cabo Verde"),
    ("CW", "Curaçao"),
    ("CX", "Christmas Island"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DJ", "Djibouti"),
    ("DK", "Denmark"),
    ("DM", "Dominica"),
    ("DO", "Dominican Republic"),
    ("DZ", "Algeria"),
    ("EC", "Ecuador"),
    ("EE", "Estonia"),
    ("EG", "Egypt"),
    ("EH", "Western Sahara"),
    ("ER", "Eritrea"),
    ("ES", "Spain"),
    ("ET", "Ethiopia"),
    ("FI", "Finland"),
    ("FJ", "Fiji"),
    ("FK", "Falkland Islands (Malvinas)"),
    ("FM", "Micronesia"),
    ("FO", "Faroe Islands"),
    ("FR", "France"),
    ("GA", "Gabon"),
    ("GB", "United Kingdom"),
    ("GD", "Grenada"),
    ("GE", "Georgia"),
    ("GF", "French Guiana"),
    ("GG", "Guernsey"),
    ("GH", "Ghana"),
    ("GI", "Gibraltar"),
    ("GL", "Greenland"),
    ("GM", "Gambia"),
    ("GN", "Guinea"),
    ("GP", "Guadeloupe"),
    ("GQ", "Equatorial Guinea"),
    ("GR", "Greece"),
    ("GS", "South Georgia and the South Sandwich Islands"),
    ("GT", "Guatemala"),
    ("GU", "Guam"),
    ("GW", "Guinea-Bissau"),
    ("GY", "Guyana"),
    ("HK", "Hong Kong"),
    ("HM", "Heard Island and McDonald Islands"),
    ("HN", "Honduras"),
    ("HR", "Croatia"),
    ("HT", "Haiti"),
    ("HU", "Hungary"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IM", "Isle of Man"),
    ("IN", "India"),
    ("IO", "British Indian Ocean Territory"),
    ("IQ", "Iraq"),
    ("IR", "Iran"),
    ("IS", "Iceland"),
    ("IT", "Italy"),
    ("JE", "Jersey"),
    ("JM", "Jamaica"),
    ("JO", "Jordan"),
    ("JP", "Japan"),
    ("KE", "Kenya"),
    ("KG", "Kyrgyzstan"),
    ("KH", "Cambodia"),
    ("KI", "Kiribati"),
    ("KM", "Comoros"),
    ("KN", "Saint Kitts and Nevis"),
    ("KP", "North Korea"),
    ("KR", "South Korea"),
    ("KW", "Kuwait"),
    ("KY", "Cayman Islands"),
    ("KZ", "Kazakhstan"),
    ("LA", "Laos"),
    ("LB", "Lebanon"),
    ("LC", "Saint Lucia"),
    ("LI", "Liechtenstein"),
    ("LK", "Sri Lanka"),
    ("LR", "Liberia"),
    ("LS", "Lesotho"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("LV", "Latvia"),
    ("LY", "Libya"),
    ("MA", "Morocco"),
    ("MC", "Monaco"),
    ("MD", "Moldova"),
    ("ME", "Montenegro"),
    ("MF", "Saint Martin (French part)"),
    ("MG", "Madagascar"),
    ("MH", "Marshall Islands"),
    ("MK", "North Macedonia"),
    ("ML", "Mali"),
    ("MM", "Myanmar"),
    ("MN", "Mongolia"),
    ("MO", "Macao"),
    ("MP", "Northern Mariana Islands"),
    ("MQ", "Martinique"),
    ("MR", "Mauritania"),
    ("MS", "Montserrat"),
    ("MT", "Malta"),
    ("MU", "Mauritius"),
    ("MV", "Maldives"),
    ("MW", "Malawi"),
    ("MX", "Mexico"),
    ("MY", "Malaysia"),
    ("MZ", "Mozambique"),
    ("NA", "Namibia"),
    ("NC", "New Caledonia"),
    ("NE", "Niger"),
    ("NF", "Norfolk Island"),
    ("NG", "Nigeria"),
    ("NI", "Nicaragua"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NP", "Nepal"),
    ("NR", "Nauru"),
    ("NU", "Niue"),
    ("NZ", "New Zealand"),
    ("OM", "Oman"),
    ("PA", "Panama"),
    ("PE", "Peru"),
    ("PF", "French Polynesia"),
    ("PG", "Papua New Guinea"),
    ("PH", "Philippines"),
    ("PK", "Pakistan"),
    ("PL", "Poland"),
    ("PM", "Saint Pierre and Miquelon"),
    ("PN", "Pitcairn"),
    ("PR", "Puerto Rico"),
    ("PS", "Palestine"),
    ("PT", "Portugal"),
    ("PW", "Palau"),
    ("PY", "Paraguay"),
    ("QA", "Qatar"),
    ("RE", "Réunion"),
    ("RO", "Romania"),
    ("RS", "Serbia"),
    ("RU", "Russia"),
    ("RW", "Rwanda"),
    ("SA", "Saudi Arabia"),
    ("SB", "Solomon Islands"),
    ("SC", "Seychelles"),
    ("SD", "Sudan"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("SH", "Saint Helena, Ascension and Tristan da Cunha"),
    ("SI", "Slovenia"),
    ("SJ", "Svalbard and Jan Mayen"),
    ("SK", "Slovakia"),
    ("SL", "Sierra Leone"),
    ("SM", "San Marino"),
    ("SN", "Senegal"),
    ("SO", "Somalia"),
    ("SR", "Suriname"),
    ("SS", "South Sudan"),
    ("ST", "Sao Tome and Principe"),
    ("SV", "El Salvador"),
    ("SX", "Sint Maarten (Dutch part)"),
    ("SY", "Syria"),
    ("SZ", "Eswatini"),
    ("TC", "Turks and Caicos Islands"),
    ("TD", "Chad"),
    ("TF", "French Southern Territories"),
    ("TG", "Togo"),
    ("TH", "Thailand"),
    ("TJ", "Tajikistan"),
    ("TK", "Tokelau"),
    ("TL", "Timor-Leste"),
    ("TM", "Turkmenistan"),
    ("TN", "Tunisia"),
    ("TO", "Tonga"),
    ("TR", "Türkiye"),
    ("TT", "Trinidad and Tobago"),
    ("TV", "Tuvalu"),
    ("TW", "Taiwan"),
    ("TZ", "Tanzania"),
    ("UA", "Ukraine"),
    ("UG", "Uganda"),
    ("UM", "United States Minor Outlying Islands"),
    ("US", "United States"),
    ("UY", "Uruguay"),
    ("UZ", "Uzbekistan"),
    ("VA", "Holy See (Vatican City)"),
    ("VC", "Saint Vincent and the Grenadines"),
    ("VE", "Venezuela"),
    ("VG", "Virgin Islands (British)"),
    ("VI", "Virgin Islands (U.S.)"),
    ("VN", "Vietnam"),
    ("VU", "Vanuatu"),
    ("WF", "Wallis and Futuna"),
    ("WS", "Samoa"),
    ("YE", "Yemen"),
    ("YT", "Mayotte"),
    ("ZA", "South Africa"),
    ("ZM", "Zambia"),
    ("ZW", "Zimbabwe"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_is_complete_sorted_and_parallel() {
        assert_eq!(COUNTRIES.len(), 249);
        assert!(COUNTRIES.len() <= usize::from(u8::MAX));
        for w in COUNTRIES.windows(2) {
            assert!(w[0].0 < w[1].0, "{} !< {}", w[0].0, w[1].0);
        }
        for (code, name) in COUNTRIES {
            assert_eq!(code.len(), 2);
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(!name.is_empty());
            assert_eq!(name.trim(), *name);
        }
    }

    #[test]
    fn every_code_parses_to_itself() {
        for (code, name) in COUNTRIES {
            let c = CountryCode::parse(code).unwrap();
            assert_eq!(c.as_str(), *code);
            assert_eq!(c.name_en(), *name);
            assert_eq!(CountryCode::parse(&code.to_lowercase()), Ok(c));
        }
    }

    #[test]
    fn trims_and_uppercases() {
        let kg = CountryCode::parse(" kg\n").unwrap();
        assert_eq!(kg.as_str(), "KG");
        assert_eq!(kg.name_en(), "Kyrgyzstan");
        assert_eq!(CountryCode::parse("Kg"), Ok(kg));
        assert_eq!(format!("{kg:?}"), "CountryCode(\"KG\")");
    }

    #[test]
    fn known_names() {
        let n = |c: &str| CountryCode::parse(c).unwrap();
        assert_eq!(n("GB").name_en(), "United Kingdom");
        assert_eq!(n("CI").name_en(), "Côte d'Ivoire");
        assert_eq!(n("AX").name_en(), "Åland Islands");
    }

    #[test]
    fn refuses_unassigned_and_malformed() {
        for s in [
            "", " ", "K", "KGZ", "UK", "EU", "SU", "XK", "YU", "AN", "ZZ", "AA", "QM", "K1", "K G",
            "Кг", "ＫＧ", "k\u{0}",
        ] {
            assert_eq!(
                CountryCode::parse(s),
                Err(DomainError::InvalidCountry),
                "{s:?}"
            );
        }
    }

    #[test]
    fn all_is_sorted_by_english_name() {
        let all: Vec<_> = CountryCode::all().collect();
        assert_eq!(all.len(), 249);
        assert_eq!(all[0], ("AF", "Afghanistan"));
        assert_eq!(all[1], ("AX", "Åland Islands"));
        assert_eq!(all.last(), Some(&("ZW", "Zimbabwe")));
        let pos = |code: &str| all.iter().position(|(c, _)| *c == code).unwrap();
        assert!(pos("CR") < pos("CI") && pos("CI") < pos("HR"));
        assert!(pos("TN") < pos("TR") && pos("TR") < pos("TM"));
        for w in all.windows(2) {
            assert!(sort_key(w[0].1) <= sort_key(w[1].1));
        }
    }

    #[test]
    fn serde_round_trip() {
        let kg = CountryCode::parse("KG").unwrap();
        assert_eq!(serde_json::to_string(&kg).unwrap(), "\"KG\"");
        assert_eq!(serde_json::from_str::<CountryCode>("\"kg\"").unwrap(), kg);
        assert!(serde_json::from_str::<CountryCode>("\"UK\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>()) {
            if let Ok(c) = CountryCode::parse(&s) {
                prop_assert_eq!(c.as_str().len(), 2);
                prop_assert_eq!(CountryCode::parse(c.as_str()), Ok(c));
            }
        }

        #[test]
        fn two_letters(s in "[A-Za-z]{2}") {
            let known = COUNTRIES.iter().any(|(c, _)| c.eq_ignore_ascii_case(&s));
            prop_assert_eq!(CountryCode::parse(&s).is_ok(), known);
        }
    }
}

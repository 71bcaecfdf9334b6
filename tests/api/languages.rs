//! French, Spanish and Arabic: the public pages chosen by `?lang=` and by
//! `Accept-Language`, the confirmation mail in the language the person
//! signed in, and Arabic pages and mail written right to left.

use clarion::i18n::Locale;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::public_support::form_with;

backend_tests!(
    the_petition_page_speaks_french_spanish_and_arabic_by_lang_and_by_accept_language,
    a_confirmation_mail_comes_in_the_language_the_person_signed_in,
    arabic_pages_are_right_to_left_and_the_others_left_to_right,
);

fn locale(code: &str) -> Locale {
    Locale::from_tag(code).unwrap_or_else(|| panic!("{code} ships"))
}

/// `s` as the HTML templates escape it.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('`', "&#x60;")
        .replace('=', "&#x3D;")
}

impl TestApp {
    async fn page_in(&self, path: &str, accept_language: Option<&str>) -> (u16, String) {
        let mut req = self.client.get(format!("{}{path}", self.address));
        if let Some(a) = accept_language {
            req = req.header("Accept-Language", a);
        }
        let r = req.send().await.expect("page fetched");
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

async fn the_petition_page_speaks_french_spanish_and_arabic_by_lang_and_by_accept_language(
    b: Backend,
) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({"goal": 12000})).await;
    // What a reader of each language sees, written out so that a file that
    // fell back to English, or lost its country names, fails here.
    for (code, dir, accept, sign, choose, kyrgyzstan, goal) in [
        (
            "fr",
            "ltr",
            "fr-CA,fr;q=0.9,en;q=0.5",
            "Signer la pétition",
            "Choisissez votre pays",
            "Kirghizstan",
            "0 signatures sur 12\u{202f}000",
        ),
        (
            "es",
            "ltr",
            "es-419, en;q=0.3",
            "Firmar la petición",
            "Elige tu país",
            "Kirguistán",
            "0 de 12.000 firmas",
        ),
        (
            "ar",
            "rtl",
            "ar-EG",
            "وقّع على العريضة",
            "اختر بلدك",
            "قيرغيزستان",
            "التوقيعات: 0 من أصل 12,000",
        ),
    ] {
        let by_query = app
            .page_in(&format!("/petitions/free-them?lang={code}"), Some("en"))
            .await;
        let by_header = app.page_in("/petitions/free-them", Some(accept)).await;
        for (how, (status, html)) in [("?lang=", by_query), ("Accept-Language", by_header)] {
            assert_eq!(status, 200, "{code} by {how}");
            assert!(
                html.contains(&format!("<html lang=\"{code}\" dir=\"{dir}\">")),
                "{code} by {how}: {html}"
            );
            for text in [sign, choose, kyrgyzstan, goal] {
                assert!(
                    html.contains(text),
                    "{code} by {how}: no {text:?} in {html}"
                );
            }
            assert_eq!(sign, locale(code).get("form_submit"));
            assert!(
                html.contains(&escaped(locale(code).get("form_opt_in"))),
                "{code} by {how}"
            );
            assert!(!html.contains("Sign the petition"), "{code} by {how}");
        }
    }
    // The language menu offers all five, each named in its own language.
    let (_, html) = app.page_in("/petitions/free-them?lang=ar", None).await;
    for name in ["English", "Русский", "Français", "Español", "العربية"] {
        assert!(html.contains(&format!(">{name}</a>")), "{name}");
    }
}

async fn a_confirmation_mail_comes_in_the_language_the_person_signed_in(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    let title = "Free them"; // the petition title open_petition gives
    let sign_in = |email: &'static str, lang: Option<&'static str>, accept: &'static str| {
        let mut fields = form_with(email, &[]);
        if let Some(l) = lang {
            fields.push(("lang".into(), l.into()));
        }
        let req = app
            .client
            .post(format!("{}/petitions/free-them/signatures", app.address))
            .header("Accept-Language", accept)
            .form(&fields);
        async move {
            let r = req.send().await.expect("form posted");
            assert_eq!(r.status(), 303, "{email}");
        }
    };
    sign_in("fr@example.org", Some("fr"), "en").await;
    sign_in("es@example.org", None, "es-ES,es;q=0.9").await;
    sign_in("ar@example.org", Some("ar"), "fr").await;
    let mails = app
        .smtp
        .wait_for(3, std::time::Duration::from_secs(20))
        .await;
    for (code, dir, greeting, subject_start) in [
        (
            "fr",
            "ltr",
            "Bonjour Ann,",
            "Confirmez votre signature\u{a0}: ",
        ),
        ("es", "ltr", "Hola, Ann:", "Confirma tu firma, por favor: "),
        ("ar", "rtl", "مرحبًا Ann،", "يُرجى تأكيد توقيعك: "),
    ] {
        let l = locale(code);
        let to = format!("{code}@example.org");
        let mail = mails
            .iter()
            .find(|m| m.header("To").is_some_and(|t| t.contains(&to)))
            .unwrap_or_else(|| panic!("no mail to {to}"));
        let subject = mail.decoded_header("Subject").expect("a subject");
        assert_eq!(subject, format!("{subject_start}{title}"), "{code}");
        assert_eq!(
            subject,
            l.format("mail_confirm_subject", &[("title", title)])
        );
        let parts = mail.text_parts();
        let part = |kind: &str| {
            parts
                .iter()
                .find(|(t, _)| t == kind)
                .map(|(_, body)| body.clone())
                .unwrap_or_else(|| panic!("{code}: no {kind} part"))
        };
        let (text, html) = (part("text/plain"), part("text/html"));
        for key in ["mail_confirm_counts_once", "mail_confirm_ignore"] {
            assert!(text.contains(l.get(key)), "{code} text lacks {key}: {text}");
            assert!(
                html.contains(&escaped(l.get(key))),
                "{code} html lacks {key}: {html}"
            );
        }
        assert!(text.contains(greeting), "{code}: {text}");
        assert!(
            text.contains(&l.format("mail_confirm_thanks", &[("title", title)])),
            "{code}: {text}"
        );
        assert!(
            html.contains(&format!("<html lang=\"{code}\" dir=\"{dir}\">")),
            "{code}: {html}"
        );
        // Mail programs that drop <html> still see the direction.
        assert!(html.contains(&format!("<body dir=\"{dir}\"")), "{code}");
        assert!(!text.contains("Dear Ann"), "{code}: {text}");
    }
}

async fn arabic_pages_are_right_to_left_and_the_others_left_to_right(b: Backend) {
    let app = spawn_app(b).await;
    app.open_petition("free-them", json!({})).await;
    for path in [
        "/",
        "/cases/case-free-them",
        "/petitions/free-them",
        "/petitions/free-them/thanks",
        "/petitions/free-them/embed",
        "/no-such-page",
        "/admin/login",
    ] {
        for (code, dir) in [("ar", "rtl"), ("fr", "ltr"), ("es", "ltr"), ("en", "ltr")] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let (status, html) = app.page_in(&format!("{path}{sep}lang={code}"), None).await;
            assert!(status == 200 || status == 404, "{path} {code}: {status}");
            assert!(
                html.contains(&format!("<html lang=\"{code}\" dir=\"{dir}\">")),
                "{path} {code}: {html}"
            );
        }
    }
    let (_, login) = app.page_in("/admin/login", Some("ar")).await;
    assert!(login.contains(&escaped(locale("ar").get("admin_sign_in"))));
    let css = app.page_in("/assets/site.css", None).await.1;
    assert!(
        !css.contains("margin-left")
            && !css.contains("padding-left")
            && !css.contains("border-left"),
        "the stylesheet mirrors: logical properties only"
    );
}

//! Handlebars templates for pages and mails, embedded in the binary from
//! `templates/`, with an optional operator override folder of the same layout.
//!
//! Policy: strict mode (a missing variable is an error, not an empty string),
//! HTML-escaping for every `.html.hbs` template, and every template compiled
//! at start-up so a broken one stops the process naming its file. Names are
//! paths without the `.hbs` suffix: `pages/petition.html`, `email/alert/subject.txt`.
//! Files under `partials/` are also registered as partials by their path
//! (`partials/layout.html`). One helper, `{{text_dir lang}}`, gives the
//! writing direction of a locale code for `dir=` beside every `lang=`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use handlebars::Handlebars;
use rust_embed::RustEmbed;
use serde::Serialize;

#[derive(RustEmbed)]
#[folder = "templates/"]
struct Embedded;

/// The compiled templates. Cheap to clone (shared registries).
#[derive(Clone)]
pub struct Templates {
    /// Every template with HTML escaping, used for names containing `.html`.
    html: Arc<Handlebars<'static>>,
    /// The same templates with no escaping, for subjects and text parts.
    text: Arc<Handlebars<'static>>,
}

// `rtl` for a right-to-left locale (Arabic), else `ltr`: every layout
// writes `<html lang="{{lang}}" dir="{{text_dir lang}}">`, so a context that
// carries `lang` needs nothing more to mirror its page or mail.
handlebars::handlebars_helper!(text_dir: |code: str| {
    crate::i18n::Locale::from_tag(code).map_or("ltr", crate::i18n::Locale::dir)
});

fn registry(
    sources: &BTreeMap<String, String>,
    escape: bool,
) -> anyhow::Result<Handlebars<'static>> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_helper("text_dir", Box::new(text_dir));
    if !escape {
        hb.register_escape_fn(handlebars::no_escape);
    }
    for (file, text) in sources {
        let name = file.trim_end_matches(".hbs").to_string();
        if file.starts_with("partials/") {
            hb.register_partial(&name, text.as_str())
                .with_context(|| format!("template error in templates/{file}"))?;
        }
        hb.register_template_string(&name, text)
            .with_context(|| format!("template error in templates/{file}"))?;
    }
    Ok(hb)
}

impl Templates {
    /// Compiles the embedded templates, then any `*.hbs` file in `override_dir`
    /// (which replaces the embedded file of the same relative path).
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<Templates> {
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        for file in Embedded::iter().filter(|f| f.ends_with(".hbs")) {
            let data = Embedded::get(&file).expect("listed file exists");
            let text = String::from_utf8(data.data.into_owned())
                .with_context(|| format!("template {file} is not UTF-8"))?;
            sources.insert(file.to_string(), text);
        }
        if let Some(dir) = override_dir {
            collect_dir(dir, dir, &mut sources)?;
        }
        Ok(Templates {
            html: Arc::new(registry(&sources, true)?),
            text: Arc::new(registry(&sources, false)?),
        })
    }

    /// Renders `name` with `data`. HTML templates (names containing `.html`)
    /// escape every `{{value}}`; text templates do not.
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> anyhow::Result<String> {
        let reg = if name.contains(".html") {
            &self.html
        } else {
            &self.text
        };
        Ok(reg.render(name, data)?)
    }

    pub fn has(&self, name: &str) -> bool {
        self.html.has_template(name)
    }
}

fn collect_dir(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_dir(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "hbs") {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            out.insert(rel, text);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_templates_compile() {
        let t = Templates::load(None).expect("templates compile");
        assert!(t.has("partials/hello.txt"));
    }

    #[test]
    fn an_override_folder_replaces_a_template_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("partials")).unwrap();
        std::fs::write(dir.path().join("partials/hello.txt.hbs"), "Hi {{name}}").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let out = t
            .render("partials/hello.txt", &serde_json::json!({"name": "<b>"}))
            .unwrap();
        assert_eq!(out, "Hi <b>");
        std::fs::write(dir.path().join("broken.html.hbs"), "{{#if}}").unwrap();
        let e = format!("{:#}", Templates::load(Some(dir.path())).err().unwrap());
        assert!(e.contains("broken.html.hbs"), "{e}");
    }

    #[test]
    fn strict_mode_refuses_a_missing_variable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.html.hbs"), "<p>{{name}}</p>").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        assert!(t.render("x.html", &serde_json::json!({})).is_err());
        let html = t
            .render(
                "x.html",
                &serde_json::json!({"name": "<script>alert(1)</script>"}),
            )
            .unwrap();
        assert_eq!(html, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>");
    }
}

//! Helpers for the public-page tests: posting the signing form and reading
//! the database behind it.

use clarion::db::schema::{deliveries, petitions, signatures, supporters};
use diesel::prelude::*;
use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// A valid form for `email`, as `(name, value)` pairs.
pub fn form(email: &str) -> Vec<(String, String)> {
    [
        ("first_name", "Ann"),
        ("last_name", "Lee"),
        ("email", email),
        ("country", "KG"),
        ("postcode", ""),
        ("comment", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `form` with some fields replaced or added.
pub fn form_with(email: &str, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut f = form(email);
    for (k, v) in changes {
        f.retain(|(name, _)| name != k);
        f.push((k.to_string(), v.to_string()));
    }
    f
}

impl TestApp {
    pub async fn sign(&self, slug: &str, fields: &[(String, String)]) -> Response {
        self.client
            .post(format!("{}/petitions/{slug}/signatures", self.address))
            .form(fields)
            .send()
            .await
            .expect("form posted")
    }

    /// The app's signing keys: the configured secret, else the key file the
    /// app keeps outside its database.
    pub async fn keys(&self) -> clarion::security::Keys {
        use secrecy::ExposeSecret;
        let secret = match &self.settings.secret_key {
            Some(k) => k.expose_secret().to_string(),
            None => clarion::security::key_file::read(&self.settings.secret_key_file())
                .expect("key file readable")
                .expect("the app made its key file"),
        };
        clarion::security::Keys::new(&secret)
    }

    pub async fn page(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("page fetched")
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .send()
            .await
            .expect("posted")
    }

    /// An open petition `slug` (with `extra` petition fields) under a new case.
    pub async fn open_petition(&self, slug: &str, extra: Value) -> Value {
        let token = self.token("campaigner").await;
        let case = self.create_case(&token, &format!("case-{slug}")).await;
        self.create_petition(&token, case["id"].as_str().unwrap(), slug, extra)
            .await
    }

    pub async fn set_petition_status(&self, id: &str, status: &str) {
        let token = self.token("campaigner").await;
        let r = self
            .patch(
                &format!("/api/v1/petitions/{id}"),
                &token,
                json!({ "status": status }),
            )
            .await;
        assert_eq!(r.status(), 200, "petition status changed");
    }

    pub async fn signature_count(&self) -> i64 {
        self.db
            .run(|c| {
                signatures::table
                    .count()
                    .get_result::<i64>(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap()
    }

    /// `(status, country, email_opt_in, ip_hash)` of every signature.
    pub async fn signatures(&self) -> Vec<(String, String, bool, Option<String>)> {
        self.db
            .run(|c| {
                signatures::table
                    .order(signatures::signed_at.asc())
                    .select((
                        signatures::status,
                        signatures::country,
                        signatures::email_opt_in,
                        signatures::ip_hash,
                    ))
                    .load(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap()
    }

    /// How many confirmation mails were queued.
    pub async fn confirmation_count(&self) -> usize {
        self.db
            .run(|c| {
                deliveries::table
                    .filter(deliveries::kind.eq("confirmation"))
                    .count()
                    .get_result::<i64>(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap() as usize
    }

    /// Waits for `n` mails at the SMTP sink and returns the confirmation
    /// token of each, in order of arrival.
    pub async fn mailed_tokens(&self, n: usize) -> Vec<String> {
        self.mailed_tokens_to(n)
            .await
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// The confirmation token mailed to each of `emails`, in their order,
    /// whatever order the mails arrived in (the worker sends several at
    /// once), once `n` mails have arrived.
    pub async fn mailed_tokens_for(&self, n: usize, emails: &[&str]) -> Vec<String> {
        let mailed = self.mailed_tokens_to(n).await;
        emails
            .iter()
            .map(|e| {
                mailed
                    .iter()
                    .rev()
                    .find(|(to, _)| to.iter().any(|t| t == e))
                    .unwrap_or_else(|| panic!("no confirmation mail to {e}"))
                    .1
                    .clone()
            })
            .collect()
    }

    /// `(recipients, token)` of every confirmation mail, in arrival order,
    /// once `n` of them have arrived (receipt mails, which answer a
    /// confirmation, arrive among them and are skipped).
    async fn mailed_tokens_to(&self, n: usize) -> Vec<(Vec<String>, String)> {
        let prefix = format!("{}/confirm/", self.settings.base_url);
        let mut want = n;
        loop {
            let mail = self
                .smtp
                .wait_for(want, std::time::Duration::from_secs(20))
                .await;
            let tokens: Vec<_> = mail
                .iter()
                .filter_map(|m| {
                    let text = m
                        .text_parts()
                        .into_iter()
                        .find(|(t, _)| t == "text/plain")
                        .expect("a text part")
                        .1;
                    let token = text
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix(&prefix))?
                        .to_string();
                    Some((m.rcpt_to.clone(), token))
                })
                .collect();
            if tokens.len() >= n {
                return tokens;
            }
            want = mail.len() + n - tokens.len();
        }
    }

    /// How many confirmation mails have arrived so far.
    pub fn confirmation_mails(&self) -> usize {
        let prefix = format!("{}/confirm/", self.settings.base_url);
        self.smtp
            .messages()
            .iter()
            .filter(|m| {
                m.text_parts()
                    .iter()
                    .any(|(t, text)| t == "text/plain" && text.contains(&prefix))
            })
            .count()
    }

    /// The receipt mails that have arrived: `(recipients, subject, text)`.
    pub fn receipt_mails(&self) -> Vec<(Vec<String>, String, String)> {
        let prefix = format!("{}/receipts/", self.settings.base_url);
        self.smtp
            .messages()
            .iter()
            .filter_map(|m| {
                let text = m
                    .text_parts()
                    .into_iter()
                    .find(|(t, _)| t == "text/plain")?
                    .1;
                text.contains(&prefix).then(|| {
                    (
                        m.rcpt_to.clone(),
                        m.decoded_header("Subject").unwrap_or_default(),
                        text,
                    )
                })
            })
            .collect()
    }

    /// `(id, status, email_opt_in, consent_wording)` of the supporter with `email`.
    pub async fn supporter(&self, email: &str) -> Option<(String, String, bool, Option<String>)> {
        let email = email.to_string();
        self.db
            .run(move |c| {
                supporters::table
                    .filter(
                        supporters::email_hash
                            .eq(clarion::db::supporters::email_hash(&email).unwrap()),
                    )
                    .select((
                        supporters::id,
                        supporters::status,
                        supporters::email_opt_in,
                        supporters::consent_wording,
                    ))
                    .first(c)
                    .optional()
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap()
    }

    pub async fn supporter_count(&self) -> i64 {
        self.db
            .run(|c| {
                supporters::table
                    .count()
                    .get_result::<i64>(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap()
    }

    /// `(confirmed_count, pending_count)` of petition `slug`.
    pub async fn counters(&self, slug: &str) -> (i64, i64) {
        let slug = slug.to_string();
        self.db
            .run(move |c| {
                petitions::table
                    .filter(petitions::slug.eq(slug))
                    .select((petitions::confirmed_count, petitions::pending_count))
                    .first(c)
                    .map_err(clarion::db::DbError::from)
            })
            .await
            .unwrap()
    }

    pub async fn counts_json(&self, slug: &str) -> Value {
        let r = self.page(&format!("/petitions/{slug}/counts.json")).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

pub fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

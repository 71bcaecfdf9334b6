//! Test fixtures for the list, supporter and export tests: supporters and
//! signatures written straight into the database (the signing form is
//! tested on its own), and small CSV helpers.

use chrono::NaiveDateTime;
use clarion::db::schema::{signatures, supporters};
use clarion::db::DbError;
use diesel::prelude::*;
use reqwest::Response;
use serde_json::Value;

use crate::helpers::TestApp;

#[derive(Debug, Clone)]
pub struct Signer {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub country: String,
    pub postcode: Option<String>,
    pub comment: Option<String>,
    pub confirmed: bool,
    pub email_opt_in: bool,
    /// `YYYY-MM-DD HH:MM:SS`, UTC
    pub signed_at: String,
}

impl Signer {
    pub fn new(email: &str, first: &str, last: &str, country: &str) -> Signer {
        Signer {
            email: email.into(),
            first_name: first.into(),
            last_name: last.into(),
            country: country.into(),
            postcode: None,
            comment: None,
            confirmed: true,
            email_opt_in: false,
            signed_at: "2026-11-20 10:00:00".into(),
        }
    }

    pub fn pending(mut self) -> Signer {
        self.confirmed = false;
        self
    }

    pub fn at(mut self, t: &str) -> Signer {
        self.signed_at = t.into();
        self
    }

    pub fn comment(mut self, c: &str) -> Signer {
        self.comment = Some(c.into());
        self
    }

    pub fn postcode(mut self, p: &str) -> Signer {
        self.postcode = Some(p.into());
        self
    }
}

fn time(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("fixture time")
}

/// Stores each signer as a supporter with a signature on `petition_id`, in
/// order (so ids follow the order given). Returns (supporter id, signature id).
pub async fn sign_all(
    app: &TestApp,
    petition_id: &str,
    signers: Vec<Signer>,
) -> Vec<(String, String)> {
    let petition_id = petition_id.to_string();
    app.db
        .run(move |c| {
            clarion::db::write_tx(c, |c| {
                let mut ids = Vec::new();
                for s in &signers {
                    let supporter_id = clarion::db::new_id();
                    let signature_id = clarion::db::new_id();
                    let at = time(&s.signed_at);
                    diesel::insert_into(supporters::table)
                        .values((
                            supporters::id.eq(&supporter_id),
                            supporters::email.eq(&s.email),
                            supporters::first_name.eq(&s.first_name),
                            supporters::last_name.eq(&s.last_name),
                            supporters::country.eq(&s.country),
                            supporters::postcode.eq(&s.postcode),
                            supporters::status.eq("active"),
                            supporters::email_opt_in.eq(s.email_opt_in),
                            supporters::consent_at.eq(at),
                            supporters::consent_wording.eq("Keep me informed about this case."),
                            supporters::consent_source.eq("petition"),
                            supporters::created_at.eq(at),
                            supporters::updated_at.eq(at),
                        ))
                        .execute(c)?;
                    diesel::insert_into(signatures::table)
                        .values((
                            signatures::id.eq(&signature_id),
                            signatures::petition_id.eq(&petition_id),
                            signatures::supporter_id.eq(&supporter_id),
                            signatures::status.eq(if s.confirmed {
                                "confirmed"
                            } else {
                                "pending"
                            }),
                            signatures::first_name.eq(&s.first_name),
                            signatures::last_name.eq(&s.last_name),
                            signatures::country.eq(&s.country),
                            signatures::postcode.eq(&s.postcode),
                            signatures::comment.eq(&s.comment),
                            signatures::email_opt_in.eq(s.email_opt_in),
                            signatures::ip_hash.eq("0123456789abcdef"),
                            signatures::signed_at.eq(at),
                            signatures::confirmed_at.eq(s.confirmed.then_some(at)),
                        ))
                        .execute(c)?;
                    ids.push((supporter_id, signature_id));
                }
                Ok::<_, DbError>(ids)
            })
        })
        .await
        .expect("signers stored")
}

/// A case and an open petition; returns the petition's JSON.
pub async fn petition(app: &TestApp, token: &str, slug: &str) -> Value {
    let case = app.create_case(token, &format!("{slug}-case")).await;
    app.create_petition(
        token,
        case["id"].as_str().unwrap(),
        slug,
        serde_json::json!({}),
    )
    .await
}

/// POSTs `body` as text/csv.
pub async fn post_csv(app: &TestApp, path: &str, token: &str, body: &str) -> Response {
    app.client
        .post(format!("{}{}", app.address, path))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body.to_string())
        .send()
        .await
        .expect("request sent")
}

/// Creates a list and returns its id.
pub async fn create_list(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post("/api/v1/lists", token, serde_json::json!({"name": name}))
        .await;
    assert_eq!(r.status(), 201, "list created");
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Parses CSV bytes (a leading BOM allowed) into rows of cells.
pub fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Runs a query against the app's database.
pub async fn query<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&mut clarion::db::DbConnection) -> QueryResult<T> + Send + 'static,
) -> T {
    app.db
        .run(move |c| f(c).map_err(DbError::from))
        .await
        .expect("query")
}

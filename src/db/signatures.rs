//! Signing and confirming: the supporter upsert, the signature row, its
//! confirmation mail in the queue, and the petition's counter caches, all in
//! one transaction.
//!
//! Policy:
//! - One signature per supporter and petition; signing again with the same
//!   (normalised) email changes nothing the signer could observe.
//! - Signing never changes a supporter's status: an unsubscribed, bounced or
//!   erased person who signs gets their signature recorded and stays as they
//!   were.
//! - Until its address is confirmed, a signature changes nothing about the
//!   supporter behind it (contract §7), because anyone can type anyone's
//!   address into a form. The signature keeps what the form said (name,
//!   country, postcode, language, the ticked box); confirming it writes that
//!   to the supporter in the same transaction: the person has shown the
//!   address is theirs, so their name and country replace the stored ones,
//!   a postcode is kept unless they gave another (or moved country), and a
//!   language is only filled in (a page's language is a weaker wish than
//!   one set on purpose). Consent to campaign mail (`email_opt_in`,
//!   `consent_at`, `consent_wording`, `consent_source`) is recorded then.
//! - The same rule holds for a supporter a signature creates: the new row
//!   holds the address alone until confirmation, so a stranger's words are
//!   never waiting there for the real person's first alert. A petition that
//!   needs no confirmation counts a signature at once; it gives its details
//!   and consent only to a supporter it creates (nobody else's data is at
//!   stake), never to one who was there before.
//! - Counter caches (`petitions.confirmed_count`, `pending_count`,
//!   `petition_country_counts`) change in the same transaction as the
//!   signatures they count; `confirmed` counts only ever go up.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{deliveries, petition_country_counts, petitions, signatures, supporters};
use super::{deliveries as queue, new_id, write_tx, DbConnection, DbError, DbResult};
use crate::domain::{
    Comment, CountryCode, DeliveryKind, Email, PersonName, PetitionId, PetitionStatus, Postcode,
    SignatureId, SignatureStatus, SupporterId, SupporterStatus,
};
use crate::security::hash_token;
use crate::vault::{seal, seal_opt};

/// A re-signature of a still-pending signature resends the confirmation mail,
/// but not more often than this, so a form cannot be used to flood a mailbox.
const RESEND_AFTER_MINUTES: i64 = 10;

/// A signature as submitted through the form, already parsed.
///
/// `petition_id` stays the id's text: the batch keys its counter deltas by
/// it, and the integration tests build these rows from the API's JSON.
#[derive(Debug, Clone)]
pub struct NewSignature {
    pub petition_id: String,
    pub petition_slug: String,
    pub require_confirmation: bool,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub country: CountryCode,
    pub postcode: Option<Postcode>,
    pub comment: Option<Comment>,
    pub email_opt_in: bool,
    /// The exact consent sentence shown beside the checkbox, recorded with
    /// the consent when the signature is confirmed.
    pub consent_wording: String,
    pub ip_hash: Option<String>,
    pub locale: String,
}

/// What storing a signature did. The web layer answers every case alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutcome {
    /// A new pending signature and its confirmation mail were queued.
    Pending,
    /// Counted at once (the petition needs no confirmation).
    Confirmed,
    /// Already signed; a confirmation mail may have been queued again.
    Duplicate { mail_queued: bool },
    /// The petition is no longer open (closed since the form was checked).
    Closed,
}

impl SignOutcome {
    pub fn mail_queued(self) -> bool {
        matches!(
            self,
            SignOutcome::Pending | SignOutcome::Duplicate { mail_queued: true }
        )
    }
}

#[derive(Default)]
struct CounterDeltas {
    /// petition id → (pending, confirmed)
    petitions: BTreeMap<String, (i64, i64)>,
    /// (petition id, country) → confirmed
    countries: BTreeMap<(String, String), i64>,
    /// The signature log's entries for the confirmations counted here.
    log: super::log::Pending,
}

impl CounterDeltas {
    fn pending(&mut self, petition: &str, n: i64) {
        self.petitions.entry(petition.to_string()).or_default().0 += n;
    }
    /// A signature counted: its petition's and country's counts, and its
    /// entry in the signature log.
    fn confirmed(&mut self, petition: &str, country: &str, signature: &str, email: &str) {
        self.log.confirm(petition, signature, email);
        self.petitions.entry(petition.to_string()).or_default().1 += 1;
        *self
            .countries
            .entry((petition.to_string(), country.to_string()))
            .or_default() += 1;
    }

    /// Writes the deltas, then the log entries (after every count, in
    /// petition order: see `db::log`'s policy on locks).
    fn apply(self, conn: &mut DbConnection, now: NaiveDateTime) -> DbResult<()> {
        for (id, (pending, confirmed)) in self.petitions {
            if pending == 0 && confirmed == 0 {
                continue;
            }
            diesel::update(petitions::table.find(&id))
                .set((
                    petitions::pending_count.eq(petitions::pending_count + pending),
                    petitions::confirmed_count.eq(petitions::confirmed_count + confirmed),
                ))
                .execute(conn)?;
        }
        for ((petition, country), n) in self.countries {
            let updated =
                diesel::update(petition_country_counts::table.find((&petition, &country)))
                    .set(
                        petition_country_counts::confirmed
                            .eq(petition_country_counts::confirmed + n),
                    )
                    .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(petition_country_counts::table)
                    .values((
                        petition_country_counts::petition_id.eq(&petition),
                        petition_country_counts::country.eq(&country),
                        petition_country_counts::confirmed.eq(n),
                    ))
                    .execute(conn)?;
            }
        }
        self.log.append_all(conn, now)
    }
}

/// Finds the supporter with this (normalised) email, changing nothing about
/// them, or creates one: with the form's details only when the signature
/// counts at once (see the module's policy), else with the address alone.
/// Returns the supporter id and whether this signature created them.
pub fn find_or_create_supporter(
    conn: &mut DbConnection,
    s: &NewSignature,
    now: NaiveDateTime,
) -> DbResult<(SupporterId, bool)> {
    let existing = super::supporters::id_by_email(conn, s.email.as_str())?;
    if let Some(id) = existing {
        // Held for the signature about to be made; gone if the sweep of
        // expired signatures deleted them a moment ago (then they sign anew).
        if super::backend::hold_supporter(conn, id.as_str())? {
            return Ok((id, false));
        }
    }
    let id = SupporterId::new();
    let details = !s.require_confirmation;
    diesel::insert_into(supporters::table)
        .values((
            supporters::id.eq(&id),
            supporters::email.eq(seal(s.email.as_str())),
            supporters::email_hash.eq(super::supporters::email_hash(s.email.as_str())?),
            supporters::email_domain.eq(queue::domain_of(s.email.as_str())),
            supporters::first_name.eq(details.then(|| seal(s.first_name.as_str()))),
            supporters::last_name.eq(details.then(|| seal(s.last_name.as_str()))),
            supporters::country.eq(details.then(|| s.country.as_str())),
            supporters::postcode.eq(seal_opt(
                s.postcode.as_ref().filter(|_| details).map(|p| p.as_str()),
            )),
            supporters::locale.eq(details.then_some(&s.locale)),
            supporters::status.eq(SupporterStatus::Active),
            supporters::email_opt_in.eq(false),
            supporters::created_at.eq(now),
            supporters::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok((id, true))
}

/// What a signature's form said about the person, as the signature keeps it.
struct SignedDetails {
    first_name: Option<String>,
    last_name: Option<String>,
    country: String,
    postcode: Option<String>,
    locale: Option<String>,
}

/// Writes a confirmed signature's details to its supporter (see the
/// module's policy for what replaces and what only fills). An erased
/// supporter stays erased.
fn apply_signed_details(
    conn: &mut DbConnection,
    supporter_id: &SupporterId,
    d: SignedDetails,
    now: NaiveDateTime,
) -> DbResult<()> {
    #[allow(clippy::type_complexity)]
    let current: Option<(
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )> = supporters::table
        .find(supporter_id)
        .filter(supporters::status.ne(SupporterStatus::Erased))
        .select((
            supporters::first_name,
            supporters::last_name,
            supporters::country,
            supporters::postcode,
            supporters::locale,
        ))
        .first(conn)
        .optional()?;
    let Some((first, last, country, postcode, locale)) = current else {
        return Ok(());
    };
    // A postcode belongs to its country: a move without one forgets it.
    let same_country = country.as_deref() == Some(d.country.as_str());
    let postcode = d.postcode.or(postcode.filter(|_| same_country));
    diesel::update(supporters::table.find(supporter_id))
        .set((
            supporters::first_name.eq(d.first_name.or(first)),
            supporters::last_name.eq(d.last_name.or(last)),
            supporters::country.eq(Some(d.country)),
            supporters::postcode.eq(postcode),
            supporters::locale.eq(locale.or(d.locale)),
            supporters::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records consent on a confirmed signature's supporter, if they ticked the
/// box and are still active (an unsubscribed person is not re-subscribed by
/// signing).
fn record_consent(
    conn: &mut DbConnection,
    supporter_id: &SupporterId,
    wording: &str,
    source: &str,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(
        supporters::table
            .find(supporter_id)
            .filter(supporters::status.eq(SupporterStatus::Active)),
    )
    .set((
        supporters::email_opt_in.eq(true),
        supporters::consent_at.eq(now),
        supporters::consent_wording.eq(wording),
        supporters::consent_source.eq(source),
        supporters::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

fn consent_source(slug: &str) -> String {
    format!("petition:{slug}")
}

/// A signature counts at once (`confirmed`) or waits for its link (`pending`).
fn signed_status(confirm_now: bool) -> SignatureStatus {
    if confirm_now {
        SignatureStatus::Confirmed
    } else {
        SignatureStatus::Pending
    }
}

#[derive(Queryable)]
struct ExistingSignature {
    id: SignatureId,
    status: SignatureStatus,
    expires_at: Option<NaiveDateTime>,
}

fn sign_in_tx(
    conn: &mut DbConnection,
    s: &NewSignature,
    now: NaiveDateTime,
    ttl: Duration,
    deltas: &mut CounterDeltas,
) -> DbResult<SignOutcome> {
    let (supporter_id, created) = find_or_create_supporter(conn, s, now)?;
    let existing: Option<ExistingSignature> = signatures::table
        .filter(signatures::petition_id.eq(&s.petition_id))
        .filter(signatures::supporter_id.eq(&supporter_id))
        .select((signatures::id, signatures::status, signatures::expires_at))
        .first(conn)
        .optional()?;
    match existing {
        Some(e) if e.status == SignatureStatus::Confirmed => {
            Ok(SignOutcome::Duplicate { mail_queued: false })
        }
        Some(e) if e.expires_at.is_some_and(|t| t > now) => {
            // Still pending: the person may have lost the mail. Send a fresh
            // link unless one was queued a moment ago.
            let recent: i64 = deliveries::table
                .filter(deliveries::signature_id.eq(&e.id))
                .filter(deliveries::created_at.gt(now - Duration::minutes(RESEND_AFTER_MINUTES)))
                .count()
                .get_result(conn)?;
            if recent > 0 {
                return Ok(SignOutcome::Duplicate { mail_queued: false });
            }
            // The mail carries the same link as the first: it is made from
            // the signature id when the message is built.
            queue::enqueue_about_signature(
                conn,
                DeliveryKind::Confirmation,
                &e.id,
                &supporter_id,
                s.email.as_str(),
            )?;
            Ok(SignOutcome::Duplicate { mail_queued: true })
        }
        Some(e) => {
            // An expired pending signature: the person starts again.
            let confirm_now = !s.require_confirmation;
            diesel::update(signatures::table.find(&e.id))
                .set((
                    signatures::status.eq(signed_status(confirm_now)),
                    signatures::first_name.eq(seal(s.first_name.as_str())),
                    signatures::last_name.eq(seal(s.last_name.as_str())),
                    signatures::country.eq(s.country.as_str()),
                    signatures::postcode.eq(seal_opt(s.postcode.as_ref().map(|p| p.as_str()))),
                    signatures::comment.eq(seal_opt(s.comment.as_ref().map(|c| c.as_str()))),
                    signatures::email_opt_in.eq(s.email_opt_in),
                    signatures::ip_hash.eq(&s.ip_hash),
                    // A link mailed before tokens were derived dies with
                    // the signing it was for.
                    signatures::confirm_token_hash.eq(None::<String>),
                    signatures::confirm_secret_hash.eq(None::<String>),
                    signatures::locale.eq(&s.locale),
                    signatures::signed_at.eq(now),
                    signatures::confirmed_at.eq(confirm_now.then_some(now)),
                    signatures::expires_at.eq((!confirm_now).then_some(now + ttl)),
                ))
                .execute(conn)?;
            if confirm_now {
                deltas.pending(&s.petition_id, -1);
                deltas.confirmed(
                    &s.petition_id,
                    s.country.as_str(),
                    e.id.as_str(),
                    s.email.as_str(),
                );
                // They signed before, so the supporter was there before:
                // an unconfirmed address gives them nothing.
                if s.email_opt_in && created {
                    record_consent(
                        conn,
                        &supporter_id,
                        &s.consent_wording,
                        &consent_source(&s.petition_slug),
                        now,
                    )?;
                }
                Ok(SignOutcome::Confirmed)
            } else {
                queue::enqueue_about_signature(
                    conn,
                    DeliveryKind::Confirmation,
                    &e.id,
                    &supporter_id,
                    s.email.as_str(),
                )?;
                Ok(SignOutcome::Pending)
            }
        }
        None => {
            let id = SignatureId::new();
            let confirm_now = !s.require_confirmation;
            diesel::insert_into(signatures::table)
                .values((
                    signatures::id.eq(&id),
                    signatures::petition_id.eq(&s.petition_id),
                    signatures::supporter_id.eq(&supporter_id),
                    signatures::status.eq(signed_status(confirm_now)),
                    signatures::first_name.eq(seal(s.first_name.as_str())),
                    signatures::last_name.eq(seal(s.last_name.as_str())),
                    signatures::country.eq(s.country.as_str()),
                    signatures::postcode.eq(seal_opt(s.postcode.as_ref().map(|p| p.as_str()))),
                    signatures::comment.eq(seal_opt(s.comment.as_ref().map(|c| c.as_str()))),
                    signatures::email_opt_in.eq(s.email_opt_in),
                    signatures::ip_hash.eq(&s.ip_hash),
                    signatures::locale.eq(&s.locale),
                    signatures::signed_at.eq(now),
                    signatures::confirmed_at.eq(confirm_now.then_some(now)),
                    signatures::expires_at.eq((!confirm_now).then_some(now + ttl)),
                ))
                .execute(conn)?;
            if confirm_now {
                deltas.confirmed(
                    &s.petition_id,
                    s.country.as_str(),
                    id.as_str(),
                    s.email.as_str(),
                );
                // Counted at once: consent only for a supporter this
                // signature created (an address nobody proved gives someone
                // who was there before nothing).
                if s.email_opt_in && created {
                    record_consent(
                        conn,
                        &supporter_id,
                        &s.consent_wording,
                        &consent_source(&s.petition_slug),
                        now,
                    )?;
                }
                Ok(SignOutcome::Confirmed)
            } else {
                deltas.pending(&s.petition_id, 1);
                queue::enqueue_about_signature(
                    conn,
                    DeliveryKind::Confirmation,
                    &id,
                    &supporter_id,
                    s.email.as_str(),
                )?;
                Ok(SignOutcome::Pending)
            }
        }
    }
}

/// Stores a batch of signatures in one write transaction, in order (so two
/// submissions of one address in the same batch make one signature).
/// Either every signature of the batch is stored or none is; on an error the
/// caller retries them one by one with [`sign`].
///
/// The common case, an address signing for the first time, is stored with
/// one multi-row INSERT per table for the whole batch; an address already
/// known, or submitted twice in the batch, goes through [`sign_in_tx`] one
/// by one, as before. Both give the same rows.
pub fn sign_batch(
    conn: &mut DbConnection,
    batch: &[NewSignature],
    pending_ttl: Duration,
) -> DbResult<Vec<SignOutcome>> {
    use diesel::connection::SimpleConnection;
    let now = super::now();
    // SQLite writes a statement journal for each multi-row INSERT inside a
    // transaction; for these small ones memory is cheaper than a temporary
    // file. Only here: bigger work (imports, DISTINCT over an audience)
    // keeps its temporary data on disk, so memory stays flat.
    let sqlite = super::backend::name(conn) == "sqlite";
    if sqlite {
        conn.batch_execute("PRAGMA temp_store = MEMORY")?;
    }
    let result = write_tx(conn, |conn| {
        let mut deltas = CounterDeltas::default();
        let mut out: Vec<Option<SignOutcome>> = vec![None; batch.len()];
        // The caller checked the petition a moment ago, maybe in a cache;
        // the status that counts is the one in this transaction.
        let mut open: BTreeMap<&str, bool> = BTreeMap::new();
        for (i, s) in batch.iter().enumerate() {
            let is_open = match open.get(s.petition_id.as_str()) {
                Some(o) => *o,
                None => {
                    let status: Option<PetitionStatus> = petitions::table
                        .find(&s.petition_id)
                        .select(petitions::status)
                        .first(conn)
                        .optional()?;
                    let o = status == Some(PetitionStatus::Open);
                    open.insert(&s.petition_id, o);
                    o
                }
            };
            if !is_open {
                out[i] = Some(SignOutcome::Closed);
            }
        }
        let fresh = first_time_signers(conn, batch, &out)?;
        store_first_signatures(conn, batch, &fresh, now, pending_ttl, &mut deltas, &mut out)?;
        for (i, s) in batch.iter().enumerate() {
            if out[i].is_none() {
                out[i] = Some(sign_in_tx(conn, s, now, pending_ttl, &mut deltas)?);
            }
        }
        deltas.apply(conn, now)?;
        Ok(out
            .into_iter()
            .map(|o| o.expect("every signature has an outcome"))
            .collect())
    });
    if sqlite {
        // After the commit: a failure here must not turn stored signatures
        // into an error.
        if let Err(e) = conn.batch_execute("PRAGMA temp_store = DEFAULT") {
            tracing::warn!(error = %e, "resetting temp_store failed");
        }
    }
    result
}

/// Positions in `batch` (among those without an outcome yet) of addresses
/// that no supporter has and that the batch holds once.
fn first_time_signers(
    conn: &mut DbConnection,
    batch: &[NewSignature],
    out: &[Option<SignOutcome>],
) -> DbResult<Vec<usize>> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for s in batch {
        *seen.entry(s.email.as_str()).or_default() += 1;
    }
    let candidates: Vec<usize> = (0..batch.len())
        .filter(|&i| out[i].is_none() && seen[batch[i].email.as_str()] == 1)
        .collect();
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let mut known = std::collections::HashSet::new();
    for chunk in candidates.chunks(500) {
        let emails: Vec<&str> = chunk.iter().map(|&i| batch[i].email.as_str()).collect();
        known.extend(
            super::supporters::known_among(conn, &emails)?
                .into_iter()
                .map(str::to_string),
        );
    }
    Ok(candidates
        .into_iter()
        .filter(|&i| !known.contains(batch[i].email.as_str()))
        .collect())
}

/// Stores the signatures of first-time signers at `fresh`, with their new
/// supporters and confirmation mails, in one INSERT per table: the same
/// rows [`sign_in_tx`] writes for a new address.
fn store_first_signatures(
    conn: &mut DbConnection,
    batch: &[NewSignature],
    fresh: &[usize],
    now: NaiveDateTime,
    ttl: Duration,
    deltas: &mut CounterDeltas,
    out: &mut [Option<SignOutcome>],
) -> DbResult<()> {
    use super::backend::{NewDeliveryRow, NewSignatureRow};
    if fresh.is_empty() {
        return Ok(());
    }
    let mut people = Vec::with_capacity(fresh.len());
    let mut rows = Vec::with_capacity(fresh.len());
    let mut mails = Vec::with_capacity(fresh.len());
    for &i in fresh {
        let s = &batch[i];
        let supporter = crate::domain::SupporterId::new();
        let supporter_id = supporter.as_str().to_owned();
        let signature_id = new_id();
        let confirm_now = !s.require_confirmation;
        // Consent and details reach the supporter when the signature counts:
        // until it is confirmed, the new row holds the address alone.
        let consent = confirm_now && s.email_opt_in;
        let details = confirm_now;
        people.push(super::supporters::Supporter {
            id: supporter,
            email: Some(s.email.as_str().to_string()),
            first_name: details.then(|| s.first_name.as_str().to_string()),
            last_name: details.then(|| s.last_name.as_str().to_string()),
            country: details.then(|| s.country.as_str().to_string()),
            postcode: s
                .postcode
                .as_ref()
                .filter(|_| details)
                .map(|p| p.as_str().to_string()),
            locale: details.then(|| s.locale.clone()),
            status: crate::domain::SupporterStatus::Active,
            email_opt_in: consent,
            consent_at: consent.then_some(now),
            consent_wording: consent.then(|| s.consent_wording.clone()),
            consent_source: consent.then(|| consent_source(&s.petition_slug)),
            unsubscribed_at: None,
            bounced_at: None,
            erased_at: None,
            created_at: now,
            updated_at: now,
            unsubscribe_reason: None,
        });
        rows.push(NewSignatureRow {
            id: signature_id.clone(),
            petition_id: s.petition_id.clone(),
            supporter_id: supporter_id.clone(),
            status: signed_status(confirm_now).as_str().into(),
            country: s.country.as_str().to_string(),
            postcode: seal_opt(s.postcode.as_ref().map(|p| p.as_str())),
            comment: seal_opt(s.comment.as_ref().map(|c| c.as_str())),
            email_opt_in: s.email_opt_in,
            ip_hash: s.ip_hash.clone(),
            confirm_token_hash: None,
            confirm_secret_hash: None,
            locale: Some(s.locale.clone()),
            signed_at: now.into(),
            confirmed_at: confirm_now.then_some(now.into()),
            expires_at: (!confirm_now).then_some((now + ttl).into()),
            first_name: Some(seal(s.first_name.as_str())),
            last_name: Some(seal(s.last_name.as_str())),
        });
        if confirm_now {
            deltas.confirmed(
                &s.petition_id,
                s.country.as_str(),
                &signature_id,
                s.email.as_str(),
            );
            out[i] = Some(SignOutcome::Confirmed);
        } else {
            deltas.pending(&s.petition_id, 1);
            mails.push(NewDeliveryRow {
                kind: DeliveryKind::Confirmation,
                supporter_id: Some(supporter_id),
                signature_id: Some(signature_id),
                payload: None,
                status: crate::domain::DeliveryStatus::Queued,
                attempts: 0,
                next_attempt_at: now.into(),
                created_at: now.into(),
                domain: super::deliveries::domain_of(s.email.as_str()),
            });
            out[i] = Some(SignOutcome::Pending);
        }
    }
    super::backend::insert_new_signers(conn, &people, &rows, &mails)
}

/// Stores one signature in its own transaction. A unique violation means
/// another process stored the same supporter or signature at the same
/// moment; the second try sees it.
pub fn sign(
    conn: &mut DbConnection,
    s: &NewSignature,
    pending_ttl: Duration,
) -> DbResult<SignOutcome> {
    let one = std::slice::from_ref(s);
    match sign_batch(conn, one, pending_ttl) {
        Err(DbError::Query(e)) if super::is_unique_violation(&e) => {
            Ok(sign_batch(conn, one, pending_ttl)?[0])
        }
        other => other.map(|v| v[0]),
    }
}

/// What a confirmation token points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTarget {
    pub signature_id: SignatureId,
    pub petition_id: PetitionId,
    pub status: SignatureStatus,
    pub expired: bool,
    /// The language the signer used, for the pages the link leads to.
    pub locale: Option<String>,
}

/// Whether a token is the one derived for a signature signed at a moment
/// (the campaign layer's check under the process keys: storage holds no key).
pub type TokenProof<'a> = &'a dyn Fn(&SignatureId, NaiveDateTime) -> bool;

/// The signature a confirmation token belongs to, if the token is genuine
/// and the signer not erased. The token's first 32 characters name the
/// signature; the rest is proven by `proves` (tokens derived when the mail
/// was built), or, for tokens mailed before those, by the hash of the whole
/// token in `confirm_secret_hash`. The oldest links, random throughout, are
/// found by the indexed `confirm_token_hash`. Erasure forgets stored hashes.
fn token_signature(
    conn: &mut DbConnection,
    token: &str,
    proves: TokenProof,
) -> DbResult<Option<SignatureId>> {
    let hash = hash_token(token);
    let id = token
        .get(..32)
        .filter(|_| token.len() > 32)
        .and_then(|head| SignatureId::parse(head).ok());
    match id {
        Some(id) => {
            let row: Option<(NaiveDateTime, Option<String>, SupporterStatus)> = signatures::table
                .inner_join(supporters::table)
                .filter(signatures::id.eq(&id))
                .select((
                    signatures::signed_at,
                    signatures::confirm_secret_hash,
                    supporters::status,
                ))
                .first(conn)
                .optional()?;
            let Some((signed_at, stored, status)) = row else {
                return Ok(None);
            };
            // Comparing hashes: timing reveals nothing of the token.
            let genuine = proves(&id, signed_at) || stored.as_deref() == Some(hash.as_str());
            Ok((genuine && status != SupporterStatus::Erased).then_some(id))
        }
        None => Ok(signatures::table
            .filter(signatures::confirm_token_hash.eq(hash))
            .select(signatures::id)
            .first(conn)
            .optional()?),
    }
}

/// Looks up a confirmation token; changes nothing.
pub fn find_by_token(
    conn: &mut DbConnection,
    token: &str,
    proves: TokenProof,
    now: NaiveDateTime,
) -> DbResult<Option<TokenTarget>> {
    let Some(id) = token_signature(conn, token, proves)? else {
        return Ok(None);
    };
    #[allow(clippy::type_complexity)]
    let row: Option<(
        SignatureId,
        PetitionId,
        SignatureStatus,
        Option<NaiveDateTime>,
        Option<String>,
    )> = signatures::table
        .find(&id)
        .select((
            signatures::id,
            signatures::petition_id,
            signatures::status,
            signatures::expires_at,
            signatures::locale,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(signature_id, petition_id, status, expires_at, locale)| TokenTarget {
            expired: status == SignatureStatus::Pending && expires_at.is_some_and(|t| t <= now),
            signature_id,
            petition_id,
            status,
            locale,
        },
    ))
}

/// A signature as confirming it needs it.
#[derive(Queryable)]
struct Pending {
    id: SignatureId,
    petition_id: PetitionId,
    supporter_id: SupporterId,
    status: SignatureStatus,
    country: String,
    opt_in: bool,
    locale: Option<String>,
    expires_at: Option<NaiveDateTime>,
    first_name: Option<String>,
    last_name: Option<String>,
    postcode: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// Confirmed now.
    Confirmed {
        petition_id: PetitionId,
        signature_id: SignatureId,
    },
    /// Confirmed before: nothing changed.
    AlreadyConfirmed {
        petition_id: PetitionId,
        signature_id: SignatureId,
    },
    /// Pending past its expiry: the person must sign again.
    Expired {
        petition_id: PetitionId,
    },
    Unknown,
}

/// Confirms the pending signature a token belongs to, idempotently, and
/// updates the counter caches and the supporter's consent in the same
/// transaction. `consent_wording` gives the consent sentence for a locale
/// (the one the signer saw).
pub fn confirm(
    conn: &mut DbConnection,
    token: &str,
    proves: TokenProof,
    now: NaiveDateTime,
    consent_wording: &dyn Fn(Option<&str>) -> String,
) -> DbResult<ConfirmOutcome> {
    write_tx(conn, |conn| {
        let mut deltas = CounterDeltas::default();
        let outcome = confirm_in_tx(conn, token, proves, now, consent_wording, &mut deltas)?;
        deltas.apply(conn, now)?;
        Ok(outcome)
    })
}

/// A confirmation the batching writer stores: the token, and when it came.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    pub token: String,
    pub at: NaiveDateTime,
}

/// Confirms a batch in one transaction, as [`confirm`] does each: the
/// counter caches and the signature log are written once per petition for
/// the whole batch. A token twice in one batch counts once (the second
/// finds it confirmed). `proves` checks a token's proof for a signature.
pub fn confirm_batch(
    conn: &mut DbConnection,
    batch: &[ConfirmRequest],
    proves: &dyn Fn(&str, &SignatureId, NaiveDateTime) -> bool,
    consent_wording: &dyn Fn(Option<&str>) -> String,
) -> DbResult<Vec<ConfirmOutcome>> {
    let Some(last) = batch.iter().map(|r| r.at).max() else {
        return Ok(Vec::new());
    };
    write_tx(conn, |conn| {
        let mut deltas = CounterDeltas::default();
        let mut outcomes = Vec::with_capacity(batch.len());
        for r in batch {
            let proof = |id: &SignatureId, at| proves(&r.token, id, at);
            outcomes.push(confirm_in_tx(
                conn,
                &r.token,
                &proof,
                r.at,
                consent_wording,
                &mut deltas,
            )?);
        }
        deltas.apply(conn, last)?;
        Ok(outcomes)
    })
}

/// Confirms inside the caller's write transaction; the counts and the log
/// entry go into `deltas`, which the caller applies.
fn confirm_in_tx(
    conn: &mut DbConnection,
    token: &str,
    proves: TokenProof,
    now: NaiveDateTime,
    consent_wording: &dyn Fn(Option<&str>) -> String,
    deltas: &mut CounterDeltas,
) -> DbResult<ConfirmOutcome> {
    let Some(id) = token_signature(conn, token, proves)? else {
        return Ok(ConfirmOutcome::Unknown);
    };
    let row: Option<Pending> = signatures::table
        .inner_join(supporters::table)
        .filter(signatures::id.eq(&id))
        .select((
            signatures::id,
            signatures::petition_id,
            signatures::supporter_id,
            signatures::status,
            signatures::country,
            signatures::email_opt_in,
            signatures::locale,
            signatures::expires_at,
            signatures::first_name,
            signatures::last_name,
            signatures::postcode,
            supporters::email,
        ))
        .first(conn)
        .optional()?;
    let Some(Pending {
        id,
        petition_id,
        supporter_id,
        status,
        country,
        opt_in,
        locale,
        expires_at,
        first_name,
        last_name,
        postcode,
        email,
    }) = row
    else {
        return Ok(ConfirmOutcome::Unknown);
    };
    if status == SignatureStatus::Confirmed {
        return Ok(ConfirmOutcome::AlreadyConfirmed {
            petition_id,
            signature_id: id,
        });
    }
    if expires_at.is_some_and(|t| t <= now) {
        return Ok(ConfirmOutcome::Expired { petition_id });
    }
    // The status guard makes a concurrent second confirmation a no-op
    // rather than a second count.
    let changed = diesel::update(
        signatures::table
            .find(&id)
            .filter(signatures::status.eq(SignatureStatus::Pending)),
    )
    .set((
        signatures::status.eq(SignatureStatus::Confirmed),
        signatures::confirmed_at.eq(now),
        signatures::expires_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(ConfirmOutcome::AlreadyConfirmed {
            petition_id,
            signature_id: id,
        });
    }
    let email = crate::vault::open_opt(email)?;
    deltas.pending(petition_id.as_str(), -1);
    // An erased supporter's token finds nothing (`token_signature`), so
    // the address is there; an empty one would commit to nothing.
    deltas.confirmed(
        petition_id.as_str(),
        &country,
        id.as_str(),
        email.as_deref().unwrap_or(""),
    );
    // Their receipt code, by mail: the answer to confirming.
    if let Some(email) = &email {
        super::deliveries::enqueue_about_signature(
            conn,
            DeliveryKind::Receipt,
            &id,
            &supporter_id,
            email,
        )?;
    }
    // The address is proven theirs: what they typed becomes theirs.
    apply_signed_details(
        conn,
        &supporter_id,
        SignedDetails {
            first_name,
            last_name,
            country,
            postcode,
            locale: locale.clone(),
        },
        now,
    )?;
    if opt_in {
        let slug: String = petitions::table
            .find(&petition_id)
            .select(petitions::slug)
            .first(conn)?;
        record_consent(
            conn,
            &supporter_id,
            &consent_wording(locale.as_deref()),
            &consent_source(&slug),
            now,
        )?;
    }
    Ok(ConfirmOutcome::Confirmed {
        petition_id,
        signature_id: id,
    })
}

/// Deletes up to `limit` pending signatures whose confirmation time ran out,
/// with their confirmation mails, and takes them off the petitions' pending
/// counts. An unconfirmed signature is not a signature: nobody showed the
/// address was theirs, so nothing of it is kept. A supporter created by such
/// a signature goes too, unless something else (a list, another signature,
/// a mail) holds them. Returns how many signatures were deleted; run it
/// until that is 0.
pub fn sweep_expired(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> DbResult<usize> {
    use super::schema::list_members;
    write_tx(conn, |conn| {
        // `status = 'pending'` written into the SQL, so the planner matches
        // the partial index `signatures_pending_expiry`.
        let expired: Vec<(String, String, String, NaiveDateTime)> = signatures::table
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "signatures.status = 'pending'",
            ))
            .filter(signatures::expires_at.lt(now))
            .select((
                signatures::id,
                signatures::petition_id,
                signatures::supporter_id,
                signatures::signed_at,
            ))
            .limit(limit)
            .load(conn)?;
        if expired.is_empty() {
            return Ok(0);
        }
        // Their supporters first, then the signatures: what is in use this
        // moment (someone signing again, confirming, being reminded) waits
        // for a later sweep, and what is locked here gains no signature or
        // mail before it goes. So its mails can go first (SQLite checks each
        // mail's signature by foreign key).
        let people: Vec<&str> = expired.iter().map(|e| e.2.as_str()).collect();
        let free = super::backend::lock_supporters_to_delete(conn, &people)?;
        let ids: Vec<&str> = expired
            .iter()
            .filter(|e| free.contains(&e.2))
            .map(|e| e.0.as_str())
            .collect();
        let still = super::backend::lock_expired_signatures(conn, &ids, now)?;
        let gone: Vec<_> = expired.iter().filter(|e| still.contains(&e.0)).collect();
        let ids: Vec<&str> = gone.iter().map(|e| e.0.as_str()).collect();
        diesel::delete(deliveries::table.filter(deliveries::signature_id.eq_any(&ids)))
            .execute(conn)?;
        diesel::delete(signatures::table.filter(signatures::id.eq_any(&ids))).execute(conn)?;
        let mut per_petition: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &gone {
            *per_petition.entry(e.1.as_str()).or_default() += 1;
        }
        for (petition, n) in per_petition {
            diesel::update(petitions::table.find(petition))
                .set(petitions::pending_count.eq(petitions::pending_count - n))
                .execute(conn)?;
        }
        let deleted = gone.len();
        for (_, _, supporter, signed_at) in gone {
            // Created by that signature (same moment), and nothing else
            // holds them.
            let held = diesel::select(diesel::dsl::exists(
                signatures::table.filter(signatures::supporter_id.eq(supporter)),
            ))
            .get_result::<bool>(conn)?
                || diesel::select(diesel::dsl::exists(
                    list_members::table.filter(list_members::supporter_id.eq(supporter)),
                ))
                .get_result::<bool>(conn)?
                || diesel::select(diesel::dsl::exists(
                    deliveries::table.filter(deliveries::supporter_id.eq(supporter)),
                ))
                .get_result::<bool>(conn)?;
            if !held {
                diesel::delete(
                    supporters::table
                        .find(supporter)
                        .filter(supporters::created_at.eq(signed_at))
                        .filter(supporters::status.eq(SupporterStatus::Active))
                        .filter(supporters::email_opt_in.eq(false)),
                )
                .execute(conn)?;
            }
        }
        Ok(deleted)
    })
}

/// The payload of a confirmation delivery that is the signing's one
/// reminder (`mail::kinds::confirmation` words it as one).
pub const REMINDER_PAYLOAD: &str = "reminder";

/// Queues the one reminder of up to `limit` pending signatures made at or
/// before `signed_before` and not reminded yet, on open petitions, whose
/// confirmation time has not run out by `now`, to signers with an address.
/// Each signature is marked reminded in the transaction that queues its
/// mail, and only if nobody marked it first, so a crash or a second
/// process never sends two. Returns how many were queued; run it until 0.
pub fn queue_reminders(
    conn: &mut DbConnection,
    signed_before: NaiveDateTime,
    now: NaiveDateTime,
    limit: i64,
) -> DbResult<usize> {
    write_tx(conn, |conn| {
        // `status = 'pending'` and `reminded_at IS NULL` written into the
        // SQL, so the planner matches the partial index `signatures_to_remind`.
        let due: Vec<(String, String, Option<String>)> = signatures::table
            .inner_join(petitions::table)
            .inner_join(supporters::table)
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "signatures.status = 'pending' AND signatures.reminded_at IS NULL",
            ))
            .filter(signatures::signed_at.le(signed_before))
            .filter(
                signatures::expires_at
                    .is_null()
                    .or(signatures::expires_at.gt(now)),
            )
            .filter(petitions::status.eq(PetitionStatus::Open))
            .filter(supporters::email.is_not_null())
            .order(signatures::signed_at.asc())
            .select((signatures::id, signatures::supporter_id, supporters::email))
            .limit(limit)
            .load(conn)?;
        let mut queued = 0;
        for (id, supporter, email) in due {
            let marked = diesel::update(
                signatures::table
                    .find(&id)
                    .filter(signatures::status.eq(SignatureStatus::Pending))
                    .filter(signatures::reminded_at.is_null()),
            )
            .set(signatures::reminded_at.eq(now))
            .execute(conn)?;
            if marked == 0 {
                continue;
            }
            // Due at once by the queue's own clock (the worker claims by
            // the database time), whatever `now` the job judged by.
            let queued_at = super::now();
            diesel::insert_into(deliveries::table)
                .values((
                    deliveries::kind.eq(crate::domain::DeliveryKind::Confirmation),
                    deliveries::signature_id.eq(&id),
                    deliveries::supporter_id.eq(&supporter),
                    deliveries::payload.eq(REMINDER_PAYLOAD),
                    deliveries::domain.eq(email.as_deref().and_then(queue::domain_of)),
                    deliveries::status.eq(crate::domain::DeliveryStatus::Queued),
                    deliveries::attempts.eq(0),
                    deliveries::next_attempt_at.eq(queued_at),
                    deliveries::created_at.eq(queued_at),
                ))
                .execute(conn)?;
            queued += 1;
        }
        Ok(queued)
    })
}

/// Reminders sent, and how many of those signatures were confirmed since:
/// of one petition, or of all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReminderCounts {
    pub reminded: i64,
    pub confirmed_after: i64,
}

pub fn reminder_counts(
    conn: &mut DbConnection,
    petition: Option<&PetitionId>,
) -> DbResult<ReminderCounts> {
    let mut q = signatures::table
        .filter(signatures::reminded_at.is_not_null())
        .group_by(signatures::status)
        .select((signatures::status, diesel::dsl::count_star()))
        .into_boxed();
    if let Some(p) = petition {
        q = q.filter(signatures::petition_id.eq(p.as_str().to_string()));
    }
    let rows: Vec<(SignatureStatus, i64)> = q.load(conn)?;
    let mut out = ReminderCounts::default();
    for (status, n) in rows {
        out.reminded += n;
        if status == SignatureStatus::Confirmed {
            out.confirmed_after += n;
        }
    }
    Ok(out)
}

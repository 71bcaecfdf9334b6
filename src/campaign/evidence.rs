//! Evidence for a count (contract §10): the public signature log, signed
//! snapshots, the signing keys, signers' receipts, verification and the
//! dossier handed to an authority.
//!
//! Owns: when a snapshot is made (at most once per `snapshot_every_secs`
//! while a count moves, when it is asked for, and for a dossier), where the
//! signing key comes from (`CLARION_SIGNING_KEY`, else `signing.key` in the
//! key folder, made on first use, never the database) and its rotation,
//! what a receipt code is (the signature's id and a tag only this service
//! can make), and who may take a dossier (organisers and up).
//!
//! Never: hashes, signs or checks by itself (that is
//! [`crate::domain::ledger`]), writes log entries (confirming and erasing do,
//! in their own transactions), or shows anything that names a signer on a
//! public read.

use chrono::Duration;

use crate::db::log as store;
use crate::db::{petitions as petition_rows, DbConnection};
use crate::domain::ledger::{
    self, Broken, Entry, PublicKey, Snapshot, SnapshotBody, SnapshotKey, Verified,
};
use crate::domain::{PetitionId, Role, SignatureId};
use crate::security::key_file;

use super::public::{self, Petition};
use super::{Actor, CampaignError, CampaignResult, Context};

/// Entries per page of `log.json`.
pub const LOG_PAGE: i64 = 1000;

/// One page of a petition's public log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogPage {
    pub entries: Vec<Entry>,
    pub next_after: Option<i64>,
}

/// A public petition by slug (drafts are not public).
async fn public_petition(ctx: &Context, slug: &str) -> CampaignResult<Petition> {
    public::petition(ctx, slug)
        .await?
        .map(|p| p.petition)
        .ok_or(CampaignError::not_found("petition"))
}

/// Entries after `after`, at most [`LOG_PAGE`].
pub async fn log_page(ctx: &Context, slug: &str, after: i64) -> CampaignResult<LogPage> {
    let petition = public_petition(ctx, slug).await?;
    let after = after.max(0);
    ctx.run(move |c| {
        let entries = store::page(c, &petition.id, after, LOG_PAGE)?;
        let next_after = (entries.len() as i64 == LOG_PAGE)
            .then(|| entries.last().map(|e| e.body.seq))
            .flatten();
        Ok(LogPage {
            entries,
            next_after,
        })
    })
    .await
}

/// The signing key: `CLARION_SIGNING_KEY`, else the key file (made now if
/// there is none).
pub fn signing_key(ctx: &Context) -> CampaignResult<SnapshotKey> {
    use secrecy::ExposeSecret;
    let text = match &ctx.settings.signing_key {
        Some(k) => k.expose_secret().to_string(),
        None => key_file::get_or_create(&ctx.settings.signing_key_file(), || {
            SnapshotKey::generate().to_text()
        })
        .map_err(|e| {
            CampaignError::Internal(anyhow::anyhow!(
                "cannot read or make the signing key file {}: {e}",
                ctx.settings.signing_key_file().display()
            ))
        })?,
    };
    SnapshotKey::parse(&text).map_err(|e| {
        CampaignError::Internal(anyhow::anyhow!(
            "the signing key in {} is unusable: {e}",
            ctx.settings.signing_key_file().display()
        ))
    })
}

fn public_half(key: &SnapshotKey, created: chrono::NaiveDateTime) -> PublicKey {
    PublicKey {
        key_id: key.key_id(),
        alg: "Ed25519".into(),
        public_key: key.public_key(),
        created: ledger::timestamp(created),
        retired: None,
    }
}

/// Makes a snapshot of `petition_id` now, unless `only_if_stale` and the
/// newest one is recent enough or the count has not moved since (then that
/// one is returned). One transaction, under the chain's lock.
fn snapshot_in(
    c: &mut DbConnection,
    key: &SnapshotKey,
    petition_id: &str,
    now: chrono::NaiveDateTime,
    only_if_stale: Option<Duration>,
) -> CampaignResult<Option<Snapshot>> {
    let Some(state) = store::count_state(c, petition_id)? else {
        return Ok(None);
    };
    let min = petition_min_count(c, petition_id)?;
    if let Some(every) = only_if_stale {
        if let Some(latest) = store::latest_snapshot(c, petition_id)? {
            let moved = latest.body.log_seq != state.log_seq;
            // One that names a country the threshold now hides is never
            // the current one.
            let reveals = public::names_small_numbers(&latest.body.by_country, min);
            if !reveals && (!moved || now - issued(&latest, now) < every) {
                return Ok(Some(latest));
            }
        }
    }
    store::remember_key(c, &public_half(key, now), now)?;
    let snapshot = key.sign(SnapshotBody {
        petition: state.slug,
        // The total stays whole (`clarion verify` checks it against the
        // log); only the countries are hidden.
        confirmed: state.confirmed,
        by_country: public::hide_small_numbers(state.by_country, min)
            .into_iter()
            .collect(),
        log_seq: state.log_seq,
        log_head: state.log_head,
        issued_at: ledger::timestamp(now),
        key_id: key.key_id(),
    });
    store::insert_snapshot(c, petition_id, &snapshot, now)?;
    Ok(Some(snapshot))
}

/// The petition's small-numbers threshold (0 when it is gone).
fn petition_min_count(c: &mut DbConnection, petition_id: &str) -> CampaignResult<i64> {
    let id = PetitionId::parse(petition_id).map_err(|_| CampaignError::not_found("petition"))?;
    Ok(petition_rows::get(c, &id)?.map_or(0, |p| p.public_min_count))
}

/// When `s` was issued (`now` for a time that does not parse: then it
/// counts as fresh, and the next interval replaces it).
fn issued(s: &Snapshot, now: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    chrono::DateTime::parse_from_rfc3339(&s.body.issued_at)
        .map(|t| t.naive_utc())
        .unwrap_or(now)
}

fn every(ctx: &Context) -> Duration {
    Duration::seconds(ctx.settings.snapshot_every_secs as i64)
}

/// The snapshot the public sees: the newest, or a new one when there is
/// none yet or the count moved and the newest is older than the interval.
pub async fn current_snapshot(ctx: &Context, slug: &str) -> CampaignResult<Snapshot> {
    let petition = public_petition(ctx, slug).await?;
    let id = petition.id.as_str().to_string();
    let min = petition.public_min_count;
    // Most reads find a fresh snapshot without writing.
    let every = every(ctx);
    let now = ctx.now();
    let fresh = {
        let id = id.clone();
        ctx.run(move |c| {
            let latest = store::latest_snapshot(c, &id)?;
            let (seq, _) = store::head(c, &id)?;
            Ok(latest.filter(|s| {
                !public::names_small_numbers(&s.body.by_country, min)
                    && (s.body.log_seq == seq || now - issued(s, now) < every)
            }))
        })
        .await?
    };
    if let Some(s) = fresh {
        return Ok(s);
    }
    let key = signing_key(ctx)?;
    ctx.write(move |c| snapshot_in(c, &key, &id, now, Some(every)))
        .await?
        .ok_or(CampaignError::not_found("petition"))
}

/// Every snapshot of a public petition, oldest first.
pub async fn snapshots(ctx: &Context, slug: &str) -> CampaignResult<Vec<Snapshot>> {
    let petition = public_petition(ctx, slug).await?;
    ctx.run(move |c| Ok(store::snapshots(c, &petition.id)?))
        .await
}

/// A snapshot made now, on a campaigner's request.
pub async fn make_snapshot(
    ctx: &Context,
    actor: &Actor,
    petition: &PetitionId,
) -> CampaignResult<Snapshot> {
    actor.require(Role::Campaigner)?;
    let key = signing_key(ctx)?;
    let id = petition.as_str().to_string();
    let now = ctx.now();
    let who = actor.audit_name();
    ctx.write(move |c| {
        let s =
            snapshot_in(c, &key, &id, now, None)?.ok_or(CampaignError::not_found("petition"))?;
        crate::db::audit::record(
            c,
            &who,
            "petition.snapshot",
            "petition",
            Some(&id),
            Some(&format!(
                "log_seq {}, confirmed {}",
                s.body.log_seq, s.body.confirmed
            )),
        )?;
        Ok(s)
    })
    .await
}

/// The periodic job's pass: a snapshot of every petition whose count moved
/// since its newest one, if that is older than the interval. Returns how
/// many were made.
pub async fn snapshot_moved(ctx: &Context) -> CampaignResult<usize> {
    let ids = ctx
        .run(|c| Ok(store::petitions_needing_snapshot(c)?))
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let key = signing_key(ctx)?;
    let every = every(ctx);
    let mut made = 0;
    for id in ids {
        let now = ctx.now();
        let key = key.clone();
        let s = ctx
            .write(move |c| {
                let before = store::latest_snapshot(c, &id)?;
                let after = snapshot_in(c, &key, &id, now, Some(every))?;
                Ok(after.filter(|a| Some(a) != before.as_ref()))
            })
            .await?;
        made += usize::from(s.is_some());
    }
    Ok(made)
}

/// The public keys, current and retired (the current one recorded first if
/// it never signed anything yet).
pub async fn keys(ctx: &Context) -> CampaignResult<Vec<PublicKey>> {
    let key = signing_key(ctx)?;
    let now = ctx.now();
    ctx.write(move |c| {
        store::remember_key(c, &public_half(&key, now), now)?;
        Ok(store::keys(c)?)
    })
    .await
}

/// What rotating did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub retired: Vec<String>,
    pub current: PublicKey,
}

/// Replaces the signing key with a new one; the old keys stay listed
/// (retired), so the snapshots they signed still verify.
pub async fn rotate_key(ctx: &Context, actor: &Actor) -> CampaignResult<Rotation> {
    actor.require(Role::Admin)?;
    if ctx.settings.signing_key.is_some() {
        return Err(CampaignError::invalid(
            "signing_key",
            "the signing key comes from CLARION_SIGNING_KEY: put a new one there \
             (its public half is listed once it signs) and restart",
        ));
    }
    let old = signing_key(ctx)?;
    let new = SnapshotKey::generate();
    let path = ctx.settings.signing_key_file();
    key_file::replace(&path, &new.to_text()).map_err(|e| {
        CampaignError::Internal(anyhow::anyhow!(
            "cannot write the signing key file {}: {e}",
            path.display()
        ))
    })?;
    let now = ctx.now();
    let who = actor.audit_name();
    let current = public_half(&new, now);
    let record = current.clone();
    let old_half = public_half(&old, now);
    let retired = ctx
        .write(move |c| {
            store::remember_key(c, &old_half, now)?;
            store::remember_key(c, &record, now)?;
            let n = store::retire_all_but(c, &record.key_id, now)?;
            crate::db::audit::record(
                c,
                &who,
                "keys.rotate",
                "signing_key",
                Some(&record.key_id),
                Some(&format!("{n} retired")),
            )?;
            Ok(store::keys(c)?
                .into_iter()
                .filter(|k| k.retired.is_some())
                .map(|k| k.key_id)
                .collect())
        })
        .await?;
    Ok(Rotation { retired, current })
}

/// The receipt code of a signature: its id's 32 digits and a tag that only
/// this service's key makes, so codes cannot be guessed from the public log.
pub fn receipt_code(ctx: &Context, signature: &SignatureId) -> String {
    crate::mail::kinds::receipt::code_for(&ctx.keys, signature)
}

/// What a receipt shows: where the signature is, never who signed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Receipt {
    pub petition: String,
    pub petition_title: String,
    pub entry: Entry,
    /// The salt behind the entry's commitment (gone once erased): with it
    /// the signer can check that `commitment` is theirs.
    pub salt: Option<String>,
    /// The first snapshot that counts the entry (none yet: the next will).
    pub snapshot: Option<Snapshot>,
}

/// The receipt a code stands for, if the code is genuine and the signature
/// counted.
pub async fn receipt(ctx: &Context, code: &str) -> CampaignResult<Option<Receipt>> {
    let Some(signature) = crate::mail::kinds::receipt::signature_of(&ctx.keys, code) else {
        return Ok(None);
    };
    let found = ctx
        .run(move |c| {
            let Some(entry) = store::confirmation_of(c, signature.as_str())? else {
                return Ok(None);
            };
            let Some(petition) = petition_rows::get_by_signature(c, signature.as_str())? else {
                return Ok(None);
            };
            let salt = store::salt_of(c, signature.as_str())?;
            let snapshot = store::first_snapshot_covering(c, &petition.id, entry.body.seq)?;
            Ok(Some((petition, entry, salt, snapshot)))
        })
        .await?;
    Ok(found.map(|(petition, entry, salt, snapshot)| Receipt {
        petition: petition.slug.clone(),
        petition_title: petition.title.clone(),
        entry,
        salt,
        snapshot,
    }))
}

/// Everything a verification of one petition needs, from the database.
pub struct PetitionEvidence {
    pub entries: Vec<Entry>,
    pub snapshots: Vec<Snapshot>,
    pub keys: Vec<PublicKey>,
    pub head: (i64, String),
}

/// A petition's whole log, its snapshots, the keys and the head.
pub async fn evidence(ctx: &Context, petition: &PetitionId) -> CampaignResult<PetitionEvidence> {
    let id = petition.as_str().to_string();
    ctx.run(move |c| {
        let mut entries = Vec::new();
        let mut after = 0;
        loop {
            let page = store::page(c, &id, after, 10_000)?;
            let Some(last) = page.last() else { break };
            after = last.body.seq;
            entries.extend(page);
        }
        Ok(PetitionEvidence {
            entries,
            snapshots: store::snapshots(c, &id)?,
            keys: store::keys(c)?,
            head: store::head(c, &id)?,
        })
    })
    .await
}

/// Verifies a petition from the database (`clarion verify --petition`).
pub async fn verify_petition(
    ctx: &Context,
    actor: &Actor,
    slug: &str,
) -> CampaignResult<Result<Verified, Broken>> {
    actor.require(Role::Organiser)?;
    let petition = super::petitions::by_slug(ctx, actor, slug).await?;
    let e = evidence(ctx, &petition.id).await?;
    Ok(ledger::verify(&ledger::Evidence {
        entries: &e.entries,
        snapshots: &e.snapshots,
        keys: &e.keys,
        head: Some(e.head),
    }))
}

/// A dossier's ZIP and its file name.
pub struct Dossier {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// The dossier of a petition for an authority (organisers and up): a
/// snapshot covering the whole log (made now if the newest does not), the
/// log, the keys, and names only when asked for. Recorded in the audit log.
pub async fn dossier(
    ctx: &Context,
    actor: &Actor,
    petition: &PetitionId,
    names: bool,
) -> CampaignResult<Dossier> {
    actor.require(Role::Organiser)?;
    let p = super::petitions::get(ctx, actor, petition).await?;
    let key = signing_key(ctx)?;
    let id = p.id.clone();
    let min = p.public_min_count;
    let now = ctx.now();
    let who = actor.audit_name();
    let (snapshot, case_title, by_day, names_rows) = ctx
        .write(move |c| {
            let (seq, _) = store::head(c, &id)?;
            let snapshot = match store::latest_snapshot(c, &id)? {
                Some(s)
                    if s.body.log_seq == seq
                        && !public::names_small_numbers(&s.body.by_country, min) =>
                {
                    s
                }
                _ => snapshot_in(c, &key, &id, now, None)?
                    .ok_or(CampaignError::not_found("petition"))?,
            };
            let case_title = crate::db::cases::get(c, &p.case_id)?
                .map(|case| case.title)
                .unwrap_or_default();
            let by_day = crate::export::counts(c, &id, crate::export::CountBy::Day)?.by;
            let rows = if names {
                Some(crate::db::signature_reports::confirmed_names(c, &id)?)
            } else {
                None
            };
            crate::db::audit::record(
                c,
                &who,
                "petition.dossier",
                "petition",
                Some(&id),
                Some(if names { "with names" } else { "without names" }),
            )?;
            Ok((snapshot, case_title, by_day, rows))
        })
        .await?;
    let e = evidence(ctx, &p.id).await?;
    let names_csv = names_rows
        .map(|rows| crate::export::names_csv(&rows))
        .transpose()
        .map_err(|e| CampaignError::Internal(e.into()))?;
    let by_day: Vec<(String, i64)> = by_day.into_iter().collect();
    let bytes = crate::dossier::write(
        &ctx.templates,
        &crate::dossier::Contents {
            case_title: &case_title,
            petition_title: &p.title,
            petition_slug: &p.slug,
            target: &p.target,
            body: &p.body,
            public_url: format!("{}/petitions/{}", ctx.settings.base_url, p.slug),
            snapshot: &snapshot,
            entries: &e.entries,
            keys: &e.keys,
            by_country: &snapshot.body.by_country,
            public_min_count: p.public_min_count,
            by_day: &by_day,
            names_csv,
        },
    )
    .map_err(CampaignError::Internal)?;
    Ok(Dossier {
        filename: format!("{}-dossier.zip", p.slug),
        bytes,
    })
}

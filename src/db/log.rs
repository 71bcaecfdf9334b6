//! The signature log's storage (contract §10): appending entries to a
//! petition's chain inside the caller's transaction, the salts behind the
//! commitments, the signed snapshots and the public halves of the signing
//! keys.
//!
//! Policy:
//! - [`append`] runs inside the transaction that confirms or erases, so no
//!   count exists without its entry and no entry without its count.
//! - The chain's head (`signature_log_heads`) is the one row a writer locks
//!   to append: on PostgreSQL the first statement of an append is an UPDATE
//!   of that row, which waits for any other writer of the same petition, so
//!   several processes never fork the chain; SQLite has one writer anyway.
//!   Callers that append for several petitions do it in petition-id order
//!   (as the counter caches are updated), so two writers never wait on each
//!   other in a circle.
//! - Entries are never updated or deleted here. Erasure deletes a salt.
//! - Salts are sealed under the data key like any personal field
//!   ([`crate::vault`]): a salt in the clear beside its commitment would let
//!   whoever holds a copy of the database test a guessed address against
//!   the public log, which the sealed addresses are meant to prevent. A
//!   salt written before sealing (plain hex) reads as it is.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    petition_country_counts, petition_snapshots, petitions, signature_log, signature_log_heads,
    signature_salts, signing_keys,
};
use super::{DbConnection, DbResult};
use crate::domain::ledger::{self, Entry, EntryBody, EntryKind, PublicKey, Snapshot, GENESIS};

/// One entry to append; the chain fields are filled in by [`append`].
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub kind: EntryKind,
    pub signature_id: String,
    pub commitment: String,
}

/// Entries waiting to be appended, per petition, in the order they
/// happened; [`Pending::append_all`] writes them in petition-id order.
#[derive(Debug, Default)]
pub struct Pending {
    per_petition: BTreeMap<String, Vec<NewEntry>>,
    /// `(signature, salt)`, the salt as stored (sealed).
    salts: Vec<(String, String)>,
}

impl Pending {
    /// A confirmation of `signature_id` by `normalised_email`: a fresh salt
    /// is kept for it, and its commitment is logged.
    pub fn confirm(&mut self, petition_id: &str, signature_id: &str, normalised_email: &str) {
        let salt = ledger::new_salt();
        let commitment = ledger::commitment(&salt, normalised_email);
        self.salts
            .push((signature_id.to_string(), crate::vault::seal(&salt)));
        self.push(
            petition_id,
            NewEntry {
                kind: EntryKind::Confirm,
                signature_id: signature_id.to_string(),
                commitment,
            },
        );
    }

    pub fn push(&mut self, petition_id: &str, entry: NewEntry) {
        self.per_petition
            .entry(petition_id.to_string())
            .or_default()
            .push(entry);
    }

    pub fn is_empty(&self) -> bool {
        self.per_petition.is_empty()
    }

    /// Appends everything, with its salts, at `now`.
    pub fn append_all(self, conn: &mut DbConnection, now: NaiveDateTime) -> DbResult<()> {
        if !self.salts.is_empty() {
            super::backend::insert_salts(conn, &self.salts)?;
        }
        for (petition, entries) in &self.per_petition {
            append(conn, petition, now, entries)?;
        }
        Ok(())
    }
}

/// Appends `entries` to `petition_id`'s chain at `now`. Run inside a write
/// transaction.
pub fn append(
    conn: &mut DbConnection,
    petition_id: &str,
    now: NaiveDateTime,
    entries: &[NewEntry],
) -> DbResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let (mut seq, mut prev) = lock_head(conn, petition_id)?;
    let at = ledger::timestamp(now);
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        seq += 1;
        let sealed = EntryBody {
            seq,
            at: at.clone(),
            kind: e.kind,
            signature: e.signature_id.clone(),
            commitment: e.commitment.clone(),
            prev,
        }
        .seal();
        prev = sealed.hash.clone();
        rows.push(sealed);
    }
    let values: Vec<_> = rows
        .iter()
        .map(|e| {
            (
                petition_id,
                e.body.seq,
                e.body.at.as_str(),
                e.body.kind.as_str(),
                e.body.signature.as_str(),
                e.body.commitment.as_str(),
                e.body.prev.as_str(),
                e.hash.as_str(),
            )
        })
        .collect();
    super::backend::insert_log_entries(conn, &values)?;
    diesel::update(signature_log_heads::table.find(petition_id))
        .set((
            signature_log_heads::seq.eq(seq),
            signature_log_heads::hash.eq(&prev),
        ))
        .execute(conn)?;
    Ok(())
}

/// The head of a petition's chain, locked for this transaction (made at
/// the genesis if the petition has none yet).
fn lock_head(conn: &mut DbConnection, petition_id: &str) -> DbResult<(i64, String)> {
    let touch = || {
        diesel::update(signature_log_heads::table.find(petition_id))
            .set(signature_log_heads::seq.eq(signature_log_heads::seq))
            .returning((signature_log_heads::seq, signature_log_heads::hash))
    };
    if let Some(head) = touch().get_result(conn).optional()? {
        return Ok(head);
    }
    start_chain(conn, petition_id)?;
    Ok(touch().get_result(conn)?)
}

/// Makes a petition's empty chain: with the petition, or on its first
/// entry.
pub fn start_chain(conn: &mut DbConnection, petition_id: &str) -> DbResult<()> {
    diesel::insert_into(signature_log_heads::table)
        .values((
            signature_log_heads::petition_id.eq(petition_id),
            signature_log_heads::seq.eq(0i64),
            signature_log_heads::hash.eq(GENESIS),
        ))
        .execute(conn)?;
    Ok(())
}

/// The current head `(seq, hash)` of a petition's chain, unlocked.
pub fn head(conn: &mut DbConnection, petition_id: &str) -> DbResult<(i64, String)> {
    Ok(signature_log_heads::table
        .find(petition_id)
        .select((signature_log_heads::seq, signature_log_heads::hash))
        .first(conn)
        .optional()?
        .unwrap_or((0, GENESIS.to_string())))
}

#[derive(Queryable)]
struct EntryRow {
    seq: i64,
    at: String,
    kind: String,
    signature_id: String,
    commitment: String,
    prev: String,
    hash: String,
}

impl From<EntryRow> for Entry {
    fn from(r: EntryRow) -> Entry {
        Entry {
            body: EntryBody {
                seq: r.seq,
                at: r.at,
                // The column's CHECK allows no other; an edited row that
                // says something else shows up as a broken hash.
                kind: EntryKind::parse(&r.kind).unwrap_or(EntryKind::Erase),
                signature: r.signature_id,
                commitment: r.commitment,
                prev: r.prev,
            },
            hash: r.hash,
        }
    }
}

/// Up to `limit` entries of a petition's log after `after`, in order.
pub fn page(
    conn: &mut DbConnection,
    petition_id: &str,
    after: i64,
    limit: i64,
) -> DbResult<Vec<Entry>> {
    let rows: Vec<EntryRow> = signature_log::table
        .filter(signature_log::petition_id.eq(petition_id))
        .filter(signature_log::seq.gt(after))
        .order(signature_log::seq.asc())
        .limit(limit)
        .select((
            signature_log::seq,
            signature_log::at,
            signature_log::kind,
            signature_log::signature_id,
            signature_log::commitment,
            signature_log::prev,
            signature_log::hash,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(Entry::from).collect())
}

/// The entry that logged a signature's confirmation, if any.
pub fn confirmation_of(conn: &mut DbConnection, signature_id: &str) -> DbResult<Option<Entry>> {
    let row: Option<EntryRow> = signature_log::table
        .filter(signature_log::signature_id.eq(signature_id))
        .filter(signature_log::kind.eq("confirm"))
        .select((
            signature_log::seq,
            signature_log::at,
            signature_log::kind,
            signature_log::signature_id,
            signature_log::commitment,
            signature_log::prev,
            signature_log::hash,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(Entry::from))
}

/// The salt behind a signature's commitment (opened), unless erased.
pub fn salt_of(conn: &mut DbConnection, signature_id: &str) -> DbResult<Option<String>> {
    let stored = signature_salts::table
        .find(signature_id)
        .select(signature_salts::salt)
        .first(conn)
        .optional()?;
    Ok(crate::vault::open_opt(stored)?)
}

/// Erasure: for each of these confirmed signatures `(petition, signature)`,
/// an erase entry repeating its confirmation's commitment, and its salt
/// deleted. Run inside the erasing transaction.
pub fn erase(
    conn: &mut DbConnection,
    signatures: &[(String, String)],
    now: NaiveDateTime,
) -> DbResult<()> {
    let mut pending = Pending::default();
    for (petition, signature) in signatures {
        let Some(confirmed) = confirmation_of(conn, signature)? else {
            continue;
        };
        pending.push(
            petition,
            NewEntry {
                kind: EntryKind::Erase,
                signature_id: signature.clone(),
                commitment: confirmed.body.commitment,
            },
        );
        diesel::delete(signature_salts::table.find(signature)).execute(conn)?;
    }
    pending.append_all(conn, now)
}

/// What a snapshot is made of, read under the head's lock so the count, the
/// countries and the head belong together.
pub struct CountState {
    pub slug: String,
    pub confirmed: i64,
    pub by_country: BTreeMap<String, i64>,
    pub log_seq: i64,
    pub log_head: String,
}

/// The petition's count state now (inside a write transaction: the head is
/// locked so no confirmation commits between the reads).
pub fn count_state(conn: &mut DbConnection, petition_id: &str) -> DbResult<Option<CountState>> {
    let Some(slug) = petitions::table
        .find(petition_id)
        .select(petitions::slug)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    // Locked first: what is read next is what the head stands for.
    let (log_seq, log_head) = lock_head(conn, petition_id)?;
    let confirmed = petitions::table
        .find(petition_id)
        .select(petitions::confirmed_count)
        .first::<i64>(conn)?;
    let by_country: Vec<(String, i64)> = petition_country_counts::table
        .filter(petition_country_counts::petition_id.eq(petition_id))
        .filter(petition_country_counts::confirmed.gt(0))
        .select((
            petition_country_counts::country,
            petition_country_counts::confirmed,
        ))
        .load(conn)?;
    Ok(Some(CountState {
        slug,
        confirmed,
        by_country: by_country.into_iter().collect(),
        log_seq,
        log_head,
    }))
}

/// The newest snapshot of a petition, if any.
pub fn latest_snapshot(conn: &mut DbConnection, petition_id: &str) -> DbResult<Option<Snapshot>> {
    let row: Option<(String, String)> = petition_snapshots::table
        .filter(petition_snapshots::petition_id.eq(petition_id))
        .order((
            petition_snapshots::issued_at.desc(),
            petition_snapshots::log_seq.desc(),
        ))
        .select((petition_snapshots::body, petition_snapshots::signature))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(b, s)| snapshot_from(&b, s)))
}

/// Every snapshot of a petition, oldest first.
pub fn snapshots(conn: &mut DbConnection, petition_id: &str) -> DbResult<Vec<Snapshot>> {
    let rows: Vec<(String, String)> = petition_snapshots::table
        .filter(petition_snapshots::petition_id.eq(petition_id))
        .order((
            petition_snapshots::issued_at.asc(),
            petition_snapshots::log_seq.asc(),
        ))
        .select((petition_snapshots::body, petition_snapshots::signature))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(b, s)| snapshot_from(&b, s))
        .collect())
}

/// The first snapshot that counts entry `seq` of a petition.
pub fn first_snapshot_covering(
    conn: &mut DbConnection,
    petition_id: &str,
    seq: i64,
) -> DbResult<Option<Snapshot>> {
    let row: Option<(String, String)> = petition_snapshots::table
        .filter(petition_snapshots::petition_id.eq(petition_id))
        .filter(petition_snapshots::log_seq.ge(seq))
        .order((
            petition_snapshots::log_seq.asc(),
            petition_snapshots::issued_at.asc(),
        ))
        .select((petition_snapshots::body, petition_snapshots::signature))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(b, s)| snapshot_from(&b, s)))
}

/// A stored snapshot as published. A body that no longer parses (an edited
/// row) is left out here, and the verifier then finds the count or head it
/// no longer attests.
fn snapshot_from(body: &str, signature: String) -> Option<Snapshot> {
    let body = serde_json::from_str(body).ok()?;
    Some(Snapshot { body, signature })
}

/// Keeps a signed snapshot.
pub fn insert_snapshot(
    conn: &mut DbConnection,
    petition_id: &str,
    snapshot: &Snapshot,
    issued_at: NaiveDateTime,
) -> DbResult<()> {
    let body =
        String::from_utf8(ledger::canonical(&snapshot.body)).expect("canonical JSON is UTF-8");
    diesel::insert_into(petition_snapshots::table)
        .values((
            petition_snapshots::id.eq(super::new_id()),
            petition_snapshots::petition_id.eq(petition_id),
            petition_snapshots::log_seq.eq(snapshot.body.log_seq),
            petition_snapshots::confirmed.eq(snapshot.body.confirmed),
            petition_snapshots::issued_at.eq(issued_at),
            petition_snapshots::key_id.eq(&snapshot.body.key_id),
            petition_snapshots::body.eq(body),
            petition_snapshots::signature.eq(&snapshot.signature),
        ))
        .execute(conn)?;
    Ok(())
}

/// Petitions whose chain moved past their newest snapshot (or that have
/// entries and no snapshot): those the periodic job snapshots.
pub fn petitions_needing_snapshot(conn: &mut DbConnection) -> DbResult<Vec<String>> {
    let heads: Vec<(String, i64)> = signature_log_heads::table
        .filter(signature_log_heads::seq.gt(0))
        .select((signature_log_heads::petition_id, signature_log_heads::seq))
        .load(conn)?;
    let mut out = Vec::new();
    for (petition, seq) in heads {
        let newest: Option<i64> = petition_snapshots::table
            .filter(petition_snapshots::petition_id.eq(&petition))
            .select(diesel::dsl::max(petition_snapshots::log_seq))
            .first(conn)?;
        if newest.is_none_or(|n| n < seq) {
            out.push(petition);
        }
    }
    Ok(out)
}

/// Records a key's public half (once; a key already known is left as it is).
pub fn remember_key(
    conn: &mut DbConnection,
    key: &PublicKey,
    created: NaiveDateTime,
) -> DbResult<()> {
    let known = signing_keys::table
        .find(&key.key_id)
        .select(signing_keys::key_id)
        .first::<String>(conn)
        .optional()?;
    if known.is_none() {
        diesel::insert_into(signing_keys::table)
            .values((
                signing_keys::key_id.eq(&key.key_id),
                signing_keys::public_key.eq(&key.public_key),
                signing_keys::created.eq(created),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Marks every key but `current` retired at `now`.
pub fn retire_all_but(
    conn: &mut DbConnection,
    current: &str,
    now: NaiveDateTime,
) -> DbResult<usize> {
    Ok(diesel::update(
        signing_keys::table
            .filter(signing_keys::key_id.ne(current))
            .filter(signing_keys::retired.is_null()),
    )
    .set(signing_keys::retired.eq(now))
    .execute(conn)?)
}

/// Every key, oldest first.
pub fn keys(conn: &mut DbConnection) -> DbResult<Vec<PublicKey>> {
    let rows: Vec<(String, String, NaiveDateTime, Option<NaiveDateTime>)> = signing_keys::table
        .order(signing_keys::created.asc())
        .select((
            signing_keys::key_id,
            signing_keys::public_key,
            signing_keys::created,
            signing_keys::retired,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(key_id, public_key, created, retired)| PublicKey {
            key_id,
            alg: "Ed25519".into(),
            public_key,
            created: ledger::timestamp(created),
            retired: retired.map(ledger::timestamp),
        })
        .collect())
}

/// Confirmed signatures that have no log entry (made before the log
/// existed): `(petition, signature, normalised email if not erased)`, up to
/// `limit`, oldest first.
pub fn unlogged_confirmations(
    conn: &mut DbConnection,
    limit: i64,
) -> DbResult<Vec<(String, String, Option<String>)>> {
    use super::schema::{signatures, supporters};
    signatures::table
        .inner_join(supporters::table)
        .filter(signatures::status.eq("confirmed"))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            signature_log::table.filter(signature_log::signature_id.eq(signatures::id)),
        )))
        .order((signatures::confirmed_at.asc(), signatures::id.asc()))
        .limit(limit)
        .select((signatures::petition_id, signatures::id, supporters::email))
        .load::<(String, String, Option<String>)>(conn)?
        .into_iter()
        .map(|(p, s, e)| Ok((p, s, crate::vault::open_opt(e)?)))
        .collect()
}

/// Appends an entry for every confirmed signature that has none (those
/// confirmed before the log existed), oldest first, a batch per
/// transaction. An erased signer's entry commits to nothing recoverable.
pub fn backfill(conn: &mut DbConnection) -> DbResult<()> {
    loop {
        let done = super::write_tx(conn, |conn| {
            let batch = unlogged_confirmations(conn, 1000)?;
            let mut pending = Pending::default();
            for (petition, signature, email) in &batch {
                match email {
                    Some(email) => pending.confirm(petition, signature, email),
                    None => pending.push(
                        petition,
                        NewEntry {
                            kind: EntryKind::Confirm,
                            signature_id: signature.clone(),
                            commitment: ledger::commitment(&ledger::new_salt(), ""),
                        },
                    ),
                }
            }
            pending.append_all(conn, super::now())?;
            Ok::<_, super::DbError>(batch.len())
        })?;
        if done == 0 {
            return Ok(());
        }
        tracing::info!(
            entries = done,
            "logged signatures confirmed before the signature log"
        );
    }
}

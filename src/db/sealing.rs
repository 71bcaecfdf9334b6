//! Which data keys the database's personal data is sealed under
//! (`data_keys`: ids only, never a key), and re-sealing it: plaintext left
//! from before encryption (`clarion migrate`) and values under an older key
//! (`clarion keys rotate`).
//!
//! Policy: a pass walks each table in id order, a batch per transaction,
//! and re-seals only what is not yet under the current key, so it can be
//! stopped at any moment and run again; rows written meanwhile by other
//! processes are found by the next pass. A key is retired only once no row
//! holds a value sealed under it.

use diesel::prelude::*;

use super::schema::{
    data_keys, deliveries, inbound_reports, signature_salts, signatures, supporters,
};
use super::{write_tx, DbConnection, DbResult};
use crate::vault::{self, Vault};

/// The ids of the keys not retired: a process must hold every one.
pub fn live_key_ids(conn: &mut DbConnection) -> DbResult<Vec<String>> {
    Ok(data_keys::table
        .filter(data_keys::retired_at.is_null())
        .order(data_keys::created_at.asc())
        .select(data_keys::key_id)
        .load(conn)?)
}

/// Whether some supporter's address (an indexed walk over hashed rows),
/// some kept report (a table that stays small) or some commitment salt is
/// sealed under `key_id`, stopping at the first. The salts are asked last
/// and on their own: while any address is under the key (the usual case)
/// their table is not read at all.
pub fn anything_under(conn: &mut DbConnection, key_id: &str) -> DbResult<bool> {
    let pattern = vault::sealed_under_pattern(key_id);
    let (from, to) = vault::sealed_bytes_range(Some(key_id));
    let found = diesel::select(
        diesel::dsl::exists(
            supporters::table
                .filter(supporters::email_hash.is_not_null())
                .filter(supporters::email.like(&pattern)),
        )
        .or(diesel::dsl::exists(
            inbound_reports::table
                .filter(inbound_reports::raw.ge(from))
                .filter(inbound_reports::raw.lt(to)),
        )),
    )
    .get_result(conn)?;
    if found {
        return Ok(true);
    }
    Ok(diesel::select(diesel::dsl::exists(
        signature_salts::table.filter(signature_salts::salt.like(&pattern)),
    ))
    .get_result(conn)?)
}

/// Records that values may be sealed under `key_id` from now on (once).
pub fn register(conn: &mut DbConnection, key_id: &str, at: chrono::NaiveDateTime) -> DbResult<()> {
    let known: Option<String> = data_keys::table
        .find(key_id)
        .select(data_keys::key_id)
        .first(conn)
        .optional()?;
    if known.is_some() {
        // A key in use again (restored from a backup) is live again.
        diesel::update(data_keys::table.find(key_id))
            .set(data_keys::retired_at.eq(None::<chrono::NaiveDateTime>))
            .execute(conn)?;
    } else {
        let r = diesel::insert_into(data_keys::table)
            .values((data_keys::key_id.eq(key_id), data_keys::created_at.eq(at)))
            .execute(conn);
        match r {
            // Another node registered it at the same moment.
            Err(e) if super::is_unique_violation(&e) => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// Marks `key_id` retired: no row uses it any more.
pub fn retire(conn: &mut DbConnection, key_id: &str, at: chrono::NaiveDateTime) -> DbResult<()> {
    diesel::update(data_keys::table.find(key_id))
        .set(data_keys::retired_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// Which table a pass is in, and the last id it did there.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    pub table: usize,
    pub after: Option<String>,
}

/// The tables a pass walks, in order.
pub const TABLES: [&str; 5] = [
    "supporters",
    "signatures",
    "deliveries",
    "inbound_reports",
    "signature_salts",
];

/// Kept reports per batch, at most: each is a whole message, not a field.
const REPORTS_PER_BATCH: i64 = 50;

/// How many rows the tables hold (a pass's total, for its progress line).
pub fn rows_to_walk(conn: &mut DbConnection) -> DbResult<u64> {
    let a: i64 = supporters::table.count().get_result(conn)?;
    let b: i64 = signatures::table.count().get_result(conn)?;
    let c: i64 = deliveries::table
        .filter(deliveries::to_email.is_not_null())
        .count()
        .get_result(conn)?;
    let d: i64 = inbound_reports::table.count().get_result(conn)?;
    let e: i64 = signature_salts::table.count().get_result(conn)?;
    Ok((a + b + c + d + e) as u64)
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch {
    /// Rows read.
    pub walked: u64,
    /// Rows re-sealed.
    pub sealed: u64,
    /// The pass is over.
    pub done: bool,
}

/// Re-seals, in one transaction, what the next `limit` rows after `cursor`
/// hold that is not under the current key (the scope's keys, which must
/// seal), and moves the cursor on.
pub fn reseal_batch(conn: &mut DbConnection, cursor: &mut Cursor, limit: i64) -> DbResult<Batch> {
    let v = vault::current_vault().ok_or(vault::VaultError::NoKeys)?;
    if !v.sealing() {
        return Ok(Batch {
            done: true,
            ..Batch::default()
        });
    }
    let limit = if cursor.table == 3 {
        limit.min(REPORTS_PER_BATCH)
    } else {
        limit
    };
    write_tx(conn, |conn| {
        let (walked, sealed, last) = match cursor.table {
            0 => supporters_batch(conn, &v, cursor.after.as_deref(), limit)?,
            1 => signatures_batch(conn, &v, cursor.after.as_deref(), limit)?,
            2 => deliveries_batch(conn, &v, cursor.after.as_deref(), limit)?,
            3 => reports_batch(conn, &v, cursor.after.as_deref(), limit)?,
            4 => salts_batch(conn, &v, cursor.after.as_deref(), limit)?,
            _ => {
                return Ok(Batch {
                    done: true,
                    ..Batch::default()
                })
            }
        };
        match last {
            Some(id) if walked as i64 == limit => cursor.after = Some(id),
            _ => {
                cursor.table += 1;
                cursor.after = None;
            }
        }
        Ok(Batch {
            walked,
            sealed,
            done: cursor.table >= TABLES.len(),
        })
    })
}

/// `stored` under the current key: opened and sealed again if it is not.
fn resealed(v: &Vault, stored: &Option<String>) -> DbResult<Option<String>> {
    match stored.as_deref() {
        Some(s) if vault::key_id_of(s) != Some(v.current_id()) => Ok(Some(v.seal(&v.open(s)?))),
        other => Ok(other.map(str::to_string)),
    }
}

type SupporterFields = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn supporters_batch(
    conn: &mut DbConnection,
    v: &Vault,
    after: Option<&str>,
    limit: i64,
) -> DbResult<(u64, u64, Option<String>)> {
    let mut q = supporters::table
        .select((
            supporters::id,
            supporters::email,
            supporters::email_hash,
            supporters::first_name,
            supporters::last_name,
            supporters::postcode,
        ))
        .order(supporters::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(supporters::id.gt(after.to_string()));
    }
    let rows: Vec<SupporterFields> = q.load(conn)?;
    let mut sealed = 0;
    for (id, email, hash, first, last, postcode) in &rows {
        let new = (
            resealed(v, email)?,
            resealed(v, first)?,
            resealed(v, last)?,
            resealed(v, postcode)?,
        );
        let plain_email = email.as_deref().map(|e| v.open(e)).transpose()?;
        let new_hash = plain_email.as_deref().map(|e| v.lookup_hash(e));
        if (&new.0, &new.1, &new.2, &new.3, &new_hash) == (email, first, last, postcode, hash) {
            continue;
        }
        diesel::update(supporters::table.find(id))
            .set((
                supporters::email.eq(&new.0),
                supporters::email_hash.eq(&new_hash),
                supporters::email_domain.eq(plain_email
                    .as_deref()
                    .and_then(super::deliveries::domain_of)),
                supporters::first_name.eq(&new.1),
                supporters::last_name.eq(&new.2),
                supporters::postcode.eq(&new.3),
            ))
            .execute(conn)?;
        sealed += 1;
    }
    Ok((rows.len() as u64, sealed, rows.last().map(|r| r.0.clone())))
}

type SignatureFields = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn signatures_batch(
    conn: &mut DbConnection,
    v: &Vault,
    after: Option<&str>,
    limit: i64,
) -> DbResult<(u64, u64, Option<String>)> {
    let mut q = signatures::table
        .select((
            signatures::id,
            signatures::first_name,
            signatures::last_name,
            signatures::postcode,
            signatures::comment,
        ))
        .order(signatures::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(signatures::id.gt(after.to_string()));
    }
    let rows: Vec<SignatureFields> = q.load(conn)?;
    let mut sealed = 0;
    for (id, first, last, postcode, comment) in &rows {
        let new = (
            resealed(v, first)?,
            resealed(v, last)?,
            resealed(v, postcode)?,
            resealed(v, comment)?,
        );
        if (&new.0, &new.1, &new.2, &new.3) == (first, last, postcode, comment) {
            continue;
        }
        diesel::update(signatures::table.find(id))
            .set((
                signatures::first_name.eq(&new.0),
                signatures::last_name.eq(&new.1),
                signatures::postcode.eq(&new.2),
                signatures::comment.eq(&new.3),
            ))
            .execute(conn)?;
        sealed += 1;
    }
    Ok((rows.len() as u64, sealed, rows.last().map(|r| r.0.clone())))
}

/// The cursor of a table numbered by `BIGINT` ids.
fn number_after(after: Option<&str>) -> i64 {
    after.and_then(|a| a.parse().ok()).unwrap_or(i64::MIN)
}

/// What a batch over a numbered table did: rows read, rows re-sealed, the
/// last id.
fn numbered_page<T>(rows: &[(i64, T)], sealed: u64) -> (u64, u64, Option<String>) {
    (
        rows.len() as u64,
        sealed,
        rows.last().map(|r| r.0.to_string()),
    )
}

fn deliveries_batch(
    conn: &mut DbConnection,
    v: &Vault,
    after: Option<&str>,
    limit: i64,
) -> DbResult<(u64, u64, Option<String>)> {
    let after = number_after(after);
    let rows: Vec<(i64, Option<String>)> = deliveries::table
        .filter(deliveries::to_email.is_not_null())
        .filter(deliveries::id.gt(after))
        .order(deliveries::id.asc())
        .limit(limit)
        .select((deliveries::id, deliveries::to_email))
        .load(conn)?;
    let mut sealed = 0;
    for (id, to) in &rows {
        let new = resealed(v, to)?;
        if &new == to {
            continue;
        }
        diesel::update(deliveries::table.find(id))
            .set(deliveries::to_email.eq(&new))
            .execute(conn)?;
        sealed += 1;
    }
    Ok(numbered_page(&rows, sealed))
}

fn reports_batch(
    conn: &mut DbConnection,
    v: &Vault,
    after: Option<&str>,
    limit: i64,
) -> DbResult<(u64, u64, Option<String>)> {
    let after = number_after(after);
    let rows: Vec<(i64, Vec<u8>)> = inbound_reports::table
        .filter(inbound_reports::id.gt(after))
        .order(inbound_reports::id.asc())
        .limit(limit)
        .select((inbound_reports::id, inbound_reports::raw))
        .load(conn)?;
    let mut sealed = 0;
    for (id, raw) in &rows {
        if vault::key_id_of_bytes(raw) == Some(v.current_id()) {
            continue;
        }
        diesel::update(inbound_reports::table.find(id))
            .set(inbound_reports::raw.eq(v.seal_bytes(&v.open_bytes(raw)?)))
            .execute(conn)?;
        sealed += 1;
    }
    Ok(numbered_page(&rows, sealed))
}

fn salts_batch(
    conn: &mut DbConnection,
    v: &Vault,
    after: Option<&str>,
    limit: i64,
) -> DbResult<(u64, u64, Option<String>)> {
    let mut q = signature_salts::table
        .select((signature_salts::signature_id, signature_salts::salt))
        .order(signature_salts::signature_id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(signature_salts::signature_id.gt(after.to_string()));
    }
    let rows: Vec<(String, String)> = q.load(conn)?;
    let mut sealed = 0;
    for (id, salt) in &rows {
        if vault::key_id_of(salt) == Some(v.current_id()) {
            continue;
        }
        diesel::update(signature_salts::table.find(id))
            .set(signature_salts::salt.eq(v.seal(&v.open(salt)?)))
            .execute(conn)?;
        sealed += 1;
    }
    Ok((rows.len() as u64, sealed, rows.last().map(|r| r.0.clone())))
}

/// How many values are still sealed under `key_id` (a full scan: run once
/// before retiring the key).
pub fn sealed_under(conn: &mut DbConnection, key_id: &str) -> DbResult<i64> {
    let p = vault::sealed_under_pattern(key_id);
    let a: i64 = supporters::table
        .filter(
            supporters::email
                .like(&p)
                .or(supporters::first_name.like(&p))
                .or(supporters::last_name.like(&p))
                .or(supporters::postcode.like(&p)),
        )
        .count()
        .get_result(conn)?;
    let b: i64 = signatures::table
        .filter(
            signatures::first_name
                .like(&p)
                .or(signatures::last_name.like(&p))
                .or(signatures::postcode.like(&p))
                .or(signatures::comment.like(&p)),
        )
        .count()
        .get_result(conn)?;
    let c: i64 = deliveries::table
        .filter(deliveries::to_email.like(&p))
        .count()
        .get_result(conn)?;
    let (from, to) = vault::sealed_bytes_range(Some(key_id));
    let d: i64 = inbound_reports::table
        .filter(inbound_reports::raw.ge(from))
        .filter(inbound_reports::raw.lt(to))
        .count()
        .get_result(conn)?;
    let e: i64 = signature_salts::table
        .filter(signature_salts::salt.like(&p))
        .count()
        .get_result(conn)?;
    Ok(a + b + c + d + e)
}

/// How many values are still plaintext (not sealed at all).
pub fn unsealed(conn: &mut DbConnection) -> DbResult<i64> {
    let p = format!("{}%", vault::PREFIX);
    let a: i64 = supporters::table
        .filter(
            supporters::email
                .not_like(&p)
                .or(supporters::first_name.not_like(&p))
                .or(supporters::last_name.not_like(&p))
                .or(supporters::postcode.not_like(&p)),
        )
        .count()
        .get_result(conn)?;
    let b: i64 = signatures::table
        .filter(
            signatures::first_name
                .not_like(&p)
                .or(signatures::last_name.not_like(&p))
                .or(signatures::postcode.not_like(&p))
                .or(signatures::comment.not_like(&p)),
        )
        .count()
        .get_result(conn)?;
    let c: i64 = deliveries::table
        .filter(deliveries::to_email.not_like(&p))
        .count()
        .get_result(conn)?;
    let (from, to) = vault::sealed_bytes_range(None);
    let d: i64 = inbound_reports::table
        .filter(
            inbound_reports::raw
                .lt(from)
                .or(inbound_reports::raw.ge(to)),
        )
        .count()
        .get_result(conn)?;
    let e: i64 = signature_salts::table
        .filter(signature_salts::salt.not_like(&p))
        .count()
        .get_result(conn)?;
    Ok(a + b + c + d + e)
}

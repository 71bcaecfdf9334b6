//! Personal data at rest (contract §11): sealing what a database still holds
//! in the clear (`clarion migrate`) and moving everything to a new data key
//! while the service runs (`clarion keys rotate`).
//!
//! Policy: the work goes in batches of [`BATCH`] rows, one transaction
//! each, so a kill loses at most one batch and the next run carries on;
//! running processes learn of a new key from the key file (they look at it
//! every half second, `vault::DataKeys`), and an old key leaves the file
//! only when no row holds a value sealed under it.

use std::time::Duration;

use super::{Actor, CampaignError, CampaignResult, Context, Role};
use crate::db::sealing::{self, Cursor};
use crate::security::key_file;
use crate::vault::Vault;

/// Rows per transaction.
pub const BATCH: i64 = 1000;

/// How long a rotation waits after writing the new key before it re-seals,
/// so every process has read the file (they look every half second).
const RELOAD_WAIT: Duration = Duration::from_secs(2);

/// What a pass did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sealed {
    pub walked: u64,
    pub sealed: u64,
}

/// One pass over every table, sealing under the current key whatever is
/// not under it. `progress(walked, total)` after each batch.
pub async fn seal_all(
    ctx: &Context,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> CampaignResult<Sealed> {
    let total = ctx.run(|c| Ok(sealing::rows_to_walk(c)?)).await?;
    let mut cursor = Cursor::default();
    let mut done = Sealed::default();
    loop {
        let mut cur = cursor.clone();
        let (batch, cur) = ctx
            .run(move |c| {
                let b = sealing::reseal_batch(c, &mut cur, BATCH)?;
                Ok((b, cur))
            })
            .await?;
        cursor = cur;
        done.walked += batch.walked;
        done.sealed += batch.sealed;
        progress(done.walked.min(total), total);
        if batch.done {
            // On SQLite the WAL still holds the pages as they were in the
            // clear: write it back and truncate it now, as an erasure does.
            if done.sealed > 0 && !ctx.db.truncate_wal().await? {
                tracing::warn!(
                    "the WAL could not be truncated after sealing; values in the clear may stay in it until the server stops"
                );
            }
            return Ok(done);
        }
    }
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct DataRotation {
    pub current: String,
    pub retired: Vec<String>,
    pub resealed: u64,
}

/// Puts a new data key in front in the key file, waits for running
/// processes to read it, re-seals every row under it (passes until one
/// finds nothing left), then drops the older keys from the file and marks
/// them retired.
pub async fn rotate_data_key(
    ctx: &Context,
    actor: &Actor,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> CampaignResult<DataRotation> {
    actor.require(Role::Admin)?;
    if ctx.settings.data_key.is_some() {
        return Err(CampaignError::invalid(
            "data_key",
            "the data keys come from CLARION_DATA_KEY: put a new key in front of the old \
             one there, restart, run `clarion migrate`, then drop the old one",
        ));
    }
    if !ctx.settings.encrypt_at_rest {
        return Err(CampaignError::invalid(
            "encrypt_at_rest",
            "encryption at rest is off: there is nothing to rotate",
        ));
    }
    let keys = ctx
        .db
        .data_keys()
        .cloned()
        .ok_or_else(|| CampaignError::Internal(anyhow::anyhow!("no data keys loaded")))?;
    let path = ctx.settings.data_key_file();
    let old = keys.vault();
    let new = old.with_new_key();
    let current = new.current_id().to_string();
    let now = ctx.now();
    {
        let id = current.clone();
        ctx.write(move |c| Ok(sealing::register(c, &id, now)?))
            .await?;
    }
    write_keys(&path, &new)?;
    keys.reload();
    tokio::time::sleep(RELOAD_WAIT).await;
    let mut resealed = 0;
    loop {
        let pass = seal_all(ctx, progress).await?;
        resealed += pass.sealed;
        if pass.sealed == 0 {
            break;
        }
    }
    let old_ids: Vec<String> = old.ids();
    let left = {
        let ids = old_ids.clone();
        ctx.run(move |c| {
            let mut n = 0;
            for id in &ids {
                n += sealing::sealed_under(c, id)?;
            }
            Ok(n)
        })
        .await?
    };
    if left > 0 {
        return Err(CampaignError::Internal(anyhow::anyhow!(
            "{left} values are still sealed under the old keys; run `clarion keys rotate --data` again"
        )));
    }
    write_keys(&path, &new.keeping(&[]))?;
    keys.reload();
    let who = actor.audit_name();
    {
        let ids = old_ids.clone();
        let cur = current.clone();
        ctx.write(move |c| {
            for id in &ids {
                sealing::retire(c, id, now)?;
            }
            crate::db::audit::record(
                c,
                &who,
                "keys.rotate",
                "data_key",
                Some(&cur),
                Some(&format!("{} retired", ids.len())),
            )?;
            Ok(())
        })
        .await?;
    }
    Ok(DataRotation {
        current,
        retired: old_ids,
        resealed,
    })
}

fn write_keys(path: &std::path::Path, v: &Vault) -> CampaignResult<()> {
    key_file::replace(path, &v.to_text()).map_err(|e| {
        CampaignError::Internal(anyhow::anyhow!(
            "cannot write the data key file {}: {e}",
            path.display()
        ))
    })
}

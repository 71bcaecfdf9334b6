//! The dossier (contract §10): one ZIP to hand an authority, holding
//! `petition.html` (printable: the text, the target, counts by country and
//! day, the snapshot and key fingerprints, how to verify), `snapshot.json`,
//! `log.json`, `keys.json`, and `signatures.csv` only when names were asked
//! for (first name, last name, country, confirmed_at: never an address).
//!
//! Policy: the machinery of the file only. Who may take one, and what goes
//! in, are `campaign::evidence::dossier`'s; this module writes what it is
//! given, and `clarion verify --dossier` reads it back with [`read`].

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use serde::Serialize;
use serde_json::json;
use zip::write::SimpleFileOptions;

use crate::domain::ledger::{Entry, PublicKey, Snapshot};
use crate::templates::Templates;

/// What goes into a dossier.
pub struct Contents<'a> {
    pub case_title: &'a str,
    pub petition_title: &'a str,
    pub petition_slug: &'a str,
    pub target: &'a str,
    pub body: &'a str,
    pub public_url: String,
    pub snapshot: &'a Snapshot,
    pub entries: &'a [Entry],
    pub keys: &'a [PublicKey],
    /// As the public sees it: countries under `public_min_count` summed
    /// into "other".
    pub by_country: &'a BTreeMap<String, i64>,
    /// The petition's small-numbers threshold (0: every country shown).
    pub public_min_count: i64,
    pub by_day: &'a [(String, i64)],
    /// `signatures.csv`, when names were asked for.
    pub names_csv: Option<Vec<u8>>,
}

#[derive(Serialize)]
struct Row<'a> {
    key: &'a str,
    count: i64,
}

/// The ZIP's bytes.
pub fn write(templates: &Templates, c: &Contents) -> anyhow::Result<Vec<u8>> {
    let html = templates.render(
        "dossier/petition.html",
        &json!({
            "case_title": c.case_title,
            "title": c.petition_title,
            "slug": c.petition_slug,
            "target": c.target,
            "paragraphs": c.body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>(),
            "url": c.public_url,
            "snapshot": c.snapshot,
            "entries": c.entries.len(),
            "keys": c.keys,
            "by_country": c.by_country.iter().map(|(k, v)| Row { key: if k == "other" { "Other countries" } else { k }, count: *v }).collect::<Vec<_>>(),
            "public_min_count": (c.public_min_count > 0).then_some(c.public_min_count),
            "by_day": c.by_day.iter().map(|(k, v)| Row { key: k, count: *v }).collect::<Vec<_>>(),
            "names": c.names_csv.is_some(),
        }),
    )?;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut put = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        zip.start_file(name, options)?;
        zip.write_all(bytes)?;
        Ok(())
    };
    put("petition.html", html.as_bytes())?;
    put("snapshot.json", &serde_json::to_vec_pretty(c.snapshot)?)?;
    put(
        "log.json",
        &serde_json::to_vec(&json!({"entries": c.entries, "next_after": null}))?,
    )?;
    put(
        "keys.json",
        &serde_json::to_vec_pretty(&json!({"keys": c.keys}))?,
    )?;
    if let Some(csv) = &c.names_csv {
        put("signatures.csv", csv)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// What `clarion verify --dossier` reads back.
pub struct Dossier {
    pub snapshot: Snapshot,
    pub entries: Vec<Entry>,
    pub keys: Vec<PublicKey>,
}

/// Reads a dossier's snapshot, log and keys.
pub fn read(bytes: &[u8]) -> anyhow::Result<Dossier> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| anyhow::anyhow!("this is not a dossier (not a ZIP file: {e})"))?;
    let mut file = |name: &str| -> anyhow::Result<Vec<u8>> {
        let mut f = zip
            .by_name(name)
            .map_err(|_| anyhow::anyhow!("the dossier holds no {name}"))?;
        let mut out = Vec::new();
        f.read_to_end(&mut out)?;
        Ok(out)
    };
    #[derive(serde::Deserialize)]
    struct Log {
        entries: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Keys {
        keys: Vec<PublicKey>,
    }
    let snapshot = serde_json::from_slice(&file("snapshot.json")?)
        .map_err(|e| anyhow::anyhow!("snapshot.json: {e}"))?;
    let log: Log =
        serde_json::from_slice(&file("log.json")?).map_err(|e| anyhow::anyhow!("log.json: {e}"))?;
    let keys: Keys = serde_json::from_slice(&file("keys.json")?)
        .map_err(|e| anyhow::anyhow!("keys.json: {e}"))?;
    Ok(Dossier {
        snapshot,
        entries: log.entries,
        keys: keys.keys,
    })
}

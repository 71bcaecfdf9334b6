//! `clarion verify`: checks a petition's signature log and signed counts
//! from the database (`--petition SLUG`), from its public pages (`--url
//! BASE/petitions/SLUG`) or from a dossier (`--dossier FILE`), and exits
//! non-zero naming the first broken thing. The check itself is
//! [`crate::domain::ledger::verify`], the same whatever the source.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::campaign::{evidence, Actor, CampaignError};
use crate::config::Settings;
use crate::domain::ledger::{self, Entry, PublicKey, Snapshot, Verified};

/// Where the evidence comes from (exactly one).
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Source {
    /// A petition of this service's database, by slug.
    #[arg(long)]
    petition: Option<String>,
    /// A petition's public address: BASE/petitions/SLUG.
    #[arg(long)]
    url: Option<String>,
    /// A dossier ZIP (from `clarion export dossier` or the API).
    #[arg(long)]
    dossier: Option<PathBuf>,
}

pub async fn verify(source: Source, settings: &Settings) -> anyhow::Result<()> {
    let (what, result) = if let Some(slug) = source.petition {
        let ctx = crate::startup::context(settings).await?;
        let r = evidence::verify_petition(&ctx, &Actor::Cli, &slug)
            .await
            .map_err(|e| match e {
                CampaignError::NotFound { .. } => {
                    anyhow::anyhow!("no petition has the slug {slug:?}")
                }
                CampaignError::Internal(e) => e,
                e => anyhow::anyhow!(e.one_line()),
            })?;
        (format!("petition {slug}"), r)
    } else if let Some(url) = source.url {
        let (entries, snapshots, keys) = fetch(&url).await?;
        (
            url,
            ledger::verify(&ledger::Evidence {
                entries: &entries,
                snapshots: &snapshots,
                keys: &keys,
                head: None,
            }),
        )
    } else if let Some(path) = source.dossier {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let d = crate::dossier::read(&bytes)?;
        (
            path.display().to_string(),
            ledger::verify(&ledger::Evidence {
                entries: &d.entries,
                snapshots: std::slice::from_ref(&d.snapshot),
                keys: &d.keys,
                head: None,
            }),
        )
    } else {
        anyhow::bail!("give --petition, --url or --dossier");
    };
    match result {
        Ok(v) => {
            report(&what, &v);
            Ok(())
        }
        Err(broken) => anyhow::bail!("{what}: BROKEN: {broken}"),
    }
}

fn report(what: &str, v: &Verified) {
    println!(
        "{what}: OK: {} entries ({} confirmations, {} erasures), {} signed snapshots, head {}",
        v.entries, v.confirmed, v.erased, v.snapshots, v.head
    );
}

/// A petition's whole public log, its snapshots and the keys, from its
/// address.
async fn fetch(url: &str) -> anyhow::Result<(Vec<Entry>, Vec<Snapshot>, Vec<PublicKey>)> {
    let url = url.trim_end_matches('/');
    let base = url
        .rsplit_once("/petitions/")
        .map(|(b, _)| b)
        .filter(|b| b.starts_with("http://") || b.starts_with("https://"))
        .context("--url must look like https://HOST/petitions/SLUG")?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    async fn get<T: serde::de::DeserializeOwned>(
        client: &reqwest::Client,
        url: &str,
    ) -> anyhow::Result<T> {
        let r = client
            .get(url)
            .send()
            .await
            .with_context(|| format!("cannot fetch {url}"))?;
        if !r.status().is_success() {
            anyhow::bail!("{url} answered {}", r.status());
        }
        r.json()
            .await
            .with_context(|| format!("{url} is not what was expected"))
    }
    #[derive(serde::Deserialize)]
    struct Page {
        entries: Vec<Entry>,
        next_after: Option<i64>,
    }
    #[derive(serde::Deserialize)]
    struct Snapshots {
        snapshots: Vec<Snapshot>,
    }
    #[derive(serde::Deserialize)]
    struct Keys {
        keys: Vec<PublicKey>,
    }
    let mut entries = Vec::new();
    let mut after = Some(0);
    while let Some(a) = after {
        let page: Page = get(&client, &format!("{url}/log.json?after={a}")).await?;
        after = page.next_after;
        entries.extend(page.entries);
    }
    let snapshots: Snapshots = get(&client, &format!("{url}/snapshots.json")).await?;
    let keys: Keys = get(&client, &format!("{base}/.well-known/clarion-keys.json")).await?;
    Ok((entries, snapshots.snapshots, keys.keys))
}

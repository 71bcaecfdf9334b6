//! The signature log and signed count snapshots (contract §10) as values:
//! what an entry and a snapshot are, how each is hashed or signed, and the
//! check anyone can run on them.
//!
//! Owns: the canonical form (RFC 8785 JSON, by `serde_jcs`), the entry hash
//! (SHA-256 of the canonical entry without its hash), the commitment to an
//! address (SHA-256 of the salt's hex text followed by the normalised
//! address), the Ed25519 snapshot signature and key ids, and [`verify`],
//! which the `clarion verify` command runs on whatever it was given (a
//! database, a URL, a dossier) and which names the first thing that is
//! broken.
//!
//! Never: reads a database or the network, or holds a private key longer
//! than a call: the callers fetch, this module checks.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of a petition's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A signature counted.
    Confirm,
    /// A signer's personal data erased (their signature still counts).
    Erase,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Confirm => "confirm",
            EntryKind::Erase => "erase",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        match s {
            "confirm" => Some(EntryKind::Confirm),
            "erase" => Some(EntryKind::Erase),
            _ => None,
        }
    }
}

/// The hashed part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryBody {
    pub seq: i64,
    pub at: String,
    pub kind: EntryKind,
    pub signature: String,
    pub commitment: String,
    pub prev: String,
}

/// One entry of a petition's log, as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub body: EntryBody,
    pub hash: String,
}

impl EntryBody {
    /// SHA-256 (hex) of this body's canonical JSON.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(canonical(self)))
    }

    pub fn seal(self) -> Entry {
        Entry {
            hash: self.hash(),
            body: self,
        }
    }
}

/// The canonical JSON (RFC 8785) of a value made of strings, integers and
/// maps: what is hashed and signed.
pub fn canonical<T: Serialize>(value: &T) -> Vec<u8> {
    serde_jcs::to_vec(value).expect("strings, integers and maps always serialise")
}

/// `at` as entries and snapshots write it: UTC, microseconds, `Z`.
pub fn timestamp(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A new random salt (16 bytes, hex).
pub fn new_salt() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The commitment to a normalised address: hex SHA-256 of the salt's hex
/// text followed by the address, so that a signer holding both can check it
/// with one line of any language.
pub fn commitment(salt: &str, normalised_email: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(normalised_email.as_bytes());
    hex::encode(h.finalize())
}

/// The signed part of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotBody {
    /// The petition's slug.
    pub petition: String,
    pub confirmed: i64,
    pub by_country: BTreeMap<String, i64>,
    pub log_seq: i64,
    pub log_head: String,
    pub issued_at: String,
    pub key_id: String,
}

/// A signed count snapshot, as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(flatten)]
    pub body: SnapshotBody,
    /// base64url (unpadded) Ed25519 signature of the body's canonical JSON.
    pub signature: String,
}

/// A snapshot signing key, from its 32-byte seed.
#[derive(Clone)]
pub struct SnapshotKey(SigningKey);

impl SnapshotKey {
    /// A new random key.
    pub fn generate() -> SnapshotKey {
        use rand::RngCore;
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        SnapshotKey(SigningKey::from_bytes(&seed))
    }

    /// The key written as its seed in base64url (the key file's one line,
    /// or `CLARION_SIGNING_KEY`).
    pub fn parse(text: &str) -> Result<SnapshotKey, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| "the signing key is not base64url".to_string())?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the signing key is not 32 bytes".to_string())?;
        Ok(SnapshotKey(SigningKey::from_bytes(&seed)))
    }

    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.to_bytes())
    }

    /// The public half, base64url.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.verifying_key().to_bytes())
    }

    pub fn key_id(&self) -> String {
        key_id(&self.0.verifying_key().to_bytes())
    }

    /// Signs `body` (whose `key_id` must be this key's).
    pub fn sign(&self, body: SnapshotBody) -> Snapshot {
        debug_assert_eq!(body.key_id, self.key_id());
        let signature = self.0.sign(&canonical(&body));
        Snapshot {
            body,
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        }
    }
}

/// A key's id: the first 16 hex digits of SHA-256 of its public key (also
/// its fingerprint on the printed dossier).
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

/// A public key as `/.well-known/clarion-keys.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    pub key_id: String,
    pub alg: String,
    /// base64url, 32 bytes.
    pub public_key: String,
    pub created: String,
    pub retired: Option<String>,
}

/// Whether `snapshot` is signed by `key`.
pub fn signature_holds(snapshot: &Snapshot, key: &PublicKey) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(&key.public_key) else {
        return false;
    };
    let Ok(bytes) = <[u8; 32]>::try_from(bytes) else {
        return false;
    };
    let Ok(verifying) = VerifyingKey::from_bytes(&bytes) else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(&snapshot.signature) else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(&sig) else {
        return false;
    };
    key_id(&bytes) == key.key_id && verifying.verify(&canonical(&snapshot.body), &sig).is_ok()
}

/// What a verification is given: one petition's whole log in order, its
/// snapshots, the keys, and (from a database) the head its writers keep.
pub struct Evidence<'a> {
    pub entries: &'a [Entry],
    pub snapshots: &'a [Snapshot],
    pub keys: &'a [PublicKey],
    pub head: Option<(i64, String)>,
}

/// What a verification found when nothing is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub entries: i64,
    pub confirmed: i64,
    pub erased: i64,
    pub snapshots: usize,
    pub head: String,
}

/// The first broken thing, in words an organiser can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("entry {seq}: its hash does not match its contents (the entry was changed)")]
    EntryHash { seq: i64 },
    #[error("entry {expected} is missing: the log goes from entry {} to entry {found}", expected - 1)]
    Missing { expected: i64, found: i64 },
    #[error("entry {seq}: its prev is not the hash of entry {} (the chain is broken)", seq - 1)]
    Prev { seq: i64 },
    #[error("the log ends at entry {last} but its head is entry {head} (entries were deleted)")]
    Head { last: i64, head: i64 },
    #[error("snapshot of {issued_at}: signed by key {key_id}, which is not listed")]
    UnknownKey { issued_at: String, key_id: String },
    #[error("snapshot of {issued_at}: its signature does not verify (forged or changed)")]
    Signature { issued_at: String },
    #[error("snapshot of {issued_at}: it counts up to entry {log_seq}, which the log does not hold (entries were deleted)")]
    BeyondLog { issued_at: String, log_seq: i64 },
    #[error("snapshot of {issued_at}: its log_head is not the hash of entry {log_seq}")]
    HeadMismatch { issued_at: String, log_seq: i64 },
    #[error("snapshot of {issued_at}: it says {claimed} confirmed, but the log holds {counted} confirmations up to entry {log_seq}")]
    Count {
        issued_at: String,
        claimed: i64,
        counted: i64,
        log_seq: i64,
    },
}

/// Recomputes the chain, checks every snapshot's signature and that its
/// count follows from the log; the first broken thing is the error.
pub fn verify(e: &Evidence) -> Result<Verified, Broken> {
    // confirms[i] = confirmations in entries 1..=i; hashes[i] = entry i's.
    let mut confirms = vec![0i64];
    let mut hashes = vec![GENESIS.to_string()];
    let mut erased = 0;
    for entry in e.entries {
        let expected = hashes.len() as i64;
        let b = &entry.body;
        if b.seq != expected {
            return Err(Broken::Missing {
                expected,
                found: b.seq,
            });
        }
        if b.hash() != entry.hash {
            return Err(Broken::EntryHash { seq: b.seq });
        }
        if &b.prev != hashes.last().expect("starts with genesis") {
            return Err(Broken::Prev { seq: b.seq });
        }
        let last = *confirms.last().expect("starts with 0");
        confirms.push(last + i64::from(b.kind == EntryKind::Confirm));
        erased += i64::from(b.kind == EntryKind::Erase);
        hashes.push(entry.hash.clone());
    }
    let last = hashes.len() as i64 - 1;
    if let Some((head_seq, head_hash)) = &e.head {
        if *head_seq != last {
            return Err(Broken::Head {
                last,
                head: *head_seq,
            });
        }
        if head_hash != hashes.last().expect("starts with genesis") {
            return Err(Broken::Prev { seq: last });
        }
    }
    for s in e.snapshots {
        let b = &s.body;
        let Some(key) = e.keys.iter().find(|k| k.key_id == b.key_id) else {
            return Err(Broken::UnknownKey {
                issued_at: b.issued_at.clone(),
                key_id: b.key_id.clone(),
            });
        };
        if !signature_holds(s, key) {
            return Err(Broken::Signature {
                issued_at: b.issued_at.clone(),
            });
        }
        if b.log_seq < 0 || b.log_seq > last {
            return Err(Broken::BeyondLog {
                issued_at: b.issued_at.clone(),
                log_seq: b.log_seq,
            });
        }
        if hashes[b.log_seq as usize] != b.log_head {
            return Err(Broken::HeadMismatch {
                issued_at: b.issued_at.clone(),
                log_seq: b.log_seq,
            });
        }
        let counted = confirms[b.log_seq as usize];
        if counted != b.confirmed {
            return Err(Broken::Count {
                issued_at: b.issued_at.clone(),
                claimed: b.confirmed,
                counted,
                log_seq: b.log_seq,
            });
        }
    }
    Ok(Verified {
        entries: last,
        confirmed: *confirms.last().expect("starts with 0"),
        erased,
        snapshots: e.snapshots.len(),
        head: hashes.last().expect("starts with genesis").clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(kinds: &[EntryKind]) -> Vec<Entry> {
        let mut prev = GENESIS.to_string();
        kinds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let e = EntryBody {
                    seq: i as i64 + 1,
                    at: "2026-12-01T10:00:00.000000Z".into(),
                    kind: *k,
                    signature: format!("sig-{i}"),
                    commitment: commitment(&new_salt(), "a@example.org"),
                    prev: prev.clone(),
                }
                .seal();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn snapshot(key: &SnapshotKey, entries: &[Entry], log_seq: usize, confirmed: i64) -> Snapshot {
        key.sign(SnapshotBody {
            petition: "p".into(),
            confirmed,
            by_country: BTreeMap::from([("KG".to_string(), confirmed)]),
            log_seq: log_seq as i64,
            log_head: if log_seq == 0 {
                GENESIS.into()
            } else {
                entries[log_seq - 1].hash.clone()
            },
            issued_at: "2026-12-01T10:01:00.000000Z".into(),
            key_id: key.key_id(),
        })
    }

    fn public(key: &SnapshotKey) -> PublicKey {
        PublicKey {
            key_id: key.key_id(),
            alg: "Ed25519".into(),
            public_key: key.public_key(),
            created: "2026-12-01T00:00:00.000000Z".into(),
            retired: None,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_and_the_hash_is_over_the_body_alone() {
        let body = EntryBody {
            seq: 1,
            at: "2026-12-01T10:00:00.000000Z".into(),
            kind: EntryKind::Confirm,
            signature: "s".into(),
            commitment: "c".into(),
            prev: GENESIS.into(),
        };
        let text = String::from_utf8(canonical(&body)).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"at":"2026-12-01T10:00:00.000000Z","commitment":"c","kind":"confirm","prev":"{GENESIS}","seq":1,"signature":"s"}}"#
            )
        );
        let entry = body.clone().seal();
        assert_eq!(entry.hash, hex::encode(Sha256::digest(text.as_bytes())));
        // Published with its hash, and read back to the same entry.
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), entry);
    }

    #[test]
    fn a_sound_log_and_snapshots_verify() {
        use EntryKind::*;
        let key = SnapshotKey::generate();
        let entries = chain(&[Confirm, Confirm, Erase, Confirm]);
        let snaps = [
            snapshot(&key, &entries, 0, 0),
            snapshot(&key, &entries, 2, 2),
            snapshot(&key, &entries, 4, 3),
        ];
        let keys = [public(&key)];
        let v = verify(&Evidence {
            entries: &entries,
            snapshots: &snaps,
            keys: &keys,
            head: Some((4, entries[3].hash.clone())),
        })
        .unwrap();
        assert_eq!(
            (v.entries, v.confirmed, v.erased, v.snapshots),
            (4, 3, 1, 3)
        );
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_broken_thing() {
        use EntryKind::*;
        let key = SnapshotKey::generate();
        let keys = [public(&key)];
        let entries = chain(&[Confirm, Confirm, Confirm]);
        let check = |entries: &[Entry], snaps: &[Snapshot], head: Option<(i64, String)>| {
            verify(&Evidence {
                entries,
                snapshots: snaps,
                keys: &keys,
                head,
            })
        };

        let mut edited = entries.clone();
        edited[1].body.commitment = commitment("00", "b@example.org");
        assert_eq!(check(&edited, &[], None), Err(Broken::EntryHash { seq: 2 }));

        let mut gap = entries.clone();
        gap.remove(1);
        assert_eq!(
            check(&gap, &[], None),
            Err(Broken::Missing {
                expected: 2,
                found: 3
            })
        );

        // The last entry deleted: the head (or a later snapshot) gives it away.
        let short = &entries[..2];
        assert_eq!(
            check(short, &[], Some((3, entries[2].hash.clone()))),
            Err(Broken::Head { last: 2, head: 3 })
        );
        let late = snapshot(&key, &entries, 3, 3);
        assert!(matches!(
            check(short, std::slice::from_ref(&late), None),
            Err(Broken::BeyondLog { log_seq: 3, .. })
        ));

        // A rehashed edit breaks the next entry's prev.
        let mut rehashed = entries.clone();
        rehashed[0].body.signature = "other".into();
        rehashed[0] = rehashed[0].body.clone().seal();
        assert_eq!(check(&rehashed, &[], None), Err(Broken::Prev { seq: 2 }));

        // A count that does not follow, and a forged signature.
        let inflated = snapshot(&key, &entries, 2, 5);
        assert!(matches!(
            check(&entries, &[inflated], None),
            Err(Broken::Count {
                claimed: 5,
                counted: 2,
                ..
            })
        ));
        let mut forged = snapshot(&key, &entries, 3, 3);
        forged.body.confirmed = 4;
        assert!(matches!(
            check(&entries, &[forged], None),
            Err(Broken::Signature { .. })
        ));
        let stranger = SnapshotKey::generate();
        let mut foreign = snapshot(&stranger, &entries, 3, 3);
        foreign.body.key_id = key.key_id();
        assert!(matches!(
            check(&entries, &[foreign], None),
            Err(Broken::Signature { .. })
        ));
        let unlisted = snapshot(&stranger, &entries, 3, 3);
        assert!(matches!(
            check(&entries, &[unlisted], None),
            Err(Broken::UnknownKey { .. })
        ));
    }

    #[test]
    fn a_key_survives_its_text_form_and_the_commitment_is_the_documented_hash() {
        let k = SnapshotKey::generate();
        let again = SnapshotKey::parse(&k.to_text()).unwrap();
        assert_eq!(again.public_key(), k.public_key());
        assert_eq!(k.key_id().len(), 16);
        assert!(SnapshotKey::parse("short").is_err());
        assert_eq!(
            commitment("ab", "x@example.org"),
            hex::encode(Sha256::digest(b"abx@example.org"))
        );
    }
}

//! Supporters' personal data sealed at rest (contract §11): the data keys,
//! sealing and opening one value, and the keyed hash that finds an address
//! without storing it.
//!
//! Policy:
//! - A sealed value is text: `$c1$KEYID$` then base64url (unpadded) of a
//!   random 96-bit nonce and the AES-256-GCM ciphertext with its tag. The
//!   key id says which key opens it, so rotation knows which rows are old;
//!   a value without the prefix is plaintext written before encryption
//!   (`clarion migrate` seals it), read as it is.
//! - The keys live in the data key file (`data.key` beside the SQLite
//!   database, or `data/`, mode 0600, made by [`crate::security::key_file`]
//!   like every key file) or in `CLARION_DATA_KEY`; never in the database.
//!   The file lists the lookup key and the data keys, the current one first.
//! - The lookup key (HMAC-SHA256 of the normalised address) is not rotated
//!   with the data keys: a new data key re-seals rows, it does not move
//!   every supporter's hash. It also keys the hash an erased address is
//!   remembered by ([`Vault::erased_hash`]), under a label of its own so the
//!   two never compare equal.
//! - Opening a value sealed under a key this process does not hold is an
//!   error, never the ciphertext shown as if it were data.
//! - Storage code reaches the keys through [`scope`], which `Db` enters for
//!   each call: diesel's connection cannot carry them, and passing them to
//!   every query that touches a name would change most of `db`'s
//!   signatures. Outside a scope nothing is sealed and sealed values do not
//!   open.
//!
//! This module knows nothing of tables or campaigns; it never logs a value
//! or a key.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What every sealed value starts with (version 1 of the format).
pub const PREFIX: &str = "$c1$";

/// What every keyed erasure record starts with; records without it are the
/// unkeyed SHA-256 hex written before (64 hex digits, never a `$`).
pub const ERASED_PREFIX: &str = "$e1$";

/// How often a running process looks at the key file for a new key.
const RELOAD_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("a value is sealed under data key {0}, which this process does not hold (restore the data key file)")]
    UnknownKey(String),
    #[error(
        "a sealed value does not open (damaged, or sealed under another key with the same id)"
    )]
    Damaged,
    #[error("no data key is loaded here")]
    NoKeys,
    #[error("the data key text is not valid: {0}")]
    BadKeyText(String),
    #[error("cannot read the data key file: {0}")]
    Io(#[from] std::io::Error),
}

struct DataKey {
    id: String,
    bytes: [u8; 32],
    cipher: Aes256Gcm,
}

impl DataKey {
    fn new(bytes: [u8; 32]) -> DataKey {
        let mut h = Sha256::new();
        h.update(b"clarion-data-key-id\0");
        h.update(bytes);
        DataKey {
            id: hex::encode(&h.finalize()[..4]),
            cipher: Aes256Gcm::new(&bytes.into()),
            bytes,
        }
    }
}

fn random_32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

fn decode_32(s: &str) -> Result<[u8; 32], VaultError> {
    let v = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| VaultError::BadKeyText("a key is not base64url".into()))?;
    v.try_into()
        .map_err(|_| VaultError::BadKeyText("a key is not 32 bytes".into()))
}

/// The keys of one moment: the lookup key, the data keys (current first),
/// and whether new values are sealed at all.
pub struct Vault {
    lookup: [u8; 32],
    keys: Vec<DataKey>,
    sealing: bool,
}

impl Vault {
    /// A fresh key text: a new lookup key and one data key.
    pub fn generate_text() -> String {
        Vault {
            lookup: random_32(),
            keys: vec![DataKey::new(random_32())],
            sealing: true,
        }
        .to_text()
    }

    /// Reads a key text: `lookup:B64` and `key:B64` items (the first key is
    /// the current one) separated by new lines, spaces or `;`, `#` comment
    /// lines ignored. A single bare key (what one may put in
    /// `CLARION_DATA_KEY`) is the data key, and the lookup key is derived
    /// from it.
    pub fn parse(text: &str) -> Result<Vault, VaultError> {
        let mut lookup = None;
        let mut keys = Vec::new();
        let items: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ';'))
            .filter(|s| !s.is_empty())
            .collect();
        if let [bare] = items.as_slice() {
            if !bare.contains(':') {
                let key = decode_32(bare)?;
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any length");
                mac.update(b"clarion-lookup-key");
                let derived: [u8; 32] = mac.finalize().into_bytes().into();
                return Ok(Vault {
                    lookup: derived,
                    keys: vec![DataKey::new(key)],
                    sealing: true,
                });
            }
        }
        for item in items {
            match item.split_once(':') {
                Some(("lookup", v)) if lookup.is_none() => lookup = Some(decode_32(v)?),
                Some(("key", v)) => keys.push(DataKey::new(decode_32(v)?)),
                _ => {
                    return Err(VaultError::BadKeyText(
                        "expected lookup:KEY and key:KEY items".into(),
                    ))
                }
            }
        }
        let lookup = lookup.ok_or_else(|| VaultError::BadKeyText("no lookup key".into()))?;
        if keys.is_empty() {
            return Err(VaultError::BadKeyText("no data key".into()));
        }
        Ok(Vault {
            lookup,
            keys,
            sealing: true,
        })
    }

    /// The text [`Vault::parse`] reads back.
    pub fn to_text(&self) -> String {
        let mut s = String::from(
            "# Clarion's data keys: without this file the supporters' data in the\n\
             # database cannot be read. Back it up apart from the database.\n",
        );
        s += &format!("lookup:{}\n", URL_SAFE_NO_PAD.encode(self.lookup));
        for k in &self.keys {
            s += &format!("key:{}\n", URL_SAFE_NO_PAD.encode(k.bytes));
        }
        s
    }

    /// The same keys with sealing turned off: values are written in the
    /// clear and still read either way (the benchmarks' comparison only).
    pub fn without_sealing(mut self) -> Vault {
        self.sealing = false;
        self
    }

    pub fn sealing(&self) -> bool {
        self.sealing
    }

    /// The key new values are sealed under.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Every data key id held, the current one first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// These keys with a new current data key in front.
    pub fn with_new_key(&self) -> Vault {
        let mut keys = vec![DataKey::new(random_32())];
        keys.extend(self.keys.iter().map(|k| DataKey::new(k.bytes)));
        Vault {
            lookup: self.lookup,
            keys,
            sealing: self.sealing,
        }
    }

    /// These keys without the older ones not in `keep` (the current key
    /// always stays).
    pub fn keeping(&self, keep: &[String]) -> Vault {
        let keys = self
            .keys
            .iter()
            .enumerate()
            .filter(|(i, k)| *i == 0 || keep.contains(&k.id))
            .map(|(_, k)| DataKey::new(k.bytes))
            .collect();
        Vault {
            lookup: self.lookup,
            keys,
            sealing: self.sealing,
        }
    }

    /// `plain` sealed under the current key (or as it is with sealing off).
    pub fn seal(&self, plain: &str) -> String {
        if !self.sealing {
            return plain.to_string();
        }
        self.seal_raw(plain.as_bytes())
    }

    /// Bytes (a kept message) sealed under the current key, in the same
    /// text form as [`Vault::seal`] (or as they are with sealing off).
    pub fn seal_bytes(&self, plain: &[u8]) -> Vec<u8> {
        if !self.sealing {
            return plain.to_vec();
        }
        self.seal_raw(plain).into_bytes()
    }

    fn seal_raw(&self, plain: &[u8]) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = key
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .expect("AES-GCM seals any length a column holds");
        let mut raw = Vec::with_capacity(12 + ct.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ct);
        let mut out = String::with_capacity(PREFIX.len() + 10 + raw.len() * 4 / 3 + 4);
        out.push_str(PREFIX);
        out.push_str(&key.id);
        out.push('$');
        URL_SAFE_NO_PAD.encode_string(&raw, &mut out);
        out
    }

    /// The plaintext of a stored value: sealed values opened, plaintext
    /// (from before encryption) as it is.
    pub fn open(&self, stored: &str) -> Result<String, VaultError> {
        let Some((id, body)) = split_sealed(stored) else {
            return Ok(stored.to_string());
        };
        String::from_utf8(self.open_raw(id, body)?).map_err(|_| VaultError::Damaged)
    }

    /// The bytes of a stored message: sealed ones opened, plaintext (from
    /// before encryption) as it is.
    pub fn open_bytes(&self, stored: &[u8]) -> Result<Vec<u8>, VaultError> {
        match split_sealed_bytes(stored) {
            Some((id, body)) => self.open_raw(id, body),
            None => Ok(stored.to_vec()),
        }
    }

    /// [`Vault::open`] in place: a sealed `value` becomes its plaintext in
    /// its own buffer (the plaintext is always shorter than the sealed
    /// text), the ciphertext decoded into `scratch`; so opening a page of
    /// values allocates nothing once `scratch` has grown. Plaintext is left
    /// as it is.
    pub fn open_in_place(
        &self,
        value: &mut String,
        scratch: &mut Vec<u8>,
    ) -> Result<(), VaultError> {
        let Some((id, body)) = split_sealed(value) else {
            return Ok(());
        };
        let key = self.key(id)?;
        scratch.clear();
        URL_SAFE_NO_PAD
            .decode_vec(body, scratch)
            .map_err(|_| VaultError::Damaged)?;
        if scratch.len() < 12 + 16 {
            return Err(VaultError::Damaged);
        }
        let (nonce, rest) = scratch.split_at_mut(12);
        let (msg, tag) = rest.split_at_mut(rest.len() - 16);
        key.cipher
            .decrypt_in_place_detached(Nonce::from_slice(nonce), b"", msg, (&*tag).into())
            .map_err(|_| VaultError::Damaged)?;
        let plain = std::str::from_utf8(msg).map_err(|_| VaultError::Damaged)?;
        value.clear();
        value.push_str(plain);
        Ok(())
    }

    fn key(&self, id: &str) -> Result<&DataKey, VaultError> {
        self.keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_string()))
    }

    fn open_raw(&self, id: &str, body: &str) -> Result<Vec<u8>, VaultError> {
        let key = self.key(id)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| VaultError::Damaged)?;
        if raw.len() < 12 + 16 {
            return Err(VaultError::Damaged);
        }
        let (nonce, ct) = raw.split_at(12);
        key.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| VaultError::Damaged)
    }

    /// The keyed hash an address is found by (lower-case hex of the first
    /// 16 bytes of HMAC-SHA256): `email` must be normalised
    /// (`Email::parse`).
    pub fn lookup_hash(&self, email: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup).expect("any length");
        mac.update(b"email\0");
        mac.update(email.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The keyed hash an erased address is remembered by: [`ERASED_PREFIX`]
    /// then lower-case hex of the first 16 bytes of HMAC-SHA256 under the
    /// lookup key, with a label other than [`Vault::lookup_hash`]'s so that
    /// no erasure record equals any supporter's `email_hash` (see
    /// `db::supporters`). `email` must be normalised.
    pub fn erased_hash(&self, email: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup).expect("any length");
        mac.update(b"erased-email\0");
        mac.update(email.as_bytes());
        format!(
            "{ERASED_PREFIX}{}",
            hex::encode(&mac.finalize().into_bytes()[..16])
        )
    }
}

/// `(key id, body)` of a sealed value; `None` for plaintext.
fn split_sealed(stored: &str) -> Option<(&str, &str)> {
    stored.strip_prefix(PREFIX)?.split_once('$')
}

/// [`split_sealed`] of stored bytes: a sealed value is ASCII text, so
/// bytes that are not UTF-8 are plaintext.
fn split_sealed_bytes(stored: &[u8]) -> Option<(&str, &str)> {
    if !stored.starts_with(PREFIX.as_bytes()) {
        return None;
    }
    split_sealed(std::str::from_utf8(stored).ok()?)
}

/// The id of the key `stored` is sealed under; `None` for plaintext.
pub fn key_id_of(stored: &str) -> Option<&str> {
    split_sealed(stored).map(|(id, _)| id)
}

/// [`key_id_of`] for sealed bytes.
pub fn key_id_of_bytes(stored: &[u8]) -> Option<&str> {
    split_sealed_bytes(stored).map(|(id, _)| id)
}

/// The range of byte strings `[from, to)` that holds exactly the values
/// sealed under `key_id` (under any key with `None`): those starting with
/// its prefix, `…$`, and nothing else, since `%` is the byte after `$`.
/// Binary columns have no portable `LIKE`; both backends compare bytes as
/// `memcmp` does.
pub fn sealed_bytes_range(key_id: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let from = match key_id {
        Some(id) => format!("{PREFIX}{id}$"),
        None => PREFIX.to_string(),
    };
    let mut to = from.clone().into_bytes();
    *to.last_mut().expect("never empty") = b'$' + 1;
    (from.into_bytes(), to)
}

/// SQL `LIKE` pattern of values sealed under `key_id` (ids are hex, and
/// `$` means nothing to `LIKE`).
pub fn sealed_under_pattern(key_id: &str) -> String {
    format!("{PREFIX}{key_id}$%")
}

/// Where a process's keys come from, and the keys of now: a file is looked
/// at again (at most every [`RELOAD_EVERY`], and at once when a value names
/// a key not held), so `clarion keys rotate` reaches running processes
/// without a restart.
pub struct DataKeys {
    file: Option<PathBuf>,
    sealing: bool,
    state: RwLock<Arc<Vault>>,
    seen: Mutex<(Instant, Option<SystemTime>)>,
    /// When to look at the file next, in milliseconds after `born`: read
    /// without the lock, so sealing a value costs a clock read, not a lock.
    born: Instant,
    next_look_ms: AtomicU64,
}

impl DataKeys {
    /// Keys read from `file` (reloaded when it changes).
    pub fn from_file(file: PathBuf, sealing: bool) -> Result<DataKeys, VaultError> {
        let text = crate::security::key_file::read(&file)?.ok_or_else(|| {
            VaultError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not exist", file.display()),
            ))
        })?;
        let vault = Vault::parse(&text)?;
        let vault = if sealing {
            vault
        } else {
            vault.without_sealing()
        };
        let mtime = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
        Ok(DataKeys {
            file: Some(file),
            sealing,
            state: RwLock::new(Arc::new(vault)),
            seen: Mutex::new((Instant::now(), mtime)),
            born: Instant::now(),
            next_look_ms: AtomicU64::new(RELOAD_EVERY.as_millis() as u64),
        })
    }

    /// Fixed keys (`CLARION_DATA_KEY`, tests).
    pub fn fixed(vault: Vault) -> DataKeys {
        DataKeys {
            file: None,
            sealing: vault.sealing,
            state: RwLock::new(Arc::new(vault)),
            seen: Mutex::new((Instant::now(), None)),
            born: Instant::now(),
            next_look_ms: AtomicU64::new(RELOAD_EVERY.as_millis() as u64),
        }
    }

    /// The keys of now, after a look at the file if it is time: what a
    /// value is sealed with.
    pub fn vault(&self) -> Arc<Vault> {
        self.maybe_reload(false);
        self.held()
    }

    /// The keys held, without a look at the file: enough to open a value
    /// (one under a key not held makes [`DataKeys::open`] read the file at
    /// once) and to hash an address (the lookup key never rotates). Opening
    /// a million values of an export then costs no lock and no clock each.
    fn held(&self) -> Arc<Vault> {
        self.state.read().expect("not poisoned").clone()
    }

    /// Reads the file again now if it changed (or `force`); a file that no
    /// longer parses keeps the keys held (and says so).
    fn maybe_reload(&self, force: bool) {
        let Some(file) = &self.file else { return };
        let since_born = || self.born.elapsed().as_millis() as u64;
        if !force && since_born() < self.next_look_ms.load(Ordering::Relaxed) {
            return;
        }
        let mut seen = self.seen.lock().expect("not poisoned");
        if !force && seen.0.elapsed() < RELOAD_EVERY {
            return;
        }
        seen.0 = Instant::now();
        self.next_look_ms.store(
            since_born() + RELOAD_EVERY.as_millis() as u64,
            Ordering::Relaxed,
        );
        let mtime = std::fs::metadata(file).and_then(|m| m.modified()).ok();
        if !force && mtime == seen.1 {
            return;
        }
        let read = crate::security::key_file::read(file)
            .map_err(VaultError::from)
            .and_then(|t| t.ok_or(VaultError::NoKeys))
            .and_then(|t| Vault::parse(&t));
        match read {
            Ok(v) => {
                let v = if self.sealing { v } else { v.without_sealing() };
                let mut state = self.state.write().expect("not poisoned");
                if state.ids() != v.ids() {
                    tracing::info!(key.current = v.current_id(), "data keys reloaded");
                }
                *state = Arc::new(v);
                seen.1 = mtime;
            }
            Err(e) => {
                tracing::warn!(error = %e, key.file = %file.display(), "the data key file did not reload")
            }
        }
    }

    /// Opens `stored`, reading the file again once if it names a key not
    /// held (a process that has not yet seen a rotation).
    pub fn open(&self, stored: &str) -> Result<String, VaultError> {
        self.opening(|v| v.open(stored))
    }

    /// [`DataKeys::open`] for a stored message.
    pub fn open_bytes(&self, stored: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.opening(|v| v.open_bytes(stored))
    }

    fn opening<T>(&self, open: impl Fn(&Vault) -> Result<T, VaultError>) -> Result<T, VaultError> {
        match open(&self.held()) {
            Err(VaultError::UnknownKey(_)) if self.file.is_some() => {
                self.maybe_reload(true);
                open(&self.held())
            }
            other => other,
        }
    }

    /// Reads the file again now.
    pub fn reload(&self) {
        self.maybe_reload(true);
    }

    /// The file the keys come from, if any.
    pub fn file(&self) -> Option<&PathBuf> {
        self.file.as_ref()
    }
}

thread_local! {
    static SCOPE: RefCell<Option<Arc<DataKeys>>> = const { RefCell::new(None) };
}

/// Runs `f` with `keys` as the keys [`seal`], [`open`] and [`lookup_hash`]
/// use on this thread (restored afterwards, so scopes nest).
pub fn scope<T>(keys: Option<&Arc<DataKeys>>, f: impl FnOnce() -> T) -> T {
    let before = SCOPE.with(|s| s.replace(keys.cloned()));
    struct Restore(Option<Arc<DataKeys>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            SCOPE.with(|s| *s.borrow_mut() = before);
        }
    }
    let _restore = Restore(before);
    f()
}

/// Enters `keys` on this thread until the guard drops (for code holding a
/// connection of its own, as the import and the export do).
pub fn enter(keys: Option<&Arc<DataKeys>>) -> ScopeGuard {
    let before = SCOPE.with(|s| s.replace(keys.cloned()));
    ScopeGuard {
        before,
        _not_send: std::marker::PhantomData,
    }
}

/// See [`enter`]; tied to its thread.
pub struct ScopeGuard {
    before: Option<Arc<DataKeys>>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let before = self.before.take();
        SCOPE.with(|s| *s.borrow_mut() = before);
    }
}

fn current() -> Option<Arc<DataKeys>> {
    SCOPE.with(|s| s.borrow().clone())
}

/// `plain` sealed under the scope's current key (as it is outside a scope).
pub fn seal(plain: &str) -> String {
    match current() {
        Some(k) => k.vault().seal(plain),
        None => plain.to_string(),
    }
}

pub fn seal_opt(plain: Option<&str>) -> Option<String> {
    plain.map(seal)
}

/// The plaintext of a stored value (see [`Vault::open`]).
pub fn open(stored: &str) -> Result<String, VaultError> {
    match current() {
        Some(k) => k.open(stored),
        None if key_id_of(stored).is_some() => Err(VaultError::NoKeys),
        None => Ok(stored.to_string()),
    }
}

/// `plain` bytes sealed under the scope's current key (as they are outside
/// a scope).
pub fn seal_bytes(plain: &[u8]) -> Vec<u8> {
    match current() {
        Some(k) => k.vault().seal_bytes(plain),
        None => plain.to_vec(),
    }
}

/// The plaintext of stored bytes (see [`Vault::open_bytes`]); plaintext is
/// handed back without a copy.
pub fn open_bytes(stored: Vec<u8>) -> Result<Vec<u8>, VaultError> {
    if key_id_of_bytes(&stored).is_none() {
        return Ok(stored);
    }
    current().ok_or(VaultError::NoKeys)?.open_bytes(&stored)
}

pub fn open_opt(stored: Option<String>) -> Result<Option<String>, VaultError> {
    match stored {
        Some(s) if s.starts_with(PREFIX) => open(&s).map(Some),
        other => Ok(other),
    }
}

/// Opens a value in place.
pub fn open_in(v: &mut Option<String>) -> Result<(), VaultError> {
    if let Some(s) = v.as_deref() {
        if s.starts_with(PREFIX) {
            *v = Some(open(s)?);
        }
    }
    Ok(())
}

/// Opens many values with one look at the scope's keys and no allocation
/// per value (a page of an export, a batch of mail): [`open_in`] without
/// its per-value costs.
pub struct Opener {
    keys: Option<Arc<DataKeys>>,
    vault: Option<Arc<Vault>>,
    scratch: Vec<u8>,
}

impl Opener {
    /// An opener with the keys of this thread's scope.
    pub fn new() -> Opener {
        let keys = current();
        let vault = keys.as_ref().map(|k| k.held());
        Opener {
            keys,
            vault,
            scratch: Vec::new(),
        }
    }

    /// Opens `v` in place (see [`open_in`]), reading the key file again
    /// once if it names a key not held.
    pub fn open_in(&mut self, v: &mut Option<String>) -> Result<(), VaultError> {
        let Some(s) = v.as_mut() else { return Ok(()) };
        if !s.starts_with(PREFIX) {
            return Ok(());
        }
        let (Some(keys), Some(vault)) = (&self.keys, &self.vault) else {
            return Err(VaultError::NoKeys);
        };
        match vault.open_in_place(s, &mut self.scratch) {
            Err(VaultError::UnknownKey(_)) if keys.file.is_some() => {
                keys.maybe_reload(true);
                let vault = keys.held();
                let opened = vault.open_in_place(s, &mut self.scratch);
                self.vault = Some(vault);
                opened
            }
            other => other,
        }
    }
}

impl Default for Opener {
    fn default() -> Self {
        Opener::new()
    }
}

/// The keyed hash of a normalised address under the scope's lookup key.
pub fn lookup_hash(email: &str) -> Result<String, VaultError> {
    current()
        .map(|k| k.held().lookup_hash(email))
        .ok_or(VaultError::NoKeys)
}

/// [`Vault::erased_hash`] under the scope's lookup key.
pub fn erased_hash(email: &str) -> Result<String, VaultError> {
    current()
        .map(|k| k.held().erased_hash(email))
        .ok_or(VaultError::NoKeys)
}

/// The scope's keys of now (rotation and `migrate` work with them).
pub fn current_vault() -> Option<Arc<Vault>> {
    current().map(|k| k.vault())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_to_itself_and_shows_nothing_of_it() {
        let v = Vault::parse(&Vault::generate_text()).unwrap();
        let s = v.seal("ann@example.org");
        assert!(s.starts_with(PREFIX), "{s}");
        assert!(!s.contains("ann") && !s.contains("example"), "{s}");
        assert_ne!(s, v.seal("ann@example.org"), "a fresh nonce every time");
        assert_eq!(v.open(&s).unwrap(), "ann@example.org");
        assert_eq!(key_id_of(&s), Some(v.current_id()));
        assert_eq!(v.open("plain text").unwrap(), "plain text");
        assert_eq!(v.open(&v.seal("")).unwrap(), "");
    }

    #[test]
    fn sealed_bytes_open_to_themselves_and_fall_in_their_keys_range() {
        let v = Vault::parse(&Vault::generate_text()).unwrap();
        let message = b"From: MAILER-DAEMON\r\n\r\n<ann@example.org> \xff\xfe".to_vec();
        let s = v.seal_bytes(&message);
        assert!(!s.windows(3).any(|w| w == b"ann"));
        assert_eq!(v.open_bytes(&s).unwrap(), message);
        assert_eq!(
            v.open_bytes(&message).unwrap(),
            message,
            "plaintext as it is"
        );
        assert_eq!(key_id_of_bytes(&s), Some(v.current_id()));
        assert_eq!(key_id_of_bytes(&message), None);
        let (from, to) = sealed_bytes_range(Some(v.current_id()));
        assert!(from <= s && s < to);
        let (from, to) = sealed_bytes_range(None);
        assert!(from <= s && s < to);
        assert!(!(from <= message && message < to));
        let other = Vault::parse(&Vault::generate_text()).unwrap();
        let (from, to) = sealed_bytes_range(Some(other.current_id()));
        assert!(!(from <= s && s < to));
    }

    #[test]
    fn a_value_opens_only_under_its_own_key_and_unchanged() {
        let a = Vault::parse(&Vault::generate_text()).unwrap();
        let b = Vault::parse(&Vault::generate_text()).unwrap();
        let s = a.seal("Ann");
        assert!(matches!(b.open(&s), Err(VaultError::UnknownKey(_))));
        let mut bad = s.clone();
        bad.pop();
        bad.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(a.open(&bad), Err(VaultError::Damaged)));
    }

    #[test]
    fn a_value_opened_in_place_is_what_open_gives_and_damage_still_shows() {
        let a = Vault::parse(&Vault::generate_text()).unwrap();
        let mut scratch = Vec::new();
        for plain in [
            "Ann",
            "",
            "Айгуль Бекова, 72001 — «свободу»",
            "x".repeat(500).as_str(),
        ] {
            let mut v = a.seal(plain);
            a.open_in_place(&mut v, &mut scratch).unwrap();
            assert_eq!(v, plain);
            a.open_in_place(&mut v, &mut scratch).unwrap();
            assert_eq!(v, plain, "plaintext is left as it is");
        }
        let s = a.seal("Ann");
        let mut bad = s.clone();
        bad.pop();
        bad.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(
            a.open_in_place(&mut bad, &mut scratch),
            Err(VaultError::Damaged)
        ));
        let b = Vault::parse(&Vault::generate_text()).unwrap();
        let mut other = s.clone();
        assert!(matches!(
            b.open_in_place(&mut other, &mut scratch),
            Err(VaultError::UnknownKey(_))
        ));
        assert_eq!(other, s, "a value that does not open is left sealed");
    }

    #[test]
    fn an_opener_opens_in_its_scope_only() {
        let keys = Arc::new(DataKeys::fixed(
            Vault::parse(&Vault::generate_text()).unwrap(),
        ));
        let sealed = scope(Some(&keys), || seal("Ann"));
        let opened = scope(Some(&keys), || {
            let mut opener = Opener::new();
            let mut v = [Some(sealed.clone()), Some("plain".into()), None];
            for x in &mut v {
                opener.open_in(x).unwrap();
            }
            v
        });
        assert_eq!(opened, [Some("Ann".into()), Some("plain".into()), None]);
        let mut v = Some(sealed);
        assert!(matches!(
            Opener::new().open_in(&mut v),
            Err(VaultError::NoKeys)
        ));
    }

    #[test]
    fn a_rotated_vault_reads_old_values_seals_new_ones_and_keeps_the_lookup() {
        let text = Vault::generate_text();
        let old = Vault::parse(&text).unwrap();
        let s = old.seal("Ann");
        let new = Vault::parse(&old.with_new_key().to_text()).unwrap();
        assert_ne!(new.current_id(), old.current_id());
        assert_eq!(new.open(&s).unwrap(), "Ann");
        assert_eq!(key_id_of(&new.seal("x")), Some(new.current_id()));
        assert_eq!(new.lookup_hash("a@b.org"), old.lookup_hash("a@b.org"));
        let trimmed = new.keeping(&[]);
        assert_eq!(trimmed.ids(), vec![new.current_id().to_string()]);
        assert!(trimmed.open(&s).is_err());
    }

    #[test]
    fn an_erased_address_hash_is_keyed_kept_through_rotation_and_unlike_its_lookup_hash() {
        let v = Vault::parse(&Vault::generate_text()).unwrap();
        let h = v.erased_hash("a@b.org");
        assert!(h.starts_with(ERASED_PREFIX), "{h}");
        assert_eq!(h, v.erased_hash("a@b.org"));
        assert_eq!(v.with_new_key().erased_hash("a@b.org"), h);
        assert!(
            !h.contains(&v.lookup_hash("a@b.org")),
            "joinable with email_hash"
        );
        let other = Vault::parse(&Vault::generate_text()).unwrap();
        assert_ne!(other.erased_hash("a@b.org"), h, "the key is in it");
        assert_ne!(v.erased_hash("c@b.org"), h);
    }

    #[test]
    fn a_bare_key_is_a_key_text_and_garbage_is_not() {
        let bare = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let v = Vault::parse(&bare).unwrap();
        assert_eq!(v.open(&v.seal("x")).unwrap(), "x");
        assert_eq!(
            Vault::parse(&bare).unwrap().lookup_hash("a"),
            v.lookup_hash("a")
        );
        assert!(Vault::parse("nonsense").is_err());
        assert!(Vault::parse("lookup:AAAA").is_err());
        assert!(Vault::parse("").is_err());
    }

    #[test]
    fn outside_a_scope_nothing_is_sealed_and_sealed_values_do_not_open() {
        let keys = Arc::new(DataKeys::fixed(
            Vault::parse(&Vault::generate_text()).unwrap(),
        ));
        let sealed = scope(Some(&keys), || seal("Ann"));
        assert_eq!(scope(Some(&keys), || open(&sealed).unwrap()), "Ann");
        assert!(open(&sealed).is_err());
        assert_eq!(seal("Ann"), "Ann");
        assert!(lookup_hash("a@b.org").is_err());
        assert!(erased_hash("a@b.org").is_err());
    }
}

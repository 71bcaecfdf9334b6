//! Secrets and the things made from them: API tokens (random, stored as
//! SHA-256), signed single-purpose tokens (HMAC-SHA256 with the secret key),
//! and keyed hashes of client IPs, so no address is ever stored. Those
//! hashes are keyed by a random key of the UTC day ([`DayKeys`]), deleted
//! once the day is over: a stored hash cannot be tied to an address after
//! that, even by someone holding every key file.
//!
//! The generated secret key lives in a key file ([`key_file`]), never in the
//! database: a copy of the database alone must not let anyone forge a
//! session, an unsubscribe or a confirmation link.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// 32 random bytes, URL-safe base64: an API token or a confirmation token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How a token is stored: hex SHA-256. Tokens carry 256 bits of entropy, so an
/// unsalted fast hash is enough to make a stolen table useless.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new secret key for `CLARION_SECRET_KEY` when none is configured.
pub fn generate_secret_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The key file: one line of text, mode 0600, in a folder of its own choosing
/// (`Settings::key_dir`). Never logged.
pub mod key_file {
    use std::io::Write;
    use std::path::Path;

    /// The key held in `path`, or `None` when there is no such file. An empty
    /// file is an error (a key must not silently become "").
    pub fn read(path: &Path) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(path) {
            Ok(s) => {
                let key = s.trim().to_string();
                if key.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is empty", path.display()),
                    ));
                }
                warn_if_readable_by_others(path);
                Ok(Some(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The key in `path`; when there is none, the file (and its folder) is
    /// created holding `make()`. The new file is written beside it under a
    /// random name and hard-linked into place, which fails when another
    /// process got there first: then both use the one that won, so nodes
    /// sharing a folder never end up with two keys, and no reader ever sees
    /// a half-written file.
    pub fn get_or_create(path: &Path, make: impl FnOnce() -> String) -> std::io::Result<String> {
        if let Some(k) = read(path)? {
            return Ok(k);
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".secret-{}.tmp", super::random_token()));
        let written = (|| {
            let mut f = open_private(&tmp)?;
            f.write_all(make().as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        })();
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        read(path)?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} vanished as it was made", path.display()),
            )
        })
    }

    /// Replaces the key in `path` with `key` (a file beside it renamed into
    /// place: a reader sees the old key or the new one, never half of one).
    pub fn replace(path: &Path, key: &str) -> std::io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".secret-{}.tmp", super::random_token()));
        let written = (|| {
            let mut f = open_private(&tmp)?;
            f.write_all(key.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        })();
        let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        renamed
    }

    #[cfg(unix)]
    fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    }

    #[cfg(not(unix))]
    fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    }

    /// A key file others can read is worth a warning (not a refusal: the
    /// operator may have reasons, e.g. a group shared by the nodes).
    fn warn_if_readable_by_others(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(path) {
                if m.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(
                        key.file = %path.display(),
                        "the key file can be read by other users; chmod 600 it"
                    );
                }
            }
        }
        #[cfg(not(unix))]
        let _ = path;
    }
}

/// The process's keys, derived from the one secret.
#[derive(Clone)]
pub struct Keys {
    secret: Vec<u8>,
}

impl Keys {
    pub fn new(secret: &str) -> Keys {
        Keys {
            secret: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, purpose: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac
    }

    /// `payload.signature`, both URL-safe; the purpose is part of the MAC, so
    /// a token made for one purpose is worthless for another.
    pub fn sign(&self, purpose: &str, payload: &str) -> String {
        let mut mac = self.mac(purpose);
        mac.update(payload.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload.as_bytes()), sig)
    }

    /// The payload of a token made by [`Keys::sign`] for `purpose`, or `None`
    /// when it is malformed or forged.
    pub fn verify(&self, purpose: &str, token: &str) -> Option<String> {
        let (payload_b64, sig_b64) = token.split_once('.')?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload_b64).ok()?).ok()?;
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).ok()?;
        let mut mac = self.mac(purpose);
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).ok()?;
        Some(payload)
    }

    /// The first `bytes` bytes of the MAC of `payload` for `purpose`, in
    /// lower-case hex: for tags that must survive case folding (an email
    /// local part). Compare with [`Keys::proves_hex`].
    pub fn mac_hex(&self, purpose: &str, payload: &str, bytes: usize) -> String {
        let mut mac = self.mac(purpose);
        mac.update(payload.as_bytes());
        let full = mac.finalize().into_bytes();
        hex::encode(&full[..bytes.min(full.len())])
    }

    /// Whether `tag` is [`Keys::mac_hex`] of `payload`, in constant time.
    pub fn proves_hex(&self, purpose: &str, payload: &str, tag: &str) -> bool {
        let Ok(given) = hex::decode(tag) else {
            return false;
        };
        if given.is_empty() {
            return false;
        }
        let mut mac = self.mac(purpose);
        mac.update(payload.as_bytes());
        mac.verify_truncated_left(&given).is_ok()
    }

    /// Keyed hash under the secret key, for records kept in this process's
    /// memory only (the console's failed sign-ins): never store one, since
    /// the secret key lasts. What is stored or shared is hashed with
    /// [`DayKeys`].
    pub fn memory_hash(&self, value: &str) -> String {
        let mut mac = self.mac("client-ip");
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// The keys client IPs are hashed with: a random key per UTC day, kept in
/// the key folder as `ip-YYYY-MM-DD.key` (mode 0600, never in the database)
/// and deleted once its day is over, so that after a day no stored hash can
/// be tied to an address. Nodes sharing the folder agree on a day's key:
/// the first to need it creates the file exclusively, the others read it.
///
/// The signing limit counts minutes; for [`DAY_KEY_GRACE`] after midnight a
/// client is also known by yesterday's hash ([`DayKeys::limit_hashes`]), so
/// the minute that straddles midnight is counted whole. Yesterday's key is
/// deleted only after that.
pub struct DayKeys {
    dir: std::path::PathBuf,
    keys: std::sync::Mutex<std::collections::BTreeMap<chrono::NaiveDate, [u8; 32]>>,
}

/// How long after midnight yesterday's key is still used (by the limiter
/// alone): two of its minutes, whatever the clocks' small differences.
pub const DAY_KEY_GRACE: chrono::Duration = chrono::Duration::seconds(120);

impl DayKeys {
    pub fn new(dir: impl Into<std::path::PathBuf>) -> DayKeys {
        DayKeys {
            dir: dir.into(),
            keys: std::sync::Mutex::default(),
        }
    }

    /// The file holding `day`'s key.
    pub fn path(&self, day: chrono::NaiveDate) -> std::path::PathBuf {
        self.dir.join(format!("ip-{}.key", day.format("%Y-%m-%d")))
    }

    /// The oldest day whose key may still be used at `at`.
    fn oldest_kept(at: chrono::NaiveDateTime) -> chrono::NaiveDate {
        (at - DAY_KEY_GRACE).date()
    }

    fn key(&self, day: chrono::NaiveDate, at: chrono::NaiveDateTime) -> std::io::Result<[u8; 32]> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        // What this process remembers is forgotten with the file.
        let oldest = Self::oldest_kept(at);
        keys.retain(|d, _| *d >= oldest);
        if let Some(k) = keys.get(&day) {
            return Ok(*k);
        }
        let text = key_file::get_or_create(&self.path(day), generate_secret_key)?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a key: {e}", self.path(day).display()),
            )
        })?;
        keys.insert(day, key);
        Ok(key)
    }

    fn hash_with(key: &[u8; 32], ip: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(b"client-ip\0");
        mac.update(ip.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The hash of client address `ip` at `at`, under that UTC day's key
    /// (made now if it is the first use of the day).
    pub fn hash(&self, ip: &str, at: chrono::NaiveDateTime) -> std::io::Result<String> {
        Ok(Self::hash_with(&self.key(at.date(), at)?, ip))
    }

    /// The keys the signing limit knows `ip` by at `at`: today's hash, and
    /// within [`DAY_KEY_GRACE`] after midnight yesterday's as well (first),
    /// so the signatures of the minutes before midnight still count.
    pub fn limit_hashes(
        &self,
        ip: &str,
        at: chrono::NaiveDateTime,
    ) -> std::io::Result<Vec<String>> {
        let today = at.date();
        let mut out = Vec::with_capacity(2);
        let oldest = Self::oldest_kept(at);
        if oldest < today {
            out.push(Self::hash_with(&self.key(oldest, at)?, ip));
        }
        out.push(Self::hash_with(&self.key(today, at)?, ip));
        Ok(out)
    }

    /// Deletes the key files (and forgets the keys) of days over at `at`:
    /// every day before today, yesterday only once [`DAY_KEY_GRACE`] has
    /// passed. Returns how many files went. Run at start and by the
    /// periodic jobs; any node may, since they share the folder.
    pub fn forget_old(&self, at: chrono::NaiveDateTime) -> std::io::Result<usize> {
        let oldest = Self::oldest_kept(at);
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|d, _| *d >= oldest);
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut deleted = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(day) = name
                .to_str()
                .and_then(|n| n.strip_prefix("ip-"))
                .and_then(|n| n.strip_suffix(".key"))
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            else {
                continue;
            };
            if day < oldest {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => deleted += 1,
                    // Another node got there first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(deleted)
    }
}

/// An argon2id PHC string for a console password (the crate's defaults:
/// 19 MiB, 2 passes, per OWASP's minimum), with a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// True when `password` matches the PHC string `hash`. A malformed hash
/// matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the email is unknown, so that answering
/// "no such user" takes as long as a wrong password.
pub fn dummy_password_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_only_for_its_purpose_and_key() {
        let k = Keys::new("k1-0123456789abcdef0123456789abcdef");
        let t = k.sign("unsubscribe", "supporter-1");
        assert_eq!(k.verify("unsubscribe", &t).as_deref(), Some("supporter-1"));
        assert_eq!(k.verify("confirm", &t), None);
        let other = Keys::new("k2-0123456789abcdef0123456789abcdef");
        assert_eq!(other.verify("unsubscribe", &t), None);
        assert_eq!(k.verify("unsubscribe", "garbage"), None);
        assert_eq!(k.verify("unsubscribe", &format!("{t}x")), None);
    }

    #[test]
    fn tokens_are_random_and_hashes_hide_them() {
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(hash_token(&a).len(), 64);
        assert!(!hash_token(&a).contains(&a));
    }

    #[test]
    fn a_key_file_is_made_once_private_and_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("secret.key");
        assert_eq!(key_file::read(&path).unwrap(), None);
        let k = key_file::get_or_create(&path, || "first-key".into()).unwrap();
        assert_eq!(k, "first-key");
        let again = key_file::get_or_create(&path, || "second-key".into()).unwrap();
        assert_eq!(again, "first-key", "an existing file wins");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    fn at(s: &str) -> chrono::NaiveDateTime {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn an_ip_hash_changes_with_the_day_and_old_days_keys_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let keys = DayKeys::new(dir.path());
        let h1 = keys.hash("192.0.2.7", at("2026-12-01 12:00:00")).unwrap();
        assert_eq!(
            h1,
            keys.hash("192.0.2.7", at("2026-12-01 23:59:59")).unwrap()
        );
        assert_ne!(
            h1,
            keys.hash("192.0.2.8", at("2026-12-01 12:00:00")).unwrap()
        );
        let old = keys.path(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert!(old.exists());
        // Another node sharing the folder agrees on the day's key.
        let other = DayKeys::new(dir.path());
        assert_eq!(
            h1,
            other.hash("192.0.2.7", at("2026-12-01 08:00:00")).unwrap()
        );

        let h2 = keys.hash("192.0.2.7", at("2026-12-02 00:00:30")).unwrap();
        assert_ne!(h1, h2, "a new day, a new key");
        assert_eq!(
            keys.limit_hashes("192.0.2.7", at("2026-12-02 00:00:30"))
                .unwrap(),
            vec![h1.clone(), h2.clone()]
        );
        assert_eq!(
            keys.forget_old(at("2026-12-02 00:01:00")).unwrap(),
            0,
            "kept for the limiter's grace"
        );
        assert_eq!(keys.forget_old(at("2026-12-02 00:02:01")).unwrap(), 1);
        assert!(!old.exists());
        assert_eq!(
            keys.limit_hashes("192.0.2.7", at("2026-12-02 00:02:01"))
                .unwrap(),
            vec![h2]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let today = keys.path(chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
            let mode = std::fs::metadata(today).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "garbage"));
    }
}

//! Secrets and the things made from them: API tokens (random, stored as
//! SHA-256), signed single-purpose tokens (HMAC-SHA256 with the secret key),
//! and keyed hashes of client IPs, so no address is ever stored.

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

    /// Keyed hash of a client IP: lets the rate limiter and abuse review tell
    /// repeat senders apart without storing anyone's address.
    pub fn ip_hash(&self, ip: &str) -> String {
        let mut mac = self.mac("client-ip");
        mac.update(ip.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
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
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "garbage"));
    }
}

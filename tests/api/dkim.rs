//! DKIM signatures that an independent verifier accepts (contract §8): a
//! fresh key, real messages of each kind from the SMTP receiver, checked
//! byte for byte by dkimpy (`tests/dkim_verify.py`) against the public key
//! as its DNS record would publish it, with `h=` covering the seven headers
//! the contract names.
//!
//! Needs `openssl` (to make the keys) and Python 3 with dkimpy
//! (`python3 -m pip install dkimpy`; `.ci/run` installs it). Without them
//! the test fails, saying what to install: a DKIM test that skipped itself
//! would prove nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;

use crate::backend_tests;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::mail_headers::one_of_each_kind;
use crate::smtp_sink::ReceivedMail;

backend_tests!(
    rsa_signed_messages_of_every_kind_verify_and_cover_the_unsubscribe_headers,
    ed25519_signed_messages_of_every_kind_verify,
    a_changed_header_or_body_no_longer_verifies,
);

const SELECTOR: &str = "clarion2026";
const DOMAIN: &str = "act.example.org";

/// What `h=` must name (contract §8).
const COVERED: [&str; 7] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

#[derive(Clone, Copy)]
enum KeyType {
    Rsa,
    Ed25519,
}

impl KeyType {
    fn tag(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// A signing key as Clarion reads it (`dkim_key_file`) and the `p=` of
/// its DNS record.
struct Key {
    file: PathBuf,
    public: String,
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): install it (Debian: apt-get install openssl)")
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A new key in `dir`: RSA 2048 as PKCS#1 PEM, or Ed25519 as the base64
/// of its 32-byte seed.
fn new_key(dir: &Path, kind: KeyType) -> Key {
    let b64 = base64::engine::general_purpose::STANDARD;
    let pem = dir.join(format!("{}.pem", kind.tag()));
    let pem_s = pem.to_str().unwrap();
    match kind {
        KeyType::Rsa => {
            openssl(&["genrsa", "-traditional", "-out", pem_s, "2048"]);
            let der = openssl(&["rsa", "-in", pem_s, "-pubout", "-outform", "DER"]);
            Key {
                file: pem,
                public: b64.encode(der),
            }
        }
        KeyType::Ed25519 => {
            openssl(&["genpkey", "-algorithm", "ed25519", "-out", pem_s]);
            // The DER forms end with the raw 32-byte seed and public key.
            let private = openssl(&["pkey", "-in", pem_s, "-outform", "DER"]);
            let public = openssl(&["pkey", "-in", pem_s, "-pubout", "-outform", "DER"]);
            let file = dir.join("ed25519.key");
            std::fs::write(&file, b64.encode(&private[private.len() - 32..])).unwrap();
            Key {
                file,
                public: b64.encode(&public[public.len() - 32..]),
            }
        }
    }
}

/// An app signing with a new key of `kind`, and that key.
async fn signing_app(b: Backend, kind: KeyType) -> (TestApp, Key, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), kind);
    let file = key.file.display().to_string();
    let app = spawn_app_with(b, move |raw| {
        raw.dkim_domain = DOMAIN.into();
        raw.dkim_selector = SELECTOR.into();
        raw.dkim_key_file = file;
    })
    .await;
    (app, key, dir)
}

/// dkimpy's verdict on `raw`: `Ok` with its report, or `Err` with why not.
fn verify(raw: &[u8], kind: KeyType, key: &Key, covered: &[&str]) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("message.eml");
    std::fs::write(&file, raw).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dkim_verify.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&file)
        .args([SELECTOR, DOMAIN, kind.tag(), &key.public])
        .args(covered)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): install Python 3 and dkimpy (python3 -m pip install dkimpy pynacl)")
        });
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Some(3) => panic!("{stderr}(CI installs it in .ci/run)"),
        _ => Err(stderr),
    }
}

fn assert_verifies(m: &ReceivedMail, kind: KeyType, key: &Key) {
    if let Err(why) = verify(m.data.as_bytes(), kind, key, &COVERED) {
        panic!(
            "the message to {:?} does not verify: {why}\n{}",
            m.rcpt_to, m.data
        );
    }
    let sig = m.header("DKIM-Signature").unwrap();
    assert!(sig.contains("c=relaxed/relaxed"), "{sig}");
    assert!(sig.contains(&format!("a={}-sha256", kind.tag())), "{sig}");
}

async fn rsa_signed_messages_of_every_kind_verify_and_cover_the_unsubscribe_headers(b: Backend) {
    let (app, key, _dir) = signing_app(b, KeyType::Rsa).await;
    let (_, mails) = one_of_each_kind(&app).await;
    for m in &mails {
        assert_verifies(m, KeyType::Rsa, &key);
    }
    // The alerts carry the pair the signature covers; a confirmation has
    // none, and its h= names them all the same, so none can be added.
    let alert = &mails[0];
    assert!(alert.header("List-Unsubscribe").is_some());
    assert_eq!(
        alert.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let confirmation = &mails[1];
    assert_eq!(confirmation.header("List-Unsubscribe"), None);
    let added = confirmation.data.replacen(
        "\r\n\r\n",
        "\r\nList-Unsubscribe: <https://evil.example/u>\r\n\r\n",
        1,
    );
    assert!(
        verify(added.as_bytes(), KeyType::Rsa, &key, &COVERED).is_err(),
        "a List-Unsubscribe added to a confirmation breaks its signature"
    );
}

async fn ed25519_signed_messages_of_every_kind_verify(b: Backend) {
    let (app, key, _dir) = signing_app(b, KeyType::Ed25519).await;
    let (_, mails) = one_of_each_kind(&app).await;
    for m in &mails {
        assert_verifies(m, KeyType::Ed25519, &key);
    }
}

/// The verifier is not one that accepts anything: the same message with
/// one header or one body byte changed, or checked against another key,
/// fails.
async fn a_changed_header_or_body_no_longer_verifies(b: Backend) {
    let (app, key, dir) = signing_app(b, KeyType::Rsa).await;
    let (_, mails) = one_of_each_kind(&app).await;
    let m = &mails[0];
    assert!(verify(m.data.as_bytes(), KeyType::Rsa, &key, &COVERED).is_ok());
    let (head, body) = m.data.split_once("\r\n\r\n").unwrap();
    let subject = m.header("Subject").unwrap();
    let tampered = [
        (
            "subject",
            m.data.replacen(&subject, &format!("{subject}!"), 1),
        ),
        (
            "list-unsubscribe",
            m.data.replacen("/unsubscribe/", "/unsubscribe/x", 1),
        ),
        (
            "body",
            format!("{head}\r\n\r\n{}", body.replacen("Supreme", "Suprene", 1)),
        ),
    ];
    for (what, raw) in tampered {
        assert_ne!(raw, m.data, "{what} changed");
        assert!(
            verify(raw.as_bytes(), KeyType::Rsa, &key, &COVERED).is_err(),
            "a changed {what} still verifies"
        );
    }
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = new_key(&other_dir, KeyType::Rsa);
    assert!(
        verify(m.data.as_bytes(), KeyType::Rsa, &other, &COVERED).is_err(),
        "another key's record accepts the signature"
    );
    // And h= must name what the contract asks: a header it lacks fails.
    let more: Vec<&str> = COVERED.iter().copied().chain(["Reply-To"]).collect();
    assert!(verify(m.data.as_bytes(), KeyType::Rsa, &key, &more).is_err());
}

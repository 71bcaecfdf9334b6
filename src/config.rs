//! Typed settings, layered `config/default.toml` (embedded) → the file named by
//! `CLARION_CONFIG` → `CLARION_*` environment variables, validated once at
//! start-up. Nothing reads the environment after this; each part is handed the
//! settings it needs.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

/// The committed defaults, carried by the binary so it runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Load(String),
    #[error("invalid setting {name} (CLARION_{env}): {reason}")]
    Invalid {
        name: &'static str,
        env: String,
        reason: String,
    },
}

impl ConfigError {
    fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            name,
            env: name.to_uppercase(),
            reason: reason.into(),
        }
    }
}

/// The raw shape of the layered settings, before validation.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSettings {
    pub database_url: String,
    pub database_pool_size: u32,
    pub http_addr: String,
    pub base_url: String,
    pub smtp_url: String,
    pub outbox_dir: String,
    pub mail_from: String,
    pub smtp_timeout_secs: u64,
    pub dkim_domain: String,
    pub dkim_selector: String,
    pub dkim_key_file: String,
    /// Domain of the VERP return paths; empty: the From address.
    #[serde(default)]
    pub bounce_domain: String,
    pub secret_key: String,
    /// Folder of the key files; empty: beside the SQLite database, or
    /// `data/` with PostgreSQL.
    #[serde(default)]
    pub key_dir: String,
    /// The snapshot signing key (base64url Ed25519 seed); empty: the file
    /// signing.key in key_dir, made on first use.
    #[serde(default)]
    pub signing_key: String,
    /// Supporters' data keys (see `vault::Vault::parse`); empty: the file
    /// data.key in key_dir, made on first use.
    #[serde(default)]
    pub data_key: String,
    /// Seal supporters' personal data at rest. Off only to measure what
    /// sealing costs (the benchmarks): never in production.
    #[serde(default = "default_true")]
    pub encrypt_at_rest: bool,
    /// Seconds between the periodic count snapshots (while a count moves).
    #[serde(default = "default_snapshot_every_secs")]
    pub snapshot_every_secs: u64,
    pub send_concurrency: u32,
    pub send_rate: u32,
    pub retry_base_ms: u64,
    pub max_attempts: u32,
    pub lease_secs: u64,
    /// Minutes a receiving domain paused after a run of policy refusals
    /// stays paused unless resumed sooner.
    pub domain_pause_minutes: u64,
    /// `[mail]` of the config file.
    #[serde(default)]
    pub mail: RawMailSettings,
    pub sign_rate_per_ip: u32,
    pub trusted_proxies: Vec<String>,
    pub pending_signature_ttl_hours: u64,
    /// Hours after signing a still-pending signature gets its one reminder
    /// (the same link again); 0: no reminders.
    #[serde(default = "default_confirm_reminder_hours")]
    pub confirm_reminder_hours: u64,
    pub embed_allowed_origins: Vec<String>,
    pub default_locale: String,
    pub templates_dir: String,
    pub log: String,
    pub log_format: String,
    /// Four eyes: an alert's send by its author waits for another
    /// campaigner's approval (`CLARION_REQUIRE_APPROVAL`).
    #[serde(default)]
    pub require_approval: bool,
    /// Milliseconds between two looks at the queue when nothing wakes the
    /// worker.
    #[serde(default = "default_worker_poll_ms")]
    pub worker_poll_ms: u64,
    /// Whether `clarion serve` runs a mail worker beside the web server.
    #[serde(default = "default_serve_worker")]
    pub serve_worker: bool,
    /// The mail worker's nice value (0–19) on threads of its own, below the
    /// web's; 0 runs it on the web's runtime.
    #[serde(default = "default_worker_nice")]
    pub worker_nice: i32,
}

fn default_serve_worker() -> bool {
    true
}

/// 0: a worker niced below everything else on a shared machine starves
/// (measured: 430 mails/s instead of 4,000 beside other work, and a test
/// suite's many workers queued behind its web threads). Set it on a node
/// that serves a surge (deploy/ does: 10).
fn default_worker_nice() -> i32 {
    0
}

fn default_true() -> bool {
    true
}

fn default_worker_poll_ms() -> u64 {
    250
}

/// `[mail]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawMailSettings {
    /// `[mail.domain_rates]`: messages per second at most to a receiving
    /// domain, e.g. `"gmail.com" = 50`.
    #[serde(default)]
    pub domain_rates: std::collections::BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How mail leaves the process.
#[derive(Debug, Clone)]
pub enum MailTransportSettings {
    /// `smtp://` or `smtps://`, already checked to parse.
    Smtp(url::Url),
    /// No SMTP configured: `.eml` files in this folder.
    Outbox(PathBuf),
}

/// DKIM signing: domain, selector and the key file's contents.
#[derive(Debug, Clone)]
pub struct DkimSettings {
    pub domain: String,
    pub selector: String,
    pub key: SecretString,
}

/// Validated settings. Built once by [`Settings::load`] (or by tests directly
/// through [`Settings::from_raw`]).
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub database_pool_size: u32,
    pub http_addr: SocketAddr,
    /// Without a trailing slash.
    pub base_url: String,
    pub mail: MailTransportSettings,
    pub mail_from: lettre::message::Mailbox,
    pub smtp_timeout_secs: u64,
    pub dkim: Option<DkimSettings>,
    /// `CLARION_BOUNCE_DOMAIN`, lower case: each delivery's envelope sender
    /// is `bounces+ID-TAG@` this domain (contract §8); `None`: the From
    /// address.
    pub bounce_domain: Option<String>,
    pub secret_key: Option<SecretString>,
    /// Where the generated keys are kept (`CLARION_KEY_DIR`, else beside
    /// the SQLite database, else `data/`): never in the database.
    pub key_dir: PathBuf,
    /// `CLARION_SIGNING_KEY`, if set (else [`Settings::signing_key_file`]).
    pub signing_key: Option<SecretString>,
    /// `CLARION_DATA_KEY`, if set (else [`Settings::data_key_file`]).
    pub data_key: Option<SecretString>,
    /// `CLARION_ENCRYPT_AT_REST` (default on; off only for the benchmarks'
    /// comparison).
    pub encrypt_at_rest: bool,
    pub snapshot_every_secs: u64,
    pub send_concurrency: u32,
    pub send_rate: u32,
    pub retry_base_ms: u64,
    pub max_attempts: u32,
    pub lease_secs: u64,
    /// How long a domain paused after policy refusals stays paused.
    pub domain_pause_minutes: u64,
    /// Messages per second at most to each listed receiving domain
    /// (lower-case), besides `send_rate` for all.
    pub domain_rates: Vec<(String, u32)>,
    pub sign_rate_per_ip: u32,
    pub trusted_proxies: Vec<IpAddr>,
    pub pending_signature_ttl_hours: u64,
    /// Hours after signing a still-pending signature gets its one reminder;
    /// 0: none.
    pub confirm_reminder_hours: u64,
    pub embed_allowed_origins: Vec<String>,
    pub default_locale: String,
    pub templates_dir: Option<PathBuf>,
    pub log: String,
    pub log_format: LogFormat,
    /// Four eyes: an alert sent by its author waits for another
    /// campaigner's or an admin's approval.
    pub require_approval: bool,
    /// How often the worker looks at the queue unprompted; on PostgreSQL
    /// it is also woken by `LISTEN/NOTIFY` (see `db::listen`).
    pub worker_poll_ms: u64,
    /// `false`: `clarion serve` only serves (web nodes beside `clarion
    /// worker` processes on PostgreSQL).
    pub serve_worker: bool,
    /// The mail worker's nice value, 0 to 19: above 0 it runs on threads of
    /// its own at that lower priority, so pages and signing keep the cores
    /// under load and the mail finishes later; 0: on the web's runtime.
    pub worker_nice: i32,
}

impl Settings {
    /// Defaults, then `CLARION_CONFIG`, then the environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Ok(path) = std::env::var("CLARION_CONFIG") {
            if !path.is_empty() {
                if !std::path::Path::new(&path).is_file() {
                    return Err(ConfigError::invalid(
                        "config",
                        format!("no such file: {path}"),
                    ));
                }
                figment = figment.merge(Toml::file(path));
            }
        }
        figment = figment.merge(Env::prefixed("CLARION_").ignore(&["config"]));
        let raw: RawSettings = figment
            .extract()
            .map_err(|e| ConfigError::Load(one_line(&e.to_string())))?;
        Settings::from_raw(raw)
    }

    /// The committed defaults alone, unvalidated: a starting point for tests.
    pub fn defaults() -> RawSettings {
        Figment::from(Toml::string(DEFAULT_TOML))
            .extract()
            .expect("config/default.toml parses into RawSettings")
    }

    pub fn from_raw(raw: RawSettings) -> Result<Settings, ConfigError> {
        let database_url = raw.database_url.trim().to_string();
        if !(database_url.starts_with("sqlite://")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::invalid(
                "database_url",
                "must start with sqlite:// or postgres://",
            ));
        }
        if raw.database_pool_size == 0 {
            return Err(ConfigError::invalid(
                "database_pool_size",
                "must be at least 1",
            ));
        }
        let http_addr: SocketAddr = raw.http_addr.trim().parse().map_err(|_| {
            ConfigError::invalid("http_addr", "expected an address like 127.0.0.1:8080")
        })?;
        let base_url = if raw.base_url.trim().is_empty() {
            format!("http://{http_addr}")
        } else {
            let parsed = url::Url::parse(raw.base_url.trim())
                .map_err(|e| ConfigError::invalid("base_url", e.to_string()))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(ConfigError::invalid(
                    "base_url",
                    "expected an absolute http:// or https:// URL",
                ));
            }
            raw.base_url.trim().trim_end_matches('/').to_string()
        };
        let mail = if raw.smtp_url.trim().is_empty() {
            MailTransportSettings::Outbox(PathBuf::from(raw.outbox_dir.trim()))
        } else {
            let url = url::Url::parse(raw.smtp_url.trim())
                .map_err(|e| ConfigError::invalid("smtp_url", e.to_string()))?;
            if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none() {
                return Err(ConfigError::invalid(
                    "smtp_url",
                    "expected smtp://host:port or smtps://host:port",
                ));
            }
            if let Some((_, tls)) = url.query_pairs().find(|(k, _)| k == "tls") {
                if !matches!(tls.as_ref(), "required" | "opportunistic" | "none") {
                    return Err(ConfigError::invalid(
                        "smtp_url",
                        "tls= must be required, opportunistic or none",
                    ));
                }
            }
            MailTransportSettings::Smtp(url)
        };
        let mail_from = raw
            .mail_from
            .trim()
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| ConfigError::invalid("mail_from", e.to_string()))?;
        let dkim = match (
            raw.dkim_domain.trim(),
            raw.dkim_selector.trim(),
            raw.dkim_key_file.trim(),
        ) {
            ("", "", "") => None,
            (domain, selector, file)
                if !domain.is_empty() && !selector.is_empty() && !file.is_empty() =>
            {
                let key = std::fs::read_to_string(file).map_err(|e| {
                    ConfigError::invalid("dkim_key_file", format!("cannot read {file}: {e}"))
                })?;
                let dkim = DkimSettings {
                    domain: domain.to_string(),
                    selector: selector.to_string(),
                    key: SecretString::from(key.trim().to_string()),
                };
                crate::mail::compose::dkim_config(&dkim)
                    .map_err(|e| ConfigError::invalid("dkim_key_file", e))?;
                Some(dkim)
            }
            _ => {
                return Err(ConfigError::invalid(
                    "dkim_domain",
                    "dkim_domain, dkim_selector and dkim_key_file go together",
                ))
            }
        };
        let bounce_domain = match raw.bounce_domain.trim().trim_end_matches('.') {
            "" => None,
            d => {
                let d = d.to_ascii_lowercase();
                let is_domain = d.contains('.')
                    && d.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && !label.starts_with('-')
                            && !label.ends_with('-')
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                if !is_domain || d.len() > 253 {
                    return Err(ConfigError::invalid(
                        "bounce_domain",
                        "expected a domain name like bounces.example.org",
                    ));
                }
                Some(d)
            }
        };
        let secret_key = match raw.secret_key.trim() {
            "" => None,
            k if k.len() < 32 => {
                return Err(ConfigError::invalid(
                    "secret_key",
                    "must be at least 32 characters",
                ))
            }
            k => Some(SecretString::from(k.to_string())),
        };
        let signing_key = match raw.signing_key.trim() {
            "" => None,
            k => {
                crate::domain::ledger::SnapshotKey::parse(k)
                    .map_err(|e| ConfigError::invalid("signing_key", e))?;
                Some(SecretString::from(k.to_string()))
            }
        };
        let data_key = match raw.data_key.trim() {
            "" => None,
            k => {
                crate::vault::Vault::parse(k)
                    .map_err(|e| ConfigError::invalid("data_key", e.to_string()))?;
                Some(SecretString::from(k.to_string()))
            }
        };
        if raw.snapshot_every_secs == 0 {
            return Err(ConfigError::invalid(
                "snapshot_every_secs",
                "must be at least 1",
            ));
        }
        let key_dir = match raw.key_dir.trim() {
            "" => default_key_dir(&database_url),
            d => PathBuf::from(d),
        };
        if raw.send_concurrency == 0 {
            return Err(ConfigError::invalid(
                "send_concurrency",
                "must be at least 1",
            ));
        }
        if raw.max_attempts == 0 {
            return Err(ConfigError::invalid("max_attempts", "must be at least 1"));
        }
        if raw.lease_secs == 0 {
            return Err(ConfigError::invalid("lease_secs", "must be at least 1"));
        }
        if raw.domain_pause_minutes == 0 {
            return Err(ConfigError::invalid(
                "domain_pause_minutes",
                "must be at least 1",
            ));
        }
        let mut domain_rates = Vec::new();
        for (domain, rate) in &raw.mail.domain_rates {
            let d = domain.trim().trim_start_matches('@').to_ascii_lowercase();
            if d.is_empty() || d.contains(['@', ' ', '/']) || !d.contains('.') {
                return Err(ConfigError::invalid(
                    "mail.domain_rates",
                    format!("not a mail domain: {domain:?}"),
                ));
            }
            if *rate == 0 {
                return Err(ConfigError::invalid(
                    "mail.domain_rates",
                    format!("the rate for {d} must be at least 1 message per second"),
                ));
            }
            domain_rates.push((d, *rate));
        }
        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .map(|p| {
                p.trim().parse::<IpAddr>().map_err(|_| {
                    ConfigError::invalid("trusted_proxies", format!("not an IP address: {p}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for origin in &raw.embed_allowed_origins {
            let ok = url::Url::parse(origin)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .unwrap_or(false);
            if !ok {
                return Err(ConfigError::invalid(
                    "embed_allowed_origins",
                    format!("not an http(s) origin: {origin}"),
                ));
            }
        }
        let log_format = match raw.log_format.trim() {
            "text" | "" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::invalid(
                    "log_format",
                    format!("expected text or json, not {other:?}"),
                ))
            }
        };
        if tracing_subscriber::EnvFilter::try_new(&raw.log).is_err() {
            return Err(ConfigError::invalid("log", "not a valid tracing filter"));
        }
        let default_locale = raw.default_locale.trim().to_string();
        if crate::i18n::Locale::from_tag(&default_locale).map(|l| l.code())
            != Some(default_locale.as_str())
        {
            let supported: Vec<&str> = crate::i18n::Locale::all().map(|l| l.code()).collect();
            return Err(ConfigError::invalid(
                "default_locale",
                format!("supported locales are {}", supported.join(", ")),
            ));
        }
        let templates_dir = match raw.templates_dir.trim() {
            "" => None,
            d => {
                let p = PathBuf::from(d);
                if !p.is_dir() {
                    return Err(ConfigError::invalid(
                        "templates_dir",
                        format!("no such folder: {d}"),
                    ));
                }
                Some(p)
            }
        };
        Ok(Settings {
            database_url,
            database_pool_size: raw.database_pool_size,
            http_addr,
            base_url,
            mail,
            mail_from,
            smtp_timeout_secs: raw.smtp_timeout_secs.max(1),
            dkim,
            bounce_domain,
            secret_key,
            key_dir,
            signing_key,
            data_key,
            encrypt_at_rest: raw.encrypt_at_rest,
            snapshot_every_secs: raw.snapshot_every_secs,
            send_concurrency: raw.send_concurrency,
            send_rate: raw.send_rate,
            retry_base_ms: raw.retry_base_ms,
            max_attempts: raw.max_attempts,
            lease_secs: raw.lease_secs,
            domain_pause_minutes: raw.domain_pause_minutes,
            domain_rates,
            sign_rate_per_ip: raw.sign_rate_per_ip,
            trusted_proxies,
            pending_signature_ttl_hours: raw.pending_signature_ttl_hours,
            confirm_reminder_hours: raw.confirm_reminder_hours,
            embed_allowed_origins: raw.embed_allowed_origins,
            default_locale,
            templates_dir,
            log: raw.log,
            log_format,
            require_approval: raw.require_approval,
            worker_poll_ms: raw.worker_poll_ms.max(10),
            serve_worker: raw.serve_worker,
            worker_nice: raw.worker_nice.clamp(0, 19),
        })
    }
}

/// The folder of the SQLite database file, or `data/` with PostgreSQL (and
/// for an SQLite path with no folder, the working directory's `data/` would
/// be surprising: a bare file name keeps its key beside it, in `.`).
fn default_key_dir(database_url: &str) -> PathBuf {
    match database_url.strip_prefix("sqlite://") {
        Some(path) => match std::path::Path::new(path).parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
        None => PathBuf::from("data"),
    }
}

impl Settings {
    /// The file holding the generated secret key (mode 0600).
    pub fn secret_key_file(&self) -> PathBuf {
        self.key_dir.join("secret.key")
    }

    /// The file holding the supporters' data keys (mode 0600).
    pub fn data_key_file(&self) -> PathBuf {
        self.key_dir.join("data.key")
    }

    /// The file holding the snapshot signing key (mode 0600).
    pub fn signing_key_file(&self) -> PathBuf {
        self.key_dir.join("signing.key")
    }
}

fn default_snapshot_every_secs() -> u64 {
    60
}

fn default_confirm_reminder_hours() -> u64 {
    24
}

/// Figment's messages can span lines; the contract wants one.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_defaults_parse_and_validate() {
        let s = Settings::from_raw(Settings::defaults()).expect("defaults are valid");
        assert_eq!(s.database_url, "sqlite://data/clarion.db");
        assert_eq!(s.base_url, "http://127.0.0.1:8080");
        assert_eq!(s.send_concurrency, 8);
        assert_eq!(s.max_attempts, 8);
        assert_eq!(s.retry_base_ms, 60000);
        assert_eq!(s.sign_rate_per_ip, 30);
        assert!(matches!(s.mail, MailTransportSettings::Outbox(_)));
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        let mut raw = Settings::defaults();
        raw.http_addr = "nowhere".into();
        let e = Settings::from_raw(raw).unwrap_err().to_string();
        assert!(e.contains("CLARION_HTTP_ADDR"), "{e}");

        let mut raw = Settings::defaults();
        raw.smtp_url = "http://mail".into();
        let e = Settings::from_raw(raw).unwrap_err().to_string();
        assert!(e.contains("CLARION_SMTP_URL"), "{e}");

        let mut raw = Settings::defaults();
        raw.database_url = "mysql://x".into();
        let e = Settings::from_raw(raw).unwrap_err().to_string();
        assert!(e.contains("CLARION_DATABASE_URL"), "{e}");
    }

    #[test]
    fn a_bounce_domain_is_a_domain_name_kept_in_lower_case() {
        let s = Settings::from_raw(Settings::defaults()).unwrap();
        assert_eq!(s.bounce_domain, None);
        let mut raw = Settings::defaults();
        raw.bounce_domain = " Bounces.Example.ORG. ".into();
        let s = Settings::from_raw(raw).unwrap();
        assert_eq!(s.bounce_domain.as_deref(), Some("bounces.example.org"));
        for bad in [
            "localhost",
            "a@b.org",
            "bounces..example.org",
            "-x.org",
            "x y.org",
        ] {
            let mut raw = Settings::defaults();
            raw.bounce_domain = bad.into();
            let e = Settings::from_raw(raw).unwrap_err().to_string();
            assert!(e.contains("CLARION_BOUNCE_DOMAIN"), "{bad}: {e}");
        }
    }

    #[test]
    fn keys_live_beside_the_sqlite_file_in_data_with_postgres_or_in_key_dir() {
        let s = Settings::from_raw(Settings::defaults()).unwrap();
        assert_eq!(s.secret_key_file(), PathBuf::from("data/secret.key"));
        let mut raw = Settings::defaults();
        raw.database_url = "sqlite:///srv/clarion/db.sqlite".into();
        let s = Settings::from_raw(raw).unwrap();
        assert_eq!(s.key_dir, PathBuf::from("/srv/clarion"));
        let mut raw = Settings::defaults();
        raw.database_url = "postgres://db/clarion".into();
        let s = Settings::from_raw(raw).unwrap();
        assert_eq!(s.key_dir, PathBuf::from("data"));
        let mut raw = Settings::defaults();
        raw.key_dir = "/etc/clarion".into();
        let s = Settings::from_raw(raw).unwrap();
        assert_eq!(
            s.secret_key_file(),
            PathBuf::from("/etc/clarion/secret.key")
        );
    }

    #[test]
    fn per_domain_rates_come_from_the_mail_table_of_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clarion.toml");
        std::fs::write(
            &file,
            "domain_pause_minutes = 45\n[mail.domain_rates]\n\"Gmail.com\" = 50\n\"outlook.com\" = 20\n",
        )
        .unwrap();
        let raw: RawSettings = Figment::from(Toml::string(DEFAULT_TOML))
            .merge(Toml::file(&file))
            .extract()
            .unwrap();
        let s = Settings::from_raw(raw).unwrap();
        assert_eq!(
            s.domain_rates,
            [
                ("gmail.com".to_string(), 50),
                ("outlook.com".to_string(), 20)
            ]
        );
        assert_eq!(s.domain_pause_minutes, 45);
        let d = Settings::from_raw(Settings::defaults()).unwrap();
        assert!(d.domain_rates.is_empty());
        assert_eq!(d.domain_pause_minutes, 30);

        let mut raw = Settings::defaults();
        raw.mail.domain_rates.insert("gmail.com".into(), 0);
        let e = Settings::from_raw(raw).unwrap_err().to_string();
        assert!(e.contains("mail.domain_rates"), "{e}");
        let mut raw = Settings::defaults();
        raw.mail.domain_rates.insert("someone@gmail.com".into(), 5);
        assert!(Settings::from_raw(raw).is_err());
    }

    #[test]
    fn base_url_loses_its_trailing_slash() {
        let mut raw = Settings::defaults();
        raw.base_url = "https://act.example.org/".into();
        let s = Settings::from_raw(raw).unwrap();
        assert_eq!(s.base_url, "https://act.example.org");
    }
}

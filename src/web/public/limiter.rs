//! The signing form's limiter check: the web's side of the per-client
//! signing limit. The handler keys each client by the keyed hash of the
//! address it believes (`trusted_proxies`) and answers a refusal with 429
//! and `Retry-After`; how many a minute, and whether the count is this
//! process's or shared by every node through PostgreSQL, is the policy of
//! [`crate::campaign::limits`].

use crate::campaign::limits::SignLimit;

pub struct RateLimiter {
    limit: SignLimit,
}

impl RateLimiter {
    pub fn new(limit: SignLimit) -> RateLimiter {
        RateLimiter { limit }
    }

    /// `Ok` if `key` may sign now (and counts it), else the whole seconds to
    /// wait, at least 1.
    pub async fn check(&self, key: &str) -> Result<(), u64> {
        self.limit.check(key).await
    }

    /// As [`Self::check`] for a client known by several keys (around
    /// midnight: yesterday's hash and today's).
    pub async fn check_all(&self, keys: &[String]) -> Result<(), u64> {
        self.limit.check_all(keys).await
    }
}

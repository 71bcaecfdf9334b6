//! The VERP return path (contract §8): with a bounce domain set, each
//! delivery's envelope sender is `bounces+ID-TAG@BOUNCE_DOMAIN`, ID the
//! delivery's number and TAG a keyed MAC of it, so a late bounce or
//! complaint names its delivery, and nobody can make up an address that
//! bounces someone else's mail.
//!
//! Only the address: what a report then does is `campaign`'s business.

use crate::domain::DeliveryId;
use crate::security::Keys;

const PURPOSE: &str = "verp";
/// Six bytes of MAC: twelve hex digits, enough that guessing one is hopeless.
const TAG_BYTES: usize = 6;
const PREFIX: &str = "bounces+";

/// The envelope sender for `delivery`.
pub fn return_path(keys: &Keys, delivery: DeliveryId, bounce_domain: &str) -> String {
    let id = delivery.0.to_string();
    let tag = keys.mac_hex(PURPOSE, &id, TAG_BYTES);
    format!("{PREFIX}{id}-{tag}@{bounce_domain}")
}

/// The delivery a VERP address names, if `address` is one of ours with a
/// genuine tag (the domain is not checked: a relay may rewrite it). Case
/// does not matter: mail servers may fold a local part.
pub fn delivery_of(keys: &Keys, address: &str) -> Option<DeliveryId> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, _) = address.rsplit_once('@')?;
    let local = local.to_ascii_lowercase();
    let rest = local.strip_prefix(PREFIX)?;
    let (id, tag) = rest.split_once('-')?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || tag.len() != TAG_BYTES * 2 {
        return None;
    }
    let n: i64 = id.parse().ok()?;
    keys.proves_hex(PURPOSE, id, tag).then_some(DeliveryId(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_path_names_its_delivery_and_nothing_else_does() {
        let keys = Keys::new("a test secret");
        let other = Keys::new("another secret");
        let rp = return_path(&keys, DeliveryId(4711), "bounces.example.org");
        assert!(
            rp.starts_with("bounces+4711-") && rp.ends_with("@bounces.example.org"),
            "{rp}"
        );
        assert_eq!(delivery_of(&keys, &rp), Some(DeliveryId(4711)));
        assert_eq!(
            delivery_of(&keys, &rp.to_uppercase()),
            Some(DeliveryId(4711))
        );
        assert_eq!(
            delivery_of(&keys, &format!("<{rp}>")),
            Some(DeliveryId(4711))
        );
        assert_eq!(delivery_of(&other, &rp), None, "another key's tag");
        let forged = rp.replace("4711", "4712");
        assert_eq!(delivery_of(&keys, &forged), None, "a changed id");
        for bad in [
            "",
            "bounces+@x",
            "bounces+1-@x",
            "bounces+x-00@x",
            "someone@example.org",
            "bounces+1-zz@x",
        ] {
            assert_eq!(delivery_of(&keys, bad), None, "{bad:?}");
        }
    }
}

//! The allowlist: addresses and networks (IPv4 and IPv6) that are never
//! banned. Entries are kept normalized: a plain address is its host network
//! (`10.0.0.5` is `10.0.0.5/32`), IPv4-mapped IPv6 is IPv4, and a network
//! with host bits set is refused rather than guessed at.

use crate::api::ApiError;
use crate::time::Millis;
use core::net::IpAddr;
use ipnet::IpNet;
use std::collections::BTreeMap;

/// One allowlist entry's details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowEntry {
    pub note: String,
    pub created_at: Millis,
}

/// The allowlist, with the prefix lengths in use so that a lookup tries
/// only those (at most 33 + 129 map lookups, whatever the size).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: BTreeMap<IpNet, AllowEntry>,
    /// (is IPv6, prefix length) → entries with it.
    prefixes: BTreeMap<(bool, u8), usize>,
}

impl Allowlist {
    /// Adds `net` (normalized) or, when present, replaces its note and
    /// keeps its creation time. True when it was new.
    pub fn insert(&mut self, net: IpNet, note: String, at: Millis) -> bool {
        if let Some(entry) = self.entries.get_mut(&net) {
            entry.note = note;
            return false;
        }
        self.entries.insert(
            net,
            AllowEntry {
                note,
                created_at: at,
            },
        );
        *self.prefixes.entry(family_prefix(&net)).or_insert(0) += 1;
        true
    }

    /// Removes `net`; the entry it had.
    pub fn remove(&mut self, net: &IpNet) -> Option<AllowEntry> {
        let entry = self.entries.remove(net)?;
        let key = family_prefix(net);
        let count = self.prefixes.get_mut(&key).expect("counted at insert");
        *count -= 1;
        if *count == 0 {
            self.prefixes.remove(&key);
        }
        Some(entry)
    }

    pub fn get(&self, net: &IpNet) -> Option<&AllowEntry> {
        self.entries.get(net)
    }

    /// The most specific entry that covers `ip`, if any.
    pub fn covering(&self, ip: IpAddr) -> Option<IpNet> {
        let ip = canonical(ip);
        let v6 = ip.is_ipv6();
        self.prefixes
            .keys()
            .rev()
            .filter(|(family, _)| *family == v6)
            .find_map(|(_, prefix)| {
                let net = IpNet::new(ip, *prefix).ok()?.trunc();
                self.entries.contains_key(&net).then_some(net)
            })
    }

    /// True when an entry covers `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.covering(ip).is_some()
    }

    /// Every entry, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &AllowEntry)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn family_prefix(net: &IpNet) -> (bool, u8) {
    (matches!(net, IpNet::V6(_)), net.prefix_len())
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as plain IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    crate::api::gate::canonical(ip)
}

/// Parses an allowlist address or CIDR from field `field`: 422 naming the
/// field when it is neither, or when a network has host bits set.
pub fn parse_net(text: &str, field: &str) -> Result<IpNet, ApiError> {
    let text = text.trim();
    let net = match text.split_once('/') {
        None => {
            let ip: IpAddr = text
                .parse()
                .map_err(|_| ApiError::invalid(field, "not an IPv4 or IPv6 address or CIDR"))?;
            IpNet::from(ip)
        }
        Some((addr, prefix)) => {
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| ApiError::invalid(field, "not an IPv4 or IPv6 address or CIDR"))?;
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|_| !prefix.starts_with('+'))
                .ok_or_else(|| ApiError::invalid(field, "the prefix length must be a number"))?;
            let net = IpNet::new(addr, prefix).map_err(|_| {
                ApiError::invalid(
                    field,
                    if addr.is_ipv4() {
                        "an IPv4 prefix length is at most 32"
                    } else {
                        "an IPv6 prefix length is at most 128"
                    },
                )
            })?;
            if net.trunc() != net {
                return Err(ApiError::invalid(
                    field,
                    &format!("host bits are set; the network is {}", net.trunc()),
                ));
            }
            net
        }
    };
    Ok(normalize(net))
}

/// IPv4-mapped IPv6 networks (`::ffff:10.0.0.0/104`) as IPv4 ones.
fn normalize(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), true) = (v6.network().to_ipv4_mapped(), v6.prefix_len() >= 96) {
            return IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).expect("at most 32");
        }
    }
    net
}

/// How an entry is shown: a host network as its bare address, any other
/// as a CIDR.
pub fn show(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        parse_net(text, "ip").unwrap()
    }

    #[test]
    fn addresses_and_networks_are_normalized() {
        assert_eq!(net("10.0.0.5"), net("10.0.0.5/32"));
        assert_eq!(net(" 10.0.0.5 "), net("10.0.0.5/32"));
        assert_eq!(net("::ffff:10.0.0.5"), net("10.0.0.5"));
        assert_eq!(net("::ffff:10.0.0.0/104"), net("10.0.0.0/8"));
        assert_eq!(net("2001:DB8::1"), net("2001:db8::1/128"));
        assert_eq!(show(&net("10.0.0.5/32")), "10.0.0.5");
        assert_eq!(show(&net("2001:db8::/32")), "2001:db8::/32");
        assert_eq!(show(&net("2001:db8::1")), "2001:db8::1");
    }

    #[test]
    fn bad_entries_name_the_field() {
        for bad in [
            "",
            "10.0.0",
            "10.0.0.256",
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0.5/24",
            "10.0.0.0/x",
            "10.0.0.0/+8",
            "fe80::1%eth0",
            "example.com",
        ] {
            let error = parse_net(bad, "ip").unwrap_err();
            assert_eq!(error.status, 422, "{bad}");
            assert!(
                error.message.starts_with("ip: "),
                "{bad}: {}",
                error.message
            );
        }
        assert!(parse_net("10.0.0.5/24", "ip")
            .unwrap_err()
            .message
            .contains("10.0.0.0/24"));
    }

    #[test]
    fn lookups_find_the_most_specific_covering_entry() {
        let mut list = Allowlist::default();
        assert!(list.insert(net("10.0.0.0/8"), "office".into(), Millis(1)));
        assert!(list.insert(net("10.1.2.3"), "pbx".into(), Millis(2)));
        assert!(list.insert(net("2001:db8::/32"), String::new(), Millis(3)));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(list.covering(ip("10.1.2.3")), Some(net("10.1.2.3")));
        assert_eq!(list.covering(ip("10.9.9.9")), Some(net("10.0.0.0/8")));
        assert_eq!(
            list.covering(ip("::ffff:10.9.9.9")),
            Some(net("10.0.0.0/8"))
        );
        assert_eq!(list.covering(ip("11.0.0.1")), None);
        assert!(list.contains(ip("2001:db8:ffff::1")));
        assert!(!list.contains(ip("2001:db9::1")));
        assert!(!list.insert(net("10.0.0.0/8"), "hq".into(), Millis(9)));
        assert_eq!(
            list.get(&net("10.0.0.0/8")),
            Some(&AllowEntry {
                note: "hq".into(),
                created_at: Millis(1)
            }),
            "a second add changes the note, not the creation time"
        );
        assert!(list.remove(&net("10.0.0.0/8")).is_some());
        assert!(list.remove(&net("10.0.0.0/8")).is_none());
        assert_eq!(list.covering(ip("10.9.9.9")), None);
        assert!(list.contains(ip("10.1.2.3")));
        assert_eq!(list.len(), 2);
    }
}

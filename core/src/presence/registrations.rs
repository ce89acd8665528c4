//! Registrations: each device's contacts as the SIP layer reported them
//! (`/presence/event` `register`), and from them its `reachable` flag.
//! A binding expires on its own when its `expires` passes: readers compare
//! with `now`, and `tick` drops expired bindings from the state.

use crate::time::Millis;
use std::collections::BTreeMap;

/// Contacts kept per device; a new one past the bound replaces the binding
/// closest to expiry.
pub const CONTACTS_PER_DEVICE_MAX: usize = 16;

/// One registered contact of a device.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Binding {
    /// The Contact URI (what the call is sent to: rtjson `uri`).
    pub contact: String,
    /// Where the REGISTER came from, when behind NAT (rtjson `dst_uri`).
    pub received: Option<String>,
    /// Path header (rtjson `path`).
    pub path: Option<String>,
    /// The proxy's socket that took it (rtjson `socket`).
    pub socket: Option<String>,
    pub user_agent: Option<String>,
    /// The edge node that holds it.
    pub node: String,
    pub registered_at: Millis,
    pub expires_at: Millis,
}

/// Every device's bindings on one shard, by (account, device).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registrations {
    devices: BTreeMap<(String, String), BTreeMap<String, Binding>>,
}

impl Registrations {
    /// Adds or refreshes a binding.
    pub fn set(&mut self, account_id: &str, device_id: &str, binding: Binding) {
        let contacts = self
            .devices
            .entry((account_id.to_string(), device_id.to_string()))
            .or_default();
        if !contacts.contains_key(&binding.contact) && contacts.len() >= CONTACTS_PER_DEVICE_MAX {
            let oldest = contacts
                .values()
                .min_by_key(|b| (b.expires_at, b.contact.clone()))
                .map(|b| b.contact.clone())
                .expect("a full device has bindings");
            contacts.remove(&oldest);
        }
        contacts.insert(binding.contact.clone(), binding);
    }

    /// Removes one binding (or every binding when `contact` is None).
    pub fn remove(&mut self, account_id: &str, device_id: &str, contact: Option<&str>) {
        let key = (account_id.to_string(), device_id.to_string());
        let Some(contacts) = self.devices.get_mut(&key) else {
            return;
        };
        match contact {
            Some(contact) => {
                contacts.remove(contact);
            }
            None => contacts.clear(),
        }
        if contacts.is_empty() {
            self.devices.remove(&key);
        }
    }

    /// The live bindings of a device at `now`, by contact.
    pub fn live<'a>(
        &'a self,
        account_id: &str,
        device_id: &str,
        now: Millis,
    ) -> impl Iterator<Item = &'a Binding> + 'a {
        self.devices
            .get(&(account_id.to_string(), device_id.to_string()))
            .into_iter()
            .flat_map(|contacts| contacts.values())
            .filter(move |b| b.expires_at > now)
    }

    /// True when the device has a live binding at `now`.
    pub fn reachable(&self, account_id: &str, device_id: &str, now: Millis) -> bool {
        self.live(account_id, device_id, now).next().is_some()
    }

    /// Bindings that have expired at `now`: (account, device, contact).
    pub fn expired(&self, now: Millis) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for ((account_id, device_id), contacts) in &self.devices {
            for binding in contacts.values() {
                if binding.expires_at <= now {
                    out.push((
                        account_id.clone(),
                        device_id.clone(),
                        binding.contact.clone(),
                    ));
                }
            }
        }
        out
    }

    /// The earliest expiry of any binding.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.devices
            .values()
            .flat_map(|contacts| contacts.values())
            .map(|b| b.expires_at)
            .min()
    }

    /// Every binding: (account, device, binding), for snapshots.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str, &Binding)> {
        self.devices
            .iter()
            .flat_map(|((account, device), contacts)| {
                contacts
                    .values()
                    .map(move |b| (account.as_str(), device.as_str(), b))
            })
    }

    /// Forgets every binding of an account (the account was deleted).
    pub fn forget_account(&mut self, account_id: &str) {
        self.devices.retain(|(account, _), _| account != account_id);
    }
}

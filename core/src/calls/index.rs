//! The callId directory (DESIGN.md): `callId → accountId` for every live
//! call of the brain and the most recent ended ones, on every shard. The
//! owner's routed calls (as `CallIndexed`) and `CallEnded` events are
//! broadcast to keep it, and each shard re-announces its calls at start,
//! so it is soft state: never logged by the shards that merely hold a copy.

use std::collections::{BTreeMap, VecDeque};

/// Ended calls remembered per shard for trace lookups.
pub const ENDED_CALLS_INDEXED_MAX: usize = 20_000;

/// `callId → accountId`, bounded for ended calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallIndex {
    accounts: BTreeMap<String, String>,
    /// Ended calls, oldest first (evicted past the bound).
    ended: VecDeque<String>,
}

impl CallIndex {
    /// The account of a known call.
    pub fn account(&self, call_id: &str) -> Option<&str> {
        self.accounts.get(call_id).map(String::as_str)
    }

    /// Records a call (live).
    pub fn insert(&mut self, call_id: &str, account_id: &str) {
        self.accounts
            .insert(call_id.to_string(), account_id.to_string());
    }

    /// Marks a call ended: kept for lookups until newer ended calls push it
    /// out.
    pub fn ended(&mut self, call_id: &str) {
        if !self.accounts.contains_key(call_id) {
            return;
        }
        self.ended.push_back(call_id.to_string());
        while self.ended.len() > ENDED_CALLS_INDEXED_MAX {
            if let Some(old) = self.ended.pop_front() {
                self.accounts.remove(&old);
            }
        }
    }

    /// Calls known (live and retained).
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

//! `PUT/GET/DELETE /admin/accounts/{accountId}`: provisioning.
//!
//! ```text
//! PUT /admin/accounts/acc_acme  {"name":"Acme","domains":[{"domain":"acme.sip.io"}],"users":[…],…}
//! 200 {"ok":true,"account_id":"acc_acme","created":true}
//! 422 {"ok":false,"error":{"code":"invalid","message":"dids[2].dest_id: …"},"path":"dids[2].dest_id"}
//! ```
//! Runs on the control shard, which holds every account's document and the
//! authoritative directory; the resulting event is broadcast to all shards.

use super::error::{ok, ApiError};
use crate::account;
use crate::event::Event;
use crate::limits::{ACCOUNTS_MAX, ID_BYTES_MAX};
use crate::shard::{Decision, Shard};
use serde_json::{json, Value};

/// Checks an id from a path: 1..64 chars of `[A-Za-z0-9_.:-]`.
pub fn check_account_id(account_id: &str) -> Result<(), ApiError> {
    let valid = !account_id.is_empty()
        && account_id.len() <= ID_BYTES_MAX
        && account_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "id",
            "account ids are 1..64 chars of [A-Za-z0-9_.:-]",
        ))
    }
}

/// Validates and replaces (or creates) an account.
pub fn decide_put(shard: &Shard, account_id: &str, doc: &Value) -> Decision {
    let account = match account::parse(account_id, doc) {
        Ok(account) => account,
        Err(error) => {
            return Decision::reply(ApiError::invalid(&error.path, &error.message).to_response())
        }
    };
    if let Some(error) = shard.directory().conflicts(&account) {
        return Decision::reply(ApiError::invalid(&error.path, &error.message).to_response());
    }
    let created = !shard.directory().contains(account_id);
    if created && shard.directory().len() >= ACCOUNTS_MAX {
        let message = format!("the brain holds its maximum of {ACCOUNTS_MAX} accounts");
        return Decision::reply(ApiError::invalid("id", &message).to_response());
    }
    let doc = account.to_json().to_string();
    Decision {
        reply: ok(json!({"account_id": account_id, "created": created})),
        events: vec![Event::AccountPut {
            account_id: account_id.to_string(),
            doc,
        }],
    }
}

/// The stored document.
pub fn decide_get(shard: &Shard, account_id: &str) -> Decision {
    match shard.account(account_id) {
        Some(account) => Decision::reply(ok(json!({"account": account.to_json()}))),
        None => Decision::reply(unknown(account_id).to_response()),
    }
}

/// Removes an account.
pub fn decide_delete(shard: &Shard, account_id: &str) -> Decision {
    if !shard.directory().contains(account_id) {
        return Decision::reply(unknown(account_id).to_response());
    }
    Decision {
        reply: ok(json!({"account_id": account_id, "deleted": true})),
        events: vec![Event::AccountDeleted {
            account_id: account_id.to_string(),
        }],
    }
}

fn unknown(account_id: &str) -> ApiError {
    ApiError::new(404, "unknown_account", format!("no account {account_id}"))
}

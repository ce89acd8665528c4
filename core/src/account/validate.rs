//! Whole-document validation: runs every check in document order (account
//! fields, then each list in the order of [`Document`]) and stops at the
//! first error. Normalizes as it goes (lower-case domains and digests,
//! E.164 numbers, canonical zone names, row `account_id`s dropped).

use super::check::{self, fail, Checked, NAME_MAX};
use super::refs::Refs;
use super::{
    call_limit, dest, did, extension, flow, media, queue, schedule, trunk, users, Document,
};
use crate::limits::*;
use std::collections::BTreeSet;

/// Validates and normalizes `doc` for the account `account_id`.
pub fn validate(account_id: &str, doc: &mut Document) -> Checked {
    check::id("id", account_id)?;
    match &doc.id {
        Some(id) if id != account_id => {
            return fail(
                "id",
                format!(
                    "`{}` differs from the account id {account_id}",
                    check::shorten(id)
                ),
            )
        }
        _ => doc.id = Some(account_id.to_string()),
    }
    check_counts(doc)?;
    let refs = Refs::collect(doc);
    check_account(account_id, doc, &refs)?;
    let domains = check_domains(doc, account_id)?;
    users::check_users(&mut doc.users, &refs, account_id)?;
    users::check_devices(&mut doc.devices, &refs, &domains, account_id)?;
    did::check_dids(&mut doc.dids, &refs, account_id)?;
    extension::check_extensions(&mut doc.extensions, &refs, account_id)?;
    flow::check_flows(&mut doc.flows, &refs, account_id)?;
    queue::check_queues(&mut doc.queues, &refs, account_id)?;
    queue::check_members(&mut doc.queue_members, &refs, account_id)?;
    schedule::check_schedules(&mut doc.schedules, account_id)?;
    trunk::check_trunks(&mut doc.trunks, account_id)?;
    call_limit::check_call_limits(&mut doc.call_limits, &refs, account_id)?;
    media::check_voicemail_boxes(&mut doc.voicemail_boxes, &refs, account_id)?;
    media::check_media_files(&mut doc.media_files, account_id)?;
    check_agent_keys(doc)
}

/// A row's optional `account_id` must be the account's; it is then dropped
/// (the document's rows all belong to it).
pub fn owner(base: &str, value: &mut Option<String>, account_id: &str) -> Checked {
    match value.take() {
        Some(owner) if owner != account_id => fail(
            check::join(base, "account_id"),
            format!("must be {account_id} (the enclosing account)"),
        ),
        _ => Ok(()),
    }
}

/// Every list within its cap (the path names the list).
fn check_counts(doc: &Document) -> Checked {
    let lists = [
        ("domains", doc.domains.len(), DOMAINS_PER_ACCOUNT_MAX),
        ("users", doc.users.len(), USERS_PER_ACCOUNT_MAX),
        ("devices", doc.devices.len(), DEVICES_PER_ACCOUNT_MAX),
        ("dids", doc.dids.len(), DIDS_PER_ACCOUNT_MAX),
        (
            "extensions",
            doc.extensions.len(),
            EXTENSIONS_PER_ACCOUNT_MAX,
        ),
        ("flows", doc.flows.len(), FLOWS_PER_ACCOUNT_MAX),
        ("queues", doc.queues.len(), QUEUES_PER_ACCOUNT_MAX),
        (
            "queue_members",
            doc.queue_members.len(),
            QUEUE_MEMBERS_PER_ACCOUNT_MAX,
        ),
        ("schedules", doc.schedules.len(), SCHEDULES_PER_ACCOUNT_MAX),
        ("trunks", doc.trunks.len(), TRUNKS_PER_ACCOUNT_MAX),
        (
            "call_limits",
            doc.call_limits.len(),
            CALL_LIMITS_PER_ACCOUNT_MAX,
        ),
        (
            "voicemail_boxes",
            doc.voicemail_boxes.len(),
            VOICEMAIL_BOXES_PER_ACCOUNT_MAX,
        ),
        (
            "media_files",
            doc.media_files.len(),
            MEDIA_FILES_PER_ACCOUNT_MAX,
        ),
        (
            "agent_keys",
            doc.agent_keys.len(),
            AGENT_KEYS_PER_ACCOUNT_MAX,
        ),
    ];
    for (path, len, max) in lists {
        check::count(path, len, max)?;
    }
    Ok(())
}

/// The account's own fields.
fn check_account(account_id: &str, doc: &mut Document, refs: &Refs) -> Checked {
    check::text("name", &doc.name, NAME_MAX)?;
    check::opt_id("parent_id", &doc.parent_id)?;
    if doc.parent_id.as_deref() == Some(account_id) {
        return fail("parent_id", "an account cannot be its own parent");
    }
    check::timezone("timezone", &mut doc.timezone)?;
    check::opt_text("brand_name", &doc.brand_name, NAME_MAX)?;
    if let Some(domain) = doc.brand_domain.as_mut() {
        check::domain("brand_domain", domain)?;
    }
    check::opt_number("default_cid_number", &mut doc.default_cid_number)?;
    check::language("language", &doc.language)?;
    dest::check(
        refs,
        "",
        "did_default_dest",
        doc.did_default_dest_kind,
        &mut doc.did_default_dest_id,
    )
}

/// At least one domain; each well-formed, unique (case-insensitive) and
/// stored lower-case; at most one primary. Returns the set of domains.
fn check_domains(
    doc: &mut Document,
    account_id: &str,
) -> Result<BTreeSet<String>, super::DocError> {
    if doc.domains.is_empty() {
        return fail("domains", "at least one SIP domain is required");
    }
    let mut seen = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut primary = None;
    for (i, domain) in doc.domains.iter_mut().enumerate() {
        let base = format!("domains[{i}]");
        if let Some(id) = &domain.id {
            check::id(&format!("{base}.id"), id)?;
            check::unique(&mut ids, id, &format!("{base}.id"), "domain id")?;
        }
        owner(&base, &mut domain.account_id, account_id)?;
        let path = format!("{base}.domain");
        check::domain(&path, &mut domain.domain)?;
        check::unique(&mut seen, &domain.domain, &path, "domain")?;
        if domain.is_primary {
            if let Some(first) = primary {
                return fail(
                    format!("{base}.is_primary"),
                    format!("domains[{first}] is already primary"),
                );
            }
            primary = Some(i);
        }
    }
    Ok(seen)
}

/// Agent keys: ids unique, digests 64 hex (stored lower-case) and unique.
fn check_agent_keys(doc: &mut Document) -> Checked {
    let mut ids = BTreeSet::new();
    let mut digests = BTreeSet::new();
    for (i, key) in doc.agent_keys.iter_mut().enumerate() {
        let base = format!("agent_keys[{i}]");
        check::id(&format!("{base}.id"), &key.id)?;
        check::unique(&mut ids, &key.id, &format!("{base}.id"), "agent key id")?;
        check::opt_text(&format!("{base}.name"), &key.name, NAME_MAX)?;
        let path = format!("{base}.sha256");
        check::hex_digest(&path, &mut key.sha256, 64)?;
        check::unique(&mut digests, &key.sha256, &path, "agent key digest")?;
    }
    Ok(())
}

//! Choosing the generation to run, and re-partitioning the store when
//! `--shards` changed since the last run.
//!
//! Re-partitioning recovers every old shard, then writes each new shard a
//! snapshot: the new control shard gets the account documents (from the
//! old control shard) and the security state (bans, their history, the
//! allowlist), and every shard gets the union of the old shards' local
//! events (used nonces, auth failures). A nonce remembered on more
//! shards than needed is still a replay, and counting an IP's failures on
//! every shard only errs on the safe side; nothing acknowledged is lost.

use super::disk::GlommioDisk;
use super::layout::{self, Meta, FORMAT};
use super::open_shard;
use glommio::{LocalExecutorBuilder, Placement};
use sipbrain_core::event::{self, Event};
use sipbrain_storage::snapshot;
use sipbrain_storage::wal::WalOptions;
use std::path::{Path, PathBuf};

/// The generation to run with `shards` shards, re-partitioning first when
/// the data dir was written with another shard count.
pub fn prepare(
    data_dir: &Path,
    shards: usize,
    options: &WalOptions,
    truncate: bool,
) -> Result<u64, String> {
    let meta = match layout::read_meta(data_dir)? {
        None => {
            refuse_orphan_generations(data_dir)?;
            let meta = Meta {
                format: FORMAT,
                generation: 1,
                shards,
            };
            layout::write_meta(data_dir, &meta)?;
            meta
        }
        Some(meta) if meta.shards == shards => meta,
        Some(old) => {
            let generation = repartition(data_dir.to_path_buf(), old, shards, *options, truncate)?;
            tracing::info!(
                from = old.shards,
                to = shards,
                generation,
                "re-partitioned the store"
            );
            Meta {
                format: FORMAT,
                generation,
                shards,
            }
        }
    };
    layout::remove_other_generations(data_dir, meta.generation)?;
    Ok(meta.generation)
}

fn repartition(
    data_dir: PathBuf,
    old: Meta,
    shards: usize,
    options: WalOptions,
    truncate: bool,
) -> Result<u64, String> {
    let handle = LocalExecutorBuilder::new(Placement::Unbound)
        .name("repartition")
        .io_memory(256 << 10)
        .spawn(move || async move {
            repartition_async(&data_dir, old, shards, &options, truncate).await
        })
        .map_err(|e| format!("cannot start the re-partitioning executor: {e}"))?;
    handle
        .join()
        .map_err(|e| format!("re-partitioning failed: {e}"))?
}

async fn repartition_async(
    data_dir: &Path,
    old: Meta,
    shards: usize,
    options: &WalOptions,
    truncate: bool,
) -> Result<u64, String> {
    let generation = old.generation + 1;
    let target = data_dir.join(format!("gen-{generation}"));
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .map_err(|e| format!("cannot clear {}: {e}", target.display()))?;
    }
    let mut documents: Vec<Event> = Vec::new();
    let mut locals: Vec<Event> = Vec::new();
    for shard in 0..old.shards {
        let opened = open_shard(data_dir, old.generation, shard, options, truncate).await?;
        tracing::info!("{}", opened.report);
        for event in opened.events {
            if event.is_directory() || event.is_control_state() {
                assert_eq!(
                    shard, 0,
                    "only the control shard logs directory and ban events"
                );
                documents.push(event);
            } else if owned_by(&event, shard, old.shards) {
                locals.push(event);
            }
        }
    }
    for shard in 0..shards {
        let dir = layout::shard_dir(data_dir, generation, shard);
        let disk = GlommioDisk::new(dir.clone())
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut image = if shard == 0 {
            documents.clone()
        } else {
            Vec::new()
        };
        image.extend(locals.iter().cloned());
        snapshot::write_snapshot(
            &disk,
            sipbrain_storage::lsn::Lsn::ZERO,
            &event::encode_all(&image),
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot write the snapshot of new shard {shard}: {e}"))?;
    }
    layout::sync_dir(&target).map_err(|e| format!("cannot sync {}: {e}", target.display()))?;
    layout::write_meta(
        data_dir,
        &Meta {
            format: FORMAT,
            generation,
            shards,
        },
    )?;
    Ok(generation)
}

/// A data dir with generation directories but no `meta.json` was not made
/// by a clean first start (a partial copy, a lost file): refuse rather than
/// start empty and delete the data.
fn refuse_orphan_generations(data_dir: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(data_dir)
        .map_err(|e| format!("cannot list {}: {e}", data_dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("gen-") {
            return Err(format!(
                "{} holds {name} but no meta.json: refusing to start on a partial store",
                data_dir.display()
            ));
        }
    }
    Ok(())
}

/// False for an event about an account that old shard `shard` did not own:
/// the copies every shard applies for its callId index. Each call's state
/// comes from its owner's log alone (the index is rebuilt at start), so a
/// call is never replayed twice into its new owner.
fn owned_by(event: &Event, shard: usize, shards: usize) -> bool {
    let owner =
        |account_id: &str| sipbrain_core::directory::owner_shard(account_id, shards) == shard;
    match event {
        Event::CallRouted(start) => owner(&start.account_id),
        Event::CallImage(record) => owner(&record.start.account_id),
        Event::RateImage { account_id, .. }
        | Event::Registered { account_id, .. }
        | Event::Unregistered { account_id, .. }
        | Event::VoicemailImage { account_id, .. } => owner(account_id),
        Event::VoicemailRecorded(message) => owner(&message.account_id),
        // Rebuilt at start from the failure counters.
        Event::CallIndexed { .. } | Event::AuthFlagged { .. } => false,
        _ => true,
    }
}

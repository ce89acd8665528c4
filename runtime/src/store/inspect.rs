//! `sipbrain wal inspect`: a shard's snapshot and WAL records, one line
//! each, decoded. Read-only in spirit: it runs recovery in strict mode (so
//! it also tells whether the shard would start) on the current generation.

use super::{layout, open_shard, wal_options};
use crate::cli::InspectArgs;
use glommio::{LocalExecutorBuilder, Placement};

/// Prints shard `args.shard` of the data dir.
pub fn run(args: &InspectArgs) -> Result<(), String> {
    let meta = layout::read_meta(&args.data_dir)?.ok_or_else(|| {
        format!(
            "{} holds no sipbrain store (no meta.json)",
            args.data_dir.display()
        )
    })?;
    if args.shard >= meta.shards {
        return Err(format!(
            "shard {} does not exist: the store has {} shards",
            args.shard, meta.shards
        ));
    }
    println!(
        "store: format {} generation {} shards {}",
        meta.format, meta.generation, meta.shards
    );
    let (data_dir, shard) = (args.data_dir.clone(), args.shard);
    let handle = LocalExecutorBuilder::new(Placement::Unbound)
        .name("inspect")
        .io_memory(256 << 10)
        .spawn(move || async move {
            let opened = open_shard(
                &data_dir,
                meta.generation,
                shard,
                &wal_options(64 << 20),
                false,
            )
            .await?;
            println!("{}", opened.report);
            for (index, event) in opened.events.iter().enumerate() {
                println!("{index:>8} {event:?}");
            }
            Ok::<(), String>(())
        })
        .map_err(|e| format!("cannot start an executor: {e}"))?;
    handle.join().map_err(|e| format!("inspect failed: {e}"))?
}

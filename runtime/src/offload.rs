//! Work that must not run on a shard's executor and must not hold
//! glommio's blocking pool either: that pool has one thread per executor,
//! and the WAL's segment renames and removals go through it, so a long job
//! there (a snapshot encode, a slow DNS lookup) holds up every commit that
//! needs a new segment.

use std::sync::mpsc::{sync_channel, TryRecvError};
use std::time::Duration;

/// How often the waiting task looks for the result.
const POLL: Duration = Duration::from_millis(10);

/// Runs `job` on a new thread named `name` and waits for its result
/// without blocking the executor (polling every [`POLL`]). `None` when no
/// thread could be started.
pub async fn on_own_thread<T, F>(name: &str, job: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (done, result) = sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = done.send(job());
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, thread = name, "could not start a thread");
        return None;
    }
    loop {
        match result.try_recv() {
            Ok(value) => return Some(value),
            Err(TryRecvError::Empty) => glommio::timer::sleep(POLL).await,
            // The thread sends before it ends, and a panic aborts.
            Err(TryRecvError::Disconnected) => unreachable!("{name} ended without a result"),
        }
    }
}

/// Lowers the calling thread to the lowest CPU priority (nice 19), so it
/// runs in the time the shards leave idle.
pub fn lowest_priority() {
    // SAFETY: plain syscalls about this thread's own id; with PRIO_PROCESS
    // and a thread id, setpriority changes that thread only on Linux.
    // Raising nice needs no privilege; a failure leaves the priority as it
    // was, which is still correct.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

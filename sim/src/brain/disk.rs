//! The simulator's disk: [`MemDisk`] with a pause after every operation
//! that changes it, so a crash can land between any two of them (after the
//! write but before the sync, after the rename but before the directory
//! sync, …). The simulator polls a commit one operation per disk step.

use sipbrain_storage::disk::{Disk, DiskFile};
use sipbrain_storage::mem_disk::MemFile;
use sipbrain_storage::MemDisk;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A future that is pending exactly once: one disk step.
struct Pause(bool);

impl Future for Pause {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

fn pause() -> Pause {
    Pause(false)
}

/// A shard's disk as the simulated brain sees it.
#[derive(Clone)]
pub struct SimDisk(pub MemDisk);

/// A file of a [`SimDisk`].
pub struct SimFile(MemFile);

impl Disk for SimDisk {
    type File = SimFile;

    async fn create(&self, name: &str) -> io::Result<SimFile> {
        let file = self.0.create(name).await;
        pause().await;
        file.map(SimFile)
    }

    async fn open(&self, name: &str) -> io::Result<SimFile> {
        self.0.open(name).await.map(SimFile)
    }

    async fn list(&self) -> io::Result<Vec<String>> {
        self.0.list().await
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let result = self.0.rename(from, to).await;
        pause().await;
        result
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        let result = self.0.remove(name).await;
        pause().await;
        result
    }

    async fn sync_dir(&self) -> io::Result<()> {
        let result = self.0.sync_dir().await;
        pause().await;
        result
    }
}

impl DiskFile for SimFile {
    async fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let result = self.0.write_at(offset, bytes).await;
        pause().await;
        result
    }

    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.0.read_at(offset, len).await
    }

    async fn sync(&self) -> io::Result<()> {
        let result = self.0.sync().await;
        pause().await;
        result
    }

    async fn len(&self) -> io::Result<u64> {
        self.0.len().await
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        let result = self.0.allocate(len).await;
        pause().await;
        result
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        let result = self.0.truncate(len).await;
        pause().await;
        result
    }
}

/// Polls `future` once (the simulator is its only executor).
pub fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    future.poll(&mut cx)
}

/// Runs `future` to completion now (recovery at start: no crash lands
/// inside it).
pub fn run_now<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = poll_once(future.as_mut()) {
            return output;
        }
    }
}

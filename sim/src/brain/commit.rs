//! Deciding, group commit and releasing replies (as `runtime/src/server/
//! node.rs` and `runtime/src/store/journal.rs` do): decide, apply, queue
//! the events; one WAL write + sync per batch; replies leave in order once
//! their batch is durable and their broadcasts are acknowledged.

use super::disk::poll_once;
use super::{Brain, Dest, MeshMsg, Out, Waiter, KIND_EVENT};
use crate::rng::chance;
use rand::{Rng, RngCore};
use sipbrain_core::api::Call;
use sipbrain_core::event;
use sipbrain_storage::write_snapshot;
use std::task::Poll;

impl Brain {
    /// Decides `call` on `shard`, applies and logs its events, and queues
    /// its reply behind their durability.
    pub(super) fn execute(
        &mut self,
        wall_ms: u64,
        shard: usize,
        call: Call,
        dest: Dest,
        out: &mut Vec<Out>,
    ) {
        if let Dest::Conn { conn, .. } | Dest::Remote { conn, .. } = dest {
            self.decisions += 1;
            out.push(Out::Resolved {
                conn,
                decision: Some(self.decisions),
            });
        }
        let now = self.now(wall_ms);
        let salt = self.salt.next_u64();
        let node = &mut self.nodes[shard];
        let decision = node.shard.execute(now, salt, &call);
        let mut records = Vec::with_capacity(decision.events.len());
        for event in &decision.events {
            self.ledgers[shard].logged(event);
            records.push(event::encode(event));
        }
        node.events_since_snapshot += decision.events.len() as u64;
        let broadcast = event::for_peers_of(&decision.events, self.settings.shards);
        let waiter = Waiter {
            dest,
            response: decision.reply,
            broadcast,
            acked: self.ledgers[shard].events.len(),
        };
        if let Some(waiter) = node.group.push(records, waiter) {
            self.release(shard, waiter, out);
        }
        self.kick(shard, out);
    }

    /// Starts a commit of everything queued on `shard` unless one is in
    /// flight (then the queue waits for it: group commit).
    fn kick(&mut self, shard: usize, out: &mut Vec<Out>) {
        let node = &mut self.nodes[shard];
        if node.commit.is_some() || node.wal.is_none() {
            return;
        }
        let snapshot_due = self.settings.snapshot_events > 0
            && node.events_since_snapshot >= self.settings.snapshot_events;
        let Some(batch) = node.group.take() else {
            return;
        };
        // Taken together with the batch: the image is exactly the state
        // once this batch is durable.
        let image = snapshot_due.then(|| event::encode_all(&node.shard.image()));
        if image.is_some() {
            node.events_since_snapshot = 0;
        }
        if chance(&mut self.faults, self.settings.p_eio) {
            // The write or sync that fails may be this commit's, a segment
            // rollover's or the snapshot's after it.
            let after = self.faults.gen_range(0..4);
            if self.faults.gen_bool(0.5) {
                node.disk.fail_write_after(after);
            } else {
                node.disk.fail_sync_after(after);
            }
        }
        let mut wal = node.wal.take().expect("no commit in flight");
        let has_records = !batch.records.is_empty();
        for record in &batch.records {
            wal.append(KIND_EVENT, record);
        }
        node.image = image;
        let future = Box::pin(async move {
            let result = if has_records {
                wal.commit().await.map(|_| ())
            } else {
                Ok(())
            };
            (wal, result)
        });
        node.commit = Some((future, Some(batch)));
        self.step_commit(shard, out);
    }

    /// After a batch's replies left: writes the snapshot taken with it, at
    /// the WAL's durable lsn (the next batch waits, as in the runtime).
    fn start_snapshot(&mut self, shard: usize, out: &mut Vec<Out>) {
        let node = &mut self.nodes[shard];
        let Some(image) = node.image.take() else {
            return;
        };
        let wal = node.wal.take().expect("no commit in flight");
        let disk = super::SimDisk(node.disk.clone());
        let future = Box::pin(async move {
            let result = write_snapshot(&disk, wal.durable_lsn(), &image)
                .await
                .map(|_| ());
            (wal, result)
        });
        node.commit = Some((future, None));
        self.step_commit(shard, out);
    }

    /// One disk operation of `shard`'s commit completed: poll it on, and
    /// let connections whose replies left go on.
    pub fn on_disk_step(&mut self, wall_ms: u64, shard: usize, out: &mut Vec<Out>) {
        self.step_commit(shard, out);
        self.run(wall_ms, out);
    }

    fn step_commit(&mut self, shard: usize, out: &mut Vec<Out>) {
        let inline = self.settings.inline_disk;
        let node = &mut self.nodes[shard];
        let Some((future, _)) = node.commit.as_mut() else {
            return;
        };
        let (wal, result) = loop {
            match poll_once(future.as_mut()) {
                Poll::Pending if inline => continue,
                Poll::Pending => return out.push(Out::DiskStep { shard }),
                Poll::Ready(done) => break done,
            }
        };
        let (_, batch) = node.commit.take().expect("a commit was in flight");
        if let Err(error) = result {
            // Fail-stop: never retry a failed fsync; recover on restart.
            return out.push(Out::FailStop {
                why: format!("shard {shard}: WAL error: {error}"),
            });
        }
        node.durable = wal.durable_lsn().0 as usize;
        node.wal = Some(wal);
        if let Some(batch) = batch {
            for waiter in node.group.committed(batch) {
                self.release(shard, waiter, out);
            }
            if self.nodes[shard].image.is_some() {
                return self.start_snapshot(shard, out);
            }
        }
        self.kick(shard, out);
    }

    /// A reply's events are durable: broadcast its directory events (the
    /// reply waits for every core's ack), or send it.
    fn release(&mut self, shard: usize, waiter: Waiter, out: &mut Vec<Out>) {
        self.ledgers[shard].ack(waiter.acked);
        if waiter.broadcast.is_empty() || self.settings.shards == 1 {
            return self.finish(shard, waiter, out);
        }
        let id = self.next_broadcast;
        self.next_broadcast += 1;
        for peer in (0..self.settings.shards).filter(|p| *p != shard) {
            let msg = MeshMsg::Broadcast {
                id,
                events: waiter.broadcast.clone(),
            };
            out.push(Out::Mesh {
                from: shard,
                to: peer,
                msg,
            });
        }
        let acks = self.settings.shards - 1;
        self.broadcasts.insert(id, (shard, waiter, acks));
    }

    /// Sends a released reply to its connection or back to the accepting
    /// core.
    fn finish(&mut self, shard: usize, waiter: Waiter, out: &mut Vec<Out>) {
        match waiter.dest {
            Dest::Conn { conn, keep_alive } => self.respond(conn, waiter.response, keep_alive, out),
            Dest::Internal => {}
            Dest::Remote {
                from,
                conn,
                keep_alive,
            } => {
                let msg = MeshMsg::Reply {
                    conn,
                    keep_alive,
                    response: waiter.response,
                };
                out.push(Out::Mesh {
                    from: shard,
                    to: from,
                    msg,
                });
            }
        }
    }

    /// A mesh message arrived at core `to` from core `from`.
    pub fn on_mesh(
        &mut self,
        wall_ms: u64,
        from: usize,
        to: usize,
        msg: MeshMsg,
        out: &mut Vec<Out>,
    ) {
        match msg {
            MeshMsg::Call {
                conn,
                keep_alive,
                call,
            } => {
                let queued = self
                    .mesh_queued
                    .get_mut(&(from, to))
                    .expect("a call was queued");
                *queued -= 1;
                self.execute(
                    wall_ms,
                    to,
                    *call,
                    Dest::Remote {
                        from,
                        conn,
                        keep_alive,
                    },
                    out,
                );
            }
            MeshMsg::Reply {
                conn,
                keep_alive,
                response,
            } => self.respond(conn, response, keep_alive, out),
            MeshMsg::Broadcast { id, events } => {
                let node = &mut self.nodes[to];
                for event in &events {
                    assert!(event.is_broadcast(), "only directory events are broadcast");
                    node.shard.apply(event);
                }
                out.push(Out::Mesh {
                    from: to,
                    to: from,
                    msg: MeshMsg::Ack { id },
                });
            }
            MeshMsg::Ack { id } => {
                let entry = self
                    .broadcasts
                    .get_mut(&id)
                    .expect("an ack for a known broadcast");
                entry.2 -= 1;
                if entry.2 == 0 {
                    let (shard, waiter, _) = self.broadcasts.remove(&id).expect("present");
                    self.finish(shard, waiter, out);
                }
            }
        }
        self.run(wall_ms, out);
    }
}

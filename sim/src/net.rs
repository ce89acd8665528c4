//! The virtual network between the actors and the brain.
//!
//! Connections are byte streams like TCP: bytes arrive in order or not at
//! all. Faults: per-chunk delay (so different connections reorder against
//! each other), fragmentation down to 1-byte pieces, a connection that
//! breaks mid-message (the rest never arrives), resets mid-request,
//! partitions of an actor's link (either direction or both), and clogging
//! (delays ×100). Duplicated requests are a second connection carrying the
//! same bytes; the world opens those.

use crate::knobs::NetKnobs;
use crate::rng::{chance, SimRng};
use rand::Rng;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A connection's id, unique within a run.
pub type ConnId = u64;

/// Which way bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    ToBrain = 0,
    ToClient = 1,
}

/// What arrives at one end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Bytes(Vec<u8>),
    /// The other end closed (FIN or RST).
    Close,
}

/// One connection.
#[derive(Clone, Debug)]
pub struct Link {
    /// The actor that opened it; None for a duplicate's ghost connection.
    pub actor: Option<usize>,
    /// The client's address as the brain sees it.
    pub peer: IpAddr,
    /// The core that accepted it (SO_REUSEPORT picks one).
    pub shard: usize,
    /// The operation whose request it carries now (for the model).
    pub op: Option<u64>,
    /// The brain took that request as far as it will go: decided it, or
    /// answered without deciding.
    pub resolved: bool,
    /// The brain side is gone (closed, crashed): nothing more happens.
    pub brain_gone: bool,
    last_at: [u64; 2],
    broken: [bool; 2],
    closed: [bool; 2],
}

impl Link {
    /// True while the operation on this connection may still take effect.
    pub fn may_act(&self) -> bool {
        self.op.is_some() && !self.resolved && !self.brain_gone
    }
}

#[derive(Clone, Copy, Debug)]
struct Partition {
    until_us: u64,
    to_brain: bool,
    to_client: bool,
}

/// The network: links, partitions and clogs.
pub struct Net {
    knobs: NetKnobs,
    rng: SimRng,
    /// Which core accepts a connection (its own stream: it must not shift
    /// with the shard count's effect on other draws).
    accept: SimRng,
    pub links: BTreeMap<ConnId, Link>,
    next_conn: ConnId,
    partitions: BTreeMap<usize, Partition>,
    clogs: BTreeMap<usize, u64>,
    healed: bool,
}

impl Net {
    pub fn new(knobs: NetKnobs, rng: SimRng, accept: SimRng) -> Net {
        Net {
            knobs,
            rng,
            accept,
            links: BTreeMap::new(),
            next_conn: 1,
            partitions: BTreeMap::new(),
            clogs: BTreeMap::new(),
            healed: false,
        }
    }

    /// Opens a connection from `actor` (None: a ghost) to one of `shards`
    /// cores.
    pub fn connect(&mut self, actor: Option<usize>, peer: IpAddr, shards: usize) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        let shard = (self.accept.gen::<u64>() % shards as u64) as usize;
        let link = Link {
            actor,
            peer,
            shard,
            op: None,
            resolved: false,
            brain_gone: false,
            last_at: [0; 2],
            broken: [false; 2],
            closed: [false; 2],
        };
        self.links.insert(id, link);
        id
    }

    /// Plans the arrival of `bytes` sent on `conn` in `dir` at `now_us`.
    /// `resettable`: the message may be cut by a reset of the connection.
    pub fn send(
        &mut self,
        now_us: u64,
        conn: ConnId,
        dir: Dir,
        bytes: &[u8],
        resettable: bool,
    ) -> Vec<(u64, Delivery)> {
        let Some(link) = self.links.get(&conn) else {
            return Vec::new();
        };
        let d = dir as usize;
        if link.broken[d] || link.closed[d] || bytes.is_empty() {
            return Vec::new();
        }
        let actor = link.actor;
        let pieces = self.fragment(bytes);
        let faulty = !self.healed;
        let cut = if faulty
            && (self.partitioned(actor, dir, now_us) || chance(&mut self.rng, self.knobs.p_drop))
        {
            Some(self.rng.gen_range(0..pieces.len()))
        } else {
            None
        };
        let reset = resettable
            && cut.is_none()
            && faulty
            && pieces.len() > 1
            && chance(&mut self.rng, self.knobs.p_reset);
        let reset_at = if reset {
            Some(self.rng.gen_range(1..pieces.len()))
        } else {
            None
        };
        let mut out = Vec::new();
        for (index, piece) in pieces.into_iter().enumerate() {
            if Some(index) == cut {
                self.links.get_mut(&conn).expect("link").broken[d] = true;
                break;
            }
            if Some(index) == reset_at {
                let at = self.arrival(now_us, conn, dir, actor);
                out.push((at, Delivery::Close));
                let link = self.links.get_mut(&conn).expect("link");
                link.closed[d] = true;
                break;
            }
            let at = self.arrival(now_us, conn, dir, actor);
            out.push((at, Delivery::Bytes(piece)));
        }
        out
    }

    /// Plans the arrival of a close of `conn` in `dir` (after every byte
    /// sent before it; a close always gets through, even a broken link,
    /// as a reset or a keep-alive timeout would).
    pub fn close(&mut self, now_us: u64, conn: ConnId, dir: Dir) -> Option<(u64, Delivery)> {
        let link = self.links.get(&conn)?;
        let d = dir as usize;
        if link.closed[d] {
            return None;
        }
        let actor = link.actor;
        let at = self.arrival(now_us, conn, dir, actor);
        self.links.get_mut(&conn).expect("link").closed[d] = true;
        Some((at, Delivery::Close))
    }

    /// Forgets a connection both ends are done with.
    pub fn forget(&mut self, conn: ConnId) {
        if let Some(link) = self.links.get(&conn) {
            if link.closed[0] && link.closed[1] && link.brain_gone {
                self.links.remove(&conn);
            }
        }
    }

    /// One step of the faulty phase: maybe partitions or clogs a link.
    pub fn step(&mut self, now_us: u64, actors: usize) {
        if self.healed || actors == 0 {
            return;
        }
        if chance(&mut self.rng, self.knobs.p_partition) {
            let actor = self.rng.gen_range(0..actors);
            let until_us = now_us + self.rng.gen_range(1..=self.knobs.partition_ms_max) * 1000;
            let (to_brain, to_client) = match self.rng.gen_range(0..3) {
                0 => (true, false),
                1 => (false, true),
                _ => (true, true),
            };
            let partition = Partition {
                until_us,
                to_brain,
                to_client,
            };
            self.partitions.insert(actor, partition);
            if self.rng.gen_bool(0.25) {
                // The brain is cut off from every client at once.
                for other in 0..actors {
                    self.partitions.insert(other, partition);
                }
            }
        }
        if chance(&mut self.rng, self.knobs.p_clog) {
            let actor = self.rng.gen_range(0..actors);
            let until_us = now_us + self.rng.gen_range(1..=self.knobs.partition_ms_max) * 1000;
            self.clogs.insert(actor, until_us);
        }
    }

    /// The healed phase: no more faults.
    pub fn heal(&mut self) {
        self.healed = true;
        self.partitions.clear();
        self.clogs.clear();
    }

    /// True when this copy of a request should be duplicated.
    pub fn duplicate(&mut self) -> bool {
        !self.healed && chance(&mut self.rng, self.knobs.p_duplicate)
    }

    fn partitioned(&self, actor: Option<usize>, dir: Dir, now_us: u64) -> bool {
        let Some(p) = actor.and_then(|a| self.partitions.get(&a)) else {
            return false;
        };
        now_us < p.until_us
            && if dir == Dir::ToBrain {
                p.to_brain
            } else {
                p.to_client
            }
    }

    fn arrival(&mut self, now_us: u64, conn: ConnId, dir: Dir, actor: Option<usize>) -> u64 {
        let (lo, hi) = self.knobs.delay_us;
        let mut delay = self.rng.gen_range(lo..=hi.max(lo));
        if actor.is_some_and(|a| self.clogs.get(&a).is_some_and(|until| now_us < *until)) {
            delay *= 100;
        }
        let link = self.links.get_mut(&conn).expect("link");
        let d = dir as usize;
        let at = (now_us + delay).max(link.last_at[d]);
        link.last_at[d] = at;
        at
    }

    fn fragment(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        if self.healed || !chance(&mut self.rng, self.knobs.p_fragment) {
            return vec![bytes.to_vec()];
        }
        if chance(&mut self.rng, self.knobs.p_one_byte) {
            return bytes.iter().map(|b| vec![*b]).collect();
        }
        let mut pieces = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = self.rng.gen_range(1..=rest.len().min(64));
            let take = if self.rng.gen_bool(0.2) {
                rest.len()
            } else {
                take
            };
            pieces.push(rest[..take].to_vec());
            rest = &rest[take..];
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn knobs() -> NetKnobs {
        NetKnobs {
            delay_us: (10, 1_000),
            p_drop: 0.0,
            p_duplicate: 0.0,
            p_fragment: 1.0,
            p_one_byte: 0.5,
            p_reset: 0.0,
            p_partition: 0.0,
            partition_ms_max: 100,
            p_clog: 0.0,
        }
    }

    #[test]
    fn fragments_arrive_in_order_and_whole() {
        let mut net = Net::new(knobs(), stream(3, "net"), stream(3, "accept"));
        let conn = net.connect(Some(0), "192.0.2.1".parse().unwrap(), 2);
        let message = b"POST /auth HTTP/1.1\r\ncontent-length: 0\r\n\r\n".to_vec();
        for round in 0..20u64 {
            let plan = net.send(round * 10, conn, Dir::ToBrain, &message, false);
            let mut last = 0;
            let mut joined = Vec::new();
            for (at, delivery) in plan {
                assert!(at >= last, "out of order within a connection");
                last = at;
                match delivery {
                    Delivery::Bytes(b) => joined.extend(b),
                    Delivery::Close => panic!("no reset asked"),
                }
            }
            assert_eq!(joined, message);
        }
    }

    #[test]
    fn a_dropped_piece_breaks_the_stream_for_good() {
        let mut k = knobs();
        k.p_drop = 1.0;
        let mut net = Net::new(k, stream(4, "net"), stream(4, "accept"));
        let conn = net.connect(Some(0), "192.0.2.1".parse().unwrap(), 1);
        let sent = net.send(0, conn, Dir::ToBrain, b"0123456789", false);
        let got: usize = sent
            .iter()
            .map(|(_, d)| match d {
                Delivery::Bytes(b) => b.len(),
                Delivery::Close => 0,
            })
            .sum();
        assert!(got < 10);
        assert!(net.send(5, conn, Dir::ToBrain, b"more", false).is_empty());
        assert!(
            net.close(6, conn, Dir::ToBrain).is_some(),
            "a close gets through"
        );
    }
}

//! The oracle of durability: per shard, every event the brain logged, in
//! order, and how many of them were acknowledged (a reply depending on them
//! was released). After a crash, the recovered shard must equal the state
//! after some prefix of the log that holds every acknowledged event:
//! nothing acknowledged is lost, nothing appears that was never logged,
//! and only the unacknowledged tail may be missing.

use sipbrain_core::event::Event;
use sipbrain_core::shard::{Shard, ShardConfig};

/// One shard's logged events and acknowledged point.
#[derive(Clone, Debug)]
pub struct Ledger {
    pub events: Vec<Event>,
    /// Events `[..acked]` were acknowledged.
    pub acked: usize,
    /// The state after `events[..acked]`.
    reference: Shard,
}

impl Ledger {
    pub fn new(config: ShardConfig) -> Ledger {
        Ledger {
            events: Vec::new(),
            acked: 0,
            reference: Shard::new(config),
        }
    }

    /// The brain logged `event` (applied in memory, queued for the WAL).
    pub fn logged(&mut self, event: &Event) {
        self.events.push(event.clone());
    }

    /// A reply depending on `events[..upto]` was released.
    pub fn ack(&mut self, upto: usize) {
        assert!(upto <= self.events.len(), "ack past the log");
        while self.acked < upto {
            self.reference.apply(&self.events[self.acked]);
            self.acked += 1;
        }
    }

    /// Checks a shard rebuilt by recovery, which found `durable` records in
    /// its WAL: they must hold every acknowledged event, no event that was
    /// never logged, and give exactly the state after `events[..durable]`.
    /// Then that prefix becomes the log (the rest was lost with the crash).
    pub fn recovered(&mut self, shard: &Shard, durable: usize) -> Result<(), String> {
        if durable < self.acked {
            return Err(format!(
                "{} acknowledged event(s) lost: the WAL holds {durable}, {} were acknowledged",
                self.acked - durable,
                self.acked
            ));
        }
        if durable > self.events.len() {
            return Err(format!(
                "the WAL holds {durable} records but only {} events were ever logged",
                self.events.len()
            ));
        }
        let mut reference = self.reference.clone();
        for event in &self.events[self.acked..durable] {
            reference.apply(event);
        }
        let (expected, got) = (reference.image(), shard.image());
        if expected != got {
            let missing: Vec<String> = expected
                .iter()
                .filter(|e| !got.contains(e))
                .take(3)
                .map(short)
                .collect();
            let extra: Vec<String> = got
                .iter()
                .filter(|e| !expected.contains(e))
                .take(3)
                .map(short)
                .collect();
            return Err(format!(
                "the state rebuilt from {durable} durable records differs from the log's prefix of that \
                 length ({} acknowledged): missing {missing:?}, not in the log {extra:?}; {}",
                self.acked,
                self.match_prefix(shard).err().unwrap_or_else(|| "it equals another prefix".into())
            ));
        }
        self.events.truncate(durable);
        self.acked = durable;
        self.reference = reference;
        Ok(())
    }

    /// The prefix length in `[acked, len]` whose state equals `shard`'s,
    /// without changing the ledger.
    pub fn match_prefix(&self, shard: &Shard) -> Result<usize, String> {
        let image = shard.image();
        let mut candidate = self.reference.clone();
        let mut k = self.acked;
        loop {
            if candidate.image() == image {
                return Ok(k);
            }
            if k == self.events.len() {
                break;
            }
            candidate.apply(&self.events[k]);
            k += 1;
        }
        let reference = self.reference.image();
        let first_missing = reference.iter().find(|e| !image.contains(e));
        let first_phantom = image.iter().find(|e| !candidate.image().contains(e));
        Err(format!(
            "recovered state ({} image events) matches no prefix of the log between the \
             acknowledged point ({}) and everything logged ({}); acknowledged but missing: {}; \
             never logged: {}",
            image.len(),
            self.acked,
            self.events.len(),
            first_missing.map_or("none".into(), short),
            first_phantom.map_or("none".into(), short),
        ))
    }
}

/// An event's debug text, cut to a readable length.
pub fn short(event: &Event) -> String {
    let mut text = format!("{event:?}");
    if text.len() > 120 {
        let mut cut = 120;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

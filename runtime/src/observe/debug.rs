//! The `GET /debug` subscribers: a registry every shard publishes to.
//!
//! A subscriber is a WebSocket session on some shard's thread; a publisher
//! is the shard that just made an event durable, on any thread. Between
//! them sits one bounded channel per subscriber, filled with `try_send`
//! only: a shard never waits for a subscriber. A subscriber whose channel
//! is full has fallen a whole buffer behind: it is dropped (its session
//! sees [`Subscription::dropped`] and closes it), and the shard goes on.
//!
//! With no subscriber, [`Hub::watched`] is one relaxed atomic load, and
//! nothing is rendered.

use sipbrain_core::debug::DebugMessage;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tungstenite::Utf8Bytes;

/// One message as every subscriber's session sends it (shared, not copied).
pub type Text = Utf8Bytes;

/// The registry of subscribers.
#[derive(Debug)]
pub struct Hub {
    /// Messages a subscriber may fall behind before it is dropped.
    buffer: usize,
    /// `subscribers.len()`, readable without the lock.
    count: AtomicUsize,
    subscribers: Mutex<Vec<Subscriber>>,
    next_id: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    account_id: Option<String>,
    call_id: Option<String>,
    sender: async_channel::Sender<Text>,
    dropped: Arc<AtomicBool>,
}

/// A subscriber's end: its messages, and whether it was dropped.
/// Unsubscribes when dropped.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    hub: Arc<Hub>,
    pub messages: async_channel::Receiver<Text>,
    dropped: Arc<AtomicBool>,
}

impl Subscription {
    /// True once the hub dropped this subscriber for falling behind.
    pub fn dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subscribers = self.hub.lock();
        subscribers.retain(|s| s.id != self.id);
        self.hub.count.store(subscribers.len(), Ordering::Release);
    }
}

impl Hub {
    /// A hub whose subscribers may each fall `buffer` messages behind.
    pub fn new(buffer: usize) -> Hub {
        Hub {
            buffer: buffer.max(1),
            count: AtomicUsize::new(0),
            subscribers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
        }
    }

    /// True when someone is watching (else publishing is skipped).
    pub fn watched(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Subscribers now.
    pub fn clients(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Subscribers dropped for falling behind, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A new subscriber for the messages that pass its filters.
    pub fn subscribe(
        self: &Arc<Hub>,
        account_id: Option<String>,
        call_id: Option<String>,
    ) -> Subscription {
        let (sender, messages) = async_channel::bounded(self.buffer);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let dropped = Arc::new(AtomicBool::new(false));
        let mut subscribers = self.lock();
        subscribers.push(Subscriber {
            id,
            account_id,
            call_id,
            sender,
            dropped: dropped.clone(),
        });
        self.count.store(subscribers.len(), Ordering::Release);
        Subscription {
            id,
            hub: self.clone(),
            messages,
            dropped,
        }
    }

    /// Offers `messages` to every subscriber whose filters they pass,
    /// without waiting: a subscriber with a full buffer is dropped.
    pub fn publish(&self, messages: &[DebugMessage]) {
        if messages.is_empty() {
            return;
        }
        let texts: Vec<Text> = messages
            .iter()
            .map(|m| Text::from(m.json.as_str()))
            .collect();
        let mut subscribers = self.lock();
        subscribers.retain(|subscriber| {
            let account = subscriber.account_id.as_deref();
            let call = subscriber.call_id.as_deref();
            for (message, text) in messages.iter().zip(&texts) {
                if !message.matches(account, call) {
                    continue;
                }
                match subscriber.sender.try_send(text.clone()) {
                    Ok(()) => {}
                    Err(async_channel::TrySendError::Full(_)) => {
                        subscriber.dropped.store(true, Ordering::Release);
                        subscriber.sender.close();
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        return false;
                    }
                    // Its session ended between our check and now.
                    Err(async_channel::TrySendError::Closed(_)) => return false,
                }
            }
            true
        });
        self.count.store(subscribers.len(), Ordering::Release);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Subscriber>> {
        // A panic while holding the lock leaves a usable list.
        self.subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(account: &str, call: &str) -> DebugMessage {
        DebugMessage {
            account_id: Some(account.into()),
            call_id: Some(call.into()),
            json: format!(r#"{{"accountId":"{account}","callId":"{call}"}}"#),
        }
    }

    #[test]
    fn subscribers_get_what_passes_their_filters_in_order() {
        let hub = Arc::new(Hub::new(16));
        assert!(!hub.watched());
        let all = hub.subscribe(None, None);
        let acme = hub.subscribe(Some("acme".into()), None);
        let one_call = hub.subscribe(Some("acme".into()), Some("c2".into()));
        assert_eq!(hub.clients(), 3);
        hub.publish(&[message("acme", "c1"), message("globex", "c9")]);
        hub.publish(&[message("acme", "c2")]);
        let drain = |s: &Subscription| -> Vec<String> {
            std::iter::from_fn(|| s.messages.try_recv().ok())
                .map(|t| t.as_str().to_string())
                .collect()
        };
        assert_eq!(drain(&all).len(), 3);
        let acme_seen = drain(&acme);
        assert_eq!(acme_seen.len(), 2);
        assert!(acme_seen[0].contains("c1") && acme_seen[1].contains("c2"));
        assert_eq!(drain(&one_call), [message("acme", "c2").json]);
        drop(all);
        assert_eq!(hub.clients(), 2);
    }

    #[test]
    fn a_subscriber_a_buffer_behind_is_dropped_and_the_others_go_on() {
        let hub = Arc::new(Hub::new(2));
        let slow = hub.subscribe(None, None);
        let fast = hub.subscribe(None, None);
        for n in 0..5 {
            hub.publish(&[message("acme", &format!("c{n}"))]);
            while fast.messages.try_recv().is_ok() {}
        }
        assert!(slow.dropped());
        assert!(!fast.dropped());
        assert_eq!(hub.clients(), 1);
        assert_eq!(hub.dropped(), 1);
        drop(slow);
        assert_eq!(hub.clients(), 1, "dropping a dropped subscription is fine");
    }
}

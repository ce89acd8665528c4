//! Events: the facts a decision produces. `Shard::apply` of an event is the
//! only way state changes, so logging events and replaying them is enough to
//! rebuild a shard.
//!
//! On disk an event is its rkyv archive ([`encode`]), validated with
//! bytecheck before use ([`decode`]). rkyv has no schema evolution: a change
//! to these types needs a new WAL format version.

use crate::calls::{CallRecord, CallStart, Progress};
use crate::media::voicemail::VoicemailMessage;
use crate::presence::Binding;
use crate::security::bans::{BanRow, EndedBan};
use crate::time::Millis;
use core::net::{IpAddr, Ipv6Addr};
use ipnet::IpNet;
use rkyv::boxed::{ArchivedBox, BoxResolver};
use rkyv::rancor::Fallible;
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use rkyv::{Archive, Deserialize, Place, SerializeUnsized};
use std::sync::Arc;

/// One state change.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Event {
    /// An account document was created or replaced. `doc` is the validated,
    /// normalized document as compact JSON. Broadcast to every shard.
    AccountPut { account_id: String, doc: String },
    /// An account was removed. Broadcast to every shard.
    AccountDeleted { account_id: String },
    /// A digest (nonce, nc) pair was accepted at `at`; it is a replay until
    /// `expires_at`.
    NonceUsed {
        nonce: String,
        nc: String,
        at: Millis,
        expires_at: Millis,
    },
    /// A digest check from `ip` failed at `at`.
    AuthFailed { ip: Ip, at: Millis },
    /// The shard's clock had reached `at`. Snapshots carry it, so a
    /// restarted brain never decides at a time before one its state has
    /// seen, even when the wall clock stepped back meanwhile.
    ClockSeen { at: Millis },
    /// `/route` decided a call (admitted or rejected). The owner keeps the
    /// record and takes the CAC counters; the other shards receive it as
    /// [`Event::CallIndexed`] (see [`Event::for_peers`]) and index
    /// `callId → account`.
    CallRouted(Box<CallStart>),
    /// The SIP layer reported progress (early, confirmed).
    CallProgressed {
        call_id: String,
        progress: Progress,
        at: Millis,
        /// The report, as JSON text, for the trace.
        note: String,
    },
    /// The call ended: its counters (if still held) go back, once; its CDR
    /// completes. Broadcast (the index marks it ended).
    CallEnded {
        call_id: String,
        at: Millis,
        /// CDR disposition (`answered`, `no_answer`, `failed`, `reaped`, …).
        disposition: String,
        /// Why: `terminated`, `failed`, `sync`, `node_restarted`,
        /// `setup_ttl`, `max_call`, with the SIP code when reported.
        cause: String,
        /// Trace source (`presence` or `cac`) and details as JSON text.
        source: String,
        note: String,
    },
    /// `POST /cac/reset` released a live call's counters (the call goes on).
    CacReleased { call_id: String, at: Millis },
    /// A device registered or refreshed a contact.
    Registered {
        account_id: String,
        device_id: String,
        binding: Binding,
    },
    /// A contact went away (`contact` None: all of the device's).
    Unregistered {
        account_id: String,
        device_id: String,
        contact: Option<String>,
        at: Millis,
    },
    /// An edge node's boot epoch as last seen (its calls of older epochs
    /// are ended by the same decision).
    NodeEpoch { node: String, epoch: u64 },
    /// Snapshot only: a call record as it stands. Shared with the shard's
    /// map, so taking an image copies no record (archived as a `Box`).
    CallImage(#[rkyv(with = ArcAsBox)] Arc<CallRecord>),
    /// Snapshot only: the hits of one rate window.
    RateImage {
        account_id: String,
        key: String,
        hits: Vec<Millis>,
    },
    /// A call for the other shards' index: each shard's calls at start,
    /// and every routed call as it is decided ([`Event::for_peers`]).
    CallIndexed {
        call_id: String,
        account_id: String,
        ended: bool,
    },
    // --- Flows (`POST /flow`) ---
    /// A flow session moved: its whole new state, with `trace` holding only
    /// the entries this step added. `webhook` is the request the runtime
    /// performs once the event is durable.
    FlowStep {
        session: Box<crate::flow::Session>,
        webhook: Option<crate::flow::WebhookCall>,
    },
    /// Snapshot only: a live flow session with its buffered trace.
    FlowImage(Box<crate::flow::Session>),
    // New variants go last: the archived tags of the ones above stay as
    // they are, so existing logs and snapshots still decode.
    /// A voicemail upload (`<account>/vm/<callId>.wav`) is durable in the
    /// media store: the account's owner keeps the message and, when it has
    /// the call, adds a `media` entry to the call's trace.
    VoicemailRecorded(Box<VoicemailMessage>),
    /// Snapshot only: an account's voicemail messages, oldest first.
    VoicemailImage {
        account_id: String,
        messages: Vec<VoicemailMessage>,
    },
    /// `POST /security/report` from `node` at `at` (a big report is
    /// several of these): `upsert` rows are new or changed, the `ended`
    /// IPs left the node's snapshot. Control shard only.
    BanReport {
        node: String,
        at: Millis,
        upsert: Vec<BanRow>,
        ended: Vec<Ip>,
    },
    /// A stale node forgotten to make room for a new one: its bans end.
    /// Control shard only.
    BanNodeForgotten { node: String, at: Millis },
    /// Snapshot only: an ended ban kept in the history. Control shard only.
    BanEnded(Box<EndedBan>),
    /// An allowlist entry was added (or its note changed); the bans it
    /// covers end. Broadcast, and a directory event: every shard keeps the
    /// allowlist.
    AllowAdded { net: Net, note: String, at: Millis },
    /// An allowlist entry was removed. Broadcast, and a directory event.
    AllowRemoved { net: Net, at: Millis },
    /// A source reached the /auth failure threshold on a shard other than
    /// the control shard (`failures` in the window, the last at `at`; over
    /// the threshold until `until`). Broadcast for the control shard's ban
    /// view, which does not log it: every shard sends its sources over the
    /// threshold again at start ([`crate::shard::Shard::call_index_image`]).
    AuthFlagged {
        failures: u32,
        ip: Ip,
        at: Millis,
        until: Millis,
        first: Millis,
    },
    // --- ACD (`/agent`, queued callers) ---
    /// An agent's whole new state (`POST /agent`, wrap-up end), its bucket
    /// log included.
    AgentChanged {
        agent: Box<crate::acd::Agent>,
        at: Millis,
        /// What moved it (`login`, `pause`, `wrap_up_end`, …).
        cause: String,
    },
    /// A caller joined an ACD queue (it leaves when its flow step leaves
    /// the queue or its call ends: no event of its own).
    QueueJoined(Box<crate::acd::Caller>),
    /// An offer: the lease of `call_id` rings `agents` until `expires_at`.
    LeaseOffered {
        account_id: String,
        call_id: String,
        agents: Vec<String>,
        epoch: u64,
        expires_at: Millis,
        max_no_answer: u32,
        ring_all: bool,
        at: Millis,
    },
    /// A confirm (or claim) took the live offer: `agent_id` has the caller.
    LeaseConfirmed {
        account_id: String,
        call_id: String,
        agent_id: String,
        epoch: u64,
        at: Millis,
    },
    /// An offer ended unanswered (expiry, or the edge's `no_answer`): the
    /// agents' miss counters go up, maybe auto-pausing them.
    LeaseExpired {
        account_id: String,
        call_id: String,
        epoch: u64,
        at: Millis,
        cause: String,
    },
    /// A waiting caller was told its position.
    PositionAnnounced {
        account_id: String,
        call_id: String,
        position: u32,
        at: Millis,
    },
    /// Snapshot only: one account's ACD state and the shard's counters.
    AcdImage(Box<crate::acd::AcdImage>),
}

/// An allowlist network: its address as [`Ip`] and its prefix length (of
/// the IPv4 address for an IPv4 network).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Net {
    pub ip: Ip,
    pub prefix: u8,
    pub v4: bool,
}

impl From<IpNet> for Net {
    fn from(net: IpNet) -> Net {
        Net {
            ip: Ip::from(net.addr()),
            prefix: net.prefix_len(),
            v4: matches!(net, IpNet::V4(_)),
        }
    }
}

impl From<Net> for IpNet {
    /// Panics on a prefix too long for the family: events carry networks
    /// that passed validation.
    fn from(net: Net) -> IpNet {
        let v6 = Ipv6Addr::from(net.ip.0);
        let addr = match (net.v4, v6.to_ipv4_mapped()) {
            (true, Some(v4)) => IpAddr::V4(v4),
            (true, None) => panic!("an IPv4 network event holds an IPv6 address"),
            (false, _) => IpAddr::V6(v6),
        };
        IpNet::new(addr, net.prefix).expect("a valid prefix length")
    }
}

/// An IP address as 16 bytes (IPv4 as IPv4-mapped IPv6), so the archive
/// does not depend on how a library lays out `IpAddr`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Ip(pub [u8; 16]);

impl From<IpAddr> for Ip {
    fn from(ip: IpAddr) -> Ip {
        match ip {
            IpAddr::V4(v4) => Ip(v4.to_ipv6_mapped().octets()),
            IpAddr::V6(v6) => Ip(v6.octets()),
        }
    }
}

impl From<Ip> for IpAddr {
    fn from(ip: Ip) -> IpAddr {
        let v6 = Ipv6Addr::from(ip.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }
}

/// What a shard sends the other `shards - 1` for the events it decided
/// ([`Event::for_peers`] of each; nothing with one shard).
pub fn for_peers_of(events: &[Event], shards: usize) -> Vec<Event> {
    if shards == 1 {
        return Vec::new();
    }
    events.iter().filter_map(Event::for_peers).collect()
}

impl Event {
    /// True for events the other shards learn of (directory, allowlist and
    /// callId index changes, /auth sources over the threshold), in the form
    /// [`Event::for_peers`] gives; the others stay on the shard that
    /// decided them.
    pub fn is_broadcast(&self) -> bool {
        matches!(
            self,
            Event::AccountPut { .. }
                | Event::AccountDeleted { .. }
                | Event::CallRouted(_)
                | Event::CallEnded { .. }
                | Event::CallIndexed { .. }
                | Event::AllowAdded { .. }
                | Event::AllowRemoved { .. }
                | Event::AuthFlagged { .. }
        )
    }

    /// This event as the other shards receive it, when it is broadcast: a
    /// routed call reaches them as its index entry only (they keep no
    /// record of it, and the start with its trace is ~2 KB), the rest as
    /// they are.
    pub fn for_peers(&self) -> Option<Event> {
        match self {
            Event::CallRouted(start) => Some(Event::CallIndexed {
                call_id: start.call_id.clone(),
                account_id: start.account_id.clone(),
                ended: start.rejected,
            }),
            event if event.is_broadcast() => Some(event.clone()),
            _ => None,
        }
    }
}

impl Event {
    /// True for account document and allowlist events: only the control
    /// shard logs them and its image gives them to every other shard at
    /// start.
    pub fn is_directory(&self) -> bool {
        matches!(
            self,
            Event::AccountPut { .. }
                | Event::AccountDeleted { .. }
                | Event::AllowAdded { .. }
                | Event::AllowRemoved { .. }
        )
    }

    /// True for the ban state's events: only the control shard logs and
    /// keeps them (re-partitioning gives them to the new control shard).
    pub fn is_control_state(&self) -> bool {
        matches!(
            self,
            Event::BanReport { .. } | Event::BanNodeForgotten { .. } | Event::BanEnded(_)
        )
    }
}

/// The WAL record kind of an encoded event (the only kind the brain logs).
pub const RECORD_KIND: u16 = 1;

/// The event's archive bytes (what the WAL stores).
pub fn encode(event: &Event) -> Vec<u8> {
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(event).expect("events always serialize");
    let bytes = bytes.into_vec();
    debug_assert_eq!(
        decode(&bytes).as_ref(),
        Ok(event),
        "paired check: an encoded event decodes"
    );
    bytes
}

/// Validates (bytecheck) and decodes an archive; an error names what is
/// wrong. The input need not be aligned: it is copied to an aligned buffer.
pub fn decode(bytes: &[u8]) -> Result<Event, String> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<Event, rkyv::rancor::Error>(&aligned)
        .map_err(|e| format!("invalid event archive: {e}"))
}

/// rkyv wrapper: an `Arc<T>` archived exactly as a `Box<T>` would be, so
/// records shared in memory keep the archive layout a box gave them.
pub struct ArcAsBox;

impl<T: Archive> ArchiveWith<Arc<T>> for ArcAsBox {
    type Archived = ArchivedBox<T::Archived>;
    type Resolver = BoxResolver;

    fn resolve_with(field: &Arc<T>, resolver: BoxResolver, out: Place<Self::Archived>) {
        ArchivedBox::resolve_from_ref(field.as_ref(), resolver, out);
    }
}

impl<T, S> SerializeWith<Arc<T>, S> for ArcAsBox
where
    T: Archive + SerializeUnsized<S>,
    S: Fallible + ?Sized,
{
    fn serialize_with(field: &Arc<T>, serializer: &mut S) -> Result<BoxResolver, S::Error> {
        ArchivedBox::serialize_from_ref(field.as_ref(), serializer)
    }
}

impl<T, D> DeserializeWith<ArchivedBox<T::Archived>, Arc<T>, D> for ArcAsBox
where
    T: Archive,
    ArchivedBox<T::Archived>: Deserialize<Box<T>, D>,
    D: Fallible + ?Sized,
{
    fn deserialize_with(
        field: &ArchivedBox<T::Archived>,
        deserializer: &mut D,
    ) -> Result<Arc<T>, D::Error> {
        let record: Box<T> = field.deserialize(deserializer)?;
        Ok(Arc::from(record))
    }
}

/// A list of events as one archive (what a snapshot stores).
pub fn encode_all(events: &Vec<Event>) -> Vec<u8> {
    archive_all(events).into_vec()
}

/// [`encode_all`] without the final copy into a `Vec` (a snapshot body is
/// tens of MB; its writer copies it once more anyway).
// A `&Vec`, not a slice: rkyv archives the `Vec` as it is, where a slice
// would first be copied into one.
#[allow(clippy::ptr_arg)]
pub fn archive_all(events: &Vec<Event>) -> rkyv::util::AlignedVec {
    rkyv::to_bytes::<rkyv::rancor::Error>(events).expect("events always serialize")
}

/// Validates and decodes a list archive made by [`encode_all`].
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Event>, String> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<Vec<Event>, rkyv::rancor::Error>(&aligned)
        .map_err(|e| format!("invalid snapshot archive: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
        ]
    }

    fn any_event() -> impl Strategy<Value = Event> {
        let text = ".{0,40}";
        prop_oneof![
            (text, text).prop_map(|(account_id, doc)| Event::AccountPut { account_id, doc }),
            text.prop_map(|account_id| Event::AccountDeleted { account_id }),
            (text, text, any::<u64>(), any::<u64>()).prop_map(|(nonce, nc, at, expires_at)| {
                Event::NonceUsed {
                    nonce,
                    nc,
                    at: Millis(at),
                    expires_at: Millis(expires_at),
                }
            }),
            (any_ip(), any::<u64>()).prop_map(|(ip, at)| Event::AuthFailed {
                ip: ip.into(),
                at: Millis(at)
            }),
            any::<u64>().prop_map(|at| Event::ClockSeen { at: Millis(at) }),
            (
                text,
                any::<u64>(),
                proptest::collection::vec(
                    (any_ip(), text, any::<u64>(), any::<Option<u64>>()),
                    0..4
                ),
                proptest::collection::vec(any_ip(), 0..4)
            )
                .prop_map(|(node, at, rows, ended)| Event::BanReport {
                    node,
                    at: Millis(at),
                    upsert: rows
                        .into_iter()
                        .map(|(ip, reason, hits, expires)| BanRow {
                            ip: ip.into(),
                            reason,
                            hits,
                            since: None,
                            expires_at: expires.map(Millis),
                            first_seen: Millis(at),
                        })
                        .collect(),
                    ended: ended.into_iter().map(Ip::from).collect(),
                }),
            (any_ip(), 0u8..=32, text, any::<u64>()).prop_map(|(ip, prefix, note, at)| {
                let prefix = if ip.is_ipv4() { prefix } else { prefix * 4 };
                Event::AllowAdded {
                    net: IpNet::new(ip, prefix).unwrap().trunc().into(),
                    note,
                    at: Millis(at),
                }
            }),
            (any_ip(), any::<u64>(), any::<u64>(), any::<u32>()).prop_map(
                |(ip, at, until, failures)| {
                    Event::AuthFlagged {
                        ip: ip.into(),
                        at: Millis(at),
                        until: Millis(until),
                        first: Millis(at),
                        failures,
                    }
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn every_event_round_trips_through_its_archive(event in any_event()) {
            let bytes = encode(&event);
            prop_assert_eq!(decode(&bytes), Ok(event));
        }

        #[test]
        fn event_lists_round_trip_through_one_archive(events in proptest::collection::vec(any_event(), 0..20)) {
            prop_assert_eq!(decode_all(&encode_all(&events)), Ok(events));
        }

        #[test]
        fn ips_round_trip_through_sixteen_bytes(ip in any_ip()) {
            let back: IpAddr = Ip::from(ip).into();
            let canonical = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
                v4 => v4,
            };
            prop_assert_eq!(back, canonical);
        }

        #[test]
        fn networks_round_trip_through_net(ip in any_ip(), prefix in 0u8..=128) {
            let prefix = if ip.is_ipv4() { prefix % 33 } else { prefix };
            let net = IpNet::new(ip, prefix).unwrap().trunc();
            prop_assert_eq!(IpNet::from(Net::from(net)), net);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn new_variants_do_not_grow_the_archive() {
        // The root of an archive is read from its end: an `ArchivedEvent`
        // of another size would no longer decode the records already
        // logged. A new variant must fit within the largest one.
        assert_eq!(core::mem::size_of::<ArchivedEvent>(), 104);
    }

    #[test]
    fn an_arc_as_box_archives_byte_for_byte_as_the_box_it_replaced() {
        // `CallImage` held a `Box<CallRecord>` before the records were
        // shared: snapshots written then must still decode.
        #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Debug, PartialEq)]
        struct Record {
            call_id: String,
            trace: Vec<String>,
        }
        #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
        struct Boxed(u32, Box<Record>);
        #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
        struct Shared(u32, #[rkyv(with = ArcAsBox)] Arc<Record>);
        let record = Record {
            call_id: "call-1".into(),
            trace: vec!["routed".into(), "a longer trace line".into()],
        };
        let boxed =
            rkyv::to_bytes::<rkyv::rancor::Error>(&Boxed(7, Box::new(record.clone()))).unwrap();
        let shared = Shared(7, Arc::new(record));
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&shared).unwrap();
        assert_eq!(bytes.as_slice(), boxed.as_slice());
        let back = rkyv::from_bytes::<Shared, rkyv::rancor::Error>(&boxed).unwrap();
        assert_eq!(back, shared);
    }

    #[test]
    fn peers_get_a_routed_call_as_its_index_entry_and_broadcasts_as_they_are() {
        let start = |rejected| {
            Event::CallRouted(Box::new(crate::calls::CallStart {
                call_id: "c1".into(),
                account_id: "acc_acme".into(),
                direction: crate::calls::Direction::Inbound,
                from: "14155550001".into(),
                to: "1001".into(),
                node: "edge-1".into(),
                epoch: 1,
                at: Millis(5),
                rtjson: "{}".into(),
                admission: None,
                trace: Vec::new(),
                rejected,
                reject_code: if rejected { 403 } else { 0 },
            }))
        };
        for rejected in [false, true] {
            assert_eq!(
                start(rejected).for_peers(),
                Some(Event::CallIndexed {
                    call_id: "c1".into(),
                    account_id: "acc_acme".into(),
                    ended: rejected,
                })
            );
        }
        let deleted = Event::AccountDeleted {
            account_id: "acc_acme".into(),
        };
        assert_eq!(deleted.for_peers(), Some(deleted.clone()));
        let seen = Event::ClockSeen { at: Millis(5) };
        assert!(!seen.is_broadcast());
        assert_eq!(seen.for_peers(), None);
    }

    #[test]
    fn a_truncated_archive_is_refused() {
        let event = Event::AccountDeleted {
            account_id: "acc_acme".into(),
        };
        let bytes = encode(&event);
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut]).is_err(),
                "a {cut}-byte prefix must not decode"
            );
        }
    }
}

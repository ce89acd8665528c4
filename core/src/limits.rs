//! Every bound of the brain in one place, each with its reason.
//!
//! Runtime-configurable limits (header and body sizes) have their defaults
//! here; the rest are fixed caps that keep memory and work per request
//! bounded whatever a client sends.

/// Default cap on a request's header block (request line + headers), in bytes.
/// The contract's default; past it the answer is 431.
pub const HEADER_BYTES_MAX_DEFAULT: usize = 16 * 1024;
/// The most `header_bytes_max` may be set to (a header block is kept with
/// 32-bit offsets, and no SIP edge sends one near this).
pub const HEADER_BYTES_MAX_CEILING: usize = 1 << 20;
/// Default cap on a JSON or form body, in bytes. Past it the answer is 413.
pub const BODY_BYTES_MAX_DEFAULT: usize = 1024 * 1024;
/// Default cap on a `PUT /media/{key}` body, in bytes.
pub const MEDIA_BODY_BYTES_MAX_DEFAULT: usize = 64 * 1024 * 1024;
/// Headers parsed per request (a fixed array for httparse); more is 431.
pub const HEADERS_COUNT_MAX: usize = 64;
/// Longest line of a chunked body's size line (hex digits + extensions).
pub const CHUNK_LINE_BYTES_MAX: usize = 1024;
/// Pipelined requests parsed ahead of their replies on one connection.
pub const PIPELINE_DEPTH_MAX: usize = 128;

/// Longest opaque id (`acc_…`, `us_…`, …), per the contract.
pub const ID_BYTES_MAX: usize = 64;
/// Longest SIP domain / digest realm.
pub const DOMAIN_BYTES_MAX: usize = 253;
/// Longest digest field (username, nonce, uri, cnonce, …) accepted by /auth.
pub const DIGEST_FIELD_BYTES_MAX: usize = 1024;

/// Caps on the lists of one account document.
pub const DOMAINS_PER_ACCOUNT_MAX: usize = 64;
pub const USERS_PER_ACCOUNT_MAX: usize = 20_000;
pub const DEVICES_PER_ACCOUNT_MAX: usize = 50_000;
pub const DIDS_PER_ACCOUNT_MAX: usize = 20_000;
pub const EXTENSIONS_PER_ACCOUNT_MAX: usize = 20_000;
pub const FLOWS_PER_ACCOUNT_MAX: usize = 1_000;
pub const NODES_PER_FLOW_MAX: usize = 1_000;
pub const EDGES_PER_FLOW_MAX: usize = 4_000;
pub const QUEUES_PER_ACCOUNT_MAX: usize = 1_000;
pub const QUEUE_MEMBERS_PER_ACCOUNT_MAX: usize = 50_000;
pub const SCHEDULES_PER_ACCOUNT_MAX: usize = 1_000;
pub const RULES_PER_SCHEDULE_MAX: usize = 1_000;
pub const TRUNKS_PER_ACCOUNT_MAX: usize = 1_000;
pub const CALL_LIMITS_PER_ACCOUNT_MAX: usize = 1_000;
pub const VOICEMAIL_BOXES_PER_ACCOUNT_MAX: usize = 20_000;
pub const MEDIA_FILES_PER_ACCOUNT_MAX: usize = 20_000;
pub const AGENT_KEYS_PER_ACCOUNT_MAX: usize = 64;
/// Accounts one brain holds.
pub const ACCOUNTS_MAX: usize = 100_000;

/// (nonce, nc) pairs remembered for replay detection, per shard. When full,
/// the pair closest to expiry is forgotten first.
pub const REPLAY_ENTRIES_MAX: usize = 1_000_000;
/// Source IPs whose /auth failures are tracked, per shard. When full, the IP
/// with the oldest last failure is forgotten first.
pub const AUTH_FAILURE_IPS_MAX: usize = 100_000;
/// Failure timestamps kept per source IP (enough for any sane threshold).
pub const AUTH_FAILURES_PER_IP_MAX: usize = 1_024;

/// Longest `callId` accepted (SIP Call-IDs are short; some edges add a suffix).
pub const CALL_ID_BYTES_MAX: usize = 256;
/// Longest SIP field of a `/route` or `/presence/event` body (user parts,
/// URIs, display names).
pub const SIP_FIELD_BYTES_MAX: usize = 1024;
/// Live calls one shard tracks; past it `/route` answers 503 (capacity).
pub const LIVE_CALLS_PER_SHARD_MAX: usize = 200_000;
/// Ended calls whose CDR and trace a shard keeps (the oldest goes first).
pub const ENDED_CALLS_PER_SHARD_MAX: usize = 20_000;
/// Call ids one `sync` report may list.
pub const SYNC_CALL_IDS_MAX: usize = 100_000;
/// Hops followed through forwards and extensions before giving up (loops).
pub const ROUTE_HOPS_MAX: usize = 8;

/// Longest text field of a flow node or flow variable value.
pub const FLOW_TEXT_BYTES_MAX: usize = 1024;
/// Longest `regex` of a collect or condition node.
pub const FLOW_REGEX_BYTES_MAX: usize = 256;
/// Variables one flow session holds.
pub const FLOW_VARS_MAX: usize = 64;
/// Live flow sessions one shard runs; past it `/flow` start answers 503.
pub const FLOW_SESSIONS_PER_SHARD_MAX: usize = 100_000;
/// Nodes one `/flow` answer may pass through without a blocking command.
pub const FLOW_NODES_PER_ANSWER_MAX: usize = 100;
/// Steps one session may take in all.
pub const FLOW_STEPS_MAX: u32 = 1_000;
/// Trace entries a session buffers (later ones are dropped).
pub const FLOW_TRACE_MAX: usize = 256;
/// Longest media object key (the contract: 1..512 characters).
pub const MEDIA_KEY_BYTES_MAX: usize = 512;
/// Longest segment of a media key: a file name on Linux (NAME_MAX).
pub const MEDIA_KEY_SEGMENT_BYTES_MAX: usize = 255;
/// Segments of a media key: bounds the directories one upload creates and
/// syncs.
pub const MEDIA_KEY_SEGMENTS_MAX: usize = 16;
/// Bytes at the start of a WAV upload searched for its `fmt ` and `data`
/// chunks (recorders put a few metadata chunks first, never megabytes).
pub const WAV_HEADER_BYTES_MAX: usize = 64 * 1024;
/// Voicemail messages remembered per account; the oldest is forgotten
/// first (its object stays in the media store).
pub const VOICEMAILS_PER_ACCOUNT_MAX: usize = 1_000;
/// TTS engine processes one shard runs at once (each synthesizes one
/// prompt); the request waits for a free one.
pub const TTS_ENGINES_PER_SHARD_MAX: usize = 4;
/// How long one TTS engine run may take before it is killed (the prompt is
/// then reported as failed).
pub const TTS_ENGINE_TIMEOUT_MS: u64 = 60_000;
/// Bytes read from or written to a media object per I/O.
pub const MEDIA_IO_CHUNK_BYTES: usize = 64 * 1024;
/// Edge nodes whose ban reports the control shard keeps. A new node past
/// it takes the place of the node silent the longest, if that one is
/// stale; otherwise its report answers 503.
pub const SECURITY_NODES_MAX: usize = 1_000;
/// Bans one `/security/report` may carry (a 1 MiB body holds about that many).
pub const BANS_PER_REPORT_MAX: usize = 10_000;
/// Ban rows (node, IP) kept fleet-wide; a report past it answers 503.
pub const BAN_ROWS_MAX: usize = 1_000_000;
/// Ended bans kept for the `expired` view and the "banned again within
/// 24 h" rule (the oldest ended goes first).
pub const BAN_HISTORY_MAX: usize = 100_000;
/// Ban rows per logged event: a big report becomes several bounded WAL
/// records.
pub const BAN_ROWS_PER_EVENT: usize = 100;
/// Longest ban `reason` (`auth_fail`, `scanner`, `flood`, …).
pub const BAN_REASON_BYTES_MAX: usize = 64;
/// Longest node name of a report.
pub const NODE_BYTES_MAX: usize = 128;
/// Allowlist entries (addresses and networks).
pub const ALLOW_ENTRIES_MAX: usize = 10_000;
/// Longest allowlist `note`.
pub const ALLOW_NOTE_BYTES_MAX: usize = 256;
/// Entries one `GET /security/bans` answers (`limit`; default 100).
pub const BANS_LIMIT_MAX: usize = 1_000;
/// Longest `q` of `GET /security/bans`.
pub const BANS_QUERY_BYTES_MAX: usize = 64;
/// Offers one decision makes at most (each takes a waiting caller, so a
/// decision ends; the next tick or poll goes on).
pub const ACD_OFFERS_PER_DECISION_MAX: usize = 256;
/// Queue memberships one `POST /agent` may set.
pub const AGENT_QUEUES_MAX: usize = 64;
/// Length of a `POST /agent` `reason`.
pub const AGENT_REASON_BYTES_MAX: usize = 128;

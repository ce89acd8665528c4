//! The closed vocabularies of the document (reference §4–§14). Each is a
//! serde enum written in snake_case, so an unknown value is refused while
//! parsing with a message listing the accepted ones.

use serde::{Deserialize, Serialize};

/// Declares a string enum (its `#[default]` variant is the document's
/// default) with `as_str`.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`")]
                $(#[$vmeta])*
                #[serde(rename = $text)]
                $variant,
            )+
        }

        impl $name {
            /// The value as the document spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
    };
}

vocabulary!(
    /// `account.status`: only `active` accounts place or take calls.
    AccountStatus {
        #[default] Active => "active",
        Suspended => "suspended",
        Closed => "closed",
    }
);

vocabulary!(
    /// `did.status`: `disabled` and `virtual` DIDs are not reachable from the PSTN.
    DidStatus {
        #[default] Active => "active",
        Disabled => "disabled",
        Virtual => "virtual",
    }
);

vocabulary!(
    /// Where a call goes next (`*_dest_kind`, `fwd_*_kind`), reference §4.5.
    DestKind {
        Flow => "flow",
        User => "user",
        Extension => "extension",
        RingGroup => "ring_group",
        Queue => "queue",
        Voicemail => "voicemail",
        Conference => "conference",
        Forward => "forward",
        #[default] Hangup => "hangup",
    }
);

vocabulary!(
    /// `account.voice_gender`: the narrator of system prompts (default male).
    VoiceGender {
        #[default] Male => "male",
        Female => "female",
    }
);

vocabulary!(
    /// `sip_user.ring_strategy`: how a user's devices ring (default simultaneous).
    RingStrategy {
        #[default] Simultaneous => "simultaneous",
        Sequential => "sequential",
        Specific => "specific",
    }
);

vocabulary!(
    /// `did.fax_mode` (default voice).
    FaxMode {
        #[default] Voice => "voice",
        T38 => "t38",
        Passthrough => "passthrough",
    }
);

vocabulary!(
    /// `sip_trunk.role`: a PSTN carrier or a customer PBX (default carrier).
    TrunkRole {
        #[default] Carrier => "carrier",
        Pbx => "pbx",
    }
);

vocabulary!(
    /// `sip_trunk.direction` (default both).
    TrunkDirection {
        Inbound => "inbound",
        Outbound => "outbound",
        #[default] Both => "both",
    }
);

vocabulary!(
    /// `sip_trunk.transport` toward the peer (default udp).
    TrunkTransport {
        #[default] Udp => "udp",
        Tcp => "tcp",
        Tls => "tls",
    }
);

vocabulary!(
    /// `sip_trunk.inbound_auth`: how the peer's calls are trusted.
    InboundAuth {
        /// By source address (`inbound_cidrs`, else the proxy's address).
        #[default] Ip => "ip",
        /// By digest credentials.
        Digest => "digest",
    }
);

vocabulary!(
    /// `queue.strategy`: how the next agent is chosen (default longest_idle).
    QueueStrategy {
        #[default] LongestIdle => "longest_idle",
        RoundRobin => "round_robin",
        RingAll => "ring_all",
        FewestCalls => "fewest_calls",
        LeastTalkTime => "least_talk_time",
        TopDown => "top_down",
        Random => "random",
    }
);

vocabulary!(
    /// `queue.moh_mode`: shared stream (default) or per-caller file.
    MohMode {
        #[default] Stream => "stream",
        File => "file",
    }
);

vocabulary!(
    /// `agent_queue_assignment.mode`: how the membership was made
    /// (admin `static`, self-selected `dynamic`, supervisor `mandatory`).
    MemberMode {
        #[default] Static => "static",
        Dynamic => "dynamic",
        Mandatory => "mandatory",
    }
);

vocabulary!(
    /// `time_schedule_rule.kind`.
    RuleKind {
        #[default] Weekly => "weekly",
        Date => "date",
        DateRange => "date_range",
    }
);

vocabulary!(
    /// `call_limit.scope_kind`: what one counter is kept for.
    ScopeKind {
        #[default] Account => "account",
        User => "user",
        Did => "did",
        Number => "number",
    }
);

vocabulary!(
    /// `call_limit.direction`: the calls a rate limit counts.
    LimitDirection {
        In => "in",
        Out => "out",
        Dialer => "dialer",
        #[default] Any => "any",
    }
);

vocabulary!(
    /// `media_file.kind`.
    MediaKind {
        #[default] Prompt => "prompt",
        Moh => "moh",
        Greeting => "greeting",
        Announcement => "announcement",
    }
);

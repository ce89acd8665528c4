//! A prober of everything else that exists: health and readiness, the
//! gates (missing and wrong tokens), endpoints later issues build (501
//! after their gate), unknown paths, and malformed HTTP. Each probe has one
//! right answer.

use super::{Actor, Ctx, Next, ADMIN_TOKEN, EDGE_TOKEN};
use crate::client::{Op, Reply};
use rand::Rng;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

/// A probe: what to send and the one status it must get.
struct Probe {
    name: &'static str,
    status: u16,
    build: fn(u64) -> Op,
}

const PROBES: &[Probe] = &[
    Probe {
        name: "healthz",
        status: 200,
        build: |id| Op::new(id, "healthz", "GET", "/healthz"),
    },
    Probe {
        name: "readyz",
        status: 200,
        build: |id| Op::new(id, "readyz", "GET", "/readyz"),
    },
    Probe {
        name: "route without `to`",
        status: 400,
        build: |id| {
            Op::new(id, "route-missing-to", "POST", "/route")
                .header("authorization", &format!("Bearer {EDGE_TOKEN}"))
                .json(&json!({"callId": "c1"}))
        },
    },
    Probe {
        name: "dialog report of an unknown call",
        status: 404,
        build: |id| {
            Op::new(id, "dialog-unknown", "POST", "/presence/event")
                .header("authorization", &format!("Bearer {EDGE_TOKEN}"))
                .json(&json!({"type": "dialog", "callId": "never-routed", "state": "terminated"}))
        },
    },
    Probe {
        name: "flow step of an unknown call",
        status: 404,
        build: |id| {
            Op::new(id, "flow-unknown", "POST", "/flow")
                .header("authorization", &format!("Bearer {EDGE_TOKEN}"))
                .json(&json!({"callId": "never-started", "outcome": "done"}))
        },
    },
    Probe {
        name: "agent presence event without its fields",
        status: 400,
        build: |id| {
            Op::new(id, "presence-agent", "POST", "/presence/event")
                .header("authorization", &format!("Bearer {EDGE_TOKEN}"))
                .json(&json!({"type": "agent"}))
        },
    },
    Probe {
        name: "route without token",
        status: 401,
        build: |id| Op::new(id, "route-no-token", "POST", "/route").json(&json!({})),
    },
    Probe {
        name: "auth with a wrong token",
        status: 403,
        build: |id| {
            Op::new(id, "auth-wrong-token", "POST", "/auth")
                .header("authorization", "Bearer wrong-token-0000000000")
                .json(&json!({"method": "REGISTER", "realm": "x.sim.test"}))
        },
    },
    Probe {
        name: "admin without token",
        status: 401,
        build: |id| Op::new(id, "admin-no-token", "GET", "/admin/accounts/acc_0_0"),
    },
    Probe {
        name: "metrics without the admin token",
        status: 401,
        build: |id| Op::new(id, "metrics-no-token", "GET", "/metrics"),
    },
    Probe {
        name: "debug from outside loopback and debug_cidrs without a token",
        status: 401,
        build: |id| {
            Op::new(id, "debug-no-token", "GET", "/debug")
                .header("upgrade", "websocket")
                .header("connection", "Upgrade")
        },
    },
    Probe {
        name: "debug with a wrong admin token",
        status: 403,
        build: |id| {
            Op::new(id, "debug-wrong-token", "GET", "/debug")
                .header("x-admin-token", "wrong-token-0000000000")
        },
    },
    Probe {
        name: "unknown path",
        status: 404,
        build: |id| Op::new(id, "unknown-path", "GET", "/no/such/path"),
    },
    Probe {
        name: "auth with a body that is not JSON",
        status: 400,
        build: |id| {
            let mut op = Op::new(id, "auth-bad-json", "POST", "/auth")
                .header("authorization", &format!("Bearer {EDGE_TOKEN}"))
                .header("content-type", "application/json");
            op.body = Some(b"{not json".to_vec());
            op
        },
    },
    Probe {
        name: "malformed request line",
        status: 400,
        build: |id| {
            let mut op = Op::new(id, "malformed", "GET", "/");
            op.raw = Some(b"GET / HTTP/1.1\r\nbad header line\r\n\r\n".to_vec());
            op
        },
    },
    Probe {
        name: "security report without a node",
        status: 400,
        build: |id| {
            Op::new(id, "security-report-no-node", "POST", "/security/report")
                .header("x-edge-token", EDGE_TOKEN)
                .json(&json!({"bans": []}))
        },
    },
    Probe {
        name: "allowlist entry that is not an address",
        status: 422,
        build: |id| {
            Op::new(id, "allow-bad-ip", "POST", "/security/allow")
                .header("x-admin-token", ADMIN_TOKEN)
                .json(&json!({"ip": "10.0.0.1/8"}))
        },
    },
    Probe {
        name: "ban view with an unknown status",
        status: 422,
        build: |id| {
            Op::new(id, "bans-bad-status", "GET", "/security/bans?status=gone")
                .header("x-admin-token", ADMIN_TOKEN)
        },
    },
    Probe {
        name: "removing an address nobody allowlisted",
        status: 404,
        build: |id| {
            Op::new(
                id,
                "allow-delete-absent",
                "DELETE",
                "/security/allow/192.0.2.250",
            )
            .header("x-admin-token", ADMIN_TOKEN)
        },
    },
    Probe {
        name: "roadmap endpoint",
        status: 501,
        build: |id| Op::new(id, "roadmap", "GET", "/v1/calls"),
    },
];

/// One prober.
pub struct Prober {
    name: String,
    peer: IpAddr,
    current: Option<(u64, usize)>,
}

impl Prober {
    pub fn new(index: usize) -> Prober {
        Prober {
            name: format!("prober-{index}"),
            peer: IpAddr::V4(Ipv4Addr::new(10, 3, 0, index as u8 + 1)),
            current: None,
        }
    }
}

impl Actor for Prober {
    fn name(&self) -> &str {
        &self.name
    }

    fn peer(&self) -> IpAddr {
        self.peer
    }

    fn next(&mut self, ctx: &mut Ctx) -> Next {
        if ctx.healed {
            return Next::Done;
        }
        if ctx.rng.gen_bool(0.3) {
            return Next::Sleep(ctx.rng.gen_range(1..300));
        }
        let index = ctx.rng.gen_range(0..PROBES.len());
        let op = ctx.model.new_op();
        self.current = Some((op, index));
        Next::Send((PROBES[index].build)(op).attempts(3))
    }

    fn on_reply(&mut self, op: &Op, reply: &Reply, ctx: &mut Ctx) {
        let (id, index) = self.current.take().expect("a probe in flight");
        assert_eq!(id, op.id);
        let probe = &PROBES[index];
        if reply.status != probe.status {
            ctx.violation(format!(
                "{}: probe `{}` answered {} {:?}, expected {}",
                self.name,
                probe.name,
                reply.status,
                reply.code(),
                probe.status
            ));
        }
    }

    fn on_give_up(&mut self, _op: &Op, _copies: u32, _ctx: &mut Ctx) {
        self.current = None;
    }
}

//! Connections: bytes in through the real HTTP parser, requests through
//! the real router and gate, replies out in order (as `runtime/src/server/
//! conn.rs` and `node.rs` do).

use super::{Brain, Dest, MeshMsg, Out};
use crate::net::ConnId;
use sipbrain_core::api::{self, ApiError, Prepared};
use sipbrain_core::http::{Parser, Request, Response};
use std::net::IpAddr;

/// The brain's end of a connection.
pub struct Conn {
    /// The core that accepted it.
    shard: usize,
    peer: IpAddr,
    parser: Parser,
    /// A request is being answered; the next waits (in-order replies).
    busy: bool,
    /// The brain decided to close after the reply in progress.
    closing: bool,
}

impl Brain {
    /// A client connected to core `shard`. False when the process is down
    /// (connection refused).
    pub fn on_connect(&mut self, conn: ConnId, shard: usize, peer: IpAddr) -> bool {
        if !self.is_up() {
            return false;
        }
        let parser = Parser::new(self.settings.limits);
        self.conns.insert(
            conn,
            Conn {
                shard,
                peer,
                parser,
                busy: false,
                closing: false,
            },
        );
        true
    }

    /// Bytes arrived on `conn`.
    pub fn on_bytes(&mut self, wall_ms: u64, conn: ConnId, bytes: &[u8], out: &mut Vec<Out>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.parser.feed(bytes);
        self.runnable.push(conn);
        self.run(wall_ms, out);
    }

    /// The client closed `conn`; a partial request in it is dropped. True
    /// when a request of it is still being answered (a forwarded call may
    /// yet be decided on its owning core).
    pub fn on_close(&mut self, conn: ConnId) -> bool {
        self.conns.remove(&conn).is_some_and(|c| c.busy)
    }

    /// Serves every connection that may have a request to start.
    pub(super) fn run(&mut self, wall_ms: u64, out: &mut Vec<Out>) {
        while let Some(conn) = self.runnable.pop() {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if c.busy || c.closing {
                continue;
            }
            match c.parser.poll_request() {
                Ok(Some(request)) => {
                    c.busy = true;
                    self.handle(wall_ms, conn, request, out);
                }
                Ok(None) => {}
                Err(error) => {
                    let response =
                        ApiError::new(error.status, error.code, error.message).to_response();
                    c.busy = true;
                    out.push(Out::Resolved {
                        conn,
                        decision: None,
                    });
                    self.respond(conn, response, false, out);
                }
            }
        }
    }

    /// Routes, gates and decodes a request, then runs its call here or on
    /// its owning core.
    fn handle(&mut self, wall_ms: u64, conn: ConnId, request: Request, out: &mut Vec<Out>) {
        let c = &self.conns[&conn];
        let (shard, peer) = (c.shard, c.peer);
        let keep_alive = request.keep_alive;
        let node = &self.nodes[shard];
        let prepared = api::prepare(&request, peer, &self.settings.gates, node.shard.directory());
        let call = match prepared {
            Prepared::Reply(response) => {
                out.push(Out::Resolved {
                    conn,
                    decision: None,
                });
                return self.respond(conn, response, keep_alive, out);
            }
            Prepared::Health { ready_probe } => {
                out.push(Out::Resolved {
                    conn,
                    decision: None,
                });
                let response = self.health(shard, ready_probe);
                return self.respond(conn, response, keep_alive, out);
            }
            Prepared::Observe(_) => {
                // /metrics and /debug read the runtime's process (threads,
                // sockets): the simulator checks their gates only.
                out.push(Out::Resolved {
                    conn,
                    decision: None,
                });
                let response =
                    api::ApiError::not_implemented("/metrics and /debug in the simulator")
                        .to_response();
                return self.respond(conn, response, keep_alive, out);
            }
            Prepared::Call(call) => call,
            // The media store and the TTS engine are runtime I/O, not
            // simulated: no actor sends these.
            Prepared::Media(_) | Prepared::Tts(_) => {
                out.push(Out::Resolved {
                    conn,
                    decision: None,
                });
                let response = ApiError::not_implemented("media in the simulator").to_response();
                return self.respond(conn, response, keep_alive, out);
            }
        };
        let key = call.key(&node.shard);
        if key == api::ShardKey::Every {
            // Runs on every core; `respond` merges the replies.
            self.gathers.insert(conn, Vec::new());
            for target in 0..self.settings.shards {
                if target == shard {
                    let dest = Dest::Conn { conn, keep_alive };
                    self.execute(wall_ms, shard, (*call).clone(), dest, out);
                } else {
                    self.forward(shard, target, conn, keep_alive, call.clone(), out);
                }
            }
            return;
        }
        let target = key.shard(self.settings.shards, shard);
        if target == shard {
            return self.execute(wall_ms, shard, *call, Dest::Conn { conn, keep_alive }, out);
        }
        self.forward(shard, target, conn, keep_alive, call, out);
    }

    /// Sends a call to core `target` over the bounded mesh (503 when full).
    fn forward(
        &mut self,
        shard: usize,
        target: usize,
        conn: ConnId,
        keep_alive: bool,
        call: Box<api::Call>,
        out: &mut Vec<Out>,
    ) {
        let queued = self.mesh_queued.entry((shard, target)).or_default();
        if *queued >= self.settings.mesh_capacity {
            out.push(Out::Resolved {
                conn,
                decision: None,
            });
            let response =
                ApiError::new(503, "overloaded", "the owning shard's queue is full; retry")
                    .to_response();
            return self.respond(conn, response, keep_alive, out);
        }
        *queued += 1;
        let msg = MeshMsg::Call {
            conn,
            keep_alive,
            call,
        };
        out.push(Out::Mesh {
            from: shard,
            to: target,
            msg,
        });
    }

    /// `/healthz` and `/readyz` as the runtime answers them (recovery is
    /// instant here, so a running brain is ready).
    fn health(&self, shard: usize, ready_probe: bool) -> Response {
        let body = if ready_probe {
            serde_json::json!({"status": "ready", "shards": self.settings.shards})
        } else {
            serde_json::json!({"status": "live", "shard": shard})
        };
        api::error::ok(body)
    }

    /// Writes the reply to the request in progress on `conn` and lets the
    /// next one start. A connection that is gone drops it.
    pub(super) fn respond(
        &mut self,
        conn: ConnId,
        response: Response,
        keep_alive: bool,
        out: &mut Vec<Out>,
    ) {
        let mut response = response;
        if let Some(replies) = self.gathers.get_mut(&conn) {
            replies.push(response);
            if replies.len() < self.settings.shards {
                return;
            }
            let replies = self.gathers.remove(&conn).expect("just seen");
            response = api::merge_every(replies);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        assert!(
            c.busy,
            "a reply for a connection with no request in progress"
        );
        let mut bytes = Vec::new();
        response.encode(keep_alive, &mut bytes);
        out.push(Out::Send { conn, bytes });
        c.busy = false;
        if keep_alive {
            self.runnable.push(conn);
        } else {
            c.closing = true;
            self.conns.remove(&conn);
            out.push(Out::Close { conn });
        }
    }
}

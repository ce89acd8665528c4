//! The client side of every actor: connections (kept alive and reused),
//! sending, timeouts and retries (as Kamailio's http_client does),
//! duplicates, reading replies.

use super::{Ev, InFlight, World};
use crate::actors::Next;
use crate::client::{Op, Reply};
use crate::net::{ConnId, Delivery, Dir};
use rand::Rng;

impl World {
    /// An actor's timer fired: if idle, ask it what to do next.
    pub(super) fn wake(&mut self, actor: usize) {
        let client = &self.clients[actor];
        if client.op.is_some() || client.done {
            return;
        }
        match self.with_actor(actor, |a, ctx| a.next(ctx)) {
            Next::Send(op) => {
                let name = self.actors[actor].name().to_string();
                self.note(format!(
                    "{name} sends op {} {} {}",
                    op.id, op.method, op.path
                ));
                self.clients[actor].op = Some(InFlight {
                    op,
                    attempts: 0,
                    copies: 0,
                });
                self.send_attempt(actor);
            }
            Next::Sleep(ms) => {
                let at = self.now() + ms * 1000;
                self.schedule(at, Ev::Wake { actor });
            }
            Next::Done => {
                self.clients[actor].done = true;
                let name = self.actors[actor].name().to_string();
                self.note(format!("{name} done"));
            }
        }
    }

    /// Sends the actor's operation once more (on its connection, or a new
    /// one), maybe with a duplicate, and arms the timeout.
    fn send_attempt(&mut self, actor: usize) {
        let now = self.now();
        let peer = self.actors[actor].peer();
        let conn = match self.clients[actor].conn {
            Some(conn) => conn,
            None => {
                let conn = self.open(Some(actor), peer);
                self.clients[actor].conn = Some(conn);
                self.clients[actor].reader = Default::default();
                conn
            }
        };
        let flight = self.clients[actor].op.as_mut().expect("an op to send");
        flight.attempts += 1;
        flight.copies += 1;
        let op = flight.op.clone();
        let bytes = op.encode(&mut self.wire);
        self.carry(conn, &op, &bytes, true);
        if self.net.duplicate() {
            let ghost = self.open(None, peer);
            self.clients[actor].op.as_mut().expect("op").copies += 1;
            self.note(format!("duplicate of op {} on conn {ghost}", op.id));
            self.carry(ghost, &op, &bytes, false);
            // The ghost gives up like a client would.
            let at = now + self.knobs.client_timeout_ms * 1000;
            if let Some((at2, delivery)) = self.net.close(at, ghost, Dir::ToBrain) {
                self.schedule(
                    at2.max(at),
                    Ev::ToBrain {
                        conn: ghost,
                        delivery,
                    },
                );
            }
        }
        let client = &mut self.clients[actor];
        client.token += 1;
        let token = client.token;
        self.schedule(
            now + self.knobs.client_timeout_ms * 1000,
            Ev::Timeout { actor, token },
        );
    }

    /// Opens a connection for `actor` (None: a duplicate's ghost) from
    /// `peer`; a brain that is down refuses it.
    fn open(&mut self, actor: Option<usize>, peer: std::net::IpAddr) -> ConnId {
        let conn = self.net.connect(actor, peer, self.knobs.shards);
        let shard = self.net.links[&conn].shard;
        if !self.brain.on_connect(conn, shard, peer) {
            self.brain_gone(conn);
            self.close(conn, Dir::ToClient);
        }
        conn
    }

    /// Puts `op`'s bytes on `conn`.
    fn carry(&mut self, conn: ConnId, op: &Op, bytes: &[u8], resettable: bool) {
        let Some(link) = self.net.links.get_mut(&conn) else {
            return;
        };
        link.op = Some(op.id);
        link.resolved = false;
        if !link.brain_gone {
            self.ops.carried(op.id, conn);
        }
        let plan = self
            .net
            .send(self.now(), conn, Dir::ToBrain, bytes, resettable);
        for (at, delivery) in plan {
            self.schedule(at, Ev::ToBrain { conn, delivery });
        }
    }

    /// Closes the actor's connection from its side.
    fn hang_up(&mut self, actor: usize) {
        if let Some(conn) = self.clients[actor].conn.take() {
            self.close(conn, Dir::ToBrain);
        }
    }

    /// A timeout fired: retry on a new connection, or give up.
    pub(super) fn timeout(&mut self, actor: usize, token: u64) {
        let client = &self.clients[actor];
        if client.token != token || client.op.is_none() {
            return;
        }
        self.hang_up(actor);
        let flight = self.clients[actor].op.as_ref().expect("op");
        let name = self.actors[actor].name().to_string();
        if flight
            .op
            .attempts_max
            .is_some_and(|max| flight.attempts >= max)
        {
            let flight = self.clients[actor].op.take().expect("op");
            self.note(format!(
                "{name} gives up op {} after {} attempts",
                flight.op.id, flight.attempts
            ));
            let copies = flight.copies;
            self.with_actor(actor, |a, ctx| a.on_give_up(&flight.op, copies, ctx));
            let at = self.now() + 1_000;
            self.schedule(at, Ev::Wake { actor });
            return;
        }
        self.note(format!("{name} retries op {}", flight.op.id));
        self.send_attempt(actor);
    }

    /// Bytes or a close reached a client.
    pub(super) fn deliver_to_client(&mut self, conn: ConnId, delivery: Delivery) {
        let Some(link) = self.net.links.get(&conn) else {
            return;
        };
        let Some(actor) = link.actor else {
            // A ghost: it reads nothing and hangs up on any answer.
            self.close(conn, Dir::ToBrain);
            return;
        };
        if self.clients[actor].conn != Some(conn) {
            return; // an old connection the client already left
        }
        match delivery {
            Delivery::Close => {
                self.note(format!(
                    "conn {conn} closed on {}",
                    self.actors[actor].name()
                ));
                self.clients[actor].conn = None;
                self.net.close(self.now(), conn, Dir::ToBrain);
                self.net.forget(conn);
                if self.clients[actor].op.is_some() {
                    self.retry_soon(actor);
                }
            }
            Delivery::Bytes(bytes) => {
                self.clients[actor].reader.feed(&bytes);
                loop {
                    match self.clients[actor].reader.next_reply() {
                        Ok(Some(reply)) => self.on_reply(actor, conn, reply),
                        Ok(None) => break,
                        Err(message) => {
                            self.violations.push(("http-replies".into(), message));
                            break;
                        }
                    }
                    if self.clients[actor].conn != Some(conn) {
                        break;
                    }
                }
            }
        }
    }

    /// Retries after a short backoff (connection lost, 503).
    fn retry_soon(&mut self, actor: usize) {
        let client = &mut self.clients[actor];
        client.token += 1;
        let token = client.token;
        let backoff = self.think.gen_range(1..50) * 1000;
        let at = self.now() + backoff;
        self.schedule(at, Ev::Timeout { actor, token });
    }

    fn on_reply(&mut self, actor: usize, conn: ConnId, mut reply: Reply) {
        let Some(flight) = self.clients[actor].op.as_ref() else {
            self.violations.push((
                "http-replies".into(),
                format!("conn {conn}: a reply nobody asked for"),
            ));
            return;
        };
        reply.copies = flight.copies;
        let name = self.actors[actor].name().to_string();
        self.note(format!(
            "{name} got {} {:?} for op {}",
            reply.status,
            reply.code(),
            flight.op.id
        ));
        if reply.closes() {
            self.hang_up(actor);
        }
        if reply.status == 503 {
            // Overloaded or not ready: retry later, as clients do.
            return self.retry_soon(actor);
        }
        let flight = self.clients[actor].op.take().expect("op");
        self.clients[actor].token += 1;
        self.outcome.replies += 1;
        let line = format!(
            "{name} {} {} {}",
            flight.op.kind,
            reply.status,
            reply.code().unwrap_or("ok")
        );
        self.transcript.push(line);
        self.with_actor(actor, |a, ctx| a.on_reply(&flight.op, &reply, ctx));
        let think = self.think.gen_range(0..2_000);
        self.schedule(self.now() + think, Ev::Wake { actor });
    }
}

//! A SIP edge node (Kamailio) authenticating REGISTERs and INVITEs: asks
//! for a challenge, answers it with a real digest (right or wrong password,
//! MD5 or SHA-256), reuses a nonce with the next nc, lets one go stale, and
//! replays requests that succeeded (which must never succeed twice).
//! Every answer is checked against the model of the accounts.

use super::{Actor, Ctx, Next, EDGE_TOKEN};
use crate::client::{Op, Reply};
use crate::model::{md5_hex, sha256_hex, AccountModel};
use rand::Rng;
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};

/// The credentials a digest was computed with.
#[derive(Clone, Debug)]
struct Cred {
    account: Option<String>,
    realm: String,
    username: String,
    password: String,
    sha256: bool,
}

/// A challenge in hand.
#[derive(Clone, Debug)]
struct Challenge {
    cred: Cred,
    nonce: String,
    nc: u32,
    /// Held past the nonce lifetime already.
    held: bool,
}

/// What an operation in flight was for.
#[derive(Clone, Debug)]
enum Intent {
    Challenge {
        cred: Cred,
    },
    Digest {
        challenge: Challenge,
        body: Value,
        seen: Vec<Option<AccountModel>>,
        from_op: u64,
    },
    Replay {
        cred: Cred,
        seen: Vec<Option<AccountModel>>,
        from_op: u64,
    },
}

/// What the model says one possible account state answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Ok,
    Forbidden,
    Invalid,
}

/// One SIP edge node.
pub struct Edge {
    name: String,
    peer: IpAddr,
    source_ip: String,
    intent: Option<(u64, Intent)>,
    challenge: Option<Challenge>,
    /// Digests that succeeded, to replay.
    succeeded: Vec<(Cred, Value)>,
    /// Requests with credentials sent (every copy), for the 429 check.
    failures_possible: usize,
}

impl Edge {
    pub fn new(index: usize) -> Edge {
        Edge {
            name: format!("edge-{index}"),
            peer: IpAddr::V4(Ipv4Addr::new(10, 2, 0, index as u8 + 1)),
            source_ip: format!("198.51.100.{}", index + 1),
            intent: None,
            challenge: None,
            succeeded: Vec::new(),
            failures_possible: 0,
        }
    }

    /// The /auth request for `body`: JSON with parsed fields, JSON with the
    /// raw Authorization header, or a form with it (as Kamailio's
    /// http_client posts) — the same digest either way.
    fn auth_op(&self, op: u64, body: &Value, ctx: &mut Ctx) -> Op {
        let request = Op::new(op, "auth", "POST", "/auth")
            .header("x-edge-token", EDGE_TOKEN)
            .attempts(ctx.knobs.edge_attempts_max);
        let Some(header) = authorization(body) else {
            return request.json(body);
        };
        let method = body["method"].as_str().unwrap_or("REGISTER");
        let source = body["sourceIp"].as_str().unwrap_or("");
        match ctx.rng.gen_range(0..3) {
            0 => request.json(body),
            1 => request
                .json(&json!({"method": method, "authorization": header, "sourceIp": source})),
            _ => request.form(&[
                ("method", method),
                ("authorization", &header),
                ("sourceIp", source),
            ]),
        }
    }

    /// Picks who to authenticate as: a modelled user (with the password of
    /// one possible state, or a wrong one), an unknown user or realm.
    fn pick(&self, ctx: &mut Ctx) -> Cred {
        let slots: Vec<String> = ctx.model.accounts.keys().cloned().collect();
        if slots.is_empty() || ctx.rng.gen_bool(0.05) {
            return Cred {
                account: None,
                realm: "nowhere.sim.test".into(),
                username: "1000".into(),
                password: "pw".into(),
                sha256: false,
            };
        }
        let id = slots[ctx.rng.gen_range(0..slots.len())].clone();
        let slot = &ctx.model.accounts[&id];
        let possible = slot.possible(ctx.ops);
        let state = possible[ctx.rng.gen_range(0..possible.len())].clone();
        let user = state.as_ref().and_then(|s| {
            let users = &s.users;
            (!users.is_empty()).then(|| users[ctx.rng.gen_range(0..users.len())].clone())
        });
        let (username, password, sha) = match user {
            Some(u) => (u.username, u.password, u.sha256),
            None => (
                format!("{}", 1000 + ctx.rng.gen_range(0..6)),
                "pw-unknown".into(),
                false,
            ),
        };
        let password = if ctx.rng.gen_bool(0.2) {
            "wrong-password".into()
        } else {
            password
        };
        Cred {
            account: Some(id),
            realm: slot.domain.clone(),
            username,
            password,
            sha256: sha && ctx.rng.gen_bool(0.5),
        }
    }

    fn digest_body(&self, challenge: &Challenge, ctx: &mut Ctx) -> Value {
        let cred = &challenge.cred;
        let method = if ctx.rng.gen_bool(0.5) {
            "REGISTER"
        } else {
            "INVITE"
        };
        let uri = format!("sip:{}", cred.realm);
        let nc = format!("{:08x}", challenge.nc);
        let cnonce = format!("{:016x}", ctx.rng.gen::<u64>());
        let hash = |parts: &[&str]| {
            if cred.sha256 {
                sha256_hex(parts)
            } else {
                md5_hex(parts)
            }
        };
        let ha1 = hash(&[&cred.username, &cred.realm, &cred.password]);
        let ha2 = hash(&[method, &uri]);
        let response = hash(&[&ha1, &challenge.nonce, &nc, &cnonce, "auth", &ha2]);
        json!({
            "method": method,
            "username": cred.username,
            "realm": cred.realm,
            "nonce": challenge.nonce,
            "uri": uri,
            "response": response,
            "qop": "auth",
            "nc": nc,
            "cnonce": cnonce,
            "algorithm": if cred.sha256 { "SHA-256" } else { "MD5" },
            "sourceIp": self.source_ip,
        })
    }

    fn seen(ctx: &Ctx, cred: &Cred) -> Vec<Option<AccountModel>> {
        match &cred.account {
            Some(id) => ctx.model.accounts[id].possible(ctx.ops),
            None => vec![None],
        }
    }

    /// Every state the account may have had while the request was out.
    fn possibilities(
        ctx: &Ctx,
        cred: &Cred,
        seen: &[Option<AccountModel>],
        from_op: u64,
    ) -> Vec<Option<AccountModel>> {
        match &cred.account {
            Some(id) => ctx.model.accounts[id].possible_between(seen, from_op, ctx.ops),
            None => seen.to_vec(),
        }
    }

    /// Judges a digest answer against every possibility.
    fn judge(
        &mut self,
        reply: &Reply,
        cred: &Cred,
        replay: bool,
        all: &[Option<AccountModel>],
        ctx: &mut Ctx,
    ) {
        let expects: Vec<Expect> = all.iter().map(|s| expect(s.as_ref(), cred)).collect();
        let could = |e: Expect| expects.contains(&e);
        let right = could(Expect::Ok) || could(Expect::Forbidden);
        let ok = match (reply.status, reply.code()) {
            (200, _) => {
                let body = reply.json.as_ref();
                let same = body
                    .and_then(|b| b.get("account_id"))
                    .and_then(Value::as_str)
                    == cred.account.as_deref()
                    && body.and_then(|b| b.get("username")).and_then(Value::as_str)
                        == Some(cred.username.as_str());
                !replay && could(Expect::Ok) && same
            }
            (403, _) => !replay && could(Expect::Forbidden),
            (401, Some("invalid_credentials")) => could(Expect::Invalid),
            (401, Some("nonce_replay")) => (replay || reply.copies > 1) && right,
            (401, Some("challenge")) => {
                right
                    && reply
                        .json
                        .as_ref()
                        .and_then(|j| j.pointer("/challenge/stale"))
                        == Some(&json!(true))
            }
            (429, _) => self.failures_possible >= ctx.knobs.auth_fail_threshold,
            _ => false,
        };
        if !ok {
            let name = &self.name;
            ctx.violation(format!(
                "{name}: /auth {}for {}@{} (password {:?}, {}) answered {} {:?}; the model allows {expects:?}{}",
                if replay { "REPLAY " } else { "" },
                cred.username,
                cred.realm,
                cred.password,
                if cred.sha256 { "SHA-256" } else { "MD5" },
                reply.status,
                reply.code(),
                if reply.status == 429 { format!(" and {} possible failures < threshold", self.failures_possible) } else { String::new() },
            ));
        }
    }
}

/// The Authorization header a SIP client sends for the digest fields in
/// `body` (None for a request without credentials).
fn authorization(body: &Value) -> Option<String> {
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    let response = field("response")?;
    Some(format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", \
         algorithm={}, qop=auth, nc={}, cnonce=\"{}\"",
        field("username")?,
        field("realm")?,
        field("nonce")?,
        field("uri")?,
        field("algorithm")?,
        field("nc")?,
        field("cnonce")?,
    ))
}

/// The answer one account state gives to `cred` with a fresh nonce.
fn expect(state: Option<&AccountModel>, cred: &Cred) -> Expect {
    let Some(state) = state else {
        return Expect::Invalid;
    };
    let Some(user) = state.user(&cred.username) else {
        return Expect::Invalid;
    };
    if state.domain != cred.realm || user.password != cred.password || (cred.sha256 && !user.sha256)
    {
        return Expect::Invalid;
    }
    if !state.active || !user.user_active || !user.device_active {
        return Expect::Forbidden;
    }
    Expect::Ok
}

impl Actor for Edge {
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
        if let Some(mut challenge) = self.challenge.take() {
            if !challenge.held && ctx.rng.gen_bool(0.05) {
                // Let it go stale: the answer must be a fresh challenge.
                challenge.held = true;
                self.challenge = Some(challenge);
                return Next::Sleep(ctx.knobs.nonce_ttl_ms + 1_000);
            }
            let op = ctx.model.new_op();
            let body = self.digest_body(&challenge, ctx);
            let seen = Self::seen(ctx, &challenge.cred);
            self.intent = Some((
                op,
                Intent::Digest {
                    challenge,
                    body: body.clone(),
                    seen,
                    from_op: op,
                },
            ));
            return Next::Send(self.auth_op(op, &body, ctx));
        }
        if !self.succeeded.is_empty() && ctx.rng.gen_bool(0.15) {
            let (cred, body) = self.succeeded[ctx.rng.gen_range(0..self.succeeded.len())].clone();
            let op = ctx.model.new_op();
            let seen = Self::seen(ctx, &cred);
            self.intent = Some((
                op,
                Intent::Replay {
                    cred,
                    seen,
                    from_op: op,
                },
            ));
            return Next::Send(self.auth_op(op, &body, ctx));
        }
        if ctx.rng.gen_bool(0.1) {
            return Next::Sleep(ctx.rng.gen_range(1..500));
        }
        let cred = self.pick(ctx);
        let op = ctx.model.new_op();
        let body = json!({
            "method": "REGISTER",
            "realm": cred.realm,
            "username": cred.username,
            "algorithm": if cred.sha256 { "SHA-256" } else { "MD5" },
            "sourceIp": self.source_ip,
        });
        self.intent = Some((op, Intent::Challenge { cred }));
        Next::Send(self.auth_op(op, &body, ctx))
    }

    fn on_reply(&mut self, op: &Op, reply: &Reply, ctx: &mut Ctx) {
        let (id, intent) = self.intent.take().expect("an intent per op");
        assert_eq!(id, op.id);
        match intent {
            Intent::Challenge { cred } => match (reply.status, reply.code()) {
                (401, Some("challenge")) => {
                    let challenge = reply.json.as_ref().and_then(|j| j.get("challenge"));
                    let nonce = challenge
                        .and_then(|c| c.get("nonce"))
                        .and_then(Value::as_str);
                    let algorithm = challenge
                        .and_then(|c| c.get("algorithm"))
                        .and_then(Value::as_str);
                    let Some(nonce) = nonce else {
                        return ctx
                            .violation(format!("{}: a challenge without a nonce", self.name));
                    };
                    let mut cred = cred;
                    // The brain offers SHA-256 only to devices that have it.
                    cred.sha256 = algorithm == Some("SHA-256");
                    self.challenge = Some(Challenge {
                        cred,
                        nonce: nonce.to_string(),
                        nc: 1,
                        held: false,
                    });
                }
                (429, _) if self.failures_possible >= ctx.knobs.auth_fail_threshold => {}
                (status, code) => ctx.violation(format!(
                    "{}: a challenge request answered {status} {code:?}",
                    self.name
                )),
            },
            Intent::Digest {
                challenge,
                body,
                seen,
                from_op,
            } => {
                self.failures_possible += reply.copies as usize;
                let all = Self::possibilities(ctx, &challenge.cred, &seen, from_op);
                self.judge(reply, &challenge.cred, false, &all, ctx);
                if reply.status == 200 {
                    self.succeeded.push((challenge.cred.clone(), body));
                    if self.succeeded.len() > 16 {
                        self.succeeded.remove(0);
                    }
                    if ctx.rng.gen_bool(0.3) {
                        // Kamailio reuses a nonce with the next nc.
                        self.challenge = Some(Challenge {
                            nc: challenge.nc + 1,
                            ..challenge
                        });
                    }
                }
            }
            Intent::Replay {
                cred,
                seen,
                from_op,
            } => {
                self.failures_possible += reply.copies as usize;
                let all = Self::possibilities(ctx, &cred, &seen, from_op);
                self.judge(reply, &cred, true, &all, ctx);
            }
        }
    }

    fn on_give_up(&mut self, _op: &Op, copies: u32, _ctx: &mut Ctx) {
        if let Some((_, Intent::Digest { .. } | Intent::Replay { .. })) = &self.intent {
            self.failures_possible += copies as usize;
        }
        self.intent = None;
    }
}

//! What the load generator sends: a population of bench accounts (built
//! here, provisioned by `setup`), and per connection a deterministic stream
//! of requests shaped like Kamailio's (`examples/kamailio/kamailio.cfg`):
//! JSON bodies, the edge token, a raw `authorization` header for `/auth`.
//!
//! A *unit* is what one SIP event costs the brain: a call is `/route` then
//! a `dialog terminated` report for the same callId; a REGISTER is one
//! `/auth` with a valid digest; a registration refresh is one
//! `/presence/event`; an IVR call is a `/flow` start and three steps. A
//! unit's follow-ups go out on the same connection, after it, so the
//! server (which answers a connection in order) sees them in order even
//! when pipelined.

use crate::http::{self, Value};
use md5::{Digest as _, Md5};
use serde_json::json;
use std::collections::VecDeque;

/// The request kinds measured apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Route,
    Hangup,
    Auth,
    FlowStart,
    FlowStep,
    Presence,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Route,
        Kind::Hangup,
        Kind::Auth,
        Kind::FlowStart,
        Kind::FlowStep,
        Kind::Presence,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Route => "route",
            Kind::Hangup => "dialog_end",
            Kind::Auth => "auth",
            Kind::FlowStart => "flow_start",
            Kind::FlowStep => "flow_step",
            Kind::Presence => "presence_register",
        }
    }

    pub fn index(self) -> usize {
        Kind::ALL
            .iter()
            .position(|k| *k == self)
            .expect("every kind is in ALL")
    }
}

/// Relative weights of the units (`route=4,auth=1,presence=1,flow=0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weights {
    pub route: u32,
    pub auth: u32,
    pub flow: u32,
    pub presence: u32,
}

impl Weights {
    /// Parses `name=weight` pairs; a bare name has weight 1; names not
    /// given weigh 0.
    pub fn parse(text: &str) -> Result<Weights, String> {
        let mut w = Weights {
            route: 0,
            auth: 0,
            flow: 0,
            presence: 0,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let weight: u32 = weight
                .parse()
                .map_err(|_| format!("mix: bad weight in {part:?}"))?;
            match name {
                "route" => w.route = weight,
                "auth" => w.auth = weight,
                "flow" => w.flow = weight,
                "presence" => w.presence = weight,
                _ => {
                    return Err(format!(
                        "mix: unknown unit {name:?} (route, auth, flow, presence)"
                    ))
                }
            }
        }
        if w.total() == 0 {
            return Err("mix: every weight is 0".into());
        }
        Ok(w)
    }

    fn total(&self) -> u32 {
        self.route + self.auth + self.flow + self.presence
    }
}

/// A user of a bench account: username = extension, one device.
#[derive(Clone, Debug)]
pub struct BenchUser {
    pub username: String,
    pub password: String,
    /// MD5(username:realm:password), what the device stores.
    pub ha1: String,
}

/// One generated account: `acc_bench_NNN`, domain `bNNN.bench.test`, users
/// 1001…, one DID per user (to that user) and one to its flow.
#[derive(Clone, Debug)]
pub struct BenchAccount {
    pub id: String,
    pub domain: String,
    pub users: Vec<BenchUser>,
    /// DIDs routed to users, then the flow DID last.
    pub dids: Vec<String>,
}

/// The accounts every peer is driven with (only sipbrain gets them
/// provisioned; the static peers answer anything).
#[derive(Clone, Debug)]
pub struct Population {
    pub accounts: Vec<BenchAccount>,
}

/// The demo account and flow the `/flow` unit runs (`serve --demo`).
pub const FLOW_ACCOUNT: &str = "acc_acme";
pub const FLOW_ID: &str = "flow_main";
/// Where outbound calls go: not a DID of any bench or demo account.
const OUTBOUND_PREFIX: &str = "1303555";
const NODE: &str = "bench-edge";

pub fn md5_hex(text: &str) -> String {
    hex_lower(&Md5::digest(text.as_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

impl Population {
    pub fn new(accounts: usize, users_per_account: usize) -> Population {
        assert!((1..=999).contains(&accounts), "1..=999 bench accounts");
        assert!(
            (2..=999).contains(&users_per_account),
            "2..=999 users per bench account"
        );
        let accounts = (0..accounts)
            .map(|a| {
                let domain = format!("b{a:03}.bench.test");
                let users: Vec<BenchUser> = (0..users_per_account)
                    .map(|u| {
                        let username = format!("{}", 1001 + u);
                        let password = format!("bench-{a}-{username}");
                        let ha1 = md5_hex(&format!("{username}:{domain}:{password}"));
                        BenchUser {
                            username,
                            password,
                            ha1,
                        }
                    })
                    .collect();
                let dids = (0..=users_per_account)
                    .map(|d| format!("1555{a:03}{d:04}"))
                    .collect();
                BenchAccount {
                    id: format!("acc_bench_{a:03}"),
                    domain,
                    users,
                    dids,
                }
            })
            .collect();
        Population { accounts }
    }

    /// The account document `PUT /admin/accounts/{id}` takes: no limits
    /// (the load is many short calls, not a CAC test), a trunk for
    /// outbound calls, a one-node flow for the flow DID.
    pub fn account_doc(&self, index: usize) -> serde_json::Value {
        let account = &self.accounts[index];
        let users: Vec<_> = account
            .users
            .iter()
            .map(|u| {
                json!({"id": format!("us_{}", u.username), "username": u.username,
                "display_name": format!("Bench {}", u.username)})
            })
            .collect();
        let devices: Vec<_> = account
            .users
            .iter()
            .map(|u| {
                let ha1b = md5_hex(&format!(
                    "{}@{}:{}:{}",
                    u.username, account.domain, account.domain, u.password
                ));
                json!({"id": format!("dev_{}", u.username), "user_id": format!("us_{}", u.username),
                    "name": "bench phone", "auth_username": u.username, "realm": account.domain,
                    "ha1": u.ha1, "ha1b": ha1b, "transport": "udp"})
            })
            .collect();
        let extensions: Vec<_> = account
            .users
            .iter()
            .map(|u| {
                json!({"id": format!("ext_{}", u.username), "digits": u.username,
                "dest_kind": "user", "dest_id": format!("us_{}", u.username)})
            })
            .collect();
        let flow_did = account.dids.last().expect("a flow DID");
        let mut dids: Vec<_> = account
            .users
            .iter()
            .zip(&account.dids)
            .map(|(u, e164)| {
                json!({"id": format!("did_{e164}"), "e164": e164,
                "dest_kind": "user", "dest_id": format!("us_{}", u.username), "allow_anonymous": 1})
            })
            .collect();
        dids.push(json!({"id": format!("did_{flow_did}"), "e164": flow_did,
            "dest_kind": "flow", "dest_id": "flow_main", "allow_anonymous": 1}));
        json!({
            "id": account.id, "name": format!("Bench {}", account.id), "status": "active",
            "timezone": "UTC", "default_cid_number": account.dids[0], "language": "en-US",
            "domains": [{"domain": account.domain, "is_primary": 1}],
            "users": users, "devices": devices, "extensions": extensions, "dids": dids,
            "flows": [{"id": "flow_main", "name": "Bench", "version": 1, "start": "entry",
                "nodes": [
                    {"id": "entry", "type": "entry", "data": {"kind": "entry", "trigger": "inbound"}},
                    {"id": "bye", "type": "hangup", "data": {"kind": "hangup"}}],
                "edges": [{"id": "e1", "source": "entry", "target": "bye"}]}],
            "trunks": [{"id": "tr_bench", "name": "bench carrier", "provider": "generic",
                "role": "carrier", "direction": "outbound", "proxy": "127.0.0.1:5090",
                "transport": "udp", "do_register": 0, "inbound_auth": "ip",
                "inbound_cidrs": ["127.0.0.1"], "cid_number": account.dids[0], "status": "active"}]
        })
    }

    /// The `/presence/event` register report of a user's phone (setup sends
    /// it once per device; the presence unit refreshes it).
    pub fn register_body(&self, account: usize, user: usize, event: &str, out: &mut Vec<u8>) {
        let a = &self.accounts[account];
        let u = &a.users[user];
        let port = 20000 + (account * 1000 + user) % 40000;
        let contact = format!("sip:{}@127.0.0.1:{port}", u.username);
        let received = format!("sip:127.0.0.1:{port}");
        let aor = format!("sip:{}@{}", u.username, a.domain);
        http::json_object(
            out,
            &[
                ("type", Value::Str("register")),
                ("event", Value::Str(event)),
                ("username", Value::Str(&u.username)),
                ("realm", Value::Str(&a.domain)),
                ("aor", Value::Str(&aor)),
                ("contact", Value::Str(&contact)),
                ("received", Value::Str(&received)),
                ("socket", Value::Str("udp:127.0.0.1:5060")),
                ("expires", Value::Int(3600)),
                ("node", Value::Str(NODE)),
            ],
        );
    }
}

/// xorshift64*: small, fast, deterministic per connection.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is negligible here).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        (self.next_u64() % n as u64) as usize
    }
}

/// A request that must follow an earlier one on the same connection.
#[derive(Clone, Debug)]
enum Followup {
    Hangup { call_id: String },
    FlowStep { call_id: String, step: usize },
}

/// The outcomes of the flow unit's steps, in order (the demo menu: press
/// 1, wait in the sales queue, hang up).
const FLOW_STEPS: [(&str, &str); 3] = [
    ("digit:1", r#"{"digits":"1"}"#),
    ("poll", "{}"),
    ("hangup", "{}"),
];

struct ConnState {
    rng: Rng,
    pending: VecDeque<Followup>,
    calls: u64,
}

/// Builds every request of a run.
pub struct Workload {
    pub population: Population,
    weights: Weights,
    host: String,
    token: String,
    /// Makes callIds unique across runs against the same server.
    run_tag: String,
    /// Per account: the nonce `/auth` digests use, and the last nc used.
    nonces: Vec<String>,
    nc: Vec<u32>,
    conns: Vec<ConnState>,
    body: Vec<u8>,
}

impl Workload {
    /// `nonces[i]` is account i's nonce (a brain challenge's for sipbrain);
    /// its nc values start after `nc_start` (give each run against the same
    /// nonces its own range: a repeated (nonce, nc) is a replay).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        population: Population,
        weights: Weights,
        host: &str,
        token: &str,
        run_tag: &str,
        nonces: Vec<String>,
        connections: usize,
        seed: u64,
        nc_start: u32,
    ) -> Workload {
        assert_eq!(
            nonces.len(),
            population.accounts.len(),
            "one nonce per account"
        );
        let nc = vec![nc_start; nonces.len()];
        let conns = (0..connections)
            .map(|c| ConnState {
                rng: Rng::new(seed ^ (c as u64 + 1) << 20),
                pending: VecDeque::new(),
                calls: 0,
            })
            .collect();
        Workload {
            population,
            weights,
            host: host.to_string(),
            token: token.to_string(),
            run_tag: run_tag.to_string(),
            nonces,
            nc,
            conns,
            body: Vec::with_capacity(1024),
        }
    }

    /// Appends connection `conn`'s next request to `out`; says its kind.
    pub fn next(&mut self, conn: usize, out: &mut Vec<u8>) -> Kind {
        self.body.clear();
        let (kind, path) = match self.conns[conn].pending.pop_front() {
            Some(Followup::Hangup { call_id }) => {
                self.hangup_body(&call_id);
                (Kind::Hangup, "/presence/event")
            }
            Some(Followup::FlowStep { call_id, step }) => {
                self.flow_step_body(conn, &call_id, step);
                (Kind::FlowStep, "/flow")
            }
            None => self.start_unit(conn),
        };
        http::post_json(out, &self.host, path, &self.token, &self.body);
        kind
    }

    fn start_unit(&mut self, conn: usize) -> (Kind, &'static str) {
        let w = self.weights;
        let mut pick = self.conns[conn].rng.below(w.total() as usize) as u32;
        if pick < w.route {
            self.route_body(conn);
            return (Kind::Route, "/route");
        }
        pick -= w.route;
        if pick < w.auth {
            self.auth_body(conn);
            return (Kind::Auth, "/auth");
        }
        pick -= w.auth;
        if pick < w.flow {
            self.flow_start_body(conn);
            return (Kind::FlowStart, "/flow");
        }
        let state = &mut self.conns[conn];
        let account = state.rng.below(self.population.accounts.len());
        let user = state
            .rng
            .below(self.population.accounts[account].users.len());
        self.population
            .register_body(account, user, "refreshed", &mut self.body);
        (Kind::Presence, "/presence/event")
    }

    fn new_call_id(&mut self, conn: usize, prefix: &str) -> String {
        let state = &mut self.conns[conn];
        state.calls += 1;
        format!("{prefix}-{}-{conn}-{}", self.run_tag, state.calls)
    }

    fn route_body(&mut self, conn: usize) {
        let call_id = self.new_call_id(conn, "r");
        let state = &mut self.conns[conn];
        let account = &self.population.accounts[state.rng.below(self.population.accounts.len())];
        let caller = &account.users[state.rng.below(account.users.len())];
        let digits = 1000 + state.rng.below(9000);
        let (from, from_domain, to, auth_user, source_ip) = match state.rng.below(3) {
            0 => (
                format!("1415555{digits}"),
                "carrier.example".to_string(),
                account.dids[state.rng.below(account.dids.len())].clone(),
                None,
                "203.0.113.10",
            ),
            1 => {
                let mut callee = state.rng.below(account.users.len() - 1);
                if account.users[callee].username == caller.username {
                    callee = account.users.len() - 1;
                }
                (
                    caller.username.clone(),
                    account.domain.clone(),
                    account.users[callee].username.clone(),
                    Some(caller.username.as_str()),
                    "198.51.100.7",
                )
            }
            _ => (
                caller.username.clone(),
                account.domain.clone(),
                format!("{OUTBOUND_PREFIX}{digits}"),
                Some(caller.username.as_str()),
                "198.51.100.7",
            ),
        };
        let mut fields = vec![
            ("callId", Value::Str(&call_id)),
            ("from", Value::Str(&from)),
            ("fromDomain", Value::Str(&from_domain)),
            ("to", Value::Str(&to)),
            ("sourceIp", Value::Str(source_ip)),
        ];
        if let Some(user) = auth_user {
            fields.push(("authUser", Value::Str(user)));
        }
        fields.push(("node", Value::Str(NODE)));
        http::json_object(&mut self.body, &fields);
        state.pending.push_back(Followup::Hangup { call_id });
    }

    fn hangup_body(&mut self, call_id: &str) {
        http::json_object(
            &mut self.body,
            &[
                ("type", Value::Str("dialog")),
                ("callId", Value::Str(call_id)),
                ("state", Value::Str("terminated")),
                ("node", Value::Str(NODE)),
            ],
        );
    }

    fn auth_body(&mut self, conn: usize) {
        let state = &mut self.conns[conn];
        let a = state.rng.below(self.population.accounts.len());
        let account = &self.population.accounts[a];
        let user = &account.users[state.rng.below(account.users.len())];
        self.nc[a] += 1;
        let nc = format!("{:08x}", self.nc[a]);
        let cnonce = format!("c{conn:x}");
        let uri = format!("sip:{}", account.domain);
        let nonce = &self.nonces[a];
        let ha2 = md5_hex(&format!("REGISTER:{uri}"));
        let response = md5_hex(&format!("{}:{nonce}:{nc}:{cnonce}:auth:{ha2}", user.ha1));
        let header = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=MD5, cnonce=\"{cnonce}\", qop=auth, nc={nc}",
            user.username, account.domain
        );
        http::json_object(
            &mut self.body,
            &[
                ("method", Value::Str("REGISTER")),
                ("authorization", Value::Str(&header)),
                ("sourceIp", Value::Str("198.51.100.7")),
            ],
        );
    }

    fn flow_start_body(&mut self, conn: usize) {
        let call_id = self.new_call_id(conn, "f");
        let vars = r#"{"caller_cid":"14155551234","did":"12025550123","line":"main"}"#;
        http::json_object(
            &mut self.body,
            &[
                ("callId", Value::Str(&call_id)),
                ("accountId", Value::Str(FLOW_ACCOUNT)),
                ("flowId", Value::Str(FLOW_ID)),
                ("vars", Value::Raw(vars)),
                ("from", Value::Str("14155551234")),
                ("to", Value::Str("12025550123")),
            ],
        );
        self.conns[conn]
            .pending
            .push_back(Followup::FlowStep { call_id, step: 0 });
    }

    fn flow_step_body(&mut self, conn: usize, call_id: &str, step: usize) {
        let (outcome, data) = FLOW_STEPS[step];
        http::json_object(
            &mut self.body,
            &[
                ("callId", Value::Str(call_id)),
                ("outcome", Value::Str(outcome)),
                ("data", Value::Raw(data)),
            ],
        );
        if step + 1 < FLOW_STEPS.len() {
            self.conns[conn].pending.push_back(Followup::FlowStep {
                call_id: call_id.to_string(),
                step: step + 1,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipbrain_core::http::{ParseLimits, Parser};

    fn workload(mix: &str, connections: usize) -> Workload {
        let population = Population::new(3, 4);
        let nonces = (0..3).map(|i| format!("nonce{i}")).collect();
        Workload::new(
            population,
            Weights::parse(mix).unwrap(),
            "h",
            "tok",
            "t1",
            nonces,
            connections,
            7,
            0,
        )
    }

    fn requests(w: &mut Workload, conn: usize, n: usize) -> Vec<(Kind, serde_json::Value)> {
        let mut parser = Parser::new(ParseLimits::default());
        let mut kinds = Vec::new();
        for _ in 0..n {
            let mut out = Vec::new();
            kinds.push(w.next(conn, &mut out));
            parser.feed(&out);
        }
        kinds
            .into_iter()
            .map(|kind| {
                let request = parser.poll_request().unwrap().expect("a whole request");
                assert_eq!(request.header("authorization"), Some("Bearer tok"));
                (
                    kind,
                    serde_json::from_slice(&request.body).expect("JSON body"),
                )
            })
            .collect()
    }

    #[test]
    fn weights_parse_names_and_refuse_nonsense() {
        let w = Weights::parse("route=3, auth ,presence=0").unwrap();
        assert_eq!((w.route, w.auth, w.flow, w.presence), (3, 1, 0, 0));
        assert!(Weights::parse("route=x").is_err());
        assert!(Weights::parse("dance=1").is_err());
        assert!(Weights::parse("route=0").is_err());
    }

    #[test]
    fn every_call_is_routed_then_ended_on_the_same_connection() {
        let mut w = workload("route", 2);
        let reqs = requests(&mut w, 1, 40);
        for pair in reqs.chunks(2) {
            assert_eq!(pair[0].0, Kind::Route);
            assert_eq!(pair[1].0, Kind::Hangup);
            assert_eq!(pair[0].1["callId"], pair[1].1["callId"]);
            assert_eq!(pair[1].1["state"], "terminated");
        }
        let ids: std::collections::BTreeSet<_> =
            reqs.iter().map(|(_, b)| b["callId"].to_string()).collect();
        assert_eq!(ids.len(), 20, "a fresh callId per call");
        let internal = reqs
            .iter()
            .filter(|(_, b)| b["to"].as_str().is_some_and(|t| t.len() == 4));
        for (_, body) in internal {
            assert_ne!(body["from"], body["to"], "nobody calls themselves");
        }
    }

    #[test]
    fn auth_digests_verify_with_the_servers_own_digest_code() {
        let mut w = workload("auth", 1);
        let pop = w.population.clone();
        for (kind, body) in requests(&mut w, 0, 30) {
            assert_eq!(kind, Kind::Auth);
            let header = body["authorization"].as_str().unwrap();
            let field = |name: &str| {
                let start = header.find(&format!("{name}=")).unwrap() + name.len() + 1;
                let rest = header[start..].trim_start_matches('"');
                rest.split(['"', ',']).next().unwrap().to_string()
            };
            let (user, realm) = (field("username"), field("realm"));
            let account = pop.accounts.iter().find(|a| a.domain == realm).unwrap();
            let password = &account
                .users
                .iter()
                .find(|u| u.username == user)
                .unwrap()
                .password;
            let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
            let ha2 = md5_hex(&format!("REGISTER:{}", field("uri")));
            let expected = md5_hex(&format!(
                "{ha1}:{}:{}:{}:auth:{ha2}",
                field("nonce"),
                field("nc"),
                field("cnonce")
            ));
            assert_eq!(field("response"), expected);
        }
    }

    #[test]
    fn nc_never_repeats_for_one_nonce() {
        let mut w = workload("auth", 3);
        let mut seen = std::collections::BTreeSet::new();
        for conn in 0..3 {
            for (_, body) in requests(&mut w, conn, 20) {
                let header = body["authorization"].as_str().unwrap().to_string();
                let nonce_nc = (
                    header
                        .split("nonce=\"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap()
                        .to_string(),
                    header.split("nc=").nth(1).unwrap().to_string(),
                );
                assert!(seen.insert(nonce_nc), "a (nonce, nc) pair used twice");
            }
        }
    }

    #[test]
    fn runs_with_their_own_nc_range_never_share_a_pair() {
        let nc_of = |w: &mut Workload| -> Vec<String> {
            requests(w, 0, 5)
                .iter()
                .map(|(_, b)| {
                    let header = b["authorization"].as_str().unwrap();
                    header.split("nc=").nth(1).unwrap().to_string()
                })
                .collect()
        };
        let mut first = workload("auth", 1);
        let mut second = Workload::new(
            Population::new(3, 4),
            Weights::parse("auth").unwrap(),
            "h",
            "tok",
            "t2",
            (0..3).map(|i| format!("nonce{i}")).collect(),
            1,
            7,
            1 << 24,
        );
        let (a, b) = (nc_of(&mut first), nc_of(&mut second));
        assert!(a.iter().all(|nc| !b.contains(nc)), "{a:?} {b:?}");
        assert!(b.iter().all(|nc| nc.starts_with("01")), "{b:?}");
    }

    #[test]
    fn a_flow_is_a_start_then_three_steps() {
        let mut w = workload("flow", 1);
        let reqs = requests(&mut w, 0, 8);
        let kinds: Vec<Kind> = reqs.iter().map(|(k, _)| *k).collect();
        use Kind::{FlowStart as S, FlowStep as T};
        assert_eq!(kinds, [S, T, T, T, S, T, T, T]);
        assert_eq!(reqs[0].1["flowId"], FLOW_ID);
        assert_eq!(reqs[0].1["vars"]["line"], "main");
        assert_eq!(reqs[1].1["outcome"], "digit:1");
        assert_eq!(reqs[3].1["callId"], reqs[0].1["callId"]);
    }

    #[test]
    fn bench_account_documents_pass_the_servers_validation() {
        let pop = Population::new(2, 3);
        for i in 0..2 {
            let doc = pop.account_doc(i);
            let id = doc["id"].as_str().unwrap();
            sipbrain_core::account::parse(id, &doc)
                .unwrap_or_else(|e| panic!("account {id}: {e:?}"));
        }
    }
}

//! An operator's provisioning system: creates, replaces, reads and deletes
//! its accounts (valid and invalid documents), retrying until answered.
//! In the healed phase it reads every account back once nothing it sent
//! can still land, and the answer must be exactly what it last wrote.

use super::{Actor, Ctx, Next, ADMIN_TOKEN};
use crate::client::{Op, Reply};
use crate::model::{AccountModel, UserModel};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// What an operation in flight was for.
#[derive(Clone, Debug)]
enum Intent {
    Put {
        id: String,
        state: AccountModel,
    },
    Invalid {
        id: String,
        why: &'static str,
    },
    Get {
        id: String,
        seen: Vec<Option<AccountModel>>,
        from_op: u64,
        last: bool,
    },
    Delete {
        id: String,
        seen: Vec<Option<AccountModel>>,
        from_op: u64,
    },
    WrongToken,
}

/// One operator and the accounts it owns.
pub struct Operator {
    name: String,
    peer: IpAddr,
    accounts: Vec<String>,
    version: u64,
    intents: BTreeMap<u64, Intent>,
    /// Accounts still to read back in the healed phase.
    final_reads: Option<Vec<String>>,
}

impl Operator {
    pub fn new(index: usize, accounts: usize, model: &mut crate::model::Model) -> Operator {
        let ids: Vec<String> = (0..accounts).map(|k| format!("acc_{index}_{k}")).collect();
        for id in &ids {
            model.add_account(id, &format!("{}.sim.test", id.replace('_', "-")));
        }
        Operator {
            name: format!("operator-{index}"),
            peer: IpAddr::V4(Ipv4Addr::new(10, 1, 0, index as u8 + 1)),
            accounts: ids,
            version: 0,
            intents: BTreeMap::new(),
            final_reads: None,
        }
    }

    fn put(&self, op: u64, id: &str, doc: &Value) -> Op {
        Op::new(op, "account-put", "PUT", format!("/admin/accounts/{id}"))
            .header("x-admin-token", ADMIN_TOKEN)
            .json(doc)
    }

    fn random_state(&mut self, id: &str, domain: &str, ctx: &mut Ctx) -> AccountModel {
        self.version += 1;
        let users = (0..ctx.rng.gen_range(1..=4))
            .map(|k| UserModel {
                username: format!("{}", 1000 + k),
                password: format!("pw-{:08x}", ctx.rng.gen::<u32>()),
                user_active: ctx.rng.gen_bool(0.85),
                device_active: ctx.rng.gen_bool(0.9),
                sha256: ctx.rng.gen_bool(0.3),
            })
            .collect();
        AccountModel {
            id: id.to_string(),
            version: self.version,
            domain: domain.to_string(),
            active: ctx.rng.gen_bool(0.9),
            users,
        }
    }

    /// Writes a new valid version of account `id`.
    fn send_put(&mut self, id: String, domain: &str, ctx: &mut Ctx) -> Next {
        let state = self.random_state(&id, domain, ctx);
        let op = ctx.model.new_op();
        ctx.model.write_sent(&id, op, Some(state.clone()));
        let request = self.put(op, &id, &state.to_doc());
        self.intents.insert(op, Intent::Put { id, state });
        Next::Send(request)
    }

    fn get(&mut self, id: &str, last: bool, ctx: &mut Ctx) -> Next {
        let op = ctx.model.new_op();
        let seen = ctx.model.accounts[id].possible(ctx.ops);
        self.intents.insert(
            op,
            Intent::Get {
                id: id.to_string(),
                seen,
                from_op: op,
                last,
            },
        );
        Next::Send(
            Op::new(op, "account-get", "GET", format!("/admin/accounts/{id}"))
                .header("x-admin-token", ADMIN_TOKEN),
        )
    }

    /// Healed phase: once nothing sent can still land, make each account's
    /// state certain (writing it again if late copies left it open), then
    /// read it back: it must be exactly that.
    fn finish(&mut self, ctx: &mut Ctx) -> Next {
        let reads = self
            .final_reads
            .get_or_insert_with(|| self.accounts.clone());
        let Some(id) = reads.last().cloned() else {
            return Next::Done;
        };
        let slot = &ctx.model.accounts[&id];
        if slot.writes_alive(ctx.ops) {
            return Next::Sleep(50);
        }
        if slot.certain(ctx.ops).is_none() {
            let domain = slot.domain.clone();
            return self.send_put(id, &domain, ctx);
        }
        if let Some(reads) = self.final_reads.as_mut() {
            reads.pop();
        }
        self.get(&id, true, ctx)
    }
}

/// The brain's normal form of a document (what GET returns).
fn normal(id: &str, doc: &Value) -> Option<Value> {
    sipbrain_core::account::parse(id, doc)
        .ok()
        .map(|a| a.to_json())
}

impl Actor for Operator {
    fn name(&self) -> &str {
        &self.name
    }

    fn peer(&self) -> IpAddr {
        self.peer
    }

    fn next(&mut self, ctx: &mut Ctx) -> Next {
        if ctx.healed {
            return self.finish(ctx);
        }
        let id = self.accounts[ctx.rng.gen_range(0..self.accounts.len())].clone();
        let domain = ctx.model.accounts[&id].domain.clone();
        let roll = ctx.rng.gen_range(0..100);
        if roll < 40 {
            return self.send_put(id, &domain, ctx);
        }
        if roll < 55 {
            let mut doc = self.random_state(&id, &domain, ctx).to_doc();
            let why = match ctx.rng.gen_range(0..3) {
                0 => {
                    doc["devices"][0]["realm"] = json!("elsewhere.sim.test");
                    "device realm outside the account's domains"
                }
                1 => {
                    doc["users"] = json!("not-a-list");
                    "users is not a list"
                }
                _ => {
                    doc["colour"] = json!("red");
                    "unknown field"
                }
            };
            let op = ctx.model.new_op();
            let request = self.put(op, &id, &doc);
            self.intents.insert(op, Intent::Invalid { id, why });
            return Next::Send(request);
        }
        if roll < 75 {
            return self.get(&id, false, ctx);
        }
        if roll < 85 {
            let op = ctx.model.new_op();
            let seen = ctx.model.accounts[&id].possible(ctx.ops);
            ctx.model.write_sent(&id, op, None);
            self.intents.insert(
                op,
                Intent::Delete {
                    id: id.clone(),
                    seen,
                    from_op: op,
                },
            );
            return Next::Send(
                Op::new(
                    op,
                    "account-delete",
                    "DELETE",
                    format!("/admin/accounts/{id}"),
                )
                .header("x-admin-token", ADMIN_TOKEN),
            );
        }
        if roll < 90 {
            let op = ctx.model.new_op();
            self.intents.insert(op, Intent::WrongToken);
            let doc = self.random_state(&id, &domain, ctx).to_doc();
            let request = Op::new(
                op,
                "account-put-wrong-token",
                "PUT",
                format!("/admin/accounts/{id}"),
            )
            .header("x-admin-token", "not-the-admin-token")
            .json(&doc);
            return Next::Send(request);
        }
        Next::Sleep(ctx.rng.gen_range(1..200))
    }

    fn on_reply(&mut self, op: &Op, reply: &Reply, ctx: &mut Ctx) {
        let intent = self.intents.remove(&op.id).expect("an intent per op");
        let name = &self.name;
        match intent {
            Intent::Put { id, state } => {
                if reply.status == 200 {
                    ctx.model.write_confirmed(&id, op.id, Some(state));
                } else {
                    ctx.violation(format!(
                        "{name}: PUT of a valid document for {id} answered {} {:?}",
                        reply.status,
                        reply.code()
                    ));
                }
            }
            Intent::Invalid { id, why } => {
                if reply.status != 422 {
                    ctx.violation(format!(
                        "{name}: PUT of an invalid document ({why}) for {id} answered {}",
                        reply.status
                    ));
                }
            }
            Intent::WrongToken => {
                if reply.status != 403 {
                    ctx.violation(format!(
                        "{name}: PUT with a wrong admin token answered {}",
                        reply.status
                    ));
                }
            }
            Intent::Get {
                id,
                seen,
                from_op,
                last,
            } => {
                let all = ctx.model.accounts[&id].possible_between(&seen, from_op, ctx.ops);
                let allowed = match (
                    reply.status,
                    reply.json.as_ref().and_then(|j| j.get("account")),
                ) {
                    (200, Some(doc)) => all
                        .iter()
                        .flatten()
                        .any(|s| normal(&id, &s.to_doc()).as_ref() == Some(doc)),
                    (404, _) => all.contains(&None),
                    _ => false,
                };
                if !allowed {
                    let versions: Vec<String> = all
                        .iter()
                        .map(|s| {
                            s.as_ref()
                                .map_or("absent".into(), |s| format!("v{}", s.version))
                        })
                        .collect();
                    let got = reply
                        .json
                        .as_ref()
                        .and_then(|j| j.pointer("/account/name"))
                        .cloned();
                    ctx.violation(format!(
                        "{name}: GET {id} answered {} (name {got:?}) but the account can only be one of {versions:?}{}",
                        reply.status,
                        if last { " (final read, healed)" } else { "" }
                    ));
                }
            }
            Intent::Delete { id, seen, from_op } => {
                let all = ctx.model.accounts[&id].possible_between(&seen, from_op, ctx.ops);
                let allowed = match reply.status {
                    200 => all.iter().any(Option::is_some),
                    404 => all.contains(&None) || reply.copies > 1,
                    _ => false,
                };
                if allowed {
                    ctx.model.write_confirmed(&id, op.id, None);
                } else {
                    ctx.violation(format!("{name}: DELETE {id} answered {}", reply.status));
                }
            }
        }
    }

    fn on_give_up(&mut self, op: &Op, _copies: u32, _ctx: &mut Ctx) {
        unreachable!("operators never give up (op {})", op.id);
    }
}

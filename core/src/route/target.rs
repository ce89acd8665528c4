//! Route targets (`dest_kind`/`dest_id`) to rtjson actions, with the user
//! rules of reference §5: `fwd_always`, `dnd` → `fwd_busy` → voicemail,
//! reachable devices only, none → `fwd_noanswer` → voicemail → 480.

use super::rtjson::{self, Rtjson};
use super::{Step, Trail};
use crate::account::{Account, DestKind, RingStrategy, User};
use crate::limits::ROUTE_HOPS_MAX;
use crate::presence::Registrations;
use crate::time::Millis;
use serde_json::{Map, Value};

/// What a target needs to be resolved.
pub struct Targets<'a> {
    pub account: &'a Account,
    pub registrations: &'a Registrations,
    pub now: Millis,
    /// The wholesale carrier's `host[:port]` (for `forward`).
    pub wholesale: &'a str,
    /// Flow variables (`dest_xform` and caller data).
    pub vars: Map<String, Value>,
}

impl<'a> Targets<'a> {
    /// The rtjson of `kind`/`id`, following forwards at most
    /// [`ROUTE_HOPS_MAX`] hops.
    pub fn resolve(
        &self,
        kind: DestKind,
        id: Option<&'a str>,
        trail: &mut Trail<'a>,
        hops: usize,
    ) -> Rtjson<'a> {
        if hops >= ROUTE_HOPS_MAX {
            trail.note(Step::target_loop(hops));
            return rtjson::reject(482, "Loop Detected", "forward_loop");
        }
        trail.note(Step::Target {
            dest_kind: kind.as_str(),
            dest_id: id,
        });
        let account_id = &self.account.id;
        let system = |prefix: &str| match id {
            Some(id) => rtjson::flow(account_id, format!("sys:{prefix}:{id}"), &self.vars),
            None => rtjson::reject(404, "Not Found", "target_missing"),
        };
        match kind {
            DestKind::Flow => match id {
                Some(id) => rtjson::flow(account_id, id, &self.vars),
                None => rtjson::reject(404, "Not Found", "target_missing"),
            },
            DestKind::Queue => system("queue"),
            DestKind::Voicemail => system("voicemail"),
            DestKind::Conference => system("conference"),
            DestKind::RingGroup => system("ring_group"),
            DestKind::Hangup => rtjson::reject(480, "Temporarily Unavailable", "hangup"),
            DestKind::Forward => match id {
                Some(number) => {
                    let trunk = super::outbound_trunk(self.account);
                    rtjson::outbound(self.account, trunk, self.wholesale, number, None, None)
                }
                None => rtjson::reject(404, "Not Found", "target_missing"),
            },
            DestKind::Extension => {
                let Some(extension) = id.and_then(|id| self.account.extension_by_id(id)) else {
                    return rtjson::reject(404, "Not Found", "extension_missing");
                };
                match extension.dest_kind {
                    DestKind::Extension if extension.dest_id.as_deref() == id => {
                        rtjson::reject(482, "Loop Detected", "forward_loop")
                    }
                    kind => self.resolve(kind, extension.dest_id.as_deref(), trail, hops + 1),
                }
            }
            DestKind::User => match id.and_then(|id| self.account.user(id)) {
                Some(user) => self.user(user, trail, hops),
                None => rtjson::reject(404, "Not Found", "user_missing"),
            },
        }
    }

    /// A user's call handling (reference §5).
    fn user(&self, user: &'a User, trail: &mut Trail<'a>, hops: usize) -> Rtjson<'a> {
        if !user.active {
            trail.note(Step::user_disabled(&user.id));
            return rtjson::reject(480, "Temporarily Unavailable", "user_disabled");
        }
        if let Some(kind) = user.fwd_always_kind {
            trail.note(Step::UserRule {
                user_id: &user.id,
                rule: "fwd_always",
            });
            return self.resolve(kind, user.fwd_always_id.as_deref(), trail, hops + 1);
        }
        if user.dnd {
            trail.note(Step::UserRule {
                user_id: &user.id,
                rule: "dnd",
            });
            if let Some(kind) = user.fwd_busy_kind {
                return self.resolve(kind, user.fwd_busy_id.as_deref(), trail, hops + 1);
            }
            return self.voicemail_or(user, trail, hops, 486, "Busy Here", "dnd");
        }
        let routes = self.routes(user);
        trail.note(Step::UserRings {
            user_id: &user.id,
            ring_strategy: user.ring_strategy.as_str(),
            reachable_contacts: routes.len(),
        });
        if routes.is_empty() {
            if let Some(kind) = user.fwd_noanswer_kind {
                trail.note(Step::UserRule {
                    user_id: &user.id,
                    rule: "fwd_noanswer",
                });
                return self.resolve(kind, user.fwd_noanswer_id.as_deref(), trail, hops + 1);
            }
            return self.voicemail_or(
                user,
                trail,
                hops,
                480,
                "Temporarily Unavailable",
                "unreachable",
            );
        }
        let fallback = match user.fwd_noanswer_kind {
            Some(kind) => {
                let mut quiet = Trail::default();
                Some(self.resolve(kind, user.fwd_noanswer_id.as_deref(), &mut quiet, hops + 1))
            }
            None => user.voicemail_id.as_ref().map(|vm| {
                rtjson::flow(&self.account.id, format!("sys:voicemail:{vm}"), &self.vars)
            }),
        };
        let aor = format!("sip:{}@{}", user.username, self.account.primary_domain());
        rtjson::proxy(&self.account.id, user, aor, routes, fallback)
    }

    fn voicemail_or(
        &self,
        user: &'a User,
        trail: &mut Trail<'a>,
        hops: usize,
        code: u16,
        reason: &'static str,
        detail: &'static str,
    ) -> Rtjson<'a> {
        match &user.voicemail_id {
            Some(vm) => self.resolve(DestKind::Voicemail, Some(vm), trail, hops + 1),
            None => rtjson::reject(code, reason, detail),
        }
    }

    /// The branches to ring: reachable contacts of the user's active
    /// devices, by strategy (`sequential` in `ring_order`; `specific` and
    /// forks only devices with `ring_on_fork`).
    fn routes(&self, user: &'a User) -> Vec<rtjson::Branch<'a>> {
        let account_id = &self.account.id;
        let mut devices: Vec<_> = self
            .account
            .devices_of(&user.id)
            .filter(|d| d.active && self.registrations.reachable(account_id, &d.id, self.now))
            .collect();
        let forking = devices.len() > 1 || user.ring_strategy == RingStrategy::Specific;
        if forking {
            let opted: Vec<_> = devices.iter().copied().filter(|d| d.ring_on_fork).collect();
            if !opted.is_empty() || user.ring_strategy == RingStrategy::Specific {
                devices = opted;
            }
        }
        devices.sort_by_key(|d| d.ring_order);
        let mut branches = Vec::new();
        for device in devices {
            for binding in self.registrations.live(account_id, &device.id, self.now) {
                branches.push(rtjson::Branch {
                    device_id: &device.id,
                    binding,
                });
            }
        }
        branches
    }
}

use super::*;
use crate::account::{self, Account};
use crate::api::{presence, Call};
use crate::calls::CallRecord;
use crate::route::RouteRequest;
use crate::shard::Shard;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

use crate::testkit::{demo_doc, shard_with, ACME};

const T0: Millis = Millis(1_764_000_000_000);

fn demo() -> Account {
    account::parse(ACME, &demo_doc()).unwrap()
}

fn labels(plan: &Plan) -> Vec<(String, u32, Option<u32>, bool)> {
    plan.checks
        .iter()
        .map(|c| (c.label.clone(), c.count, c.limit, c.hard))
        .collect()
}

fn dim(label: &str) -> Dim {
    match label.split_once(':') {
        None => match label {
            "account_in" => Dim::AccountIn,
            "account_out" => Dim::AccountOut,
            "account_dialer" => Dim::AccountDialer,
            other => panic!("no dim {other}"),
        },
        Some(("user", id)) => Dim::User(id.into()),
        Some(("did", id)) => Dim::Did(id.into()),
        Some(("trunk", id)) => Dim::Trunk(id.into()),
        Some(_) => panic!("no dim {label}"),
    }
}

fn with_counts(counts: &[(&str, u32)]) -> AccountCac {
    let mut cac = AccountCac::default();
    for (label, count) in counts {
        cac.counts.insert(dim(label), *count);
    }
    cac
}

fn outbound_alice() -> Subject<'static> {
    Subject {
        user_id: Some("us_alice"),
        trunk_id: Some("tr_acme"),
        number: Some("12125550100"),
        ..Subject::default()
    }
}

fn inbound_alice() -> Subject<'static> {
    Subject {
        did_id: Some("did_alice"),
        number: Some("14155550001"),
        ..Subject::default()
    }
}

// ---------------------------------------------------------------- plan

#[test]
fn outbound_plan_checks_account_user_trunk_and_the_out_rate() {
    let account = demo();
    let plan = plan(&account, None, Direction::Outbound, &outbound_alice(), T0);
    assert_eq!(
        labels(&plan),
        vec![
            ("account_out".into(), 0, Some(10), true),
            ("user:us_alice".into(), 0, Some(2), true),
            ("trunk:tr_acme".into(), 0, Some(30), true),
            ("rate:lim_out_minute".into(), 0, Some(10), true),
        ]
    );
    assert_eq!(
        plan.admission.dims,
        vec![
            Dim::AccountOut,
            Dim::User("us_alice".into()),
            Dim::Trunk("tr_acme".into())
        ]
    );
    assert_eq!(
        plan.admission.rates,
        vec![RateHit {
            key: "lim_out_minute".into(),
            period_ms: 60_000,
            cap: 10
        }]
    );
    assert_eq!(plan.refusal(), None);
    assert!(plan.soft_flags().is_empty());
}

#[test]
fn inbound_plan_checks_account_did_and_the_soft_in_rate() {
    let account = demo();
    let plan = plan(&account, None, Direction::Inbound, &inbound_alice(), T0);
    assert_eq!(
        labels(&plan),
        vec![
            ("account_in".into(), 0, Some(20), true),
            ("did:did_alice".into(), 0, Some(2), true),
            ("rate:lim_in_hour".into(), 0, Some(100), false),
        ]
    );
    assert_eq!(
        plan.admission.dims,
        vec![Dim::AccountIn, Dim::Did("did_alice".into())]
    );
    assert_eq!(plan.admission.rates.len(), 1);
    assert_eq!(plan.admission.rates[0].key, "lim_in_hour");
    assert_eq!(plan.admission.rates[0].period_ms, 3_600_000);
}

#[test]
fn internal_plan_holds_only_the_callers_user_and_no_rate() {
    let account = demo();
    let subject = Subject {
        user_id: Some("us_bob"),
        ..Subject::default()
    };
    let plan = plan(&account, None, Direction::Internal, &subject, T0);
    assert_eq!(
        labels(&plan),
        vec![("user:us_bob".into(), 0, None, true)],
        "bob has no max_simultaneous: counted, unlimited"
    );
    assert_eq!(plan.admission.dims, vec![Dim::User("us_bob".into())]);
    assert!(plan.admission.rates.is_empty());
    assert_eq!(plan.refusal(), None);
}

#[test]
fn unknown_subject_ids_add_no_dimension() {
    let account = demo();
    let subject = Subject {
        user_id: Some("us_nobody"),
        did_id: Some("did_nobody"),
        trunk_id: Some("tr_nobody"),
        number: None,
    };
    let plan = plan(&account, None, Direction::Inbound, &subject, T0);
    assert_eq!(plan.admission.dims, vec![Dim::AccountIn]);
}

#[test]
fn counts_come_from_the_accounts_cac_state() {
    let account = demo();
    let cac = with_counts(&[
        ("account_out", 4),
        ("user:us_alice", 1),
        ("trunk:tr_acme", 7),
        ("user:us_bob", 3),
    ]);
    let plan = plan(
        &account,
        Some(&cac),
        Direction::Outbound,
        &outbound_alice(),
        T0,
    );
    let counts: Vec<u32> = plan.checks.iter().map(|c| c.count).collect();
    assert_eq!(counts, vec![4, 1, 7, 0]);
    assert_eq!(plan.refusal(), None);
}

#[test]
fn each_full_hard_dimension_refuses_with_its_detail() {
    let account = demo();
    let cases: Vec<(Direction, Subject<'static>, &str, u32, &str)> = vec![
        (
            Direction::Outbound,
            outbound_alice(),
            "account_out",
            10,
            "cac:max_out",
        ),
        (
            Direction::Outbound,
            outbound_alice(),
            "user:us_alice",
            2,
            "cac:user:us_alice",
        ),
        (
            Direction::Outbound,
            outbound_alice(),
            "trunk:tr_acme",
            30,
            "cac:trunk:tr_acme",
        ),
        (
            Direction::Inbound,
            inbound_alice(),
            "account_in",
            20,
            "cac:max_in",
        ),
        (
            Direction::Inbound,
            inbound_alice(),
            "did:did_alice",
            2,
            "cac:did:did_alice",
        ),
    ];
    for (direction, subject, label, limit, detail) in cases {
        let below = with_counts(&[(label, limit - 1)]);
        let fits = plan(&account, Some(&below), direction, &subject, T0);
        assert_eq!(fits.refusal(), None, "{label} at {} of {limit}", limit - 1);
        let full = with_counts(&[(label, limit)]);
        let refused = plan(&account, Some(&full), direction, &subject, T0);
        assert_eq!(refused.refusal().as_deref(), Some(detail), "{label} full");
        let over = with_counts(&[(label, limit + 3)]);
        let refused = plan(&account, Some(&over), direction, &subject, T0);
        assert_eq!(refused.refusal().as_deref(), Some(detail), "{label} over");
        assert!(refused.soft_flags().is_empty());
    }
}

#[test]
fn the_first_full_dimension_in_check_order_is_named() {
    let account = demo();
    let cac = with_counts(&[("trunk:tr_acme", 30), ("user:us_alice", 2)]);
    let plan = plan(
        &account,
        Some(&cac),
        Direction::Outbound,
        &outbound_alice(),
        T0,
    );
    assert_eq!(plan.refusal().as_deref(), Some("cac:user:us_alice"));
}

#[test]
fn a_full_hard_rate_window_refuses_until_the_window_slides() {
    let account = demo();
    let mut cac = AccountCac::default();
    for n in 0..10u64 {
        let admission = plan(
            &account,
            Some(&cac),
            Direction::Outbound,
            &outbound_alice(),
            Millis(T0.0 + n * 1000),
        )
        .admission;
        // Only the rate matters here: release the concurrency right away.
        cac.admit(&format!("c{n}"), &admission, Millis(T0.0 + n * 1000));
        cac.release(&format!("c{n}"), &admission);
    }
    assert!(cac.counts.is_empty());
    let at = Millis(T0.0 + 59_999);
    let refused = plan(
        &account,
        Some(&cac),
        Direction::Outbound,
        &outbound_alice(),
        at,
    );
    let rate = refused
        .checks
        .iter()
        .find(|c| c.label == "rate:lim_out_minute")
        .unwrap();
    assert_eq!((rate.count, rate.limit, rate.hard), (10, Some(10), true));
    assert_eq!(
        refused.refusal().as_deref(),
        Some("cac:rate:lim_out_minute")
    );
    // The first hit (at T0) leaves the window at T0 + 60 s.
    let slid = plan(
        &account,
        Some(&cac),
        Direction::Outbound,
        &outbound_alice(),
        Millis(T0.0 + 60_000),
    );
    assert_eq!(slid.checks.last().unwrap().count, 9);
    assert_eq!(slid.refusal(), None);
    // Inbound calls do not count in an `out` limit.
    let inbound = plan(
        &account,
        Some(&cac),
        Direction::Inbound,
        &inbound_alice(),
        at,
    );
    assert_eq!(inbound.refusal(), None);
}

#[test]
fn a_full_soft_rate_admits_and_is_flagged() {
    let account = demo();
    let mut cac = AccountCac::default();
    let mut hits = VecDeque::new();
    for n in 0..100u64 {
        hits.push_back(Millis(T0.0 + n));
    }
    cac.rates.insert("lim_in_hour".into(), hits);
    let plan = plan(
        &account,
        Some(&cac),
        Direction::Inbound,
        &inbound_alice(),
        Millis(T0.0 + 1000),
    );
    let rate = plan.checks.last().unwrap();
    assert_eq!(rate.label, "rate:lim_in_hour");
    assert_eq!(rate.count, 100);
    assert!(!rate.hard && !rate.fits());
    assert_eq!(rate.to_json()["ok"], true, "a soft limit passes");
    assert_eq!(plan.refusal(), None);
    assert_eq!(plan.soft_flags(), vec!["rate:lim_in_hour".to_string()]);
    assert_eq!(plan.admission.dims.len(), 2, "admitted with every dim");
}

#[test]
fn check_json_has_the_what_if_shape() {
    let check = Check {
        label: "account_out".into(),
        count: 10,
        limit: Some(10),
        hard: true,
    };
    assert_eq!(
        check.to_json(),
        json!({"dim": "account_out", "count": 10, "limit": 10, "hard": true, "ok": false})
    );
    let unlimited = Check {
        label: "user:us_bob".into(),
        count: 99,
        limit: None,
        hard: true,
    };
    assert!(unlimited.fits());
    assert_eq!(unlimited.to_json()["limit"], Value::Null);
}

fn with_limits(limits: Value) -> Account {
    let mut doc = demo_doc();
    doc["call_limits"] = limits;
    account::parse(ACME, &doc).unwrap()
}

#[test]
fn scoped_rate_limits_apply_to_their_scope_only() {
    let account = with_limits(json!([
        {"id": "lim_alice", "scope_kind": "user", "scope_id": "us_alice", "direction": "any",
         "period_sec": 60, "max_count": 1, "hard": 1},
        {"id": "lim_did", "scope_kind": "did", "scope_id": "did_alice", "direction": "in",
         "period_sec": 60, "max_count": 1, "hard": 1},
        {"id": "lim_num", "scope_kind": "number", "scope_id": null, "direction": "out",
         "period_sec": 60, "max_count": 1, "hard": 1},
        {"id": "lim_one", "scope_kind": "number", "scope_id": "12125550100", "direction": "out",
         "period_sec": 60, "max_count": 1, "hard": 1},
        {"id": "lim_dialer", "scope_kind": "account", "scope_id": null, "direction": "dialer",
         "period_sec": 60, "max_count": 1, "hard": 1},
    ]));
    let rate_keys = |plan: &Plan| -> Vec<String> {
        plan.admission.rates.iter().map(|r| r.key.clone()).collect()
    };
    let alice_out = plan(&account, None, Direction::Outbound, &outbound_alice(), T0);
    assert_eq!(
        rate_keys(&alice_out),
        vec!["lim_alice", "lim_num:12125550100", "lim_one"]
    );
    let bob_out = Subject {
        user_id: Some("us_bob"),
        number: Some("12125550199"),
        ..Subject::default()
    };
    let bob = plan(&account, None, Direction::Outbound, &bob_out, T0);
    assert_eq!(rate_keys(&bob), vec!["lim_num:12125550199"]);
    let inbound = plan(&account, None, Direction::Inbound, &inbound_alice(), T0);
    assert_eq!(rate_keys(&inbound), vec!["lim_did"]);
    let alice_internal = Subject {
        user_id: Some("us_alice"),
        ..Subject::default()
    };
    let internal = plan(&account, None, Direction::Internal, &alice_internal, T0);
    assert_eq!(
        rate_keys(&internal),
        vec!["lim_alice"],
        "`any` includes internal"
    );
}

#[test]
fn a_per_number_limit_counts_each_number_apart() {
    let account = with_limits(json!([
        {"id": "lim_num", "scope_kind": "number", "scope_id": null, "direction": "out",
         "period_sec": 60, "max_count": 1, "hard": 1},
    ]));
    let mut cac = AccountCac::default();
    let first = plan(&account, None, Direction::Outbound, &outbound_alice(), T0);
    cac.admit("c1", &first.admission, T0);
    let same = plan(
        &account,
        Some(&cac),
        Direction::Outbound,
        &outbound_alice(),
        T0,
    );
    assert_eq!(
        same.refusal().as_deref(),
        Some("cac:rate:lim_num:12125550100")
    );
    let other = Subject {
        number: Some("12125550101"),
        ..outbound_alice()
    };
    let other = plan(&account, Some(&cac), Direction::Outbound, &other, T0);
    assert_eq!(other.refusal(), None);
}

// ------------------------------------------------- admit and release

fn admission(dims: &[&str]) -> Admission {
    Admission {
        dims: dims.iter().map(|d| dim(d)).collect(),
        rates: Vec::new(),
    }
}

#[test]
fn admit_and_release_are_exact_and_leave_no_zero_counters() {
    let mut cac = AccountCac::default();
    let a = admission(&["account_out", "user:us_alice", "trunk:tr_acme"]);
    let b = admission(&["account_out", "user:us_bob", "trunk:tr_acme"]);
    let c = admission(&["account_in", "did:did_alice"]);
    cac.admit("a", &a, T0);
    cac.admit("b", &b, T0);
    cac.admit("c", &c, T0);
    assert_eq!(cac.count(&Dim::AccountOut), 2);
    assert_eq!(cac.count(&Dim::Trunk("tr_acme".into())), 2);
    assert_eq!(cac.count(&Dim::User("us_alice".into())), 1);
    assert_eq!(cac.count(&Dim::AccountIn), 1);
    assert_eq!(cac.admitted.len(), 3);
    cac.release("a", &a);
    let expected: BTreeMap<Dim, u32> = [
        (Dim::AccountOut, 1),
        (Dim::AccountIn, 1),
        (Dim::User("us_bob".into()), 1),
        (Dim::Did("did_alice".into()), 1),
        (Dim::Trunk("tr_acme".into()), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(cac.counts, expected, "alice's dim is gone, not zero");
    assert!(!cac.is_idle());
    cac.release("c", &c);
    cac.release("b", &b);
    assert!(cac.is_idle());
    assert!(cac.counts.is_empty());
    // A released call may be admitted again (a new call with that id).
    cac.admit("a", &a, T0);
    assert_eq!(cac.count(&Dim::AccountOut), 1);
}

#[test]
#[should_panic(expected = "admitted twice")]
fn admitting_a_call_twice_is_a_bug() {
    let mut cac = AccountCac::default();
    let a = admission(&["account_out"]);
    cac.admit("a", &a, T0);
    cac.admit("a", &a, T0);
}

#[test]
#[should_panic(expected = "released without holding counters")]
fn releasing_a_call_that_holds_nothing_is_a_bug() {
    let mut cac = AccountCac::default();
    let a = admission(&["account_out"]);
    cac.admit("a", &a, T0);
    cac.release("a", &a);
    cac.release("a", &a);
}

#[test]
fn rate_hits_are_windowed_and_capped() {
    let mut cac = AccountCac::default();
    let hit = |cap| Admission {
        dims: Vec::new(),
        rates: vec![RateHit {
            key: "k".into(),
            period_ms: 1000,
            cap,
        }],
    };
    cac.admit("a", &hit(3), Millis(100));
    cac.admit("b", &hit(3), Millis(600));
    assert_eq!(cac.rate_count("k", Millis(600), 1000), 2);
    assert_eq!(cac.rate_count("k", Millis(1099), 1000), 2);
    assert_eq!(
        cac.rate_count("k", Millis(1100), 1000),
        1,
        "a hit at t counts in (now - period, now]"
    );
    assert_eq!(cac.rate_count("other", Millis(600), 1000), 0);
    // Admitting prunes what left the window, and keeps at most `cap`.
    cac.admit("c", &hit(3), Millis(1100));
    assert_eq!(cac.rates["k"], VecDeque::from([Millis(600), Millis(1100)]));
    cac.admit("d", &hit(2), Millis(1200));
    cac.admit("e", &hit(2), Millis(1300));
    assert_eq!(cac.rates["k"], VecDeque::from([Millis(1200), Millis(1300)]));
    // Releasing a call never gives back a rate hit.
    cac.release("e", &hit(2));
    assert_eq!(cac.rate_count("k", Millis(1300), 1000), 2);
}

// ------------------------------------------ the shard, driven at random

/// Limits of the account the property runs on.
#[derive(Clone, Debug)]
struct Limits {
    max_in: u32,
    max_out: u32,
    alice: u32,
    did_alice: u32,
    did_main: u32,
    trunk: u32,
    rate_out: u32,
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        1..4u32,
        1..4u32,
        1..4u32,
        1..4u32,
        1..4u32,
        1..5u32,
        1..7u32,
    )
        .prop_map(
            |(max_in, max_out, alice, did_alice, did_main, trunk, rate_out)| Limits {
                max_in,
                max_out,
                alice,
                did_alice,
                did_main,
                trunk,
                rate_out,
            },
        )
}

fn tight_doc(limits: &Limits) -> Value {
    let mut doc = demo_doc();
    doc["max_in"] = limits.max_in.into();
    doc["max_out"] = limits.max_out.into();
    doc["users"][0]["max_simultaneous"] = limits.alice.into();
    doc["dids"][0]["max_channels"] = limits.did_main.into();
    doc["dids"][1]["max_channels"] = limits.did_alice.into();
    doc["trunks"][0]["max_channels"] = limits.trunk.into();
    doc["call_limits"][0]["max_count"] = limits.rate_out.into();
    doc["call_limits"][1]["max_count"] = 1.into();
    doc
}

fn limit_of(limits: &Limits, dim: &Dim) -> Option<u32> {
    match dim {
        Dim::AccountIn => Some(limits.max_in),
        Dim::AccountOut => Some(limits.max_out),
        Dim::User(id) if id == "us_alice" => Some(limits.alice),
        Dim::Did(id) if id == "did_alice" => Some(limits.did_alice),
        Dim::Did(id) if id == "did_main" => Some(limits.did_main),
        Dim::Trunk(_) => Some(limits.trunk),
        _ => None,
    }
}

fn rebuilt(shard: &Shard) -> Shard {
    let mut fresh = Shard::new(shard.config().clone());
    for event in shard.image() {
        fresh.apply(&event);
    }
    fresh
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    OutAlice,
    OutBob,
    OutTrunk,
    InAlice,
    InMain,
    InAnonymous,
    AliceToBob,
    BobToAlice,
    Stranger,
}

#[derive(Clone, Debug)]
enum Op {
    Route {
        call: u8,
        kind: Kind,
        node: u8,
        epoch: u64,
    },
    Dialog {
        call: u8,
        state: &'static str,
        code: Option<u16>,
        node: u8,
        epoch: Option<u64>,
    },
    Sync {
        node: u8,
        epoch: u64,
        listed: Vec<u8>,
    },
    Register {
        user: u8,
        expires: u32,
    },
    Tick,
    Reset,
    Advance(u64),
    Restart,
}

const CALLS: u8 = 14;

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        Just(Kind::OutAlice),
        Just(Kind::OutBob),
        Just(Kind::OutTrunk),
        Just(Kind::InAlice),
        Just(Kind::InMain),
        Just(Kind::InAnonymous),
        Just(Kind::AliceToBob),
        Just(Kind::BobToAlice),
        Just(Kind::Stranger),
    ];
    let state = prop_oneof![
        Just("early"),
        Just("confirmed"),
        Just("terminated"),
        Just("failed")
    ];
    let code = proptest::option::of(prop_oneof![Just(486u16), Just(487), Just(503), Just(200)]);
    prop_oneof![
        6 => (0..CALLS, kind, 0..2u8, 0..3u64).prop_map(|(call, kind, node, epoch)| Op::Route {
            call, kind, node, epoch
        }),
        6 => (0..CALLS + 2, state, code, 0..2u8, proptest::option::of(0..4u64)).prop_map(
            |(call, state, code, node, epoch)| Op::Dialog { call, state, code, node, epoch }
        ),
        1 => (0..2u8, 0..4u64, proptest::collection::vec(0..CALLS, 0..6)).prop_map(
            |(node, epoch, listed)| Op::Sync { node, epoch, listed }
        ),
        1 => (0..2u8, prop_oneof![Just(0u32), 30..600u32]).prop_map(|(user, expires)| {
            Op::Register { user, expires }
        }),
        1 => Just(Op::Tick),
        1 => Just(Op::Reset),
        3 => prop_oneof![
            4 => 0..5_000u64,
            2 => 5_000..60_000u64,
            1 => Just(121_000u64),
            1 => Just(14_400_001u64),
        ].prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

fn call_id(n: u8) -> String {
    format!("call-{n}")
}

fn node_name(n: u8) -> String {
    format!("edge-{n}")
}

fn route_call(call: u8, kind: Kind, node: u8, epoch: u64) -> Call {
    let (from, domain, to, ip, auth): (&str, &str, String, &str, Option<&str>) = match kind {
        Kind::OutAlice => (
            "1001",
            "acme.sip.io",
            format!("1212555{:04}", call),
            "198.51.100.7",
            Some("1001"),
        ),
        Kind::OutBob => (
            "1002",
            "acme.sip.io",
            format!("+1 (212) 555-{:04}", call),
            "198.51.100.8",
            Some("1002"),
        ),
        Kind::OutTrunk => (
            "15551230000",
            "carrier.example",
            format!("1313555{:04}", call),
            "203.0.113.10",
            None,
        ),
        Kind::InAlice => (
            "14155550001",
            "pstn.example",
            "12025550124".into(),
            "192.0.2.50",
            None,
        ),
        Kind::InMain => (
            "14155550002",
            "pstn.example",
            "+12025550123".into(),
            "192.0.2.50",
            None,
        ),
        Kind::InAnonymous => (
            "anonymous",
            "anonymous.invalid",
            "12025550124".into(),
            "192.0.2.50",
            None,
        ),
        Kind::AliceToBob => (
            "1001",
            "acme.sip.io",
            "1002".into(),
            "198.51.100.7",
            Some("1001"),
        ),
        Kind::BobToAlice => (
            "1002",
            "acme.sip.io",
            "sip:1001@acme.sip.io".into(),
            "198.51.100.8",
            Some("1002"),
        ),
        Kind::Stranger => (
            "777",
            "elsewhere.example",
            "1001".into(),
            "192.0.2.99",
            None,
        ),
    };
    let mut body = json!({
        "callId": call_id(call), "from": from, "fromDomain": domain, "to": to,
        "sourceIp": ip, "node": node_name(node), "epoch": epoch,
    });
    if let Some(user) = auth {
        body["authUser"] = user.into();
    }
    let request = RouteRequest::decode(body.as_object().unwrap(), [127, 0, 0, 1].into())
        .expect("a valid route body");
    Call::Route(Box::new(request))
}

fn presence_call(body: Value) -> Call {
    match presence::decode(body.as_object().unwrap()).expect("a valid presence body") {
        presence::Decoded::Event(event) => Call::Presence(Box::new(event)),
        presence::Decoded::Sync(report) => Call::Sync(Box::new(report)),
    }
}

fn reply_json(decision: &crate::shard::Decision) -> Value {
    serde_json::from_slice(&decision.reply.body).unwrap()
}

fn trace_count(record: &CallRecord, kinds: &[&str]) -> usize {
    record
        .trace
        .iter()
        .filter(|t| kinds.contains(&t.kind.as_str()))
        .count()
}

/// Every invariant of CAC on the shard as it stands at `now`.
fn check_invariants(shard: &Shard, limits: &Limits, now: Millis) -> Result<(), TestCaseError> {
    let mut expected: BTreeMap<Dim, u32> = BTreeMap::new();
    let mut admitted = std::collections::BTreeSet::new();
    for (call_id, record) in shard.calls() {
        let releases = trace_count(record, &["released", "reset"]);
        prop_assert!(releases <= 1, "{call_id} released {releases} times");
        prop_assert!(
            trace_count(record, &["ended"]) <= 1,
            "{call_id} ended twice"
        );
        prop_assert_eq!(
            trace_count(record, &["admitted"]),
            usize::from(record.start.admission.is_some())
        );
        for (i, entry) in record.trace.iter().enumerate() {
            prop_assert_eq!(
                entry.seq as usize,
                i + 1,
                "trace of {} in seq order",
                call_id
            );
        }
        prop_assert_eq!(
            record.start.rejected,
            record.start.admission.is_none(),
            "{} admitted iff not rejected",
            call_id
        );
        if record.admitted {
            prop_assert!(record.is_live(), "{call_id} ended still admitted");
            prop_assert_eq!(releases, 0);
            admitted.insert(call_id.clone());
            for dim in &record.start.admission.as_ref().unwrap().dims {
                *expected.entry(dim.clone()).or_insert(0) += 1;
            }
        } else if record.start.admission.is_some() {
            prop_assert_eq!(
                releases,
                1,
                "{} took counters, gave them back once",
                call_id
            );
        } else {
            prop_assert_eq!(releases, 0);
        }
    }
    let cac = shard.cac(ACME).cloned().unwrap_or_default();
    prop_assert_eq!(
        &cac.counts,
        &expected,
        "counters = sum of admitted calls' dims"
    );
    prop_assert_eq!(&cac.admitted, &admitted);
    for (dim, count) in &cac.counts {
        prop_assert!(*count > 0);
        if let Some(limit) = limit_of(limits, dim) {
            prop_assert!(*count <= limit, "{:?} at {} over {}", dim, count, limit);
        }
    }
    prop_assert!(
        cac.rate_count("lim_out_minute", now, 60_000) <= limits.rate_out,
        "hard rate exceeded"
    );
    Ok(())
}

/// The shard rebuilt from its image holds the same calls and CAC.
fn check_image(shard: &Shard) -> Result<Shard, TestCaseError> {
    let fresh = rebuilt(shard);
    prop_assert_eq!(fresh.calls(), shard.calls());
    // An account whose CAC state is empty may be absent or present (an
    // entry stays after its last release): `/cac` shows both as zeros.
    let held = |shard: &Shard| -> BTreeMap<String, AccountCac> {
        shard
            .cac_all()
            .iter()
            .filter(|(_, cac)| !cac.is_idle() || !cac.rates.is_empty())
            .map(|(id, cac)| (id.clone(), cac.clone()))
            .collect()
    };
    prop_assert_eq!(held(&fresh), held(shard));
    prop_assert_eq!(fresh.registrations(), shard.registrations());
    prop_assert_eq!(fresh.call_index(), shard.call_index());
    for node in 0..2 {
        prop_assert_eq!(
            fresh.node_epoch(&node_name(node)),
            shard.node_epoch(&node_name(node))
        );
    }
    Ok(fresh)
}

fn run(limits: Limits, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut shard = shard_with(&tight_doc(&limits));
    let mut now = T0;
    for (step, op) in ops.into_iter().enumerate() {
        let salt = step as u64;
        match op {
            Op::Route {
                call,
                kind,
                node,
                epoch,
            } => {
                let id = call_id(call);
                let known = shard.call(&id).map(|r| r.start.rtjson.clone());
                let before = shard.cac(ACME).cloned().unwrap_or_default();
                let decision = shard.execute(now, salt, &route_call(call, kind, node, epoch));
                let body = reply_json(&decision);
                prop_assert_eq!(decision.reply.status, 200);
                let rtjson = &body["rtjson"];
                if let Some(recorded) = known {
                    prop_assert!(decision.events.is_empty(), "a retry changes nothing");
                    prop_assert_eq!(rtjson.to_string(), recorded, "a retry gets the decision");
                    continue;
                }
                let Some(record) = shard.call(&id) else {
                    prop_assert!(matches!(kind, Kind::Stranger), "{:?} not recorded", kind);
                    prop_assert_eq!(rtjson["detail"].as_str(), Some("unknown_caller"));
                    continue;
                };
                if let Some(detail) = rtjson["detail"]
                    .as_str()
                    .and_then(|d| d.strip_prefix("cac:"))
                {
                    prop_assert_eq!(rtjson["code"].as_u64(), Some(503));
                    prop_assert!(!record.admitted && record.start.rejected);
                    if let Some(key) = detail.strip_prefix("rate:") {
                        prop_assert_eq!(key, "lim_out_minute");
                        prop_assert!(before.rate_count(key, now, 60_000) >= limits.rate_out);
                    } else {
                        let dim = dim(&detail
                            .replace("max_out", "account_out")
                            .replace("max_in", "account_in"));
                        let limit = limit_of(&limits, &dim).expect("a refusing dim has a limit");
                        prop_assert!(
                            before.count(&dim) >= limit,
                            "refused {} below its limit",
                            detail
                        );
                    }
                }
                if matches!(kind, Kind::InAnonymous) {
                    prop_assert_eq!(rtjson["code"].as_u64(), Some(433));
                }
                if record.admitted {
                    prop_assert!(["proxy", "flow", "outbound"]
                        .contains(&rtjson["action"].as_str().unwrap_or("")));
                }
            }
            Op::Dialog {
                call,
                state,
                code,
                node,
                epoch,
            } => {
                let id = call_id(call);
                let before = shard.call(&id).cloned();
                let mut body = json!({"type": "dialog", "callId": id, "state": state,
                                      "node": node_name(node)});
                if let Some(code) = code {
                    body["code"] = code.into();
                }
                if let Some(epoch) = epoch {
                    body["epoch"] = epoch.into();
                }
                let decision = shard.execute(now, salt, &presence_call(body));
                let Some(before) = before else {
                    prop_assert_eq!(decision.reply.status, 404);
                    prop_assert!(decision.events.is_empty());
                    continue;
                };
                prop_assert_eq!(decision.reply.status, 200);
                let after = shard.call(&id).unwrap();
                if matches!(state, "terminated" | "failed") {
                    prop_assert!(
                        !after.is_live() && !after.admitted,
                        "{} ended and released",
                        id
                    );
                    if !before.is_live() {
                        prop_assert_eq!(&reply_json(&decision)["applied"], &json!(false));
                        prop_assert_eq!(&after.trace, &before.trace, "an ended call's trace stays");
                    }
                }
            }
            Op::Sync {
                node,
                epoch,
                listed,
            } => {
                let ids: Vec<String> = listed.into_iter().map(call_id).collect();
                let known = shard.node_epoch(&node_name(node));
                let body = json!({"type": "dialog", "state": "sync", "node": node_name(node),
                                  "epoch": epoch, "callIds": ids});
                let decision = shard.execute(now, salt, &presence_call(body));
                prop_assert_eq!(decision.reply.status, 200);
                let grace = shard.config().sync_grace_ms;
                for record in shard.calls().values().filter(|r| r.is_live()) {
                    let start = &record.start;
                    if start.node != node_name(node) {
                        continue;
                    }
                    prop_assert!(
                        ids.contains(&start.call_id) || now.since(start.at) < grace,
                        "{} unlisted, older than the grace, still live",
                        start.call_id
                    );
                    if epoch > known {
                        prop_assert!(
                            start.epoch >= epoch,
                            "{} of an older epoch still live",
                            start.call_id
                        );
                    }
                }
                prop_assert_eq!(shard.node_epoch(&node_name(node)), known.max(epoch));
            }
            Op::Register { user, expires } => {
                let name = if user == 0 { "1001" } else { "1002" };
                let event = if expires == 0 {
                    "unregistered"
                } else {
                    "registered"
                };
                let body = json!({"type": "register", "event": event, "username": name,
                    "realm": "acme.sip.io", "contact": format!("sip:{name}@198.51.100.{user}:5060"),
                    "expires": expires, "node": "edge-0"});
                let decision = shard.execute(now, salt, &presence_call(body));
                prop_assert_eq!(decision.reply.status, 200);
            }
            Op::Tick => {
                let decision = shard.execute(now, salt, &Call::Tick);
                prop_assert_eq!(decision.reply.status, 200);
                let config = shard.config().clone();
                for record in shard.calls().values().filter(|r| r.is_live()) {
                    let age = now.since(record.start.at);
                    prop_assert!(
                        age < config.cac_max_call_ms,
                        "{} outlived max_call",
                        record.start.call_id
                    );
                    if record.progress != crate::calls::Progress::Confirmed {
                        prop_assert!(
                            age < config.cac_setup_ttl_ms,
                            "{} outlived setup",
                            record.start.call_id
                        );
                    }
                }
            }
            Op::Reset => {
                let live_before: Vec<String> = shard
                    .calls()
                    .values()
                    .filter(|r| r.is_live())
                    .map(|r| r.start.call_id.clone())
                    .collect();
                let decision = shard.execute(
                    now,
                    salt,
                    &Call::CacReset {
                        account_id: ACME.into(),
                    },
                );
                prop_assert_eq!(decision.reply.status, 200);
                let cac = shard.cac(ACME).cloned().unwrap_or_default();
                prop_assert!(cac.is_idle(), "reset leaves nothing held");
                for id in live_before {
                    prop_assert!(shard.call(&id).unwrap().is_live(), "the calls go on");
                }
            }
            Op::Advance(ms) => now = Millis(now.0 + ms),
            Op::Restart => shard = rebuilt(&shard),
        }
        check_invariants(&shard, &limits, now)?;
        check_image(&shard)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn cac_counters_are_exact_bounded_released_once_and_survive_an_image(
        limits in limits(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(limits, ops)?;
    }
}

/// A fixed sequence the property covers at random, spelled out: it must
/// fail loudly if the counters ever drift on the path operators hit most.
#[test]
fn a_busy_outbound_minute_is_refused_then_admitted_again() {
    let limits = Limits {
        max_in: 3,
        max_out: 2,
        alice: 2,
        did_alice: 2,
        did_main: 2,
        trunk: 3,
        rate_out: 3,
    };
    let ops = vec![
        Op::Route {
            call: 0,
            kind: Kind::OutAlice,
            node: 0,
            epoch: 1,
        },
        Op::Route {
            call: 1,
            kind: Kind::OutBob,
            node: 0,
            epoch: 1,
        },
        Op::Route {
            call: 2,
            kind: Kind::OutTrunk,
            node: 0,
            epoch: 1,
        },
        Op::Dialog {
            call: 0,
            state: "terminated",
            code: None,
            node: 0,
            epoch: None,
        },
        Op::Dialog {
            call: 0,
            state: "terminated",
            code: None,
            node: 0,
            epoch: None,
        },
        Op::Route {
            call: 3,
            kind: Kind::OutTrunk,
            node: 0,
            epoch: 1,
        },
        Op::Dialog {
            call: 1,
            state: "failed",
            code: Some(503),
            node: 0,
            epoch: None,
        },
        Op::Route {
            call: 4,
            kind: Kind::OutTrunk,
            node: 0,
            epoch: 1,
        },
        Op::Advance(60_000),
        Op::Route {
            call: 5,
            kind: Kind::OutTrunk,
            node: 0,
            epoch: 1,
        },
        Op::Restart,
        Op::Sync {
            node: 0,
            epoch: 2,
            listed: vec![],
        },
    ];
    run(limits.clone(), ops.clone()).unwrap();
    // And the outcomes, checked directly.
    let mut shard = shard_with(&tight_doc(&limits));
    let mut now = T0;
    let mut details = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Route {
                call,
                kind,
                node,
                epoch,
            } => {
                let d = shard.execute(now, i as u64, &route_call(*call, *kind, *node, *epoch));
                let body = reply_json(&d);
                details.push(
                    body["rtjson"]["detail"]
                        .as_str()
                        .unwrap_or(body["rtjson"]["action"].as_str().unwrap())
                        .to_string(),
                );
            }
            Op::Dialog { call, state, .. } => {
                shard.execute(
                    now,
                    i as u64,
                    &presence_call(
                        json!({"type": "dialog", "callId": call_id(*call), "state": state}),
                    ),
                );
            }
            Op::Advance(ms) => now = Millis(now.0 + ms),
            Op::Restart => shard = rebuilt(&shard),
            Op::Sync { node, epoch, .. } => {
                let d = shard.execute(
                    now,
                    i as u64,
                    &presence_call(json!({"type": "dialog", "state": "sync",
                        "node": node_name(*node), "epoch": epoch, "callIds": []})),
                );
                assert_eq!(reply_json(&d)["released"], 2, "call-3 and call-5 were live");
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(
        details,
        vec![
            "outbound",
            "outbound",
            "cac:max_out",
            "outbound",
            "cac:rate:lim_out_minute",
            "outbound"
        ]
    );
    assert!(shard.cac(ACME).unwrap().is_idle());
}

/// The property catches the planted double release (a duplicated
/// `terminated` giving the counters back twice).
#[cfg(feature = "planted-bugs")]
#[test]
fn the_property_catches_a_planted_double_release() {
    use crate::planted::{plant, Bug};
    let limits = Limits {
        max_in: 3,
        max_out: 3,
        alice: 2,
        did_alice: 2,
        did_main: 2,
        trunk: 3,
        rate_out: 5,
    };
    let terminated = Op::Dialog {
        call: 0,
        state: "terminated",
        code: None,
        node: 0,
        epoch: None,
    };
    let ops = vec![
        Op::Route {
            call: 0,
            kind: Kind::OutAlice,
            node: 0,
            epoch: 1,
        },
        terminated.clone(),
        terminated,
    ];
    assert!(run(limits.clone(), ops.clone()).is_ok(), "clean build");
    plant(Some(Bug::CacDoubleRelease));
    let caught = run(limits, ops);
    plant(None);
    let error = caught.expect_err("a double release must be caught");
    // Seen first as the duplicate report being applied, then (if that
    // check went) as a second `released` in the trace.
    let text = format!("{error}");
    assert!(
        text.contains("applied")
            || text.contains("Bool(true)")
            || text.contains("released 2 times"),
        "{text}"
    );
}

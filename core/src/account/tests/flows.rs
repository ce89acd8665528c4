//! Flow graphs, queues and queue members.

use super::*;

#[test]
fn flow_graphs_are_checked() {
    let flow = |nodes: Value, edges: Value, start: &str| {
        with(
            "/flows",
            json!([{"id": "f", "start": start, "nodes": nodes, "edges": edges}]),
        )
    };
    let nodes =
        json!([{"id": "a", "data": {"kind": "entry"}}, {"id": "b", "data": {"kind": "hangup"}}]);
    parse(
        "acc_t",
        &flow(
            nodes.clone(),
            json!([{"id": "e", "source": "a", "target": "b"}]),
            "a",
        ),
    )
    .expect("valid flow");
    assert_refused(
        &flow(nodes.clone(), json!([]), "z"),
        "flows[0].start",
        "no node",
    );
    assert_refused(
        &flow(
            nodes.clone(),
            json!([{"id": "e", "source": "a", "target": "z"}]),
            "a",
        ),
        "flows[0].edges[0].target",
        "no node",
    );
    assert_refused(
        &flow(
            nodes.clone(),
            json!([{"id": "e", "source": "z", "target": "a"}]),
            "a",
        ),
        "flows[0].edges[0].source",
        "no node",
    );
    assert_refused(
        &flow(
            nodes.clone(),
            json!([{"id": "e", "source": "a", "target": "b"}, {"id": "e", "source": "b", "target": "a"}]),
            "a",
        ),
        "flows[0].edges[1].id",
        "duplicate",
    );
    assert_refused(
        &flow(
            nodes,
            json!([{"id": "e1", "source": "a", "target": "b"},
                            {"id": "e2", "source": "a", "target": "a"}]),
            "a",
        ),
        "flows[0].edges[1].sourceHandle",
        "duplicate",
    );
    let dup =
        json!([{"id": "a", "data": {"kind": "entry"}}, {"id": "a", "data": {"kind": "hangup"}}]);
    assert_refused(
        &flow(dup, json!([]), "a"),
        "flows[0].nodes[1].id",
        "duplicate",
    );
    assert_refused(
        &flow(
            json!([{"id": "a", "data": {"kind": "dance"}}]),
            json!([]),
            "a",
        ),
        "flows[0].nodes[0].data.kind",
        "unknown node kind",
    );
    assert_refused(
        &flow(json!([{"id": "a", "data": {}}]), json!([]), "a"),
        "flows[0].nodes[0].data.kind",
        "required",
    );
    assert_refused(
        &flow(json!([{"id": "a", "data": {"kind": 3}}]), json!([]), "a"),
        "flows[0].nodes[0].data.kind",
        "string",
    );
    assert_refused(
        &flow(
            json!([{"id": "a", "data": {"kind": "enqueue", "queueId": "q_x"}}]),
            json!([]),
            "a",
        ),
        "flows[0].nodes[0].data.queueId",
        "no queue",
    );
    assert_refused(
        &flow(
            json!([{"id": "a", "data": {"kind": "timeCondition", "scheduleId": "s"}}]),
            json!([]),
            "a",
        ),
        "flows[0].nodes[0].data.scheduleId",
        "no schedule",
    );
    let many: Vec<Value> = (0..=crate::limits::NODES_PER_FLOW_MAX)
        .map(|i| json!({"id": format!("n{i}"), "data": {"kind": "play"}}))
        .collect();
    assert_refused(
        &flow(json!(many), json!([]), "n0"),
        "flows[0].nodes",
        "at most",
    );
}

#[test]
fn queues_and_members_are_checked() {
    let mut doc = with("/queues", json!([{"id": "q"}]));
    set(
        &mut doc,
        "/queue_members",
        json!([{"queue_id": "q", "user_id": "us_a"}]),
    );
    assert_refused(&doc, "queue_members[0].user_id", "not an agent");
    set(&mut doc, "/users/0/is_agent", json!(1));
    let account = parse("acc_t", &doc).expect("agent member");
    let member = account.queue_members("q").next().expect("member");
    assert_eq!(
        (member.tier_level, member.position, member.mode),
        (1, 0, MemberMode::Static)
    );
    let queue = account.queue("q").expect("queue");
    assert_eq!(
        (
            queue.strategy,
            queue.agent_ring_timeout_sec,
            queue.max_wait_sec
        ),
        (QueueStrategy::LongestIdle, 20, 600)
    );
    set(
        &mut doc,
        "/queue_members/1",
        json!({"queue_id": "q", "user_id": "us_a", "tier_level": 2}),
    );
    assert_refused(&doc, "queue_members[1].user_id", "duplicate");
    set(
        &mut doc,
        "/queue_members/1",
        json!({"queue_id": "q_x", "user_id": "us_a"}),
    );
    assert_refused(&doc, "queue_members[1].queue_id", "no queue");
    set(
        &mut doc,
        "/queue_members/1",
        json!({"queue_id": "q", "user_id": "us_x"}),
    );
    assert_refused(&doc, "queue_members[1].user_id", "no user");
    assert_refused(
        &with("/queues", json!([{"id": "q", "moh_mode": "file"}])),
        "queues[0].moh_media_id",
        "required",
    );
    assert_refused(
        &with("/queues", json!([{"id": "q", "language": "xx-XX"}])),
        "queues[0].language",
        "not one of",
    );
    assert_refused(
        &with("/queues", json!([{"id": "q", "agent_ring_timeout_sec": 0}])),
        "queues[0].agent_ring_timeout_sec",
        "at least 1",
    );
    assert_refused(
        &with("/queues", json!([{"id": "q", "strategy": "lottery"}])),
        "queues[0].strategy",
        "unknown variant",
    );
}

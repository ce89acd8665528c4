//! Picking the agent for a caller (reference §7.5): among the ready members
//! of the caller's queue at the lowest level, by the queue's strategy.

use super::agent::Agent;
use crate::account::QueueStrategy;

/// A ready member of the queue.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub agent: &'a Agent,
    /// The agent's level in this queue (lower first).
    pub level: u32,
    /// `queue_members.position` (top_down order), else `u32::MAX`.
    pub position: u32,
}

/// The agents to offer to: one, or every candidate at the lowest level for
/// `ring_all`. `cursor` is the agent round_robin offered last in this
/// queue; `salt` is the decision's randomness (random). Empty when there is
/// no candidate.
pub fn pick(
    strategy: QueueStrategy,
    candidates: &[Candidate],
    cursor: Option<&str>,
    salt: u64,
) -> Vec<String> {
    let Some(level) = candidates.iter().map(|c| c.level).min() else {
        return Vec::new();
    };
    let mut tier: Vec<&Candidate> = candidates.iter().filter(|c| c.level == level).collect();
    tier.sort_by(|a, b| a.agent.user_id.cmp(&b.agent.user_id));
    let id = |c: &Candidate| c.agent.user_id.clone();
    let chosen = match strategy {
        QueueStrategy::RingAll => return tier.iter().map(|c| id(c)).collect(),
        QueueStrategy::LongestIdle => tier.iter().min_by_key(|c| c.agent.idle_since),
        QueueStrategy::FewestCalls => tier
            .iter()
            .min_by_key(|c| (c.agent.calls, c.agent.idle_since)),
        QueueStrategy::LeastTalkTime => tier
            .iter()
            .min_by_key(|c| (c.agent.talk_ms, c.agent.idle_since)),
        QueueStrategy::TopDown => tier.iter().min_by_key(|c| c.position),
        QueueStrategy::RoundRobin => cursor
            .and_then(|last| tier.iter().find(|c| c.agent.user_id.as_str() > last))
            .or(tier.first()),
        QueueStrategy::Random => {
            let index = (splitmix(salt) % tier.len() as u64) as usize;
            tier.get(index)
        }
    };
    chosen.map(|c| vec![id(c)]).unwrap_or_default()
}

/// A 64-bit mix (SplitMix64's finalizer): spreads a salt over the range.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Millis;

    fn agent(id: &str, idle: u64, calls: u32, talk_ms: u64) -> Agent {
        let mut a = Agent::new("acc", id, Millis(idle));
        a.calls = calls;
        a.talk_ms = talk_ms;
        a
    }

    fn pool() -> Vec<Agent> {
        vec![
            agent("a", 30, 5, 100),
            agent("b", 10, 7, 50),
            agent("c", 20, 1, 900),
            agent("d", 0, 0, 0),
        ]
    }

    fn candidates(agents: &[Agent]) -> Vec<Candidate<'_>> {
        agents
            .iter()
            .enumerate()
            .map(|(i, agent)| Candidate {
                agent,
                level: if agent.user_id == "d" { 2 } else { 1 },
                position: 10 - i as u32,
            })
            .collect()
    }

    #[test]
    fn each_strategy_picks_within_the_lowest_level() {
        let agents = pool();
        let c = candidates(&agents);
        let one = |s| pick(s, &c, None, 0);
        assert_eq!(one(QueueStrategy::LongestIdle), ["b"]);
        assert_eq!(one(QueueStrategy::FewestCalls), ["c"]);
        assert_eq!(one(QueueStrategy::LeastTalkTime), ["b"]);
        assert_eq!(one(QueueStrategy::TopDown), ["c"]);
        assert_eq!(one(QueueStrategy::RingAll), ["a", "b", "c"]);
        assert_eq!(one(QueueStrategy::RoundRobin), ["a"]);
        assert_eq!(pick(QueueStrategy::RoundRobin, &c, Some("a"), 0), ["b"]);
        assert_eq!(pick(QueueStrategy::RoundRobin, &c, Some("c"), 0), ["a"]);
        assert!(pick(QueueStrategy::LongestIdle, &[], None, 0).is_empty());
    }

    #[test]
    fn random_is_a_function_of_the_salt_and_reaches_every_agent() {
        let agents = pool();
        let c = candidates(&agents);
        let mut seen = std::collections::BTreeSet::new();
        for salt in 0..64 {
            let first = pick(QueueStrategy::Random, &c, None, salt);
            assert_eq!(first, pick(QueueStrategy::Random, &c, None, salt));
            seen.insert(first[0].clone());
        }
        assert_eq!(seen.len(), 3, "every level-1 agent, never d");
    }
}

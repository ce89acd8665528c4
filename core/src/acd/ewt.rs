//! The estimated wait at join (reference §7.7): position over staffed
//! agents times the handle-time estimate.

/// Estimated wait in seconds for a caller that would be `position` (1 =
/// next) with `staffed` agents logged in and reachable, when each call
/// takes `aht_sec`.
pub fn estimate_sec(position: u32, staffed: u32, aht_sec: u32) -> u64 {
    let per_agent = u64::from(position).div_ceil(u64::from(staffed.max(1)));
    per_agent.saturating_mul(u64::from(aht_sec))
}

/// True when the estimate passes the queue's threshold (both set).
pub fn exceeds(
    position: u32,
    staffed: u32,
    threshold_sec: Option<u32>,
    aht_sec: Option<u32>,
) -> bool {
    match (threshold_sec, aht_sec) {
        (Some(threshold), Some(aht)) => estimate_sec(position, staffed, aht) > u64::from(threshold),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_grows_with_position_and_shrinks_with_agents() {
        assert_eq!(estimate_sec(1, 1, 240), 240);
        assert_eq!(estimate_sec(3, 2, 240), 480);
        assert_eq!(estimate_sec(2, 0, 100), 200, "no agent counts as one");
        assert!(exceeds(2, 1, Some(180), Some(120)));
        assert!(!exceeds(1, 1, Some(180), Some(120)));
        assert!(!exceeds(9, 1, None, Some(120)), "off without a threshold");
    }
}

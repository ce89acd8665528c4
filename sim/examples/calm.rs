//! Prints every step of one calm run (`calm <seed> <shards>`): diff the
//! output for 1 and N shards to find where a `shard-count` failure starts.

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("calm <seed> <shards>"))
        .collect();
    let (seed, shards) = match args[..] {
        [seed, shards] => (seed, shards as usize),
        _ => panic!("usage: calm <seed> <shards>"),
    };
    let knobs = sim::knobs::Knobs::calm(seed, shards);
    let _ = sim::run(
        knobs,
        sim::world::Options {
            steps: None,
            trace: true,
        },
    );
}

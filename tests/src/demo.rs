//! Facts about the demo accounts (`examples/demo/`) the tests rely on.

/// The demo account with domain `acme.sip.io`.
pub const ACME: &str = "acc_acme";
pub const ACME_REALM: &str = "acme.sip.io";
/// Alice: extension 1001, MD5 and SHA-256 HA1s, not an agent.
pub const ALICE: &str = "1001";
pub const ALICE_PASSWORD: &str = "alice-secret-1001";
/// Bob: extension 1002, MD5 HA1s only.
pub const BOB: &str = "1002";
pub const BOB_PASSWORD: &str = "bob-secret-1002";
/// A disabled user (1009) whose device has a valid password.
pub const DISABLED: &str = "1009";
pub const DISABLED_PASSWORD: &str = "disabled-secret-1009";
/// The Acme agent key (stored hashed in the document).
pub const ACME_AGENT_KEY: &str = "acme-agent-key";
/// The second demo account.
pub const GLOBEX: &str = "acc_globex";
pub const GLOBEX_REALM: &str = "globex.sip.io";

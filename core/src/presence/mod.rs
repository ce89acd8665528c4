//! Presence fed by the SIP layer (`/presence/event`): registrations give
//! devices their contacts and `reachable` flag; dialog events move calls.

pub mod registrations;

pub use registrations::{Binding, Registrations};

//! Any other source (shops, mini-programs): Shequn's own signed webhook,
//! both ways.

mod inbound;
mod outbound;

pub use inbound::sign;

/// The generic platform: both sides.
#[derive(Debug, Clone, Copy)]
pub struct Generic;

//! WeCom (企业微信) customer groups: the encrypted XML callbacks (signature,
//! AES key, URL verification), group robots and customer-group mass sends.

pub mod crypto;
mod inbound;
pub mod mass;
mod robot;

pub use robot::WecomRobot;

/// WeCom callbacks and mass sends (robots are [`WecomRobot`]).
#[derive(Debug, Clone, Copy)]
pub struct Wecom;

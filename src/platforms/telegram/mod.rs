//! Telegram: Bot API updates (secret-token header) and sends.

mod inbound;
mod outbound;

/// Telegram: both sides.
#[derive(Debug, Clone, Copy)]
pub struct Telegram;

//! Slack: the Events API (signed requests, URL verification) and
//! `chat.postMessage`.

mod inbound;
mod outbound;

/// Slack: both sides.
#[derive(Debug, Clone, Copy)]
pub struct Slack;

//! Inbound chat-platform webhooks.
pub mod crypto;

//! Feishu / Lark: event callbacks (verification token, optional encryption
//! and signature) and custom bots.

mod bot;
pub mod crypto;
mod inbound;

pub use bot::{feishu_sign, FeishuBot};

/// Feishu callbacks (bots are [`FeishuBot`]).
#[derive(Debug, Clone, Copy)]
pub struct Feishu;

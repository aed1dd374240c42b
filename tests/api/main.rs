//! The API integration tests: the real app over real HTTP on a real PostgreSQL.

#[allow(dead_code)] // not every helper is used by every test module
mod helpers;

mod bargains;
mod campaigns;
mod channel_stats;
mod channels;
mod checkin;
mod checkin_chat;
mod cli;
mod console;
mod contract;
mod contract_rules;
mod coupons;
mod crash;
mod delivery;
mod events;
mod flash_crash;
mod flash_sales;
mod foundation;
mod group_buys;
mod groups;
mod lotteries;
mod mall;
mod members;
mod metrics;
mod metrics_cohorts;
mod metrics_funnel;
mod metrics_groups;
mod outbound;
mod outbound_crash;
mod outbound_events;
mod points;
mod reactions;
mod referrals;
mod rollups;
mod sop;
mod sop_crash;
mod tier_rules;
mod users;
mod webhooks;

//! Shequn (社群): a community-operations SCRM over PostgreSQL.
//!
//! Feature folders own their routes, DTOs and SQL: `workspaces`, `keys`,
//! `staff`, `groups`, `members`, `memberships`, `tiers`, `tags`, `layers`,
//! `campaigns`, `events`, `connections`, `hooks`, `contents`, `sop`,
//! `deliveries`, `metrics`, `audit`, and the `demo` data generator. Each chat
//! platform's knowledge lives in `platforms/<name>/`. Cross-cutting code: `config`,
//! `telemetry`, `startup`, `state`, `error`, `db`, `clock`, `http`, `jobs`;
//! `app` assembles the state (infrastructure plus each feature's runtime) and
//! `api` the routes of every feature.

pub mod api;
pub mod app;
pub mod audit;
pub mod bargains;
pub mod campaigns;
pub mod channels;
pub mod checkin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod console;
pub mod contents;
pub mod coupons;
pub mod db;
pub mod deliveries;
pub mod demo;
mod demo_campaigns;
mod demo_fission;
mod demo_social;
pub mod error;
pub mod events;
pub mod flash_sales;
pub mod group_buys;
pub mod groups;
pub mod hooks;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod layers;
pub mod lotteries;
pub mod mall;
pub mod members;
pub mod memberships;
pub mod metrics;
pub mod platform;
pub mod platforms;
pub mod points;
pub mod referrals;
pub mod sop;
pub mod staff;
pub mod startup;
pub mod state;
pub mod tags;
pub mod telemetry;
pub mod tier_rules;
pub mod tiers;
pub mod users;
pub mod validate;
pub mod webhooks;
pub mod workspaces;

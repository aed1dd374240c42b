//! SOP plans (标准作业流程): timed content plans per group or layer.

pub mod cron;
pub mod timing;

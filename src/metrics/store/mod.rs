//! The metrics store: rollups kept equal to the raw events (`rollup`, fed by
//! the event subscriber in `reaction`), the packed formats they are kept in
//! — member sets per day (`sets`), stints per group (`stints`), orders per
//! payment day (`order_days`), funnel timelines (`timelines`), each with its
//! encoder (SQL, beside the rollup) and its decoder side by side — and every
//! SQL read the reports need (`repo`, `group_days`).

pub mod chunks;
pub mod group_days;
pub mod incremental;
pub mod order_days;
pub mod packed;
pub mod points;
pub mod reaction;
pub mod repo;
pub mod rollup;
pub mod rows;
pub mod sets;
pub mod stints;
pub mod timelines;

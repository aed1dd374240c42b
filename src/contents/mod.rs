//! The content library: message templates (text, link card, image,
//! mini-program card, file) with `{{variables}}`. A template that cannot
//! render — an unknown variable, an unclosed brace — is refused when saved,
//! so every stored template renders. A content used by an SOP step cannot be
//! deleted (409).

pub mod live;
pub mod model;
pub mod repo;
mod routes;
pub mod template;

pub use live::LiveVars;
pub use routes::router;

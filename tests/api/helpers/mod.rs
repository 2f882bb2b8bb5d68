//! The test harness, one concern per submodule (see each one's header).

mod app;

pub use app::*;

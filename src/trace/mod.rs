//! The trace: one [`event::TraceEvent`] enum and its renderers (fixed-column
//! text, JSON lines). Renderers stream; nothing keeps the whole trace.

pub mod event;
pub mod jsonl;
pub mod text;

pub use event::{StopReason, TraceEvent, TraceSink};

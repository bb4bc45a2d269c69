//! The trace: one [`event::TraceEvent`] enum and its renderers (fixed-column
//! text, JSON lines). Renderers stream; nothing keeps the whole trace.

pub mod event;
pub mod html;
pub mod jsonl;
pub mod mermaid;
pub mod pictures;
pub mod recorded;
pub mod shiviz;
pub mod svg;
pub mod text;

pub use event::{StopReason, TraceEvent, TraceSink};

//! The JSON element tree: the lossless, positioned form of every FHIR payload.
//!
//! `parse` turns text into a [`Json`] tree that keeps what FHIR needs and generic JSON
//! libraries lose: the byte offset of every node (for `file:line:col` and
//! OperationOutcome locations), member order, duplicate keys, and the exact text of every
//! number (`1.50` stays `1.50`; 20-digit decimals survive). `write` turns a tree back into
//! text, so parse → write is value-identical for any valid JSON.
//!
//! [`issue`] is the one diagnostic type every layer reports with. This crate knows nothing
//! about FHIR structure; FHIRPath, validation and translation build on it.

mod build;
pub mod issue;
pub mod msg;
mod out;
mod parse;
mod pos;
pub mod reference;
mod scan;
pub mod temporal;
mod value;
mod write;

pub use out::{Arena, Builder, Obj, Out};
pub use parse::{MAX_DEPTH, ParseError, parse};
pub use pos::{LineCol, LineIndex, Pos, line_col_of};
pub use value::{Json, Kind, Member, Object};
pub use write::{write_compact, write_pretty};

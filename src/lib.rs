//! yoloq-gen: YOLOv8 checkpoint → quantized integer model → synthesizable Verilog.
//!
//! Stages (each a function returning the next type):
//! [`import::Checkpoint`] → [`model::FloatGraph`] → [`fuse::FusedGraph`] → quantized → hardware.

pub mod architecture;
pub mod compact_yaml;
pub mod defaults;
pub mod draw;
pub mod error;
pub mod eval;
pub mod fuse;
pub mod graph;
pub mod image_io;
pub mod import;
pub mod model;
pub mod postprocess;
pub mod preprocess;
pub mod progress;
pub mod quant;
pub mod rtl;
pub mod synthetic;
pub mod util;
pub mod validate;

pub use error::{Error, Result};

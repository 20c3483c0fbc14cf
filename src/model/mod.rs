//! The YOLOv8 float model: architecture rebuilt from tensor shapes and a float32 forward
//! pass that matches Ultralytics layer by layer (see `tests/float_parity.rs`).

pub mod arch;
pub mod conv;
pub mod conv_tiled;
pub mod conv_winograd;
pub mod detect;
pub mod forward;
pub mod ops;

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::import::Checkpoint;
use ndarray::Array3;

/// The model as imported: convolutions may still carry BatchNorm.
#[derive(Clone, Debug)]
pub struct FloatGraph(pub Graph);

impl FloatGraph {
    /// Build from a checkpoint (fused or unfused).
    pub fn from_checkpoint(ck: &Checkpoint) -> Result<Self> {
        arch::build_graph(ck).map(FloatGraph)
    }

    /// Load a checkpoint file and build the graph.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        Self::from_checkpoint(&crate::import::load_checkpoint(path)?)
    }

    pub fn graph(&self) -> &Graph {
        &self.0
    }
}

/// Check that an input size is usable: positive multiples of 32.
pub fn check_imgsz(arg: &str, h: usize, w: usize) -> Result<()> {
    if h == 0 || w == 0 || !h.is_multiple_of(32) || !w.is_multiple_of(32) {
        return Err(Error::arg(
            arg,
            format!("image size {h}x{w} must be a positive multiple of 32 (the network's largest stride), e.g. 320 or 640"),
        ));
    }
    Ok(())
}

/// Run the float model; see [`forward::forward`].
pub fn run(g: &Graph, input: &Array3<f32>, keep_all: bool) -> forward::Forward {
    forward::forward(g, input, keep_all)
}

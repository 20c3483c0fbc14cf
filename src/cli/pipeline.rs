//! The main job: every stage that exists, in order, for one bit width and board.

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PipelineArgs {
    /// Checkpoint (default: ./yolov8n.pt, else the cached or downloaded official yolov8n.pt).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Weight and activation bit width (2..=16).
    #[arg(long, default_value_t = 8)]
    pub bits: u32,
    /// Target board: generic, ice40, ecp5 or xc7.
    #[arg(long, default_value = "ice40")]
    pub board: String,
    /// Output directory for every artifact.
    #[arg(long, default_value = "runs/yoloq")]
    pub out: PathBuf,
}

pub fn run(a: PipelineArgs) -> anyhow::Result<()> {
    let url = yoloq_gen::import::download::model_url();
    let model =
        yoloq_gen::import::download::resolve_model(a.model.as_deref(), &super::cache_dir(), &url)?;
    println!("[1/2] import + fuse: {}", model.display());
    println!("{}", super::import::import_to(&model, &a.out, 640)?);
    println!("stages not built yet: validation, quantization, RTL emission, simulation, synthesis (bits {}, board {})", a.bits, a.board);
    Ok(())
}

//! `yoloq-gen import`: original weights, fused weights and the compressed architecture.

use clap::Args;
use std::path::PathBuf;
use yoloq_gen::util::outdir;
use yoloq_gen::{architecture, fuse, import, model};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Checkpoint: Ultralytics .pt (fused or not), torch state-dict .pt, or .safetensors.
    #[arg(long)]
    pub model: PathBuf,
    /// Output directory (new, empty, or written by yoloq-gen before).
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a non-empty folder that yoloq-gen did not write (only its own files are replaced).
    #[arg(long)]
    pub force: bool,
    /// Input size (square) used for shapes and MACs in architecture.yaml; a multiple of 32.
    #[arg(long, default_value_t = super::args::defaults::IMGSZ)]
    pub imgsz: usize,
}

pub fn run(a: ImportArgs) -> anyhow::Result<()> {
    outdir::check(&a.out, "--out", a.force)?;
    let s = import_to(&a.model, &a.out, a.imgsz)?;
    println!("{s}");
    Ok(())
}

/// Import, fuse and write the three artifacts (the caller has checked the folder rule);
/// returns a one-paragraph summary.
pub fn import_to(
    model_path: &std::path::Path,
    out: &std::path::Path,
    imgsz: usize,
) -> anyhow::Result<String> {
    model::check_imgsz("--imgsz", imgsz, imgsz)?;
    let ck = import::load_checkpoint(model_path)?;
    let fg = model::FloatGraph::from_checkpoint(&ck)?;
    let fused = fuse::fuse(&fg);
    let arch = architecture::describe(fused.graph(), imgsz, imgsz);
    let staging = outdir::Staging::begin(out, "import")?;
    let t = staging.path();
    import::safetensors_io::write_f32(&t.join("original.safetensors"), &ck.tensors)?;
    import::safetensors_io::write_f32(&t.join("fused.safetensors"), &fuse::fused_tensors(&fused))?;
    architecture::write_yaml(&arch, &t.join("architecture.yaml"))?;
    staging.commit()?;
    Ok(format!(
        "imported {} ({:?}, YOLOv8{}, {} classes): {} tensors, {} parameters, {:.2} GMAC at {imgsz}x{imgsz}\nwrote {}/original.safetensors, fused.safetensors, architecture.yaml",
        model_path.display(),
        ck.format,
        fused.graph().scale.letter(),
        fused.graph().head.nc,
        ck.tensors.len(),
        arch.totals.params,
        arch.totals.gmacs,
        out.display()
    ))
}

//! `yoloq-gen sim`: run the generated testbench and compare every element.

use clap::Args;
use std::path::PathBuf;
use yoloq_gen::rtl::sim::{simulate, Simulator};

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Emitted design directory (from `yoloq-gen emit`).
    pub dir: PathBuf,
    /// icarus or verilator.
    #[arg(long, default_value = "verilator")]
    pub simulator: String,
    /// Show only this layer's row (the whole network is simulated either way).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: SimArgs) -> anyhow::Result<()> {
    let sim = Simulator::parse(&a.simulator)?;
    let mut r = simulate(&a.dir, sim)?;
    if let Some(j) = &a.json {
        yoloq_gen::util::write_atomic_str(j, &serde_json::to_string_pretty(&r)?)?;
    }
    if let Some(l) = a.layer {
        if l >= r.rows.len() {
            anyhow::bail!(
                "--layer: {l} is out of range; the design has {} layers",
                r.rows.len()
            );
        }
        r.rows.retain(|x| x.index == l);
    }
    print!("{}", r.table());
    if !r.pass {
        anyhow::bail!(
            "{}: simulation does not match the integer reference: {}",
            a.dir.display(),
            r.first_mismatch
                .as_deref()
                .unwrap_or("some elements were never written")
        );
    }
    Ok(())
}

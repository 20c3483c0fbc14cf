//! `yoloq-gen sim`: run the generated testbench and compare every element.

use super::args::SimulatorArg;
use clap::Args;
use std::path::PathBuf;
use yoloq_gen::rtl::sim::{simulate, simulate_layer, Simulator};

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Emitted design directory (from `yoloq-gen emit`).
    pub dir: PathBuf,
    /// Simulator: verilator or icarus.
    #[arg(long, value_enum, default_value_t = SimulatorArg::Verilator)]
    pub simulator: SimulatorArg,
    /// Simulate only this layer (its inputs preloaded from the integer reference).
    #[arg(long, conflicts_with = "all")]
    pub layer: Option<usize>,
    /// Simulate the whole network (the default).
    #[arg(long)]
    pub all: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: SimArgs) -> anyhow::Result<()> {
    let sim = Simulator::parse(a.simulator.name())?;
    let r = match a.layer {
        Some(l) => simulate_layer(&a.dir, sim, l)?,
        None => simulate(&a.dir, sim)?,
    };
    if let Some(j) = &a.json {
        yoloq_gen::util::write_atomic_str(j, &serde_json::to_string_pretty(&r)?)?;
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

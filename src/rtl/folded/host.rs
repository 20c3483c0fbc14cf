//! The host side of a folded board (docs/hardware.md, "Board protocol"): letterbox an image,
//! send its codes over the UART, wait for the frame, read the detection records back. One
//! implementation drives both the real board (a serial port at the design's baud rate) and
//! the simulated one (the design's Verilator model `tb/tb_host.v`, whose UART is its stdin
//! and stdout).
//!
//! Guarantees: every protocol step either completes or fails with one line naming the port
//! and the step; the simulated board is built from the design's own sources and stopped when
//! the [`Port`] is dropped.

use crate::error::{Error, Result};
use crate::quant::qhead::IntDet;
use crate::rtl::manifest::{HostInfo, Manifest};
use crate::rtl::qnms::{decode_records, RECORD};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// How long a real board may stay silent within one protocol step.
const SERIAL_TIMEOUT: Duration = Duration::from_secs(20);

/// A connection to a board.
pub enum Port {
    Serial(Box<dyn serialport::SerialPort>),
    Sim(SimBoard),
}

/// The simulated board: the Verilator model of the design, its UART on stdin/stdout.
pub struct SimBoard {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
}

impl Drop for SimBoard {
    fn drop(&mut self) {
        // end of input ends the simulation; kill it if it does not stop
        self.stdin.take();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Read for Port {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Port::Serial(p) => p.read(buf),
            Port::Sim(s) => s.stdout.read(buf),
        }
    }
}

impl Write for Port {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Port::Serial(p) => p.write(buf),
            Port::Sim(s) => s.stdin.as_mut().expect("open until dropped").write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Port::Serial(p) => p.flush(),
            Port::Sim(s) => s.stdin.as_mut().expect("open until dropped").flush(),
        }
    }
}

/// Open the serial port `path` at `baud` (8N1, no flow control).
pub fn open_serial(path: &str, baud: u64) -> Result<Port> {
    let p = serialport::new(path, baud as u32)
        .timeout(SERIAL_TIMEOUT)
        .open()
        .map_err(|e| {
            Error::arg(
                "--port",
                format!("cannot open {path}: {e} (the iCEBreaker's UART is the FT2232H's second channel, usually /dev/ttyUSB1)"),
            )
        })?;
    Ok(Port::Serial(p))
}

/// Files of the simulated board, relative to the design directory.
fn sim_sources(m: &Manifest) -> Vec<String> {
    let mut v = m.rtl.clone();
    for (name, _) in super::emit::BOARD_PRIMS.iter() {
        if *name != "yq_board.v" {
            v.push(format!("board/{name}"));
        }
    }
    v.extend(m.sim_models.iter().cloned());
    v.push(format!("tb/{}", super::emit::FLASH_MODEL.0));
    v.push("tb/tb_host.v".into());
    v.push(format!("tb/{}", super::emit::HOST_DPI.0));
    v
}

/// Build (once per design: `build/host/Vtb_host`, rebuilt when a source is newer) and start
/// the simulated board of the design in `dir`.
pub fn start_sim(dir: &Path, m: &Manifest) -> Result<Port> {
    let srcs = sim_sources(m);
    for s in &srcs {
        if !dir.join(s).is_file() {
            return Err(Error::data(
                dir.join(s),
                "missing: the simulated board needs a folded design emitted by this version (rerun `yoloq-gen emit --arch folded`)",
            ));
        }
    }
    // absolute: the simulator runs in `dir`, where a relative path would not resolve
    let abs = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let exe: PathBuf = abs.join("build/host/Vtb_host");
    let newest = srcs
        .iter()
        .filter_map(|s| {
            std::fs::metadata(dir.join(s))
                .and_then(|m| m.modified())
                .ok()
        })
        .max();
    let stale = match (std::fs::metadata(&exe).and_then(|m| m.modified()), newest) {
        (Ok(t), Some(n)) => t < n,
        _ => true,
    };
    if stale {
        let mdir = dir.join("build/host");
        std::fs::create_dir_all(&mdir).map_err(|e| Error::io(&mdir, e))?;
        let mut c = crate::rtl::sim::verilator_binary(dir, "tb_host", Path::new("build/host"))?;
        // Verilator's make runs in build/host: the C file needs an absolute path.
        for s in &srcs {
            if s.ends_with(".c") {
                c.arg(abs.join(s));
            } else {
                c.arg(s);
            }
        }
        let spin = crate::progress::spinner("verilator: building the simulated board");
        let r = crate::rtl::sim::run_checked(c, "verilator");
        spin.finish_and_clear();
        r?;
    }
    let mut child = Command::new(&exe)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::io(&exe, e))?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped");
    Ok(Port::Sim(SimBoard {
        child,
        stdin,
        stdout,
    }))
}

/// The protocol over a [`Port`]; `name` names the port in errors.
pub struct Host {
    port: Port,
    name: String,
}

impl Host {
    pub fn new(port: Port, name: &str) -> Host {
        Host {
            port,
            name: name.to_string(),
        }
    }

    fn fail(&self, step: &str, e: impl std::fmt::Display) -> Error {
        Error::Other(format!("board on {}: {step}: {e}", self.name))
    }

    fn send(&mut self, b: &[u8], step: &str) -> Result<()> {
        self.port
            .write_all(b)
            .and_then(|_| self.port.flush())
            .map_err(|e| self.fail(step, e))
    }

    fn recv(&mut self, n: usize, step: &str) -> Result<Vec<u8>> {
        let mut b = vec![0u8; n];
        match self.port.read_exact(&mut b) {
            Ok(()) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(self.fail(
                step,
                "the board stopped answering (the simulation ended; its messages are above)",
            )),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(self.fail(
                step,
                format!(
                    "no answer within {} s (is the bitstream loaded and the flash image at 1 MiB?)",
                    SERIAL_TIMEOUT.as_secs()
                ),
            )),
            Err(e) => Err(self.fail(step, e)),
        }
    }

    fn expect(&mut self, want: u8, step: &str) -> Result<()> {
        let got = self.recv(1, step)?[0];
        if got == want {
            Ok(())
        } else if got == b'E' {
            Err(self.fail(
                step,
                "the flash reader failed to start (write the flash image: iceprog -o 1M board/flash.bin)",
            ))
        } else {
            Err(self.fail(
                step,
                format!("answered {got:#04x}, expected '{}'", want as char),
            ))
        }
    }

    /// 'P': the board is alive and its flash reader started.
    pub fn ping(&mut self) -> Result<()> {
        self.send(b"P", "ping")?;
        self.expect(b'Y', "ping")
    }

    /// 'F': run one frame on the planar codes `codes`, sent as `info` says (whole, or row
    /// band by row band, each after the board's 'R'); returns the frame's cycle count.
    pub fn frame(&mut self, codes: &[u8], info: &HostInfo) -> Result<u32> {
        self.send(b"F", "frame start")?;
        for (k, chunk) in info.input_chunks(codes).iter().enumerate() {
            let step = if k == 0 {
                "frame start".to_string()
            } else {
                format!("input band {k}")
            };
            self.expect(b'R', &step)?;
            self.send(chunk, "sending the pixels")?;
        }
        self.expect(b'K', "waiting for the frame")?;
        let c = self.recv(4, "frame cycles")?;
        Ok(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// 'D': `n` bytes of activation memory from byte address `addr`.
    pub fn read(&mut self, addr: usize, n: usize) -> Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = vec![b'D'];
        cmd.extend(&(addr as u32).to_le_bytes()[..3]);
        cmd.extend(&(n as u32).to_le_bytes()[..3]);
        self.send(&cmd, "memory read")?;
        self.recv(n, "memory read")
    }

    /// The detection records of the last frame.
    pub fn detections(&mut self, info: &HostInfo) -> Result<Vec<IntDet>> {
        let base = info.det_base.ok_or_else(|| {
            Error::Other(
                "this design has no integer NMS stage; emit it from a model quantized with --qnms"
                    .into(),
            )
        })?;
        let c = self.read(base, 2)?;
        let n = u16::from_le_bytes([c[0], c[1]]) as usize;
        if n > info.max_det {
            return Err(self.fail(
                "detections",
                format!(
                    "{n} records reported, the design writes at most {}",
                    info.max_det
                ),
            ));
        }
        Ok(decode_records(&self.read(base + 2, n * RECORD)?))
    }
}

//! The folded engine's post-processing sequencer (`templates/folded/prims/yq_fold_post.v`): a
//! small accumulator machine that runs the integer DFL/decode/NMS stage as a program instead
//! of a hard-wired state machine, so that the stage costs a few hundred logic cells and its
//! registers, program and tables live in block RAM.
//!
//! Machine: a 32-bit accumulator `A` with carry `C`, zero `Z` and sign `N` flags; 256 32-bit
//! registers `R` (two EBR); a memory pointer `M` (byte address into the activation memory)
//! with post-increment by a register; a loop counter `K`; one return address; a 16-bit table
//! ROM read at address `A`. Every instruction takes two cycles (operand fetch, execute), and
//! a run costs `2 + 2 * instructions` cycles from `go` to `done`.
//!
//! Guarantees: [`Machine::run`] executes a [`Program`] exactly as the RTL does, instruction by
//! instruction, so its result and its cycle count are those of the hardware (the testbenches
//! check both); [`Asm`] refuses programs that do not fit the instruction format.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Instruction word: `op[15:11]`, `arg[10:0]` (a register in `arg[7:0]` with a variant bit
/// in `arg[8]`, a shift kind or a jump target).
pub const OP_SHIFT: u32 = 11;
/// Variant bit: `Ldw` sign-extends, `Stb` stores `A[15:8]`.
pub const HI: u16 = 1 << 8;

/// Operations; the discriminant is the opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Op {
    /// Raise `done` and stop.
    Halt = 0,
    /// `A <= R[r]` (flags unchanged, as for every load).
    Ld,
    /// `R[r] <= A`.
    St,
    /// `{C, A} <= A + R[r]`; Z, N of the result.
    Add,
    /// `A <= A - R[r]`, `C` = no borrow.
    Sub,
    /// Flags of `A - R[r]`, `A` unchanged.
    Cmp,
    /// `{C, A} <= A + R[r] + C`.
    Adc,
    /// `A <= A - R[r] - !C`, `C` = no borrow.
    Sbc,
    /// Shift by one: `arg` is a [`Shift`].
    Sh,
    /// `M <= A + R[r]`.
    SetM,
    /// `M <= M + R[r]`.
    AddM,
    /// `A <= mem8[M]`, `M <= M + R[r]`.
    Ldb,
    /// `A <= mem16[M]` (zero- or, with [`HI`], sign-extended), `M <= M + R[r]`.
    Ldw,
    /// `mem8[M] <= A[7:0]` (with [`HI`]: `A[15:8]`), `M <= M + R[r]`.
    Stb,
    /// `mem16[M] <= A[15:0]`, `M <= M + R[r]`.
    Stw,
    /// `A <= T[A]`.
    Tab,
    /// `K <= R[r]`.
    SetK,
    /// `A <= K`.
    GetK,
    /// `K <= K - 1`; jump if the new `K` is not zero.
    Loop,
    Jmp,
    Jz,
    Jnz,
    Jc,
    Jnc,
    /// Jump if `Z | N` (after `Cmp`: `A <= R[r]`, signed).
    Jle,
    /// Jump if `!Z & !N`.
    Jgt,
    /// Jump, remembering the next instruction (one level).
    Call,
    Ret,
}

const OPS: [Op; 28] = [
    Op::Halt,
    Op::Ld,
    Op::St,
    Op::Add,
    Op::Sub,
    Op::Cmp,
    Op::Adc,
    Op::Sbc,
    Op::Sh,
    Op::SetM,
    Op::AddM,
    Op::Ldb,
    Op::Ldw,
    Op::Stb,
    Op::Stw,
    Op::Tab,
    Op::SetK,
    Op::GetK,
    Op::Loop,
    Op::Jmp,
    Op::Jz,
    Op::Jnz,
    Op::Jc,
    Op::Jnc,
    Op::Jle,
    Op::Jgt,
    Op::Call,
    Op::Ret,
];

/// The kinds of [`Op::Sh`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Shift {
    /// `C <= A[31]`, `A <= A << 1`.
    Shl = 0,
    /// `C <= A[31]`, `A <= {A[30:0], C}`.
    Rol = 1,
    /// `C <= A[0]`, `A <= A >> 1` (logical).
    Shr = 2,
    /// `C <= A[0]`, `A <= {C, A[31:1]}`.
    Ror = 3,
}

/// An assembled program with its register and table images.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub code: Vec<u16>,
    /// Initial register values (index = register).
    pub regs: Vec<u32>,
    pub table: Vec<u16>,
    /// Register names, for listings.
    pub names: Vec<String>,
    /// Bits of the loop counter `K` (every value the program loads into it fits).
    pub kw: u32,
}

impl Program {
    /// Address bits of the program, register and table memories.
    pub fn paw(&self) -> u32 {
        crate::rtl::ubits(self.code_depth() as u64 - 1).max(1)
    }
    pub fn taw(&self) -> u32 {
        crate::rtl::ubits(self.table_depth() as u64 - 1).max(1)
    }
    /// Depth of the program ROM (a power of two, for the same reason as the table's).
    pub fn code_depth(&self) -> usize {
        self.code.len().max(1).next_power_of_two()
    }
    /// `$readmemh` images: program, register halves (high, low) and table.
    pub fn hex_code(&self) -> String {
        let mut c = self.code.clone();
        c.resize(self.code_depth(), 0);
        words(c.into_iter())
    }
    pub fn hex_regs(&self, high: bool) -> String {
        let mut r = self.regs.clone();
        r.resize(256, 0);
        words(
            r.iter()
                .map(|&v| if high { (v >> 16) as u16 } else { v as u16 }),
        )
    }
    /// Depth of the table ROM: a power of two, so that synthesis builds it from block RAMs
    /// side by side (narrow and deep) instead of behind an output multiplexer (~30 LC).
    pub fn table_depth(&self) -> usize {
        self.table.len().max(1).next_power_of_two()
    }
    pub fn hex_table(&self) -> String {
        let mut t = self.table.clone();
        t.resize(self.table_depth(), 0);
        words(t.into_iter())
    }
}

fn words(v: impl Iterator<Item = u16>) -> String {
    let mut s = String::new();
    for w in v {
        s.push_str(&format!("{w:04x}\n"));
    }
    s
}

/// A register of the program being assembled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg(u8);

/// A jump target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Assembler: named registers and constants, labels resolved at the end.
#[derive(Default)]
pub struct Asm {
    code: Vec<(Op, u16, Option<Label>)>,
    labels: Vec<Option<usize>>,
    regs: Vec<u32>,
    names: Vec<String>,
    consts: BTreeMap<u32, Reg>,
    table: Vec<u16>,
}

impl Asm {
    pub fn new() -> Self {
        Asm::default()
    }
    fn reg(&mut self, name: String, init: u32) -> Result<Reg> {
        if self.regs.len() >= 256 {
            return Err(Error::Other(
                "the post-processing program needs more than 256 registers".into(),
            ));
        }
        self.regs.push(init);
        self.names.push(name);
        Ok(Reg((self.regs.len() - 1) as u8))
    }
    /// A variable (initially 0).
    pub fn var(&mut self, name: &str) -> Result<Reg> {
        self.reg(name.to_string(), 0)
    }
    /// A register holding `v` (shared between uses; two's complement for negatives).
    pub fn k(&mut self, v: i64) -> Result<Reg> {
        let v = v as u32;
        if let Some(&r) = self.consts.get(&v) {
            return Ok(r);
        }
        let r = self.reg(format!("#{}", v as i32), v)?;
        self.consts.insert(v, r);
        Ok(r)
    }
    /// Append entries to the table ROM; returns the offset of the first.
    pub fn table(&mut self, v: &[u16]) -> usize {
        self.table.extend_from_slice(v);
        self.table.len() - v.len()
    }
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    /// Place `l` at the next instruction.
    pub fn at(&mut self, l: Label) {
        self.labels[l.0] = Some(self.code.len());
    }
    /// An instruction on register `r` (with optional [`HI`] variant).
    pub fn r(&mut self, op: Op, r: Reg) {
        self.code.push((op, r.0 as u16, None));
    }
    pub fn rh(&mut self, op: Op, r: Reg) {
        self.code.push((op, r.0 as u16 | HI, None));
    }
    /// An instruction without operand.
    pub fn o(&mut self, op: Op) {
        self.code.push((op, 0, None));
    }
    pub fn sh(&mut self, s: Shift) {
        self.code.push((Op::Sh, s as u16, None));
    }
    pub fn j(&mut self, op: Op, l: Label) {
        self.code.push((op, 0, Some(l)));
    }
    pub fn finish(self) -> Result<Program> {
        if self.code.len() > 1 << OP_SHIFT {
            return Err(Error::Other(format!(
                "the post-processing program has {} instructions; the sequencer holds 2048",
                self.code.len()
            )));
        }
        let code = self
            .code
            .iter()
            .map(|&(op, arg, l)| {
                let arg = match l {
                    Some(l) => self.labels[l.0].expect("every label is placed") as u16,
                    None => arg,
                };
                ((op as u16) << OP_SHIFT) | arg
            })
            .collect();
        Ok(Program {
            code,
            regs: self.regs,
            table: self.table,
            names: self.names,
            kw: 16,
        })
    }
}

/// The activation memory as the sequencer sees it (byte addressed, 16-bit words little
/// endian at even addresses).
pub trait Mem {
    fn rd8(&self, a: usize) -> u8;
    fn wr8(&mut self, a: usize, v: u8);
}

impl Mem for Vec<u8> {
    fn rd8(&self, a: usize) -> u8 {
        self[a]
    }
    fn wr8(&mut self, a: usize, v: u8) {
        self[a] = v;
    }
}

/// The sequencer, instruction by instruction.
pub struct Machine<'p> {
    p: &'p Program,
    /// Address bits of `M`.
    ab: u32,
}

/// What a run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub cycles: u64,
    pub instructions: u64,
}

impl<'p> Machine<'p> {
    pub fn new(p: &'p Program, ab: u32) -> Self {
        Machine { p, ab }
    }

    /// Run from instruction 0 to `Halt`; refuses (as an internal error) a program that runs
    /// past `limit` instructions or off its end.
    pub fn run(&self, mem: &mut impl Mem, limit: u64) -> Result<Run> {
        self.run_timed(mem, limit, &mut |_, _| 0)
    }

    /// [`Machine::run`] on a memory of variable latency: each load or store at byte `m` holds
    /// the sequencer `wait(m, is_store)` cycles more (`yq_fold_post` with `WAIT = 1`).
    pub fn run_timed(
        &self,
        mem: &mut impl Mem,
        limit: u64,
        wait: &mut dyn FnMut(u64, bool) -> u64,
    ) -> Result<Run> {
        let p = self.p;
        let mut held = 0u64;
        let mut regs = p.regs.clone();
        regs.resize(256, 0);
        let mmask = (1u64 << self.ab) - 1;
        let (mut a, mut m, mut k, mut pc, mut link) = (0u32, 0u64, 0u32, 0usize, 0usize);
        let kmask = (1u32 << p.kw) - 1;
        let (mut c, mut z, mut n) = (false, false, false);
        let mut count = 0u64;
        let err = |s: String| Error::Other(format!("post-processing program: {s}"));
        loop {
            let w = *p
                .code
                .get(pc)
                .ok_or_else(|| err(format!("ran off the end at {pc}")))?;
            count += 1;
            if count > limit {
                return Err(err(format!("no halt after {limit} instructions")));
            }
            let op = OPS
                .get((w >> OP_SHIFT) as usize)
                .copied()
                .ok_or_else(|| err(format!("bad opcode at {pc}")))?;
            let arg = w & ((1 << OP_SHIFT) - 1);
            let r = (arg & 0xff) as usize;
            let b = regs[r];
            let mut next = pc + 1;
            let flags = |v: u32, cy: bool, c: &mut bool, z: &mut bool, n: &mut bool| {
                *c = cy;
                *z = v == 0;
                *n = (v >> 31) != 0;
            };
            let post = |m: &mut u64| *m = (*m + b as u64) & mmask;
            match op {
                Op::Halt => {
                    return Ok(Run {
                        cycles: 2 + 2 * count + held,
                        instructions: count,
                    })
                }
                Op::Ld => a = b,
                Op::St => regs[r] = a,
                Op::Add | Op::Adc => {
                    let cin = (op == Op::Adc && c) as u64;
                    let s = a as u64 + b as u64 + cin;
                    a = s as u32;
                    flags(a, s >> 32 != 0, &mut c, &mut z, &mut n);
                }
                Op::Sub | Op::Cmp | Op::Sbc => {
                    let (x, y) = (a, b);
                    let bin = (op == Op::Sbc && !c) as u64;
                    let d = (x as u64).wrapping_sub(y as u64).wrapping_sub(bin);
                    let nb = (x as u64) >= y as u64 + bin;
                    flags(d as u32, nb, &mut c, &mut z, &mut n);
                    if op != Op::Cmp {
                        a = d as u32;
                    }
                }
                Op::Sh => {
                    let (v, cy) = match arg & 3 {
                        0 => (a << 1, a >> 31 != 0),
                        1 => ((a << 1) | c as u32, a >> 31 != 0),
                        2 => (a >> 1, a & 1 != 0),
                        _ => ((a >> 1) | ((c as u32) << 31), a & 1 != 0),
                    };
                    a = v;
                    flags(a, cy, &mut c, &mut z, &mut n);
                }
                Op::SetM => m = (a as u64 + b as u64) & mmask,
                Op::AddM => post(&mut m),
                Op::Ldb => {
                    held += wait(m, false);
                    a = mem.rd8(m as usize) as u32;
                    post(&mut m);
                }
                Op::Ldw => {
                    held += wait(m, false);
                    let e = (m as usize) & !1;
                    let v = u16::from_le_bytes([mem.rd8(e), mem.rd8(e + 1)]);
                    a = if arg & HI != 0 {
                        v as i16 as i32 as u32
                    } else {
                        v as u32
                    };
                    post(&mut m);
                }
                Op::Stb => {
                    held += wait(m, true);
                    let v = if arg & HI != 0 { a >> 8 } else { a };
                    mem.wr8(m as usize, v as u8);
                    post(&mut m);
                }
                Op::Stw => {
                    held += wait(m, true);
                    let e = (m as usize) & !1;
                    mem.wr8(e, a as u8);
                    mem.wr8(e + 1, (a >> 8) as u8);
                    post(&mut m);
                }
                Op::Tab => {
                    let mask = (1usize << p.taw()) - 1;
                    a = p.table.get(a as usize & mask).copied().unwrap_or(0) as u32;
                }
                Op::SetK => k = b & kmask,
                Op::GetK => a = k,
                Op::Loop => {
                    k = k.wrapping_sub(1) & kmask;
                    if k != 0 {
                        next = arg as usize;
                    }
                }
                Op::Jmp => next = arg as usize,
                Op::Jz | Op::Jnz | Op::Jc | Op::Jnc | Op::Jle | Op::Jgt => {
                    let t = match op {
                        Op::Jz => z,
                        Op::Jnz => !z,
                        Op::Jc => c,
                        Op::Jnc => !c,
                        Op::Jle => z || n,
                        _ => !z && !n,
                    };
                    if t {
                        next = arg as usize;
                    }
                }
                Op::Call => {
                    link = pc + 1;
                    next = arg as usize;
                }
                Op::Ret => next = link,
            }
            pc = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_are_the_discriminants() {
        for (i, op) in OPS.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
    }

    /// A multiplication by shift-add and a 64-bit compare with carries, against Rust.
    #[test]
    fn arithmetic_matches_rust() {
        let mut s = Asm::new();
        let (x, y, p, hi, one) = (
            s.var("x").unwrap(),
            s.var("y").unwrap(),
            s.var("p").unwrap(),
            s.var("hi").unwrap(),
            s.k(1).unwrap(),
        );
        let z = s.k(0).unwrap();
        let n16 = s.k(16).unwrap();
        // p = x * y (16 x 16 bits) with K as the bit counter
        s.r(Op::Ld, z);
        s.r(Op::St, p);
        s.r(Op::SetK, n16);
        let top = s.label();
        let skip = s.label();
        s.at(top);
        s.r(Op::Ld, y);
        s.sh(Shift::Shr);
        s.r(Op::St, y);
        s.j(Op::Jnc, skip);
        s.r(Op::Ld, p);
        s.r(Op::Add, x);
        s.r(Op::St, p);
        s.at(skip);
        s.r(Op::Ld, x);
        s.sh(Shift::Shl);
        s.r(Op::St, x);
        s.j(Op::Loop, top);
        // hi:lo = (p << 1) with the carry into hi, stored at memory 0..8
        s.r(Op::Ld, z);
        s.r(Op::SetM, z);
        s.r(Op::Ld, p);
        s.sh(Shift::Shl);
        s.r(Op::Stw, z);
        s.r(Op::Ld, z);
        s.sh(Shift::Rol);
        s.r(Op::St, hi);
        s.r(Op::Ld, p);
        s.r(Op::AddM, one);
        s.r(Op::AddM, one);
        s.r(Op::Stb, one);
        s.rh(Op::Stb, one);
        s.o(Op::Halt);
        let prog = s.finish().unwrap();
        for (a, b) in [
            (0u32, 0u32),
            (1, 1),
            (65535, 65535),
            (40000, 3),
            (12345, 54321),
        ] {
            let mut prog = prog.clone();
            prog.regs[x.0 as usize] = a;
            prog.regs[y.0 as usize] = b;
            let mut mem = vec![0u8; 16];
            let run = Machine::new(&prog, 17).run(&mut mem, 10_000).unwrap();
            let prod = a as u64 * b as u64;
            let dbl = (prod << 1) as u32;
            assert_eq!(u16::from_le_bytes([mem[0], mem[1]]), dbl as u16);
            assert_eq!(u16::from_le_bytes([mem[2], mem[3]]), prod as u16);
            assert!(run.cycles > 2 * 16 * 8);
        }
    }
}

//! The folded engine's post-processing stage: the integer DFL/decode/NMS of `--qnms`
//! (`quant::qhead`) as a program for the post-processing sequencer ([`super::post`],
//! `templates/folded/prims/yq_fold_post.v`). Candidates and kept boxes live in a region of
//! the activation memory that is free during this layer; the sequencer's registers hold the
//! per-level constants and its table ROM the exp and sigmoid tables (each cut to the entries
//! the stage can reach).
//!
//! Guarantees: [`build`] refuses a design whose working region does not fit the memory or
//! whose boxes exceed the program's 32-bit arithmetic; the program computes exactly
//! `qhead::postprocess` with the plan's NMS parameters (checked on every generated design
//! against the golden records, and in the tests below on random head tensors); its cycles
//! are those of [`super::post::Machine::run`].

use super::post::{Asm, Machine, Mem, Op, Program, Reg, Run, Shift};
use crate::error::{Error, Result};
use crate::quant::qhead::DIST_FRAC;
use crate::rtl::plan::{Plan, QnmsPlan};
use crate::rtl::qnms::RECORD;
use crate::rtl::ubits;
use serde::Serialize;

/// Bytes per stored candidate (x1, y1, x2, y2, score + 1 (0 once taken), class: 16-bit words).
pub const CAND_BYTES: usize = 12;
/// Bytes per kept box (x1, y1, x2, y2, class).
pub const KEEP_BYTES: usize = 10;

/// The stage on the folded engine.
#[derive(Clone, Debug, Serialize)]
pub struct NmsUnit {
    /// Bits of a box side (steps of the program's multiplication).
    pub mw: u32,
    /// The IoU threshold in lowest terms.
    pub iou_num: i64,
    pub iou_den: i64,
    /// Working region: candidates, then kept boxes.
    pub cand_base: usize,
    pub keep_base: usize,
    pub region_bytes: usize,
    /// Instructions, registers, table entries (for reports).
    pub instructions: usize,
    pub registers: usize,
    pub table_entries: usize,
    #[serde(skip)]
    pub program: Program,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Plan the stage `p`, the last layer `step` of `plan`, in a memory of `mem_bytes`; `lives`
/// are the tensors' live ranges.
pub fn build(
    p: &QnmsPlan,
    plan: &Plan,
    lives: &[Option<(usize, usize)>],
    step: usize,
    mem_bytes: usize,
) -> Result<NmsUnit> {
    // Longest box side: both distances at their maximum, at the coarsest level.
    let dmax = ((p.reg_max as u64) - 1) << DIST_FRAC;
    let side = p
        .levels
        .iter()
        .map(|l| (2 * dmax) << l.sh)
        .max()
        .unwrap_or(1);
    let mw = ubits(side);
    if 2 * mw + 1 > 32 {
        return Err(Error::arg(
            "--imgsz",
            format!(
                "the folded NMS stage computes box areas in 32 bits; boxes of {side} units need {} bits",
                2 * mw + 1
            ),
        ));
    }
    if let Some(l) = p.levels.iter().find(|l| l.sh == 0) {
        return Err(Error::arg(
            "--quant",
            format!(
                "the folded NMS stage needs head strides of at least 2 (a level at {}x{} has stride 1)",
                l.w, l.h
            ),
        ));
    }
    let g = gcd(p.iou_num, p.iou_den);
    let (iou_num, iou_den) = (p.iou_num / g, p.iou_den / g);
    let keep = p.max_det.min(p.ncand);
    let region_bytes = CAND_BYTES * p.ncand + KEEP_BYTES * keep;
    let records = (p.out_base, p.out_base + p.region);
    let at = super::scratch::place(plan, lives, step, region_bytes, mem_bytes, 16, &[records])
        .ok_or_else(|| {
            Error::arg(
                "--imgsz",
                format!(
                    "the NMS stage needs {region_bytes} bytes of working memory for {} candidates and none is free at {}x{}; use a smaller --imgsz",
                    p.ncand, plan.imgsz[0], plan.imgsz[1]
                ),
            )
        })?;
    let mut u = NmsUnit {
        mw,
        iou_num,
        iou_den,
        cand_base: at,
        keep_base: at + CAND_BYTES * p.ncand,
        region_bytes,
        instructions: 0,
        registers: 0,
        table_entries: 0,
        program: Program::default(),
    };
    u.program = program(p, &u)?;
    u.instructions = u.program.code.len();
    u.registers = u.program.regs.len();
    u.table_entries = u.program.table.len();
    Ok(u)
}

impl NmsUnit {
    /// Run the stage on `mem` (the activation memory after the head): writes the count and
    /// the records at the plan's output base, and returns the cycles from `go` to `done`.
    pub fn run(&self, mem: &mut impl Mem, ab: u32) -> Result<Run> {
        Machine::new(&self.program, ab).run(mem, 1 << 34)
    }

    /// [`NmsUnit::run`] on a memory whose accesses hold the sequencer `wait` cycles.
    pub fn run_timed(
        &self,
        mem: &mut impl Mem,
        ab: u32,
        wait: &mut dyn FnMut(u64, bool) -> u64,
    ) -> Result<Run> {
        Machine::new(&self.program, ab).run_timed(mem, 1 << 34, wait)
    }
}

/// Per-level constants, copied into the level registers before each level.
struct LevelRegs {
    cls: Reg,
    bx: Reg,
    w: Reg,
    h: Reg,
    hw: Reg,
    nhw: Reg,
    sh: Reg,
    thr: Reg,
    eoff: Reg,
    ez: Reg,
    soff: Reg,
    /// `reg_max * h * w`: from one side's bins to the next side's.
    bstep: Reg,
}

/// The stage's program.
fn program(p: &QnmsPlan, u: &NmsUnit) -> Result<Program> {
    use Op::*;
    let mut s = Asm::new();
    let zero = s.k(0)?;
    let one = s.k(1)?;
    let two = s.k(2)?;
    let four = s.k(4)?;
    let eight = s.k(8)?;
    let ten = s.k(KEEP_BYTES as i64)?;
    let twelve = s.k(CAND_BYTES as i64)?;
    let n12 = s.k(-(CAND_BYTES as i64))?;
    let twenty = s.k(CAND_BYTES as i64 + 8)?;
    let record = s.k(RECORD as i64)?;
    let n8 = s.k(-8)?;
    let step = s.k(1 << DIST_FRAC)?;
    let half = s.k(1 << (DIST_FRAC - 1))?;
    let nc = s.k(p.nc as i64)?;
    let rm = s.k(p.reg_max as i64)?;
    let qb = s.k(p.qb as i64)?;
    let mwk = s.k(u.mw as i64)?;
    let cbits = s.k(ubits(u.iou_num.max(u.iou_den) as u64) as i64)?;
    let iou_den = s.k(u.iou_den)?;
    let iou_num = s.k(u.iou_num)?;
    let max_det = s.k(p.max_det as i64)?;
    let cand_b = s.k(u.cand_base as i64)?;
    let keep_b = s.k(u.keep_base as i64)?;
    let out_b = s.k(p.out_base as i64)?;
    // Level constants, and the tables cut to what the stage reads: exp up to its last
    // non-zero entry (beyond it the program adds 0), sigmoid from the threshold code on.
    let mut consts = Vec::with_capacity(p.levels.len());
    for (l, lv) in p.levels.iter().enumerate() {
        let elen = p.levels.get(l + 1).map_or(p.exp.len(), |n| n.eoff) - lv.eoff;
        let slen = p.levels.get(l + 1).map_or(p.sig.len(), |n| n.soff) - lv.soff;
        let exp = &p.exp[lv.eoff..lv.eoff + elen];
        let ez = exp.iter().rposition(|&v| v != 0).map_or(0, |i| i + 1);
        let eoff = s.table(&exp[..ez].iter().map(|&v| v as u16).collect::<Vec<_>>());
        let thr = (lv.thr.max(0) as usize).min(slen);
        let sig: Vec<u16> = p.sig[lv.soff + thr..lv.soff + slen]
            .iter()
            .map(|&v| v as u16)
            .collect();
        let soff = s.table(&sig) as i64 - thr as i64;
        consts.push(LevelRegs {
            cls: s.k(lv.cls_base as i64)?,
            bx: s.k(lv.box_base as i64)?,
            w: s.k(lv.w as i64)?,
            h: s.k(lv.h as i64)?,
            hw: s.k((lv.w * lv.h) as i64)?,
            nhw: s.k(-((lv.w * lv.h) as i64))?,
            sh: s.k(lv.sh as i64)?,
            thr: s.k(lv.thr as i64)?,
            eoff: s.k(eoff as i64)?,
            ez: s.k(ez as i64)?,
            soff: s.k(soff)?,
            bstep: s.k((p.reg_max * lv.w * lv.h) as i64)?,
        });
    }
    let cur = LevelRegs {
        cls: s.var("pcls")?,
        bx: s.var("pbox")?,
        w: s.var("lw")?,
        h: s.var("lh")?,
        hw: s.var("hw")?,
        nhw: s.var("nhw")?,
        sh: s.var("sh")?,
        thr: s.var("thr")?,
        eoff: s.var("eoff")?,
        ez: s.var("ez")?,
        soff: s.var("soff")?,
        bstep: s.var("bstep")?,
    };
    let v = |s: &mut Asm, n: &str| s.var(n);
    let (ncand, cb, ax, ay, xc, yc) = (
        v(&mut s, "ncand")?,
        v(&mut s, "cb")?,
        v(&mut s, "ax")?,
        v(&mut s, "ay")?,
        v(&mut s, "xc")?,
        v(&mut s, "yc")?,
    );
    let (best, bestk, pb, sc, m, den, num, rem, dsh, q, tmp) = (
        v(&mut s, "best")?,
        v(&mut s, "bestk")?,
        v(&mut s, "pb")?,
        v(&mut s, "sc")?,
        v(&mut s, "m")?,
        v(&mut s, "den")?,
        v(&mut s, "num")?,
        v(&mut s, "rem")?,
        v(&mut s, "dsh")?,
        v(&mut s, "q")?,
        v(&mut s, "tmp")?,
    );
    let d: Vec<Reg> = (0..4)
        .map(|i| s.var(&format!("d{i}")))
        .collect::<Result<_>>()?;
    let c: Vec<Reg> = (0..4)
        .map(|i| s.var(&format!("c{i}")))
        .collect::<Result<_>>()?;
    let kb: Vec<Reg> = (0..4)
        .map(|i| s.var(&format!("k{i}")))
        .collect::<Result<_>>()?;
    let jp = s.var("jp")?;
    let (nkeep, kend, wa, bestp, cs, ccls, carea, kc, kp, karea) = (
        v(&mut s, "nkeep")?,
        v(&mut s, "kend")?,
        v(&mut s, "wa")?,
        v(&mut s, "bestp")?,
        v(&mut s, "cs")?,
        v(&mut s, "ccls")?,
        v(&mut s, "carea")?,
        v(&mut s, "kc")?,
        v(&mut s, "kp")?,
        v(&mut s, "karea")?,
    );
    let (ma, mb, mp, t0, t2, inter, un, mx, mc, plo, phi, xhi, xl, xh) = (
        v(&mut s, "ma")?,
        v(&mut s, "mb")?,
        v(&mut s, "mp")?,
        v(&mut s, "t0")?,
        v(&mut s, "t2")?,
        v(&mut s, "inter")?,
        v(&mut s, "union")?,
        v(&mut s, "mx")?,
        v(&mut s, "mc")?,
        v(&mut s, "plo")?,
        v(&mut s, "phi")?,
        v(&mut s, "xhi")?,
        v(&mut s, "xl")?,
        v(&mut s, "xh")?,
    );
    let (level, nms, mul, mulc) = (s.label(), s.label(), s.label(), s.label());

    // ---- main: phase 1 per level, then phase 2 ----
    s.r(Ld, zero);
    s.r(St, ncand);
    s.r(Ld, cand_b);
    s.r(St, cb);
    for k in &consts {
        for (from, to) in [
            (k.cls, cur.cls),
            (k.bx, cur.bx),
            (k.w, cur.w),
            (k.h, cur.h),
            (k.hw, cur.hw),
            (k.nhw, cur.nhw),
            (k.sh, cur.sh),
            (k.thr, cur.thr),
            (k.eoff, cur.eoff),
            (k.ez, cur.ez),
            (k.soff, cur.soff),
            (k.bstep, cur.bstep),
        ] {
            s.r(Ld, from);
            s.r(St, to);
        }
        s.j(Call, level);
    }
    s.j(Jmp, nms);

    // ---- phase 1: one level, anchor by anchor ----
    s.at(level);
    let (row, anchor, next) = (s.label(), s.label(), s.label());
    s.r(Ld, half);
    s.r(St, ay);
    s.r(Ld, cur.h);
    s.r(St, yc);
    s.at(row);
    s.r(Ld, half);
    s.r(St, ax);
    s.r(Ld, cur.w);
    s.r(St, xc);
    s.at(anchor);
    // the first largest class code; K counts down from NC at class 0
    s.r(Ld, cur.cls);
    s.r(SetM, zero);
    s.r(Ld, zero);
    s.r(St, best);
    s.r(Ld, nc);
    s.r(St, bestk);
    s.r(SetK, nc);
    let (cl, cls) = (s.label(), s.label());
    s.at(cl);
    s.r(Ldb, cur.hw);
    s.r(Cmp, best);
    s.j(Jle, cls);
    s.r(St, best);
    s.o(GetK);
    s.r(St, bestk);
    s.at(cls);
    s.j(Loop, cl);
    s.r(Ld, cur.thr);
    s.r(Cmp, best);
    s.j(Jgt, next);
    // four sides: bin maximum, then exp sums backwards (num = sum of the running den)
    s.r(Ld, cur.bx);
    s.r(St, pb);
    s.r(Ld, four);
    s.r(St, sc);
    let side = s.label();
    s.at(side);
    s.r(Ld, pb);
    s.r(SetM, zero);
    s.r(Ld, zero);
    s.r(St, m);
    s.r(SetK, rm);
    let (b1, b1s) = (s.label(), s.label());
    s.at(b1);
    s.r(Ldb, cur.hw);
    s.r(Cmp, m);
    s.j(Jle, b1s);
    s.r(St, m);
    s.at(b1s);
    s.j(Loop, b1);
    s.r(Ld, pb);
    s.r(Add, cur.bstep);
    s.r(St, pb);
    s.r(AddM, cur.nhw);
    s.r(Ld, zero);
    s.r(St, den);
    s.r(St, num);
    s.r(SetK, rm);
    let (b2, b2z, b2a) = (s.label(), s.label(), s.label());
    s.at(b2);
    s.r(Ldb, cur.nhw);
    s.r(St, tmp);
    s.r(Ld, m);
    s.r(Sub, tmp);
    s.r(Cmp, cur.ez);
    s.j(Jc, b2z);
    s.r(Add, cur.eoff);
    s.o(Tab);
    s.j(Jmp, b2a);
    s.at(b2z);
    s.r(Ld, zero);
    s.at(b2a);
    s.r(Add, den);
    s.r(St, den);
    s.r(Add, num);
    s.r(St, num);
    s.j(Loop, b2);
    // rem = ((num << FRAC) + den / 2), quotient bits by restoring division
    s.r(Ld, num);
    s.r(Sub, den);
    for _ in 0..DIST_FRAC {
        s.sh(Shift::Shl);
    }
    s.r(St, num);
    s.r(Ld, den);
    s.sh(Shift::Shr);
    s.r(Add, num);
    s.r(St, rem);
    s.r(Ld, den);
    for _ in 1..p.qb {
        s.sh(Shift::Shl);
    }
    s.r(St, dsh);
    s.r(Ld, zero);
    s.r(St, q);
    s.r(SetK, qb);
    let (dv, dvs) = (s.label(), s.label());
    s.at(dv);
    s.r(Ld, rem);
    s.r(Sub, dsh);
    s.j(Jnc, dvs);
    s.r(St, rem);
    s.at(dvs);
    s.r(Ld, q);
    s.sh(Shift::Rol);
    s.r(St, q);
    s.r(Ld, dsh);
    s.sh(Shift::Shr);
    s.r(St, dsh);
    s.j(Loop, dv);
    // the sides shift through d3..d0: after four, d3 holds side 0
    for i in (0..3).rev() {
        s.r(Ld, d[i]);
        s.r(St, d[i + 1]);
    }
    s.r(Ld, q);
    s.r(St, d[0]);
    s.r(Ld, sc);
    s.r(Sub, one);
    s.r(St, sc);
    s.j(Jnz, side);
    // decode: x1 = (ax - d0) << sh, y1 = (ay - d1) << sh, x2 = (ax + d2) << sh, y2 = ...
    for (i, (a, op)) in [(ax, Sub), (ay, Sub), (ax, Add), (ay, Add)]
        .into_iter()
        .enumerate()
    {
        s.r(Ld, a);
        s.r(op, d[3 - i]);
        s.r(SetK, cur.sh);
        let l = s.label();
        s.at(l);
        s.sh(Shift::Shl);
        s.j(Loop, l);
        s.r(St, c[i]);
    }
    // the candidate: four sides, score + 1, class
    s.r(Ld, cb);
    s.r(SetM, zero);
    for &ci in &c {
        s.r(Ld, ci);
        s.r(Stw, two);
    }
    s.r(Ld, best);
    s.r(Add, cur.soff);
    s.o(Tab);
    s.r(Add, one);
    s.r(Stw, two);
    s.r(Ld, nc);
    s.r(Sub, bestk);
    s.r(Stw, two);
    s.r(Ld, cb);
    s.r(Add, twelve);
    s.r(St, cb);
    s.r(Ld, ncand);
    s.r(Add, one);
    s.r(St, ncand);
    s.at(next);
    for (r, by) in [(cur.cls, one), (cur.bx, one), (ax, step)] {
        s.r(Ld, r);
        s.r(Add, by);
        s.r(St, r);
    }
    s.r(Ld, xc);
    s.r(Sub, one);
    s.r(St, xc);
    s.j(Jnz, anchor);
    s.r(Ld, ay);
    s.r(Add, step);
    s.r(St, ay);
    s.r(Ld, yc);
    s.r(Sub, one);
    s.r(St, yc);
    s.j(Jnz, row);
    s.o(Ret);

    // ---- phase 2: greedy class-aware NMS ----
    s.at(nms);
    let (sel, count, keep) = (s.label(), s.label(), s.label());
    s.r(Ld, zero);
    s.r(St, nkeep);
    s.r(Ld, keep_b);
    s.r(St, kend);
    s.r(Ld, out_b);
    s.r(Add, two);
    s.r(St, wa);
    s.at(sel);
    s.r(Ld, ncand);
    s.r(Cmp, zero);
    s.j(Jz, count);
    // the untaken candidate with the highest score, lowest index on ties
    s.r(Ld, zero);
    s.r(St, best);
    s.r(Ld, cand_b);
    s.r(SetM, eight);
    s.r(Add, twenty);
    s.r(St, jp);
    s.r(SetK, ncand);
    let (s1, s2) = (s.label(), s.label());
    s.at(s1);
    s.r(Ldw, twelve);
    s.r(Cmp, best);
    s.j(Jle, s2);
    s.r(St, best);
    s.r(Ld, jp);
    s.r(St, bestp);
    s.at(s2);
    s.r(Ld, jp);
    s.r(Add, twelve);
    s.r(St, jp);
    s.j(Loop, s1);
    s.r(Ld, best);
    s.r(Cmp, zero);
    s.j(Jz, count);
    // take it: its score word becomes 0; load sides and class
    s.r(Ld, bestp);
    s.r(SetM, n12);
    s.r(Ldw, zero);
    s.r(St, cs);
    s.r(Ld, zero);
    s.r(Stw, n8);
    for (i, &ci) in c.iter().enumerate() {
        s.rh(Ldw, if i == 3 { four } else { two });
        s.r(St, ci);
    }
    s.r(Ldw, zero);
    s.r(St, ccls);
    // width/height clamped at 0 into (ma, mb)
    let clamped = |s: &mut Asm, hi: Reg, lo: Reg, to: Reg| {
        let l = s.label();
        s.r(Ld, hi);
        s.r(Sub, lo);
        s.j(Jgt, l);
        s.r(Ld, zero);
        s.at(l);
        s.r(St, to);
    };
    clamped(&mut s, c[2], c[0], ma);
    clamped(&mut s, c[3], c[1], mb);
    s.j(Call, mul);
    s.r(Ld, mp);
    s.r(St, carea);
    // compare with the kept boxes in order
    s.r(Ld, nkeep);
    s.r(Cmp, zero);
    s.j(Jz, keep);
    s.r(St, kc);
    s.r(Ld, keep_b);
    s.r(St, kp);
    let (kl, kn) = (s.label(), s.label());
    s.at(kl);
    s.r(Ld, kp);
    s.r(SetM, eight);
    s.r(Ldw, zero);
    s.r(Cmp, ccls);
    s.j(Jnz, kn);
    s.r(Ld, kp);
    s.r(SetM, zero);
    for &ki in &kb {
        s.rh(Ldw, two);
        s.r(St, ki);
    }
    clamped(&mut s, kb[2], kb[0], ma);
    clamped(&mut s, kb[3], kb[1], mb);
    s.j(Call, mul);
    s.r(Ld, mp);
    s.r(St, karea);
    // intersection: min of the far sides minus max of the near sides, clamped at 0
    for (far, near, to) in [(2, 0, ma), (3, 1, mb)] {
        let (l1, l2) = (s.label(), s.label());
        s.r(Ld, kb[far]);
        s.r(Cmp, c[far]);
        s.j(Jle, l1);
        s.r(Ld, c[far]);
        s.at(l1);
        s.r(St, t2);
        s.r(Ld, kb[near]);
        s.r(Cmp, c[near]);
        s.j(Jgt, l2);
        s.r(Ld, c[near]);
        s.at(l2);
        s.r(St, t0);
        clamped(&mut s, t2, t0, to);
    }
    s.j(Call, mul);
    s.r(Ld, mp);
    s.r(St, inter);
    s.r(Ld, karea);
    s.r(Add, carea);
    s.r(Sub, inter);
    s.r(St, un);
    // suppressed when inter * den > num * union (64-bit products)
    s.r(Ld, inter);
    s.r(St, mx);
    s.r(Ld, iou_den);
    s.r(St, mc);
    s.j(Call, mulc);
    s.r(Ld, plo);
    s.r(St, xl);
    s.r(Ld, phi);
    s.r(St, xh);
    s.r(Ld, un);
    s.r(St, mx);
    s.r(Ld, iou_num);
    s.r(St, mc);
    s.j(Call, mulc);
    s.r(Ld, plo);
    s.r(Sub, xl);
    s.r(Ld, phi);
    s.r(Sbc, xh);
    s.j(Jnc, sel);
    s.at(kn);
    s.r(Ld, kp);
    s.r(Add, ten);
    s.r(St, kp);
    s.r(Ld, kc);
    s.r(Sub, one);
    s.r(St, kc);
    s.j(Jnz, kl);
    // keep it: append to the kept list and write its record
    s.at(keep);
    s.r(Ld, kend);
    s.r(SetM, zero);
    for &r in c.iter().chain([&ccls]) {
        s.r(Ld, r);
        s.r(Stw, two);
    }
    s.r(Ld, kend);
    s.r(Add, ten);
    s.r(St, kend);
    s.r(Ld, wa);
    s.r(SetM, zero);
    for &r in &c {
        s.r(Ld, r);
        s.r(Stb, one);
        s.rh(Stb, one);
    }
    s.r(Ld, cs);
    s.r(Sub, one);
    s.r(Stb, one);
    s.rh(Stb, one);
    s.r(Ld, ccls);
    s.r(Stb, one);
    s.r(Ld, wa);
    s.r(Add, record);
    s.r(St, wa);
    s.r(Ld, nkeep);
    s.r(Add, one);
    s.r(St, nkeep);
    s.r(Cmp, max_det);
    s.j(Jz, count);
    s.j(Jmp, sel);
    // the count, little endian, before the records
    s.at(count);
    s.r(Ld, out_b);
    s.r(SetM, zero);
    s.r(Ld, nkeep);
    s.r(Stb, one);
    s.rh(Stb, one);
    s.o(Halt);

    // ---- mp = ma * mb (mb below 2^mw), shift-add ----
    s.at(mul);
    let (m1, m2) = (s.label(), s.label());
    s.r(Ld, zero);
    s.r(St, mp);
    s.r(SetK, mwk);
    s.at(m1);
    s.r(Ld, mb);
    s.sh(Shift::Shr);
    s.r(St, mb);
    s.j(Jnc, m2);
    s.r(Ld, mp);
    s.r(Add, ma);
    s.r(St, mp);
    s.at(m2);
    s.r(Ld, ma);
    s.sh(Shift::Shl);
    s.r(St, ma);
    s.j(Loop, m1);
    s.o(Ret);

    // ---- phi:plo = mx * mc (mc below 2^cbits), 64-bit shift-add with carries ----
    s.at(mulc);
    let (c1, c2) = (s.label(), s.label());
    s.r(Ld, zero);
    s.r(St, plo);
    s.r(St, phi);
    s.r(St, xhi);
    s.r(SetK, cbits);
    s.at(c1);
    s.r(Ld, mc);
    s.sh(Shift::Shr);
    s.r(St, mc);
    s.j(Jnc, c2);
    s.r(Ld, plo);
    s.r(Add, mx);
    s.r(St, plo);
    s.r(Ld, phi);
    s.r(Adc, xhi);
    s.r(St, phi);
    s.at(c2);
    s.r(Ld, mx);
    s.sh(Shift::Shl);
    s.r(St, mx);
    s.r(Ld, xhi);
    s.sh(Shift::Rol);
    s.r(St, xhi);
    s.j(Loop, c1);
    s.o(Ret);
    let mut prog = s.finish()?;
    let kmax = [p.ncand, p.nc, p.reg_max, p.qb as usize, u.mw as usize, 16]
        .into_iter()
        .chain(p.levels.iter().map(|l| l.sh as usize))
        .max()
        .unwrap_or(1);
    prog.kw = ubits(kmax as u64);
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use crate::quant::{qhead, QuantConfig};
    use crate::rtl::qnms::{encode_records, NMS};
    use crate::synthetic::{self, Rng};
    use ndarray::Array3;

    /// The program on random head tensors against `qhead::postprocess`: records, count and
    /// order, with enough candidates of few classes that NMS suppresses and ties occur.
    #[test]
    fn program_computes_the_reference_postprocessing() {
        let size = 64;
        let q = synthetic::quant_graph(
            synthetic::SEED,
            size,
            synthetic::CALIB_IMAGES,
            &QuantConfig::default(),
        )
        .unwrap();
        let plan = crate::rtl::plan::plan(&q, size, size).unwrap();
        let d = super::super::lower(&q, &plan, super::super::FoldHw::up5k()).unwrap();
        let (u, p) = (d.nms.as_ref().unwrap(), plan.qnms().unwrap());
        let t = q.qnms.as_ref().unwrap();
        let mut kept_total = 0;
        for seed in 0..6u64 {
            let mut rng = Rng::new(seed);
            let mut mem = vec![0u8; 1 << d.ab];
            let (mut boxes, mut classes) = (vec![], vec![]);
            for (l, lv) in p.levels.iter().enumerate() {
                let hw = lv.h * lv.w;
                // class codes around the threshold (more above it for later seeds)
                let spread = 8 + 8 * seed as i32;
                let c = Array3::from_shape_fn((p.nc, lv.h, lv.w), |_| {
                    (lv.thr - 4 + (rng.next_u64() % spread as u64) as i32).clamp(0, 255)
                });
                // box bins: one peak per side, sometimes ties
                let b = Array3::from_shape_fn((4 * p.reg_max, lv.h, lv.w), |_| {
                    (rng.next_u64() % (40 + 50 * l as u64)) as i32 + 100
                });
                for (i, v) in c.iter().enumerate() {
                    mem[lv.cls_base + i] = *v as u8;
                }
                for (i, v) in b.iter().enumerate() {
                    mem[lv.box_base + i] = *v as u8;
                }
                assert_eq!(c.len(), p.nc * hw);
                classes.push(c);
                boxes.push(b);
            }
            let kept = qhead::postprocess(
                t,
                p.reg_max,
                &boxes.iter().collect::<Vec<_>>(),
                &classes.iter().collect::<Vec<_>>(),
                NMS.conf,
                NMS.iou,
                NMS.max_det,
                NMS.multi_label,
            );
            let want = encode_records(&kept);
            let run = u.run(&mut mem, d.ab).unwrap();
            assert_eq!(
                &mem[p.out_base..p.out_base + want.len()],
                &want[..],
                "seed {seed}"
            );
            assert!(run.cycles == 2 + 2 * run.instructions);
            kept_total += kept.len();
        }
        assert!(
            kept_total > 20,
            "the inputs exercise the NMS ({kept_total} kept)"
        );
    }
}

//! Test-only pickle and torch-zip writer: builds `.pt` fixtures the way `torch.save`
//! lays them out (protocol 2, `_rebuild_tensor_v2` + BINPERSID storage records, modules
//! as NEWOBJ + BUILD of their `__dict__`), so the importer can be tested without torch.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;

/// Storage element types the writer can emit.
#[derive(Clone, Copy, Debug)]
pub enum Dt {
    F16,
    BF16,
    F32,
    F64,
    I64,
}

impl Dt {
    fn class(self) -> &'static str {
        match self {
            Dt::F16 => "HalfStorage",
            Dt::BF16 => "BFloat16Storage",
            Dt::F32 => "FloatStorage",
            Dt::F64 => "DoubleStorage",
            Dt::I64 => "LongStorage",
        }
    }
    fn encode(self, v: f32) -> Vec<u8> {
        match self {
            Dt::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
            Dt::BF16 => half::bf16::from_f32(v).to_le_bytes().to_vec(),
            Dt::F32 => v.to_le_bytes().to_vec(),
            Dt::F64 => (v as f64).to_le_bytes().to_vec(),
            Dt::I64 => (v as i64).to_le_bytes().to_vec(),
        }
    }
    /// What the importer should return for `v` stored in this type.
    pub fn round(self, v: f32) -> f32 {
        match self {
            Dt::F16 => half::f16::from_f32(v).to_f32(),
            Dt::BF16 => half::bf16::from_f32(v).to_f32(),
            _ => v,
        }
    }
}

/// A Python value to pickle.
#[derive(Clone, Debug)]
pub enum P {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<P>),
    List(Vec<P>),
    Dict(Vec<(P, P)>),
    OrderedDict(Vec<(P, P)>),
    Set(Vec<P>),
    /// An object built by `cls.__new__(cls)` then `__dict__` = state (how nn.Modules pickle).
    Obj(&'static str, &'static str, Box<P>),
    Tensor {
        key: String,
        dt: Dt,
        numel: usize,
        offset: usize,
        shape: Vec<usize>,
        stride: Vec<usize>,
    },
    Param(Box<P>),
    /// `getattr(<the innermost object being built>, name)`: how pickle stores a bound method
    /// held in a module's `__dict__` (after `model.fuse()`: `forward` = `self.forward_fuse`),
    /// a memo reference to an object whose BUILD has not run yet.
    Method(&'static str),
    /// Raw opcodes spliced in as-is (for hostile-input tests).
    Raw(Vec<u8>),
}

pub fn s(x: &str) -> P {
    P::Str(x.to_string())
}

/// Protocol-2 pickle writer with memoised globals (exercising BINPUT/BINGET).
#[derive(Default)]
pub struct Pickler {
    pub out: Vec<u8>,
    memo: HashMap<String, u32>,
    next: u32,
    /// Memo indices of the objects whose state is being written.
    building: Vec<u32>,
}

impl Pickler {
    pub fn dump(root: &P) -> Vec<u8> {
        let mut p = Pickler::default();
        p.out.extend([0x80, 2]);
        p.value(root);
        p.out.push(b'.');
        p.out
    }

    fn put(&mut self) {
        if self.next < 256 {
            self.out.extend([b'q', self.next as u8]);
        } else {
            self.out.push(b'r');
            self.out.extend(self.next.to_le_bytes());
        }
        self.next += 1;
    }

    fn get(&mut self, i: u32) {
        if i < 256 {
            self.out.extend([b'h', i as u8]);
        } else {
            self.out.push(b'j');
            self.out.extend(i.to_le_bytes());
        }
    }

    fn global(&mut self, module: &str, name: &str) {
        let key = format!("{module} {name}");
        if let Some(&i) = self.memo.get(&key) {
            self.get(i);
            return;
        }
        self.out.push(b'c');
        self.out.extend(format!("{module}\n{name}\n").bytes());
        self.memo.insert(key, self.next);
        self.put();
    }

    fn int(&mut self, i: i64) {
        match i {
            0..=255 => self.out.extend([b'K', i as u8]),
            256..=65535 => {
                self.out.push(b'M');
                self.out.extend((i as u16).to_le_bytes());
            }
            _ if i32::try_from(i).is_ok() => {
                self.out.push(b'J');
                self.out.extend((i as i32).to_le_bytes());
            }
            _ => {
                self.out.extend([0x8a, 8]);
                self.out.extend(i.to_le_bytes());
            }
        }
    }

    fn tuple(&mut self, items: &[P]) {
        match items.len() {
            0 => self.out.push(b')'),
            n @ 1..=3 => {
                items.iter().for_each(|v| self.value(v));
                self.out.push(0x84 + n as u8);
            }
            _ => {
                self.out.push(b'(');
                items.iter().for_each(|v| self.value(v));
                self.out.push(b't');
            }
        }
    }

    fn items(&mut self, pairs: &[(P, P)]) {
        if pairs.is_empty() {
            return;
        }
        self.out.push(b'(');
        for (k, v) in pairs {
            self.value(k);
            self.value(v);
        }
        self.out.push(b'u');
    }

    pub fn value(&mut self, v: &P) {
        match v {
            P::None => self.out.push(b'N'),
            P::Bool(b) => self.out.push(if *b { 0x88 } else { 0x89 }),
            P::Int(i) => self.int(*i),
            P::Float(f) => {
                self.out.push(b'G');
                self.out.extend(f.to_be_bytes());
            }
            P::Str(x) => {
                self.out.push(b'X');
                self.out.extend((x.len() as u32).to_le_bytes());
                self.out.extend(x.bytes());
                self.put();
            }
            P::Tuple(items) => self.tuple(items),
            P::List(items) => {
                self.out.push(b']');
                self.put();
                self.out.push(b'(');
                items.iter().for_each(|v| self.value(v));
                self.out.push(b'e');
            }
            P::Dict(pairs) => {
                self.out.push(b'}');
                self.put();
                self.items(pairs);
            }
            P::OrderedDict(pairs) => {
                self.global("collections", "OrderedDict");
                self.out.extend([b')', b'R']);
                self.put();
                self.items(pairs);
            }
            P::Set(items) => {
                self.global("__builtin__", "set");
                self.value(&P::List(items.clone()));
                self.out.extend([0x85, b'R']);
            }
            P::Obj(module, name, state) => {
                self.global(module, name);
                self.out.extend([b')', 0x81]);
                self.building.push(self.next);
                self.put();
                self.value(state);
                self.out.push(b'b');
                self.building.pop();
            }
            P::Method(name) => {
                let obj = *self.building.last().expect("P::Method inside a P::Obj");
                self.global("builtins", "getattr");
                self.get(obj);
                self.value(&s(name));
                self.out.extend([0x86, b'R']);
                self.put();
            }
            P::Tensor {
                key,
                dt,
                numel,
                offset,
                shape,
                stride,
            } => {
                self.global("torch._utils", "_rebuild_tensor_v2");
                self.out.push(b'(');
                let ints = |v: &[usize]| P::Tuple(v.iter().map(|&x| P::Int(x as i64)).collect());
                self.out.push(b'(');
                self.value(&s("storage"));
                self.global("torch", dt.class());
                self.value(&P::Str(key.clone()));
                self.value(&s("cpu"));
                self.int(*numel as i64);
                self.out.extend([b't', b'Q']);
                self.int(*offset as i64);
                self.value(&ints(shape));
                self.value(&ints(stride));
                self.value(&P::Bool(false));
                self.value(&P::OrderedDict(vec![]));
                self.out.extend([b't', b'R']);
                self.put();
            }
            P::Param(t) => {
                self.global("torch._utils", "_rebuild_parameter");
                self.value(t);
                self.value(&P::Bool(true));
                self.value(&P::OrderedDict(vec![]));
                self.out.extend([0x87, b'R']);
            }
            P::Raw(bytes) => self.out.extend(bytes),
        }
    }
}

/// Collects storages and writes the torch zip layout `<prefix>/data.pkl`, `<prefix>/data/<k>`.
#[derive(Default)]
pub struct PtBuilder {
    pub storages: Vec<(String, Vec<u8>)>,
}

impl PtBuilder {
    /// A new storage holding `values`, and a contiguous tensor of `shape` over all of it.
    pub fn tensor(&mut self, dt: Dt, values: &[f32], shape: &[usize]) -> P {
        let mut stride = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * shape[i + 1];
        }
        self.view(dt, values, shape, &stride, 0)
    }

    /// A new storage holding `values`, viewed with an explicit offset/shape/stride.
    pub fn view(
        &mut self,
        dt: Dt,
        values: &[f32],
        shape: &[usize],
        stride: &[usize],
        offset: usize,
    ) -> P {
        let key = self.storages.len().to_string();
        self.storages.push((
            key.clone(),
            values.iter().flat_map(|&v| dt.encode(v)).collect(),
        ));
        P::Tensor {
            key,
            dt,
            numel: values.len(),
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    /// The zip bytes with `root` pickled as `<prefix>/data.pkl`.
    pub fn zip(&self, prefix: &str, root: &P) -> Vec<u8> {
        self.zip_pickle(prefix, &Pickler::dump(root))
    }

    /// The zip bytes with a given pickle stream.
    pub fn zip_pickle(&self, prefix: &str, pkl: &[u8]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opt = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file(format!("{prefix}/data.pkl"), opt).unwrap();
        w.write_all(pkl).unwrap();
        for (k, b) in &self.storages {
            w.start_file(format!("{prefix}/data/{k}"), opt).unwrap();
            w.write_all(b).unwrap();
        }
        w.start_file(format!("{prefix}/version"), opt).unwrap();
        w.write_all(b"3\n").unwrap();
        w.finish().unwrap().into_inner()
    }
}

/// An `nn.Module` record: class plus `__dict__` with the usual torch bookkeeping.
pub fn module(
    class: (&'static str, &'static str),
    params: Vec<(&str, P)>,
    buffers: Vec<(&str, P)>,
    children: Vec<(&str, P)>,
    extra: Vec<(&str, P)>,
) -> P {
    let od = |v: Vec<(&str, P)>| P::OrderedDict(v.into_iter().map(|(k, v)| (s(k), v)).collect());
    let mut state = vec![
        (s("training"), P::Bool(false)),
        (s("_parameters"), od(params)),
        (s("_buffers"), od(buffers)),
        (s("_non_persistent_buffers_set"), P::Set(vec![])),
        (s("_forward_hooks"), od(vec![])),
        (s("_modules"), od(children)),
    ];
    state.extend(extra.into_iter().map(|(k, v)| (s(k), v)));
    P::Obj(class.0, class.1, Box::new(P::Dict(state)))
}

pub const CONV2D: (&str, &str) = ("torch.nn.modules.conv", "Conv2d");
pub const BN2D: (&str, &str) = ("torch.nn.modules.batchnorm", "BatchNorm2d");
pub const SILU: (&str, &str) = ("torch.nn.modules.activation", "SiLU");
pub const CONV: (&str, &str) = ("ultralytics.nn.modules.conv", "Conv");
pub const DFL: (&str, &str) = ("ultralytics.nn.modules.block", "DFL");
pub const DETECT: (&str, &str) = ("ultralytics.nn.modules.head", "Detect");
pub const SEQ: (&str, &str) = ("torch.nn.modules.container", "Sequential");
pub const DETMODEL: (&str, &str) = ("ultralytics.nn.tasks", "DetectionModel");

/// Deterministic test values `0.25 * ((i * 7) % 13) - 1.5` (exact in f16/bf16).
pub fn vals(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.25 * (((i + salt) * 7) % 13) as f32 - 1.5)
        .collect()
}

/// A tiny Ultralytics-like checkpoint: `model.0` = Conv(conv, bn[, act]) or its fused
/// form (with `forward` bound to `forward_fuse`), `model.22` = Detect with a DFL; fp16 weights, float32 stride, names dict.
/// Returns the zip bytes and the builder (for the expected storage contents).
pub fn tiny_yolo(fused: bool, under_ema: bool) -> (Vec<u8>, PtBuilder) {
    let (root, b) = tiny_yolo_parts(fused, under_ema);
    (b.zip("tiny", &root), b)
}

/// The pickled object tree of [`tiny_yolo`] and the storages it refers to.
pub fn tiny_yolo_parts(fused: bool, under_ema: bool) -> (P, PtBuilder) {
    let mut b = PtBuilder::default();
    let w = P::Param(Box::new(b.tensor(
        Dt::F16,
        &vals(2 * 3 * 3 * 3, 0),
        &[2, 3, 3, 3],
    )));
    let conv0 = if fused {
        let bias = P::Param(Box::new(b.tensor(Dt::F16, &vals(2, 1), &[2])));
        let conv = module(
            CONV2D,
            vec![("weight", w), ("bias", bias)],
            vec![],
            vec![],
            vec![],
        );
        module(
            CONV,
            vec![],
            vec![],
            vec![
                ("conv", conv),
                ("act", module(SILU, vec![], vec![], vec![], vec![])),
            ],
            // As `model.fuse()` leaves it: `forward` bound to the module's own forward_fuse.
            vec![("forward", P::Method("forward_fuse"))],
        )
    } else {
        let conv = module(
            CONV2D,
            vec![("weight", w), ("bias", P::None)],
            vec![],
            vec![],
            vec![],
        );
        let bn = module(
            BN2D,
            vec![
                (
                    "weight",
                    P::Param(Box::new(b.tensor(Dt::F16, &vals(2, 2), &[2]))),
                ),
                (
                    "bias",
                    P::Param(Box::new(b.tensor(Dt::F16, &vals(2, 3), &[2]))),
                ),
            ],
            vec![
                ("running_mean", b.tensor(Dt::F16, &vals(2, 4), &[2])),
                ("running_var", b.tensor(Dt::F16, &[0.5, 2.0], &[2])),
                ("num_batches_tracked", b.tensor(Dt::I64, &[0.0], &[])),
            ],
            vec![],
            vec![("eps", P::Float(0.001)), ("momentum", P::Float(0.03))],
        );
        let act = module(SILU, vec![], vec![], vec![], vec![]);
        module(
            CONV,
            vec![],
            vec![],
            vec![("conv", conv), ("bn", bn), ("act", act)],
            vec![],
        )
    };
    let dfl_w = P::Param(Box::new(b.tensor(
        Dt::F16,
        &(0..16).map(|i| i as f32).collect::<Vec<_>>(),
        &[1, 16, 1, 1],
    )));
    let dfl_conv = module(
        CONV2D,
        vec![("weight", dfl_w), ("bias", P::None)],
        vec![],
        vec![],
        vec![],
    );
    let dfl = module(
        DFL,
        vec![],
        vec![],
        vec![("conv", dfl_conv)],
        vec![("c1", P::Int(16))],
    );
    let detect_stride = b.tensor(Dt::F32, &[8.0, 16.0, 32.0], &[3]);
    let detect = module(
        DETECT,
        vec![],
        vec![],
        vec![("dfl", dfl)],
        vec![("nc", P::Int(2)), ("stride", detect_stride)],
    );
    let seq = module(
        SEQ,
        vec![],
        vec![],
        vec![("0", conv0), ("22", detect)],
        vec![],
    );
    let stride = b.tensor(Dt::F32, &[8.0, 16.0, 32.0], &[3]);
    let names = P::Dict(vec![(P::Int(0), s("person")), (P::Int(1), s("bicycle"))]);
    let yaml = P::Dict(vec![
        (s("nc"), P::Int(2)),
        (
            s("backbone"),
            P::List(vec![P::List(vec![
                P::Int(-1),
                P::Int(1),
                s("Conv"),
                P::List(vec![P::Int(16), P::Int(3), P::Int(2)]),
            ])]),
        ),
    ]);
    let model = module(
        DETMODEL,
        vec![],
        vec![],
        vec![("model", seq)],
        vec![
            ("stride", stride),
            ("names", names),
            ("yaml", yaml),
            ("nc", P::Int(2)),
        ],
    );
    let (ema, model) = if under_ema {
        (model, P::None)
    } else {
        (P::None, model)
    };
    let root = P::Dict(vec![
        (s("date"), s("2024-01-01")),
        (s("version"), s("8.2.0")),
        (s("epoch"), P::Int(-1)),
        (s("best_fitness"), P::None),
        (s("ema"), ema),
        (s("model"), model),
        (s("updates"), P::Int(1 << 40)),
        (
            s("train_args"),
            P::Dict(vec![(s("imgsz"), P::Int(640)), (s("lr0"), P::Float(0.01))]),
        ),
    ]);
    (root, b)
}

//! The restricted unpickler on its own: pickles written by CPython (protocols 2, 4, 5),
//! memo sharing, hostile shapes (cycles, exponential sharing, huge lengths), and a
//! no-panic sweep over random and mutated input.

mod import_fixtures;

use import_fixtures::*;
use proptest::prelude::*;
use yoloq_gen::import::pickle::{unpickle, Dtype, Value};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
/// Lower-case hex of a string's bytes (to edit the hex fixtures).
fn hexstr(x: &str) -> String {
    x.bytes().map(|b| format!("{b:02x}")).collect()
}
fn st(x: &str) -> Value {
    Value::Str(x.to_string())
}

// The hex strings below were produced by python3 3.11 with
// `pickle.dumps(obj, protocol=P).hex()` for
// obj = {'a': [1, -2, 2**40, -2**70, 3.5, None, True, False],
//        'b': (b'\x00\xff', 'hé', frozenset([7]), {8}), 't': (),
//        'o': collections.OrderedDict([('k', 1)])}
const PY_P2: &str = "80027d71002858010000006171015d7102284b014afeffffff8a060000000000018a090000000000000000c047400c0000000000004e888965580100000062710328635f636f646563730a656e636f64650a7104580300000000c3bf710558060000006c6174696e317106867107527108580300000068c3a97109635f5f6275696c74696e5f5f0a66726f7a656e7365740a710a5d710b4b076185710c52710d635f5f6275696c74696e5f5f0a7365740a710e5d710f4b086185711052711174711258010000007471132958010000006f711463636f6c6c656374696f6e730a4f726465726564446963740a71152952711658010000006b71174b0173752e";
const PY_P4: &str = "80049581000000000000007d94288c0161945d94284b014afeffffff8a060000000000018a090000000000000000c047400c0000000000004e8889658c01629428430200ff948c0368c3a994284b0791948f94284b089074948c017494298c016f948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b0173752e";
const PY_P5: &str = "80059581000000000000007d94288c0161945d94284b014afeffffff8a060000000000018a090000000000000000c047400c0000000000004e8889658c01629428430200ff948c0368c3a994284b0791948f94284b089074948c017494298c016f948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b0173752e";

#[test]
fn cpython_pickles_decode_to_the_same_tree() {
    let want = Value::Dict(vec![
        (
            st("a"),
            Value::List(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Int(1 << 40),
                Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 0xc0]), // -2**70
                Value::Float(3.5),
                Value::None,
                Value::Bool(true),
                Value::Bool(false),
            ]),
        ),
        (
            st("b"),
            Value::Tuple(vec![
                Value::Bytes(vec![0, 255]),
                st("hé"),
                Value::Set(vec![Value::Int(7)]),
                Value::Set(vec![Value::Int(8)]),
            ]),
        ),
        (st("t"), Value::Tuple(vec![])),
        (st("o"), Value::Dict(vec![(st("k"), Value::Int(1))])),
    ]);
    for h in [PY_P2, PY_P4, PY_P5] {
        assert_eq!(unpickle(&hex(h)).unwrap(), want);
    }
}

#[test]
fn objects_are_inert_records() {
    // python3: class C: pass; c = C(); c.x = 1; pickle.dumps(c, protocol=4).hex()
    let v = unpickle(&hex(
        "8004951f000000000000008c085f5f6d61696e5f5f948c01439493942981947d948c0178944b0173622e",
    ))
    .unwrap();
    let o = v.as_object().unwrap();
    assert_eq!(o.class_name(), Some(("__main__", "C")));
    assert!(o.args.is_empty());
    assert_eq!(o.attr("x"), Some(&Value::Int(1)));
    // python3: a class whose __getnewargs_ex__ returns ((1,), {'k': 2}) -> NEWOBJ_EX
    let v = unpickle(&hex(
        "80049521000000000000008c085f5f6d61696e5f5f948c01449493944b0185947d948c016b944b027392942e",
    ))
    .unwrap();
    let o = v.as_object().unwrap();
    assert_eq!(
        (o.class_name(), &o.args[..]),
        (Some(("__main__", "D")), &[Value::Int(1)][..])
    );
    assert_eq!(o.kwargs, [(st("k"), Value::Int(2))]);
    // An arbitrary callable (os.system) is recorded, never called.
    let v =
        unpickle(&[&[0x80, 2][..], b"cos\nsystem\nX\x02\x00\x00\x00ls\x85R."].concat()).unwrap();
    let o = v.as_object().unwrap();
    assert_eq!(
        (o.class_name(), &o.args[..]),
        (Some(("os", "system")), &[st("ls")][..])
    );
}

#[test]
fn memo_shares_and_marks_cycles() {
    // python3: l = [5]; pickle.dumps([l, l], protocol=4).hex()
    let v = unpickle(&hex("8004950c000000000000005d94285d944b05616801652e")).unwrap();
    let inner = Value::List(vec![Value::Int(5)]);
    assert_eq!(v, Value::List(vec![inner.clone(), inner]));
    // python3: l = []; l.append(l); pickle.dumps(l, protocol=4).hex()
    // The reference back to the list under construction is kept as a marker, not followed.
    let v = unpickle(&hex("80049506000000000000005d946800612e")).unwrap();
    assert_eq!(v, Value::List(vec![Value::Cycle]));
    // python3: d = {}; d['a'] = [d, 1]; pickle.dumps(d, protocol=4).hex()
    let v = unpickle(&hex(
        "80049510000000000000007d948c0161945d942868004b0165732e",
    ))
    .unwrap();
    assert_eq!(
        v,
        Value::Dict(vec![(
            st("a"),
            Value::List(vec![Value::Cycle, Value::Int(1)])
        )])
    );
}

/// CPython 3's pickle (protocol 2) of an object of a class registered as
/// `ultralytics.nn.modules.conv.Conv`, with `m.training = False; m.forward = m.forward_fuse`
/// (what `model.fuse()` leaves): `forward` is `getattr(<m, still being built>, 'forward_fuse')`.
const FUSED_CONV: &str = "800263756c7472616c79746963732e6e6e2e6d6f64756c65732e636f6e760a436f6e760a7100298171017d7102285808000000747261696e696e677103895807000000666f72776172647104635f5f6275696c74696e5f5f0a676574617474720a71056801580c000000666f72776172645f66757365710686710752710875622e";

#[test]
fn bound_method_of_an_allowed_class_is_an_inert_reference() {
    let v = unpickle(&hex(FUSED_CONV)).unwrap();
    let o = v.as_object().unwrap();
    assert_eq!(
        o.class_name(),
        Some(("ultralytics.nn.modules.conv", "Conv"))
    );
    assert_eq!(o.attr("training"), Some(&Value::Bool(false)));
    assert_eq!(
        o.attr("forward"),
        Some(&Value::Method {
            class: Box::new(Value::Global {
                module: "ultralytics.nn.modules.conv".into(),
                name: "Conv".into()
            }),
            name: "forward_fuse".into()
        })
    );
    // The same shape for a class outside torch/ultralytics: recorded as an uncalled getattr
    // whose first argument is the cycle marker.
    let other = FUSED_CONV.replace(
        &hexstr("ultralytics.nn.modules.conv\nConv\n"),
        &hexstr("evil.module.abcdefghijklmn\nConv\n"),
    );
    let v = unpickle(&hex(&other)).unwrap();
    let call = v
        .as_object()
        .unwrap()
        .attr("forward")
        .unwrap()
        .as_object()
        .unwrap();
    assert_eq!(call.class_name(), Some(("__builtin__", "getattr")));
    assert_eq!(call.args, [Value::Cycle, st("forward_fuse")]);
    // An attribute that is not an identifier is not a method reference either.
    let odd = FUSED_CONV.replace(&hexstr("forward_fuse"), &hexstr("forward.fuse"));
    let v = unpickle(&hex(&odd)).unwrap();
    assert!(v
        .as_object()
        .unwrap()
        .attr("forward")
        .unwrap()
        .as_object()
        .is_some());
}

#[test]
fn exponential_sharing_is_bounded() {
    // x0 = [], x_{i+1} = (x_i, x_i): 60 levels would expand to 2^60 nodes.
    let mut p = vec![0x80, 2, b']', b'q', 0];
    for i in 0..60u8 {
        p.extend([b'h', i, b'h', i, 0x86, b'q', i + 1]);
    }
    p.push(b'.');
    let e = unpickle(&p).unwrap_err();
    assert!(e.contains("expands to more than"), "{e}");
}

#[test]
fn hostile_lengths_and_stack_errors() {
    let cases: [(&[u8], &str); 7] = [
        (&[0x80, 2, b'X', 0xff, 0xff, 0xff, 0x7f], "past the end"),
        (&[0x80, 4, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x80], "past the end"),
        (&[0x80, 2, b'a', b'.'], "stack underflow"),
        (&[0x80, 2, b'h', 9, b'.'], "memo entry 9"),
        (&[0x80, 2, b't', b'.'], "no MARK"),
        (&[0x80, 9, b'N', b'.'], "protocol 9"),
        (&[0x80, 2, b'N', b'N', b'b', b'.'], "."), // BUILD on None is ignored, result None
    ];
    for (bytes, want) in cases {
        match unpickle(bytes) {
            Err(e) => assert!(e.contains(want) && e.contains("at byte"), "{e}"),
            Ok(v) => assert_eq!((v, want), (Value::None, ".")),
        }
    }
}

#[test]
fn torch_tensor_records() {
    let mut b = PtBuilder::default();
    let t = b.view(Dt::BF16, &[1.0; 12], &[2, 3], &[1, 2], 4);
    let v = unpickle(&Pickler::dump(&P::Param(Box::new(t)))).unwrap();
    let Value::TorchTensor(t) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        (t.storage_key.as_str(), &t.dtype, t.numel),
        ("0", &Dtype::BF16, 12)
    );
    assert_eq!(
        (t.offset, &t.shape[..], &t.stride[..]),
        (4, &[2, 3][..], &[1, 2][..])
    );
}

/// Every seed of the fuzz corpus decodes, and no truncation or one-byte change of a seed
/// makes the unpickler panic.
#[test]
fn fuzz_corpus_seeds_and_mutations_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/unpickle");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let seed = std::fs::read(entry.unwrap().path()).unwrap();
        unpickle(&seed).unwrap();
        for cut in 0..seed.len() {
            let _ = unpickle(&seed[..cut]);
        }
        for i in 0..seed.len() {
            for x in [0u8, 0xff, seed[i].wrapping_add(1), b'(', b'h'] {
                let mut m = seed.clone();
                m[i] = x;
                let _ = unpickle(&m);
            }
        }
        n += 1;
    }
    assert!(n >= 5, "expected the seed corpus in {}", dir.display());
}

/// Regenerate the seed corpus from the fixture writer:
/// `cargo test --test import_pickle -- --ignored write_fuzz_corpus`.
#[test]
#[ignore]
fn write_fuzz_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/unpickle");
    std::fs::create_dir_all(&dir).unwrap();
    let mut b = PtBuilder::default();
    let sd = P::OrderedDict(vec![
        (s("w"), b.view(Dt::F16, &[0.0; 8], &[2, 2], &[1, 2], 1)),
        (s("n"), b.tensor(Dt::I64, &[0.0], &[])),
    ]);
    let seeds = [
        (
            "tiny_yolo_unfused.pkl",
            Pickler::dump(&tiny_yolo_parts(false, false).0),
        ),
        (
            "tiny_yolo_fused_ema.pkl",
            Pickler::dump(&tiny_yolo_parts(true, true).0),
        ),
        ("state_dict.pkl", Pickler::dump(&sd)),
        ("python_p2.pkl", hex(PY_P2)),
        ("python_p4.pkl", hex(PY_P4)),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = unpickle(&[&[0x80, 2][..], &body].concat());
    }

    #[test]
    fn random_opcode_soup_never_panics(ops in proptest::collection::vec(
        prop::sample::select(b"()]}tuseaqhKNR\x81bQ.\x85\x86\x87\x88\x89\x8f\x90\x91\x93\x940".to_vec()), 0..120)) {
        let _ = unpickle(&[&[0x80, 2][..], &ops].concat());
    }
}

//! Bad `.pt` input: every failure is an `Err` whose message is one line naming the file,
//! and nothing panics.

mod import_fixtures;

use import_fixtures::*;
use std::path::{Path, PathBuf};
use yoloq_gen::import::{load_checkpoint, torch_pt::load_pt};

/// The error for `bytes` loaded as `name`, checked to be one line naming the file.
fn err_for(name: &str, bytes: &[u8]) -> String {
    let msg = match load_pt(Path::new(name), bytes) {
        Ok(_) => panic!("{name}: expected an error"),
        Err(e) => e.to_string(),
    };
    assert!(!msg.contains('\n'), "multi-line error: {msg}");
    assert!(msg.starts_with(name), "error does not name the file: {msg}");
    msg
}

/// A state dict with one row-major 2-D tensor `w` of `shape` over a 4-element storage.
fn tiny_state_dict(b: &mut PtBuilder, shape: [usize; 2]) -> P {
    let t = b.view(Dt::F32, &[1.0, 2.0, 3.0, 4.0], &shape, &[shape[1], 1], 0);
    P::OrderedDict(vec![(s("w"), t)])
}

fn tmp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    (dir, p)
}

#[test]
fn missing_file_and_non_zip_are_one_line_errors() {
    let e = load_checkpoint(Path::new("/nonexistent/dir/yolov8n.pt"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/nonexistent/dir/yolov8n.pt") && !e.contains('\n'),
        "{e}"
    );
    let (_d, p) = tmp_file("notes.pt", b"hello, not a checkpoint");
    let e = load_checkpoint(&p).unwrap_err().to_string();
    assert!(
        e.starts_with(&p.display().to_string()) && !e.contains('\n'),
        "{e}"
    );
    // Starts like a zip but is not one.
    let msg = err_for("fake.pt", b"PK\x03\x04 and then garbage");
    assert!(msg.contains("zip"), "{msg}");
}

#[test]
fn truncated_zip_is_rejected_through_load_checkpoint() {
    let (zip, _) = tiny_yolo(false, false);
    for cut in [zip.len() / 2, zip.len() - 10, 30] {
        let (_d, p) = tmp_file("cut.pt", &zip[..cut]);
        let e = load_checkpoint(&p).unwrap_err().to_string();
        assert!(
            e.starts_with(&p.display().to_string()) && !e.contains('\n'),
            "{e}"
        );
    }
}

#[test]
fn zip_without_data_pkl() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("a/readme.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut w, b"hi").unwrap();
    let bytes = w.finish().unwrap().into_inner();
    assert!(err_for("nopkl.pt", &bytes).contains("data.pkl"));
}

#[test]
fn unsupported_opcodes_are_named_with_their_offset() {
    let b = PtBuilder::default();
    // INST ('i'): protocol-0 "import and call"; EXT1 (0x82): extension registry lookup.
    let inst = [&[0x80, 2][..], b"iposix\nsystem\n", b"."].concat();
    let msg = err_for("inst.pt", &b.zip_pickle("x", &inst));
    assert!(msg.contains("INST") && msg.contains("at byte 2"), "{msg}");
    let ext = [0x80, 2, b'(', 0x82, 7, b'.'];
    let msg = err_for("ext.pt", &b.zip_pickle("x", &ext));
    assert!(msg.contains("EXT1") && msg.contains("at byte 3"), "{msg}");
    // Truncated pickle stream (no STOP).
    let mut pkl = Pickler::dump(&P::Dict(vec![(s("a"), P::Int(1))]));
    pkl.pop();
    assert!(err_for("nostop.pt", &b.zip_pickle("x", &pkl)).contains("STOP"));
}

#[test]
fn missing_and_short_storages() {
    let mut b = PtBuilder::default();
    let root = tiny_state_dict(&mut b, [2, 2]);
    b.storages.clear();
    let msg = err_for("nostorage.pt", &b.zip("x", &root));
    assert!(msg.contains("missing record x/data/0"), "{msg}");

    let mut b = PtBuilder::default();
    let root = tiny_state_dict(&mut b, [2, 3]); // 6 elements over a 4-element storage
    let msg = err_for("short.pt", &b.zip("x", &root));
    assert!(msg.contains("too short"), "{msg}");

    // The storage record holds fewer bytes than the pickle declares.
    let mut b = PtBuilder::default();
    let root = tiny_state_dict(&mut b, [2, 2]);
    b.storages[0].1.truncate(10);
    assert!(err_for("cut-storage.pt", &b.zip("x", &root)).contains("too short"));
}

#[test]
fn no_model_found() {
    let b = PtBuilder::default();
    let root = P::Dict(vec![(s("epoch"), P::Int(3)), (s("model"), P::None)]);
    assert!(err_for("empty.pt", &b.zip("x", &root)).contains("no model found"));
}

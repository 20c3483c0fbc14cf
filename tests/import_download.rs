//! Model resolution and download, against a one-file HTTP server on 127.0.0.1 serving a
//! generated checkpoint (no network needed).

mod import_fixtures;

use import_fixtures::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use yoloq_gen::import::download::{resolve_model, resolve_model_in, DEFAULT_URL};
use yoloq_gen::import::load_checkpoint;

/// Serve `body` at `/yolov8n.pt` (404 for any other path); returns the base URL and a
/// request counter.
fn serve(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&req);
            let ok = line.starts_with("GET /yolov8n.pt ");
            let (status, payload): (&str, &[u8]) = if ok {
                ("200 OK", &body)
            } else {
                ("404 Not Found", b"nope")
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = stream
                .write_all(head.as_bytes())
                .and_then(|_| stream.write_all(payload));
        }
    });
    (base, hits)
}

#[test]
fn default_url_is_the_official_release() {
    assert_eq!(
        DEFAULT_URL,
        "https://github.com/ultralytics/assets/releases/download/v8.2.0/yolov8n.pt"
    );
}

#[test]
fn explicit_model_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mine.pt");
    std::fs::write(&p, b"x").unwrap();
    let unused = "http://127.0.0.1:9/never";
    assert_eq!(resolve_model(Some(&p), dir.path(), unused).unwrap(), p);
    let missing = dir.path().join("absent.pt");
    let e = resolve_model(Some(&missing), dir.path(), unused)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("absent.pt") && e.contains("--model") && !e.contains('\n'),
        "{e}"
    );
}

#[test]
fn local_file_in_cwd_wins_over_cache() {
    let cwd = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("yolov8n.pt"), b"x").unwrap();
    std::fs::write(cache.path().join("yolov8n.pt"), b"y").unwrap();
    let got = resolve_model_in(
        cwd.path(),
        None,
        cache.path(),
        "http://127.0.0.1:9/yolov8n.pt",
    )
    .unwrap();
    assert_eq!(got, cwd.path().join("yolov8n.pt"));
}

#[test]
fn downloads_validates_and_caches() {
    let (zip, _) = tiny_yolo(false, false);
    let (base, hits) = serve(zip.clone());
    let cwd = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let url = format!("{base}/yolov8n.pt");
    let got = resolve_model_in(cwd.path(), None, &cache.path().join("sub"), &url).unwrap();
    assert_eq!(got, cache.path().join("sub/yolov8n.pt"));
    assert_eq!(std::fs::read(&got).unwrap(), zip);
    assert!(load_checkpoint(&got)
        .unwrap()
        .tensors
        .contains_key("model.22.dfl.conv.weight"));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Second call: served from the cache, no request.
    let again = resolve_model_in(cwd.path(), None, &cache.path().join("sub"), &url).unwrap();
    assert_eq!(again, got);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn http_404_and_wrong_content_leave_no_cache_file() {
    let mut b = PtBuilder::default();
    let t = b.tensor(Dt::F32, &[1.0], &[1]);
    let not_yolo = b.zip("x", &P::OrderedDict(vec![(s("w"), t)]));
    for (body, path, why) in [
        (not_yolo.clone(), "yolov8n.pt", "model.22.dfl.conv.weight"),
        (not_yolo, "missing.pt", "404"),
        (b"not a zip".to_vec(), "yolov8n.pt", "zip"),
    ] {
        let (base, _) = serve(body);
        let cache = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        let url = format!("{base}/{path}");
        let e = resolve_model_in(cwd.path(), None, cache.path(), &url)
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains('\n') && e.contains("--model") && e.contains(&url) && e.contains(why),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0, "{e}");
    }
}

#[test]
fn unreachable_server_is_a_one_line_error() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/yolov8n.pt");
    let e = resolve_model_in(Path::new("/nonexistent"), None, cache.path(), &url)
        .unwrap_err()
        .to_string();
    assert!(
        !e.contains('\n') && e.contains("--model") && e.contains("download"),
        "{e}"
    );
}

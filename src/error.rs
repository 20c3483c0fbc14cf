//! The library's one error type. Every variant renders as a single line that names the
//! file or argument at fault and says what to do about it.

use std::path::PathBuf;

/// Errors raised by every yoloq-gen stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source} (check that the path exists and is readable/writable)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A model file is malformed or not what we expected.
    #[error("{path}: {msg}")]
    Model { path: PathBuf, msg: String },
    /// A data file (image, label, json) is malformed.
    #[error("{path}: {msg}")]
    Data { path: PathBuf, msg: String },
    /// A command-line argument or option is out of range.
    #[error("{arg}: {msg}")]
    Arg { arg: String, msg: String },
    /// An external tool (simulator, synthesis) failed or is missing.
    #[error("{tool}: {msg}")]
    Tool { tool: String, msg: String },
    /// Anything else, with a message that says what went wrong.
    #[error("{0}")]
    Other(String),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub fn model(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            msg: one_line(msg.into()),
        }
    }
    pub fn data(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            msg: one_line(msg.into()),
        }
    }
    pub fn arg(arg: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Arg {
            arg: arg.into(),
            msg: msg.into(),
        }
    }
}

/// A message that quotes names or text taken from a file (a zip record name, a yaml key)
/// stays one line: line breaks in it are written as `\n` / `\r`.
fn one_line(msg: String) -> String {
    if msg.contains(['\n', '\r']) {
        msg.replace('\n', "\\n").replace('\r', "\\r")
    } else {
        msg
    }
}

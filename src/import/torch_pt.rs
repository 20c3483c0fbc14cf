//! torch zip checkpoints (filled in by the import work).
use super::Checkpoint;
use crate::error::{Error, Result};
use std::path::Path;

pub fn load_pt(path: &Path, _bytes: &[u8]) -> Result<Checkpoint> {
    Err(Error::model(path, ".pt import not built yet"))
}

//! Restricted pickle reader (filled in by the import work).

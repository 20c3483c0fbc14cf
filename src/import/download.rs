//! Fetching the default checkpoint (filled in by the import work).

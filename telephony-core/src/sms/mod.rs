//! SMS text tools (in progress).

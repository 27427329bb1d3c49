//! A capture staged in memory as the feed (placeholder: being written).

//! The results directory (placeholder: being written).

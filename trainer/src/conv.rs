//! Convolution with a fast backward pass (not yet written).

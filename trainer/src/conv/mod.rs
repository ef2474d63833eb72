//! 2-D convolution whose forward pass and both gradients are matrix products.
//!
//! candle 0.11's CPU convolution backward is slow: the input gradient goes through a direct
//! `conv_transpose2d` loop and the input gradient of the first layer is computed although
//! nothing needs it. [`Conv2d`] instead lowers the convolution to one matrix product on candle's
//! gemm:
//!
//! ```text
//! x [N, C, H, W] --unfold--> cols [C·kh·kw, N·oh·ow]
//! weight [O, C·kh·kw] · cols --> y [O, N·oh·ow] --to_images (+ bias)--> [N, O, oh, ow]
//! ```
//!
//! `unfold` (im2col) and `fold` (col2im) are candle custom ops, each the other's backward; the
//! product is a custom op on candle's gemm whose backward computes the weight gradient
//! `Σ_images dy_i · cols_iᵀ` (a gemm per image) and the column gradient `weightᵀ · dy` (one
//! gemm), each only when its operand is tracked. When the input is not tracked (the first
//! layer's images), `unfold`'s result is not tracked either, so neither the column gradient nor
//! `fold` ever runs. The loops run on rayon's pool, the one candle's gemm uses, so
//! `RAYON_NUM_THREADS` bounds both.
//!
//! The fast path covers `f32`/`f64` tensors on the CPU with `groups == 1`; anything else falls
//! back to candle's own [`Tensor::conv2d`](candle_core::Tensor::conv2d), so the same model
//! runs on CUDA.
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::{Conv2dConfig, VarBuilder, VarMap};
//!
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
//! let cfg = Conv2dConfig { padding: 1, ..Default::default() };
//! let conv = trainer::conv::conv2d(1, 8, 3, cfg, vb.pp("conv1"))?;
//! let x = Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu)?;
//! assert_eq!(conv.forward(&x)?.dims(), &[2, 8, 28, 28]);
//! # Ok::<(), candle_core::Error>(())
//! ```
//!
//! # Layout
//! - `im2col`: [`Geometry`] (the shape arithmetic), [`Unfold`] and [`Fold`], each the other's
//!   backward.
//! - `product`: the weight-times-columns product on candle's gemm, its weight gradient, and the
//!   swap of its result into an image batch (plus the bias), with their backward passes.
//! - `layer`: [`Conv2d`] and [`conv2d`], the layer that chains them (or falls back to candle).

mod im2col;
mod layer;
mod product;

pub(crate) use im2col::fold_image;
pub use im2col::{Fold, Geometry, Unfold};
pub use layer::{Conv2d, conv2d};
pub(crate) use product::WeightGradient;

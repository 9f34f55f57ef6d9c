//! Qwen2 (and Qwen2.5): the Llama block with biases on the Q/K/V projections and NEOX-style RoPE
//! (the GGUF converter does not permute Qwen2's Q/K rows).

use super::llama::{Llama, Variant};
use crate::backend::RopeStyle;
use crate::error::Result;
use crate::formats::gguf::GgufFile;

pub fn variant() -> Variant {
    Variant { rope_style: RopeStyle::Neox, qkv_bias: true }
}

pub fn load(g: &GgufFile) -> Result<Llama> {
    Llama::load(g, variant())
}

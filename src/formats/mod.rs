pub mod gguf;
pub mod gguf_write;
pub mod safetensors;
pub mod hf;

//! Tokenizers: a `tokenizers::Tokenizer` built from a GGUF vocabulary (byte-level BPE, `gpt2`
//! model), or loaded from a `tokenizer.json` beside the model.
//!
//! Encoding goes through the `tokenizers` crate: control and user-defined tokens are added tokens
//! (recognised when written in text), then the pre-tokenizer split rule that `tokenizer.ggml.pre`
//! names, then GPT-2's byte-to-unicode mapping, then BPE merges. Decoding is done here from the
//! raw bytes of each token, so that decoding and streaming agree byte for byte.

use ahash::AHashMap;
use std::collections::HashSet;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior};

/// What the engine reads from GGUF metadata (`tokenizer.ggml.*`).
#[derive(Clone, Debug, Default)]
pub struct GgufVocab {
    pub model: String,
    pub pre: Option<String>,
    pub tokens: Vec<String>,
    pub token_types: Option<Vec<i32>>,
    pub merges: Option<Vec<String>>,
    pub scores: Option<Vec<f32>>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_space_prefix: Option<bool>,
}

const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;

// Pre-tokenizer split rules (applied in order, each piece isolated), as llama.cpp names them.
const GPT2_RE: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
const LLAMA3_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split rules for a `tokenizer.ggml.pre` value, and whether whole-word vocabulary hits skip
/// the merges (llama 3).
fn pre_rules(pre: Option<&str>) -> Result<(Vec<&'static str>, bool), String> {
    Ok(match pre.unwrap_or("default") {
        "default" | "gpt-2" | "gpt2" | "olmo" | "phi-2" => (vec![GPT2_RE], false),
        // digits one at a time, then GPT-2's rule (HF: Digits(individual) + ByteLevel)
        "smollm" | "starcoder" | "refact" => (vec![r"\p{N}", GPT2_RE], false),
        "llama-bpe" | "llama3" | "llama-v3" | "dbrx" | "smaug-bpe" => (vec![LLAMA3_RE], true),
        "qwen2" | "qwen" | "deepseek-r1-qwen" | "qwen35" => (vec![QWEN2_RE], false),
        other => {
            return Err(format!(
                "unsupported pre-tokenizer '{other}' (supported: default, gpt-2, smollm, starcoder, refact, llama-bpe, qwen2)"
            ))
        }
    })
}

/// GPT-2's reversible byte <-> printable-unicode map.
fn byte_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..256u32 {
        let printable = (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap()
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap()
        };
    }
    table
}

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Raw bytes of every token id.
    bytes: Vec<Vec<u8>>,
    special: Vec<bool>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    eog: HashSet<u32>,
}

const EOG_TEXTS: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|end_of_text|>",
    "</s>",
];

impl Tokenizer {
    pub fn from_gguf_vocab(v: &GgufVocab) -> Result<Tokenizer, String> {
        if v.model != "gpt2" {
            return Err(format!("tokenizer model '{}' is not supported yet (supported: gpt2)", v.model));
        }
        let n = v.tokens.len();
        if n == 0 {
            return Err("the vocabulary is empty".into());
        }
        let types = v.token_types.clone().unwrap_or_else(|| vec![1; n]);
        if types.len() != n {
            return Err(format!("{} token types for {} tokens", types.len(), n));
        }
        for (name, id) in [("bos", v.bos), ("eos", v.eos), ("eot", v.eot), ("eom", v.eom)] {
            if let Some(id) = id {
                if id as usize >= n {
                    return Err(format!("{name} token id {id} is outside the vocabulary of {n}"));
                }
            }
        }
        let (rules, ignore_merges) = pre_rules(v.pre.as_deref())?;
        let mut vocab: AHashMap<String, u32> = AHashMap::with_capacity(n);
        for (i, t) in v.tokens.iter().enumerate() {
            vocab.entry(t.clone()).or_insert(i as u32);
        }
        let mut merges = Vec::new();
        for (i, m) in v.merges.as_deref().unwrap_or(&[]).iter().enumerate() {
            let (a, b) = m.split_once(' ').ok_or_else(|| format!("merge {i} ({m:?}) is not two tokens"))?;
            merges.push((a.to_string(), b.to_string()));
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(ignore_merges)
            .build()
            .map_err(|e| format!("cannot build BPE: {e}"))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        let mut pre: Vec<PreTokenizerWrapper> = Vec::new();
        for r in rules {
            let split = Split::new(SplitPattern::Regex(r.to_string()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| format!("bad split rule: {e}"))?;
            pre.push(split.into());
        }
        pre.push(ByteLevel::new(false, false, false).into());
        inner.with_pre_tokenizer(Some(Sequence::new(pre)));
        let added: Vec<AddedToken> = v
            .tokens
            .iter()
            .zip(&types)
            .filter(|(_, &t)| t == TOKEN_CONTROL || t == TOKEN_USER_DEFINED)
            .map(|(s, &t)| AddedToken::from(s.clone(), t == TOKEN_CONTROL).normalized(false))
            .collect();
        inner.add_special_tokens(&added);

        let table = byte_to_unicode();
        let mut inverse = std::collections::HashMap::new();
        for (b, c) in table.iter().enumerate() {
            inverse.insert(*c, b as u8);
        }
        let mut bytes = Vec::with_capacity(n);
        let mut special = Vec::with_capacity(n);
        for (t, &ty) in v.tokens.iter().zip(&types) {
            let is_added = ty == TOKEN_CONTROL || ty == TOKEN_USER_DEFINED;
            special.push(ty == TOKEN_CONTROL);
            if is_added {
                bytes.push(t.as_bytes().to_vec());
            } else {
                // a byte-level token: every char maps back to one byte
                let b: Option<Vec<u8>> = t.chars().map(|c| inverse.get(&c).copied()).collect();
                bytes.push(b.unwrap_or_else(|| t.as_bytes().to_vec()));
            }
        }
        let mut eog: HashSet<u32> = [v.eos, v.eot, v.eom].into_iter().flatten().collect();
        for (i, t) in v.tokens.iter().enumerate() {
            if special[i] && EOG_TEXTS.contains(&t.as_str()) {
                eog.insert(i as u32);
            }
        }
        Ok(Tokenizer {
            inner,
            bytes,
            special,
            bos: v.bos,
            eos: v.eos,
            add_bos: v.add_bos.unwrap_or(false),
            add_eos: v.add_eos.unwrap_or(false),
            eog,
        })
    }

    /// A `tokenizer.json` (Hugging Face format).
    pub fn from_json_file(path: &std::path::Path, bos: Option<u32>, eos: Option<u32>, add_bos: bool) -> Result<Tokenizer, String> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let n = inner.get_vocab_size(true);
        let table = byte_to_unicode();
        let inverse: std::collections::HashMap<char, u8> = table.iter().enumerate().map(|(b, c)| (*c, b as u8)).collect();
        let added = inner.get_added_tokens_decoder();
        let mut bytes = Vec::with_capacity(n);
        let mut special = Vec::with_capacity(n);
        for id in 0..n as u32 {
            let text = inner.id_to_token(id).unwrap_or_default();
            match added.get(&id) {
                Some(a) => {
                    special.push(a.special);
                    bytes.push(text.as_bytes().to_vec());
                }
                None => {
                    special.push(false);
                    let b: Option<Vec<u8>> = text.chars().map(|c| inverse.get(&c).copied()).collect();
                    bytes.push(b.unwrap_or_else(|| text.replace('\u{2581}', " ").into_bytes()));
                }
            }
        }
        let mut eog: HashSet<u32> = eos.into_iter().collect();
        for (id, a) in added.iter() {
            if a.special && EOG_TEXTS.contains(&a.content.as_str()) {
                eog.insert(*id);
            }
        }
        Ok(Tokenizer { inner, bytes, special, bos, eos, add_bos, add_eos: false, eog })
    }

    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, String> {
        let enc = self.inner.encode(text, false).map_err(|e| e.to_string())?;
        let mut ids = Vec::with_capacity(enc.len() + 2);
        if add_special && self.add_bos {
            ids.extend(self.bos);
        }
        ids.extend_from_slice(enc.get_ids());
        if add_special && self.add_eos {
            ids.extend(self.eos);
        }
        Ok(ids)
    }

    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, String> {
        let mut out = Vec::new();
        for &id in ids {
            let b = self.bytes.get(id as usize).ok_or_else(|| {
                format!("token id {id} is out of range (vocabulary size {})", self.bytes.len())
            })?;
            if skip_special && self.special[id as usize] {
                continue;
            }
            out.extend_from_slice(b);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    pub fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        self.bytes.get(id as usize).cloned()
    }

    pub fn vocab_size(&self) -> usize {
        self.bytes.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }

    pub fn eog_ids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.eog.iter().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// Incremental detokenizer: emits only complete UTF-8 characters, holding back the bytes of a
/// character that spans several tokens.
#[derive(Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        StreamDecoder::default()
    }

    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> String {
        if let Some(b) = tok.bytes.get(id as usize) {
            self.pending.extend_from_slice(b);
        }
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap());
                    match e.error_len() {
                        // incomplete character at the end: wait for more bytes
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // invalid bytes: they can never become valid
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    pub fn flush(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Tokenizer {
        let table = byte_to_unicode();
        let mut tokens: Vec<String> = vec!["<|endoftext|>".into(), "<|im_start|>".into()];
        tokens.extend(table.iter().map(|c| c.to_string()));
        tokens.push("Ġt".into());
        tokens.push("he".into());
        tokens.push("Ġthe".into());
        let mut types = vec![3, 3];
        types.extend(std::iter::repeat(1).take(tokens.len() - 2));
        Tokenizer::from_gguf_vocab(&GgufVocab {
            model: "gpt2".into(),
            pre: Some("default".into()),
            token_types: Some(types),
            merges: Some(vec!["Ġ t".into(), "h e".into(), "Ġt he".into()]),
            tokens,
            bos: Some(0),
            eos: Some(0),
            add_bos: Some(true),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn merges_specials_and_round_trip() {
        let t = tiny();
        let the = t.encode(" the", false).unwrap();
        assert_eq!(the, vec![2 + 256 + 2], "merged into one token");
        let ids = t.encode("<|im_start|>x the", true).unwrap();
        assert_eq!(ids[0], 0, "BOS added");
        assert_eq!(ids[1], 1, "special token in text is one token");
        assert_eq!(t.decode(&ids[1..], false).unwrap(), "<|im_start|>x the");
        assert_eq!(t.decode(&ids[1..], true).unwrap(), "x the");
        let text = "héllo 東京 🙂\n\n  x";
        assert_eq!(t.decode(&t.encode(text, false).unwrap(), false).unwrap(), text);
        assert!(t.decode(&[100000], false).is_err());
        assert!(t.is_eog(0));
    }

    #[test]
    fn stream_decoder_never_splits_a_character() {
        let t = tiny();
        let ids = t.encode("a🙂b", false).unwrap();
        assert!(ids.len() >= 6, "the emoji is several byte tokens");
        let mut d = StreamDecoder::new();
        let pieces: Vec<String> = ids.iter().map(|&i| d.push(&t, i)).collect();
        assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')));
        assert_eq!(pieces.concat() + &d.flush(), "a🙂b");
        assert!(pieces.iter().any(|p| p == "🙂"), "emitted whole once complete: {pieces:?}");
    }

    #[test]
    fn unknown_pre_and_model_are_errors() {
        let mut v = GgufVocab { model: "gpt2".into(), tokens: vec!["a".into()], pre: Some("mystery".into()), ..Default::default() };
        assert!(Tokenizer::from_gguf_vocab(&v).err().unwrap().contains("mystery"));
        v.pre = None;
        v.model = "rwkv".into();
        assert!(Tokenizer::from_gguf_vocab(&v).err().unwrap().contains("rwkv"));
    }
}

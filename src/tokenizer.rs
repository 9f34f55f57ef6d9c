//! Tokenizers: a `tokenizers::Tokenizer` built from a GGUF vocabulary (byte-level BPE, `gpt2`
//! model; SentencePiece, `llama` model), or loaded from a `tokenizer.json` beside the model.
//!
//! `gpt2`: control and user-defined tokens are added tokens (recognised when written in text),
//! then the pre-tokenizer split rule that `tokenizer.ggml.pre` names, then GPT-2's byte-to-unicode
//! mapping, then BPE merges.
//!
//! `llama` (SentencePiece, as llama.cpp's `llm_tokenizer_spm` runs it): control, unknown and
//! user-defined tokens are added tokens; every other piece of text has its spaces replaced by
//! "▁" (and one "▁" put in front when `add_space_prefix`), then is merged from single characters
//! by score: among adjacent pairs whose concatenation is a vocabulary token, the one whose token
//! has the highest score merges first. That is a BPE whose merges are every split of every token
//! into two vocabulary tokens, ranked by the whole token's score (see [`spm_merges`]). Characters
//! that are not tokens fall back to their UTF-8 bytes as `<0xNN>` tokens.
//!
//! Decoding is done here from the raw bytes of each token, so that decoding and streaming agree
//! byte for byte.

use ahash::AHashMap;
use std::collections::HashSet;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Replace};
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

// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`)
const TOKEN_NORMAL: i32 = 1;
const TOKEN_UNKNOWN: i32 = 2;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;
const TOKEN_UNUSED: i32 = 5;
const TOKEN_BYTE: i32 = 6;

/// SentencePiece's escaped space.
const SPM_SPACE: char = '\u{2581}';

// Pre-tokenizer split rules (applied in order, each piece isolated), as llama.cpp names them.
const GPT2_RE: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
const LLAMA3_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
// Qwen3.5: as Qwen2, with combining marks (\p{M}) counted as letters.
const QWEN35_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split rules for a `tokenizer.ggml.pre` value, and whether whole-word vocabulary hits skip
/// the merges (llama 3).
fn pre_rules(pre: Option<&str>) -> Result<(Vec<&'static str>, bool), String> {
    Ok(match pre.unwrap_or("default") {
        "default" | "gpt-2" | "gpt2" | "olmo" | "phi-2" => (vec![GPT2_RE], false),
        // digits one at a time, then GPT-2's rule (HF: Digits(individual) + ByteLevel)
        "smollm" | "starcoder" | "refact" => (vec![r"\p{N}", GPT2_RE], false),
        "llama-bpe" | "llama3" | "llama-v3" | "dbrx" | "smaug-bpe" => (vec![LLAMA3_RE], true),
        "qwen2" | "qwen" | "deepseek-r1-qwen" => (vec![QWEN2_RE], false),
        "qwen35" => (vec![QWEN35_RE], false),
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
    /// Decoding drops one leading space, the one encoding put in front (SentencePiece
    /// `add_space_prefix`).
    strip_space_prefix: bool,
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

/// The BPE merges that make a BPE model run SentencePiece's merge loop: for every token, each
/// split into two vocabulary tokens, ranked by the whole token's score (highest first; equal
/// scores by token id). llama.cpp merges the highest-scoring adjacent pair, leftmost on a tie; a
/// BPE merges the lowest-ranked pair, leftmost on a tie: the same whenever competing merges have
/// distinct scores (true of SentencePiece vocabularies, whose normal pieces have distinct scores).
fn spm_merges(tokens: &[String], scores: Option<&[f32]>, vocab: &AHashMap<String, u32>) -> Vec<(String, String)> {
    let score = |id: usize| scores.map_or(0.0, |s| s[id]);
    let mut ranked: Vec<(f32, usize, &str, &str)> = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        if vocab.get(t) != Some(&(id as u32)) {
            continue; // a duplicate text: llama.cpp knows only its last id
        }
        for (k, _) in t.char_indices().skip(1) {
            let (left, right) = t.split_at(k);
            if vocab.contains_key(left) && vocab.contains_key(right) {
                ranked.push((score(id), id, left, right));
            }
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, _, l, r)| (l.to_string(), r.to_string())).collect()
}

/// The byte of a SentencePiece byte token `<0xNN>`.
fn spm_byte(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// What a vocabulary model contributes to [`Tokenizer`]: the encoder, each token's bytes and
/// whether it is special (skipped by `decode(.., skip_special=true)`).
struct Built {
    inner: tokenizers::Tokenizer,
    bytes: Vec<Vec<u8>>,
    special: Vec<bool>,
}

/// `gpt2`: byte-level BPE with the merges from the file.
fn build_gpt2(v: &GgufVocab, types: &[i32]) -> Result<Built, String> {
    let (rules, ignore_merges) = pre_rules(v.pre.as_deref())?;
    let mut vocab: AHashMap<String, u32> = AHashMap::with_capacity(v.tokens.len());
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
        .zip(types)
        .filter(|(_, &t)| t == TOKEN_CONTROL || t == TOKEN_USER_DEFINED)
        .map(|(s, &t)| AddedToken::from(s.clone(), t == TOKEN_CONTROL).normalized(false))
        .collect();
    inner.add_special_tokens(&added);

    let table = byte_to_unicode();
    let mut inverse = std::collections::HashMap::new();
    for (b, c) in table.iter().enumerate() {
        inverse.insert(*c, b as u8);
    }
    let mut bytes = Vec::with_capacity(v.tokens.len());
    let mut special = Vec::with_capacity(v.tokens.len());
    for (t, &ty) in v.tokens.iter().zip(types) {
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
    Ok(Built { inner, bytes, special })
}

/// `llama`: SentencePiece (see the module docs).
fn build_spm(v: &GgufVocab, types: &[i32]) -> Result<Built, String> {
    let n = v.tokens.len();
    if let Some(s) = &v.scores {
        if s.len() != n {
            return Err(format!("{} token scores for {} tokens", s.len(), n));
        }
    }
    let mut vocab: AHashMap<String, u32> = AHashMap::with_capacity(n);
    for (i, t) in v.tokens.iter().enumerate() {
        vocab.insert(t.clone(), i as u32); // the last id of a duplicate text wins, as in llama.cpp
    }
    let merges = spm_merges(&v.tokens, v.scores.as_deref(), &vocab);
    let unk = match v.unk {
        Some(id) if id as usize >= n => return Err(format!("unk token id {id} is outside the vocabulary of {n}")),
        Some(id) => Some(v.tokens[id as usize].clone()),
        None => None,
    };
    let mut builder = BPE::builder().vocab_and_merges(vocab, merges).byte_fallback(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk);
    }
    let bpe = builder.build().map_err(|e| format!("cannot build BPE: {e}"))?;
    let mut inner = tokenizers::Tokenizer::new(bpe);
    let space = SPM_SPACE.to_string();
    let mut norm: Vec<NormalizerWrapper> = Vec::new();
    if v.add_space_prefix.unwrap_or(false) {
        // each piece of text between added tokens, as llama.cpp does after every special token
        norm.push(Prepend::new(space.clone()).into());
    }
    norm.push(Replace::new(" ", space).map_err(|e| format!("bad normalizer: {e}"))?.into());
    inner.with_normalizer(Some(tokenizers::normalizers::Sequence::new(norm)));
    let added: Vec<AddedToken> = v
        .tokens
        .iter()
        .zip(types)
        .filter(|(_, &t)| t == TOKEN_CONTROL || t == TOKEN_UNKNOWN || t == TOKEN_USER_DEFINED)
        .map(|(s, &t)| AddedToken::from(s.clone(), t != TOKEN_USER_DEFINED).normalized(false))
        .collect();
    inner.add_special_tokens(&added);

    let mut bytes = Vec::with_capacity(n);
    let mut special = Vec::with_capacity(n);
    for (t, &ty) in v.tokens.iter().zip(types) {
        special.push(matches!(ty, TOKEN_CONTROL | TOKEN_UNKNOWN | TOKEN_UNUSED));
        bytes.push(match ty {
            TOKEN_BYTE => spm_byte(t).map_or_else(|| t.as_bytes().to_vec(), |b| vec![b]),
            TOKEN_NORMAL => t.replace(SPM_SPACE, " ").into_bytes(),
            // control, unknown and unused tokens decode to their text; user-defined tokens are
            // matched in raw text, so their text is already the raw text
            _ => t.as_bytes().to_vec(),
        });
    }
    Ok(Built { inner, bytes, special })
}

impl Tokenizer {
    pub fn from_gguf_vocab(v: &GgufVocab) -> Result<Tokenizer, String> {
        let n = v.tokens.len();
        if n == 0 {
            return Err("the vocabulary is empty".into());
        }
        let types = v.token_types.clone().unwrap_or_else(|| vec![TOKEN_NORMAL; n]);
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
        let (built, strip_space_prefix) = match v.model.as_str() {
            "gpt2" => (build_gpt2(v, &types)?, false),
            "llama" => (build_spm(v, &types)?, v.add_space_prefix.unwrap_or(false)),
            other => {
                return Err(format!("tokenizer model '{other}' is not supported yet (supported: gpt2, llama)"));
            }
        };
        let Built { inner, bytes, special } = built;
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
            strip_space_prefix,
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
        Ok(Tokenizer { inner, bytes, special, bos, eos, add_bos, add_eos: false, strip_space_prefix: false, eog })
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
        // llama.cpp: the first token loses one leading space, unless the text starts with a BOS
        // that is skipped
        let mut strip = self.strip_space_prefix && !(skip_special && self.add_bos && ids.first() == self.bos.as_ref());
        let mut out = Vec::new();
        for &id in ids {
            let b = self.bytes.get(id as usize).ok_or_else(|| {
                format!("token id {id} is out of range (vocabulary size {})", self.bytes.len())
            })?;
            let first = std::mem::take(&mut strip);
            if skip_special && self.special[id as usize] {
                continue;
            }
            out.extend_from_slice(if first { b.strip_prefix(b" ").unwrap_or(b) } else { b });
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

    /// More end-of-generation ids (a Hugging Face folder's generation_config.json `eos_token_id`).
    pub fn add_eog(&mut self, ids: impl IntoIterator<Item = u32>) {
        self.eog.extend(ids.into_iter().filter(|&i| (i as usize) < self.bytes.len()));
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
    fn qwen35_split_keeps_combining_marks_with_their_letters() {
        use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};
        let pieces = |pre: &str| {
            let (rules, _) = pre_rules(Some(pre)).unwrap();
            let split = Split::new(SplitPattern::Regex(rules[0].to_string()), SplitDelimiterBehavior::Isolated, false).unwrap();
            let mut p = PreTokenizedString::from("cafe\u{301} ok");
            split.pre_tokenize(&mut p).unwrap();
            p.get_splits(OffsetReferential::Original, OffsetType::Byte).into_iter().map(|(s, _, _)| s.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(pieces("qwen35"), ["cafe\u{301}", " ok"]);
        assert_eq!(pieces("qwen2"), ["cafe", "\u{301}", " ok"]);
    }

    #[test]
    fn unknown_pre_and_model_are_errors() {
        let mut v = GgufVocab { model: "gpt2".into(), tokens: vec!["a".into()], pre: Some("mystery".into()), ..Default::default() };
        assert!(Tokenizer::from_gguf_vocab(&v).err().unwrap().contains("mystery"));
        v.pre = None;
        v.model = "rwkv".into();
        assert!(Tokenizer::from_gguf_vocab(&v).err().unwrap().contains("rwkv"));
    }

    // ---------------------------------------------------------------- SentencePiece (`llama`)

    /// A small SentencePiece vocabulary: specials, the 256 byte tokens, then `pieces` with their
    /// scores.
    fn spm_vocab(pieces: &[(&str, f32)], add_space_prefix: bool) -> GgufVocab {
        let mut tokens: Vec<String> =
            ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "\n", "  "].map(String::from).to_vec();
        let mut types = vec![3, 3, 3, 2, 3, 3, 4, 4];
        let mut scores = vec![-1000.0; tokens.len()];
        for b in 0..256 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
            scores.push(0.0);
        }
        for (p, s) in pieces {
            tokens.push(p.to_string());
            types.push(1);
            scores.push(*s);
        }
        GgufVocab {
            model: "llama".into(),
            tokens,
            token_types: Some(types),
            scores: Some(scores),
            bos: Some(2),
            eos: Some(1),
            unk: Some(3),
            add_bos: Some(true),
            add_space_prefix: Some(add_space_prefix),
            ..Default::default()
        }
    }

    const FIRST_PIECE: u32 = 8 + 256;

    /// llama.cpp's `llm_tokenizer_spm`, written plainly: start from single characters; while some
    /// adjacent pair concatenates to a token, merge the pair whose token has the highest score
    /// (leftmost on a tie); then every symbol that is not a token becomes its bytes.
    fn spm_reference(v: &GgufVocab, text: &str) -> Vec<u32> {
        let id_of = |s: &str| v.tokens.iter().rposition(|t| t == s).map(|i| i as u32);
        let escaped = text.replace(' ', "\u{2581}");
        let mut syms: Vec<String> = escaped.chars().map(String::from).collect();
        loop {
            let mut best: Option<(f32, usize)> = None;
            for i in 0..syms.len().saturating_sub(1) {
                if let Some(id) = id_of(&(syms[i].clone() + &syms[i + 1])) {
                    let sc = v.scores.as_ref().unwrap()[id as usize];
                    if best.map_or(true, |(b, _)| sc > b) {
                        best = Some((sc, i));
                    }
                }
            }
            let Some((_, i)) = best else { break };
            let right = syms.remove(i + 1);
            syms[i].push_str(&right);
        }
        let mut ids = Vec::new();
        for s in syms {
            match id_of(&s) {
                Some(id) => ids.push(id),
                None => ids.extend(s.bytes().map(|b| id_of(&format!("<0x{b:02X}>")).unwrap())),
            }
        }
        ids
    }

    #[test]
    fn spm_merges_by_score_not_by_id() {
        // "ab" comes before "bc" in the vocabulary but scores lower: llama.cpp merges "bc" first
        let v = spm_vocab(&[("a", -1.0), ("b", -2.0), ("c", -3.0), ("ab", -10.0), ("bc", -5.0)], false);
        let t = Tokenizer::from_gguf_vocab(&v).unwrap();
        let [a, b, c, ab, bc] = [0, 1, 2, 3, 4].map(|i| FIRST_PIECE + i);
        assert_eq!(t.encode("abc", false).unwrap(), vec![a, bc]);
        assert_eq!(t.encode("abab", false).unwrap(), vec![ab, ab]);
        assert_eq!(t.encode("cab", false).unwrap(), vec![c, ab]);
        assert_eq!(t.encode("bcb", false).unwrap(), vec![bc, b], "equal pairs: leftmost first");
        assert_eq!(spm_reference(&v, "abc"), vec![a, bc]);
    }

    #[test]
    fn spm_spaces_bytes_specials_and_decoding() {
        let pieces = [("\u{2581}", -1.0), ("h", -2.0), ("i", -3.0), ("\u{2581}h", -4.0), ("\u{2581}hi", -5.0), ("hi", -6.0)];
        let t = Tokenizer::from_gguf_vocab(&spm_vocab(&pieces, false)).unwrap();
        let [sp, h, i, _sph, sphi, hi] = [0, 1, 2, 3, 4, 5].map(|k| FIRST_PIECE + k);
        let byte = |b: u8| 8 + b as u32;
        assert_eq!(t.encode("hi hi", false).unwrap(), vec![hi, sphi], "' ' is '\u{2581}', no prefix");
        assert_eq!(t.encode("hi", true).unwrap(), vec![2, hi], "BOS added");
        // characters that are not tokens fall back to their UTF-8 bytes
        assert_eq!(t.encode("hé", false).unwrap(), vec![h, byte(0xC3), byte(0xA9)]);
        // control and user-defined tokens are matched in the raw text, before the merges
        assert_eq!(
            t.encode("<start_of_turn>h\ni  hi<end_of_turn>", false).unwrap(),
            vec![4, h, 6, i, 7, hi, 5]
        );
        assert_eq!(t.encode(" ", false).unwrap(), vec![sp]);
        let ids = t.encode("<start_of_turn>hi hé\n  i<end_of_turn>", true).unwrap();
        assert_eq!(t.decode(&ids, false).unwrap(), "<bos><start_of_turn>hi hé\n  i<end_of_turn>");
        assert_eq!(t.decode(&ids, true).unwrap(), "hi hé\n  i");
        assert_eq!(t.token_bytes(byte(0xC3)).unwrap(), vec![0xC3]);
        assert_eq!(t.token_bytes(sphi).unwrap(), b" hi".to_vec());
        assert!(t.is_eog(1) && t.is_eog(5) && !t.is_eog(4));
        // a character split over byte tokens streams out whole
        let mut d = StreamDecoder::new();
        let pieces: Vec<String> = t.encode("é", false).unwrap().iter().map(|&id| d.push(&t, id)).collect();
        assert_eq!(pieces, vec!["".to_string(), "é".to_string()]);
    }

    #[test]
    fn spm_add_space_prefix() {
        let pieces = [("\u{2581}", -1.0), ("h", -2.0), ("i", -3.0), ("\u{2581}h", -4.0), ("\u{2581}hi", -5.0), ("hi", -6.0)];
        let t = Tokenizer::from_gguf_vocab(&spm_vocab(&pieces, true)).unwrap();
        let sphi = FIRST_PIECE + 4;
        assert_eq!(t.encode("hi hi", false).unwrap(), vec![sphi, sphi]);
        // after a special token the text gets its own prefix, as in llama.cpp
        assert_eq!(t.encode("hi<end_of_turn>hi", true).unwrap(), vec![2, sphi, 5, sphi]);
        // decoding drops the one space that encoding added, unless a skipped BOS leads
        assert_eq!(t.decode(&[sphi, sphi], false).unwrap(), "hi hi");
        assert_eq!(t.decode(&[2, sphi], true).unwrap(), " hi");
        assert_eq!(t.decode(&[2, sphi], false).unwrap(), "<bos> hi");
    }

    #[test]
    fn spm_matches_llama_cpp_algorithm_on_random_vocabularies() {
        // xorshift, seeded: reproducible without a dependency
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let alphabet = ['a', 'b', 'c', ' ', '\u{2581}', 'é', 'x']; // 'é', 'x' are not tokens
        for round in 0..40 {
            let mut pieces: Vec<String> = ["a", "b", "c", "\u{2581}"].map(String::from).to_vec();
            while pieces.len() < 4 + 5 + rnd(40) {
                let p = pieces[rnd(pieces.len())].clone() + &pieces[rnd(pieces.len())];
                if !pieces.contains(&p) {
                    pieces.push(p);
                }
            }
            // distinct scores in random order
            let mut scores: Vec<f32> = (0..pieces.len()).map(|i| -(i as f32)).collect();
            for i in (1..scores.len()).rev() {
                scores.swap(i, rnd(i + 1));
            }
            let owned: Vec<(&str, f32)> = pieces.iter().map(String::as_str).zip(scores).collect();
            let v = spm_vocab(&owned, false);
            let t = Tokenizer::from_gguf_vocab(&v).unwrap();
            for _ in 0..50 {
                let mut text = String::new();
                for _ in 0..rnd(16) {
                    let c = alphabet[rnd(alphabet.len())];
                    if !(c == ' ' && text.ends_with(' ')) {
                        text.push(c); // "  " is a user-defined token, which the reference ignores
                    }
                }
                let ours = t.encode(&text, false).unwrap();
                assert_eq!(ours, spm_reference(&v, &text), "round {round}, text {text:?}, pieces {owned:?}");
                assert_eq!(t.decode(&ours, false).unwrap(), text.replace('\u{2581}', " "));
            }
        }
    }

    #[test]
    fn spm_bad_vocabularies_are_errors() {
        let mut v = spm_vocab(&[("a", -1.0)], false);
        v.scores.as_mut().unwrap().pop();
        assert!(Tokenizer::from_gguf_vocab(&v).err().unwrap().contains("scores"));
        let mut v = spm_vocab(&[("a", -1.0)], false);
        v.unk = Some(100_000);
        assert!(Tokenizer::from_gguf_vocab(&v).err().unwrap().contains("unk"));
    }
}

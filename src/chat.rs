//! Chat templates: a model's own Jinja template (GGUF `tokenizer.chat_template` or a Hugging Face
//! `tokenizer_config.json`) rendered with minijinja the way Hugging Face transformers renders it in
//! `apply_chat_template`:
//!
//! - `trim_blocks` and `lstrip_blocks` on, a single trailing newline of the template dropped,
//!   `{% break %}`/`{% continue %}` allowed, no auto-escaping;
//! - the context holds `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, and
//!   `tools`/`documents` set to none;
//! - `raise_exception(msg)` fails the rendering with `msg`; `strftime_now(fmt)` formats the
//!   current time (UTC);
//! - `tojson` is Python's `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
//!   sort_keys=False)` (not minijinja's HTML-safe one), keys in insertion order;
//! - Python's string, dict and list methods (`.strip()`, `.startswith()`, `.items()`...) through
//!   minijinja-contrib's pycompat callback;
//! - `{{ x }}` prints none, booleans, floats, lists and dicts as Python's `str()` does, and
//!   `escape` escapes as markupsafe does;
//! - transformers' `{% generation %}...{% endgeneration %}` (assistant-mask markers) render their
//!   body.
//!
//! Known gap: Python's `'%s' % x` string formatting is not supported (minijinja has no such
//! operator); templates use `~`, `+` or `|format` instead.

use crate::error::{Error, Result};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{AutoEscape, Environment, ErrorKind, Output, State};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

pub use minijinja::Value;

/// One chat message with a text content.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message { role: role.into(), content: content.into() }
    }

    /// The message as a template value: a map with "role" and "content".
    pub fn to_value(&self) -> Value {
        Value::from_pairs([("role", self.role.as_str()), ("content", self.content.as_str())])
    }
}

const NAME: &str = "chat_template";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl ChatTemplate {
    /// Compile `source`; a syntax error names its line.
    pub fn new(source: &str) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .map_err(|e| Error::Internal(format!("chat template syntax config: {e}")))?;
        env.set_syntax(syntax);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(py_formatter);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_filter("escape", html_escape);
        env.add_filter("e", html_escape);
        env.add_template_owned(NAME, rewrite_generation_tags(source)).map_err(template_error)?;
        Ok(ChatTemplate { env })
    }

    /// Render a conversation: `messages` is a sequence of maps (each with at least "role").
    pub fn render(&self, messages: Value, add_generation_prompt: bool, bos_token: &str, eos_token: &str) -> Result<String> {
        let ctx = Value::from_pairs([
            ("messages", messages),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(bos_token)),
            ("eos_token", Value::from(eos_token)),
            ("tools", Value::from(())),
            ("documents", Value::from(())),
        ]);
        let tmpl = self.env.get_template(NAME).map_err(template_error)?;
        tmpl.render(ctx).map_err(template_error)
    }

    /// The text the template writes right after an assistant message's content (for ChatML
    /// "<|im_end|>\n"): it starts with the model's end-of-turn token. None if the template
    /// does not render a plain user/assistant exchange.
    pub fn end_of_turn(&self, bos_token: &str, eos_token: &str) -> Option<String> {
        const MARK: &str = "\u{E000}lanner-end-of-turn\u{E000}";
        let msgs = Value::from(vec![Message::new("user", "Hi").to_value(), Message::new("assistant", MARK).to_value()]);
        let text = self.render(msgs, false, bos_token, eos_token).ok()?;
        let at = text.rfind(MARK)?;
        Some(text[at + MARK.len()..].to_string())
    }
}

/// `{% generation %}` and `{% endgeneration %}` (transformers' extension; minijinja has no such
/// tags) as `{% if true %}` / `{% endif %}`, whitespace-control marks kept, so the body renders as
/// transformers renders it when it is not collecting an assistant mask.
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("{%") {
        let tag = &rest[at..];
        let Some(end) = tag.find("%}") else { break };
        out.push_str(&rest[..at]);
        let inner = &tag[2..end];
        let (open, body) = match inner.strip_prefix(['-', '+']) {
            Some(b) => (&inner[..1], b),
            None => ("", inner),
        };
        let (body, close) = match body.strip_suffix(['-', '+']) {
            Some(b) => (b, &body[body.len() - 1..]),
            None => (body, ""),
        };
        let replacement = match body.trim() {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(r) => {
                let _ = write!(out, "{{%{open} {r} {close}%}}");
            }
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `x | escape` as markupsafe (Jinja2) escapes: `&<>'"` as `&amp; &lt; &gt; &#39; &#34;`.
fn html_escape(v: &Value) -> std::result::Result<Value, minijinja::Error> {
    if v.kind() == ValueKind::String && v.is_safe() {
        return Ok(v.clone());
    }
    let mut s = String::new();
    py_repr(v, true, &mut s)?;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    Ok(Value::from_safe_string(out))
}

/// A compiled template for `source`, from a small cache of the last few templates used.
pub fn compiled(source: &str) -> Result<Arc<ChatTemplate>> {
    const KEEP: usize = 8;
    type Cache = Mutex<Vec<(String, Arc<ChatTemplate>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    {
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = c.iter().position(|(s, _)| s == source) {
            let hit = c.remove(i);
            let t = hit.1.clone();
            c.insert(0, hit);
            return Ok(t);
        }
    }
    let t = Arc::new(ChatTemplate::new(source)?);
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    c.insert(0, (source.to_string(), t.clone()));
    c.truncate(KEEP);
    Ok(t)
}

/// Render `messages` with `template` as Hugging Face's `apply_chat_template(..., tokenize=False)`.
pub fn render(template: &str, messages: &[Message], add_generation_prompt: bool, bos_token: &str, eos_token: &str) -> Result<String> {
    let msgs = Value::from(messages.iter().map(Message::to_value).collect::<Vec<_>>());
    compiled(template)?.render(msgs, add_generation_prompt, bos_token, eos_token)
}

/// The message of `raise_exception`, carried as the source of the minijinja error.
#[derive(Debug)]
struct Raised(String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

fn raise_exception(msg: Value) -> std::result::Result<Value, minijinja::Error> {
    let msg = msg.as_str().map(str::to_string).unwrap_or_else(|| msg.to_string());
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg.clone()).with_source(Raised(msg)))
}

/// A minijinja error as a lanner error: the template's own `raise_exception` message as is,
/// anything else with its line.
fn template_error(e: minijinja::Error) -> Error {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<Raised>() {
            return Error::arg(format!("chat template raised an exception: {}", r.0));
        }
        src = s.source();
    }
    let what = match e.kind() {
        ErrorKind::SyntaxError => "syntax error",
        _ => "error",
    };
    let line = e.line().map(|l| format!(" on line {l}")).unwrap_or_default();
    let detail = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    Error::arg(format!("chat template {what}{line}: {detail}"))
}

// ---- strftime_now ----------------------------------------------------------------------------

fn strftime_now(fmt: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    strftime(&fmt, secs)
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// C `strftime` (the directives Python passes through on Linux) for UTC `secs` since the epoch.
fn strftime(fmt: &str, secs: i64) -> String {
    const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    const MONTHS: [&str; 12] = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
        "December",
    ];
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
    let wday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday; 0 = Monday
    let is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = cum[m as usize - 1] + d as i64 + i64::from(is_leap && m > 2);
    let h12 = if hh % 12 == 0 { 12 } else { hh % 12 };
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = chars.next();
        let no_pad = spec == Some('-');
        if no_pad {
            spec = chars.next();
        }
        let num = |v: i64, w: usize| if no_pad { v.to_string() } else { format!("{v:0w$}") };
        let piece = match spec {
            Some('a') => DAYS[wday][..3].to_string(),
            Some('A') => DAYS[wday].to_string(),
            Some('b') | Some('h') => MONTHS[m as usize - 1][..3].to_string(),
            Some('B') => MONTHS[m as usize - 1].to_string(),
            Some('d') => num(d.into(), 2),
            Some('e') => if no_pad { d.to_string() } else { format!("{d:2}") },
            Some('m') => num(m.into(), 2),
            Some('Y') => y.to_string(),
            Some('y') => num(y.rem_euclid(100), 2),
            Some('H') => num(hh, 2),
            Some('I') => num(h12, 2),
            Some('M') => num(mm, 2),
            Some('S') => num(ss, 2),
            Some('p') => (if hh < 12 { "AM" } else { "PM" }).to_string(),
            Some('j') => num(yday, 3),
            Some('F') => format!("{y}-{m:02}-{d:02}"),
            Some('T') => format!("{hh:02}:{mm:02}:{ss:02}"),
            Some('Z') => "UTC".to_string(),
            Some('z') => "+0000".to_string(),
            Some('%') => "%".to_string(),
            Some(other) => format!("%{}{other}", if no_pad { "-" } else { "" }),
            None => "%".to_string(),
        };
        out.push_str(&piece);
    }
    out
}

// ---- Python-style output: tojson and {{ x }} ------------------------------------------------

/// Python's `repr(float)`: shortest round-trip digits, exponent form outside [1e-4, 1e16).
fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let sci = format!("{x:e}"); // "1.5e-7"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

fn py_number(v: &Value) -> String {
    if v.is_integer() {
        v.to_string()
    } else {
        match f64::try_from(v.clone()) {
            Ok(f) => py_float(f),
            Err(_) => v.to_string(),
        }
    }
}

/// A JSON string literal as Python's json module writes it.
fn json_str(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", u);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

struct JsonStyle {
    ensure_ascii: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

fn json_value(v: &Value, st: &JsonStyle, level: usize, out: &mut String) -> std::result::Result<(), minijinja::Error> {
    let not_serializable =
        |what: &str| minijinja::Error::new(ErrorKind::InvalidOperation, format!("Object of type {what} is not JSON serializable"));
    let newline = |out: &mut String, level: usize| {
        if let Some(ind) = &st.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    };
    match v.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Undefined => return Err(not_serializable("Undefined")),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&py_number(v)),
        ValueKind::String => json_str(v.as_str().unwrap_or_default(), st.ensure_ascii, out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&st.item_sep);
                }
                newline(out, level + 1);
                json_value(item, st, level + 1, out)?;
            }
            newline(out, level);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if st.sort_keys {
                keys.sort();
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&st.item_sep);
                }
                newline(out, level + 1);
                match k.kind() {
                    ValueKind::String => json_str(k.as_str().unwrap_or_default(), st.ensure_ascii, out),
                    ValueKind::Number => json_str(&py_number(k), st.ensure_ascii, out),
                    ValueKind::Bool => out.push_str(if k.is_true() { "\"true\"" } else { "\"false\"" }),
                    ValueKind::None => out.push_str("\"null\""),
                    other => {
                        return Err(minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!("keys must be str, int, float, bool or None, not {other}"),
                        ))
                    }
                }
                out.push_str(&st.key_sep);
                json_value(&v.get_item(k)?, st, level + 1, out)?;
            }
            newline(out, level);
            out.push('}');
        }
        other => return Err(not_serializable(&other.to_string())),
    }
    Ok(())
}

/// `x | tojson(ensure_ascii=False, indent=None, separators=None, sort_keys=False)`: Python's
/// `json.dumps` with those arguments (positional or keyword), as transformers defines it.
fn tojson(v: &Value, args: Rest<Value>, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if args.len() > NAMES.len() {
        return Err(minijinja::Error::new(ErrorKind::TooManyArguments, "tojson takes at most 4 arguments"));
    }
    let mut vals: [Option<Value>; 4] = Default::default();
    for (i, a) in args.iter().enumerate() {
        vals[i] = Some(a.clone());
    }
    for (i, name) in NAMES.iter().enumerate() {
        if let Some(x) = kwargs.get::<Option<Value>>(name)? {
            vals[i] = Some(x);
        }
    }
    kwargs.assert_all_used()?;
    let present = |x: &Option<Value>| x.as_ref().filter(|v| !v.is_none() && !v.is_undefined()).cloned();
    let ensure_ascii = present(&vals[0]).map(|v| v.is_true()).unwrap_or(false);
    let sort_keys = present(&vals[3]).map(|v| v.is_true()).unwrap_or(false);
    let indent = match present(&vals[1]) {
        None => None,
        Some(x) if x.kind() == ValueKind::String => Some(x.as_str().unwrap_or_default().to_string()),
        Some(x) => {
            let n = i64::try_from(x.clone())
                .map_err(|_| minijinja::Error::new(ErrorKind::InvalidOperation, "tojson: indent must be an int or a str"))?;
            Some(" ".repeat(n.max(0) as usize))
        }
    };
    let (item_sep, key_sep) = match present(&vals[2]) {
        Some(seps) => {
            let parts: Vec<Value> = seps.try_iter()?.collect();
            match parts.as_slice() {
                [a, b] if a.as_str().is_some() && b.as_str().is_some() => {
                    (a.as_str().unwrap_or_default().to_string(), b.as_str().unwrap_or_default().to_string())
                }
                _ => {
                    return Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        "tojson: separators must be a pair of strings",
                    ))
                }
            }
        }
        None if indent.is_some() => (",".to_string(), ": ".to_string()),
        None => (", ".to_string(), ": ".to_string()),
    };
    let st = JsonStyle { ensure_ascii, indent, item_sep, key_sep, sort_keys };
    let mut out = String::new();
    json_value(v, &st, 0, &mut out)?;
    Ok(Value::from(out))
}

/// Python's `repr(str)`.
fn py_repr_str(s: &str, out: &mut String) {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let u = c as u32;
                let _ = if u <= 0xff { write!(out, "\\x{u:02x}") } else { write!(out, "\\u{u:04x}") };
            }
            c => out.push(c),
        }
    }
    out.push(q);
}

/// Python's `repr(x)` (`top`: `str(x)`, which differs only for strings).
fn py_repr(v: &Value, top: bool, out: &mut String) -> std::result::Result<(), minijinja::Error> {
    match v.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&py_number(v)),
        ValueKind::String if top => out.push_str(v.as_str().unwrap_or_default()),
        ValueKind::String => py_repr_str(v.as_str().unwrap_or_default(), out),
        ValueKind::Seq => {
            let tuple = v.is_tuple();
            out.push(if tuple { '(' } else { '[' });
            let items: Vec<Value> = v.try_iter()?.collect();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(item, false, out)?;
            }
            if tuple && items.len() == 1 {
                out.push(',');
            }
            out.push(if tuple { ')' } else { ']' });
        }
        ValueKind::Map => {
            out.push('{');
            for (i, k) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(&k, false, out)?;
                out.push_str(": ");
                py_repr(&v.get_item(&k)?, false, out)?;
            }
            out.push('}');
        }
        _ => out.push_str(&v.to_string()),
    }
    Ok(())
}

/// `{{ x }}` as Jinja2 prints it: `str(x)` in Python.
fn py_formatter(out: &mut Output, state: &mut State, value: &Value) -> std::result::Result<(), minijinja::Error> {
    match value.kind() {
        ValueKind::None | ValueKind::Bool | ValueKind::Number | ValueKind::Seq | ValueKind::Map => {
            let mut s = String::new();
            py_repr(value, true, &mut s)?;
            out.write_str(&s).map_err(|e| minijinja::Error::new(ErrorKind::WriteFailure, e.to_string()))
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    fn msgs() -> Vec<Message> {
        vec![Message::new("system", "Be brief."), Message::new("user", "Hi"), Message::new("assistant", "Hello!")]
    }

    fn one(tmpl: &str) -> String {
        render(tmpl, &msgs(), true, "<s>", "</s>").unwrap()
    }

    #[test]
    fn chat_chatml_renders_with_generation_prompt() {
        let t = render(CHATML, &msgs()[..2], true, "", "").unwrap();
        assert_eq!(t, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        let t = render(CHATML, &msgs()[..2], false, "", "").unwrap();
        assert!(t.ends_with("Hi<|im_end|>\n"));
    }

    #[test]
    fn chat_trim_and_lstrip_blocks() {
        // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it;
        // the template's single trailing newline goes.
        let tmpl = "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}\n";
        assert_eq!(one(tmpl), "[Hi]\n");
        // a variable tag keeps its newline
        assert_eq!(one("{{ bos_token }}\nx"), "<s>\nx");
    }

    #[test]
    fn chat_raise_exception_message() {
        let tmpl = "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}";
        let e = render(tmpl, &msgs(), true, "", "").unwrap_err();
        assert_eq!(e, Error::arg("chat template raised an exception: System role not supported"));
    }

    #[test]
    fn chat_errors_name_the_line() {
        let e = render("line one\n{% if %}", &msgs(), true, "", "").unwrap_err().to_string();
        assert!(e.contains("syntax error on line 2"), "{e}");
        let e = render("a\nb\n{{ messages[0].nope.deeper }}", &msgs(), true, "", "").unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn chat_tojson_like_python() {
        let r = |t: &str| one(t);
        assert_eq!(r("{{ messages[0] | tojson }}"), r#"{"role": "system", "content": "Be brief."}"#);
        assert_eq!(r("{{ {'a': [1, 2.5, none, true], 'é': '<x>'} | tojson }}"), r#"{"a": [1, 2.5, null, true], "é": "<x>"}"#);
        assert_eq!(r("{{ 'é\n\"' | tojson(ensure_ascii=true) }}"), r#""\u00e9\n\"""#);
        assert_eq!(r("{{ {'a': [1, 2], 'b': {}} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}");
        assert_eq!(r("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true, separators=(',', ':')) }}"), r#"{"a":2,"b":1}"#);
        assert_eq!(r("{{ [1e20, 1.5e-7, 0.1, 3.0] | tojson }}"), "[1e+20, 1.5e-07, 0.1, 3.0]");
    }

    #[test]
    fn chat_python_methods_and_output() {
        assert_eq!(one("{{ '  a b '.strip().upper() }}|{{ 'x,y'.split(',') }}|{{ 'hi'.startswith('h') }}"), "A B|['x', 'y']|True");
        assert_eq!(one("{{ 'hello world'.title() }}{{ none }}{{ false }}"), "Hello WorldNoneFalse");
        assert_eq!(one("{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}"), "a=1");
        assert_eq!(one("{% for m in messages %}{% if loop.index0 == 1 %}{% break %}{% endif %}{{ m.role }}{% endfor %}"), "system");
        assert_eq!(one("{{ tools is none }}{{ documents is none }}"), "TrueTrue");
    }

    #[test]
    fn chat_generation_tags_and_escape() {
        let t = "{% for m in messages %}{%- generation -%}\n[{{ m.role }}]\n{%- endgeneration %}{% endfor %}";
        assert_eq!(rewrite_generation_tags(t), "{% for m in messages %}{%- if true -%}\n[{{ m.role }}]\n{%- endif %}{% endfor %}");
        assert_eq!(one(t), "[system][user][assistant]");
        assert_eq!(one("{{ '<a href=\"x\">&\\'' | e }}"), "&lt;a href=&#34;x&#34;&gt;&amp;&#39;");
        assert_eq!(rewrite_generation_tags("{% if x %}{{ '{%' }}"), "{% if x %}{{ '{%' }}");
    }

    #[test]
    fn chat_strftime() {
        // 2024-07-26 13:05:09 UTC, a Friday
        let t = 1_721_999_109;
        assert_eq!(strftime("%d %b %Y", t), "26 Jul 2024");
        assert_eq!(strftime("%A %B %-d, %H:%M:%S %p %j %y %%", t), "Friday July 26, 13:05:09 PM 208 24 %");
        assert_eq!(strftime("%Y-%m-%d", 0), "1970-01-01");
        assert!(!one("{{ strftime_now('%Y') }}").is_empty());
    }

    #[test]
    fn chat_end_of_turn() {
        let t = compiled(CHATML).unwrap();
        assert_eq!(t.end_of_turn("", "").as_deref(), Some("<|im_end|>\n"));
    }
}

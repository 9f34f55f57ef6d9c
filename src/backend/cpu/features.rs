//! CPU feature detection, once, in coarse tiers. `LANNER_CPU` caps the tier.
//!
//! The kernels that use these tiers arrive with the assembly issue; until then every op runs the
//! portable Rust code and the tier is reported so users can see what the machine offers.

use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Scalar,
    Avx2,
    Avx512,
    Avx512Vnni,
    Neon,
    NeonDotprod,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Scalar => "scalar",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
            Tier::Avx512Vnni => "avx512vnni",
            Tier::Neon => "neon",
            Tier::NeonDotprod => "neon-dotprod",
        }
    }
    fn parse(s: &str) -> Option<Tier> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "scalar" | "none" => Tier::Scalar,
            "avx2" => Tier::Avx2,
            "avx512" => Tier::Avx512,
            "avx512vnni" | "vnni" => Tier::Avx512Vnni,
            "neon" => Tier::Neon,
            "neon-dotprod" | "dotprod" => Tier::NeonDotprod,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct CpuInfo {
    /// Features the CPU and OS support (std's detection checks XCR0 for the wide registers).
    pub features: Vec<&'static str>,
    /// Best tier the machine supports.
    pub detected: Tier,
    /// Tier in use after applying `LANNER_CPU`.
    pub tier: Tier,
}

fn detect() -> CpuInfo {
    let mut features = Vec::new();
    #[allow(unused_mut)]
    let mut detected = Tier::Scalar;
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! f {
            ($($name:tt),*) => {$( if std::arch::is_x86_feature_detected!($name) { features.push($name); } )*};
        }
        f!("sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16");
        let has = |n: &str| features.contains(&n);
        // F16C (vcvtph2ps) comes with every AVX2 CPU; the AVX2 kernels convert f16 scales with it
        if has("avx2") && has("fma") && has("f16c") {
            detected = Tier::Avx2;
        }
        if detected == Tier::Avx2 && has("avx512f") && has("avx512bw") && has("avx512vl") {
            detected = Tier::Avx512;
            if has("avx512vnni") {
                detected = Tier::Avx512Vnni;
            }
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            features.push("neon");
            detected = Tier::Neon;
        }
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            features.push("dotprod");
            detected = Tier::NeonDotprod;
        }
    }
    let tier = match std::env::var("LANNER_CPU").ok().as_deref().and_then(Tier::parse) {
        Some(cap) if cap < detected => cap,
        Some(_) | None => detected,
    };
    if let Ok(v) = std::env::var("LANNER_CPU") {
        if Tier::parse(&v).is_none() {
            log::warn!("LANNER_CPU={v:?} is not a known tier; using {}", tier.name());
        }
    }
    CpuInfo { features, detected, tier }
}

pub fn cpu_info() -> &'static CpuInfo {
    static INFO: OnceLock<CpuInfo> = OnceLock::new();
    INFO.get_or_init(detect)
}

/// The threads this process may use: affinity mask and cgroup quota (std reads both), not the
/// host's core count.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

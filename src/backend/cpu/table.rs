//! The kernel table: one function pointer per operation, filled in tiers. Every entry starts as
//! the scalar Rust reference; each ISA tier the CPU has (and `LANNER_CPU` allows) overwrites the
//! entries it implements. The hot loops only ever call through the table.

use super::features::{cpu_info, Tier};
use super::reference;
use std::sync::OnceLock;

#[derive(Clone, Copy)]
pub struct Kernels {
    pub tier: Tier,
    /// sum(a[i] * b[i]); a.len() == b.len().
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    pub dot_f32_name: &'static str,
    /// Fused dot of one quantized weight row with f32 activations, per weight type (index =
    /// position in `quant::ALL_TYPES`). `None`: the backend dequantizes the row (scalar
    /// reference) and calls `dot_f32` — the reference composition every entry starts from.
    pub dot_row_f32: [Option<(fn(&[u8], &[f32]) -> f32, &'static str)>; 15],
    /// GEMM microkernel (see `reference::gemm_f32_4x4`); `gemm_k_multiple` is the k granularity
    /// it needs (the framework uses plain dots when k is not a multiple).
    pub gemm_f32_4x4: GemmKernel,
    pub gemm_k_multiple: usize,
    pub gemm_name: &'static str,
}

pub type GemmKernel = fn(&[f32], usize, &[f32], usize, usize, &mut [f32], usize);

impl Kernels {
    pub fn dot_row(&self, t: crate::quant::GgmlType) -> Option<fn(&[u8], &[f32]) -> f32> {
        self.dot_row_f32[type_index(t)].map(|(f, _)| f)
    }
}

pub fn type_index(t: crate::quant::GgmlType) -> usize {
    crate::quant::ALL_TYPES.iter().position(|&x| x == t).unwrap()
}

impl Kernels {
    /// The table for `tier` (which must not exceed what the CPU supports).
    pub fn for_tier(tier: Tier) -> Kernels {
        let mut k = Kernels {
            tier,
            dot_f32: reference::dot_f32,
            dot_f32_name: "dot_f32_scalar",
            dot_row_f32: [None; 15],
            gemm_f32_4x4: reference::gemm_f32_4x4,
            gemm_k_multiple: 1,
            gemm_name: "gemm_f32_4x4_scalar",
        };
        #[cfg(all(lanner_asm, target_arch = "x86_64"))]
        x86::fill(&mut k, tier);
        #[cfg(all(lanner_asm, target_arch = "aarch64"))]
        arm::fill(&mut k, tier);
        k
    }
}

/// The table in use: the detected tier, capped by `LANNER_CPU`.
pub fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(|| {
        let k = Kernels::for_tier(cpu_info().tier);
        log::debug!("cpu kernels: tier {}, dot_f32 = {}", k.tier.name(), k.dot_f32_name);
        k
    })
}

/// The kernels in use, in words (for `Engine.info` and `cpu_info()`): the tier alone does not say
/// which operations have assembly behind them yet.
pub fn kernels_summary() -> String {
    let k = kernels();
    let rows: Vec<&str> = k.dot_row_f32.iter().flatten().map(|(_, n)| *n).collect();
    format!(
        "{}; {}; fused row x f32: {}; everything else: scalar Rust references",
        k.dot_f32_name,
        k.gemm_name,
        if rows.is_empty() { "none".to_string() } else { rows.join(", ") }
    )
}

/// Every tier this machine can run, lowest first (for the checkasm harness and benchmarks).
pub fn available_tiers() -> Vec<Tier> {
    let top = cpu_info().detected;
    [Tier::Scalar, Tier::Avx2, Tier::Avx512, Tier::Avx512Vnni, Tier::Neon, Tier::NeonDotprod]
        .into_iter()
        .filter(|&t| t <= top && same_family(t, top))
        .collect()
}

fn same_family(t: Tier, top: Tier) -> bool {
    let arm = |x: Tier| matches!(x, Tier::Neon | Tier::NeonDotprod);
    t == Tier::Scalar || arm(t) == arm(top)
}

#[cfg(all(lanner_asm, target_arch = "x86_64"))]
mod x86 {
    use super::{Kernels, Tier};

    use super::type_index;
    use crate::quant::GgmlType;

    extern "C" {
        fn lanner_dot_f32_avx2(a: *const f32, b: *const f32, n: usize) -> f32;
        fn lanner_dot_f32_avx512(a: *const f32, b: *const f32, n: usize) -> f32;
        fn lanner_dot_q8_0_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q4_1_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q4_0_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q5_0_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q6_k_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_gemm_f32_4x4_avx512(w: *const f32, ldw: usize, x: *const f32, ldx: usize, k: usize, c: *mut f32, ldc: usize);
        fn lanner_gemm_f32_4x4_avx2(w: *const f32, ldw: usize, x: *const f32, ldx: usize, k: usize, c: *mut f32, ldc: usize);
    }

    fn gemm_f32_4x4_avx2(w: &[f32], ldw: usize, x: &[f32], ldx: usize, k: usize, c: &mut [f32], ldc: usize) {
        assert!(k % 8 == 0 && k <= ldw && k <= ldx && 4 <= ldc, "gemm 4x4: bad shape");
        assert!(w.len() >= 3 * ldw + k && x.len() >= 3 * ldx + k && c.len() >= 3 * ldc + 4, "gemm 4x4: short buffers");
        // SAFETY: bounds checked above; the tier (AVX2 + FMA) was checked when the table was filled.
        unsafe { lanner_gemm_f32_4x4_avx2(w.as_ptr(), ldw, x.as_ptr(), ldx, k, c.as_mut_ptr(), ldc) }
    }

    fn gemm_f32_4x4_avx512(w: &[f32], ldw: usize, x: &[f32], ldx: usize, k: usize, c: &mut [f32], ldc: usize) {
        assert!(k % 16 == 0 && k <= ldw && k <= ldx && 4 <= ldc, "gemm 4x4: bad shape");
        assert!(w.len() >= 3 * ldw + k && x.len() >= 3 * ldx + k && c.len() >= 3 * ldc + 4, "gemm 4x4: short buffers");
        // SAFETY: bounds checked above; the tier was checked when the table was filled.
        unsafe { lanner_gemm_f32_4x4_avx512(w.as_ptr(), ldw, x.as_ptr(), ldx, k, c.as_mut_ptr(), ldc) }
    }

    /// Wrap a fused row kernel: checks the lengths (the asm trusts them) once per row.
    macro_rules! row_kernel {
        ($name:ident, $asm:ident, $elems:expr, $bytes:expr) => {
            fn $name(w: &[u8], x: &[f32]) -> f32 {
                let nb = x.len() / $elems;
                assert!(x.len() % $elems == 0 && w.len() == nb * $bytes, "row kernel: length mismatch");
                // SAFETY: tier checked when the table was filled; exactly nb blocks are read.
                unsafe { $asm(w.as_ptr(), x.as_ptr(), nb) }
            }
        };
    }
    row_kernel!(dot_q8_0_f32_avx512, lanner_dot_q8_0_f32_avx512, 32, 34);
    row_kernel!(dot_q4_1_f32_avx512, lanner_dot_q4_1_f32_avx512, 32, 20);
    row_kernel!(dot_q4_0_f32_avx512, lanner_dot_q4_0_f32_avx512, 32, 18);
    row_kernel!(dot_q5_0_f32_avx512, lanner_dot_q5_0_f32_avx512, 32, 22);
    row_kernel!(dot_q6_k_f32_avx512, lanner_dot_q6_k_f32_avx512, 256, 210);

    fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: the table only holds this entry when the CPU and OS support AVX2 + FMA; the
        // kernel reads exactly n floats from each pointer.
        unsafe { lanner_dot_f32_avx2(a.as_ptr(), b.as_ptr(), n) }
    }

    fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: as above, for AVX-512F (masked loads never read past n).
        unsafe { lanner_dot_f32_avx512(a.as_ptr(), b.as_ptr(), n) }
    }

    pub fn fill(k: &mut Kernels, tier: Tier) {
        if tier < Tier::Avx2 || tier > Tier::Avx512Vnni {
            return;
        }
        k.dot_f32 = dot_f32_avx2;
        k.dot_f32_name = "dot_f32_avx2";
        k.gemm_f32_4x4 = gemm_f32_4x4_avx2;
        k.gemm_k_multiple = 8;
        k.gemm_name = "gemm_f32_4x4_avx2";
        if tier < Tier::Avx512 {
            return;
        }
        k.dot_f32 = dot_f32_avx512;
        k.dot_f32_name = "dot_f32_avx512";
        k.dot_row_f32[type_index(GgmlType::Q8_0)] = Some((dot_q8_0_f32_avx512, "dot_q8_0_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::Q4_1)] = Some((dot_q4_1_f32_avx512, "dot_q4_1_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::Q4_0)] = Some((dot_q4_0_f32_avx512, "dot_q4_0_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::Q5_0)] = Some((dot_q5_0_f32_avx512, "dot_q5_0_f32_avx512"));
        k.dot_row_f32[type_index(GgmlType::Q6_K)] = Some((dot_q6_k_f32_avx512, "dot_q6_k_f32_avx512"));
        k.gemm_f32_4x4 = gemm_f32_4x4_avx512;
        k.gemm_k_multiple = 16;
        k.gemm_name = "gemm_f32_4x4_avx512";
    }
}

/// AArch64 (NEON, NEON + dotprod) kernels from `asm/aarch64/`. No aarch64 Rust toolchain runs in
/// CI, so these kernels are also checked under qemu by a C harness (`tests/aarch64/run.sh`).
#[cfg(all(lanner_asm, target_arch = "aarch64"))]
mod arm {
    use super::{Kernels, Tier};

    use super::type_index;
    use crate::quant::GgmlType;

    extern "C" {
        fn lanner_dot_f32_neon(a: *const f32, b: *const f32, n: usize) -> f32;
        fn lanner_dot_q8_0_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q4_0_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_dot_q4_1_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
        fn lanner_gemm_f32_4x4_neon(w: *const f32, ldw: usize, x: *const f32, ldx: usize, k: usize, c: *mut f32, ldc: usize);
    }

    fn gemm_f32_4x4_neon(w: &[f32], ldw: usize, x: &[f32], ldx: usize, k: usize, c: &mut [f32], ldc: usize) {
        assert!(k % 4 == 0 && k <= ldw && k <= ldx && 4 <= ldc, "gemm 4x4: bad shape");
        assert!(w.len() >= 3 * ldw + k && x.len() >= 3 * ldx + k && c.len() >= 3 * ldc + 4, "gemm 4x4: short buffers");
        // SAFETY: bounds checked above; NEON is part of every tier this entry is filled at.
        unsafe { lanner_gemm_f32_4x4_neon(w.as_ptr(), ldw, x.as_ptr(), ldx, k, c.as_mut_ptr(), ldc) }
    }

    /// Wrap a fused row kernel: checks the lengths (the asm trusts them) once per row.
    macro_rules! row_kernel {
        ($name:ident, $asm:ident, $elems:expr, $bytes:expr) => {
            fn $name(w: &[u8], x: &[f32]) -> f32 {
                let nb = x.len() / $elems;
                assert!(x.len() % $elems == 0 && w.len() == nb * $bytes, "row kernel: length mismatch");
                // SAFETY: tier checked when the table was filled; exactly nb blocks are read.
                unsafe { $asm(w.as_ptr(), x.as_ptr(), nb) }
            }
        };
    }
    row_kernel!(dot_q8_0_f32_neon, lanner_dot_q8_0_f32_neon, 32, 34);
    row_kernel!(dot_q4_0_f32_neon, lanner_dot_q4_0_f32_neon, 32, 18);
    row_kernel!(dot_q4_1_f32_neon, lanner_dot_q4_1_f32_neon, 32, 20);

    fn dot_f32_neon(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: the table only holds this entry at the NEON tiers; the kernel reads exactly n
        // floats from each pointer.
        unsafe { lanner_dot_f32_neon(a.as_ptr(), b.as_ptr(), n) }
    }

    pub fn fill(k: &mut Kernels, tier: Tier) {
        if tier < Tier::Neon {
            return;
        }
        k.dot_f32 = dot_f32_neon;
        k.dot_f32_name = "dot_f32_neon";
        k.dot_row_f32[type_index(GgmlType::Q8_0)] = Some((dot_q8_0_f32_neon, "dot_q8_0_f32_neon"));
        k.dot_row_f32[type_index(GgmlType::Q4_0)] = Some((dot_q4_0_f32_neon, "dot_q4_0_f32_neon"));
        k.dot_row_f32[type_index(GgmlType::Q4_1)] = Some((dot_q4_1_f32_neon, "dot_q4_1_f32_neon"));
        k.gemm_f32_4x4 = gemm_f32_4x4_neon;
        k.gemm_k_multiple = 4;
        k.gemm_name = "gemm_f32_4x4_neon";
        // Tier::NeonDotprod: the table has no entry with int8 activations yet, so the f32 kernels
        // above serve it too; lanner_dot_q8_0_q8_0_dotprod (asm/aarch64/dot_q8_dotprod.S) waits
        // for one.
    }
}

#[cfg(test)]
mod checkasm {
    //! checkasm-style harness: every kernel of every tier this machine has, against the scalar
    //! reference, on seeded random inputs with odd lengths and unaligned starts.

    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn f32(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
    }

    /// `CHECKASM_SEED` replays a failing run; otherwise each test's fixed default.
    fn seed_or(default: u64) -> u64 {
        std::env::var("CHECKASM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
    }

    const LENGTHS: &[usize] = &[0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 576, 1023, 1025, 4864];

    #[test]
    fn dot_f32_every_tier() {
        let seed = seed_or(0x5EED_u64);
        let mut rng = Rng(seed | 1);
        let tiers = available_tiers();
        for &tier in &tiers {
            let k = Kernels::for_tier(tier);
            for &n in LENGTHS {
                for off in [0usize, 1, 3] {
                    // unaligned starts: slices begin `off` floats into the buffers
                    let a: Vec<f32> = (0..n + off).map(|_| rng.f32()).collect();
                    let b: Vec<f32> = (0..n + off).map(|_| rng.f32()).collect();
                    let (a, b) = (&a[off..], &b[off..]);
                    let want = reference::dot_f32(a, b);
                    let got = (k.dot_f32)(a, b);
                    let mag: f32 = a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum();
                    let tol = 1e-6 * mag + 1e-30;
                    assert!(
                        (want - got).abs() <= tol,
                        "{} (tier {}) n={n} off={off}: {got} vs reference {want} (seed {seed:#x})",
                        k.dot_f32_name,
                        tier.name()
                    );
                }
            }
        }
        eprintln!("checkasm dot_f32: tiers {:?}", tiers.iter().map(|t| t.name()).collect::<Vec<_>>());
    }

    #[test]
    fn dot_row_f32_every_tier_and_type() {
        use crate::quant::{self, GgmlType, ALL_TYPES};
        let seed = seed_or(0xB10C_u64);
        let mut rng = Rng(seed | 1);
        let mut checked = 0;
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for t in ALL_TYPES {
                let Some((f, name)) = k.dot_row_f32[type_index(t)] else { continue };
                for nb in [1usize, 2, 3, 7, 18, 48] {
                    let n = nb * t.block_size();
                    for off in [0usize, 1, 3] {
                        let src: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
                        // weights at an unaligned byte offset, guard bytes around them
                        let rb = t.row_bytes(n).unwrap();
                        let mut buf = vec![0xA5u8; rb + off + 16];
                        quant::quantize_row(t, &src, &mut buf[off..off + rb]);
                        let xs: Vec<f32> = (0..n + off).map(|_| rng.f32()).collect();
                        let (w, x) = (&buf[off..off + rb], &xs[off..]);
                        let want = quant::dot_f32(t, w, x);
                        let got = f(w, x);
                        let mut deq = vec![0f32; n];
                        quant::dequantize_row(t, w, &mut deq);
                        let mag: f32 = deq.iter().zip(x).map(|(a, b)| (a * b).abs()).sum();
                        assert!(
                            (want - got).abs() <= 2e-6 * mag + 1e-30,
                            "{name} (tier {}) {} blocks off={off}: {got} vs reference {want} (seed {seed:#x})",
                            tier.name(),
                            nb
                        );
                        assert!(buf[..off].iter().chain(&buf[off + rb..]).all(|&b| b == 0xA5), "guard bytes changed");
                        checked += 1;
                    }
                }
                let _ = GgmlType::F32;
            }
        }
        eprintln!("checkasm dot_row_f32: {checked} cases");
    }

    #[test]
    fn gemm_f32_4x4_every_tier() {
        let seed = seed_or(0x6E44_u64);
        let mut rng = Rng(seed | 1);
        let mut checked = 0;
        for &tier in &available_tiers() {
            let k = Kernels::for_tier(tier);
            for kk in [0usize, 8, 16, 24, 32, 48, 576, 896, 4864] {
                if kk % k.gemm_k_multiple != 0 {
                    continue;
                }
                for (pad_w, pad_x, pad_c) in [(0usize, 0usize, 0usize), (3, 5, 7), (16, 1, 2)] {
                    let (ldw, ldx, ldc) = (kk + pad_w, kk + pad_x, 4 + pad_c);
                    let w: Vec<f32> = (0..4 * ldw + 1).map(|_| rng.f32()).collect();
                    let x: Vec<f32> = (0..4 * ldx + 1).map(|_| rng.f32()).collect();
                    // unaligned starts (+1 float) and guard values around every row of C
                    let (w, x) = (&w[1..], &x[1..]);
                    let mut c = vec![f32::NAN; 4 * ldc + 8];
                    let mut want = c.clone();
                    (k.gemm_f32_4x4)(w, ldw, x, ldx, kk, &mut c[1..], ldc);
                    reference::gemm_f32_4x4(w, ldw, x, ldx, kk, &mut want[1..], ldc);
                    for (i, (&g, &e)) in c.iter().zip(&want).enumerate() {
                        let written = i >= 1 && (i - 1) % ldc < 4 && (i - 1) / ldc < 4;
                        if !written {
                            assert!(g.is_nan(), "{} wrote outside its tile at {i} (seed {seed:#x})", k.gemm_name);
                            continue;
                        }
                        let (t, r) = ((i - 1) / ldc, (i - 1) % ldc);
                        let mag: f32 = (0..kk).map(|j| (w[r * ldw + j] * x[t * ldx + j]).abs()).sum();
                        assert!(
                            (g - e).abs() <= 1e-6 * mag + 1e-30,
                            "{} (tier {}) k={kk} t={t} r={r}: {g} vs reference {e} (seed {seed:#x})",
                            k.gemm_name,
                            tier.name()
                        );
                    }
                    checked += 1;
                }
            }
        }
        eprintln!("checkasm gemm_f32_4x4: {checked} cases");
    }
}

// Build script: assembles the handwritten kernels in asm/ for the target architecture with the
// system C compiler (through the `cc` crate). Which kernels run is decided at run time from the
// CPU's features (src/backend/cpu/table.rs); building them never requires the CPU to have them.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    cuda_kernels();
    println!("cargo:rerun-if-changed=asm");
    println!("cargo::rustc-check-cfg=cfg(lanner_asm)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // The .S files use ELF directives (System V ABI); other targets use the Rust references.
    let dir = match (arch.as_str(), os.as_str()) {
        ("x86_64", "linux") => "asm/x86_64",
        ("aarch64", "linux") => "asm/aarch64", // AAPCS64; checked under qemu by tests/aarch64/run.sh
        _ => return,
    };
    let mut files: Vec<_> = std::fs::read_dir(Path::new(dir))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "S")).collect())
        .unwrap_or_default();
    files.sort();
    if files.is_empty() {
        return;
    }
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    cc::Build::new().files(&files).compile("lanner_asm");
    println!("cargo:rustc-cfg=lanner_asm");
}

/// CUDA kernels (cuda/*.cu): each file's source (with cuda/common.cuh pasted in place of its
/// include, so NVRTC can compile it alone at run time) and, when `nvcc` is found here, its PTX for
/// compute_80 (run by any newer GPU through the driver's JIT). Written to
/// `$OUT_DIR/cuda_kernels.rs` as `KERNELS: &[(name, source, Option<ptx>)]`.
fn cuda_kernels() {
    println!("cargo:rerun-if-changed=cuda");
    println!("cargo:rerun-if-env-changed=NVCC");
    println!("cargo:rerun-if-env-changed=LANNER_NO_NVCC");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let common = std::fs::read_to_string("cuda/common.cuh").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir("cuda")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "cu")).collect())
        .unwrap_or_default();
    files.sort();
    let nvcc = find_nvcc();
    let mut table = String::from("pub const KERNELS: &[(&str, &str, Option<&str>)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let src = std::fs::read_to_string(f).unwrap().replace("#include \"common.cuh\"", &common);
        let src_path = out.join(format!("{name}.cu"));
        std::fs::write(&src_path, &src).unwrap();
        let mut ptx = "None".to_string();
        if let Some(nvcc) = &nvcc {
            let ptx_path = out.join(format!("{name}.ptx"));
            let st = std::process::Command::new(nvcc)
                .args(["-arch=compute_80", "--ptx", "-O3", "-o"])
                .arg(&ptx_path)
                .arg(&src_path)
                .status();
            match st {
                Ok(s) if s.success() => {
                    lower_ptx_version(&ptx_path);
                    ptx = format!("Some(include_str!({:?}))", ptx_path.display().to_string())
                }
                other => println!("cargo:warning=nvcc failed on {}: {other:?}; NVRTC will compile it at run time", f.display()),
            }
        }
        table += &format!("    ({name:?}, include_str!({:?}), {ptx}),\n", src_path.display().to_string());
    }
    table += "];\n";
    table += &format!("pub const COMPILED_BY: &str = {:?};\n", if nvcc.is_some() { "nvcc at build time (PTX for compute_80)" } else { "NVRTC at first use" });
    std::fs::write(out.join("cuda_kernels.rs"), table).unwrap();
}

/// `$NVCC`, `nvcc` on the PATH, CUDA's usual home, or the one `pip install nvidia-cuda-nvcc-cu12`
/// puts beside Python. `LANNER_NO_NVCC=1` skips it (to test the NVRTC path).
fn find_nvcc() -> Option<PathBuf> {
    if std::env::var_os("LANNER_NO_NVCC").is_some_and(|v| v == "1") {
        return None;
    }
    let works = |p: &Path| std::process::Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success());
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("NVCC") {
        cands.push(p.into());
    }
    cands.push("nvcc".into());
    cands.push("/usr/local/cuda/bin/nvcc".into());
    // pip's nvidia-cuda-nvcc (CUDA 13) puts nvcc in site-packages/nvidia/cu13/bin
    for py in ["python3", "python"] {
        let o = std::process::Command::new(py).args(["-c", "import nvidia; print(list(nvidia.__path__)[0])"]).output();
        if let Ok(o) = o {
            if o.status.success() {
                let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
                for sub in ["cuda_nvcc/bin/nvcc", "cu13/bin/nvcc", "cu12/bin/nvcc"] {
                    cands.push(dir.join(sub));
                }
                break;
            }
        }
    }
    cands.into_iter().find(|p| works(p))
}

/// A newer nvcc stamps its own PTX ISA version (CUDA 13.5: 9.5), which older drivers refuse
/// although these kernels use nothing newer than PTX 8.0 (CUDA 12.0): stamp 8.0, so any CUDA 12+
/// driver JIT-compiles them (checked with ptxas 12.9 for sm_90). A driver that still refuses makes
/// the loader fall back to NVRTC.
fn lower_ptx_version(path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else { return };
    let lowered: Vec<String> = text
        .lines()
        .map(|l| match l.strip_prefix(".version ").and_then(|v| v.trim().parse::<f32>().ok()) {
            Some(v) if v > 8.0 => ".version 8.0".to_string(),
            _ => l.to_string(),
        })
        .collect();
    let _ = std::fs::write(path, lowered.join("\n") + "\n");
}

// Build script: assembles the handwritten kernels in asm/ for the target architecture with the
// system C compiler (through the `cc` crate). Which kernels run is decided at run time from the
// CPU's features (src/backend/cpu/table.rs); building them never requires the CPU to have them.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
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

// Build script. The handwritten assembly in asm/ (a later issue) is assembled here with the `cc`
// crate; today there is nothing to build besides the Rust crate itself.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}

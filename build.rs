//! Rebuild when `profiles/` changes: the binary embeds it (src/package/mod.rs).
fn main() {
    println!("cargo:rerun-if-changed=profiles");
}

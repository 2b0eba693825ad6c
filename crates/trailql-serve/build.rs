//! The front-end in `web/dist` is compiled into the binary (`include_dir`): rebuild when it
//! changes, not only when a Rust file does.
fn main() {
    println!("cargo:rerun-if-changed=web/dist");
}

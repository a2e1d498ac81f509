//! Link settings for the wasm module.
//!
//! rustc gives a wasm32 module a 1 MiB stack, and the stack is part of the linear memory
//! every page that loads the tracker pays for (wasm memory never shrinks): 94 % of the
//! module's memory before its first event. Nothing here recurses without a bound (the JSON
//! reader stops at depth 64, and the browser tests send events nested to that depth), so
//! 128 KiB is ample.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=131072");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

//! Builds the front-end assets in `web/` (npm + esbuild) into OUT_DIR, where `src/assets.rs`
//! embeds them: the binary carries its assets, and a fresh clone needs no separate build step.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let web =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo")).join("../../web");
    for input in ["src", "build.mjs", "package.json", "package-lock.json"] {
        println!("cargo::rerun-if-changed={}", web.join(input).display());
    }
    if dependencies_outdated(&web) {
        run(&web, "npm", &["ci", "--no-audit", "--no-fund"]);
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("web");
    run(
        &web,
        "node",
        &["build.mjs", out.to_str().expect("a UTF-8 OUT_DIR")],
    );
}

/// `npm ci` is needed when node_modules is missing or older than the lock file.
fn dependencies_outdated(web: &Path) -> bool {
    let modified = |path: PathBuf| fs::metadata(path).and_then(|m| m.modified()).ok();
    match (
        modified(web.join("package-lock.json")),
        modified(web.join("node_modules/.package-lock.json")),
    ) {
        (Some(lock), Some(installed)) => lock > installed,
        _ => true,
    }
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).current_dir(dir).status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("`{program} {}` in web/ failed ({status})", args.join(" ")),
        Err(err) => panic!(
            "cannot run `{program}` ({err}): building Aura's web assets needs Node.js and npm \
             (Debian/Ubuntu: apt-get install nodejs npm)"
        ),
    }
}

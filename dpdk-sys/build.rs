//! Finds the system's DPDK with pkg-config, compiles the C shim with DPDK's own
//! cflags, and generates Rust bindings for a narrow allowlist of DPDK calls.
//!
//! It must never fall back silently: without DPDK >= 22.11 (Debian 12's
//! `libdpdk-dev`) or without libclang (bindgen's parser), the build fails saying
//! which package to install.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The oldest DPDK this crate is written against: the 22.11 LTS (ABI 23).
const MIN_VERSION: &str = "22.11";

/// Every DPDK function Rust calls directly. Static inline functions are not here:
/// they have no symbol, and go through the shim (`ticklab_*`) instead.
const FUNCTIONS: &[&str] = &[
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_strerror",
    "rte_thread_register",
    "rte_thread_unregister",
    "rte_eth_dev_count_avail",
    "rte_eth_find_next",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_dev_socket_id",
    "rte_eth_dev_info_get",
    "rte_eth_dev_configure",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_macaddr_get",
    "rte_eth_stats_get",
    "rte_eth_read_clock",
    "rte_eth_timesync_enable",
    "rte_eth_timesync_disable",
    "rte_eth_timesync_read_time",
    "rte_eth_timesync_read_rx_timestamp",
    "rte_eth_timesync_read_tx_timestamp",
    "rte_pktmbuf_pool_create",
    "rte_mempool_free",
    "rte_mempool_avail_count",
    "rte_mempool_in_use_count",
    "rte_mbuf_dynfield_lookup",
    "rte_mbuf_dynflag_lookup",
    "rte_mbuf_dyn_rx_timestamp_register",
    "ticklab_.*",
];

/// Object-like macros bindgen can evaluate (literals, strings, simple expressions).
const VARIABLES: &[&str] = &[
    "RTE_EAL_PMD_PATH",
    "RTE_MBUF_DYNFIELD_TIMESTAMP_NAME",
    "RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME",
    "RTE_VER_YEAR",
    "RTE_VER_MONTH",
    "RTE_VER_MINOR",
    "RTE_MAX_ETHPORTS",
];

/// Types Rust only ever holds pointers to. Their layouts (cache-line alignment,
/// anonymous unions, bit-fields) are the ones bindgen gets wrong or that we must
/// not depend on; the shim reads their fields.
const OPAQUE: &[&str] = &[
    "rte_mbuf",
    "rte_mempool",
    "rte_device",
    "rte_eth_dev",
    "rte_eth_rxseg_split",
    "rte_mbuf_ext_shared_info",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=shim/wrapper.h");
    for variable in [
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "LIBCLANG_PATH",
    ] {
        println!("cargo:rerun-if-env-changed={variable}");
    }

    let library = pkg_config::Config::new()
        .atleast_version(MIN_VERSION)
        .cargo_metadata(false)
        .probe("libdpdk")
        .unwrap_or_else(|error| {
            panic!(
                "dpdk-sys: DPDK >= {MIN_VERSION} was not found with pkg-config (libdpdk.pc): \
                 install it (Debian/Ubuntu: `apt-get install libdpdk-dev dpdk-dev pkg-config`, \
                 or run lab-scripts/setup), or point PKG_CONFIG_PATH at a DPDK build's \
                 lib/pkgconfig.\n{error}"
            )
        });
    let cflags = pkg_config_output(&["--cflags", "libdpdk"]);
    let cflags: Vec<String> = cflags.split_whitespace().map(str::to_owned).collect();

    // The shim first: the static archive must come before the DPDK libraries it
    // calls on the link line.
    let mut shim = cc::Build::new();
    shim.file("shim/shim.c")
        .include("shim")
        .opt_level(3)
        // rte_eth_read_clock and a few mbuf helpers are still marked experimental.
        .define("ALLOW_EXPERIMENTAL_API", None)
        .warnings(true)
        .extra_warnings(true);
    for flag in &cflags {
        shim.flag(flag);
    }
    shim.compile("ticklab_dpdk_shim");

    // Then the DPDK libraries, as dynamic libraries; the linker keeps only those the
    // shim and the bindings use (rustc passes --as-needed).
    for dir in &library.link_paths {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    for lib in &library.libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }

    let mut builder = bindgen::Builder::default()
        .header("shim/wrapper.h")
        .clang_arg("-Ishim")
        .clang_arg("-DALLOW_EXPERIMENTAL_API")
        .clang_args(&cflags)
        .allowlist_recursively(true)
        .derive_default(true)
        .derive_debug(true)
        .prepend_enum_name(false)
        .layout_tests(true)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for function in FUNCTIONS {
        builder = builder.allowlist_function(function);
    }
    for variable in VARIABLES {
        builder = builder.allowlist_var(variable);
    }
    for ty in OPAQUE {
        builder = builder.opaque_type(ty);
    }
    let bindings = builder.generate().unwrap_or_else(|error| {
        panic!(
            "dpdk-sys: bindgen could not parse the DPDK headers ({error}); it needs \
             libclang: `apt-get install clang libclang-dev` (or set LIBCLANG_PATH)"
        )
    });
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("dpdk-sys: writing bindings.rs into OUT_DIR");

    println!("cargo:rustc-env=DPDK_SYS_VERSION={}", library.version);
    // For dependents' build scripts: DEP_DPDK_VERSION (the build fingerprint).
    println!("cargo:version={}", library.version);
}

/// One `pkg-config` query (the binary `$PKG_CONFIG` names, like the pkg-config crate).
fn pkg_config_output(args: &[&str]) -> String {
    let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned());
    let output = Command::new(&program)
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("dpdk-sys: running `{program} {}`: {error}", args.join(" "))
        });
    if !output.status.success() {
        panic!(
            "dpdk-sys: `{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout)
        .unwrap_or_else(|_| panic!("dpdk-sys: `{program} {}` printed non-UTF-8", args.join(" ")))
        .trim()
        .to_owned()
}

// Keeps a console window from opening next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    quiet_webkit_renderer();
    tradeoff_app::run();
}

/// WebKitGTK's DMA-BUF renderer falls back to software on machines without a usable GPU
/// (VMs, Xvfb, many servers) and then repaints continuously: measured here, the idle results
/// screen kept WebKit at ~90–120 % of a core, which slowed the experiment running beside it
/// ~4× and made every number the app recorded wrong. The older shared-memory path idles at ~2 %.
/// Users who want the DMA-BUF renderer can set WEBKIT_DISABLE_COMPOSITING_MODE=0.
#[allow(unsafe_code)]
fn quiet_webkit_renderer() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        // SAFETY: called first thing in main, before any other thread exists, so nothing can
        // read the environment concurrently.
        unsafe { std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1") };
    }
}

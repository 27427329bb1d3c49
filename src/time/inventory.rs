//! What clocks this host offers the lab (`ticklab clock`): per interface, what it
//! can stamp and with which clock, and the source the lab would choose; the PTP
//! hardware clocks present; the TSC and the kernel's clock source; and ptp4l's
//! state when its management socket answers.
//!
//! Collecting reads sysfs and `/dev`, asks each interface with
//! `ETHTOOL_GET_TS_INFO`, calibrates the TSC for a fifth of a second, and asks
//! ptp4l; it changes nothing. A part that cannot be read is reported as such (with
//! the reason), never as absent.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::calibrate;
use super::phc::{self, best_source, Phc};
use super::tsc;

/// One interface's timestamping.
#[derive(Debug, Clone, Serialize)]
pub struct InterfaceClocks {
    pub iface: String,
    pub phc: Option<String>,
    pub capabilities: String,
    pub tx_types: String,
    pub rx_filters: String,
    /// The source the lab would use on it, and why.
    pub best: String,
    pub reason: String,
}

/// A PTP hardware clock found under `/dev`.
#[derive(Debug, Clone, Serialize)]
pub struct PhcClock {
    pub path: String,
    /// Its capabilities, or why it could not be opened.
    pub status: String,
}

/// The TSC.
#[derive(Debug, Clone, Serialize)]
pub struct TscClock {
    /// `invariant`, `variable`, `absent`, or the detection error.
    pub support: String,
    pub clock_source: String,
    pub available_clock_sources: Vec<String>,
    /// Ticks per second against `CLOCK_MONOTONIC_RAW` over a 200 ms window.
    pub hz: Option<f64>,
    pub calibration_error: Option<String>,
}

/// What ptp4l says, asked over its management socket.
#[derive(Debug, Clone, Serialize)]
pub struct PtpView {
    pub uds: String,
    /// The sample, judged (in sync or why not); `None` when ptp4l did not answer.
    pub state: Option<super::sync::JudgedSample>,
    /// Why there is no state.
    pub error: Option<String>,
}

/// Everything `ticklab clock` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ClockInventory {
    pub interfaces: Vec<InterfaceClocks>,
    /// Set when the interfaces could not be listed.
    pub interfaces_error: Option<String>,
    pub phcs: Vec<PhcClock>,
    pub tsc: TscClock,
    pub ptp: PtpView,
}

impl ClockInventory {
    /// Looks at this host (about 0.2 s, for the TSC calibration) and asks ptp4l at
    /// `ptp_uds`.
    pub fn collect(ptp_uds: &Path) -> ClockInventory {
        let (interfaces, interfaces_error) = match phc::interfaces() {
            Ok(list) => (
                list.iter()
                    .map(|info| {
                        let choice = best_source(info);
                        InterfaceClocks {
                            iface: info.iface.clone(),
                            phc: info.phc_path().map(|p| p.display().to_string()),
                            capabilities: info.so_timestamping.to_string(),
                            tx_types: info.tx_types.to_string(),
                            rx_filters: info.rx_filters.to_string(),
                            best: choice.source.to_string(),
                            reason: choice.reason,
                        }
                    })
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        ClockInventory {
            interfaces,
            interfaces_error,
            phcs: phcs_under(Path::new("/dev")),
            tsc: tsc_clock(),
            ptp: ptp_view(ptp_uds),
        }
    }

    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "interfaces");
        if let Some(e) = &self.interfaces_error {
            let _ = writeln!(out, "  cannot list them: {e}");
        }
        for i in &self.interfaces {
            let _ = writeln!(out, "  {:<12} {} ({})", i.iface, i.best, i.reason);
            let _ = writeln!(out, "  {:<12} capabilities: {}", "", i.capabilities);
            if let Some(phc) = &i.phc {
                let _ = writeln!(
                    out,
                    "  {:<12} PHC {phc}; tx types: {}; rx filters: {}",
                    "", i.tx_types, i.rx_filters
                );
            }
        }
        let _ = writeln!(out, "PTP hardware clocks");
        if self.phcs.is_empty() {
            let _ = writeln!(out, "  none under /dev");
        }
        for p in &self.phcs {
            let _ = writeln!(out, "  {}: {}", p.path, p.status);
        }
        let t = &self.tsc;
        let _ = writeln!(out, "TSC");
        let _ = writeln!(
            out,
            "  {}; kernel clock source {} (available: {})",
            t.support,
            t.clock_source,
            t.available_clock_sources.join(" ")
        );
        match (t.hz, &t.calibration_error) {
            (Some(hz), _) => {
                let _ = writeln!(out, "  {:.6} GHz against CLOCK_MONOTONIC_RAW", hz / 1e9);
            }
            (None, Some(e)) => {
                let _ = writeln!(out, "  not calibrated: {e}");
            }
            (None, None) => {}
        }
        let _ = writeln!(out, "ptp4l ({})", self.ptp.uds);
        match (&self.ptp.state, &self.ptp.error) {
            (Some(j), _) => {
                let s = &j.sample;
                let _ = writeln!(
                    out,
                    "  port {}; offset from master {} ns; mean path delay {} ns",
                    s.port_state.name(),
                    s.offset_ns.map_or("?".into(), |o| o.to_string()),
                    s.mean_path_delay_ns.map_or("?".into(), |d| d.to_string())
                );
                let _ = writeln!(
                    out,
                    "  grandmaster {} ({}); {}",
                    s.grandmaster.as_deref().unwrap_or("unknown"),
                    if s.gm_present {
                        "present"
                    } else {
                        "not present"
                    },
                    if j.in_sync {
                        "in sync".to_string()
                    } else {
                        format!("not in sync: {}", j.marks.join(", "))
                    }
                );
            }
            (None, Some(e)) => {
                let _ = writeln!(out, "  {e}");
            }
            (None, None) => {}
        }
        out
    }
}

fn ptp_view(uds: &Path) -> PtpView {
    let (state, error) = if !uds.exists() {
        (
            None,
            Some(format!(
                "no ptp4l socket at {} (is ptp4l running? its uds_address; --ptp-uds PATH)",
                uds.display()
            )),
        )
    } else {
        let mut config = super::ptp_mgmt::ClientConfig::new(uds);
        config.timeout = Duration::from_millis(500);
        match super::ptp_mgmt::PtpClient::new(config)
            .and_then(|mut c| super::ptp_mgmt::sync_sample(&mut c))
        {
            Ok(sample) => (
                Some(super::sync::SyncJudge::new(None).observe(sample)),
                None,
            ),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    PtpView {
        uds: uds.display().to_string(),
        state,
        error,
    }
}

/// `/dev/ptp*` under `dev`, each opened and asked for its capabilities.
fn phcs_under(dev: &Path) -> Vec<PhcClock> {
    let Ok(entries) = std::fs::read_dir(dev) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.strip_prefix("ptp")
                    .is_some_and(|rest| rest.parse::<u16>().is_ok())
            })
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| PhcClock {
            status: match Phc::open(&path) {
                Ok(phc) => format!("{:?}", phc.caps()),
                Err(e) => e.to_string(),
            },
            path: path.display().to_string(),
        })
        .collect()
}

fn tsc_clock() -> TscClock {
    let (support, clock_source, available) = match tsc::detect() {
        Ok(state) => (
            state.support.name().to_string(),
            state.clocksource,
            state.available,
        ),
        Err(e) => (format!("unknown ({e})"), "unknown".into(), Vec::new()),
    };
    let (hz, calibration_error) = match calibrate::calibrate(Duration::from_millis(200), 20) {
        Ok(c) => (Some(c.monotonic_raw.hz()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    TscClock {
        support,
        clock_source,
        available_clock_sources: available,
        hz,
        calibration_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_host_has_loopback_with_software_stamps_and_no_phc_devices_in_a_fake_dev() {
        let dir = tempfile::tempdir().unwrap();
        let inventory = ClockInventory::collect(&dir.path().join("no-ptp4l"));
        assert!(inventory.ptp.state.is_none());
        assert!(
            inventory
                .ptp
                .error
                .as_deref()
                .unwrap()
                .starts_with("no ptp4l socket at"),
            "{:?}",
            inventory.ptp
        );
        let lo = inventory
            .interfaces
            .iter()
            .find(|i| i.iface == "lo")
            .expect("every Linux host has lo");
        assert_eq!(lo.best, "software (CLOCK_REALTIME)");
        assert_eq!(lo.phc, None);
        let text = inventory.render_text();
        assert!(text.contains("  lo "), "{text}");
        assert!(text.contains("TSC\n"), "{text}");
        let json = serde_json::to_value(&inventory).unwrap();
        assert!(!json["interfaces"].as_array().unwrap().is_empty());

        let dev = tempfile::tempdir().unwrap();
        assert!(phcs_under(dev.path()).is_empty());
        std::fs::write(dev.path().join("ptp3"), b"").unwrap();
        std::fs::write(dev.path().join("ptpx"), b"").unwrap();
        let found = phcs_under(dev.path());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].path.ends_with("ptp3"));
        assert!(found[0].status.contains("not a PTP"), "{}", found[0].status);
    }
}

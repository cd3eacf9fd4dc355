//! Router vendors and models as they describe themselves over SNMP: sysDescr, sysObjectID,
//! interface naming, and the software running on them.

/// The role of one interface in a simulated router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRole {
    Loopback,
    /// Out-of-band management Ethernet.
    Management,
    /// A fast port towards transit or an internet exchange: busy.
    Uplink,
    /// A link aggregation (LAG) towards the core.
    Bundle,
    /// A customer-facing port.
    Access,
}

/// One vendor and model.
#[derive(Debug)]
pub struct Vendor {
    /// Short label value (`vendor` label in the generated config).
    pub vendor: &'static str,
    pub model: &'static str,
    /// sysObjectID.
    pub object_id: &'static [u32],
    /// sysDescr; `{version}` is replaced with the software version.
    pub descr: &'static str,
    pub versions: &'static [&'static str],
    /// IANA enterprise number (hrSWRun-style facts and engine IDs are derived from it).
    pub enterprise: u32,
    /// Interface name patterns by role; `{n}` is the port number (1-based within its role).
    pub loopback: &'static str,
    pub management: &'static str,
    pub uplink: &'static str,
    pub bundle: &'static str,
    pub access: &'static str,
    /// Uplink speed in Mbit/s (ifHighSpeed).
    pub uplink_mbps: u32,
    /// Access port speed in Mbit/s.
    pub access_mbps: u32,
    /// Total RAM in KiB (hrMemorySize) and flash in bytes.
    pub memory_kib: u32,
    pub flash_bytes: u64,
    pub cpus: u32,
}

pub const VENDORS: [Vendor; 5] = [
    Vendor {
        vendor: "cisco",
        model: "ASR-9006",
        object_id: &[1, 3, 6, 1, 4, 1, 9, 1, 1017],
        descr: "Cisco IOS XR Software (ASR9K), Version {version}\r\nCopyright (c) 2013-2024 by Cisco Systems, Inc.",
        versions: &["7.5.2", "7.9.2", "7.11.2"],
        enterprise: 9,
        loopback: "Loopback{n}",
        management: "MgmtEth0/RSP0/CPU0/{n}",
        uplink: "HundredGigE0/0/0/{n}",
        bundle: "Bundle-Ether{n}",
        access: "TenGigE0/1/0/{n}",
        uplink_mbps: 100_000,
        access_mbps: 10_000,
        memory_kib: 33_554_432,
        flash_bytes: 34_359_738_368,
        cpus: 4,
    },
    Vendor {
        vendor: "juniper",
        model: "MX204",
        object_id: &[1, 3, 6, 1, 4, 1, 2636, 1, 1, 1, 2, 150],
        descr: "Juniper Networks, Inc. mx204 internet router, kernel JUNOS {version}, Build date: 2024-03-14 10:12:09 UTC Copyright (c) 1996-2024 Juniper Networks, Inc.",
        versions: &["21.4R3-S5.4", "22.4R3.25", "23.2R2.21"],
        enterprise: 2636,
        loopback: "lo{n}",
        management: "fxp{n}",
        uplink: "et-0/0/{n}",
        bundle: "ae{n}",
        access: "xe-0/1/{n}",
        uplink_mbps: 100_000,
        access_mbps: 10_000,
        memory_kib: 16_777_216,
        flash_bytes: 107_374_182_400,
        cpus: 8,
    },
    Vendor {
        vendor: "mikrotik",
        model: "CCR2004-1G-12S+2XS",
        object_id: &[1, 3, 6, 1, 4, 1, 14988, 1],
        descr: "RouterOS CCR2004-1G-12S+2XS {version} (stable)",
        versions: &["7.13.5", "7.15.3", "7.16.1"],
        enterprise: 14988,
        loopback: "lo{n}",
        management: "ether{n}",
        uplink: "sfp28-{n}",
        bundle: "bond{n}",
        access: "sfp-sfpplus{n}",
        uplink_mbps: 25_000,
        access_mbps: 10_000,
        memory_kib: 4_194_304,
        flash_bytes: 134_217_728,
        cpus: 4,
    },
    Vendor {
        vendor: "huawei",
        model: "NE40E-X8A",
        object_id: &[1, 3, 6, 1, 4, 1, 2011, 2, 62, 2, 26],
        descr: "Huawei Versatile Routing Platform Software\r\nVRP (R) software, Version 8.180 (NE40E {version})\r\nCopyright (C) 2012-2024 Huawei Technologies Co., Ltd.\r\nHUAWEI NE40E-X8A",
        versions: &["V800R011C00SPC200", "V800R013C00SPC100", "V800R021C10SPC600"],
        enterprise: 2011,
        loopback: "LoopBack{n}",
        management: "GigabitEthernet0/0/{n}",
        uplink: "100GE1/0/{n}",
        bundle: "Eth-Trunk{n}",
        access: "GigabitEthernet2/0/{n}",
        uplink_mbps: 100_000,
        access_mbps: 1_000,
        memory_kib: 16_777_216,
        flash_bytes: 4_294_967_296,
        cpus: 2,
    },
    Vendor {
        vendor: "nokia",
        model: "7750 SR-1",
        object_id: &[1, 3, 6, 1, 4, 1, 6527, 1, 3, 17],
        descr: "TiMOS-C-{version} cpm/hops64 Nokia 7750 SR Copyright (c) 2000-2024 Nokia.\r\nAll rights reserved. All use subject to applicable license agreements.",
        versions: &["22.10.R4", "23.3.R2", "23.10.R1"],
        enterprise: 6527,
        loopback: "system{n}",
        management: "A/{n}",
        uplink: "1/1/c{n}/1",
        bundle: "lag-{n}",
        access: "1/2/{n}",
        uplink_mbps: 100_000,
        access_mbps: 10_000,
        memory_kib: 33_554_432,
        flash_bytes: 17_179_869_184,
        cpus: 4,
    },
];

/// The MikroTik model: the vendor whose devices also serve the RouterOS API.
pub const MIKROTIK: &Vendor = &VENDORS[2];

impl Vendor {
    /// Whether devices of this vendor serve the RouterOS API.
    pub fn speaks_routeros(&self) -> bool {
        self.vendor == MIKROTIK.vendor
    }

    /// An interface name: the role's pattern with its number.
    pub fn port_name(&self, role: PortRole, number: u32) -> String {
        let pattern = match role {
            PortRole::Loopback => self.loopback,
            PortRole::Management => self.management,
            PortRole::Uplink => self.uplink,
            PortRole::Bundle => self.bundle,
            PortRole::Access => self.access,
        };
        // Loopback0, fxp0, lo0: these count from zero on every platform.
        let shown = match role {
            PortRole::Loopback | PortRole::Management => number - 1,
            _ => number,
        };
        pattern.replace("{n}", &shown.to_string())
    }

    pub fn speed_mbps(&self, role: PortRole) -> u32 {
        match role {
            PortRole::Loopback => 0,
            PortRole::Management => 1_000,
            PortRole::Uplink => self.uplink_mbps,
            PortRole::Bundle => 2 * self.access_mbps,
            PortRole::Access => self.access_mbps,
        }
    }

    pub fn sys_descr(&self, version: &str) -> String {
        self.descr.replace("{version}", version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_each_vendors_style() {
        assert_eq!(VENDORS[0].port_name(PortRole::Loopback, 1), "Loopback0");
        assert_eq!(VENDORS[0].port_name(PortRole::Access, 3), "TenGigE0/1/0/3");
        assert_eq!(VENDORS[1].port_name(PortRole::Access, 1), "xe-0/1/1");
        assert_eq!(VENDORS[2].port_name(PortRole::Access, 5), "sfp-sfpplus5");
        assert_eq!(MIKROTIK.vendor, "mikrotik");
        assert!(MIKROTIK.speaks_routeros() && !VENDORS[0].speaks_routeros());
        assert_eq!(VENDORS[3].port_name(PortRole::Bundle, 1), "Eth-Trunk1");
        assert_eq!(VENDORS[4].port_name(PortRole::Bundle, 2), "lag-2");
        assert!(VENDORS[1]
            .sys_descr("22.4R3.25")
            .contains("JUNOS 22.4R3.25"));
    }
}

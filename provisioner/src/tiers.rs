//! The eight office sizes and the GCE machine types behind them.

/// One office size. Prices are GCE on-demand list prices (us-central1, USD per hour),
/// for cost estimates; the bill is what GCE says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tier {
    pub number: u8,
    pub machine_type: &'static str,
    pub vcpus: f32,
    pub memory_gb: f32,
    pub usd_per_hour: f64,
}

pub const TIERS: [Tier; 8] = [
    Tier { number: 1, machine_type: "e2-micro", vcpus: 0.25, memory_gb: 1.0, usd_per_hour: 0.00838 },
    Tier { number: 2, machine_type: "e2-small", vcpus: 0.5, memory_gb: 2.0, usd_per_hour: 0.01675 },
    Tier { number: 3, machine_type: "e2-medium", vcpus: 1.0, memory_gb: 4.0, usd_per_hour: 0.03351 },
    Tier { number: 4, machine_type: "e2-standard-2", vcpus: 2.0, memory_gb: 8.0, usd_per_hour: 0.06701 },
    Tier { number: 5, machine_type: "e2-highmem-2", vcpus: 2.0, memory_gb: 16.0, usd_per_hour: 0.09039 },
    Tier { number: 6, machine_type: "e2-standard-4", vcpus: 4.0, memory_gb: 16.0, usd_per_hour: 0.13402 },
    Tier { number: 7, machine_type: "e2-highmem-4", vcpus: 4.0, memory_gb: 32.0, usd_per_hour: 0.18078 },
    Tier { number: 8, machine_type: "e2-standard-8", vcpus: 8.0, memory_gb: 32.0, usd_per_hour: 0.26805 },
];

/// The tier with this number (the config validates 1 to 8).
pub fn tier(number: u8) -> Option<&'static Tier> {
    TIERS.iter().find(|t| t.number == number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_grow_from_a_quarter_vcpu_to_eight() {
        assert_eq!(tier(1).unwrap().machine_type, "e2-micro");
        assert_eq!(tier(8).unwrap().machine_type, "e2-standard-8");
        assert!(tier(0).is_none() && tier(9).is_none());
        for pair in TIERS.windows(2) {
            assert!(pair[1].usd_per_hour > pair[0].usd_per_hour, "{pair:?}");
            assert!(pair[1].vcpus >= pair[0].vcpus && pair[1].memory_gb >= pair[0].memory_gb, "{pair:?}");
        }
    }
}

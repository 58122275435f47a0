//! Kubernetes quantities (`250m`, `1.5`, `12345678n`, `64Mi`, `1e3`) as
//! numbers: CPU in millicores, memory in bytes. A quantity that does not
//! parse is `None`, never a guess; a huge one saturates.

/// What a container or pod uses: CPU in millicores, memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub cpu_m: u64,
    pub memory: u64,
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, o: Usage) -> Usage {
        Usage {
            cpu_m: self.cpu_m.saturating_add(o.cpu_m),
            memory: self.memory.saturating_add(o.memory),
        }
    }
}

/// The value of a quantity in its base unit (cores, bytes).
fn value(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse::<i32>().ok()?.clamp(-30, 30)),
        _ => return None,
    };
    let v = n * scale;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// CPU in millicores (rounded up, as kubectl top shows it).
pub fn millicores(text: &str) -> Option<u64> {
    value(text).map(|v| {
        // 150000000n is 150m exactly, not 150.00000000000003.
        let m = v * 1000.0;
        let whole = if (m - m.round()).abs() < 1e-6 {
            m.round()
        } else {
            m.ceil()
        };
        whole.min(u64::MAX as f64) as u64
    })
}

/// Memory in bytes.
pub fn bytes(text: &str) -> Option<u64> {
    value(text).map(|v| v.round().min(u64::MAX as f64) as u64)
}

/// `250m`, `1.5` cores as kubectl top writes CPU.
pub fn show_millicores(m: u64) -> String {
    format!("{m}m")
}

/// `64Mi`, `1.2Gi` as kubectl top writes memory.
pub fn show_bytes(b: u64) -> String {
    const MI: u64 = 1 << 20;
    if b >= 10 << 30 {
        format!("{}Gi", b >> 30)
    } else if b >= 1 << 30 {
        format!("{:.1}Gi", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{}Mi", b.div_ceil(MI))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_as_metrics_server_and_manifests_write_them() {
        assert_eq!(millicores("12345678n"), Some(13));
        assert_eq!(millicores("250m"), Some(250));
        assert_eq!(millicores("1.5"), Some(1500));
        assert_eq!(millicores("2"), Some(2000));
        assert_eq!(millicores("1e3m"), None);
        assert_eq!(bytes("1Ki"), Some(1024));
        assert_eq!(bytes("64Mi"), Some(64 << 20));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("-1"), None);
        assert_eq!(bytes("12x"), None);
        assert_eq!(bytes(""), None);
        assert_eq!(show_bytes(64 << 20), "64Mi");
        assert_eq!(show_bytes(3 << 29), "1.5Gi");
        assert_eq!(millicores("99999999999999999999999"), Some(u64::MAX));
    }
}

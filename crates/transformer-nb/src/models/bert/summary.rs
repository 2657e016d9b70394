//! What a loaded model holds: parameters per module, as HF counts them, and the memory they take
//! in this process (the tutorial's "check memory usage").

use std::fmt;

/// One module of the model: its parameters and the bytes they take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSize {
    /// The module's path as HF names it, e.g. `encoder.layer.0.attention`.
    pub name: String,
    /// Number of parameters (weights and biases), as `p.numel()` counts them.
    pub parameters: usize,
    /// The element type the parameters are held in.
    pub dtype: &'static str,
    /// Bytes the parameters take: `parameters × size of dtype`.
    pub bytes: usize,
}

/// Parameters per module and in total, and the memory the model holds; see
/// [`Bert::summary`](crate::Bert::summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSummary {
    pub(crate) modules: Vec<ModuleSize>,
    pub(crate) held_bytes: usize,
}

impl ModelSummary {
    /// Every module, in the order HF's `named_parameters()` lists them.
    pub fn modules(&self) -> &[ModuleSize] {
        &self.modules
    }

    /// All parameters: HF's `sum(p.numel() for p in model.parameters())` (buffers such as
    /// `position_ids` are not parameters).
    pub fn total_parameters(&self) -> usize {
        self.modules.iter().map(|m| m.parameters).sum()
    }

    /// Bytes all parameters take in their dtype.
    pub fn total_bytes(&self) -> usize {
        self.modules.iter().map(|m| m.bytes).sum()
    }

    /// Bytes this process holds for the model's weights: the parameters as the kernels keep them
    /// (query, key and value side by side, matrices packed in panels, padded to whole panels),
    /// counted from the buffers themselves.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }
}

/// `22713216` → `22,713,216`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in the unit a person reads: `B`, `kB`, `MB` or `GB` (powers of 1000, as `ls -h --si`).
pub(crate) fn human_bytes(bytes: usize) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

impl fmt::Display for ModelSummary {
    /// The table as text: a line per module and the totals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.modules.iter().map(|m| m.name.len()).max().unwrap_or(0);
        for m in &self.modules {
            writeln!(
                f,
                "{:<width$}  {:>12}  {}  {:>9}",
                m.name,
                thousands(m.parameters),
                m.dtype,
                human_bytes(m.bytes)
            )?;
        }
        writeln!(
            f,
            "{:<width$}  {:>12}       {:>9}",
            "total",
            thousands(self.total_parameters()),
            human_bytes(self.total_bytes())
        )?;
        write!(f, "held in memory: {}", human_bytes(self.held_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(22_713_216), "22,713,216");
        assert_eq!(thousands(usize::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(90_852_864), "90.9 MB");
        assert_eq!(human_bytes(usize::MAX), "18446744.1 TB");
    }
}

import Foundation

/// Parses human sizes and durations as the CLI and config accept them.
public enum Units {
    /// "512M", "2G", "64k", "1048576", "1.5G" → bytes (binary multiples).
    public static func parseSize(_ text: String) -> UInt64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty else { return nil }
        var number = t
        var mult: Double = 1
        if let last = t.last, last.isLetter {
            number = String(t.dropLast())
            var unit = String(last).uppercased()
            if unit == "B", let prev = number.last, prev.isLetter {
                number = String(number.dropLast()); unit = String(prev).uppercased()
            } else if unit == "B" { unit = "" }
            switch unit {
            case "": mult = 1
            case "K": mult = 1024
            case "M": mult = 1024 * 1024
            case "G": mult = 1024 * 1024 * 1024
            case "T": mult = 1024.0 * 1024 * 1024 * 1024
            default: return nil
            }
        }
        guard let v = Double(number), v >= 0, v.isFinite else { return nil }
        return UInt64(v * mult)
    }

    /// "30s", "5m", "1h", "250ms", "10" (seconds) → Duration.
    public static func parseDuration(_ text: String) -> Duration? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            let n = String(t.dropLast(suffix.count))
            if suffix == "s", n.hasSuffix("m") { continue }
            guard let v = Double(n), v >= 0, v.isFinite else { return nil }
            return .milliseconds(Int64((v * scale * 1000).rounded()))
        }
        guard let v = Double(t), v >= 0, v.isFinite else { return nil }
        return .milliseconds(Int64((v * 1000).rounded()))
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

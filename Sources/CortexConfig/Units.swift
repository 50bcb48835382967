/// Go-style durations (`time.ParseDuration`): `"300ms"`, `"60s"`, `"5m"`, `"1m30s"`, `"1h"`, `"-1.5h"`, `"0"`.
public enum GoDuration {
    /// Seconds, or `nil` when `text` is not a valid Go duration.
    public static func parse(_ text: String) -> Double? {
        var chars = Array(text.unicodeScalars)
        guard !chars.isEmpty else { return nil }
        var sign = 1.0
        if chars[0] == "-" || chars[0] == "+" {
            if chars[0] == "-" { sign = -1 }
            chars.removeFirst()
        }
        if chars.count == 1 && chars[0] == "0" { return 0 }
        guard !chars.isEmpty else { return nil }
        var i = 0
        var total = 0.0
        while i < chars.count {
            var number = ""
            var digitsSeen = false
            while i < chars.count, ("0"..."9").contains(chars[i]) {
                number.unicodeScalars.append(chars[i])
                digitsSeen = true
                i += 1
            }
            if i < chars.count, chars[i] == "." {
                number += "."
                i += 1
                while i < chars.count, ("0"..."9").contains(chars[i]) {
                    number.unicodeScalars.append(chars[i])
                    digitsSeen = true
                    i += 1
                }
            }
            guard digitsSeen else { return nil }
            var unit = ""
            while i < chars.count, chars[i] != ".", !("0"..."9").contains(chars[i]) {
                unit.unicodeScalars.append(chars[i])
                i += 1
            }
            let scale: Double
            switch unit {
            case "ns": scale = 1e-9
            case "us", "µs", "μs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            if number.hasPrefix(".") { number = "0" + number }
            if number.hasSuffix(".") { number += "0" }
            guard let value = Double(number) else { return nil }
            total += value * scale
        }
        return sign * total
    }

    /// Formats seconds the way Go prints a duration: `"1m30s"`, `"5m0s"`, `"500ms"`, `"0s"`.
    public static func format(_ seconds: Double) -> String {
        if seconds == 0 { return "0s" }
        if seconds < 0 { return "-" + format(-seconds) }
        if seconds < 1 {
            if seconds >= 1e-3 { return trim(seconds * 1e3) + "ms" }
            if seconds >= 1e-6 { return trim(seconds * 1e6) + "µs" }
            return trim(seconds * 1e9) + "ns"
        }
        let hours = Int(seconds / 3600)
        let minutes = Int((seconds - Double(hours) * 3600) / 60)
        let rest = seconds - Double(hours) * 3600 - Double(minutes) * 60
        var s = ""
        if hours > 0 { s += "\(hours)h" }
        if hours > 0 || minutes > 0 { s += "\(minutes)m" }
        return s + trim(rest) + "s"
    }

    private static func trim(_ value: Double) -> String {
        let rounded = (value * 1e9).rounded() / 1e9
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        return "\(rounded)"
    }
}

/// Kubernetes-style resource quantities: `"500m"`, `"2"`, `"1.5"`, `"20Mi"`, `"1G"`, `"1e3"`.
public enum Quantity {
    private static let suffixes: [(String, Double)] = [
        ("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776),
        ("Pi", 1_125_899_906_842_624), ("Ei", 1_152_921_504_606_846_976),
        ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12),
        ("P", 1e15), ("E", 1e18),
    ]

    /// The quantity's value in base units (cores, bytes), or `nil` when `text` is not a valid quantity.
    public static func parse(_ text: String) -> Double? {
        var number = Substring(text)
        var scale = 1.0
        for (suffix, factor) in suffixes where number.hasSuffix(suffix) {
            number = number.dropLast(suffix.count)
            scale = factor
            break
        }
        guard isDecimal(number) else { return nil }
        guard let value = Double(number), value.isFinite else { return nil }
        return value * scale
    }

    /// `[+-]?(digits[.digits]|.digits)([eE][+-]?digits)?`
    private static func isDecimal(_ s: Substring) -> Bool {
        var chars = Array(s.unicodeScalars)[...]
        if let first = chars.first, first == "+" || first == "-" { chars = chars.dropFirst() }
        var intDigits = 0
        while let c = chars.first, ("0"..."9").contains(c) {
            intDigits += 1
            chars = chars.dropFirst()
        }
        var fracDigits = 0
        if chars.first == "." {
            chars = chars.dropFirst()
            while let c = chars.first, ("0"..."9").contains(c) {
                fracDigits += 1
                chars = chars.dropFirst()
            }
        }
        guard intDigits + fracDigits > 0 else { return false }
        if let c = chars.first, c == "e" || c == "E" {
            chars = chars.dropFirst()
            if let sign = chars.first, sign == "+" || sign == "-" { chars = chars.dropFirst() }
            var expDigits = 0
            while let c = chars.first, ("0"..."9").contains(c) {
                expDigits += 1
                chars = chars.dropFirst()
            }
            guard expDigits > 0 else { return false }
        }
        return chars.isEmpty
    }
}

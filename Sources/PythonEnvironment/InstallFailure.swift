import Foundation

/// Reads the output of a failed `uv pip install` and says in one line what went wrong and what to do.
///
/// uv's own last words are often misleading for old pins: `scikit-learn==0.21.3` has no wheel for
/// Python 3.11, so uv builds it from source, the 2019 `setup.py` fails, and uv ends with a hint about
/// `pkg_resources` build dependencies. What the user needs to know is that this version cannot be
/// installed for this Python, and that a newer pin (or another interpreter) fixes it.
public enum InstallFailure {
    /// One line naming the requirement, the Python version and the reason, with what to do; nil when
    /// the output is not a failure this recognises (the installer's output is then shown as it is).
    public static func summary(of output: String) -> String? {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let python = pythonVersion(lines)
        let forPython = python.map { " for Python \($0)" } ?? ""
        let pythonMinor = python.map { " " + $0.split(separator: ".").prefix(2).joined(separator: ".") } ?? ""

        if let requirement = firstMatch(lines, prefix: "error: Failed to build `", until: "`") {
            return "cannot install \(requirement)\(forPython): no wheel of it is published for this Python and "
                + "platform, and building it from source failed (the installer's output is below). Pin a newer "
                + "version of \(packageName(requirement)) that publishes wheels for Python\(pythonMinor) in "
                + "requirements.txt, or set CORTEX_PYTHON to an interpreter this version supports."
        }
        if lines.contains(where: { $0.hasPrefix("error: No solution found when resolving dependencies") }) {
            let cause = causes(lines).first ?? "the requirements are unsatisfiable"
            if let range = cause.range(of: "there is no version of ") {
                let requirement = cause[range.upperBound...].prefix { $0 != " " && $0 != "," }
                return "cannot install \(requirement)\(forPython): no published version matches it "
                    + "(the installer's output is below). Pin a version of \(packageName(String(requirement))) "
                    + "that exists in requirements.txt."
            }
            if cause.contains("the current Python version") || cause.contains("the requested Python version") {
                return "cannot install the requirements\(forPython): \(sentence(cause)) (the installer's output is "
                    + "below). Pin versions that support Python\(pythonMinor) in requirements.txt, or set "
                    + "CORTEX_PYTHON to an interpreter they support."
            }
            return "cannot install the requirements\(forPython): \(sentence(cause)) (the installer's output is "
                + "below). Change the pins in requirements.txt so that they can be satisfied together."
        }
        return nil
    }

    /// "Using Python 3.11.7 environment at: …" → "3.11.7".
    static func pythonVersion(_ lines: [String]) -> String? {
        for line in lines where line.hasPrefix("Using Python ") {
            let version = line.dropFirst("Using Python ".count).prefix { $0 != " " }
            if !version.isEmpty { return String(version) }
        }
        return nil
    }

    /// "scikit-learn==0.21.3", "foo @ file:///x", "bar>=2" → the distribution name.
    static func packageName(_ requirement: String) -> String {
        let name = requirement.prefix { $0.isLetter || $0.isNumber || "-_.".contains($0) }
        return name.isEmpty ? requirement : String(name)
    }

    /// The text between `prefix` and `until` on the first line that starts with `prefix`.
    static func firstMatch(_ lines: [String], prefix: String, until: Character) -> String? {
        for line in lines where line.hasPrefix(prefix) {
            let rest = line.dropFirst(prefix.count)
            if let end = rest.firstIndex(of: until) { return String(rest[..<end]) }
        }
        return nil
    }

    /// uv's "  cause: …" paragraphs, each joined into one line.
    static func causes(_ lines: [String]) -> [String] {
        var causes: [String] = []
        var current: String?
        for line in lines {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("cause: ") {
                if let current { causes.append(current) }
                current = String(trimmed.dropFirst("cause: ".count))
            } else if current != nil, !trimmed.isEmpty, line.hasPrefix("  "), !trimmed.hasPrefix("[") {
                current! += " " + trimmed
            } else {
                if let current { causes.append(current) }
                current = nil
            }
        }
        if let current { causes.append(current) }
        return causes
    }

    /// uv's "Because A and B, we can conclude that …" → "A and B".
    static func sentence(_ cause: String) -> String {
        var text = Substring(cause)
        if text.hasPrefix("Because ") { text = text.dropFirst("Because ".count) }
        if let range = text.range(of: ", we can conclude") { text = text[..<range.lowerBound] }
        return String(text)
    }
}

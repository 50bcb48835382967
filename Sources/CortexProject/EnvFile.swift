import Foundation

/// A project's `.env` file: one `VARIABLE=value` per line.
///
/// Accepted syntax (a safe subset of what bash `set -a; source .env` understands):
/// - blank lines and lines whose first non-blank character is `#` are skipped;
/// - an optional leading `export ` is ignored;
/// - `NAME` must match `[A-Za-z_][A-Za-z0-9_]*` (blanks around it are tolerated);
/// - the value is everything after the first `=` (so it may contain `=`), with surrounding
///   whitespace trimmed; in an unquoted value, ` #…` (a `#` after whitespace) starts a comment;
/// - a value starting with `'` or `"` must end with the matching quote (optionally followed by
///   a comment); the quotes are removed; inside double quotes `\n`, `\"` and `\\` are escapes
///   (any other backslash is kept as is); single-quoted values are literal.
///
/// Anything else is an error naming the file and the 1-based line, e.g.
/// `.env:3: expected VARIABLE=value, got "oops"`.
public enum EnvFile {
    /// Parses `text`; `file` is the name used in error messages (e.g. ".env").
    /// Returns the variables in file order (a repeated name appears twice; the later one wins
    /// when applied in order).
    public static func parse(_ text: String, file: String) throws(ProjectError) -> [(
        name: String, value: String
    )] {
        var result: [(name: String, value: String)] = []
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        // "\r\n" is a single Character in Swift, so split on both forms.
        let lines = body.split(
            omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, rawLine) in lines.enumerated() {
            let lineNumber = index + 1
            func fail(_ what: String) -> ProjectError {
                ProjectError("\(file):\(lineNumber): \(what)")
            }
            var line = rawLine
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = trimBlanks(line)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }

            var assignment = trimmed
            if assignment.hasPrefix("export"),
                let next = assignment.dropFirst(6).first, next == " " || next == "\t"
            {
                assignment = trimBlanks(assignment.dropFirst(6))
            }
            guard let equals = assignment.firstIndex(of: "=") else {
                throw fail("expected VARIABLE=value, got \(quoted(String(trimmed)))")
            }
            let name = trimBlanks(assignment[..<equals])
            guard isValidName(name) else {
                if name.isEmpty {
                    throw fail("missing variable name before \"=\" in \(quoted(String(trimmed)))")
                }
                throw fail(
                    "invalid variable name \(quoted(String(name))) (names must match [A-Za-z_][A-Za-z0-9_]*)")
            }
            let rawValue = trimBlanks(assignment[assignment.index(after: equals)...])
            let value = try parseValue(rawValue, fail: fail)
            result.append((name: String(name), value: value))
        }
        return result
    }

    /// Reads and parses the file at `path`; errors name it as `displayName` (default: `path`).
    public static func load(path: String, displayName: String? = nil) throws(ProjectError) -> [(
        name: String, value: String
    )] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProjectError("\(displayName ?? path): cannot read file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ProjectError("\(displayName ?? path): not valid UTF-8 text")
        }
        return try parse(text, file: displayName ?? path)
    }

    /// Whether `name` matches `[A-Za-z_][A-Za-z0-9_]*`.
    public static func isValidName<S: StringProtocol>(_ name: S) -> Bool {
        guard let first = name.utf8.first else { return false }
        func isLetter(_ c: UInt8) -> Bool {
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
        }
        guard isLetter(first) else { return false }
        return name.utf8.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    private static func parseValue(_ raw: Substring, fail: (String) -> ProjectError)
        throws(ProjectError) -> String
    {
        guard let quote = raw.first, quote == "\"" || quote == "'" else {
            // Unquoted: a "#" preceded by whitespace starts a comment.
            var previous: Character? = nil
            for i in raw.indices {
                let c = raw[i]
                if c == "#", let previous, previous == " " || previous == "\t" {
                    return String(trimBlanks(raw[..<i]))
                }
                previous = c
            }
            return String(raw)
        }
        var value = ""
        var i = raw.index(after: raw.startIndex)
        var closed = false
        while i < raw.endIndex {
            let c = raw[i]
            if c == quote {
                closed = true
                i = raw.index(after: i)
                break
            }
            if quote == "\"" && c == "\\" {
                let next = raw.index(after: i)
                if next < raw.endIndex {
                    switch raw[next] {
                    case "n":
                        value.append("\n")
                        i = raw.index(after: next)
                        continue
                    case "\"", "\\":
                        value.append(raw[next])
                        i = raw.index(after: next)
                        continue
                    default:
                        break
                    }
                }
            }
            value.append(c)
            i = raw.index(after: i)
        }
        let kind = quote == "\"" ? "double" : "single"
        guard closed else {
            throw fail("missing closing \(kind) quote in value \(quoted(String(raw)))")
        }
        let rest = trimBlanks(raw[i...])
        if !rest.isEmpty
            && !(rest.hasPrefix("#") && raw[raw.index(before: rest.startIndex)].isWhitespace)
        {
            throw fail("unexpected text \(quoted(String(rest))) after the closing \(kind) quote")
        }
        return value
    }

    private static func trimBlanks(_ s: Substring) -> Substring {
        var s = s
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }

    private static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }
}

/// gitignore-syntax rules, as read from a project's `.cortexignore` file.
///
/// Semantics follow git's `.gitignore` (`dir.c` + `wildmatch.c`):
/// - blank lines and lines starting with `#` are skipped; `\#` starts a pattern with a literal `#`;
/// - trailing spaces are trimmed unless escaped with `\` (`foo\ `); a trailing `\r` is dropped;
/// - a leading `!` negates (re-includes); `\!` starts a pattern with a literal `!`;
/// - a trailing `/` matches directories only;
/// - a pattern without any other `/` matches the last path component at any depth
///   (`*.txt`, `frotz/`); a `/` at the start or in the middle anchors it to the root
///   (`/foo`, `doc/frotz/`);
/// - `*` and `?` never match `/`; `[a-z]`, `[!a]`/`[^a]`, `[[:alpha:]]` classes; `\x` is a literal `x`;
/// - `**/` at the start matches in all directories, `/**` at the end matches everything
///   inside, `/**/` in the middle matches zero or more directories;
/// - the last matching rule wins.
///
/// ``isIgnored(_:isDirectory:)`` checks one path by itself; as in git, a path inside an
/// excluded directory cannot be re-included, which ``isExcluded(_:isDirectory:)``
/// (or a directory walk that prunes ignored directories) enforces.
public struct IgnoreRules: Sendable {
    /// One parsed pattern line.
    struct Rule: Sendable {
        /// The glob, without `!`, the leading `/` and the trailing `/`.
        var pattern: [UInt8]
        var negated: Bool
        var directoryOnly: Bool
        /// No `/` in the pattern: match the last path component only.
        var basenameOnly: Bool
        /// The line as written (for diagnostics).
        var source: String
    }

    let rules: [Rule]

    /// Parses the text of a gitignore-syntax file.
    public init(text: String) {
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var rules: [Rule] = []
        for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            var line = Array(rawLine)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.isEmpty || line[0] == UInt8(ascii: "#") { continue }
            IgnoreRules.trimTrailingSpaces(&line)
            if let rule = IgnoreRules.parseRule(line) { rules.append(rule) }
        }
        self.rules = rules
    }

    /// No rules: nothing is ignored.
    public init() {
        self.rules = []
    }

    /// Whether there are no rules.
    public var isEmpty: Bool { rules.isEmpty }

    /// Whether `relativePath` itself is ignored (the last matching rule decides).
    ///
    /// The path uses `/` separators and is relative to the project root (a leading `./` or
    /// `/` and a trailing `/` are tolerated). Parent directories are not consulted: the caller
    /// walks them (see ``isExcluded(_:isDirectory:)``).
    public func isIgnored(_ relativePath: String, isDirectory: Bool) -> Bool {
        let path = IgnoreRules.normalize(relativePath)
        guard !path.isEmpty else { return false }
        var basenameStart = path.startIndex
        if let slash = path.lastIndex(of: UInt8(ascii: "/")) { basenameStart = slash + 1 }
        let basename = Array(path[basenameStart...])
        for rule in rules.reversed() {
            if rule.directoryOnly && !isDirectory { continue }
            let matched =
                rule.basenameOnly
                ? Wildmatch.matches(pattern: rule.pattern, text: basename)
                : Wildmatch.matchesPathname(pattern: rule.pattern, text: path)
            if matched { return !rule.negated }
        }
        return false
    }

    /// Whether `relativePath` is excluded, taking its parent directories into account: a path
    /// is excluded if any of its parent directories is ignored (git cannot re-include a path
    /// inside an excluded directory) or if it is ignored itself.
    public func isExcluded(_ relativePath: String, isDirectory: Bool) -> Bool {
        let path = IgnoreRules.normalize(relativePath)
        guard !path.isEmpty else { return false }
        let components = path.split(separator: UInt8(ascii: "/"))
        var prefix = ""
        for component in components.dropLast() {
            prefix += prefix.isEmpty ? "" : "/"
            prefix += String(decoding: component, as: UTF8.self)
            if isIgnored(prefix, isDirectory: true) { return true }
        }
        return isIgnored(String(decoding: path, as: UTF8.self), isDirectory: isDirectory)
    }

    // MARK: - Parsing

    /// git's `trim_trailing_spaces`: drop trailing spaces unless the space is escaped.
    static func trimTrailingSpaces(_ line: inout [UInt8]) {
        var lastSpace: Int? = nil
        var i = 0
        while i < line.count {
            switch line[i] {
            case UInt8(ascii: " "):
                if lastSpace == nil { lastSpace = i }
            case UInt8(ascii: "\\"):
                i += 1
                if i >= line.count { return }
                lastSpace = nil
            default:
                lastSpace = nil
            }
            i += 1
        }
        if let lastSpace { line.removeSubrange(lastSpace...) }
    }

    static func parseRule(_ line: [UInt8]) -> Rule? {
        let source = String(decoding: line, as: UTF8.self)
        var p = line[...]
        var negated = false
        if p.first == UInt8(ascii: "!") {
            negated = true
            p = p.dropFirst()
        }
        var directoryOnly = false
        if p.last == UInt8(ascii: "/") {
            directoryOnly = true
            p = p.dropLast()
        }
        let basenameOnly = !p.contains(UInt8(ascii: "/"))
        if p.first == UInt8(ascii: "/") { p = p.dropFirst() }
        guard !p.isEmpty else { return nil }
        return Rule(
            pattern: Array(p), negated: negated, directoryOnly: directoryOnly,
            basenameOnly: basenameOnly, source: source)
    }

    static func normalize(_ path: String) -> [UInt8] {
        var p = Array(path.utf8)[...]
        while p.starts(with: [UInt8(ascii: "."), UInt8(ascii: "/")]) { p = p.dropFirst(2) }
        while p.first == UInt8(ascii: "/") { p = p.dropFirst() }
        while p.last == UInt8(ascii: "/") { p = p.dropLast() }
        return Array(p)
    }
}

/// A port of git's `wildmatch.c` with `WM_PATHNAME` (case-sensitive).
enum Wildmatch {
    private enum Result { case match, noMatch, abortAll, abortToStarStar }

    private static let star = UInt8(ascii: "*")
    private static let slash = UInt8(ascii: "/")
    private static let backslash = UInt8(ascii: "\\")
    private static let question = UInt8(ascii: "?")
    private static let open = UInt8(ascii: "[")
    private static let close = UInt8(ascii: "]")
    private static let colon = UInt8(ascii: ":")
    private static let dash = UInt8(ascii: "-")
    private static let bang = UInt8(ascii: "!")
    private static let caret = UInt8(ascii: "^")

    /// Whether `text` matches glob `pattern` (`*`, `?` and classes never match `/`).
    static func matches(pattern: [UInt8], text: [UInt8]) -> Bool {
        // NUL-terminate both, mirroring the C implementation's sentinel checks.
        let p = pattern + [0]
        let t = text + [0]
        return p.withUnsafeBufferPointer { pb in
            t.withUnsafeBufferPointer { tb in
                dowild(pb, 0, tb, 0) == .match
            }
        }
    }

    /// git's `match_pathname`: the literal prefix (up to the first `*?[\\`) is compared
    /// directly and the rest is wildmatched on its own, so a `**` right after the prefix
    /// counts as a leading `**` (git matches `b**/x` against `bx`; so do we).
    static func matchesPathname(pattern: [UInt8], text: [UInt8]) -> Bool {
        let prefix = pattern.firstIndex(where: isGlobSpecial) ?? pattern.count
        guard prefix > 0 else { return matches(pattern: pattern, text: text) }
        guard prefix <= text.count, text[..<prefix].elementsEqual(pattern[..<prefix]) else {
            return false
        }
        if prefix == pattern.count { return text.count == prefix }
        return matches(pattern: Array(pattern[prefix...]), text: Array(text[prefix...]))
    }

    private static func isGlobSpecial(_ c: UInt8) -> Bool {
        c == star || c == question || c == open || c == backslash
    }

    private static func dowild(
        _ p: UnsafeBufferPointer<UInt8>, _ patternStart: Int,
        _ t: UnsafeBufferPointer<UInt8>, _ textStart: Int
    ) -> Result {
        var pi = patternStart
        var ti = textStart
        while p[pi] != 0 {
            var pch = p[pi]
            var tch = t[ti]
            if tch == 0 && pch != star { return .abortAll }
            switch pch {
            case question:
                if tch == slash { return .noMatch }
            case star:
                var matchSlash: Bool
                pi += 1
                if p[pi] == star {
                    let prev = pi - 2
                    while p[pi + 1] == star { pi += 1 }
                    pi += 1
                    if (prev < patternStart || p[prev] == slash)
                        && (p[pi] == 0 || p[pi] == slash || (p[pi] == backslash && p[pi + 1] == slash))
                    {
                        // "**/" may match nothing: try the rest of the pattern right here.
                        if p[pi] == slash && dowild(p, pi + 1, t, ti) == .match { return .match }
                        matchSlash = true
                    } else {
                        matchSlash = false
                    }
                } else {
                    matchSlash = false
                }
                if p[pi] == 0 {
                    // Trailing "**" matches everything; trailing "*" only if no more slashes.
                    if !matchSlash {
                        var k = ti
                        while t[k] != 0 {
                            if t[k] == slash { return .noMatch }
                            k += 1
                        }
                    }
                    return .match
                } else if !matchSlash && p[pi] == slash {
                    // A single "*" followed by "/" matches up to the next directory separator.
                    var k = ti
                    while t[k] != 0 && t[k] != slash { k += 1 }
                    if t[k] == 0 { return .noMatch }
                    ti = k
                    break  // the slash is consumed by the loop increment
                }
                while true {
                    if tch == 0 { break }
                    if !isGlobSpecial(p[pi]) {
                        let literal = p[pi]
                        while true {
                            tch = t[ti]
                            if tch == 0 || (!matchSlash && tch == slash) { break }
                            if tch == literal { break }
                            ti += 1
                        }
                        if tch != literal { return .noMatch }
                    }
                    let matched = dowild(p, pi, t, ti)
                    if matched != .noMatch {
                        if !matchSlash || matched != .abortToStarStar { return matched }
                    } else if !matchSlash && tch == slash {
                        return .abortToStarStar
                    }
                    ti += 1
                    tch = t[ti]
                }
                return .abortAll
            case open:
                pi += 1
                pch = p[pi]
                if pch == caret { pch = bang }
                let negated = pch == bang
                if negated {
                    pi += 1
                    pch = p[pi]
                }
                var prevCh: UInt8 = 0
                var matched = false
                while true {
                    if pch == 0 { return .abortAll }
                    if pch == backslash {
                        pi += 1
                        pch = p[pi]
                        if pch == 0 { return .abortAll }
                        if tch == pch { matched = true }
                    } else if pch == dash && prevCh != 0 && p[pi + 1] != 0 && p[pi + 1] != close {
                        pi += 1
                        pch = p[pi]
                        if pch == backslash {
                            pi += 1
                            pch = p[pi]
                            if pch == 0 { return .abortAll }
                        }
                        if tch <= pch && tch >= prevCh { matched = true }
                        pch = 0  // so that prevCh becomes 0
                    } else if pch == open && p[pi + 1] == colon {
                        pi += 2
                        let s = pi
                        while p[pi] != 0 && p[pi] != close { pi += 1 }
                        pch = p[pi]
                        if pch == 0 { return .abortAll }
                        let length = pi - s - 1
                        if length < 0 || p[pi - 1] != colon {
                            // Not "[:name:]": treat the "[" as an ordinary member.
                            pi = s - 2
                            pch = open
                            if tch == pch { matched = true }
                        } else {
                            let name = String(
                                decoding: UnsafeBufferPointer(rebasing: p[s..<(s + length)]), as: UTF8.self)
                            guard let member = characterClass(name, tch) else { return .abortAll }
                            if member { matched = true }
                            pch = 0
                        }
                    } else if tch == pch {
                        matched = true
                    }
                    prevCh = pch
                    pi += 1
                    pch = p[pi]
                    if pch == close { break }
                }
                if matched == negated || tch == slash { return .noMatch }
            default:
                if pch == backslash {
                    // Literal match with the following character.
                    pi += 1
                    pch = p[pi]
                }
                if tch != pch { return .noMatch }
            }
            pi += 1
            ti += 1
        }
        return t[ti] != 0 ? .noMatch : .match
    }

    /// Membership of `c` in POSIX class `name` (ASCII); nil for an unknown class name.
    private static func characterClass(_ name: String, _ c: UInt8) -> Bool? {
        let isUpper = c >= 0x41 && c <= 0x5A
        let isLower = c >= 0x61 && c <= 0x7A
        let isDigit = c >= 0x30 && c <= 0x39
        let isAlpha = isUpper || isLower
        let isPrint = c >= 0x20 && c <= 0x7E
        switch name {
        case "alnum": return isAlpha || isDigit
        case "alpha": return isAlpha
        case "blank": return c == 0x20 || c == 0x09
        case "cntrl": return c < 0x20 || c == 0x7F
        case "digit": return isDigit
        case "graph": return isPrint && c != 0x20
        case "lower": return isLower
        case "print": return isPrint
        case "punct": return isPrint && c != 0x20 && !isAlpha && !isDigit
        case "space": return c == 0x20 || (c >= 0x09 && c <= 0x0D)
        case "upper": return isUpper
        case "xdigit": return isDigit || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
        default: return nil
        }
    }
}

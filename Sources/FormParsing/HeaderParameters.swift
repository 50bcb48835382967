/// A header value of the form `type; key=value; key="quoted value"; key*=UTF-8''pct` (a
/// `Content-Type` or a `Content-Disposition`), split into its type and parameters.
///
/// Quoted strings follow Python's `email.utils.unquote`, which python-multipart (and so starlette)
/// uses: `\"` and `\\` stand for `"` and `\`, any other backslash is kept as is (so an unescaped
/// Windows path survives). Parameter names are case-insensitive.
struct ParameterizedHeader {
    struct Parameter {
        /// Lower-cased, without the `*` of an extended parameter.
        var key: [UInt8]
        /// Whether the parameter was `key*=…` (RFC 5987 / 8187 `charset'language'value`).
        var extended: Bool
        /// The value, unquoted but otherwise raw.
        var value: [UInt8]
    }

    /// The value before the first `;`, trimmed and lower-cased.
    var type: [UInt8]
    var parameters: [Parameter]
    /// What the header is, for messages ("Content-Type", "Content-Disposition of part #2").
    var what: String

    init(parsing v: UnsafeBufferPointer<UInt8>, what: String) throws(FormParseError) {
        self.what = what
        let n = v.count
        var i = 0
        while i < n && v[i] != Byte.semicolon { i += 1 }
        type = Self.trimmed(v, 0, i).map(Byte.lower)
        parameters = []
        while i < n {
            if v[i] == Byte.semicolon || Byte.isOWS(v[i]) {
                i += 1
                continue
            }
            let keyStart = i
            while i < n && v[i] != Byte.equals && v[i] != Byte.semicolon { i += 1 }
            var key = Self.trimmed(v, keyStart, i).map(Byte.lower)
            var extended = false
            if key.last == UInt8(ascii: "*") {
                key.removeLast()
                extended = true
            }
            if key.isEmpty {
                throw FormParseError(message: "malformed \(what): a parameter has no name")
            }
            if i == n || v[i] == Byte.semicolon {
                // `; foo` with no `=`: a parameter with an empty value, as Python's email parser has it.
                parameters.append(Parameter(key: key, extended: extended, value: []))
                continue
            }
            i += 1  // "="
            while i < n && Byte.isOWS(v[i]) { i += 1 }
            var value: [UInt8] = []
            if i < n && v[i] == Byte.quote {
                i += 1
                var closed = false
                while i < n {
                    let c = v[i]
                    if c == Byte.backslash && i + 1 < n {
                        let d = v[i + 1]
                        if d != Byte.quote && d != Byte.backslash { value.append(c) }
                        value.append(d)
                        i += 2
                    } else if c == Byte.quote {
                        closed = true
                        i += 1
                        break
                    } else {
                        value.append(c)
                        i += 1
                    }
                }
                if !closed {
                    throw FormParseError(
                        message: "malformed \(what): unterminated quoted string in parameter \(excerpt(key))")
                }
                while i < n && Byte.isOWS(v[i]) { i += 1 }
                if i < n && v[i] != Byte.semicolon {
                    throw FormParseError(
                        message:
                            "malformed \(what): unexpected text after the quoted value of parameter \(excerpt(key))"
                    )
                }
            } else {
                let valueStart = i
                while i < n && v[i] != Byte.semicolon { i += 1 }
                value = Self.trimmed(v, valueStart, i)
            }
            parameters.append(Parameter(key: key, extended: extended, value: value))
        }
    }

    init(parsing bytes: [UInt8], what: String) throws(FormParseError) {
        // `withUnsafeBufferPointer` with a typed-throws body keeps the error type.
        self = try bytes.withUnsafeBufferPointer { (buf) throws(FormParseError) -> ParameterizedHeader in
            try ParameterizedHeader(parsing: buf, what: what)
        }
    }

    private static func trimmed(_ v: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> [UInt8] {
        var s = start
        var e = end
        while s < e && Byte.isOWS(v[s]) { s += 1 }
        while e > s && Byte.isOWS(v[e - 1]) { e -= 1 }
        return Array(v[s..<e])
    }

    /// The raw bytes of the plain (`key=`) parameter, if present; an error if it appears twice.
    func raw(_ key: String) throws(FormParseError) -> [UInt8]? {
        let k = Array(key.utf8)
        var found: [UInt8]? = nil
        for p in parameters where !p.extended && p.key == k {
            if found != nil {
                throw FormParseError(message: "malformed \(what): duplicate \"\(key)\" parameter")
            }
            found = p.value
        }
        return found
    }

    /// The text of parameter `key`: the `key*=` form when present (RFC 5987), else the plain form
    /// decoded as UTF-8 (Latin-1 when not valid UTF-8, as starlette does). Nil when absent.
    func text(_ key: String) throws(FormParseError) -> String? {
        let k = Array(key.utf8)
        var extendedValue: [UInt8]? = nil
        for p in parameters where p.extended && p.key == k {
            if extendedValue != nil {
                throw FormParseError(message: "malformed \(what): duplicate \"\(key)*\" parameter")
            }
            extendedValue = p.value
        }
        let plain = try raw(key)
        if let extendedValue { return try decodeExtended(extendedValue, key: key) }
        return plain.map(decodeHeaderText)
    }

    /// `charset'language'percent-encoded` (RFC 8187); UTF-8 and ISO-8859-1 (and US-ASCII) only.
    private func decodeExtended(_ v: [UInt8], key: String) throws(FormParseError) -> String {
        guard let q1 = v.firstIndex(of: Byte.apostrophe),
            let q2 = v[(q1 + 1)...].firstIndex(of: Byte.apostrophe)
        else {
            throw FormParseError(
                message: "malformed \(what): \(key)* must have the form charset'language'value")
        }
        let charset = String(decoding: v[..<q1].map(Byte.lower), as: UTF8.self)
        let decoded = v[(q2 + 1)...].withUnsafeBufferPointer { percentDecode($0, plusAsSpace: false) }
        let bytes: [UInt8]
        switch decoded {
        case .success(let b): bytes = b
        case .failure(let e):
            throw FormParseError(
                message: "malformed \(what): invalid percent-escape \(e.escape) in \(key)*")
        }
        switch charset {
        case "utf-8", "utf8":
            guard let text = validUTF8String(bytes) else {
                throw FormParseError(message: "malformed \(what): \(key)* is not valid UTF-8")
            }
            return text
        case "iso-8859-1", "latin1", "latin-1", "us-ascii":
            return latin1String(bytes)
        default:
            throw FormParseError(
                message: "malformed \(what): unsupported charset \(excerpt(v[..<q1])) in \(key)*")
        }
    }
}

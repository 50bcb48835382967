/// Parses `multipart/form-data` and `application/x-www-form-urlencoded` request bodies into
/// ``FormPart``s, with starlette's semantics but stricter, each problem a ``FormParseError``.
///
/// Pure and allocation-light: bodies are scanned in place and every function is bounds-checked and
/// linear in its input, so any byte sequence is safe to pass.
public enum FormParser {
    /// The media type a Content-Type header selects, lower-cased, without parameters.
    ///
    /// `"Multipart/Form-Data; boundary=x"` → `"multipart/form-data"`.
    public static func mediaType(of contentType: String) -> String {
        var bytes: [UInt8] = []
        for b in contentType.utf8 {
            if b == Byte.semicolon { break }
            bytes.append(Byte.lower(b))
        }
        var s = 0
        var e = bytes.count
        while s < e && Byte.isOWS(bytes[s]) { s += 1 }
        while e > s && Byte.isOWS(bytes[e - 1]) { e -= 1 }
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }

    /// The boundary parameter of a multipart Content-Type (quoted or not); error if missing/empty/over
    /// 70 chars, or if it holds anything but printable ASCII.
    public static func boundary(fromContentType contentType: String) throws(FormParseError) -> String {
        let header = try ParameterizedHeader(parsing: Array(contentType.utf8), what: "Content-Type")
        guard let raw = try header.raw("boundary") else {
            throw FormParseError(message: "multipart Content-Type has no boundary parameter")
        }
        return try validatedBoundary(raw)
    }

    /// Parses a `multipart/form-data` body delimited by `boundary` (without the leading `--`).
    ///
    /// A part with a `filename` parameter (plain or `filename*=`) is a file; `value` is its exact bytes.
    /// Errors: a bad boundary, no opening boundary, a part without Content-Disposition or `name`,
    /// malformed or oversized part headers, a truncated body, more than `limits.maxParts` parts.
    public static func parseMultipart(
        _ body: [UInt8], boundary: String, limits: FormLimits = .init()
    ) throws(FormParseError) -> [FormPart] {
        try body.withUnsafeBufferPointer { (buf) throws(FormParseError) -> [FormPart] in
            try multipartRanges(in: buf, boundary: boundary, limits: limits).map { part in
                FormPart(
                    name: part.name, filename: part.filename, contentType: part.contentType,
                    value: Array(UnsafeBufferPointer(rebasing: buf[part.range])))
            }
        }
    }

    /// The same parse, without copying any data: each part is a byte range over `body`.
    public static func multipartRanges(
        in body: UnsafeBufferPointer<UInt8>, boundary: String, limits: FormLimits = .init()
    ) throws(FormParseError) -> [FormPartRange] {
        let b = try validatedBoundary(Array(boundary.utf8))
        let dash: [UInt8] = [Byte.dash, Byte.dash] + Array(b.utf8)
        let crlfDelimiter: [UInt8] = [Byte.cr, Byte.lf] + dash
        let lfDelimiter: [UInt8] = [Byte.lf] + dash
        return try dash.withUnsafeBufferPointer { (dashBuf) throws(FormParseError) -> [FormPartRange] in
            try crlfDelimiter.withUnsafeBufferPointer { (crlfBuf) throws(FormParseError) -> [FormPartRange] in
                try lfDelimiter.withUnsafeBufferPointer { (lfBuf) throws(FormParseError) -> [FormPartRange] in
                    try MultipartScanner(
                        buf: body, dashBoundary: dashBuf, crlfDelimiter: crlfBuf, lfDelimiter: lfBuf,
                        boundary: b, limits: limits
                    ).parse()
                }
            }
        }
    }

    /// Parses an `application/x-www-form-urlencoded` body: `&`-separated `name=value` pairs, `+` as a
    /// space, `%XX` escapes. Like Python's `parse_qsl(keep_blank_values=True)`: a pair without `=` has
    /// the value `""`, empty pairs are skipped, order and repeats are kept. Only `&` separates pairs.
    ///
    /// Errors: a malformed `%` escape, a name or value that is not UTF-8 once decoded, more than
    /// `limits.maxParts` fields. `filename` and `contentType` are always nil.
    public static func parseURLEncoded(
        _ body: [UInt8], limits: FormLimits = .init()
    ) throws(FormParseError) -> [FormPart] {
        try body.withUnsafeBufferPointer { (buf) throws(FormParseError) -> [FormPart] in
            try parseURLEncoded(buf, limits: limits)
        }
    }

    static func parseURLEncoded(
        _ buf: UnsafeBufferPointer<UInt8>, limits: FormLimits
    ) throws(FormParseError) -> [FormPart] {
        let n = buf.count
        var fields: [FormPart] = []
        var start = 0
        while start < n {
            let end = Byte.find(Byte.ampersand, in: buf, from: start, to: n) ?? n
            defer { start = end + 1 }
            if end == start { continue }
            if fields.count >= limits.maxParts {
                throw FormParseError(message: "form body has more than \(limits.maxParts) fields")
            }
            let eq = Byte.find(Byte.equals, in: buf, from: start, to: end)
            let nameBytes: [UInt8]
            switch percentDecode(UnsafeBufferPointer(rebasing: buf[start..<(eq ?? end)]), plusAsSpace: true) {
            case .success(let b): nameBytes = b
            case .failure(let e):
                throw FormParseError(message: "invalid percent-escape \(e.escape) in a form field name")
            }
            guard let name = validUTF8String(nameBytes) else {
                throw FormParseError(
                    message: "form field name \(excerpt(nameBytes)) is not valid UTF-8 once decoded")
            }
            var value: [UInt8] = []
            if let eq {
                switch percentDecode(UnsafeBufferPointer(rebasing: buf[(eq + 1)..<end]), plusAsSpace: true) {
                case .success(let b): value = b
                case .failure(let e):
                    throw FormParseError(
                        message: "invalid percent-escape \(e.escape) in the value of form field \(excerpt(name))")
                }
                guard isValidUTF8(value) else {
                    throw FormParseError(
                        message: "the value of form field \(excerpt(name)) is not valid UTF-8 once decoded")
                }
            }
            fields.append(FormPart(name: name, value: value))
        }
        return fields
    }

    /// Checks a boundary (RFC 2046: 1 to 70 characters; here any printable ASCII is accepted).
    static func validatedBoundary(_ raw: [UInt8]) throws(FormParseError) -> String {
        if raw.isEmpty {
            throw FormParseError(message: "multipart boundary is empty")
        }
        if raw.count > 70 {
            throw FormParseError(message: "multipart boundary is longer than 70 characters")
        }
        if !raw.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            throw FormParseError(
                message: "multipart boundary \(excerpt(raw)) contains characters other than printable ASCII")
        }
        return String(decoding: raw, as: UTF8.self)
    }
}

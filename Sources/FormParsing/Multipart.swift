/// A `multipart/form-data` body (RFC 7578 over RFC 2046) parsed in one pass over contiguous bytes.
///
/// Layout: an ignored preamble; the opening `--boundary` at the start of the body or of a line; then
/// per part a header block ending with an empty line, the data, and `CRLF--boundary`; the last
/// delimiter is `--boundary--`, after which the epilogue is ignored. A delimiter may be followed by
/// spaces or tabs (transport padding) before its line ending.
///
/// Line endings: the line ending after the opening delimiter fixes the one the body uses between a
/// part's data and the next delimiter: CRLF (the standard), or a bare LF for bodies written with LF
/// line endings. Header lines may end with either. `--boundary` inside data that is not followed by
/// `--`, padding plus a line ending is data (python-multipart does the same).
///
/// Cost: the data is scanned with `memchr` for the delimiter's first byte, each hit compared against
/// the whole delimiter; at most `delimiter length` work per hit, so linear in the body.
struct MultipartScanner {
    let buf: UnsafeBufferPointer<UInt8>
    /// `--boundary`.
    let dashBoundary: UnsafeBufferPointer<UInt8>
    /// `\r\n--boundary` and `\n--boundary`.
    let crlfDelimiter: UnsafeBufferPointer<UInt8>
    let lfDelimiter: UnsafeBufferPointer<UInt8>
    let boundary: String
    let limits: FormLimits

    /// What follows a `--boundary` that was found.
    enum Tail {
        /// `--`: the close delimiter.
        case close
        /// Padding and a line ending; the next part starts at `next`.
        case line(next: Int, crlf: Bool)
        /// The body ends before it is clear.
        case incomplete
        /// Something else: this was not a delimiter.
        case notDelimiter
    }

    func tail(at p: Int) -> Tail {
        let n = buf.count
        if p >= n { return .incomplete }
        if buf[p] == Byte.dash {
            if p + 1 >= n { return .incomplete }
            if buf[p + 1] == Byte.dash { return .close }
        }
        var q = p
        while q < n && Byte.isOWS(buf[q]) { q += 1 }
        if q >= n { return .incomplete }
        if buf[q] == Byte.lf { return .line(next: q + 1, crlf: false) }
        if buf[q] == Byte.cr {
            if q + 1 >= n { return .incomplete }
            if buf[q + 1] == Byte.lf { return .line(next: q + 2, crlf: true) }
        }
        return .notDelimiter
    }

    func parse() throws(FormParseError) -> [FormPartRange] {
        // Opening delimiter: at offset 0 or right after any LF of the preamble.
        var next: Int
        let crlf: Bool
        var candidate = 0
        opening: while true {
            if Byte.matches(dashBoundary, in: buf, at: candidate) {
                switch tail(at: candidate + dashBoundary.count) {
                case .close: return []
                case .line(let n, let c):
                    next = n
                    crlf = c
                    break opening
                case .incomplete:
                    throw FormParseError(
                        message: "multipart body is truncated: it ends at the opening boundary")
                case .notDelimiter: break
                }
            }
            guard let lf = Byte.find(Byte.lf, in: buf, from: candidate, to: buf.count) else {
                throw FormParseError(
                    message: "multipart body does not contain the opening boundary \"--\(boundary)\"")
            }
            candidate = lf + 1
        }

        let delimiter = crlf ? crlfDelimiter : lfDelimiter
        var parts: [FormPartRange] = []
        while true {
            if parts.count >= limits.maxParts {
                throw FormParseError(
                    message: "multipart body has more than \(limits.maxParts) parts")
            }
            let number = parts.count + 1
            let (header, dataStart) = try parseHeaders(from: next, part: number)
            let (dataEnd, tail) = try findDelimiter(delimiter, from: dataStart, part: number)
            parts.append(
                FormPartRange(
                    name: header.name, filename: header.filename, contentType: header.contentType,
                    range: dataStart..<dataEnd))
            guard let t = tail else { return parts }
            next = t
        }
    }

    struct PartHeader {
        var name: String
        var filename: String?
        var contentType: String?
    }

    /// Reads the header block starting at `start`; returns it and where the data begins.
    func parseHeaders(from start: Int, part: Int) throws(FormParseError) -> (PartHeader, Int) {
        let n = buf.count
        let maxBytes = max(0, limits.maxHeaderBytesPerPart)
        // Header lines may take `maxBytes`; the empty line after them at most 2 more.
        let searchEnd = maxBytes >= n - start ? n : min(n, start + maxBytes + 2)
        var disposition: (Int, Int)? = nil
        var contentType: String? = nil
        var p = start
        var dataStart = start
        while true {
            guard let lf = Byte.find(Byte.lf, in: buf, from: p, to: searchEnd) else {
                if searchEnd < n {
                    throw FormParseError(
                        message: "headers of multipart part #\(part) exceed \(maxBytes) bytes")
                }
                throw FormParseError(
                    message: "multipart body is truncated inside the headers of part #\(part)")
            }
            var lineEnd = lf
            if lineEnd > p && buf[lineEnd - 1] == Byte.cr { lineEnd -= 1 }
            if lineEnd == p {  // The empty line.
                dataStart = lf + 1
                break
            }
            if lf + 1 - start > maxBytes {
                throw FormParseError(
                    message: "headers of multipart part #\(part) exceed \(maxBytes) bytes")
            }
            guard let colon = Byte.find(Byte.colon, in: buf, from: p, to: lineEnd) else {
                throw FormParseError(
                    message:
                        "malformed header in multipart part #\(part): no colon in \(excerpt(buf[p..<lineEnd]))")
            }
            if colon == p || !buf[p..<colon].allSatisfy(Byte.isTokenChar) {
                throw FormParseError(
                    message:
                        "malformed header in multipart part #\(part): invalid header name \(excerpt(buf[p..<colon]))")
            }
            var vs = colon + 1
            var ve = lineEnd
            while vs < ve && Byte.isOWS(buf[vs]) { vs += 1 }
            while ve > vs && Byte.isOWS(buf[ve - 1]) { ve -= 1 }
            if Self.equalsLowercased(buf[p..<colon], "content-disposition") {
                if disposition != nil {
                    throw FormParseError(
                        message: "multipart part #\(part) has more than one Content-Disposition header")
                }
                disposition = (vs, ve)
            } else if Self.equalsLowercased(buf[p..<colon], "content-type") {
                contentType = decodeHeaderText(Array(buf[vs..<ve]))
            }
            p = lf + 1
        }

        guard let (ds, de) = disposition else {
            throw FormParseError(message: "multipart part #\(part) has no Content-Disposition header")
        }
        let what = "Content-Disposition of multipart part #\(part)"
        let cd = try ParameterizedHeader(parsing: UnsafeBufferPointer(rebasing: buf[ds..<de]), what: what)
        if cd.type.isEmpty {
            throw FormParseError(message: "malformed \(what): no disposition type")
        }
        guard let name = try cd.text("name") else {
            throw FormParseError(message: "multipart part #\(part): Content-Disposition has no \"name\" parameter")
        }
        var filename = try cd.text("filename")
        if let f = filename { filename = Self.stripWindowsPath(f) }
        return (PartHeader(name: name, filename: filename, contentType: contentType), dataStart)
    }

    /// Finds the delimiter that ends a part's data starting at `from`: returns where the data ends
    /// and where the next part starts (nil after the close delimiter).
    func findDelimiter(
        _ delimiter: UnsafeBufferPointer<UInt8>, from: Int, part: Int
    ) throws(FormParseError) -> (Int, Int?) {
        let n = buf.count
        let first = delimiter[0]
        var from = from
        while n - from >= delimiter.count,
            let i = Byte.find(first, in: buf, from: from, to: n - delimiter.count + 1)
        {
            if Byte.matches(delimiter, in: buf, at: i) {
                switch tail(at: i + delimiter.count) {
                case .close: return (i, nil)
                case .line(let next, _): return (i, next)
                case .incomplete:
                    throw FormParseError(
                        message: "multipart body is truncated: it ends inside the boundary after part #\(part)")
                case .notDelimiter: break
                }
            }
            from = i + 1
        }
        throw FormParseError(
            message: "multipart body is truncated: no boundary after the data of part #\(part)")
    }

    static func equalsLowercased(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        let p = name.utf8Start
        var k = 0
        for b in bytes {
            if Byte.lower(b) != p[k] { return false }
            k += 1
        }
        return true
    }

    /// IE sent the full client path (`C:\dir\f.txt`, `\\host\share\f.txt`); keep the last component,
    /// as python-multipart does.
    static func stripWindowsPath(_ name: String) -> String {
        let u = Array(name.utf8)
        let drive = u.count >= 3 && u[1] == Byte.colon && u[2] == Byte.backslash
        let unc = u.count >= 2 && u[0] == Byte.backslash && u[1] == Byte.backslash
        guard drive || unc, let last = u.lastIndex(of: Byte.backslash) else { return name }
        return String(decoding: u[(last + 1)...], as: UTF8.self)
    }
}

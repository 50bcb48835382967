#if canImport(Darwin)
    import Darwin
#elseif canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Byte constants and small byte-level helpers shared by the parsers.
enum Byte {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let dash: UInt8 = 0x2D
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let apostrophe: UInt8 = 0x27
    static let percent: UInt8 = 0x25
    static let plus: UInt8 = 0x2B
    static let ampersand: UInt8 = 0x26

    /// The index of the first `byte` in `buf[from..<end]`, or nil. Out-of-range bounds find nothing.
    @inline(__always)
    static func find(
        _ byte: UInt8, in buf: UnsafeBufferPointer<UInt8>, from: Int, to end: Int
    ) -> Int? {
        guard from >= 0, from < end, end <= buf.count, let base = buf.baseAddress else { return nil }
        #if canImport(Darwin) || canImport(Glibc) || canImport(Musl)
            guard let hit = memchr(base + from, Int32(byte), end - from) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        #else
            var i = from
            while i < end {
                if buf[i] == byte { return i }
                i += 1
            }
            return nil
        #endif
    }

    /// Whether `buf[at..<at + pattern.count]` exists and equals `pattern`.
    @inline(__always)
    static func matches(
        _ pattern: UnsafeBufferPointer<UInt8>, in buf: UnsafeBufferPointer<UInt8>, at: Int
    ) -> Bool {
        guard at >= 0, pattern.count <= buf.count - at else { return false }
        guard let base = buf.baseAddress, let p = pattern.baseAddress else { return pattern.isEmpty }
        #if canImport(Darwin) || canImport(Glibc) || canImport(Musl)
            return memcmp(base + at, p, pattern.count) == 0
        #else
            var i = 0
            while i < pattern.count {
                if base[at + i] != p[i] { return false }
                i += 1
            }
            return true
        #endif
    }

    /// The value of an ASCII hex digit, or nil.
    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c &- 0x30
        case 0x41...0x46: return c &- 0x41 &+ 10
        case 0x61...0x66: return c &- 0x61 &+ 10
        default: return nil
        }
    }

    /// ASCII lower-casing of one byte.
    @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 {
        (c >= 0x41 && c <= 0x5A) ? c | 0x20 : c
    }

    /// Whether `c` may appear in an HTTP token (RFC 9110 `tchar`).
    @inline(__always)
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E:
            return true
        default: return false
        }
    }

    @inline(__always)
    static func isOWS(_ c: UInt8) -> Bool { c == space || c == tab }
}

/// Strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF): the standard
/// library's validating decoder.
func isValidUTF8<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
    validUTF8String(bytes) != nil
}

/// The text of `bytes` if they are strict UTF-8, else nil.
func validUTF8String<C: Collection>(_ bytes: C) -> String? where C.Element == UInt8 {
    String(validating: bytes, as: UTF8.self)
}

/// Text of header bytes the way starlette decodes names and file names: UTF-8 when valid, else Latin-1.
func decodeHeaderText(_ bytes: [UInt8]) -> String {
    validUTF8String(bytes) ?? latin1String(bytes)
}

func latin1String(_ bytes: [UInt8]) -> String {
    var scalars = String.UnicodeScalarView()
    scalars.reserveCapacity(bytes.count)
    for b in bytes { scalars.append(Unicode.Scalar(b)) }
    return String(scalars)
}

/// A short, printable rendering of untrusted bytes for an error message: printable ASCII as is,
/// `"` and `\` escaped, everything else `\xNN`, cut after `limit` bytes with "…".
func excerpt<C: Collection>(_ bytes: C, limit: Int = 40) -> String where C.Element == UInt8 {
    var out = "\""
    var count = 0
    for b in bytes {
        if count == limit {
            out += "…"
            break
        }
        count += 1
        switch b {
        case Byte.quote: out += "\\\""
        case Byte.backslash: out += "\\\\"
        case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            out += "\\x"
            out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
            out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 0xF)]))
        }
    }
    return out + "\""
}

/// A field name for an error message, quoted and shortened.
func excerpt(_ text: String, limit: Int = 40) -> String {
    var out = "\""
    var count = 0
    for ch in text.unicodeScalars {
        if count == limit {
            out += "…"
            break
        }
        count += 1
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        default:
            if ch.value < 0x20 || ch.value == 0x7F {
                out += "\\u{\(String(ch.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(ch)
            }
        }
    }
    return out + "\""
}

/// Percent-decodes `src` (`+` becomes a space when `plusAsSpace`). On a bad escape returns the index
/// of its `%` in `src` instead.
func percentDecode(_ src: UnsafeBufferPointer<UInt8>, plusAsSpace: Bool) -> Result<[UInt8], PercentError> {
    // Fast path: nothing to decode.
    var needsWork = false
    for c in src where c == Byte.percent || (plusAsSpace && c == Byte.plus) {
        needsWork = true
        break
    }
    if !needsWork { return .success(Array(src)) }

    var badAt: Int? = nil
    let out = [UInt8](unsafeUninitializedCapacity: src.count) { out, initialized in
        var r = 0
        var w = 0
        let n = src.count
        while r < n {
            let c = src[r]
            if c == Byte.percent {
                guard r + 2 < n, let hi = Byte.hexValue(src[r + 1]), let lo = Byte.hexValue(src[r + 2])
                else {
                    badAt = r
                    break
                }
                out[w] = hi << 4 | lo
                r += 3
            } else {
                out[w] = (plusAsSpace && c == Byte.plus) ? Byte.space : c
                r += 1
            }
            w += 1
        }
        initialized = w
    }
    if let badAt {
        let end = min(src.count, badAt + 3)
        return .failure(PercentError(escape: excerpt(src[badAt..<end])))
    }
    return .success(out)
}

/// A malformed `%XX` escape, rendered for a message.
struct PercentError: Error {
    var escape: String
}

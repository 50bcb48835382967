// libFuzzer target: FormParser.parseMultipart (and the boundary check) on arbitrary bytes.
//
// Compiled together with Sources/FormParsing/*.swift into one module (see fuzz/run.sh), so the
// harness also reaches internal helpers. Input layout:
//   byte 0      limits selector (small limits exercise the "too many parts" / "headers too big" paths)
//   byte 1      boundary length L (1 + byte % 72: a few lengths are invalid on purpose)
//   L bytes     the boundary (any bytes: invalid ones must be rejected with an error, never a crash)
//   rest        the body
// On success the parts are re-serialized canonically (CRLF, quoted/extended parameters) with the same
// boundary and parsed again: the result must be identical (parser and serializer agree).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard input.count >= 2 else { return 0 }
    let selector = input[0]
    let length = 1 + Int(input[1]) % 72
    guard input.count >= 2 + length else { return 0 }
    let boundaryBytes = Array(input[2..<(2 + length)])
    let body = Array(input[(2 + length)...])
    let limits: FormLimits =
        selector & 1 == 0 ? FormLimits() : FormLimits(maxParts: Int(selector >> 4), maxHeaderBytesPerPart: Int(selector))
    // The boundary as the front gets it: from a Content-Type header (quoted form too).
    let boundaryString = String(decoding: boundaryBytes, as: UTF8.self)
    _ = try? FormParser.boundary(fromContentType: "multipart/form-data; boundary=" + boundaryString)
    _ = try? FormParser.boundary(fromContentType: "multipart/form-data; boundary=\"" + boundaryString + "\"")

    let parts: [FormPart]
    do {
        parts = try FormParser.parseMultipart(body, boundary: boundaryString, limits: limits)
    } catch {
        check(!error.message.isEmpty, "empty error message")
        return 0
    }
    // A boundary that parsed is 1...70 printable ASCII characters.
    let b = Array(boundaryString.utf8)
    check(!b.isEmpty && b.count <= 70 && b.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "accepted a bad boundary")
    check(parts.count <= limits.maxParts, "more parts than the limit")
    var total = 0
    for part in parts { total += part.value.count }
    check(total <= body.count, "parts hold more bytes than the body")

    let again: [FormPart]
    do {
        again = try FormParser.parseMultipart(serialize(parts, boundary: boundaryString), boundary: boundaryString)
    } catch {
        fatalError("re-serialized parts do not parse: \(error.message)")
    }
    check(again == parts, "round trip changed the parts")
    return 0
}

func check(_ condition: Bool, _ message: String) {
    if !condition { fatalError(message) }
}

/// `name*=utf-8''…`: exact for any string.
func extendedParameter(_ key: String, _ value: String) -> [UInt8] {
    let hex = Array("0123456789ABCDEF".utf8)
    var out = Array("; \(key)*=utf-8''".utf8)
    for c in value.utf8 {
        let unreserved = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        if unreserved {
            out.append(c)
        } else {
            out += [0x25, hex[Int(c >> 4)], hex[Int(c & 0xF)]]
        }
    }
    return out
}

func serialize(_ parts: [FormPart], boundary: String) -> [UInt8] {
    var out: [UInt8] = []
    let crlf: [UInt8] = [0x0D, 0x0A]
    for part in parts {
        out += Array("--\(boundary)".utf8) + crlf
        out += Array("Content-Disposition: form-data".utf8) + extendedParameter("name", part.name)
        if let filename = part.filename { out += extendedParameter("filename", filename) }
        out += crlf
        if let contentType = part.contentType { out += Array("Content-Type: \(contentType)".utf8) + crlf }
        out += crlf
        out += part.value + crlf
    }
    out += Array("--\(boundary)--".utf8) + crlf
    return out
}

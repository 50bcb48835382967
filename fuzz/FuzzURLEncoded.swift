// libFuzzer target: FormParser.parseURLEncoded, FormParser.mediaType and FormParser.boundary on
// arbitrary bytes. Compiled together with Sources/FormParsing/*.swift (see fuzz/run.sh).
//
// byte 0 selects what the rest is: even → an urlencoded body (parsed, then re-encoded and parsed again:
// the fields must be identical); odd → a Content-Type header value (media type and boundary).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzURLEncoded(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let selector = input.first else { return 0 }
    let rest = Array(input.dropFirst())
    if selector & 1 == 1 {
        let header = String(decoding: rest, as: UTF8.self)
        let media = FormParser.mediaType(of: header)
        check(!media.utf8.contains(0x3B), "media type contains ';'")
        if let boundary = try? FormParser.boundary(fromContentType: header) {
            let b = Array(boundary.utf8)
            check(!b.isEmpty && b.count <= 70 && b.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "accepted a bad boundary")
        }
        return 0
    }
    let limits = selector & 2 == 0 ? FormLimits() : FormLimits(maxParts: Int(selector >> 2))
    let fields: [FormPart]
    do {
        fields = try FormParser.parseURLEncoded(rest, limits: limits)
    } catch {
        check(!error.message.isEmpty, "empty error message")
        return 0
    }
    check(fields.count <= limits.maxParts, "more fields than the limit")
    for field in fields {
        check(field.filename == nil && field.contentType == nil, "urlencoded field with file attributes")
    }
    var encoded: [UInt8] = []
    for (i, field) in fields.enumerated() {
        if i > 0 { encoded.append(0x26) }
        encoded += percentEncode(Array(field.name.utf8)) + [0x3D] + percentEncode(field.value)
    }
    let again: [FormPart]
    do {
        again = try FormParser.parseURLEncoded(encoded)
    } catch {
        fatalError("re-encoded fields do not parse: \(error.message)")
    }
    check(again == fields, "round trip changed the fields")
    return 0
}

func check(_ condition: Bool, _ message: String) {
    if !condition { fatalError(message) }
}

func percentEncode(_ bytes: [UInt8]) -> [UInt8] {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for c in bytes {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.append(c)
        case 0x20: out.append(0x2B)
        default: out += [0x25, hex[Int(c >> 4)], hex[Int(c & 0xF)]]
        }
    }
    return out
}

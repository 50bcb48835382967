import FormParsing

/// The UTF-8 bytes of `s`.
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A small deterministic generator (SplitMix64) so property tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The message of the error `body` throws, or nil when it succeeds.
func errorMessage<T>(_ body: () throws(FormParseError) -> T) -> String? {
    do {
        _ = try body()
        return nil
    } catch {
        return error.message
    }
}

/// A field to encode into a test multipart body.
struct TestField {
    var name: String
    var filename: String?
    var contentType: String?
    var value: [UInt8]

    var expected: FormPart {
        FormPart(name: name, filename: filename, contentType: contentType, value: value)
    }
}

/// How the test encoder writes a body.
struct EncodeStyle {
    var lineEnding = "\r\n"
    var preamble = ""
    var epilogue = ""
    /// Header names as written, e.g. "content-disposition".
    var dispositionHeader = "Content-Disposition"
    var contentTypeHeader = "Content-Type"
    /// Write `name=token` when the name is a token.
    var unquotedNames = false
    /// Write the file name as `filename*=UTF-8''…` (and also a plain ASCII fallback when true).
    var extendedFilename = false
    var fallbackFilename = false
    /// Put Content-Type before Content-Disposition.
    var contentTypeFirst = false
    /// An extra header line in every part.
    var extraHeader: String? = nil
    /// Spaces after each delimiter (transport padding).
    var padding = ""
}

/// Quotes `s` as python / browsers would: `\` and `"` escaped.
func quoted(_ s: String) -> String {
    var out = "\""
    for ch in s {
        if ch == "\"" || ch == "\\" { out.append("\\") }
        out.append(ch)
    }
    return out + "\""
}

func isToken(_ s: String) -> Bool {
    !s.isEmpty
        && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || Array("!#$%&'*+-.^_`|~".utf8).contains(c)
        }
}

/// RFC 8187 value: every byte that is not alphanumeric percent-encoded.
func extendedValue(_ s: String) -> String {
    var out = "UTF-8''"
    let hex = Array("0123456789ABCDEF")
    for c in s.utf8 {
        if (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) {
            out.append(Character(Unicode.Scalar(c)))
        } else {
            out += "%" + String(hex[Int(c >> 4)]) + String(hex[Int(c & 0xF)])
        }
    }
    return out
}

/// A small multipart/form-data encoder for the tests.
func encodeMultipart(_ fields: [TestField], boundary: String, style: EncodeStyle = .init()) -> [UInt8] {
    let nl = style.lineEnding
    var out: [UInt8] = bytes(style.preamble)
    for field in fields {
        out += bytes("--\(boundary)\(style.padding)\(nl)")
        var disposition = "\(style.dispositionHeader): form-data; name="
        disposition += (style.unquotedNames && isToken(field.name)) ? field.name : quoted(field.name)
        if let filename = field.filename {
            if style.extendedFilename {
                if style.fallbackFilename { disposition += "; filename=\"fallback.bin\"" }
                disposition += "; filename*=" + extendedValue(filename)
            } else {
                disposition += "; filename=" + quoted(filename)
            }
        }
        var headers = [disposition]
        if let ct = field.contentType {
            let line = "\(style.contentTypeHeader): \(ct)"
            if style.contentTypeFirst { headers.insert(line, at: 0) } else { headers.append(line) }
        }
        if let extra = style.extraHeader { headers.append(extra) }
        for h in headers { out += bytes(h + nl) }
        out += bytes(nl)
        out += field.value
        out += bytes(nl)
    }
    out += bytes("--\(boundary)--\(style.padding)\(nl)")
    out += bytes(style.epilogue)
    return out
}

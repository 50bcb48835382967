import FormParsing
import Testing

@Suite struct PropertyTests {
    static let nameAlphabet: [String] = [
        "a", "b", "Z", "0", "_", "-", ".", " ", "é", "日", "😀", "\"", "\\", ";", "=", "'", "%", ",", "\t",
    ]
    static let contentTypes: [String?] = [
        nil, "text/plain", "application/octet-stream", "image/png", "text/csv; charset=utf-8",
    ]

    func randomText(_ rng: inout SplitMix64, maxLength: Int) -> String {
        (0..<Int.random(in: 0...maxLength, using: &rng))
            .map { _ in Self.nameAlphabet.randomElement(using: &rng)! }.joined()
    }

    func randomValue(_ rng: inout SplitMix64, boundary: String) -> [UInt8] {
        // Random bytes with pieces that look like delimiters but are not.
        let tricky: [[UInt8]] = [
            bytes("\r\n"), bytes("\n"), bytes("\r"), bytes("--"), bytes("\r\n--"), bytes("\n--"),
            // Each boundary look-alike ends with a byte that stops it from becoming a delimiter, whatever
            // piece comes next.
            bytes("\r\n--\(boundary.dropLast())\u{7F}"), bytes("\r\n--\(boundary)X"), bytes("\n--\(boundary)-x"),
            bytes("--\(boundary)X"),
        ]
        var value: [UInt8] = []
        for _ in 0..<Int.random(in: 0...12, using: &rng) {
            if Bool.random(using: &rng) {
                value += tricky.randomElement(using: &rng)!
            } else {
                value += (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
        }
        return value
    }

    @Test func multipartRoundTrip() throws {
        var rng = SplitMix64(seed: 7578)
        let boundaryChars = Array("abcdefXYZ0123456789-_'()+,./:=? ")
        for iteration in 0..<400 {
            // A random boundary that does not end with a space (RFC 2046).
            var boundary = String(
                (0..<Int.random(in: 8...70, using: &rng)).map { _ in boundaryChars.randomElement(using: &rng)! })
            if boundary.hasSuffix(" ") { boundary = String(boundary.dropLast()) + "q" }
            if boundary.hasPrefix("-") { boundary = "q" + boundary.dropFirst() }  // `---b` would shadow `--b--`.

            var fields: [TestField] = []
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                let isFile = Bool.random(using: &rng)
                fields.append(
                    TestField(
                        name: randomText(&rng, maxLength: 8),
                        filename: isFile ? "f" + randomText(&rng, maxLength: 8) : nil,
                        contentType: Self.contentTypes.randomElement(using: &rng)!,
                        value: randomValue(&rng, boundary: boundary)))
            }
            var style = EncodeStyle()
            style.lineEnding = Bool.random(using: &rng) ? "\r\n" : "\n"
            if Bool.random(using: &rng) { style.preamble = "This is a preamble.\(style.lineEnding)--\(boundary)Z\n" }
            if Bool.random(using: &rng) { style.epilogue = "epilogue \r\n--\(boundary)\r\n junk" }
            style.dispositionHeader = ["Content-Disposition", "content-disposition", "CONTENT-DISPOSITION"]
                .randomElement(using: &rng)!
            style.contentTypeHeader = ["Content-Type", "content-type"].randomElement(using: &rng)!
            style.unquotedNames = Bool.random(using: &rng)
            style.extendedFilename = Bool.random(using: &rng)
            style.fallbackFilename = Bool.random(using: &rng)
            style.contentTypeFirst = Bool.random(using: &rng)
            style.extraHeader = Bool.random(using: &rng) ? "X-Extra: 1; a=\"b\"" : nil
            style.padding = Bool.random(using: &rng) ? " \t" : ""

            let body = encodeMultipart(fields, boundary: boundary, style: style)
            let parsed = try FormParser.parseMultipart(body, boundary: boundary)
            #expect(parsed == fields.map(\.expected), "iteration \(iteration), boundary \(boundary)")

            // The same boundary read back from a Content-Type header.
            let header = "multipart/form-data; boundary=\(quoted(boundary))"
            #expect(try FormParser.boundary(fromContentType: header) == boundary)
        }
    }

    /// Mutated bodies (truncated, bytes flipped, pieces duplicated) must parse or throw, never crash.
    @Test func mutatedBodiesNeverCrash() {
        var rng = SplitMix64(seed: 2046)
        let boundary = "b0undary"
        let seedBody = encodeMultipart(
            [
                TestField(name: "a", value: bytes("hello")),
                TestField(
                    name: "f", filename: "x.bin", contentType: "application/octet-stream", value: [0, 13, 10, 45, 45]),
                TestField(name: "é", filename: "", value: []),
            ], boundary: boundary)
        let interesting: [[UInt8]] = [
            [13], [10], [45], [34], [92], [59], [61], [58], [37], [39], [42], bytes("--\(boundary)"), bytes("\r\n\r\n"),
            bytes("filename*="), bytes("%"),
        ]
        var outcomes = (ok: 0, failed: 0)
        for _ in 0..<3000 {
            var body = seedBody
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                guard !body.isEmpty else { break }
                let at = Int.random(in: 0..<body.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: body.removeSubrange(at...)
                case 1: body[at] = UInt8.random(in: 0...255, using: &rng)
                case 2: body.insert(contentsOf: interesting.randomElement(using: &rng)!, at: at)
                default: body.remove(at: at)
                }
            }
            let limits = FormLimits(
                maxParts: Int.random(in: 0...4, using: &rng), maxHeaderBytesPerPart: Int.random(in: 0...80, using: &rng)
            )
            for lim in [FormLimits(), limits] {
                do {
                    _ = try FormParser.parseMultipart(body, boundary: boundary, limits: lim)
                    outcomes.ok += 1
                } catch {
                    #expect(!error.message.isEmpty)
                    outcomes.failed += 1
                }
                _ = try? FormParser.parseURLEncoded(body, limits: lim)
            }
            _ = try? FormParser.boundary(fromContentType: String(decoding: body.prefix(120), as: UTF8.self))
        }
        #expect(outcomes.ok > 0 && outcomes.failed > 0)
    }

    /// The UTF-8 check on decoded urlencoded values agrees with the standard library's decoder.
    @Test func utf8ValidatorMatchesStandardLibrary() {
        var rng = SplitMix64(seed: 3629)
        let samples: [[UInt8]] = [
            [], [0x7F], [0xC2, 0x80], [0xC1, 0xBF], [0xE0, 0x9F, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF],
            [0xED, 0xA0, 0x80], [0xF0, 0x8F, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x82], [0x80], [0xFF],
        ]
        var inputs = samples
        let leads: [UInt8] = [0x00, 0x41, 0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
        let conts: [UInt8] = [0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0x41]
        for _ in 0..<20_000 {
            var b: [UInt8] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                b.append(
                    Bool.random(using: &rng) ? leads.randomElement(using: &rng)! : conts.randomElement(using: &rng)!)
            }
            inputs.append(b)
        }
        let hex = Array("0123456789ABCDEF".utf8)
        for b in inputs {
            let reference = Array(String(decoding: b, as: UTF8.self).utf8) == b
            var body = bytes("v=")
            for c in b { body += [UInt8(ascii: "%"), hex[Int(c >> 4)], hex[Int(c & 0xF)]] }
            let accepted = (try? FormParser.parseURLEncoded(body)) != nil
            #expect(accepted == reference, "\(b)")
        }
    }
}

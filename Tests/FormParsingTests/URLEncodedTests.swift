import FormParsing
import Testing

@Suite struct URLEncodedTests {
    func parse(_ s: String, limits: FormLimits = .init()) throws -> [FormPart] {
        try FormParser.parseURLEncoded(bytes(s), limits: limits)
    }

    func pairs(_ s: String) throws -> [[String]] {
        try parse(s).map { [$0.name, String(decoding: $0.value, as: UTF8.self)] }
    }

    func error(_ body: [UInt8], limits: FormLimits = .init()) -> String? {
        errorMessage { () throws(FormParseError) in try FormParser.parseURLEncoded(body, limits: limits) }
    }

    @Test func basicPairs() throws {
        #expect(try pairs("a=1&b=2") == [["a", "1"], ["b", "2"]])
        #expect(try pairs("") == [])
        let parts = try parse("x=y")
        #expect(parts == [FormPart(name: "x", value: bytes("y"))])
        #expect(parts[0].filename == nil && parts[0].contentType == nil && !parts[0].isFile)
    }

    @Test func decoding() throws {
        #expect(try pairs("greeting=hello+world&q=a%20b%2Bc+%2B") == [["greeting", "hello world"], ["q", "a b+c +"]])
        #expect(
            try pairs("first+name=J%C3%B6rg&city=%E6%9D%B1%E4%BA%AC&e=%e2%82%ac%F0%9F%98%80") == [
                ["first name", "Jörg"], ["city", "東京"], ["e", "€😀"],
            ])
        #expect(try pairs("k%3D%26=v%3D%26&eq=a=b=c") == [["k=&", "v=&"], ["eq", "a=b=c"]])
        #expect(try pairs("raw=é") == [["raw", "é"]])  // Unencoded UTF-8 passes through.
        #expect(try parse("nul=%00")[0].value == [0])
    }

    @Test func blankValuesAndEmptyPairs() throws {
        #expect(try pairs("a=&b&=c&=") == [["a", ""], ["b", ""], ["", "c"], ["", ""]])
        #expect(try pairs("&&a=1&&&b=2&") == [["a", "1"], ["b", "2"]])
        #expect(try pairs("&") == [])
        #expect(try pairs(";a=1") == [[";a", "1"]])  // Only `&` separates.
    }

    @Test func repeatedKeysKeepOrder() throws {
        #expect(try pairs("k=1&j=x&k=2&k=3") == [["k", "1"], ["j", "x"], ["k", "2"], ["k", "3"]])
    }

    @Test func errors() {
        #expect(error(bytes("a=%zz")) == "invalid percent-escape \"%zz\" in the value of form field \"a\"")
        #expect(error(bytes("a=1&b=x%4")) == "invalid percent-escape \"%4\" in the value of form field \"b\"")
        #expect(error(bytes("a=%")) == "invalid percent-escape \"%\" in the value of form field \"a\"")
        #expect(error(bytes("a%g1=1")) == "invalid percent-escape \"%g1\" in a form field name")
        #expect(error(bytes("a=%FF")) == "the value of form field \"a\" is not valid UTF-8 once decoded")
        #expect(error(bytes("a=%C3")) == "the value of form field \"a\" is not valid UTF-8 once decoded")
        #expect(error(bytes("a=%ED%A0%80")) == "the value of form field \"a\" is not valid UTF-8 once decoded")
        #expect(error(bytes("%C0%AF=1")) == "form field name \"\\xC0\\xAF\" is not valid UTF-8 once decoded")
        #expect(error([0x61, 0xFF, 0x3D, 0x31]) == "form field name \"a\\xFF\" is not valid UTF-8 once decoded")
        #expect(error(bytes("a=1&b=2&c=3"), limits: FormLimits(maxParts: 2)) == "form body has more than 2 fields")
        #expect(error(bytes("a=1&&b=2&"), limits: FormLimits(maxParts: 2)) == nil)
    }

    @Test func escapeAtPairEnd() {
        // A truncated escape is reported within its own pair: the `&` is not part of it.
        #expect(error(bytes("a=%4&b=1")) == "invalid percent-escape \"%4\" in the value of form field \"a\"")
    }

    @Test func roundTripProperty() throws {
        var rng = SplitMix64(seed: 42)
        let alphabet: [String] = ["a", "Z", "0", " ", "+", "%", "&", "=", "é", "東", "😀", "~", "-", ".", "\u{0}", "\n"]
        let hexUpper = Array("0123456789ABCDEF")
        let hexLower = Array("0123456789abcdef")
        func randomString() -> String {
            (0..<Int.random(in: 0...8, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
        }
        func encode(_ s: String) -> String {
            var out = ""
            for c in s.utf8 {
                let plain = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                if plain && Bool.random(using: &rng) {
                    out.append(Character(Unicode.Scalar(c)))
                } else if c == 0x20 && Bool.random(using: &rng) {
                    out += "+"
                } else {
                    let hex = Bool.random(using: &rng) ? hexUpper : hexLower
                    out += "%" + String(hex[Int(c >> 4)]) + String(hex[Int(c & 0xF)])
                }
            }
            return out
        }
        for _ in 0..<300 {
            let fields = (0..<Int.random(in: 0...6, using: &rng)).map { _ in (randomString(), randomString()) }
            var body = ""
            var expected: [FormPart] = []
            for (name, value) in fields {
                if !body.isEmpty || Bool.random(using: &rng) { body += "&" }
                if value.isEmpty && Bool.random(using: &rng) {
                    body += encode(name)  // No `=` at all.
                    if name.isEmpty { continue }  // An empty pair is skipped.
                } else {
                    body += encode(name) + "=" + encode(value)
                }
                expected.append(FormPart(name: name, value: bytes(value)))
            }
            #expect(try parse(body) == expected, "body: \(body)")
        }
    }
}

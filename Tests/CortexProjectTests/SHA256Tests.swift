import Foundation
import Testing

@testable import CortexProject

@Suite("SHA256")
struct SHA256Tests {
    @Test(
        "FIPS 180 / NIST test vectors",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
            (
                "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
            ),
            (
                "The quick brown fox jumps over the lazy dog",
                "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
            ),
        ])
    func vectors(_ input: String, _ expected: String) {
        #expect(SHA256.hex(input) == expected)
        #expect(SHA256.hex(Array(input.utf8)) == expected)
    }

    @Test func oneMillionA() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)) == expected)
        // Same through the incremental API, in uneven pieces.
        var context = SHA256.Context()
        var remaining = 1_000_000
        var piece = 1
        while remaining > 0 {
            let n = min(piece, remaining)
            context.update([UInt8](repeating: UInt8(ascii: "a"), count: n))
            remaining -= n
            piece = piece * 3 + 1
        }
        #expect(context.finalizeHex() == expected)
    }

    @Test func blockBoundaries() {
        // Lengths around the 55/56/64-byte padding boundaries, one-shot vs byte-by-byte.
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            var context = SHA256.Context()
            for b in bytes { context.update([b]) }
            #expect(context.finalizeHex() == SHA256.hex(bytes), "length \(length)")
        }
        // Known values: 64 and 55 bytes of "a".
        #expect(
            SHA256.hex(String(repeating: "a", count: 64))
                == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
        #expect(
            SHA256.hex(String(repeating: "a", count: 55))
                == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
    }

    @Test func digestAndFile() throws {
        #expect(SHA256.digest(Array("abc".utf8)).count == 32)
        #expect(SHA256.hexString(SHA256.digest(Array("abc".utf8))) == SHA256.hex("abc"))
        let dir = try TempDirectory("sha")
        defer { dir.remove() }
        let bytes = (0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try dir.write("f.bin", bytes: bytes)
        #expect(try SHA256.hex(fileAt: dir.url("f.bin")) == SHA256.hex(bytes))
        #expect(throws: ProjectError.self) { try SHA256.hex(fileAt: dir.url("missing")) }
    }
}

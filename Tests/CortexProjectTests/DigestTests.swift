import Foundation
import Testing

@testable import CortexProject

/// Pins the hex format of the project's digests (cache keys and folder names derive from them).
@Suite("Digest")
struct DigestTests {
    @Test(
        "FIPS 180 test vectors, lowercase hex",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
        ])
    func vectors(_ input: String, _ expected: String) {
        #expect(Digest.sha256Hex(input) == expected)
        #expect(Digest.sha256Hex(Array(input.utf8)) == expected)
    }

    @Test func fileIsHashedInPieces() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        // More than one 1 MiB piece.
        let bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000) + [UInt8](repeating: 7, count: 100_000)
        try dir.write("f.bin", bytes: bytes)
        #expect(try Digest.sha256Hex(fileAt: dir.url("f.bin")) == Digest.sha256Hex(bytes))
        try dir.write("a.bin", bytes: [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
        #expect(
            try Digest.sha256Hex(fileAt: dir.url("a.bin"))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        #expect(throws: ProjectError.self) { try Digest.sha256Hex(fileAt: dir.url("missing")) }
    }

    /// The project hash's exact material: path, exec bits (octal), size, each NUL-terminated, then the bytes.
    @Test func projectContentHashIsPinned() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try dir.write("a.py", "x", mode: 0o644)
        try dir.write("run.sh", "ab\n", mode: 0o755)
        #expect(
            try ProjectFiles.contentHash(root: dir.path, files: ["a.py", "run.sh"])
                == "692ea5803a5f84cd1ef2cf46cb46ef0ea070893f68a90d195126cab5eaf72e65")
    }

    @Test func hexString() {
        #expect([0x00, 0x0f, 0xa5, 0xff].hexString == "000fa5ff")
        #expect([UInt8]().hexString == "")
    }
}

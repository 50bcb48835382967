import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// SHA-256 digests (swift-crypto) as the lowercase hex the project uses in cache keys and folder names.
public enum Digest {
    /// The SHA-256 of `string`'s UTF-8 bytes, as 64 lowercase hex digits.
    public static func sha256Hex(_ string: String) -> String {
        SHA256.hash(data: Data(string.utf8)).hexString
    }

    /// The SHA-256 of `bytes`, as 64 lowercase hex digits.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).hexString
    }

    /// The SHA-256 of a file's contents, read in 1 MiB pieces.
    public static func sha256Hex(fileAt path: String) throws(ProjectError) -> String {
        var hasher = SHA256()
        try update(&hasher, fileAt: path)
        return hasher.finalize().hexString
    }

    /// Feeds a file's contents to `hasher` in 1 MiB pieces.
    public static func update(_ hasher: inout SHA256, fileAt path: String) throws(ProjectError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ProjectError("\(path): cannot read file: \(POSIXText.errnoMessage())")
        }
        defer { _ = close(fd) }
        let chunkSize = 1 << 20
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = read(fd, chunk.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw ProjectError("\(path): cannot read file: \(POSIXText.errnoMessage())")
            }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
        }
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hex, two digits per byte.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

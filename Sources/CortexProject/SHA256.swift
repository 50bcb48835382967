import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// SHA-256 (FIPS 180-4) in pure Swift, used for content-hash cache keys.
///
/// One-shot helpers (`hex`, `digest`) plus an incremental ``Context`` for
/// hashing data that arrives in pieces (e.g. large files read in chunks).
public enum SHA256 {
    /// The lowercase hex digest (64 characters) of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        var context = Context()
        context.update(bytes)
        return context.finalizeHex()
    }

    /// The lowercase hex digest (64 characters) of the UTF-8 bytes of `string`.
    public static func hex(_ string: String) -> String {
        hex(Array(string.utf8))
    }

    /// The raw 32-byte digest of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var context = Context()
        context.update(bytes)
        return context.finalize()
    }

    /// The lowercase hex digest of the contents of the file at `path`
    /// (read in chunks, so any size works).
    public static func hex(fileAt path: String) throws(ProjectError) -> String {
        var context = Context()
        try context.update(fileAt: path)
        return context.finalizeHex()
    }

    /// Renders bytes as lowercase hex.
    public static func hexString(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// An incremental SHA-256 computation: `update` any number of times, then
    /// `finalize` once.
    public struct Context: Sendable {
        private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
            0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a,
            0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19
        )
        private var buffer: [UInt8] = []
        private var totalLength: UInt64 = 0

        /// A fresh computation (the digest of nothing so far).
        public init() {
            buffer.reserveCapacity(64)
        }

        /// Feeds more bytes.
        public mutating func update(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { update($0) }
        }

        /// Feeds the UTF-8 bytes of `string`.
        public mutating func update(_ string: String) {
            update(Array(string.utf8))
        }

        /// Feeds more bytes from raw memory.
        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            guard !bytes.isEmpty else { return }
            totalLength &+= UInt64(bytes.count)
            var offset = 0
            if !buffer.isEmpty {
                let take = min(64 - buffer.count, bytes.count)
                buffer.append(contentsOf: bytes[0..<take])
                offset = take
                if buffer.count == 64 {
                    let block = buffer
                    block.withUnsafeBytes { compress(UnsafeRawBufferPointer(rebasing: $0[0..<64])) }
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            while bytes.count - offset >= 64 {
                compress(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 64)]))
                offset += 64
            }
            if offset < bytes.count {
                buffer.append(contentsOf: bytes[offset..<bytes.count])
            }
        }

        /// Feeds the whole contents of the file at `path`, in chunks.
        public mutating func update(fileAt path: String) throws(ProjectError) {
            let fd = open(path, O_RDONLY)
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
                update(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            }
        }

        /// Completes the computation and returns the 32-byte digest.
        public mutating func finalize() -> [UInt8] {
            let bitLength = totalLength &* 8
            var tail = buffer
            tail.append(0x80)
            while tail.count % 64 != 56 { tail.append(0) }
            for shift in stride(from: 56, through: 0, by: -8) {
                tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
            }
            tail.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    compress(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 64)]))
                    offset += 64
                }
            }
            buffer.removeAll()
            let words = [state.0, state.1, state.2, state.3, state.4, state.5, state.6, state.7]
            var out = [UInt8]()
            out.reserveCapacity(32)
            for word in words {
                out.append(UInt8(truncatingIfNeeded: word >> 24))
                out.append(UInt8(truncatingIfNeeded: word >> 16))
                out.append(UInt8(truncatingIfNeeded: word >> 8))
                out.append(UInt8(truncatingIfNeeded: word))
            }
            return out
        }

        /// Completes the computation and returns the lowercase hex digest.
        public mutating func finalizeHex() -> String {
            SHA256.hexString(finalize())
        }

        private mutating func compress(_ block: UnsafeRawBufferPointer) {
            var w = (
                UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0)
            )
            withUnsafeMutableBytes(of: &w) { raw in
                let words = raw.bindMemory(to: UInt32.self)
                for i in 0..<16 {
                    let b0 = UInt32(block[i * 4]) << 24
                    let b1 = UInt32(block[i * 4 + 1]) << 16
                    let b2 = UInt32(block[i * 4 + 2]) << 8
                    let b3 = UInt32(block[i * 4 + 3])
                    words[i] = b0 | b1 | b2 | b3
                }
                for i in 16..<64 {
                    let x = words[i - 15]
                    let y = words[i - 2]
                    let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
                    let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
                    words[i] = words[i - 16] &+ s0 &+ words[i - 7] &+ s1
                }
                var a = state.0
                var b = state.1
                var c = state.2
                var d = state.3
                var e = state.4
                var f = state.5
                var g = state.6
                var h = state.7
                for i in 0..<64 {
                    let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = h &+ s1 &+ ch &+ SHA256.roundConstants[i] &+ words[i]
                    let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                    let maj = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ maj
                    h = g
                    g = f
                    f = e
                    e = d &+ t1
                    d = c
                    c = b
                    b = a
                    a = t1 &+ t2
                }
                state.0 &+= a
                state.1 &+= b
                state.2 &+= c
                state.3 &+= d
                state.4 &+= e
                state.5 &+= f
                state.6 &+= g
                state.7 &+= h
            }
        }

        @inline(__always)
        private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
            (x >> n) | (x << (32 - n))
        }
    }

    fileprivate static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4,
        0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7,
        0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc,
        0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351,
        0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e,
        0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585,
        0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f,
        0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7,
        0xc671_78f2,
    ]
}

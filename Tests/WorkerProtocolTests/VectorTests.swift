import Foundation
import NIOCore
import Testing

@testable import WorkerProtocol

/// The shared vectors of `docs/PROTOCOL.md`, also read by the Python runtime's tests.
struct Vectors: Decodable {
    struct FrameVector: Decodable {
        var name: String
        var kind: UInt8
        var requestId: String
        var metaHex: String
        var bodyHex: String
        var frameHex: String
    }
    struct Corrupt: Decodable {
        var name: String
        var hex: String
    }
    struct Part: Decodable {
        var isFile: Int
        var name: String
        var filename: String
        var contentType: String
        var offset: UInt64
        var length: UInt64
    }
    struct Request: Decodable {
        var name: String
        var payloadKind: UInt8
        var query: String
        var headers: [[String]]
        var parts: [Part]
        var metaHex: String
    }
    struct Response: Decodable {
        var name: String
        var status: UInt16
        var outcome: UInt8
        var headers: [[String]]
        var metaHex: String
    }
    var frames: [FrameVector]
    var streamHex: String
    var corrupt: [Corrupt]
    var requests: [Request]
    var responses: [Response]

    static let shared: Vectors = {
        let url = Bundle.module.url(forResource: "frames", withExtension: "json", subdirectory: "vectors")!
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try! decoder.decode(Vectors.self, from: Data(contentsOf: url))
    }()
}

func buffer(hex: String) -> ByteBuffer {
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        bytes.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return ByteBuffer(bytes: bytes)
}

func hex(_ buffer: ByteBuffer) -> String {
    buffer.readableBytesView.map { String(format: "%02x", $0) }.joined()
}

func fields(_ pairs: [[String]]) -> [HeaderField] { pairs.map { HeaderField($0[0], $0[1]) } }

@Suite struct FrameVectorTests {
    @Test(arguments: Vectors.shared.frames.map(\.name))
    func encodesAndDecodes(name: String) throws {
        let vector = Vectors.shared.frames.first { $0.name == name }!
        let frame = Frame(
            kind: FrameKind(rawValue: vector.kind)!, requestID: UInt64(vector.requestId)!,
            meta: buffer(hex: vector.metaHex), body: buffer(hex: vector.bodyHex))
        var encoded = ByteBuffer()
        FrameCodec.encode(frame, into: &encoded)
        #expect(hex(encoded) == vector.frameHex)
        var wire = buffer(hex: vector.frameHex)
        let decoded = try FrameCodec.decode(from: &wire)
        #expect(decoded == frame)
        #expect(wire.readableBytes == 0)
    }

    @Test func decodesAStreamOfFramesAndWaitsForPartialOnes() throws {
        let stream = buffer(hex: Vectors.shared.streamHex)
        // Feed the stream in every split position: frames come out whole and in order.
        for split in [1, 5, 16, 17, 40, stream.readableBytes - 1] {
            var pending = stream.getSlice(at: 0, length: split)!
            var frames: [Frame] = []
            while let frame = try FrameCodec.decode(from: &pending) { frames.append(frame) }
            var rest = stream.getSlice(at: split, length: stream.readableBytes - split)!
            pending.writeBuffer(&rest)
            while let frame = try FrameCodec.decode(from: &pending) { frames.append(frame) }
            #expect(frames.map(\.kind.rawValue) == Vectors.shared.frames.map(\.kind))
            #expect(pending.readableBytes == 0)
        }
    }

    @Test(arguments: Vectors.shared.corrupt.map(\.name))
    func rejectsCorruptFrames(name: String) {
        var wire = buffer(hex: Vectors.shared.corrupt.first { $0.name == name }!.hex)
        #expect(throws: ProtocolError.self) { _ = try FrameCodec.decode(from: &wire) }
    }

    @Test func rejectsUnknownKinds() {
        var wire = ByteBuffer()
        wire.writeInteger(UInt32(13), endianness: .little)
        wire.writeInteger(UInt8(99))
        wire.writeInteger(UInt64(0), endianness: .little)
        wire.writeInteger(UInt32(0), endianness: .little)
        #expect(throws: ProtocolError.self) { _ = try FrameCodec.decode(from: &wire) }
    }
}

@Suite struct MetadataVectorTests {
    @Test(arguments: Vectors.shared.requests.map(\.name))
    func requestMeta(name: String) throws {
        let vector = Vectors.shared.requests.first { $0.name == name }!
        let meta = RequestMeta(
            payloadKind: PayloadKind(rawValue: vector.payloadKind)!, query: vector.query,
            headers: fields(vector.headers),
            parts: vector.parts.map {
                PartEntry(
                    isFile: $0.isFile != 0, name: $0.name, filename: $0.filename, contentType: $0.contentType,
                    offset: $0.offset, length: $0.length)
            })
        var encoded = ByteBuffer()
        meta.encode(into: &encoded)
        #expect(hex(encoded) == vector.metaHex)
        #expect(try RequestMeta.decode(from: buffer(hex: vector.metaHex)) == meta)
    }

    @Test(arguments: Vectors.shared.responses.map(\.name))
    func responseMeta(name: String) throws {
        let vector = Vectors.shared.responses.first { $0.name == name }!
        let meta = ResponseMeta(
            status: vector.status, outcome: ResponseOutcome(rawValue: vector.outcome)!,
            headers: fields(vector.headers))
        var encoded = ByteBuffer()
        meta.encode(into: &encoded)
        #expect(hex(encoded) == vector.metaHex)
        #expect(try ResponseMeta.decode(from: buffer(hex: vector.metaHex)) == meta)
    }

    /// A request frame written as head + body buffers (the front's zero-copy path) is byte for byte the
    /// frame `FrameCodec.encode` makes.
    @Test(arguments: Vectors.shared.requests.map(\.name))
    func headPlusBodyIsTheWholeFrame(name: String) throws {
        let vector = Vectors.shared.requests.first { $0.name == name }!
        let meta = try RequestMeta.decode(from: buffer(hex: vector.metaHex))
        let body = ByteBuffer(string: "a body of \(name)")
        var head = FrameCodec.encodeHead(kind: .request, requestID: 42, meta: meta, bodyLength: body.readableBytes)
        var whole = ByteBuffer()
        FrameCodec.encode(
            Frame(kind: .request, requestID: 42, meta: buffer(hex: vector.metaHex), body: body), into: &whole)
        var bodyCopy = body
        head.writeBuffer(&bodyCopy)
        #expect(hex(head) == hex(whole))
    }

    /// The front writes a batch as the `BATCH` head, then each request's head and body: together they
    /// are byte for byte the shared vector.
    @Test func batchHeadPlusRequestFramesIsTheBatchVector() throws {
        let vector = Vectors.shared.frames.first { $0.name == "batch" }!
        let members: [(UInt64, String, ByteBuffer)] = [
            (5, "json", ByteBuffer(string: #"{"x": 1}"#)),
            (6, "bytes-with-query", ByteBuffer(bytes: [0x00, 0xFF])),
        ]
        var parts: [ByteBuffer] = []
        for (id, name, body) in members {
            let meta = try RequestMeta.decode(
                from: buffer(hex: Vectors.shared.requests.first { $0.name == name }!.metaHex))
            parts.append(
                FrameCodec.encodeHead(kind: .request, requestID: id, meta: meta, bodyLength: body.readableBytes))
            parts.append(body)
        }
        var whole = FrameCodec.encodeBatchHead(count: 2, bodyLength: parts.reduce(0) { $0 + $1.readableBytes })
        for var part in parts { whole.writeBuffer(&part) }
        #expect(hex(whole) == vector.frameHex)
        // And it decodes as one frame whose body is the two requests.
        var copy = whole
        let frame = try #require(try FrameCodec.decode(from: &copy))
        #expect(
            frame.kind == .batch
                && frame.meta.getInteger(at: frame.meta.readerIndex, endianness: .little, as: UInt32.self) == 2)
        var body = frame.body
        #expect(try FrameCodec.decode(from: &body)?.requestID == 5)
        #expect(try FrameCodec.decode(from: &body)?.requestID == 6)
        #expect(body.readableBytes == 0)
    }

    @Test func truncatedMetadataIsAnError() throws {
        let full = buffer(hex: Vectors.shared.requests.first { $0.name == "form" }!.metaHex)
        for length in 0..<full.readableBytes {
            #expect(throws: ProtocolError.self) {
                _ = try RequestMeta.decode(from: full.getSlice(at: 0, length: length)!)
            }
        }
    }
}

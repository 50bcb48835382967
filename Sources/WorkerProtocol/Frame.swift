import NIOCore

/// What a frame on the front↔worker socket is about (`docs/PROTOCOL.md`, "Kinds").
public enum FrameKind: UInt8, Sendable, CaseIterable {
    case hello = 1
    case ready = 2
    case failed = 3
    case request = 10
    case start = 11
    case response = 12
    case cancel = 13
    case batch = 14
    case shutdown = 20
    case models = 30
    /// Worker → front: a predictor's metrics and the runtime's model-load metrics (JSON meta).
    case metrics = 40
}

/// One frame of the front↔worker protocol: a fixed header, kind-specific metadata, raw body bytes.
public struct Frame: Sendable, Equatable {
    public var kind: FrameKind
    public var requestID: UInt64
    public var meta: ByteBuffer
    public var body: ByteBuffer

    public init(kind: FrameKind, requestID: UInt64 = 0, meta: ByteBuffer = .init(), body: ByteBuffer = .init()) {
        self.kind = kind
        self.requestID = requestID
        self.meta = meta
        self.body = body
    }
}

/// A violation of the framing rules; the connection it came from cannot be trusted any more.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "worker protocol error: \(message)" }
}

/// Encodes and decodes frames (`docs/PROTOCOL.md`, "Frame").
public enum FrameCodec {
    /// Bytes before the metadata: length (4), kind (1), request id (8), meta length (4).
    public static let headerSize = 17
    /// Bytes counted by `length` that are not metadata or body.
    static let fixedAfterLength = 13

    /// Appends `frame` to `buffer`.
    public static func encode(_ frame: Frame, into buffer: inout ByteBuffer) {
        let meta = frame.meta.readableBytes
        let length = fixedAfterLength + meta + frame.body.readableBytes
        buffer.reserveCapacity(minimumWritableBytes: 4 + length)
        buffer.writeInteger(UInt32(length), endianness: .little)
        buffer.writeInteger(frame.kind.rawValue)
        buffer.writeInteger(frame.requestID, endianness: .little)
        buffer.writeInteger(UInt32(meta), endianness: .little)
        var metaCopy = frame.meta
        buffer.writeBuffer(&metaCopy)
        var bodyCopy = frame.body
        buffer.writeBuffer(&bodyCopy)
    }

    /// The bytes of a frame before its body (header and encoded metadata), for writing the body as
    /// a separate buffer: `head` then the body's `bodyLength` bytes are one frame.
    public static func encodeHead(kind: FrameKind, requestID: UInt64, meta: RequestMeta, bodyLength: Int) -> ByteBuffer
    {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(headerSize + 64)
        buffer.moveWriterIndex(forwardBy: headerSize)
        meta.encode(into: &buffer)
        let metaLength = buffer.writerIndex - headerSize
        buffer.setInteger(UInt32(fixedAfterLength + metaLength + bodyLength), at: 0, endianness: .little)
        buffer.setInteger(kind.rawValue, at: 4)
        buffer.setInteger(requestID, at: 5, endianness: .little)
        buffer.setInteger(UInt32(metaLength), at: 13, endianness: .little)
        return buffer
    }

    /// The header and metadata of a `BATCH` frame holding `count` complete `REQUEST` frames of
    /// `bodyLength` bytes in all: written before them, it makes them one frame (`docs/PROTOCOL.md`,
    /// "BATCH").
    public static func encodeBatchHead(count: Int, bodyLength: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(headerSize + 4)
        buffer.writeInteger(UInt32(fixedAfterLength + 4 + bodyLength), endianness: .little)
        buffer.writeInteger(FrameKind.batch.rawValue)
        buffer.writeInteger(UInt64(0), endianness: .little)
        buffer.writeInteger(UInt32(4), endianness: .little)
        buffer.writeInteger(UInt32(count), endianness: .little)
        return buffer
    }

    /// Takes one complete frame off the front of `buffer`, or returns nil (consuming nothing) when
    /// the frame is not complete yet. Throws when the bytes cannot be a frame.
    public static func decode(from buffer: inout ByteBuffer) throws(ProtocolError) -> Frame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self)
        else { return nil }
        let total = Int(length)
        guard total >= fixedAfterLength else {
            throw ProtocolError("frame length \(total) is below the \(fixedAfterLength)-byte header")
        }
        guard buffer.readableBytes >= 4 + total else { return nil }
        let start = buffer.readerIndex
        let rawKind = buffer.getInteger(at: start + 4, as: UInt8.self)!
        let requestID = buffer.getInteger(at: start + 5, endianness: .little, as: UInt64.self)!
        let metaLength = Int(buffer.getInteger(at: start + 13, endianness: .little, as: UInt32.self)!)
        guard metaLength <= total - fixedAfterLength else {
            throw ProtocolError("meta length \(metaLength) exceeds frame length \(total)")
        }
        guard let kind = FrameKind(rawValue: rawKind) else {
            throw ProtocolError("unknown frame kind \(rawKind)")
        }
        let meta = buffer.getSlice(at: start + headerSize, length: metaLength)!
        let body = buffer.getSlice(
            at: start + headerSize + metaLength, length: total - fixedAfterLength - metaLength)!
        buffer.moveReaderIndex(forwardBy: 4 + total)
        return Frame(kind: kind, requestID: requestID, meta: meta, body: body)
    }
}

import NIOCore

/// How the worker turns a request body into the predictor's `payload`.
public enum PayloadKind: UInt8, Sendable {
    /// The raw body, as `bytes`.
    case bytes = 0
    /// JSON text, parsed by the worker.
    case json = 1
    /// Form parts parsed by the front; the body holds their data.
    case form = 2
}

/// One form field in a `REQUEST`'s part table; its data is `body[offset ..< offset + length]`.
public struct PartEntry: Sendable, Equatable {
    public var isFile: Bool
    public var name: String
    public var filename: String
    public var contentType: String
    public var offset: UInt64
    public var length: UInt64

    public init(isFile: Bool, name: String, filename: String, contentType: String, offset: UInt64, length: UInt64) {
        self.isFile = isFile
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.offset = offset
        self.length = length
    }
}

/// The metadata of a `REQUEST` frame (`docs/PROTOCOL.md`, "REQUEST meta").
public struct RequestMeta: Sendable, Equatable {
    public var payloadKind: PayloadKind
    public var query: String
    /// Lower-cased names, in request order.
    public var headers: [HeaderField]
    public var parts: [PartEntry]

    public init(payloadKind: PayloadKind, query: String, headers: [HeaderField], parts: [PartEntry] = []) {
        self.payloadKind = payloadKind
        self.query = query
        self.headers = headers
        self.parts = parts
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(payloadKind.rawValue)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt16(0))
        buffer.writeSizedString(query)
        buffer.writeHeaderBlock(headers)
        guard payloadKind == .form else { return }
        buffer.writeInteger(UInt32(parts.count), endianness: .little)
        for part in parts {
            buffer.writeInteger(UInt8(part.isFile ? 1 : 0))
            buffer.writeSizedString(part.name)
            buffer.writeSizedString(part.filename)
            buffer.writeSizedString(part.contentType)
            buffer.writeInteger(part.offset, endianness: .little)
            buffer.writeInteger(part.length, endianness: .little)
        }
    }

    public static func decode(from buffer: ByteBuffer) throws(ProtocolError) -> RequestMeta {
        var buffer = buffer
        guard let rawKind = buffer.readInteger(as: UInt8.self),
            let kind = PayloadKind(rawValue: rawKind),
            buffer.readInteger(as: UInt8.self) != nil,
            buffer.readInteger(as: UInt16.self) != nil
        else { throw ProtocolError("bad request meta header") }
        let query = try buffer.readSizedString()
        let headers = try buffer.readHeaderBlock()
        var parts: [PartEntry] = []
        if kind == .form {
            guard let count = buffer.readInteger(endianness: .little, as: UInt32.self) else {
                throw ProtocolError("missing part count")
            }
            for _ in 0..<count {
                guard let isFile = buffer.readInteger(as: UInt8.self) else { throw ProtocolError("truncated part") }
                let name = try buffer.readSizedString()
                let filename = try buffer.readSizedString()
                let contentType = try buffer.readSizedString()
                guard let offset = buffer.readInteger(endianness: .little, as: UInt64.self),
                    let length = buffer.readInteger(endianness: .little, as: UInt64.self)
                else { throw ProtocolError("truncated part") }
                parts.append(
                    PartEntry(
                        isFile: isFile != 0, name: name, filename: filename, contentType: contentType,
                        offset: offset, length: length))
            }
        }
        return RequestMeta(payloadKind: kind, query: query, headers: headers, parts: parts)
    }
}

/// Where a `RESPONSE` came from.
public enum ResponseOutcome: UInt8, Sendable {
    /// `predict` returned; status, headers and body are its response.
    case returned = 0
    /// The runtime rejected the request before `predict` (a payload that does not parse).
    case rejected = 1
    /// `predict` raised; the body is a one-line description for the log.
    case raised = 2
    /// `predict` raised `HTTPException`; status, headers and body are its.
    case httpException = 3
}

/// The metadata of a `RESPONSE` frame (`docs/PROTOCOL.md`, "RESPONSE meta").
public struct ResponseMeta: Sendable, Equatable {
    public var status: UInt16
    public var outcome: ResponseOutcome
    public var headers: [HeaderField]

    public init(status: UInt16, outcome: ResponseOutcome, headers: [HeaderField]) {
        self.status = status
        self.outcome = outcome
        self.headers = headers
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(status, endianness: .little)
        buffer.writeInteger(outcome.rawValue)
        buffer.writeInteger(UInt8(0))
        buffer.writeHeaderBlock(headers)
    }

    public static func decode(from buffer: ByteBuffer) throws(ProtocolError) -> ResponseMeta {
        var buffer = buffer
        guard let status = buffer.readInteger(endianness: .little, as: UInt16.self),
            let rawOutcome = buffer.readInteger(as: UInt8.self),
            let outcome = ResponseOutcome(rawValue: rawOutcome),
            buffer.readInteger(as: UInt8.self) != nil
        else { throw ProtocolError("bad response meta header") }
        return ResponseMeta(status: status, outcome: outcome, headers: try buffer.readHeaderBlock())
    }
}

/// A header name and value as they cross the socket.
public struct HeaderField: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

extension ByteBuffer {
    mutating func writeSizedString(_ string: String) {
        let lengthIndex = writerIndex
        writeInteger(UInt32(0), endianness: .little)
        let written = writeString(string)
        setInteger(UInt32(written), at: lengthIndex, endianness: .little)
    }

    mutating func readSizedString() throws(ProtocolError) -> String {
        guard let length = readInteger(endianness: .little, as: UInt32.self),
            let string = readString(length: Int(length))
        else { throw ProtocolError("truncated string field") }
        return string
    }

    mutating func writeHeaderBlock(_ headers: [HeaderField]) {
        let lengthIndex = writerIndex
        writeInteger(UInt32(0), endianness: .little)
        var written = 0
        for field in headers {
            written += writeString(field.name)
            written += writeInteger(UInt8(0))
            written += writeString(field.value)
            written += writeInteger(UInt8(0))
        }
        setInteger(UInt32(written), at: lengthIndex, endianness: .little)
    }

    mutating func readHeaderBlock() throws(ProtocolError) -> [HeaderField] {
        guard let length = readInteger(endianness: .little, as: UInt32.self),
            let block = readBytes(length: Int(length))
        else { throw ProtocolError("truncated header block") }
        var fields: [HeaderField] = []
        var strings: [String] = []
        var start = 0
        for index in block.indices where block[index] == 0 {
            strings.append(String(decoding: block[start..<index], as: UTF8.self))
            start = index + 1
        }
        guard start == block.count, strings.count % 2 == 0 else {
            throw ProtocolError("header block is not name/value pairs")
        }
        for pair in stride(from: 0, to: strings.count, by: 2) {
            fields.append(HeaderField(strings[pair], strings[pair + 1]))
        }
        return fields
    }
}

import NIOCore
import NIOHTTP1

/// A complete response of the front, before the per-request headers (request id, CORS, `Connection`)
/// are added: what the pure request logic returns and the connection handler writes.
public struct FrontResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON body.
    static func json(_ status: HTTPResponseStatus, _ object: JSONObject) -> FrontResponse {
        json(status, object.text)
    }

    /// A JSON body from text that already is JSON.
    static func json(_ status: HTTPResponseStatus, _ text: String) -> FrontResponse {
        FrontResponse(
            status: status, headers: ["content-type": "application/json"], body: ByteBuffer(string: text))
    }

    /// An error body: `{"error": message, "request_id": …, extra…}`.
    static func error(
        _ status: HTTPResponseStatus, _ message: String, requestID: String? = nil,
        extra: (key: String, value: Int)? = nil
    ) -> FrontResponse {
        var object = JSONObject()
        object.add("error", message)
        if let requestID { object.add("request_id", requestID) }
        if let extra { object.add(extra.key, extra.value) }
        return json(status, object)
    }

    /// The same, with `Retry-After: 1` (the client should come back: overloaded, no worker yet).
    static func retryLater(
        _ status: HTTPResponseStatus, _ message: String, requestID: String?, extra: (key: String, value: Int)? = nil
    ) -> FrontResponse {
        var response = error(status, message, requestID: requestID, extra: extra)
        response.headers.add(name: "retry-after", value: "1")
        return response
    }
}

/// The front's one way of writing JSON: an object of members in the order they are added, strings
/// escaped per RFC 8259. Small and hand-written because every body the front writes is a flat object
/// of a few members (plus already-encoded JSON such as the model summary): an encoder would cost more
/// per request than the request itself.
struct JSONObject: Sendable {
    private var members = ""

    var text: String { "{" + members + "}" }

    mutating func add(_ key: String, _ value: String) {
        beginMember(key)
        Self.writeString(value, to: &members)
    }

    mutating func add(_ key: String, _ value: Int) {
        beginMember(key)
        members += String(value)
    }

    mutating func add(_ key: String, _ value: Bool) {
        beginMember(key)
        members += value ? "true" : "false"
    }

    /// A member whose value is already JSON text.
    mutating func add(_ key: String, json: String) {
        beginMember(key)
        members += json
    }

    private mutating func beginMember(_ key: String) {
        if !members.isEmpty { members += ", " }
        Self.writeString(key, to: &members)
        members += ": "
    }

    static func writeString(_ string: String, to out: inout String) {
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        bytes.reserveCapacity(string.utf8.count + 2)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
            case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        out += String(decoding: bytes, as: UTF8.self)
    }
}

import FormParsing
import NIOCore
import WorkerProtocol

/// A request body as the worker receives it: metadata plus the bytes (`docs/PROTOCOL.md`).
struct EncodedPayload {
    var meta: RequestMeta
    var body: ByteBuffer
}

/// Chooses the payload kind from the Content-Type (as Cortex did: lower-cased prefix match) and parses
/// form bodies into parts.
enum PayloadEncoder {
    static func encode(
        contentType: String?, body: ByteBuffer, query: String, headers: [HeaderField]
    ) throws(FormParseError) -> EncodedPayload {
        let type = (contentType ?? "").lowercased()
        if type.hasPrefix("application/json") {
            return EncodedPayload(meta: RequestMeta(payloadKind: .json, query: query, headers: headers), body: body)
        }
        let parts: [FormPart]
        if type.hasPrefix("multipart/form") {
            let boundary = try FormParser.boundary(fromContentType: contentType ?? "")
            parts = try FormParser.parseMultipart(Array(body.readableBytesView), boundary: boundary)
        } else if type.hasPrefix("application/x-www-form-urlencoded") {
            parts = try FormParser.parseURLEncoded(Array(body.readableBytesView))
        } else {
            return EncodedPayload(meta: RequestMeta(payloadKind: .bytes, query: query, headers: headers), body: body)
        }
        var data = ByteBuffer()
        data.reserveCapacity(parts.reduce(0) { $0 + $1.value.count })
        var entries: [PartEntry] = []
        entries.reserveCapacity(parts.count)
        for part in parts {
            entries.append(
                PartEntry(
                    isFile: part.isFile, name: part.name, filename: part.filename ?? "",
                    contentType: part.contentType ?? "", offset: UInt64(data.writerIndex),
                    length: UInt64(part.value.count)))
            data.writeBytes(part.value)
        }
        return EncodedPayload(
            meta: RequestMeta(payloadKind: .form, query: query, headers: headers, parts: entries), body: data)
    }
}

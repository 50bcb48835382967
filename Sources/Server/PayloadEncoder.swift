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
        if type.hasPrefix("multipart/form") {
            // The body goes to the worker as received; the part table points into it.
            let boundary = try FormParser.boundary(fromContentType: contentType ?? "")
            let parsed = body.withUnsafeReadableBytes { raw in
                raw.withMemoryRebound(to: UInt8.self) { bytes in
                    Result { () throws(FormParseError) in try FormParser.multipartRanges(in: bytes, boundary: boundary)
                    }
                }
            }
            let entries = try parsed.get().map { part in
                PartEntry(
                    isFile: part.isFile, name: part.name, filename: part.filename ?? "",
                    contentType: part.contentType ?? "", offset: UInt64(part.range.lowerBound),
                    length: UInt64(part.range.count))
            }
            return EncodedPayload(
                meta: RequestMeta(payloadKind: .form, query: query, headers: headers, parts: entries), body: body)
        }
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            return EncodedPayload(meta: RequestMeta(payloadKind: .bytes, query: query, headers: headers), body: body)
        }
        // Percent-decoded values are new bytes: they are concatenated into the body the worker gets.
        let parts = try body.withUnsafeReadableBytes { raw in
            Result { () throws(FormParseError) in try FormParser.parseURLEncoded(Array(raw)) }
        }.get()
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

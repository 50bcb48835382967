// libFuzzer target: the front↔worker codec of Sources/WorkerProtocol — FrameCodec.decode over a byte
// stream delivered in arbitrary chunks, and RequestMeta.decode / ResponseMeta.decode on arbitrary
// metadata. Compiled together with Sources/WorkerProtocol/*.swift against the NIOCore of the main
// debug build (see fuzz/run.sh).
//
// byte 0 selects the mode:
//   0 mod 3  a stream of frames; byte 1 seeds the chunk sizes. Decoding in chunks must give the same
//            frames (and the same error) as decoding the whole stream at once; every frame re-encodes
//            to exactly the bytes it was decoded from; REQUEST/RESPONSE metas are decoded too.
//   1 mod 3  the rest is a REQUEST meta; 2 mod 3  a RESPONSE meta. A meta that decodes re-encodes
//            and decodes to the same value.
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard size >= 2 else { return 0 }
    switch input[0] % 3 {
    case 0:
        fuzzStream(Array(input[2...]), chunkSeed: input[1])
    case 1:
        checkRequestMeta(ByteBuffer(bytes: input[1...]))
    default:
        checkResponseMeta(ByteBuffer(bytes: input[1...]))
    }
    return 0
}

func check(_ condition: Bool, _ message: String) {
    if !condition { fatalError(message) }
}

/// Decodes everything `bytes` holds, fed in chunks of the sizes `chunk` gives.
func decodeAll(_ bytes: [UInt8], chunk: (Int) -> Int) -> (frames: [Frame], error: ProtocolError?, rest: Int) {
    var buffer = ByteBuffer()
    var frames: [Frame] = []
    var offset = 0
    var round = 0
    while true {
        do {
            while let frame = try FrameCodec.decode(from: &buffer) { frames.append(frame) }
        } catch {
            return (frames, error, buffer.readableBytes)
        }
        if offset == bytes.count { return (frames, nil, buffer.readableBytes) }
        let n = min(bytes.count - offset, max(1, chunk(round)))
        buffer.writeBytes(bytes[offset..<(offset + n)])
        offset += n
        round += 1
    }
}

func fuzzStream(_ bytes: [UInt8], chunkSeed: UInt8) {
    let whole = decodeAll(bytes) { _ in Int.max }
    var state = UInt32(chunkSeed) | 1
    let chunked = decodeAll(bytes) { _ in
        state = state &* 1_103_515_245 &+ 12345
        return Int((state >> 16) % 64)
    }
    check(whole.frames == chunked.frames, "chunked decoding gave other frames")
    check(whole.error == chunked.error, "chunked decoding gave another error")
    if whole.error == nil {
        check(whole.rest == chunked.rest, "chunked decoding left other bytes")
    }
    // Every frame re-encodes to the bytes it came from.
    var encoded = ByteBuffer()
    for frame in whole.frames { FrameCodec.encode(frame, into: &encoded) }
    let consumed = encoded.readableBytes
    check(consumed <= bytes.count, "frames longer than the stream")
    check(Array(encoded.readableBytesView) == Array(bytes[0..<consumed]), "re-encoded frames differ")
    if whole.error == nil { check(consumed + whole.rest == bytes.count, "bytes lost") }
    for frame in whole.frames {
        check(frame.meta.readableBytes + frame.body.readableBytes + 17 <= bytes.count, "frame too big")
        switch frame.kind {
        case .request: checkRequestMeta(frame.meta)
        case .response: checkResponseMeta(frame.meta)
        default: break
        }
    }
}

func checkRequestMeta(_ meta: ByteBuffer) {
    guard let decoded = try? RequestMeta.decode(from: meta) else { return }
    var again = ByteBuffer()
    decoded.encode(into: &again)
    guard let redecoded = try? RequestMeta.decode(from: again) else {
        fatalError("a re-encoded request meta does not decode")
    }
    check(redecoded == decoded, "request meta round trip changed it")
}

func checkResponseMeta(_ meta: ByteBuffer) {
    guard let decoded = try? ResponseMeta.decode(from: meta) else { return }
    var again = ByteBuffer()
    decoded.encode(into: &again)
    guard let redecoded = try? ResponseMeta.decode(from: again) else {
        fatalError("a re-encoded response meta does not decode")
    }
    check(redecoded == decoded, "response meta round trip changed it")
}

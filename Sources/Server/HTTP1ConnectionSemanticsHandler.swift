import DequeModule
import NIOCore
import NIOHTTP1

/// HTTP/1.x persistence (RFC 9112 §9.3): sits after NIO's HTTP/1 server pipeline handler, remembers for each
/// request (pipelined ones in order) whether the connection persists after it — HTTP/1.1 unless
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive` — and for a request after which
/// it does not, marks the response `Connection: close`, closes the connection once the response is
/// written, and reads nothing further from it; an HTTP/1.0 response on a persisting connection says
/// `Connection: keep-alive`. A response the front itself marks `Connection: close`
/// (while draining) closes the connection the same way.
final class HTTP1ConnectionSemanticsHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// For each request read and not yet answered: whether the connection persists after it, and
    /// whether it is HTTP/1.0 (whose persistence the response must confirm with `keep-alive`).
    private var persists: Deque<(keepAlive: Bool, http10: Bool)> = []
    /// The request being read is the connection's last.
    private var lastRequest = false
    /// The connection's last request has been read: anything that follows is ignored (and a parse
    /// error about it is not the client's problem: its answer is on the way).
    private var closingAfterRead = false
    /// The response being written ends the connection.
    private var closeAfterResponse = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closingAfterRead else { return }
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            persists.append((head.isKeepAlive, head.version.major == 1 && head.version.minor == 0))
            lastRequest = !head.isKeepAlive
        case .body:
            break
        case .end:
            closingAfterRead = lastRequest
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closingAfterRead, error is HTTPParserError { return }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(var head):
            let request = persists.first ?? (true, false)
            let markedClose = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
            closeAfterResponse = !request.keepAlive || markedClose
            if closeAfterResponse, !markedClose {
                head.headers.replaceOrAdd(name: "connection", value: "close")
            } else if !closeAfterResponse, request.http10 {
                head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
            }
            context.write(Self.wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            if !persists.isEmpty { persists.removeFirst() }
            guard closeAfterResponse else {
                context.write(data, promise: promise)
                return
            }
            closingAfterRead = true
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(data).whenComplete { result in
                loopBound.value.close(promise: nil)
                promise?.completeWith(result)
            }
        }
    }
}

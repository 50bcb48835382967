import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import WorkerProtocol
import Workers

/// The front's HTTP handler for one connection, last in its pipeline: reads each request (NIO's
/// pipelining assistance hands them over one at a time), answers routes at once, and hands a
/// prediction to its API's replicas with a callback — no task per request: the pool's answer, the
/// request's deadline and the client going away all arrive on this connection's event loop, and
/// whichever comes first answers.
final class FrontConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// A prediction from its head on.
    private struct Prediction {
        let head: HTTPRequestHead
        let target: Front.Target
        let id: UInt64
        let idString: String
        let started: NIODeadline
        /// When its body was read and it went to the pool.
        var dispatched: NIODeadline? = nil
    }

    private enum Phase {
        case idle
        /// Answered once the request has been read; its body is dropped.
        case answering(HTTPRequestHead, FrontResponse, Prediction?)
        /// A prediction's body is being read.
        case collecting(Prediction, ReplicaSet, body: ByteBuffer?)
        /// Answered before its body ended (too large): the rest is read and dropped.
        case discarding
        /// With the workers; answered by the pool, the deadline or the client leaving.
        case waiting(Prediction, ReplicaSet, deadline: Scheduled<Void>?)
    }

    private let front: Front
    private var phase = Phase.idle
    /// Tells the pool when the client goes away (the pool watches it while a request is queued).
    private let client = ConnectionGuard()
    private var context: ChannelHandlerContext?
    /// The registry's routing as of `routingVersion`; reloaded when the registry changes.
    private var routing: APIRegistry.Routing
    private var routingVersion: Int

    init(front: Front) {
        self.front = front
        self.routingVersion = front.registry.version
        self.routing = front.registry.routing
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        client.connectionClosed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            requestHead(head, context: context)
        case .body(var part):
            guard case .collecting(let prediction, let replicas, var body) = phase else { return }
            phase = .discarding  // lets `body` be appended to without a copy
            if body == nil { body = part } else { body!.writeBuffer(&part) }
            if body!.readableBytes > prediction.target.api.maxRequestSize {
                finish(prediction, Front.tooLarge(prediction.target.api))
            } else {
                phase = .collecting(prediction, replicas, body: body)
            }
        case .end:
            switch phase {
            case .answering(let head, let response, let prediction):
                phase = .idle
                if let prediction { finish(prediction, response) } else { write(response, for: head) }
            case .collecting(let prediction, let replicas, let body):
                dispatch(prediction, to: replicas, body: body ?? context.channel.allocator.buffer(capacity: 0))
            case .discarding:
                phase = .idle
            case .idle, .waiting:
                break
            }
        }
    }

    private func requestHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let version = front.registry.version
        if version != routingVersion { (routing, routingVersion) = (front.registry.routing, version) }
        let (decision, resolved) = front.route(head, routing: routing)
        guard let target = resolved else {
            phase = .answering(head, front.answer(decision, method: head.method, uri: head.uri), nil)
            return
        }
        let id = front.requestIDs.next()
        let prediction = Prediction(
            head: head, target: target, id: id, idString: Front.requestID(clientSent: head.headers, generated: id),
            started: .now())
        let replicas = target.replicas
        guard replicas.acceptsRequests else {
            phase = .answering(head, Front.notReadyYet(target.api), prediction)
            return
        }
        if let length = head.headers.first(name: "content-length").flatMap(Int.init),
            length > target.api.maxRequestSize
        {
            phase = .discarding
            finish(prediction, Front.tooLarge(target.api))
            return
        }
        phase = .collecting(prediction, replicas, body: nil)
    }

    // MARK: Dispatch

    private func dispatch(_ prediction: Prediction, to replicas: ReplicaSet, body: ByteBuffer) {
        guard let context else { return }
        var prediction = prediction
        let head = prediction.head
        let payload: EncodedPayload
        do {
            payload = try PayloadEncoder.encode(
                contentType: head.headers.first(name: "content-type"), body: body, query: Front.query(of: head.uri),
                headers: Front.headerFields(of: head.headers, requestID: prediction.idString))
        } catch {
            phase = .idle
            return finish(prediction, .error(.badRequest, "\(error)"))
        }
        let id = prediction.id
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let deadline = prediction.target.api.timeout.map { timeout in
            context.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) {
                loopBound.value.deadlinePassed(id, timeout: timeout)
            }
        }
        // Before submitting: the replicas may answer at once (rejections), from inside `submit`.
        prediction.dispatched = .now()
        phase = .waiting(prediction, replicas, deadline: deadline)
        let eventLoop = context.eventLoop
        replicas.submit(id: id, meta: payload.meta, body: payload.body, client: client) { result in
            if eventLoop.inEventLoop {
                loopBound.value.completed(id, result)
            } else {
                eventLoop.execute { loopBound.value.completed(id, result) }
            }
        }
    }

    private func completed(_ id: UInt64, _ result: Result<WorkerResponse, any Error>) {
        guard case .waiting(let prediction, _, let deadline) = phase, prediction.id == id else { return }
        phase = .idle
        deadline?.cancel()
        client.unwatch()
        let startedAt = try? result.get().startedAt
        finish(
            prediction, front.response(for: result, target: prediction.target, requestID: prediction.idString),
            workerStarted: startedAt)
    }

    /// `predictor.timeout` passed: answer 504 now. A request still queued is withdrawn (never sent);
    /// one running keeps its worker until it finishes or the grace period after the deadline passes,
    /// when the worker is killed.
    private func deadlinePassed(_ id: UInt64, timeout: Double) {
        guard case .waiting(let prediction, let replicas, _) = phase, prediction.id == id else { return }
        phase = .idle
        client.unwatch()
        finish(prediction, Front.timedOut(prediction.target.api, timeout: timeout, requestID: prediction.idString))
        replicas.cancel(id, killAfter: Front.stuckWorkerGrace)
    }

    // MARK: Writing

    /// Answers a prediction: adds its request id, its `Server-Timing` (and CORS headers to a success),
    /// logs it, writes it.
    private func finish(_ prediction: Prediction, _ response: FrontResponse, workerStarted: NIODeadline? = nil) {
        var response = response
        let now = NIODeadline.now()
        response.headers.add(name: "x-request-id", value: prediction.idString)
        let queue = workerStarted.flatMap { started in prediction.dispatched.map { started - $0 } }
        let worker = workerStarted.map { now - $0 }
        response.headers.add(
            name: "server-timing",
            value: Front.serverTiming(total: now - prediction.started, queue: queue, worker: worker))
        prediction.target.metrics.record(
            status: Int(response.status.code), total: now - prediction.started, queue: queue, worker: worker)
        if (200..<400).contains(response.status.code) { Front.addCORSHeaders(&response.headers) }
        prediction.target.logger.info(
            "request request_id=\(prediction.idString) status=\(response.status.code) latency_ms=\(Front.milliseconds(now - prediction.started))"
        )
        write(response, for: prediction.head)
    }

    /// Writes a whole response in one flush: head, body and end go out in one `writev`.
    private func write(_ response: FrontResponse, for request: HTTPRequestHead) {
        guard let context, context.channel.isActive else { return }
        var headers = response.headers
        headers.add(name: "content-length", value: String(response.body.readableBytes))
        // While draining, tell keep-alive clients to reconnect (to another replica) for their next request.
        if front.registry.isDraining { headers.replaceOrAdd(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD, response.body.readableBytes > 0 {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// Tells a queued request that its client has gone, so the pool withdraws it instead of running it for
/// nobody. One per connection, owned by its handler; the pool calls it under its own lock.
final class ConnectionGuard: ClientWatch {
    private let state = Mutex<(closed: Bool, onClose: (@Sendable () -> Void)?)>((false, nil))

    /// Runs `onClose` if the connection closes before `unwatch()`; returns false (and runs nothing)
    /// when it is already closed.
    func watch(_ onClose: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            if state.closed { return false }
            state.onClose = onClose
            return true
        }
    }

    func unwatch() {
        state.withLock { $0.onClose = nil }
    }

    func connectionClosed() {
        let onClose = state.withLock { state in
            state.closed = true
            defer { state.onClose = nil }
            return state.onClose
        }
        onClose?()
    }
}

import HTTPTypes
import NIOCore
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization
import Workers

/// Per-connection hook that tells an in-flight request its client has gone, so it can be withdrawn
/// from the queue (or skipped by its worker) instead of running for nobody.
public final class ConnectionGuard: ClientWatch {
    private let state = Mutex<(closed: Bool, onClose: (@Sendable () -> Void)?)>((false, nil))

    /// Runs `onClose` if the connection closes before `unwatch()`; returns false (and runs nothing)
    /// when it is already closed.
    public func watch(_ onClose: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            if state.closed { return false }
            state.onClose = onClose
            return true
        }
    }

    public func unwatch() {
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

/// Finds the guard of a connection from a request handler (keyed by the channel's identity).
public final class ConnectionGuards: Sendable {
    private let guards = Mutex<[ObjectIdentifier: ConnectionGuard]>([:])

    public init() {}

    public func guardFor(_ channel: any Channel) -> ConnectionGuard? {
        guards.withLock { $0[ObjectIdentifier(channel)] }
    }

    func register(_ channel: any Channel) -> ConnectionGuard {
        let connectionGuard = ConnectionGuard()
        guards.withLock { $0[ObjectIdentifier(channel)] = connectionGuard }
        return connectionGuard
    }

    func remove(_ channel: any Channel) {
        guards.withLock { $0[ObjectIdentifier(channel)] = nil }
    }
}

/// Sits after the HTTP codec: enforces the read deadlines and reports closed connections.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var machine: ReadDeadlineStateMachine
    private let registry: ConnectionGuards
    private var connectionGuard: ConnectionGuard?
    /// When the current phase's deadline passes (nil: none). Checked by a coarse periodic tick, so
    /// moving a deadline on every request costs a clock read, not a timer.
    private var deadline: NIODeadline?
    private var tick: RepeatedTask?
    private let tickInterval: TimeAmount

    init(limits: ReadDeadlineStateMachine.Limits, registry: ConnectionGuards) {
        self.machine = ReadDeadlineStateMachine(limits: limits)
        self.registry = registry
        let shortest = min(limits.headerTimeout, limits.bodyTimeout, limits.idleTimeout)
        self.tickInterval = .milliseconds(Int64(max(0.05, min(1.0, shortest / 4)) * 1000))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        connectionGuard = registry.register(context.channel)
        let observer = FirstByteObserver(owner: self, ownerContext: context)
        try? context.pipeline.syncOperations.addHandler(observer, position: .first)
        if let codec = try? context.pipeline.syncOperations.handler(type: HTTP1ToHTTPServerCodec.self) {
            try? context.pipeline.syncOperations.addHandler(HTTP1ConnectionSemanticsHandler(), position: .before(codec))
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        tick = context.eventLoop.scheduleRepeatedTask(initialDelay: tickInterval, delay: tickInterval) { _ in
            let (handler, context) = loopBound.value
            guard let deadline = handler.deadline, deadline <= .now() else { return }
            handler.deadline = nil
            handler.perform(handler.machine.deadlinePassed(), context: context)
        }
        if context.channel.isActive { perform(machine.connectionOpened(), context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        tick?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        tick?.cancel()
        registry.remove(context.channel)
        connectionGuard?.connectionClosed()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client closed its side. Like Go's net/http, treat that as the client having gone: a
        // request it was waiting for is withdrawn (the server allows half-closure, so no close event
        // would come until the response is written).
        if let event = event as? ChannelEvent, event == .inputClosed {
            connectionGuard?.connectionClosed()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head: perform(machine.headReceived(), context: context)
        case .body: break
        case .end:
            perform(machine.endReceived(), context: context)
            context.fireChannelRead(data)
            // Keep one read outstanding while the request is processed, so a client that goes away is
            // noticed at once (the async channel stops reading until the handler asks for more).
            context.read()
            return
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = Self.unwrapOutboundIn(data) { perform(machine.responseFinished(), context: context) }
        context.write(data, promise: promise)
    }

    func bytesArrived(context: ChannelHandlerContext) {
        perform(machine.bytesArrived(), context: context)
    }

    private func perform(_ action: ReadDeadlineStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .schedule(let seconds):
            deadline = .now() + .milliseconds(Int64(seconds * 1000))
        case .cancelDeadline:
            deadline = nil
        case .close:
            context.close(promise: nil)
        case .none:
            break
        }
    }
}

/// Placed first in the pipeline: notices the first raw byte of a request, before it parses.
final class FirstByteObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private unowned let owner: ConnectionGuardHandler
    private unowned let ownerContext: ChannelHandlerContext

    init(owner: ConnectionGuardHandler, ownerContext: ChannelHandlerContext) {
        self.owner = owner
        self.ownerContext = ownerContext
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        owner.bytesArrived(context: ownerContext)
        context.fireChannelRead(data)
    }
}

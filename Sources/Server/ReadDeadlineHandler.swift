import NIOCore
import NIOHTTP1

/// Enforces the read deadlines of one connection (`ReadDeadlineStateMachine`: slow or silent clients
/// cannot hold it open). Sits after NIO's HTTP/1 server handlers and sees each request's parts and
/// each response's end.
final class ReadDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var machine: ReadDeadlineStateMachine
    /// When the current phase's deadline passes (nil: none). Checked by a coarse periodic tick, so
    /// moving a deadline on every request costs a clock read, not a timer.
    private var deadline: NIODeadline?
    private var tick: RepeatedTask?
    private let tickInterval: TimeAmount
    /// The response was finished before its request was read to the end (answered early: too large).
    private var answeredEarly = false

    init(limits: ReadDeadlineStateMachine.Limits) {
        self.machine = ReadDeadlineStateMachine(limits: limits)
        let shortest = min(limits.headerTimeout, limits.bodyTimeout, limits.idleTimeout)
        self.tickInterval = .milliseconds(Int64(max(0.05, min(1.0, shortest / 4)) * 1000))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let observer = FirstByteObserver(owner: self, ownerContext: context)
        try? context.pipeline.syncOperations.addHandler(observer, position: .first)
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

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.connectionOpened(), context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        tick?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head: perform(machine.headReceived(), context: context)
        case .body: break
        case .end:
            perform(machine.endReceived(), context: context)
            if answeredEarly {
                answeredEarly = false
                perform(machine.responseFinished(), context: context)
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = Self.unwrapOutboundIn(data) {
            if machine.phase == .readingBody { answeredEarly = true }
            perform(machine.responseFinished(), context: context)
        }
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
    private unowned let owner: ReadDeadlineHandler
    private unowned let ownerContext: ChannelHandlerContext

    init(owner: ReadDeadlineHandler, ownerContext: ChannelHandlerContext) {
        self.owner = owner
        self.ownerContext = ownerContext
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        owner.bytesArrived(context: ownerContext)
        context.fireChannelRead(data)
    }
}

import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Workers

/// One listening port of the front, as a `Service`: a SwiftNIO HTTP/1.1 server whose pipeline is NIO's
/// HTTP/1 codec with pipelining assistance, the HTTP/1.x persistence rules, NIO's protocol-error
/// handler (400 for bytes that are not HTTP), the read deadlines and `FrontConnectionHandler`. On a graceful shutdown it stops accepting, lets every
/// connection finish the request it is serving (answered with `Connection: close`), closes idle ones,
/// and returns once all are closed; cancelled, it returns at once.
public struct FrontServer: Service {
    let front: Front
    let host: String
    let port: Int
    let limits: ReadDeadlineStateMachine.Limits
    let onBound: @Sendable (Int) -> Void
    let logger: Logger

    public init(
        front: Front, host: String, port: Int, limits: ReadDeadlineStateMachine.Limits,
        onBound: @escaping @Sendable (Int) -> Void = { _ in }, logger: Logger
    ) {
        self.front = front
        self.host = host
        self.port = port
        self.limits = limits
        self.onBound = onBound
        self.logger = logger
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let quiesce = ServerQuiescingHelper(group: group)
        let front = self.front
        let limits = self.limits
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    // NIO's HTTP/1 server pipeline, with the persistence rules between the pipelining
                    // assistance and the error handler (so a parse error on bytes pipelined after a
                    // connection's last request is not answered).
                    try pipeline.addHandler(HTTPResponseEncoder())
                    try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try pipeline.addHandler(HTTPServerPipelineHandler())
                    try pipeline.addHandler(HTTP1ConnectionSemanticsHandler())
                    try pipeline.addHandler(HTTPServerProtocolErrorHandler())
                    try pipeline.addHandler(ReadDeadlineHandler(limits: limits))
                    try pipeline.addHandler(FrontConnectionHandler(front: front))
                }
            }
            .bind(host: host, port: port).get()
        onBound(channel.localAddress?.port ?? port)
        logger.debug("front listening on \(host):\(channel.localAddress?.port ?? port)")
        let closed = Latch()
        await withGracefulShutdownHandler {
            await closed.wait()
        } onGracefulShutdown: {
            let allClosed = group.any().makePromise(of: Void.self)
            allClosed.futureResult.whenComplete { _ in closed.open() }
            quiesce.initiateShutdown(promise: allClosed)
        }
        try? await channel.close()
    }
}

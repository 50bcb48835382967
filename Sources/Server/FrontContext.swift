import Hummingbird
import Logging
import NIOCore

/// The request context of the front: Hummingbird's basics plus the connection the request came on.
public struct FrontContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// Builds one listening front (the main port, or an API's `local_port`).
public enum FrontApplication {
    public static func make(
        responder: FrontResponder, host: String, port: Int, limits: ReadDeadlineStateMachine.Limits,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }, logger: Logger
    ) -> some ApplicationProtocol {
        let guards = responder.connectionGuards
        return Application(
            responder: responder,
            server: .http1(
                configuration: .init(additionalChannelHandlers: [
                    ConnectionGuardHandler(limits: limits, registry: guards)
                ])),
            configuration: .init(address: .hostname(host, port: port), serverName: "cortex"),
            onServerRunning: onServerRunning,
            logger: logger)
    }
}

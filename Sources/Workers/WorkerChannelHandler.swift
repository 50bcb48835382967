import Foundation
import NIOCore
import WorkerProtocol

/// Reads frames from one worker's connection and reports them to its pool.
final class WorkerChannelHandler: ChannelInboundHandler {
    typealias InboundIn = Frame

    private let pool: WorkerPool
    private var worker: Int?

    init(pool: WorkerPool) {
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        guard let worker else {
            guard frame.kind == .hello, let hello = Self.json(frame.meta),
                let id = hello["worker"] as? Int, let pid = hello["pid"] as? Int,
                pool.workerConnected(id, pid: Int32(pid), channel: context.channel)
            else {
                pool.logger.error("unexpected first frame from a worker connection; closing it")
                context.close(promise: nil)
                return
            }
            self.worker = id
            return
        }
        switch frame.kind {
        case .response: pool.responseArrived(frame, from: worker)
        case .start: pool.requestStarted(frame.requestID)
        case .ready: pool.workerReady(worker)
        case .failed:
            let info = Self.json(frame.meta) ?? [:]
            pool.workerFailed(
                worker, error: info["error"] as? String ?? "unknown error",
                traceback: info["traceback"] as? String ?? "")
        case .metrics: pool.metricsArrived(frame, from: worker)
        case .hello, .request, .cancel, .batch, .shutdown, .models:
            pool.logger.error("worker \(worker) sent an unexpected \(frame.kind) frame; closing its connection")
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let worker { pool.connectionClosed(worker, channel: context.channel) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        pool.logger.error("worker \(worker.map(String.init) ?? "?") connection: \(error)")
        context.close(promise: nil)
    }

    private static func json(_ buffer: ByteBuffer) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any]
    }
}

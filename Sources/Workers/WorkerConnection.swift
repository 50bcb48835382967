import NIOCore
import Synchronization
import WorkerProtocol

/// The socket to one worker. Frames written in the same event-loop tick go out in one flush (one
/// `writev`), so a burst of requests costs the front — and the worker — one syscall, not one each.
final class WorkerConnection: Sendable {
    let channel: any Channel
    private let flushPending = Atomic<Bool>(false)

    init(channel: any Channel) {
        self.channel = channel
    }

    func send(_ frame: ByteBuffer) {
        // The write and the flush flag must be ordered on the loop: a write made from another thread is
        // itself queued, and could land after a flush that was already pending.
        guard channel.eventLoop.inEventLoop else {
            channel.eventLoop.execute { self.send(frame) }
            return
        }
        channel.write(frame, promise: nil)
        guard !flushPending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        channel.eventLoop.execute {
            self.flushPending.store(false, ordering: .releasing)
            self.channel.flush()
        }
    }

    /// Sends a frame whose head (header and metadata) and body are separate buffers: both go out in the
    /// same flush, so the body is never copied into the frame.
    func send(_ head: ByteBuffer, _ body: ByteBuffer) {
        guard body.readableBytes > 0 else { return send(head) }
        guard channel.eventLoop.inEventLoop else {
            channel.eventLoop.execute { self.send(head, body) }
            return
        }
        channel.write(head, promise: nil)
        send(body)
    }

    /// Sends buffers that together make one or more frames (a `BATCH` head and its requests' heads
    /// and bodies), in one flush; empty buffers are skipped.
    func send(buffers: [ByteBuffer]) {
        guard channel.eventLoop.inEventLoop else {
            channel.eventLoop.execute { self.send(buffers: buffers) }
            return
        }
        let nonEmpty = buffers.filter { $0.readableBytes > 0 }
        guard let last = nonEmpty.last else { return }
        for buffer in nonEmpty.dropLast() { channel.write(buffer, promise: nil) }
        send(last)
    }

    /// Encodes and sends a frame without metadata or body.
    func send(_ kind: FrameKind, requestID: UInt64 = 0, meta: ByteBuffer = ByteBuffer()) {
        var buffer = channel.allocator.buffer(capacity: FrameCodec.headerSize + meta.readableBytes)
        FrameCodec.encode(Frame(kind: kind, requestID: requestID, meta: meta), into: &buffer)
        send(buffer)
    }
}

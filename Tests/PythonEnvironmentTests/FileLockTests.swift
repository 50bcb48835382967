import Foundation
import Synchronization
import Testing

@testable import PythonEnvironment

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite("FileLock")
struct FileLockTests {
    static func lockPath() -> String {
        FileManager.default.temporaryDirectory.path + "/cortex-filelock-\(UUID().uuidString).lock"
    }

    /// Waiting for a lock held elsewhere occupies no thread of the concurrency pool: with more waiters
    /// than the pool has threads, unrelated async work still runs while the lock is held. (With a
    /// blocking `flock`, the waiters take every pool thread and the unrelated task only runs once the
    /// safety-net thread below releases the lock.)
    @Test func waitersDoNotBlockTheConcurrencyPool() async throws {
        let path = Self.lockPath()
        defer { unlink(path) }
        // Held through a second open file description, as another process would hold it.
        let holder = try Holder(path: path)
        // Safety net on a plain thread, so a blocking implementation fails instead of hanging.
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 30)  // generous: a loaded CI machine can starve the pool for seconds
            holder.release()
        }

        let waiters = max(8, ProcessInfo.processInfo.activeProcessorCount * 2)
        let tasks = (0..<waiters).map { _ in
            Task {
                let lock = try await FileLock.acquire(path: path)
                holder.acquiredByWaiters.add(1, ordering: .sequentiallyConsistent)
                lock.release()
            }
        }
        try await Task.sleep(for: .milliseconds(300))  // the waiters are waiting now
        let unrelated = Task { holder.isReleased }
        let lockWasReleasedFirst = await unrelated.value
        #expect(!lockWasReleasedFirst, "unrelated async work had to wait for the lock to be released")
        #expect(holder.acquiredByWaiters.load(ordering: .sequentiallyConsistent) == 0)

        holder.release()
        for task in tasks { try await task.value }
        #expect(holder.acquiredByWaiters.load(ordering: .sequentiallyConsistent) == waiters)
    }

    /// The lock, held through its own open file description; released once.
    final class Holder: Sendable {
        let descriptor: Int32
        let released = Atomic<Bool>(false)
        let acquiredByWaiters = Atomic<Int>(0)

        init(path: String) throws {
            descriptor = open(path, O_CREAT | O_RDWR, 0o644)
            try #require(descriptor >= 0)
            try #require(flock(descriptor, LOCK_EX) == 0)
        }

        var isReleased: Bool { released.load(ordering: .sequentiallyConsistent) }

        func release() {
            if !released.exchange(true, ordering: .sequentiallyConsistent) {
                flock(descriptor, LOCK_UN)
                close(descriptor)
            }
        }
    }

    @Test func cancellingAWaiterEndsItsWait() async throws {
        let path = Self.lockPath()
        defer { unlink(path) }
        let holder = try Holder(path: path)
        defer { holder.release() }
        Thread.detachNewThread {  // safety net, as above
            Thread.sleep(forTimeInterval: 30)  // generous: a loaded CI machine can starve the pool for seconds
            holder.release()
        }
        let waiter = Task {
            let lock = try await FileLock.acquire(path: path)
            lock.release()
        }
        try await Task.sleep(for: .milliseconds(200))
        let cancelled = ContinuousClock.now
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(ContinuousClock.now - cancelled < .seconds(2))
        #expect(!holder.isReleased)
    }

    @Test func lockIsExclusive() async throws {
        let path = Self.lockPath()
        defer { unlink(path) }
        let first = try await FileLock.acquire(path: path)
        let other = open(path, O_RDWR)
        defer { close(other) }
        #expect(flock(other, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK)
        first.release()
        #expect(flock(other, LOCK_EX | LOCK_NB) == 0)
    }
}

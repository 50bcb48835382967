import ChildProcesses
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite("ProcessRunner")
struct ProcessRunnerTests {
    @Test func linesAndExitStatus() async throws {
        let seen = Mutex<[String]>([])
        let result = try await ProcessRunner.run(
            "/bin/sh", ["-c", "echo one; echo two >&2; printf 'three'; exit 3"],
            onLine: { line in seen.withLock { $0.append(line) } })
        #expect(result.status == 3)
        #expect(result.output == "one\ntwo\nthree")
        #expect(seen.withLock { $0 } == ["one", "two", "three"])
    }

    @Test func environmentAndWorkingDirectory() async throws {
        let result = try await ProcessRunner.run(
            "/bin/sh", ["-c", "echo \"$GREETING\"; pwd"], environment: ["GREETING": "hello", "PATH": "/usr/bin:/bin"],
            workingDirectory: "/tmp")
        #expect(result.status == 0)
        #expect(result.output == "hello\n/tmp")
    }

    @Test func signalledChildReportsShellStatus() async throws {
        let result = try await ProcessRunner.run("/bin/sh", ["-c", "kill -9 $$"])
        #expect(result.status == 128 + 9)
    }

    @Test func missingExecutableThrows() async {
        await #expect(throws: (any Error).self) {
            _ = try await ProcessRunner.run("/nonexistent/program", [])
        }
    }

    @Test func lineArrivesWhileTheChildRuns() async throws {
        // The first line must be delivered before the child exits, not collected at the end.
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        let run = Task {
            try await ProcessRunner.run(
                "/bin/sh", ["-c", "echo started; sleep 30"], onLine: { continuation.yield($0) })
        }
        var iterator = stream.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first == "started")
        run.cancel()
        await #expect(throws: CancellationError.self) { _ = try await run.value }
    }

    /// A child that ignores SIGTERM (and a grandchild in its group) is killed after the grace period,
    /// and `run` returns promptly once its task is cancelled.
    @Test func cancellationKillsAChildThatIgnoresSIGTERM() async throws {
        let pids = Mutex<(child: pid_t?, grandchild: pid_t?)>((nil, nil))
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        let run = Task {
            try await ProcessRunner.run(
                "/bin/sh", ["-c", "trap '' TERM; sh -c 'trap \"\" TERM; sleep 30' & echo grandchild $!; sleep 30"],
                onStart: { pid in pids.withLock { $0.child = pid } },
                onLine: { line in
                    if line.hasPrefix("grandchild ") { pids.withLock { $0.grandchild = pid_t(line.dropFirst(11)) } }
                    continuation.yield(line)
                })
        }
        var iterator = stream.makeAsyncIterator()
        _ = await iterator.next()
        let (child, grandchild) = pids.withLock { $0 }
        let childPID = try #require(child)
        let grandchildPID = try #require(grandchild)
        #expect(kill(childPID, 0) == 0)

        let cancelled = ContinuousClock.now
        run.cancel()
        await #expect(throws: CancellationError.self) { _ = try await run.value }
        let elapsed = ContinuousClock.now - cancelled
        #expect(elapsed < .seconds(6), "run took \(elapsed) to return after cancellation")

        // The child has been reaped; the grandchild (reparented to init or a subreaper) is gone or dying.
        #expect(kill(childPID, 0) == -1 && errno == ESRCH)
        #expect(await isGone(grandchildPID), "grandchild \(grandchildPID) still running")
    }

    /// Gone, or a zombie waiting for whichever process adopted it.
    private func isGone(_ pid: pid_t) async -> Bool {
        for _ in 0..<50 {
            if kill(pid, 0) == -1 && errno == ESRCH { return true }
            if let status = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = status.lastIndex(of: ")"),
                status[status.index(close, offsetBy: 2)] == "Z"
            {
                return true
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}

@Suite("LineSplitter")
struct LineSplitterTests {
    @Test func splitsAcrossChunks() {
        let splitter = LineSplitter()
        #expect(splitter.append(Array("ab".utf8)) == [])
        #expect(splitter.append(Array("c\nde\nf".utf8)) == ["abc", "de"])
        #expect(splitter.append(Data("g\n".utf8)) == ["fg"])
        #expect(splitter.finish() == nil)
        #expect(splitter.append(Array("tail".utf8)) == [])
        #expect(splitter.finish() == "tail")
    }
}

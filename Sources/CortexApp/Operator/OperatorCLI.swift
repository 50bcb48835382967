import CortexConfig
import Foundation
import NIOCore
import NIOExtras
import NIOPosix

/// The operating commands against the local operator (`deploy`, `get`, `logs`, `delete`, `refresh`):
/// each talks to the operator of `CORTEX_HOME` over its control socket, starting it first if none runs.
public enum OperatorCLI {
    public static func deploy(path: String?, wait: Bool) async throws {
        // Validated here too, so a mistake is reported exactly as `validate` reports it (exit 1).
        let project = try PreparedProject.load(path: path)
        let replies = try await OperatorClient.send(
            .init(operation: .deploy, config: project.configFile, wait: wait), printingProgress: true)
        guard let port = replies.port else { return }
        if wait {
            for api in project.apis {
                print("api \(api.name) is live at http://127.0.0.1:\(port)\(api.networking.endpoint)")
            }
        }
        print(
            "\nnext: cortex get · cortex get \(project.apis.first?.name ?? "API") · cortex logs \(project.apis.first?.name ?? "API")"
        )
    }

    public static func get(name: String?, json: Bool) async throws {
        let reply = try await OperatorClient.send(.init(operation: .get, name: name))
        let port = reply.port ?? 8888
        let apis = reply.apis ?? []
        if json {
            print(StatusFormat.json(apis, port: port))
        } else if let name, let api = apis.first(where: { $0.name == name }) {
            print(StatusFormat.detail(api, port: port, now: Date().timeIntervalSince1970))
        } else {
            print(StatusFormat.table(apis, now: Date().timeIntervalSince1970))
        }
    }

    public static func delete(name: String) async throws {
        let reply = try await OperatorClient.send(.init(operation: .delete, name: name))
        print(reply.message ?? "deleted \(name)")
    }

    public static func refresh(name: String) async throws {
        _ = try await OperatorClient.send(.init(operation: .refresh, name: name, wait: false), printingProgress: true)
    }

    /// Prints the API's log (the last `tail` lines), then follows it until interrupted.
    public static func logs(name: String, tail: Int?, follow: Bool) async throws {
        _ = try await OperatorClient.send(.init(operation: .get, name: name))
        let path = OperatorHome.resolve().logFile(of: name)
        try await LogFollower(path: path).run(tail: tail, follow: follow)
    }
}

/// Prints a log file's last lines, then what is appended to it, every 100 ms.
struct LogFollower {
    let path: String

    func run(tail: Int?, follow: Bool) async throws {
        var offset: UInt64 = 0
        if let handle = FileHandle(forReadingAtPath: path) {
            let data = handle.readDataToEndOfFile()
            offset = UInt64(data.count)
            try? handle.close()
            write(Self.lastLines(data, tail))
        }
        guard follow else { return }
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(100))
            guard let handle = FileHandle(forReadingAtPath: path) else { continue }
            defer { try? handle.close() }
            let size = handle.seekToEndOfFile()
            if size < offset { offset = 0 }  // recreated (deleted and deployed again)
            guard size > offset else { continue }
            handle.seek(toFileOffset: offset)
            let data = handle.readData(ofLength: Int(size - offset))
            offset += UInt64(data.count)
            write(data)
        }
    }

    private func write(_ data: Data) {
        guard !data.isEmpty else { return }
        FileHandle.standardOutput.write(data)
    }

    /// The last `count` lines of `data` (all of it without a count).
    static func lastLines(_ data: Data, _ count: Int?) -> Data {
        guard let count else { return data }
        guard count > 0 else { return Data() }
        var newlines = 0
        var index = data.endIndex
        if index > data.startIndex, data[data.index(before: index)] == UInt8(ascii: "\n") { index -= 1 }
        while index > data.startIndex {
            let previous = data.index(before: index)
            if data[previous] == UInt8(ascii: "\n") {
                newlines += 1
                if newlines == count { return data[index...] }
            }
            index = previous
        }
        return data
    }
}

/// The CLI's side of the control socket.
enum OperatorClient {
    /// The final reply (`done`); progress lines are printed as they come when asked; an `error` reply
    /// is thrown.
    static func send(_ request: ControlProtocol.Request, printingProgress: Bool = false) async throws
        -> ControlProtocol.Reply
    {
        let home = OperatorHome.resolve()
        try home.prepare()
        let channel = try await connectStartingOperator(home)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: ControlProtocol.encode(request)))
            for try await line in inbound {
                let reply = try JSONDecoder().decode(ControlProtocol.Reply.self, from: Data(line.readableBytesView))
                switch reply.event {
                case .progress:
                    if printingProgress, let message = reply.message { print(message) }
                case .done:
                    return reply
                case .error:
                    throw OperatorError(reply.message ?? "the operator failed")
                }
            }
            throw OperatorError(
                "the operator closed the connection without an answer; see \(home.operatorLog)")
        }
    }

    static func connect(_ home: OperatorHome) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: home.socket) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Connects to the running operator; when none answers, starts one in the background (its own
    /// session, output to `operator.log`) and waits up to 20 s for its socket.
    static func connectStartingOperator(_ home: OperatorHome) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        if let channel = try? await connect(home) { return channel }
        let pid = try startOperator(home)
        var deadline = ContinuousClock.now + .seconds(20)
        var gone = false
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            if let channel = try? await connect(home) { return channel }
            guard !gone else { continue }
            // It exited: with a failure, say why now; with 0 (another operator won the lock, or the
            // status was reaped elsewhere), give the other one a few seconds to open its socket.
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && kill(pid, 0) != 0) {
                gone = true
                if reaped == pid && status != 0 {
                    throw OperatorError("the operator could not start:\n\(logTail(home))")
                }
                deadline = min(deadline, ContinuousClock.now + .seconds(3))
            }
        }
        throw OperatorError("the operator did not start (\(home.operatorLog) ends with:\n\(logTail(home)))")
    }

    /// The last lines of the operator's log, indented.
    static func logTail(_ home: OperatorHome) -> String {
        let lines = (try? String(contentsOfFile: home.operatorLog, encoding: .utf8))?.split(separator: "\n") ?? []
        return lines.suffix(3).map { "  " + $0 }.joined(separator: "\n")
    }

    /// Starts `cortex operator` detached: a new session (so the terminal's signals do not reach it),
    /// stdin from /dev/null, stdout and stderr appended to `operator.log`.
    static func startOperator(_ home: OperatorHome) throws -> pid_t {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, home.operatorLog, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc ≥ 2.26; its macro needs _GNU_SOURCE, which Swift's Glibc does not define).
        posix_spawnattr_setflags(&attributes, Int16(0x80))
        let arguments = [executable, "operator"]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let envp = environment.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw OperatorError(
                "cannot start the operator (\(executable) operator): \(String(cString: strerror(status)))")
        }
        return pid
    }
}

import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// One line per event on stderr: time, level, `[api=… worker=…]`, message, other metadata.
/// Cheap on the request path: setting metadata costs nothing (frameworks set it per request and
/// rarely log), and the timestamp's date-and-time part is rendered once per second.
public struct CortexLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    /// (The operator) where the lines of each API go instead of stderr.
    let apiLogs: APILogFiles?

    struct Rendered: Sendable {
        var tags: String
        var rest: String
    }

    public init(label: String, level: Logger.Level, apiLogs: APILogFiles? = nil) {
        self.label = label
        self.logLevel = level
        self.apiLogs = apiLogs
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let tagKeys = ["api", "worker"]

    static func render(_ metadata: Logger.Metadata) -> Rendered {
        let tags = tagKeys.compactMap { key in metadata[key].map { "\(key)=\($0)" } }
        let rest = metadata.filter { !tagKeys.contains($0.key) }.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }
        return Rendered(
            tags: tags.isEmpty ? "" : " [" + tags.joined(separator: " ") + "]",
            rest: rest.isEmpty ? "" : " " + rest.joined(separator: " "))
    }

    public func log(event: LogEvent) {
        let parts: Rendered
        var writer = LogWriter.standardError
        if let extra = event.metadata, !extra.isEmpty {
            let merged = metadata.merging(extra) { _, new in new }
            parts = Self.render(merged)
            if let apiLogs, case .string(let api) = merged["api"] { writer = apiLogs.writer(for: api) }
        } else {
            parts = Self.render(metadata)
            if let apiLogs, case .string(let api) = metadata["api"] { writer = apiLogs.writer(for: api) }
        }
        var line = Timestamp.now()
        line += " "
        line += Self.levelNames[event.level] ?? event.level.rawValue.uppercased()
        line += parts.tags
        line += " "
        line += event.message.description
        line += parts.rest
        line += "\n"
        writer.append(line, urgent: event.level >= .warning)
    }

    static let levelNames: [Logger.Level: String] = Dictionary(
        uniqueKeysWithValues: Logger.Level.allCases.map { ($0, $0.rawValue.uppercased()) })
}

/// ISO-8601 UTC timestamps with milliseconds (`2026-12-04T16:09:00.123Z`), written digit by digit:
/// no lock, no formatter, nothing shared between the threads that log.
enum Timestamp {
    static func now() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return format(
            year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
            hour: Int(parts.tm_hour), minute: Int(parts.tm_min), second: Int(parts.tm_sec),
            millisecond: now.tv_nsec / 1_000_000)
    }

    static func format(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int)
        -> String
    {
        // (value, digits, the character after it)
        let fields: [(Int, Int, UInt8)] = [
            (year, 4, UInt8(ascii: "-")), (month, 2, UInt8(ascii: "-")), (day, 2, UInt8(ascii: "T")),
            (hour, 2, UInt8(ascii: ":")), (minute, 2, UInt8(ascii: ":")), (second, 2, UInt8(ascii: ".")),
            (millisecond, 3, UInt8(ascii: "Z")),
        ]
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var offset = 0
            for (value, digits, separator) in fields {
                var value = value
                for position in stride(from: offset + digits - 1, through: offset, by: -1) {
                    buffer[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                buffer[offset + digits] = separator
                offset += digits + 1
            }
            return offset
        }
    }
}

/// Batches log lines into few `write`s while a `LogFlushService` runs: lines are then flushed when
/// 16 KiB are pending, every 20 ms, at once for warnings and errors, and at exit, so the request path
/// pays no syscall per log line. Without a running flusher (before serving starts, `validate`), every
/// line is written at once.
public final class LogWriter: Sendable {
    public static let standardError: LogWriter = {
        atexit { LogWriter.standardError.flush() }
        return LogWriter(descriptor: 2)
    }()

    private let pending = Mutex<[UInt8]>([])
    /// The file descriptor written to (-1 once retired), held while writing, so chunks taken by
    /// concurrent flushes go out in order and a rotation or retirement never races a write.
    private let output: Mutex<Int32>
    /// Whether a flusher runs (lines may wait for it).
    let batching = Atomic<Bool>(false)
    static let flushThreshold = 16 * 1024

    init(descriptor: Int32, batching: Bool = false) {
        self.output = Mutex(descriptor)
        self.batching.store(batching, ordering: .relaxed)
    }

    func append(_ line: String, urgent: Bool) {
        let full = pending.withLock { pending in
            pending.append(contentsOf: line.utf8)
            return pending.count >= Self.flushThreshold
        }
        if full || urgent || !batching.load(ordering: .relaxed) { flush() }
    }

    /// Writes everything pending.
    public func flush() {
        output.withLock { descriptor in flushPending(to: descriptor) }
    }

    /// Flushes, then closes the file: later lines are dropped (the API they belong to is gone).
    func retire() {
        output.withLock { descriptor in
            flushPending(to: descriptor)
            if descriptor > 2 { Glibc.close(descriptor) }
            descriptor = -1
        }
    }

    /// Flushes; then, if the file at `path` has grown past `limit` bytes, renames it to `path.1`
    /// (replacing the previous one) and goes on in a fresh file at `path`.
    func rotate(path: String, limit: Int) {
        output.withLock { descriptor in
            flushPending(to: descriptor)
            var info = stat()
            guard descriptor > 2, fstat(descriptor, &info) == 0, Int(info.st_size) > limit,
                rename(path, path + ".1") == 0
            else { return }
            let fresh = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard fresh >= 0 else { return }  // keep writing to the renamed file rather than lose lines
            Glibc.close(descriptor)
            descriptor = fresh
        }
    }

    private func flushPending(to descriptor: Int32) {
        let bytes = pending.withLock { pending -> [UInt8] in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !bytes.isEmpty, descriptor >= 0 else { return }
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}

/// Flushes `LogWriter.standardError` (and, in the operator, every API's log) every 20 ms while
/// serving; the last service to stop, so every line logged during a graceful shutdown is written.
public struct LogFlushService: Service {
    let apiLogs: APILogFiles?
    static let interval = Duration.milliseconds(20)

    public init(apiLogs: APILogFiles? = nil) {
        self.apiLogs = apiLogs
    }

    public func run() async throws {
        let writer = LogWriter.standardError
        writer.batching.store(true, ordering: .relaxed)
        defer {
            writer.batching.store(false, ordering: .relaxed)
            writer.flush()
            apiLogs?.flushAll()
        }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: Self.interval)
                writer.flush()
                apiLogs?.flushAll()
            }
        }
    }
}

/// The operator's per-API logs: `logs/<api>.log` under `CORTEX_HOME` (0600, appended), each with a
/// batching `LogWriter` that `LogFlushService` flushes. What `cortex logs NAME` follows. A log past
/// `maximumBytes` is rotated: it becomes `<api>.log.1` (one previous file is kept).
public final class APILogFiles: Sendable {
    let directory: String
    let maximumBytes: Int
    private let writers = Mutex<[String: LogWriter]>([:])
    /// The default size at which a log is rotated.
    public static let defaultMaximumBytes = 64 << 20

    public init(directory: String, maximumBytes: Int = defaultMaximumBytes) {
        self.directory = directory
        self.maximumBytes = maximumBytes
    }

    func path(of api: String) -> String { "\(directory)/\(api).log" }

    /// The API's writer, opening its file on first use (stderr if it cannot be opened).
    func writer(for api: String) -> LogWriter {
        writers.withLock { writers in
            if let writer = writers[api] { return writer }
            let descriptor = Glibc.open(path(of: api), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { return LogWriter.standardError }
            let writer = LogWriter(descriptor: descriptor, batching: true)
            writers[api] = writer
            return writer
        }
    }

    /// Flushes every log, rotating those grown past `maximumBytes`.
    public func flushAll() {
        for (api, writer) in writers.withLock({ Array($0) }) { writer.rotate(path: path(of: api), limit: maximumBytes) }
    }

    /// Flushes and closes an API's log (deleted: its files are removed too).
    public func close(_ api: String, removingFile: Bool) {
        writers.withLock { $0.removeValue(forKey: api) }?.retire()
        if removingFile {
            unlink(path(of: api))
            unlink(path(of: api) + ".1")
        }
    }
}

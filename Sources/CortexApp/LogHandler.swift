import Foundation
import Logging

/// One line per event on stderr: time, level, `[api=… worker=…]`, message, other metadata.
public struct CortexLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let tagKeys = ["api", "worker"]

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let tags = Self.tagKeys.compactMap { key in merged[key].map { "\(key)=\($0)" } }
        let rest = merged.filter { !Self.tagKeys.contains($0.key) }.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }
        var line = Self.timestamp() + " " + event.level.rawValue.uppercased()
        if !tags.isEmpty { line += " [" + tags.joined(separator: " ") + "]" }
        line += " " + event.message.description
        if !rest.isEmpty { line += " " + rest.joined(separator: " ") }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, now.tv_nsec / 1_000_000)
    }
}

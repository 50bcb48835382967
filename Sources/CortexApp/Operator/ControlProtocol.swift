import CortexConfig
import Foundation

/// The operator's control protocol, over the Unix socket in `CORTEX_HOME`: the CLI writes one request
/// as a line of JSON; the operator answers with lines of JSON — any number of `progress` lines, then
/// one `done` or `error` line — and closes the connection.
enum ControlProtocol {
    /// What the CLI asks for.
    struct Request: Codable, Sendable, Equatable {
        enum Operation: String, Codable, Sendable {
            case deploy, get, delete, refresh, ping
        }
        var operation: Operation
        /// `deploy`: the absolute path of the config file.
        var config: String?
        /// `get`, `delete`, `refresh`: the API.
        var name: String?
        /// `deploy`, `refresh`: answer `done` once the APIs are live (else once they are accepted).
        var wait: Bool?
    }

    /// One line of the operator's answer.
    struct Reply: Codable, Sendable, Equatable {
        enum Event: String, Codable, Sendable {
            case progress, done, error
        }
        var event: Event
        var message: String?
        /// `get`: the APIs' status.
        var apis: [APIStatus]?
        /// The port every API answers on.
        var port: Int?

        static func progress(_ message: String) -> Reply { Reply(event: .progress, message: message) }
        static func done(_ message: String? = nil, apis: [APIStatus]? = nil, port: Int? = nil) -> Reply {
            Reply(event: .done, message: message, apis: apis, port: port)
        }
        static func error(_ message: String) -> Reply { Reply(event: .error, message: message) }
    }

    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain types cannot fail.
        return ((try? encoder.encode(value)) ?? Data()) + Data("\n".utf8)
    }
}

/// One API's state as `cortex get` shows it.
struct APIStatus: Codable, Sendable, Equatable {
    var name: String
    var code: CortexStatusCode
    /// Why it is in error, when it is.
    var message: String?
    var upToDateReplicas: Int
    var requestedReplicas: Int
    /// Replicas running an older generation (during a rolling update).
    var staleReplicas: Int
    var updatedAt: Double
    var endpoint: String
    /// Mean latency of every answered request, in seconds.
    var meanLatency: Double?
    /// Answers by status class: "2XX" → count.
    var answers: [String: Int]
    /// The resolved API spec, as `cortex validate` prints it.
    var spec: APISpec
}

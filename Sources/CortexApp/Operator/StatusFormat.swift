import CortexConfig
import Foundation

/// How `cortex get` shows APIs: Cortex's table, one API in detail, or Cortex's JSON shape.
enum StatusFormat {
    static func table(_ apis: [APIStatus], now: Double) -> String {
        guard !apis.isEmpty else { return "no apis are deployed" }
        let showErrors = apis.contains { ($0.answers["4XX"] ?? 0) + ($0.answers["5XX"] ?? 0) > 0 }
        var header = ["realtime api", "status", "up-to-date", "requested", "last update", "avg request", "2XX"]
        if showErrors { header += ["4XX", "5XX"] }
        let rows = apis.map { api -> [String] in
            var row = [
                api.name, statusText(api), "\(api.upToDateReplicas)", "\(api.requestedReplicas)",
                age(now - api.updatedAt), latency(api.meanLatency), "\(api.answers["2XX"] ?? 0)",
            ]
            if showErrors { row += ["\(api.answers["4XX"] ?? 0)", "\(api.answers["5XX"] ?? 0)"] }
            return row
        }
        return align([header] + rows)
    }

    static func detail(_ api: APIStatus, port: Int, now: Double) -> String {
        let endpoint = "http://127.0.0.1:\(port)\(api.endpoint)"
        var text = table([api], now: now)
        if let message = api.message { text += "\n\n\(message)" }
        text += "\n\nendpoint: \(endpoint)"
        text += "\nexample curl: curl \(endpoint) -X POST -H \"Content-Type: application/json\" -d @sample.json"
        return text
    }

    static func statusText(_ api: APIStatus) -> String {
        api.code.message
    }

    /// Cortex's `{"realtime_apis": [...]}`.
    static func json(_ apis: [APIStatus], port: Int) -> String {
        struct Document: Encodable {
            var realtimeAPIs: [Entry]
            enum CodingKeys: String, CodingKey { case realtimeAPIs = "realtime_apis" }
        }
        struct Entry: Encodable {
            var spec: APISpec
            var status: Status
            var endpoint: String
            var metrics: Metrics
        }
        struct Status: Encodable {
            var apiName: String
            var statusCode: String
            var message: String?
            var replicaCounts: Counts
            var updatedAt: Double
            enum CodingKeys: String, CodingKey {
                case apiName = "api_name"
                case statusCode = "status_code"
                case message
                case replicaCounts = "replica_counts"
                case updatedAt = "updated_at"
            }
        }
        struct Counts: Encodable {
            var updated: Int
            var stale: Int
            var requested: Int
        }
        struct Metrics: Encodable {
            var networkStats: NetworkStats
            enum CodingKeys: String, CodingKey { case networkStats = "network_stats" }
        }
        struct NetworkStats: Encodable {
            var latency: Double?
            var code2XX: Int
            var code4XX: Int
            var code5XX: Int
            enum CodingKeys: String, CodingKey {
                case latency
                case code2XX = "code_2xx"
                case code4XX = "code_4xx"
                case code5XX = "code_5xx"
            }
        }
        let document = Document(
            realtimeAPIs: apis.map { api in
                Entry(
                    spec: api.spec,
                    status: Status(
                        apiName: api.name, statusCode: api.code.rawValue, message: api.message,
                        replicaCounts: Counts(
                            updated: api.upToDateReplicas, stale: api.staleReplicas, requested: api.requestedReplicas),
                        updatedAt: api.updatedAt),
                    endpoint: "http://127.0.0.1:\(port)\(api.endpoint)",
                    metrics: Metrics(
                        networkStats: NetworkStats(
                            latency: api.meanLatency.map { $0 * 1000 }, code2XX: api.answers["2XX"] ?? 0,
                            code4XX: api.answers["4XX"] ?? 0, code5XX: api.answers["5XX"] ?? 0)))
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(document)) ?? Data(), as: UTF8.self)
    }

    /// Cortex's short age: `8s`, `3m`, `2h`, `4d` (the local and the cluster `get`).
    static func age(_ seconds: Double) -> String {
        let seconds = max(0, Int(seconds))
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 86400 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }

    /// Cortex's `%.6g ms` (`s` from 1000 ms), `-` without requests.
    static func latency(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        let milliseconds = seconds * 1000
        return milliseconds >= 1000
            ? String(format: "%.6g s", seconds) : String(format: "%.6g ms", milliseconds)
    }

    /// Rows as columns three spaces apart (the first row is the header); no trailing spaces.
    static func align(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "   ")
        }.joined(separator: "\n")
    }
}

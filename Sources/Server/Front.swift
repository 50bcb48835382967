import CortexMetrics
import Logging
import NIOCore
import NIOHTTP1
import WorkerProtocol
import Workers

/// What one listening port of the front knows (the main port, or an API's `local_port`): its routes,
/// the APIs and their pools, how to answer what is not a prediction, and how a worker's outcome
/// becomes an HTTP response. Shared by every connection on the port; the per-connection I/O is
/// `FrontConnectionHandler`.
public final class Front: Sendable {
    /// An API a prediction goes to, as routing resolved it.
    typealias Target = RegisteredAPI

    /// The routes of a port dedicated to one API (`networking.local_port`); nil on the main port,
    /// which follows the registry's routing as APIs come and go.
    let dedicatedRoutes: RouteTable?
    let registry: APIRegistry
    let requestIDs: RequestIDGenerator
    let logger: Logger
    /// The Prometheus exposition `GET /metrics` answers (nil: 404).
    let metricsExposition: (@Sendable () -> [UInt8])?
    /// How long past `predictor.timeout` a worker may keep running a request before it is killed.
    static let stuckWorkerGrace = 5.0

    public init(
        dedicatedTo api: String? = nil, registry: APIRegistry, requestIDs: RequestIDGenerator, logger: Logger,
        metricsExposition: (@Sendable () -> [UInt8])? = nil
    ) {
        self.metricsExposition = metricsExposition
        self.dedicatedRoutes = api.map { RouteTable(dedicatedTo: $0) }
        self.registry = registry
        self.requestIDs = requestIDs
        self.logger = logger
    }

    /// Where a request goes, and the API it goes to when it is a prediction.
    func route(_ head: HTTPRequestHead, routing: APIRegistry.Routing) -> (RouteTable.Decision, Target?) {
        let decision = (dedicatedRoutes ?? routing.routes).route(
            method: head.method.rawValue, path: head.uri, host: head.headers.first(name: "host"))
        guard case .predict(let name) = decision else { return (decision, nil) }
        return (decision, routing.apis[name])
    }

    // MARK: Everything but predictions

    /// The answer to a request that is not a prediction.
    func answer(_ decision: RouteTable.Decision, method: HTTPMethod, uri: String) -> FrontResponse {
        switch decision {
        case .predict(let api), .summary(let api):
            return .json(.ok, summary(for: api))
        case .health:
            return .json(.ok, #"{"status": "ok"}"#)
        case .readiness:
            return readiness()
        case .metrics:
            guard let metricsExposition else { return .error(.notFound, "no metrics are recorded by this process") }
            return FrontResponse(
                status: .ok, headers: ["content-type": PrometheusExporter.contentType],
                body: ByteBuffer(bytes: metricsExposition()))
        case .methodNotAllowed(let allow):
            var response = FrontResponse.error(.methodNotAllowed, "method \(method.rawValue) is not allowed on \(uri)")
            response.headers.add(name: "allow", value: allow.joined(separator: ", "))
            return response
        case .notFound:
            return .error(.notFound, "no route for \(method.rawValue) \(RouteTable.pathOnly(uri))")
        }
    }

    /// The JSON a `GET` on an API's endpoint answers.
    func summary(for api: String) -> String {
        var object = JSONObject()
        object.add(
            "message", "make a prediction by sending a post request to this endpoint with a json payload")
        if let models = registry.modelMetadata(for: api) { object.add("model_metadata", json: models) }
        return object.text
    }

    func readiness() -> FrontResponse {
        if registry.isDraining { return .json(.serviceUnavailable, #"{"ready": false, "draining": true}"#) }
        let notReady = registry.notReady()
        if notReady.isEmpty { return .json(.ok, #"{"ready": true}"#) }
        let list = notReady.map { entry in
            var object = JSONObject()
            object.add("api", entry.api)
            object.add("ready_workers", entry.ready)
            object.add("workers", entry.total)
            return object.text
        }
        var object = JSONObject()
        object.add("ready", false)
        object.add("not_ready", json: "[" + list.joined(separator: ", ") + "]")
        return .json(.serviceUnavailable, object)
    }

    // MARK: Predictions

    static func notReadyYet(_ api: ServedAPI) -> FrontResponse {
        .error(.serviceUnavailable, "api \(api.name) is not ready yet")
    }

    static func tooLarge(_ api: ServedAPI) -> FrontResponse {
        .error(
            .payloadTooLarge,
            "request body is larger than \(api.maxRequestSize) bytes (networking.max_request_size of api \(api.name))")
    }

    static func timedOut(_ api: ServedAPI, timeout: Double, requestID: String) -> FrontResponse {
        .error(
            .gatewayTimeout,
            "the request did not finish within \(seconds(timeout)) (predictor.timeout of api \(api.name))",
            requestID: requestID)
    }

    static let clientClosedStatus = HTTPResponseStatus(statusCode: 499, reasonPhrase: "Client Closed Request")

    static func clientClosed() -> FrontResponse {
        .error(clientClosedStatus, "client closed the connection")
    }

    /// A worker's outcome as the client sees it.
    func response(
        for result: Result<WorkerResponse, any Error>, target: Target, requestID: String
    ) -> FrontResponse {
        let api = target.api
        switch result {
        case .success(let reply):
            return workerResponse(reply, target: target, requestID: requestID)
        case .failure(let error as DispatchError):
            switch error {
            case .overloaded(let limit):
                return .retryLater(
                    .serviceUnavailable,
                    "api \(api.name) already holds its limit of \(limit) requests (autoscaling.max_replica_concurrency); retry later",
                    requestID: requestID, extra: ("limit", limit))
            case .workerDied(let how):
                target.logger.error("worker died while running request", metadata: ["request_id": .string(requestID)])
                return .error(.badGateway, "the worker running this request died (\(how))", requestID: requestID)
            case .shuttingDown:
                return .error(.serviceUnavailable, "the server is shutting down")
            case .noWorkerAvailable(let waited):
                return .retryLater(
                    .serviceUnavailable,
                    "no worker of api \(api.name) is available: all are down or restarting, and none came back within \(Self.seconds(waited)); retry later",
                    requestID: requestID)
            }
        case .failure(is CancellationError):
            return Self.clientClosed()
        case .failure(let error):
            target.logger.error("worker protocol error: \(error)", metadata: ["request_id": .string(requestID)])
            return .error(.internalServerError, "internal server error", requestID: requestID)
        }
    }

    private func workerResponse(_ reply: WorkerResponse, target: Target, requestID: String) -> FrontResponse {
        if reply.meta.outcome == .raised {
            target.logger.error(
                "predictor raised: \(String(buffer: reply.body))", metadata: ["request_id": .string(requestID)])
            return .error(.internalServerError, "internal server error", requestID: requestID)
        }
        var headers = HTTPHeaders()
        headers.reserveCapacity(reply.meta.headers.count + 6)
        for field in reply.meta.headers where !Self.isHopByHop(field.name) {
            headers.add(name: field.name, value: field.value)
        }
        return FrontResponse(
            status: HTTPResponseStatus(statusCode: Int(reply.meta.status)), headers: headers, body: reply.body)
    }

    /// Headers the front sets itself (framing and persistence), never copied from a worker's answer.
    static func isHopByHop(_ name: String) -> Bool {
        switch name.lowercased() {
        case "content-length", "transfer-encoding", "connection": true
        default: false
        }
    }

    /// The request's headers as the worker receives them: lower-case names, in order, with the
    /// request's id as `x-request-id` (replacing whatever the client sent).
    static func headerFields(of headers: HTTPHeaders, requestID: String) -> [HeaderField] {
        var fields: [HeaderField] = []
        fields.reserveCapacity(headers.count + 1)
        for (name, value) in headers {
            let name = name.lowercased()
            if name != "x-request-id" { fields.append(HeaderField(name, value)) }
        }
        fields.append(HeaderField("x-request-id", requestID))
        return fields
    }

    /// A request's id: the client's own `X-Request-ID` when it sent a usable one (1–128 printable
    /// ASCII characters, kept verbatim), else the generated one.
    static func requestID(clientSent headers: HTTPHeaders, generated: UInt64) -> String {
        if let sent = headers.first(name: "x-request-id"), isUsableRequestID(sent) { return sent }
        return RequestIDGenerator.format(generated)
    }

    static func isUsableRequestID(_ value: String) -> Bool {
        let bytes = value.utf8
        return (1...128).contains(bytes.count) && bytes.allSatisfy { (0x20...0x7E).contains($0) }
    }

    /// `Server-Timing` (W3C): `queue` from the body being read to the worker starting, `worker` from then
    /// to its answer (both when a worker ran it), `total` from the request's head to the response;
    /// durations in milliseconds.
    static func serverTiming(total: TimeAmount, queue: TimeAmount?, worker: TimeAmount?) -> String {
        var value = ""
        if let queue, let worker {
            value = "queue;dur=\(milliseconds(queue)), worker;dur=\(milliseconds(worker)), "
        }
        return value + "total;dur=\(milliseconds(total))"
    }

    /// Milliseconds with three decimals (microsecond resolution).
    static func milliseconds(_ amount: TimeAmount) -> String {
        let micros = max(0, amount.nanoseconds / 1000)
        let fraction = String(micros % 1000)
        return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    static func query(of uri: String) -> String {
        guard let question = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return "" }
        return String(uri[uri.utf8.index(after: question)...])
    }

    static func addCORSHeaders(_ headers: inout HTTPHeaders) {
        headers.add(name: "access-control-allow-origin", value: "*")
        headers.add(name: "access-control-allow-headers", value: "*")
        headers.add(name: "access-control-allow-methods", value: "GET, POST")
        headers.add(name: "access-control-allow-credentials", value: "true")
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))s" : "\(value)s"
    }
}

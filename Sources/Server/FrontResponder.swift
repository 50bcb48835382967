import FormParsing
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WorkerProtocol
import Workers

/// Answers every HTTP request of the front: routing, body parsing, dispatch to the workers, and
/// turning worker responses into HTTP responses.
public struct FrontResponder: HTTPResponder {
    public typealias Context = FrontContext

    let routes: RouteTable
    let registry: APIRegistry
    let requestIDs: RequestIDGenerator
    let connectionGuards = ConnectionGuards()
    let logger: Logger
    /// Loggers tagged with each API's name (built once: tags are rendered when metadata is set).
    let apiLoggers: [String: Logger]
    /// How long past `predictor.timeout` a worker may keep running a request before it is killed.
    static let stuckWorkerGrace = 5.0

    public init(routes: RouteTable, registry: APIRegistry, requestIDs: RequestIDGenerator, logger: Logger) {
        self.routes = routes
        self.registry = registry
        self.requestIDs = requestIDs
        self.logger = logger
        self.apiLoggers = Dictionary(
            uniqueKeysWithValues: registry.order.map { name in
                var tagged = logger
                tagged[metadataKey: "api"] = .string(name)
                return (name, tagged)
            })
    }

    func logger(for api: String) -> Logger { apiLoggers[api] ?? logger }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.head.path ?? "/"
        switch routes.route(method: request.method.rawValue, path: path, host: request.head.authority) {
        case .predict(let api):
            return await predict(request, api: registry.apis[api]!, channel: context.channel)
        case .summary(let api):
            return Self.json(.ok, registry.summary(for: api))
        case .health:
            return Self.json(.ok, #"{"status": "ok"}"#)
        case .readiness:
            return readiness()
        case .methodNotAllowed(let allow):
            var response = Self.error(.methodNotAllowed, "method \(request.method.rawValue) is not allowed on \(path)")
            response.headers[.allow] = allow.joined(separator: ", ")
            return response
        case .notFound:
            return Self.error(.notFound, "no route for \(request.method.rawValue) \(Self.pathOnly(path))")
        }
    }

    private func readiness() -> Response {
        if registry.isDraining { return Self.json(.serviceUnavailable, #"{"ready": false, "draining": true}"#) }
        let notReady = registry.notReady()
        if notReady.isEmpty { return Self.json(.ok, #"{"ready": true}"#) }
        let list = notReady.map { #"{"api": "\#($0.api)", "ready_workers": \#($0.ready), "workers": \#($0.total)}"# }
        return Self.json(.serviceUnavailable, #"{"ready": false, "not_ready": [\#(list.joined(separator: ", "))]}"#)
    }

    // MARK: Prediction

    private func predict(_ request: Request, api: ServedAPI, channel: any Channel) async -> Response {
        let started = ContinuousClock.now
        let id = requestIDs.next()
        let idString = RequestIDGenerator.format(id)
        var response = await dispatch(request, api: api, id: id, idString: idString, channel: channel)
        response.headers[.xRequestID] = idString
        // While draining, tell keep-alive clients to reconnect (to another replica) for their next request.
        if registry.isDraining { response.headers[.connection] = "close" }
        if (200..<400).contains(response.status.code) { Self.addCORSHeaders(&response.headers) }
        let elapsed = ContinuousClock.now - started
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        let fraction = micros % 1000 / 10
        logger(for: api.name).info(
            "request request_id=\(idString) status=\(response.status.code) latency_ms=\(micros / 1000).\(fraction < 10 ? "0" : "")\(fraction)"
        )
        return response
    }

    private func dispatch(
        _ request: Request, api: ServedAPI, id: UInt64, idString: String, channel: any Channel
    ) async -> Response {
        guard let pool = registry.pool(for: api.name) else {
            return Self.error(.serviceUnavailable, "api \(api.name) is not ready yet")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > api.maxRequestSize {
            return tooLarge(api)
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: api.maxRequestSize)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {
            return tooLarge(api)
        } catch {
            return Self.error(.badRequest, "could not read the request body: \(error)")
        }
        let payload: EncodedPayload
        do {
            payload = try PayloadEncoder.encode(
                contentType: request.headers[.contentType], body: body,
                query: Self.query(of: request.head.path ?? ""), headers: Self.headerFields(of: request))
        } catch {
            return Self.error(.badRequest, "\(error)")
        }
        // A client that disconnects while its request waits gets it withdrawn: never run for nobody.
        // The pool watches the connection from the moment the request is queued; no guard any more
        // means the connection has already closed.
        let connectionGuard = connectionGuards.guardFor(channel)
        guard connectionGuard != nil || channel.isActive else { return Self.clientClosed() }
        defer { connectionGuard?.unwatch() }
        do {
            let reply: WorkerResponse
            if let timeout = api.timeout {
                guard
                    let answered = try await submit(
                        to: pool, id: id, payload: payload, client: connectionGuard, timeout: timeout)
                else {
                    return Self.error(
                        .gatewayTimeout,
                        "the request did not finish within \(Self.seconds(timeout)) (predictor.timeout of api \(api.name))",
                        requestID: idString)
                }
                reply = answered
            } else {
                reply = try await pool.submit(
                    id: id, meta: payload.meta, body: payload.body, client: connectionGuard)
            }
            return workerResponse(reply, api: api, idString: idString)
        } catch let error as DispatchError {
            switch error {
            case .overloaded(let limit):
                var response = Self.error(
                    .serviceUnavailable,
                    "api \(api.name) already holds its limit of \(limit) requests (autoscaling.max_replica_concurrency); retry later",
                    requestID: idString, extra: ["limit": limit])
                response.headers[.retryAfter] = "1"
                return response
            case .workerDied(let how):
                logger.error("worker died while running request", metadata: ["request_id": .string(idString)])
                return Self.error(
                    .badGateway, "the worker running this request died (\(how))", requestID: idString)
            case .shuttingDown:
                return Self.error(.serviceUnavailable, "the server is shutting down")
            case .noWorkerAvailable(let waited):
                var response = Self.error(
                    .serviceUnavailable,
                    "no worker of api \(api.name) is available: all are down or restarting, and none came back within \(Self.seconds(waited)); retry later",
                    requestID: idString)
                response.headers[.retryAfter] = "1"
                return response
            }
        } catch is CancellationError {
            return Self.clientClosed()
        } catch {
            logger.error("worker protocol error: \(error)", metadata: ["request_id": .string(idString)])
            return Self.error(.internalServerError, "internal server error", requestID: idString)
        }
    }

    /// Submits with a deadline; nil when it passed. A request still queued then is withdrawn (never
    /// sent); one running keeps its worker until it finishes or the grace period after the deadline
    /// passes, when the worker is killed.
    private func submit(
        to pool: WorkerPool, id: UInt64, payload: EncodedPayload, client: ConnectionGuard?, timeout: Double
    ) async throws -> WorkerResponse? {
        try await withThrowingTaskGroup(of: WorkerResponse?.self) { group in
            group.addTask {
                try await pool.submit(id: id, meta: payload.meta, body: payload.body, client: client)
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                return nil
            }
            let first = try await group.next()!
            if first == nil { pool.cancel(id, killAfter: Self.stuckWorkerGrace) }
            group.cancelAll()
            return first
        }
    }

    static func clientClosed() -> Response {
        error(.init(code: 499, reasonPhrase: "Client Closed Request"), "client closed the connection")
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))s" : "\(value)s"
    }

    private func workerResponse(_ reply: WorkerResponse, api: ServedAPI, idString: String) -> Response {
        if reply.meta.outcome == .raised {
            logger.error(
                "predictor raised: \(String(buffer: reply.body))",
                metadata: ["request_id": .string(idString), "api": .string(api.name)])
            return Self.error(.internalServerError, "internal server error", requestID: idString)
        }
        var headers = HTTPFields()
        for field in reply.meta.headers {
            guard let name = HTTPField.Name(field.name), !Self.hopByHop.contains(name) else { continue }
            headers.append(HTTPField(name: name, value: field.value))
        }
        return Response(
            status: HTTPResponse.Status(code: Int(reply.meta.status)), headers: headers,
            body: ResponseBody(byteBuffer: reply.body))
    }

    private func tooLarge(_ api: ServedAPI) -> Response {
        Self.error(
            .contentTooLarge,
            "request body is larger than \(api.maxRequestSize) bytes (networking.max_request_size of api \(api.name))")
    }

    // MARK: Helpers

    static let hopByHop: Set<HTTPField.Name> = [.contentLength, .transferEncoding, .connection]

    static func headerFields(of request: Request) -> [HeaderField] {
        var fields: [HeaderField] = []
        fields.reserveCapacity(request.headers.count + 1)
        if let authority = request.head.authority { fields.append(HeaderField("host", authority)) }
        for field in request.headers { fields.append(HeaderField(field.name.canonicalName, field.value)) }
        return fields
    }

    static func query(of path: String) -> String {
        guard let question = path.firstIndex(of: "?") else { return "" }
        return String(path[path.index(after: question)...])
    }

    static func pathOnly(_ path: String) -> String {
        path.firstIndex(of: "?").map { String(path[..<$0]) } ?? path
    }

    static func addCORSHeaders(_ headers: inout HTTPFields) {
        headers[.accessControlAllowOrigin] = "*"
        headers[.accessControlAllowHeaders] = "*"
        headers[.accessControlAllowMethods] = "GET, POST"
        headers[.accessControlAllowCredentials] = "true"
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A JSON error body: `{"error": message}`, plus the request id and any extra fields.
    static func error(
        _ status: HTTPResponse.Status, _ message: String, requestID: String? = nil, extra: [String: any Sendable] = [:]
    ) -> Response {
        var object: [String: Any] = ["error": message]
        if let requestID { object["request_id"] = requestID }
        for (key, value) in extra { object[key] = value }
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data(#"{"error": "error"}"#.utf8)
        return json(status, String(decoding: data, as: UTF8.self))
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-ID")!
}

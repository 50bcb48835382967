import Foundation
import NIOCore
import NIOHTTP1
import Testing
import Workers

@testable import Server

@Suite struct JSONObjectTests {
    @Test(arguments: [
        ("plain", #""plain""#),
        ("quote \" and backslash \\", #""quote \" and backslash \\""#),
        ("line\nfeed\r\ttab", #""line\nfeed\r\ttab""#),
        ("\u{01}\u{1f}", #""\u0001\u001f""#),
        ("é ✓ 🎉 /slash", "\"é ✓ 🎉 /slash\""),
        ("\r\n", #""\r\n""#),
    ])
    func escapesStrings(input: String, expected: String) {
        var out = ""
        JSONObject.writeString(input, to: &out)
        #expect(out == expected)
    }

    /// Any string written by the front parses back to itself with a standard JSON parser.
    @Test func randomStringsRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [Character] = [
            "a", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{7}", "\u{1f}", "é", "🎉", "\r\n", "/", " ",
        ]
        for _ in 0..<500 {
            let length = Int.random(in: 0..<20, using: &generator)
            let value = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            var object = JSONObject()
            object.add("value", value)
            object.add("n", 7)
            object.add("flag", true)
            let parsed = try JSONSerialization.jsonObject(with: Data(object.text.utf8)) as? [String: Any]
            #expect(parsed?["value"] as? String == value)
            #expect(parsed?["n"] as? Int == 7)
            #expect(parsed?["flag"] as? Bool == true)
        }
    }

    @Test func membersKeepTheirOrderAndRawJSONIsEmbedded() {
        var object = JSONObject()
        object.add("error", "x")
        object.add("request_id", "00ff")
        object.add("models", json: #"{"a": [1]}"#)
        #expect(object.text == #"{"error": "x", "request_id": "00ff", "models": {"a": [1]}}"#)
    }
}

@Suite struct FrontAnswerTests {
    let front = Front(
        registry: APIRegistry(apis: [ServedAPI(name: "iris", endpoint: "/iris", maxRequestSize: 10)]),
        requestIDs: .init(), logger: .init(label: "test"))

    static func text(_ response: FrontResponse) -> String { String(buffer: response.body) }

    @Test func notFoundNamesTheMethodAndPathWithoutTheQuery() {
        let response = front.answer(.notFound, method: .GET, uri: "/nope?x=1")
        #expect(response.status == .notFound)
        #expect(Self.text(response) == #"{"error": "no route for GET /nope"}"#)
        #expect(response.headers.first(name: "content-type") == "application/json")
    }

    @Test func methodNotAllowedListsTheAllowedMethods() {
        let response = front.answer(.methodNotAllowed(allow: ["GET", "POST"]), method: .PUT, uri: "/iris")
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers.first(name: "allow") == "GET, POST")
    }

    @Test func readinessListsAPIsWithoutWorkers() {
        let response = front.answer(.readiness, method: .GET, uri: "/readyz")
        #expect(response.status == .serviceUnavailable)
        #expect(
            Self.text(response)
                == #"{"ready": false, "not_ready": [{"api": "iris", "ready_workers": 0, "workers": 0}]}"#)
    }

    @Test func summaryEmbedsModelMetadata() {
        front.registry.setModelMetadata(#"{"m": {"versions": ["1"]}}"#, for: "iris")
        let response = front.answer(.summary(api: "iris"), method: .GET, uri: "/iris")
        let object = try? JSONSerialization.jsonObject(with: Data(Self.text(response).utf8)) as? [String: Any]
        #expect(object?["model_metadata"] != nil)
        #expect((object?["message"] as? String)?.hasPrefix("make a prediction") == true)
    }

    @Test func workerHeadersThatTheFrontOwnsAreDropped() {
        #expect(Front.isHopByHop("Content-Length"))
        #expect(Front.isHopByHop("transfer-encoding"))
        #expect(Front.isHopByHop("CONNECTION"))
        #expect(!Front.isHopByHop("content-type"))
    }

    @Test func overloadedNamesTheLimitAndAsksToRetry() {
        let target = front.registry.apis["iris"]!
        let response = front.response(
            for: .failure(DispatchError.overloaded(limit: 3)), target: target, requestID: "0000000000000001")
        #expect(response.status == .serviceUnavailable)
        #expect(response.headers.first(name: "retry-after") == "1")
        #expect(Self.text(response).contains(#""limit": 3"#))
        #expect(Self.text(response).contains(#""request_id": "0000000000000001""#))
    }

    @Test(arguments: [
        (
            DispatchError.workerDied(exitDescription: "killed by signal 9"), 502,
            "the worker running this request died (killed by signal 9)"
        ),
        (DispatchError.shuttingDown, 503, "the server is shutting down"),
        (DispatchError.noWorkerAvailable(waited: 10), 503, "no worker of api iris is available"),
    ])
    func dispatchErrorsBecomeTheirStatus(error: DispatchError, status: Int, message: String) {
        let response = front.response(
            for: .failure(error), target: front.registry.apis["iris"]!, requestID: "00000000000000aa")
        #expect(response.status.code == status)
        #expect(Self.text(response).contains(message))
    }

    @Test func aWithdrawnRequestIsLoggedAs499() {
        let response = front.response(
            for: .failure(CancellationError()), target: front.registry.apis["iris"]!, requestID: "1")
        #expect(response.status.code == 499)
    }

    @Test(arguments: [
        ("abc", true), ("", false), (String(repeating: "x", count: 128), true),
        (String(repeating: "x", count: 129), false), ("tab\there", false), ("café", false), ("a b", true),
    ])
    func clientRequestIDs(value: String, usable: Bool) {
        #expect(Front.isUsableRequestID(value) == usable)
        let id = Front.requestID(clientSent: ["X-Request-ID": value], generated: 0xab)
        #expect(id == (usable ? value : "00000000000000ab"))
    }

    @Test func thePredictorSeesExactlyOneRequestID() {
        let fields = Front.headerFields(
            of: ["Host": "x", "X-Request-ID": "old", "x-request-id": "older"], requestID: "new")
        #expect(fields.map(\.name) == ["host", "x-request-id"])
        #expect(fields.last?.value == "new")
    }

    @Test func serverTimingInMilliseconds() {
        let value = Front.serverTiming(
            total: .milliseconds(12), queue: .microseconds(1000), worker: .microseconds(10750))
        #expect(value == "queue;dur=1.000, worker;dur=10.750, total;dur=12.000")
        #expect(Front.serverTiming(total: .microseconds(7), queue: nil, worker: nil) == "total;dur=0.007")
    }
}

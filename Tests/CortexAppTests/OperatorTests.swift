import CortexConfig
import Foundation
import Testing

@testable import CortexApp

@Suite("Local operator: pure parts")
struct OperatorTests {
    @Test(
        "CORTEX_HOME is refused unless it is a directory of this user that no one else can write",
        arguments: [
            (S_IFDIR | 0o700, 1000, 1000, nil), (S_IFDIR | 0o755, 1000, 1000, nil),
            (S_IFDIR | 0o777, 1000, 1000, "writable by others (mode 777)"),
            (S_IFDIR | 0o720, 1000, 1000, "writable by others (mode 720)"),
            (S_IFDIR | 0o700, 0, 1000, "owned by uid 0, not by you (uid 1000)"),
            (S_IFLNK | 0o777, 1000, 1000, "not a directory"),
        ] as [(mode_t, uid_t, uid_t, String?)])
    func ownership(mode: mode_t, owner: uid_t, user: uid_t, problem: String?) {
        let found = OperatorHome.ownershipProblem(mode: mode, owner: owner, user: user)
        if let problem {
            #expect(found?.contains(problem) == true, "\(found ?? "nil")")
        } else {
            #expect(found == nil)
        }
    }

    @Test("CORTEX_HOME defaults: $CORTEX_HOME, then $XDG_STATE_HOME/cortex, then ~/.local/state/cortex")
    func homeResolution() {
        #expect(OperatorHome.resolve(environment: ["CORTEX_HOME": "/srv/c/"]).path == "/srv/c")
        #expect(OperatorHome.resolve(environment: ["XDG_STATE_HOME": "/st"]).path == "/st/cortex")
        #expect(OperatorHome.resolve(environment: [:]).path == NSHomeDirectory() + "/.local/state/cortex")
    }

    @Test("CORTEX_PORT must be a port")
    func port() throws {
        #expect(try OperatorOptions(environment: ["CORTEX_PORT": "9000"]).port == 9000)
        #expect(try OperatorOptions(environment: [:]).port == 8888)
        #expect(try OperatorOptions(environment: [:]).host == "127.0.0.1")
        #expect(throws: OperatorError.self) { try OperatorOptions(environment: ["CORTEX_PORT": "http"]) }
        #expect(throws: OperatorError.self) { try OperatorOptions(environment: ["CORTEX_PORT": "70000"]) }
    }

    @Test("control protocol lines round-trip and end with a newline")
    func protocolLines() throws {
        let request = ControlProtocol.Request(operation: .deploy, config: "/p/cortex.yaml", wait: true)
        let line = ControlProtocol.encode(request)
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(!line.dropLast().contains(UInt8(ascii: "\n")))
        #expect(try JSONDecoder().decode(ControlProtocol.Request.self, from: line) == request)
        let reply = ControlProtocol.Reply.error("api x: bad\nsecond line")
        let encoded = ControlProtocol.encode(reply)
        #expect(encoded.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        #expect(try JSONDecoder().decode(ControlProtocol.Reply.self, from: encoded) == reply)
    }

    @Test("get: ages and latencies as Cortex printed them")
    func formats() {
        #expect(StatusFormat.age(8) == "8s")
        #expect(StatusFormat.age(61) == "1m")
        #expect(StatusFormat.age(7300) == "2h")
        #expect(StatusFormat.age(200_000) == "2d")
        #expect(StatusFormat.latency(nil) == "-")
        #expect(StatusFormat.latency(0.000849033) == "0.849033 ms")
        #expect(StatusFormat.latency(2.5) == "2.5 s")
    }

    @Test("get: the table has 4XX/5XX columns only when there are errors")
    func table() throws {
        let spec = try #require(
            ConfigLoader.parse(
                yaml: "- name: iris\n  kind: RealtimeAPI\n  predictor:\n    type: python\n    path: p.py\n",
                file: "cortex.yaml"
            ).first)
        var status = APIStatus(
            name: "iris", code: .live, upToDateReplicas: 2, requestedReplicas: 2, staleReplicas: 0, updatedAt: 100,
            endpoint: "/iris", meanLatency: 0.002, answers: ["2XX": 5], spec: spec)
        let clean = StatusFormat.table([status], now: 130)
        #expect(clean.split(separator: "\n").first?.contains("4XX") == false)
        #expect(
            clean.split(separator: "\n").last?.split(separator: " ").map(String.init) == [
                "iris", "live", "2", "2", "30s", "2", "ms", "5",
            ])
        status.answers["5XX"] = 1
        #expect(StatusFormat.table([status], now: 130).contains("5XX"))
        #expect(StatusFormat.table([], now: 0) == "no apis are deployed")
        let json = try JSONSerialization.jsonObject(with: Data(StatusFormat.json([status], port: 9000).utf8))
        let api = try #require(((json as? [String: Any])?["realtime_apis"] as? [[String: Any]])?.first)
        #expect((api["status"] as? [String: Any])?["status_code"] as? String == "status_live")
        #expect(api["endpoint"] as? String == "http://127.0.0.1:9000/iris")
        #expect((api["spec"] as? [String: Any])?["name"] as? String == "iris")
    }

    @Test(
        "logs --tail N: the last N lines",
        arguments: [
            ("a\nb\nc\n", 2, "b\nc\n"), ("a\nb\nc", 2, "b\nc"), ("a\nb\n", 5, "a\nb\n"), ("a\nb\n", 0, ""),
            ("", 3, ""), ("only\n", 1, "only\n"),
        ] as [(String, Int, String)])
    func tail(text: String, count: Int, expected: String) {
        #expect(String(decoding: LogFollower.lastLines(Data(text.utf8), count), as: UTF8.self) == expected)
    }
}

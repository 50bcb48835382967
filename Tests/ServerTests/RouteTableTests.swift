import Testing

@testable import Server

@Suite struct RouteTableTests {
    let table = RouteTable(endpoints: [("iris", "/iris"), ("echo", "/v1/echo")])

    @Test(
        arguments: [
            ("POST", "/iris", nil, RouteTable.Decision.predict(api: "iris")),
            ("POST", "/iris/", nil, .predict(api: "iris")),
            ("POST", "/iris?x=1", nil, .predict(api: "iris")),
            ("GET", "/iris", nil, .summary(api: "iris")),
            ("PUT", "/iris", nil, .methodNotAllowed(allow: ["GET", "POST"])),
            ("POST", "/v1/echo", nil, .predict(api: "echo")),
            ("POST", "/v1", nil, .notFound),
            ("POST", "/predict", "api-echo:8888", .predict(api: "echo")),
            ("POST", "/predict", "API-ECHO", .predict(api: "echo")),
            ("POST", "/", "api-iris:1234", .predict(api: "iris")),
            ("POST", "/predict", "api-missing:8888", .notFound),
            ("POST", "/predict", "localhost:8888", .notFound),
            ("GET", "/healthz", nil, .health),
            ("GET", "/metrics", nil, .metrics),
            ("POST", "/metrics", nil, .methodNotAllowed(allow: ["GET"])),
            ("GET", "/readyz", nil, .readiness),
            ("POST", "/readyz", nil, .methodNotAllowed(allow: ["GET"])),
            ("GET", "/nope", nil, .notFound),
        ] as [(String, String, String?, RouteTable.Decision)])
    func routes(method: String, path: String, host: String?, expected: RouteTable.Decision) {
        #expect(table.route(method: method, path: path, host: host) == expected)
    }

    @Test func aDedicatedPortServesOneAPIAtRootAndPredict() {
        let table = RouteTable(dedicatedTo: "iris")
        #expect(table.route(method: "POST", path: "/", host: nil) == .predict(api: "iris"))
        #expect(table.route(method: "POST", path: "/predict", host: nil) == .predict(api: "iris"))
        #expect(table.route(method: "GET", path: "/", host: nil) == .summary(api: "iris"))
        #expect(table.route(method: "POST", path: "/iris", host: nil) == .notFound)
        #expect(table.route(method: "GET", path: "/healthz", host: nil) == .health)
    }
}

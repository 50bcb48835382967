import Testing

@testable import Server

@Suite("API registry: APIs coming and going while serving")
struct APIRegistryTests {
    @Test func upsertAddsRoutesAndKeepsReplicasAcrossConfigChanges() {
        let registry = APIRegistry(apis: [])
        let before = registry.version
        let first = registry.upsert(ServedAPI(name: "iris", endpoint: "/iris", maxRequestSize: 10))
        #expect(registry.version != before)
        #expect(registry.routing.routes.route(method: "POST", path: "/iris", host: nil) == .predict(api: "iris"))

        let changed = registry.upsert(ServedAPI(name: "iris", endpoint: "/v2/iris", maxRequestSize: 20))
        #expect(changed.replicas === first.replicas)
        #expect(changed.metrics === first.metrics)
        #expect(registry.routing.routes.route(method: "POST", path: "/iris", host: nil) == .notFound)
        #expect(registry.routing.routes.route(method: "POST", path: "/v2/iris", host: nil) == .predict(api: "iris"))
        #expect(registry.apis["iris"]?.api.maxRequestSize == 20)
    }

    @Test func removeAnswers404FromThenOnAndKeepsTheOrderOfTheRest() {
        let registry = APIRegistry(apis: [
            ServedAPI(name: "a", endpoint: "/a", maxRequestSize: 1),
            ServedAPI(name: "b", endpoint: "/b", maxRequestSize: 1),
        ])
        registry.upsert(ServedAPI(name: "c", endpoint: "/c", maxRequestSize: 1))
        #expect(registry.order == ["a", "b", "c"])
        let version = registry.version
        registry.remove("b")
        #expect(registry.version != version)
        #expect(registry.order == ["a", "c"])
        #expect(registry.routing.routes.route(method: "POST", path: "/b", host: nil) == .notFound)
        #expect(
            registry.routing.routes.route(method: "POST", path: "/predict", host: "api-c:8888") == .predict(api: "c"))
    }

    @Test func anAPIWithoutReplicasIsNotReadyUnlessItParksRequests() {
        let registry = APIRegistry(apis: [ServedAPI(name: "a", endpoint: "/a", maxRequestSize: 1)])
        #expect(registry.notReady().map(\.api) == ["a"])
        #expect(registry.apis["a"]?.replicas.acceptsRequests == false)
        registry.apis["a"]?.replicas.parkWhenEmpty(true, limit: 4)
        #expect(registry.notReady().isEmpty)
        #expect(registry.apis["a"]?.replicas.acceptsRequests == true)
        registry.apis["a"]?.replicas.close()
        #expect(registry.apis["a"]?.replicas.acceptsRequests == false)
    }
}

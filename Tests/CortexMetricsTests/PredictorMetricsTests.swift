import CoreMetrics
import Foundation
import Testing

@testable import CortexMetrics

/// The shared vectors: `Tests/vectors/metrics.json` (naming rules, also checked by the Python
/// `metrics_client`) and the `METRICS` frame of `Tests/WorkerProtocolTests/vectors/frames.json`.
enum MetricsVectors {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    /// The file as plain JSON objects: a call's value and tags are whatever JSON the vector has.
    nonisolated(unsafe) static let file: [String: Any] = {
        let data = try! Data(contentsOf: tests.appendingPathComponent("vectors/metrics.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static var calls: [[String: Any]] { file["calls"] as! [[String: Any]] }
    static var conflicts: [[String: Any]] { file["conflicts"] as! [[String: Any]] }
    static func call(_ name: String) -> [String: Any] { calls.first { $0["case"] as? String == name }! }
    static func conflict(_ name: String) -> [String: Any] { conflicts.first { $0["case"] as? String == name }! }

    /// The `METRICS` meta of one call, as a worker would send it.
    static func meta(_ call: [String: Any]) -> [UInt8] {
        let entry: [String: Any] = [
            "kind": call["kind"]!, "name": call["name"]!, "value": call["value"]!,
            "tags": call["tags"]!,
        ]
        return Array(try! JSONSerialization.data(withJSONObject: ["metrics": [entry]]))
    }

    static func sample(_ call: [String: Any]) throws -> MetricSample {
        let samples = try MetricsFrame.decode(meta(call))
        #expect(samples.count == 1)
        return samples[0]
    }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }
}

@Suite struct PredictorMetricsVectorTests {
    @Test(arguments: MetricsVectors.calls.map { $0["case"] as! String })
    func callsFollowTheSharedRules(name: String) throws {
        let call = MetricsVectors.call(name)
        let code = call["error"] as? String
        let sample: MetricSample
        do {
            sample = try MetricsVectors.sample(call)
        } catch {
            // what JSON cannot carry as a sample (a value that is not a number, a tag value that is not
            // a string) makes the whole frame malformed
            #expect(code == "not-a-number" || code == "tag-value", "\(error)")
            return
        }
        var catalog = PredictorMetricsCatalog()
        let result = catalog.admit(sample, api: "iris")
        if let exposed = (call["exposed"] ?? call["front_exposed"]) as? String {
            let admitted = try result.get()
            #expect(admitted.series.name == exposed)
            #expect(admitted.series.api == "iris" && admitted.isNewSeries)
            #expect(admitted.series.dimensions.first! == ("api", "iris"))
            #expect(admitted.series.tags.map(\.name) == (call["tags"] as! [String: String]).keys.sorted())
        } else {
            guard case .failure(let error) = result else {
                Issue.record("\(name) was accepted; expected \(code ?? "?")")
                return
            }
            #expect(error.code == code, "\(error)")
        }
    }

    @Test(arguments: MetricsVectors.conflicts.map { $0["case"] as! String })
    func aNameKeepsItsKind(name: String) throws {
        let vector = MetricsVectors.conflict(name)
        var catalog = PredictorMetricsCatalog()
        _ = try catalog.admit(MetricsVectors.sample(vector["first"] as! [String: Any]), api: "a").get()
        // the rule holds across APIs: the registry is one
        let secondSample = try MetricsVectors.sample(vector["second"] as! [String: Any])
        let second = catalog.admit(secondSample, api: "b")
        if let code = vector["error"] as? String {
            guard case .failure(let error) = second else {
                Issue.record("\(name): the second call was accepted")
                return
            }
            #expect(error.code == code)
        } else {
            _ = try second.get()
        }
    }

    @Test func theFrameVectorDecodes() throws {
        let url = MetricsVectors.tests.appendingPathComponent("WorkerProtocolTests/vectors/frames.json")
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let vector = (file["frames"] as! [[String: Any]]).first { $0["name"] as? String == "metrics" }!
        #expect(vector["kind"] as? Int == 40)
        let samples = try MetricsFrame.decode(MetricsVectors.bytes(hex: vector["meta_hex"] as! String))
        #expect(
            samples == [
                MetricSample(kind: .counter, name: "predictions_total", value: 3, tags: ["label": "cat"]),
                MetricSample(
                    kind: .counter, name: "cortex_model_loads_total", value: 1,
                    tags: ["model": "iris", "outcome": "ok", "version": "1"]),
                MetricSample(kind: .gauge, name: "queue_depth", value: 0.5),
                MetricSample(kind: .histogram, name: "score", value: 0.25, tags: ["model": "café"]),
                MetricSample(kind: .histogram, name: "score", value: 2, tags: ["model": "café"]),
                MetricSample(
                    kind: .histogram, name: "cortex_model_load_seconds", value: 0.125, tags: ["model": "iris"]),
            ])
        var catalog = PredictorMetricsCatalog()
        for sample in samples { _ = try catalog.admit(sample, api: "iris").get() }
        #expect(catalog.seriesCount(api: "iris") == 3)  // the runtime's series are counted apart
    }
}

@Suite struct PredictorMetricsCatalogTests {
    @Test(arguments: [
        "", "not json", "[]", "{}", #"{"metrics": {}}"#, #"{"metrics": [1]}"#,
        #"{"metrics": [{"kind": "timer", "name": "a", "value": 1}]}"#,
        #"{"metrics": [{"kind": "gauge", "value": 1}]}"#,
        #"{"metrics": [{"kind": "gauge", "name": "a", "value": 1, "tags": ["x"]}]}"#,
        #"{"metrics": [{"kind": "gauge", "name": "a", "value": 1, "tags": {"x": null}}]}"#,
    ])
    func malformedFramesAreRefusedWhole(meta: String) {
        #expect(throws: MalformedMetricsFrame.self) { try MetricsFrame.decode(Array(meta.utf8)) }
    }

    @Test func invalidUTF8IsMalformed() {
        #expect(throws: MalformedMetricsFrame.self) {
            try MetricsFrame.decode([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D])
        }
    }

    @Test func tagsAreOptional() throws {
        let samples = try MetricsFrame.decode(
            Array(#"{"metrics": [{"kind": "gauge", "name": "a", "value": -1}]}"#.utf8))
        #expect(samples == [MetricSample(kind: .gauge, name: "a", value: -1)])
    }

    @Test func nonFiniteValuesAreRefused() {
        var catalog = PredictorMetricsCatalog()
        for value in [Double.nan, .infinity, -.infinity] {
            let result = catalog.admit(MetricSample(kind: .histogram, name: "h", value: value), api: "a")
            #expect(throws: PredictorMetricsError.notFinite(metric: "h")) { try result.get() }
        }
    }

    @Test func seriesAreCappedPerAPI() throws {
        var catalog = PredictorMetricsCatalog(seriesLimit: 10)
        for i in 0..<10 {
            let admitted = try catalog.admit(
                MetricSample(kind: .counter, name: "hits", value: 1, tags: ["user": "\(i)"]), api: "a"
            ).get()
            #expect(admitted.isNewSeries)
        }
        let over = catalog.admit(MetricSample(kind: .counter, name: "hits", value: 1, tags: ["user": "10"]), api: "a")
        #expect(throws: PredictorMetricsError.tooManySeries(limit: 10)) { try over.get() }
        #expect(catalog.seriesCount(api: "a") == 10)
        // series already known still record; other APIs have their own budget; so do the runtime's metrics
        let known = try catalog.admit(
            MetricSample(kind: .counter, name: "hits", value: 2, tags: ["user": "3"]), api: "a"
        ).get()
        #expect(!known.isNewSeries && known.value == 2)
        _ = try catalog.admit(MetricSample(kind: .counter, name: "hits", value: 1, tags: ["user": "10"]), api: "b")
            .get()
        _ = try catalog.admit(
            MetricSample(kind: .histogram, name: MetricNames.modelLoadSeconds, value: 1, tags: ["model": "m"]),
            api: "a"
        ).get()
    }

    @Test func theFirstUseOfANameCarriesItsHelpText() throws {
        var catalog = PredictorMetricsCatalog()
        let first = try catalog.admit(MetricSample(kind: .counter, name: "hits", value: 1), api: "iris").get()
        #expect(first.help == "Recorded by the predictor of api iris.")
        let again = try catalog.admit(MetricSample(kind: .counter, name: "hits_total", value: 1), api: "wine").get()
        #expect(again.help == nil && again.series.name == "hits_total")
        let runtime = try catalog.admit(
            MetricSample(
                kind: .counter, name: MetricNames.modelLoads, value: 1,
                tags: ["model": "m", "version": "1", "outcome": "error"]), api: "iris"
        ).get()
        #expect(runtime.help == nil)
    }

    @Test func errorsAreActionable() {
        var catalog = PredictorMetricsCatalog()
        _ = catalog.admit(MetricSample(kind: .counter, name: "hits", value: 1), api: "a")
        let error = catalog.admit(MetricSample(kind: .gauge, name: "hits", value: 1), api: "b")
        guard case .failure(let conflict) = error else {
            Issue.record("accepted")
            return
        }
        #expect(
            conflict.description
                == "metric hits is a counter; recording it as a gauge is refused (a metric name keeps one type across all APIs)"
        )
        #expect(conflict.metric == "hits")
    }
}

@Suite struct PredictorMetricsRecorderTests {
    @Test func recordsIntoThePrometheusRegistryWithTheAPILabel() throws {
        let exporter = PrometheusExporter()
        let recorder = PredictorMetricsRecorder(seriesLimit: 3, factory: exporter)
        let refusals = recorder.record(
            [
                MetricSample(kind: .counter, name: "rec_predictions", value: 1, tags: ["label": "cat"]),
                MetricSample(kind: .counter, name: "rec_predictions", value: 2, tags: ["label": "cat"]),
                MetricSample(kind: .gauge, name: "rec_queue_depth", value: 4),
                MetricSample(kind: .gauge, name: "rec_queue_depth", value: 2.5),
                MetricSample(kind: .histogram, name: "rec_score", value: 0.5, tags: ["q": "a\"b"]),
                MetricSample(kind: .gauge, name: "rec_predictions", value: 1),  // kind conflict
                MetricSample(kind: .gauge, name: "rec_predictions", value: 1),  // reported once
                MetricSample(kind: .counter, name: "rec_over", value: 1),  // the 4th series
                MetricSample(
                    kind: .counter, name: MetricNames.modelLoads, value: 1,
                    tags: ["model": "m", "version": "1", "outcome": "ok"]),
                MetricSample(kind: .histogram, name: MetricNames.modelLoadSeconds, value: 42, tags: ["model": "m"]),
            ], api: "rec")
        #expect(refusals.map(\.code) == ["kind-conflict", "too-many-series"])
        #expect(
            recorder.record([MetricSample(kind: .counter, name: "rec_over2", value: 1)], api: "rec").isEmpty,
            "the cap is reported once per API")
        let text = String(decoding: exporter.exposition(), as: UTF8.self)
        #expect(text.contains("# HELP rec_predictions_total Recorded by the predictor of api rec.\n"))
        #expect(text.contains("# TYPE rec_predictions_total counter\n"))
        #expect(text.contains(#"rec_predictions_total{api="rec",label="cat"} 3"#))
        #expect(text.contains("# TYPE rec_queue_depth gauge\n"))
        #expect(text.contains(#"rec_queue_depth{api="rec"} 2.5"#))
        #expect(text.contains("# TYPE rec_score histogram\n"))
        #expect(text.contains(#"rec_score_count{api="rec",q="a\"b"} 1"#))
        #expect(!text.contains("rec_over"))
        #expect(text.contains("# HELP cortex_model_loads_total Model version loads"))
        #expect(text.contains(#"cortex_model_loads_total{api="rec",model="m",outcome="ok",version="1"} 1"#))
        // model loads have buckets up to minutes
        #expect(text.contains(#"cortex_model_load_seconds_bucket{api="rec",model="m",le="60.0"} 1"#))
    }
}

import CortexConfig
import Foundation
import Testing

@Suite struct UnitsTests {
    @Test(arguments: [
        ("0", 0.0), ("60s", 60), ("5m", 300), ("1m30s", 90), ("1h", 3600), ("1.5h", 5400),
        ("100ms", 0.1),
        ("-1m", -60), ("+5s", 5), (".5s", 0.5), ("1h2m3s", 3723), ("1500us", 0.0015), ("2µs", 0.000002),
        ("10ns", 1e-8), ("0s", 0),
    ])
    func goDurationsParse(text: String, seconds: Double) throws {
        let value = try #require(GoDuration.parse(text))
        #expect(abs(value - seconds) < 1e-12)
    }

    @Test(arguments: ["", "60", "s", "1x", "1m30", "-", "abc", " 1s", "1s ", "1.2.3s", "1d"])
    func invalidGoDurations(text: String) {
        #expect(GoDuration.parse(text) == nil)
    }

    @Test(arguments: [
        (0.0, "0s"), (10, "10s"), (60, "1m0s"), (90, "1m30s"), (300, "5m0s"), (3600, "1h0m0s"),
        (1.5, "1.5s"),
        (0.5, "500ms"), (-90, "-1m30s"),
    ])
    func goDurationsFormat(seconds: Double, text: String) {
        #expect(GoDuration.format(seconds) == text)
    }

    @Test(arguments: [
        ("500m", 0.5), ("2", 2), ("1.5", 1.5), ("20Mi", 20_971_520), ("1Ki", 1024),
        ("1Gi", 1_073_741_824),
        ("1G", 1e9), ("100k", 1e5), ("1e3", 1000), ("1E", 1e18), (".5", 0.5), ("+1", 1),
        ("250u", 0.00025),
    ])
    func quantitiesParse(text: String, value: Double) throws {
        let parsed = try #require(Quantity.parse(text))
        #expect(abs(parsed - value) <= abs(value) * 1e-12)
    }

    @Test(arguments: ["", "abc", "1 Gi", "Mi", "1.2.3", "1e", "1mi", "1KB", "."])
    func invalidQuantities(text: String) {
        #expect(Quantity.parse(text) == nil)
    }

    @Test func jsonTextIsCompactWithSortedKeys() {
        let value: JSONValue = ["b": [1, 2.5, "x"], "a": nil, "c": ["z": true, "y": false]]
        #expect(value.jsonText == #"{"a":null,"b":[1,2.5,"x"],"c":{"y":false,"z":true}}"#)
        #expect(JSONValue.object([:]).jsonText == "{}")
        #expect(JSONValue.array([]).jsonText == "[]")
    }

    @Test func jsonTextEscapesStrings() {
        #expect(JSONValue.string("a\"b\\c\n\t\r\u{1}é☃").jsonText == #""a\"b\\c\n\t\r\u0001é☃""#)
    }

    @Test(arguments: [
        (JSONValue.double(2), "2.0"), (.double(0.1), "0.1"), (.double(-3.25), "-3.25"),
        (.double(1e-5), "1e-05"),
        (.double(.infinity), "Infinity"), (.double(-.infinity), "-Infinity"), (.double(.nan), "NaN"),
        (.int(-7), "-7"),
        (.bool(true), "true"), (.null, "null"),
    ])
    func jsonTextScalars(value: JSONValue, text: String) {
        #expect(value.jsonText == text)
    }

    @Test func jsonTextIsValidJSON() throws {
        let value: JSONValue = [
            "s": "line\nbreak \"quoted\" \u{7}", "n": [1, -2, 3.5, 1e300], "o": ["k": nil],
        ]
        let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(value.jsonText.utf8))
        #expect(parsed == value)
    }

    @Test func jsonValueCodableRoundTrip() throws {
        let value: JSONValue = ["a": [1, "two", 3.5, true, nil, ["x": []]]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
    }
}

import FormParsing
import Testing

@Suite struct ContentTypeTests {
    func boundaryError(_ contentType: String) -> String? {
        errorMessage { () throws(FormParseError) in try FormParser.boundary(fromContentType: contentType) }
    }

    @Test func mediaType() {
        #expect(FormParser.mediaType(of: "multipart/form-data; boundary=abc") == "multipart/form-data")
        #expect(
            FormParser.mediaType(of: "  Application/X-WWW-Form-URLEncoded ;charset=UTF-8")
                == "application/x-www-form-urlencoded")
        #expect(FormParser.mediaType(of: "MULTIPART/FORM-DATA") == "multipart/form-data")
        #expect(FormParser.mediaType(of: "") == "")
        #expect(FormParser.mediaType(of: ";boundary=x") == "")
        #expect(FormParser.mediaType(of: "text/plain\t") == "text/plain")
    }

    @Test func boundaryExtraction() throws {
        #expect(try FormParser.boundary(fromContentType: "multipart/form-data; boundary=abc123") == "abc123")
        #expect(
            try FormParser.boundary(
                fromContentType: "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW")
                == "----WebKitFormBoundary7MA4YWxkTrZu0gW")
        #expect(try FormParser.boundary(fromContentType: "multipart/form-data;boundary=\"a b:c,d?\"") == "a b:c,d?")
        #expect(try FormParser.boundary(fromContentType: "multipart/form-data; BOUNDARY = xyz ") == "xyz")
        #expect(
            try FormParser.boundary(fromContentType: "multipart/form-data; charset=utf-8; boundary=\"q\\\"x\"; x=y")
                == "q\"x")
        #expect(
            try FormParser.boundary(fromContentType: "multipart/form-data; boundary=\"semi;colon\"") == "semi;colon")
        let seventy = String(repeating: "b", count: 70)
        #expect(try FormParser.boundary(fromContentType: "multipart/form-data; boundary=\(seventy)") == seventy)
    }

    @Test func boundaryErrors() {
        #expect(boundaryError("multipart/form-data") == "multipart Content-Type has no boundary parameter")
        #expect(
            boundaryError("multipart/form-data; charset=utf-8") == "multipart Content-Type has no boundary parameter")
        #expect(boundaryError("multipart/form-data; boundary=") == "multipart boundary is empty")
        #expect(boundaryError("multipart/form-data; boundary=\"\"") == "multipart boundary is empty")
        #expect(boundaryError("multipart/form-data; boundary") == "multipart boundary is empty")
        #expect(
            boundaryError("multipart/form-data; boundary=\(String(repeating: "b", count: 71))")
                == "multipart boundary is longer than 70 characters")
        #expect(
            boundaryError("multipart/form-data; boundary=\"tab\there\"")
                == "multipart boundary \"tab\\x09here\" contains characters other than printable ASCII")
        #expect(
            boundaryError("multipart/form-data; boundary=ünï")
                == "multipart boundary \"\\xC3\\xBCn\\xC3\\xAF\" contains characters other than printable ASCII")
        #expect(
            boundaryError("multipart/form-data; boundary=a; boundary=b")
                == "malformed Content-Type: duplicate \"boundary\" parameter")
        #expect(
            boundaryError("multipart/form-data; boundary=\"abc")
                == "malformed Content-Type: unterminated quoted string in parameter \"boundary\"")
    }
}

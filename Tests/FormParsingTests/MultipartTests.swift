import FormParsing
import Testing

@Suite struct MultipartTests {
    let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"

    func parse(_ s: String, boundary: String? = nil, limits: FormLimits = .init()) throws -> [FormPart] {
        try FormParser.parseMultipart(bytes(s), boundary: boundary ?? self.boundary, limits: limits)
    }

    func error(_ s: String, boundary: String? = nil, limits: FormLimits = .init()) -> String? {
        errorMessage { () throws(FormParseError) in
            try FormParser.parseMultipart(bytes(s), boundary: boundary ?? self.boundary, limits: limits)
        }
    }

    @Test func textFieldsAndFiles() throws {
        let b = boundary
        let body =
            "--\(b)\r\n"
            + "Content-Disposition: form-data; name=\"text\"\r\n\r\n"
            + "hello world\r\n"
            + "--\(b)\r\n"
            + "Content-Disposition: form-data; name=\"upload\"; filename=\"notes.txt\"\r\n"
            + "Content-Type: text/plain\r\n\r\n"
            + "line 1\r\nline 2\r\n\r\n"
            + "--\(b)\r\n"
            + "Content-Disposition: form-data; name=\"empty\"\r\n\r\n"
            + "\r\n"
            + "--\(b)\r\n"
            + "Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            + "Content-Type: image/png\r\n\r\n"
            + "\u{1}PNG\r\n"
            + "--\(b)\r\n"
            + "Content-Disposition: form-data; name=\"text\"\r\n\r\n"
            + "again\r\n"
            + "--\(b)--\r\n"
        let parts = try parse(body)
        #expect(
            parts == [
                FormPart(name: "text", value: bytes("hello world")),
                FormPart(
                    name: "upload", filename: "notes.txt", contentType: "text/plain",
                    value: bytes("line 1\r\nline 2\r\n")),
                FormPart(name: "empty", value: []),
                FormPart(name: "image", filename: "a.png", contentType: "image/png", value: bytes("\u{1}PNG")),
                FormPart(name: "text", value: bytes("again")),
            ])
        #expect(parts.map(\.isFile) == [false, true, false, true, false])
    }

    @Test func binaryFileWithEveryByteAndDelimiterLookalikes() throws {
        var content: [UInt8] = Array(0...255)
        content += bytes("\r\n--\r\n--\(boundary.dropLast())\r\n")  // A boundary prefix.
        content += bytes("\r\n--\(boundary)X\r\n")  // The boundary followed by data.
        content += bytes("\r\n--\(boundary)-x")  // One dash is not the close delimiter.
        content += bytes("--\(boundary)\r\n")  // Not at the start of a line.
        content += bytes("\n--\(boundary)\n")  // A bare-LF delimiter in a CRLF body.
        content += [0x0D, 0x0A, 0x0D]
        content += Array((0...255).reversed())
        content += [0x0D]  // Ends with CR right before the real CRLF delimiter.
        let body = encodeMultipart(
            [
                TestField(name: "bin", filename: "all.bin", contentType: "application/octet-stream", value: content),
                TestField(name: "after", value: bytes("--")),
            ], boundary: boundary)
        let parts = try FormParser.parseMultipart(body, boundary: boundary)
        #expect(parts.count == 2)
        #expect(parts[0].value == content)
        #expect(parts[0].filename == "all.bin")
        #expect(parts[1].value == bytes("--"))
    }

    @Test func fiveMiBFile() throws {
        var rng = SplitMix64(seed: 5)
        var content = [UInt8](repeating: 0, count: 5 * 1024 * 1024)
        content.withUnsafeMutableBytes { raw in
            for offset in stride(from: 0, to: raw.count, by: 8) {
                raw.storeBytes(of: rng.next(), toByteOffset: offset, as: UInt64.self)
            }
        }
        let fields = [
            TestField(name: "before", value: bytes("x")),
            TestField(name: "file", filename: "big.bin", contentType: "application/octet-stream", value: content),
            TestField(name: "after", value: bytes("y")),
        ]
        let body = encodeMultipart(fields, boundary: boundary)
        let clock = ContinuousClock()
        var parts: [FormPart] = []
        let elapsed = try clock.measure {
            parts = try FormParser.parseMultipart(body, boundary: boundary)
        }
        #expect(parts == fields.map(\.expected))
        // Generous: a debug build on a shared machine; a release build takes about a millisecond.
        #expect(elapsed < .seconds(5))
    }

    @Test func emptyFileWithEmptyFilename() throws {
        let body =
            "--\(boundary)\r\n"
            + "Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n"
            + "Content-Type: application/octet-stream\r\n\r\n"
            + "\r\n--\(boundary)--\r\n"
        let parts = try parse(body)
        #expect(
            parts == [FormPart(name: "file", filename: "", contentType: "application/octet-stream", value: [])])
        #expect(parts[0].isFile)
    }

    @Test func emptyFormAndPaddingAndEpilogue() throws {
        #expect(try parse("--\(boundary)--") == [])
        #expect(try parse("--\(boundary)--\r\nanything at all") == [])
        let body =
            "preamble line\r\n"
            + "--not the boundary\r\n"
            + "--\(boundary)X not it either\r\n"
            + "--\(boundary)  \t\r\n"
            + "Content-Disposition: form-data; name=a\r\n\r\n"
            + "1\r\n"
            + "--\(boundary) \r\n"
            + "Content-Disposition: form-data; name=b\r\n\r\n"
            + "2\r\n"
            + "--\(boundary)--  \r\n"
            + "epilogue\r\n--\(boundary)\r\nContent-Disposition: form-data; name=c\r\n\r\n3\r\n"
        #expect(try parse(body) == [FormPart(name: "a", value: bytes("1")), FormPart(name: "b", value: bytes("2"))])
    }

    @Test func quotedUnquotedAndEscapedParameters() throws {
        let body =
            "--\(boundary)\r\n"
            + "content-disposition:form-data;name=plain\r\n\r\n"
            + "1\r\n"
            + "--\(boundary)\r\n"
            + "CONTENT-DISPOSITION: Form-Data ; NAME = \"semi;colon\" ; FileName=\"a \\\"quoted\\\" \\\\ name.txt\"\r\n"
            + "content-TYPE:   text/plain; charset=utf-8  \r\n\r\n"
            + "2\r\n"
            + "--\(boundary)\r\n"
            + "Content-Disposition: form-data; name=\"back\\slash\"; filename=\"dir\\file.txt\"\r\n\r\n"
            + "3\r\n"
            + "--\(boundary)\r\n"
            + "Content-Disposition: form-data; name=\"win\"; filename=\"C:\\Users\\me\\photo.jpg\"\r\n\r\n"
            + "4\r\n"
            + "--\(boundary)\r\n"
            + "Content-Disposition: form-data; name=\"unc\"; filename=\"\\\\\\\\host\\share\\doc.pdf\"\r\n\r\n"
            + "5\r\n"
            + "--\(boundary)\r\n"
            + "Content-Disposition: form-data; name=\"\"; filename=token.bin; unknown; other=\"x\"\r\n"
            + "X-Extra: whatever: with colons\r\n\r\n"
            + "6\r\n"
            + "--\(boundary)--\r\n"
        let parts = try parse(body)
        #expect(
            parts == [
                FormPart(name: "plain", value: bytes("1")),
                FormPart(
                    name: "semi;colon", filename: "a \"quoted\" \\ name.txt", contentType: "text/plain; charset=utf-8",
                    value: bytes("2")),
                // A backslash before anything but `"` or `\` is kept (Python's email.utils.unquote).
                FormPart(name: "back\\slash", filename: "dir\\file.txt", value: bytes("3")),
                // IE's full client paths keep only the last component, as in python-multipart.
                FormPart(name: "win", filename: "photo.jpg", value: bytes("4")),
                FormPart(name: "unc", filename: "doc.pdf", value: bytes("5")),
                FormPart(name: "", filename: "token.bin", value: bytes("6")),
            ])
    }

    @Test func extendedFilenameAndRawNonASCII() throws {
        let body: [UInt8] =
            bytes("--\(boundary)\r\n")
            + bytes(
                "Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.pdf\r\n\r\n"
            )
            + bytes("1\r\n--\(boundary)\r\n")
            // filename* wins over filename wherever it appears.
            + bytes(
                "Content-Disposition: form-data; filename*=utf-8'en'%E2%82%AC.txt; name=g; filename=\"EUR.txt\"\r\n\r\n"
            )
            + bytes("2\r\n--\(boundary)\r\n")
            + bytes("Content-Disposition: form-data; name*=UTF-8''%E6%97%A5; filename*=ISO-8859-1''caf%E9.txt\r\n\r\n")
            + bytes("3\r\n--\(boundary)\r\n")
            // Raw UTF-8 in a quoted string (what browsers send).
            + bytes("Content-Disposition: form-data; name=\"名前\"; filename=\"résumé 📄.pdf\"\r\n\r\n")
            + bytes("4\r\n--\(boundary)\r\n")
            // Raw bytes that are not UTF-8 are read as Latin-1, like starlette.
            + bytes("Content-Disposition: form-data; name=\"l\"; filename=\"caf") + [0xE9] + bytes(".txt\"\r\n\r\n")
            + bytes("5\r\n--\(boundary)\r\n")
            + bytes("Content-Disposition: form-data; name=\"q\"; filename*=\"UTF-8''quoted%21\"\r\n\r\n")
            + bytes("6\r\n--\(boundary)--\r\n")
        let parts = try FormParser.parseMultipart(body, boundary: boundary)
        #expect(
            parts == [
                FormPart(name: "f", filename: "naïve résumé.pdf", value: bytes("1")),
                FormPart(name: "g", filename: "€.txt", value: bytes("2")),
                FormPart(name: "日", filename: "café.txt", value: bytes("3")),
                FormPart(name: "名前", filename: "résumé 📄.pdf", value: bytes("4")),
                FormPart(name: "l", filename: "café.txt", value: bytes("5")),
                FormPart(name: "q", filename: "quoted!", value: bytes("6")),
            ])
    }

    @Test func bareLFLineEndings() throws {
        let body =
            "--\(boundary)\n"
            + "Content-Disposition: form-data; name=\"a\"\n\n"
            + "line one\r\nline two\r\n"  // CRs inside the data are data in an LF body.
            + "\n--\(boundary)\n"
            + "Content-Disposition: form-data; name=\"f\"; filename=\"f.txt\"\n"
            + "Content-Type: text/plain\n\n"
            + "\n"
            + "\n--\(boundary)--\n"
        #expect(
            try parse(body) == [
                FormPart(name: "a", value: bytes("line one\r\nline two\r\n")),
                FormPart(name: "f", filename: "f.txt", contentType: "text/plain", value: bytes("\n")),
            ])
        // Header lines may mix CRLF and LF in either kind of body.
        let mixed =
            "--\(boundary)\r\nContent-Type: text/plain\nContent-Disposition: form-data; name=m\r\n\n"
            + "v\r\n--\(boundary)--"
        #expect(try parse(mixed) == [FormPart(name: "m", contentType: "text/plain", value: bytes("v"))])
    }

    @Test func errors() {
        let b = boundary
        let cd = "Content-Disposition: form-data; name=\"a\"\r\n"
        #expect(error("") == "multipart body does not contain the opening boundary \"--\(b)\"")
        #expect(
            error("just some text\r\n--other\r\n") == "multipart body does not contain the opening boundary \"--\(b)\"")
        #expect(error("--\(b)") == "multipart body is truncated: it ends at the opening boundary")
        #expect(error("--\(b)-") == "multipart body is truncated: it ends at the opening boundary")
        #expect(error("--\(b)\r\n\r\nvalue\r\n--\(b)--") == "multipart part #1 has no Content-Disposition header")
        #expect(
            error("--\(b)\r\nContent-Type: text/plain\r\n\r\nv\r\n--\(b)--")
                == "multipart part #1 has no Content-Disposition header")
        #expect(
            error(
                "--\(b)\r\n\(cd)\r\n1\r\n--\(b)\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\nv\r\n--\(b)--")
                == "multipart part #2: Content-Disposition has no \"name\" parameter")
        #expect(
            error("--\(b)\r\n\(cd)X-Broken header\r\n\r\nv\r\n--\(b)--")
                == "malformed header in multipart part #1: no colon in \"X-Broken header\"")
        #expect(
            error("--\(b)\r\n\(cd) folded: line\r\n\r\nv\r\n--\(b)--")
                == "malformed header in multipart part #1: invalid header name \" folded\"")
        #expect(
            error("--\(b)\r\n\(cd): empty name\r\n\r\nv\r\n--\(b)--")
                == "malformed header in multipart part #1: invalid header name \"\"")
        #expect(
            error("--\(b)\r\n\(cd)\(cd)\r\nv\r\n--\(b)--")
                == "multipart part #1 has more than one Content-Disposition header")
        #expect(
            error("--\(b)\r\nContent-Disposition: ; name=a\r\n\r\nv\r\n--\(b)--")
                == "malformed Content-Disposition of multipart part #1: no disposition type")
        #expect(
            error("--\(b)\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--\(b)--")
                == "malformed Content-Disposition of multipart part #1: unterminated quoted string in parameter \"name\""
        )
        #expect(
            error("--\(b)\r\nContent-Disposition: form-data; name=\"a\"b\r\n\r\nv\r\n--\(b)--")
                == "malformed Content-Disposition of multipart part #1: unexpected text after the quoted value of parameter \"name\""
        )
        #expect(
            error("--\(b)\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nv\r\n--\(b)--")
                == "malformed Content-Disposition of multipart part #1: duplicate \"name\" parameter")
        #expect(
            error("--\(b)\r\nContent-Disposition: form-data; =x; name=a\r\n\r\nv\r\n--\(b)--")
                == "malformed Content-Disposition of multipart part #1: a parameter has no name")
        #expect(
            error("--\(b)\r\nContent-Disposition: form-data; name=a; filename*=nonsense\r\n\r\nv\r\n--\(b)--")
                == "malformed Content-Disposition of multipart part #1: filename* must have the form charset'language'value"
        )
        #expect(
            error("--\(b)\r\nContent-Disposition: form-data; name=a; filename*=koi8-r''x\r\n\r\nv\r\n--\(b)--")
                == "malformed Content-Disposition of multipart part #1: unsupported charset \"koi8-r\" in filename*")
        #expect(
            error("--\(b)\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%zz\r\n\r\nv\r\n--\(b)--")
                == "malformed Content-Disposition of multipart part #1: invalid percent-escape \"%zz\" in filename*")
        #expect(
            error("--\(b)\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%FF\r\n\r\nv\r\n--\(b)--")
                == "malformed Content-Disposition of multipart part #1: filename* is not valid UTF-8")
        // Truncation, at every stage.
        #expect(error("--\(b)\r\n\(cd)") == "multipart body is truncated inside the headers of part #1")
        #expect(
            error("--\(b)\r\n\(cd)\r\nvalue") == "multipart body is truncated: no boundary after the data of part #1")
        #expect(
            error("--\(b)\r\n\(cd)\r\nvalue\r\n--\(b)")
                == "multipart body is truncated: it ends inside the boundary after part #1")
        #expect(
            error("--\(b)\r\n\(cd)\r\nvalue\r\n--\(b)-")
                == "multipart body is truncated: it ends inside the boundary after part #1")
        #expect(
            error("--\(b)\r\n\(cd)\r\nvalue\r\n--\(b)\r")
                == "multipart body is truncated: it ends inside the boundary after part #1")
        #expect(
            error("--\(b)\r\n\(cd)\r\nvalue\r\n--\(b)\r\n")
                == "multipart body is truncated inside the headers of part #2")
        #expect(
            error("--\(b)\r\n\(cd)\r\nvalue\r\n--\(b)x\r\n")
                == "multipart body is truncated: no boundary after the data of part #1")
        // A CRLF body needs CRLF before its delimiters.
        #expect(
            error("--\(b)\r\n\(cd)\r\nvalue\n--\(b)--")
                == "multipart body is truncated: no boundary after the data of part #1")
        // Limits.
        let three = "--\(b)\r\n\(cd)\r\n1\r\n--\(b)\r\n\(cd)\r\n2\r\n--\(b)\r\n\(cd)\r\n3\r\n--\(b)--"
        #expect(error(three, limits: FormLimits(maxParts: 2)) == "multipart body has more than 2 parts")
        #expect(error(three, limits: FormLimits(maxParts: 3)) == nil)
        let bigHeader = "--\(b)\r\n\(cd)X-Big: \(String(repeating: "a", count: 200))\r\n\r\nv\r\n--\(b)--"
        #expect(
            error(bigHeader, limits: FormLimits(maxHeaderBytesPerPart: 200))
                == "headers of multipart part #1 exceed 200 bytes")
        #expect(error(bigHeader, limits: FormLimits(maxHeaderBytesPerPart: 300)) == nil)
        // A header line with no line ending at all, longer than the limit.
        let endless = "--\(b)\r\nContent-Disposition: form-data; name=\(String(repeating: "a", count: 500))"
        #expect(
            error(endless, limits: FormLimits(maxHeaderBytesPerPart: 100))
                == "headers of multipart part #1 exceed 100 bytes")
        // Boundaries given to parseMultipart are checked too.
        #expect(error("--\r\n", boundary: "") == "multipart boundary is empty")
        #expect(
            error("", boundary: String(repeating: "b", count: 71)) == "multipart boundary is longer than 70 characters")
        #expect(
            error("", boundary: "a\r\nb")
                == "multipart boundary \"a\\x0D\\x0Ab\" contains characters other than printable ASCII")
    }

    @Test func headerLimitIsExact() throws {
        // Header lines of exactly the limit (counting their CRLFs) pass; one more byte fails.
        let cd = "Content-Disposition: form-data; name=\"a\"\r\n"
        let limit = cd.utf8.count
        let ok = "--\(boundary)\r\n\(cd)\r\nv\r\n--\(boundary)--"
        #expect(try parse(ok, limits: FormLimits(maxHeaderBytesPerPart: limit)).count == 1)
        #expect(
            error(ok, limits: FormLimits(maxHeaderBytesPerPart: limit - 1))
                == "headers of multipart part #1 exceed \(limit - 1) bytes")
    }

    @Test func pathologicalInputsTerminate() throws {
        let b = "abc"
        // Many candidate delimiters that never complete: still linear.
        var junk: [UInt8] = bytes("--abc\r\nContent-Disposition: form-data; name=a\r\n\r\n")
        for _ in 0..<50_000 { junk += bytes("\r\n--abc\r\r\n--ab\n") }
        #expect(throws: FormParseError.self) { try FormParser.parseMultipart(junk, boundary: b) }
        // A long preamble of newlines and near-boundaries.
        let preamble = [UInt8](repeating: 0x0A, count: 1 << 18) + bytes("--ab\n--abcd\n")
        #expect(throws: FormParseError.self) { try FormParser.parseMultipart(preamble, boundary: b) }
        // Padding that never ends.
        let padded = bytes("--abc") + [UInt8](repeating: 0x20, count: 1 << 20)
        #expect(throws: FormParseError.self) { try FormParser.parseMultipart(padded, boundary: b) }
        // Thousands of tiny parts, up to the limit.
        let many = [TestField](repeating: TestField(name: "x", value: []), count: 1000)
        #expect(try FormParser.parseMultipart(encodeMultipart(many, boundary: b), boundary: b).count == 1000)
        #expect(throws: FormParseError.self) {
            try FormParser.parseMultipart(encodeMultipart(many + many, boundary: b), boundary: b)
        }
    }
}

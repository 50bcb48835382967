import Testing

@testable import CortexProject

/// A `.env` text and the variables it must parse to.
struct EnvCase: CustomTestStringConvertible, Sendable {
    var text: String
    var expected: [String]  // "NAME=value" pairs

    init(_ text: String, _ expected: [String]) {
        self.text = text
        self.expected = expected
    }

    var testDescription: String { text.debugDescription }
}

/// A malformed `.env` text and the exact error message.
struct EnvErrorCase: CustomTestStringConvertible, Sendable {
    var text: String
    var message: String

    init(_ text: String, _ message: String) {
        self.text = text
        self.message = message
    }

    var testDescription: String { text.debugDescription }
}

@Suite("EnvFile")
struct EnvFileTests {
    static let valid: [EnvCase] = [
        EnvCase("", []),
        EnvCase("A=1", ["A=1"]),
        EnvCase("A=1\nB=2\n", ["A=1", "B=2"]),
        EnvCase("A=1\r\nB=2\r\n", ["A=1", "B=2"]),
        EnvCase("\n\n  \n\tA=1\n\n", ["A=1"]),
        EnvCase("# comment\nA=1\n   # indented comment\n#B=2", ["A=1"]),
        EnvCase("_x9=ok", ["_x9=ok"]),
        EnvCase("lower_case=ok", ["lower_case=ok"]),
        EnvCase("A=", ["A="]),
        EnvCase("A=a=b=c", ["A=a=b=c"]),
        EnvCase("URL=postgres://u:p@h/db?sslmode=require", ["URL=postgres://u:p@h/db?sslmode=require"]),
        EnvCase("A =  spaced value  ", ["A=spaced value"]),
        EnvCase("A\t=\tv\t", ["A=v"]),
        EnvCase("export A=1", ["A=1"]),
        EnvCase("export   A=1", ["A=1"]),
        EnvCase("export\tA=1", ["A=1"]),
        EnvCase("export=1", ["export=1"]),
        EnvCase("exported=1", ["exported=1"]),
        EnvCase("A=\"quoted value\"", ["A=quoted value"]),
        EnvCase("A='single quoted'", ["A=single quoted"]),
        EnvCase("A=\"\"", ["A="]),
        EnvCase("A=''", ["A="]),
        EnvCase("A=\"with = and # inside\"", ["A=with = and # inside"]),
        EnvCase("A=\"line1\\nline2\"", ["A=line1\nline2"]),
        EnvCase("A=\"say \\\"hi\\\"\"", ["A=say \"hi\""]),
        EnvCase("A=\"back\\\\slash\"", ["A=back\\slash"]),
        EnvCase("A=\"keep \\t as is\"", ["A=keep \\t as is"]),
        EnvCase("A='no \\n escapes'", ["A=no \\n escapes"]),
        EnvCase("A='it\"s'", ["A=it\"s"]),
        EnvCase("A=\"it's\"", ["A=it's"]),
        EnvCase("A=\"  padded  \"", ["A=  padded  "]),
        EnvCase("A=\"x\"  # trailing comment", ["A=x"]),
        EnvCase("A=plain # trailing comment", ["A=plain"]),
        EnvCase("A=no#comment", ["A=no#comment"]),
        EnvCase("A=it's", ["A=it's"]),  // quotes only count when wrapping the value
        EnvCase("A=a\"b\"", ["A=a\"b\""]),
        EnvCase("A=1\nA=2", ["A=1", "A=2"]),
        EnvCase("\u{FEFF}A=1", ["A=1"]),
        EnvCase("A=héllo wörld ✓", ["A=héllo wörld ✓"]),
    ]

    static let invalid: [EnvErrorCase] = [
        EnvErrorCase("A=1\nB=2\noops", #".env:3: expected VARIABLE=value, got "oops""#),
        EnvErrorCase("oops", #".env:1: expected VARIABLE=value, got "oops""#),
        EnvErrorCase("  export FOO", #".env:1: expected VARIABLE=value, got "export FOO""#),
        EnvErrorCase("\n\n# c\n=value", #".env:4: missing variable name before "=" in "=value""#),
        EnvErrorCase(
            "1A=x", #".env:1: invalid variable name "1A" (names must match [A-Za-z_][A-Za-z0-9_]*)"#),
        EnvErrorCase(
            "A-B=x", #".env:1: invalid variable name "A-B" (names must match [A-Za-z_][A-Za-z0-9_]*)"#),
        EnvErrorCase(
            "A B=x", #".env:1: invalid variable name "A B" (names must match [A-Za-z_][A-Za-z0-9_]*)"#),
        EnvErrorCase(
            "export A B=x",
            #".env:1: invalid variable name "A B" (names must match [A-Za-z_][A-Za-z0-9_]*)"#),
        EnvErrorCase(
            "A=\"unterminated", #".env:1: missing closing double quote in value "\"unterminated""#),
        EnvErrorCase(
            "A='unterminated", #".env:1: missing closing single quote in value "'unterminated""#),
        EnvErrorCase(
            "A=\"ends with escaped quote\\\"",
            #".env:1: missing closing double quote in value "\"ends with escaped quote\\\"""#),
        EnvErrorCase("A=\"x\"y", #".env:1: unexpected text "y" after the closing double quote"#),
        EnvErrorCase("A='x'#c", ##".env:1: unexpected text "#c" after the closing single quote"##),
    ]

    @Test("valid .env text", arguments: valid)
    func parsesValid(_ c: EnvCase) throws {
        let parsed = try EnvFile.parse(c.text, file: ".env")
        #expect(parsed.map { "\($0.name)=\($0.value)" } == c.expected)
    }

    @Test("malformed .env text", arguments: invalid)
    func rejectsInvalid(_ c: EnvErrorCase) {
        #expect(throws: ProjectError(c.message)) { try EnvFile.parse(c.text, file: ".env") }
    }

    @Test func errorNamesTheGivenFile() {
        #expect(throws: ProjectError("my-project/.env:2: expected VARIABLE=value, got \"nope\"")) {
            try EnvFile.parse("OK=1\nnope\n", file: "my-project/.env")
        }
    }

    @Test func loadReadsFromDisk() throws {
        let dir = try TempDirectory("env")
        defer { dir.remove() }
        try dir.write(".env", "export A=1\nB=\"two words\"\n")
        let vars = try EnvFile.load(path: dir.url(".env"), displayName: ".env")
        #expect(vars.map(\.name) == ["A", "B"])
        #expect(vars.map(\.value) == ["1", "two words"])
        #expect(throws: ProjectError(".env: cannot read file")) {
            try EnvFile.load(path: dir.url("missing"), displayName: ".env")
        }
        try dir.write("bad", "X=1\n\nbroken line\n")
        #expect(
            throws: ProjectError("\(dir.url("bad")):3: expected VARIABLE=value, got \"broken line\"")
        ) {
            try EnvFile.load(path: dir.url("bad"))
        }
    }

    @Test func nameValidation() {
        for good in ["A", "_", "a1", "_A_B_9", "PATH"] { #expect(EnvFile.isValidName(good)) }
        for bad in ["", "1", "A-B", "A.B", "É", "A B", "$A"] { #expect(!EnvFile.isValidName(bad)) }
    }
}

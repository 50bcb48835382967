import Testing

@testable import CortexProject

/// One `.cortexignore` scenario: rules text, a path, whether it is a directory, and whether
/// `isIgnored` (the path by itself, as git's per-path check) should say it is ignored.
struct IgnoreCase: CustomTestStringConvertible, Sendable {
    var rules: String
    var path: String
    var isDirectory: Bool
    var ignored: Bool

    init(_ rules: String, _ path: String, dir: Bool = false, _ ignored: Bool) {
        self.rules = rules
        self.path = path
        self.isDirectory = dir
        self.ignored = ignored
    }

    var testDescription: String {
        "\(rules.debugDescription) \(path)\(isDirectory ? "/" : "") → \(ignored ? "ignored" : "kept")"
    }
}

@Suite("IgnoreRules")
struct IgnoreRulesTests {
    static let basics: [IgnoreCase] = [
        // Empty rules, blank lines and comments.
        IgnoreCase("", "a.txt", false),
        IgnoreCase("\n\n   \n", "a.txt", false),
        IgnoreCase("# a.txt", "a.txt", false),
        IgnoreCase("# comment\na.txt", "a.txt", true),
        IgnoreCase("  # not a comment (leading spaces are part of the pattern)", "a.txt", false),
        IgnoreCase("\\#hash", "#hash", true),
        IgnoreCase("\\#hash", "hash", false),
        IgnoreCase("#hash", "#hash", false),
        // Plain names match at any depth, files and directories.
        IgnoreCase("a.txt", "a.txt", true),
        IgnoreCase("a.txt", "sub/a.txt", true),
        IgnoreCase("a.txt", "deep/er/a.txt", true),
        IgnoreCase("a.txt", "b.txt", false),
        IgnoreCase("a.txt", "a.txt.bak", false),
        IgnoreCase("a.txt", "xa.txt", false),
        IgnoreCase("build", "build", dir: true, true),
        IgnoreCase("build", "build", dir: false, true),
        IgnoreCase("build", "src/build", dir: true, true),
        // CRLF line endings and a UTF-8 BOM.
        IgnoreCase("a.txt\r\nb.txt\r\n", "a.txt", true),
        IgnoreCase("a.txt\r\nb.txt\r\n", "b.txt", true),
        IgnoreCase("\u{FEFF}a.txt", "a.txt", true),
        // Path normalisation.
        IgnoreCase("a.txt", "./a.txt", true),
        IgnoreCase("/a.txt", "/a.txt", true),
        IgnoreCase("build/", "build/", dir: true, true),
    ]

    static let trailingSpaces: [IgnoreCase] = [
        IgnoreCase("a.txt   ", "a.txt", true),
        IgnoreCase("a.txt   ", "a.txt   ", false),
        IgnoreCase("a.txt\t", "a.txt\t", true),  // only spaces are trimmed
        IgnoreCase("foo\\ ", "foo ", true),
        IgnoreCase("foo\\ ", "foo", false),
        IgnoreCase("foo\\  ", "foo ", true),
        IgnoreCase("foo\\ \\ ", "foo  ", true),
        IgnoreCase("foo bar", "foo bar", true),
        IgnoreCase("foo bar  ", "foo bar", true),
        IgnoreCase("   ", "   ", false),
    ]

    static let negation: [IgnoreCase] = [
        IgnoreCase("*.log\n!keep.log", "keep.log", false),
        IgnoreCase("*.log\n!keep.log", "other.log", true),
        IgnoreCase("*.log\n!keep.log", "sub/keep.log", false),
        IgnoreCase("!keep.log\n*.log", "keep.log", true),  // last match wins
        IgnoreCase("a\n!a\na", "a", true),
        IgnoreCase("a\n!a", "a", false),
        IgnoreCase("!a", "a", false),
        IgnoreCase("\\!important", "!important", true),
        IgnoreCase("\\!important", "important", false),
        IgnoreCase("*\n!*.py", "main.py", false),
        IgnoreCase("*\n!*.py", "data.bin", true),
        IgnoreCase("*\n!*/", "models", dir: true, false),
        IgnoreCase("*\n!*/", "models", dir: false, true),
        // By itself the file is not ignored (the negation matched last)…
        IgnoreCase("build/\n!build/keep.txt", "build/keep.txt", false),
        // …but its directory is, see `negationCannotReincludeInsideExcludedDirectory`.
        IgnoreCase("build/\n!build/keep.txt", "build", dir: true, true),
        IgnoreCase("build/*\n!build/keep.txt", "build", dir: true, false),
        IgnoreCase("build/*\n!build/keep.txt", "build/keep.txt", false),
        IgnoreCase("build/*\n!build/keep.txt", "build/other.txt", true),
    ]

    static let directoriesOnly: [IgnoreCase] = [
        IgnoreCase("frotz/", "frotz", dir: true, true),
        IgnoreCase("frotz/", "frotz", dir: false, false),
        IgnoreCase("frotz/", "a/frotz", dir: true, true),
        IgnoreCase("frotz/", "a/b/frotz", dir: true, true),
        IgnoreCase("frotz/", "frotz/x", dir: false, false),  // only the directory itself matches
        IgnoreCase("doc/frotz/", "doc/frotz", dir: true, true),
        IgnoreCase("doc/frotz/", "doc/frotz", dir: false, false),
        IgnoreCase("doc/frotz/", "a/doc/frotz", dir: true, false),  // middle slash anchors
        IgnoreCase("doc/frotz/", "frotz", dir: true, false),
        IgnoreCase("doc/frotz", "doc/frotz", dir: false, true),
        IgnoreCase("doc/frotz", "a/doc/frotz", dir: false, false),
        IgnoreCase("logs/", "logs", dir: true, true),
        IgnoreCase("!logs/\nlogs", "logs", dir: true, true),
    ]

    static let anchoring: [IgnoreCase] = [
        IgnoreCase("/foo", "foo", true),
        IgnoreCase("/foo", "foo", dir: true, true),
        IgnoreCase("/foo", "a/foo", false),
        IgnoreCase("/foo/", "foo", dir: true, true),
        IgnoreCase("/foo/", "a/foo", dir: true, false),
        IgnoreCase("/*.c", "cat-file.c", true),
        IgnoreCase("/*.c", "mozilla-sha1/sha1.c", false),
        IgnoreCase("a/b", "a/b", true),
        IgnoreCase("a/b", "x/a/b", false),
        IgnoreCase("a/b", "a/b/c", false),  // the directory itself is what matches
        IgnoreCase("a/b", "a/b", dir: true, true),
        IgnoreCase("/a/b", "a/b", true),
        IgnoreCase("Documentation/*.html", "Documentation/git.html", true),
        IgnoreCase("Documentation/*.html", "Documentation/ppc/ppc.html", false),
        IgnoreCase("Documentation/*.html", "tools/perf/Documentation/perf.html", false),
    ]

    static let wildcards: [IgnoreCase] = [
        IgnoreCase("*.txt", "a.txt", true),
        IgnoreCase("*.txt", "x/y/z/a.txt", true),
        IgnoreCase("*.txt", ".txt", true),
        IgnoreCase("*.txt", "a.txt.gz", false),
        IgnoreCase("*.txt", "txt", false),
        IgnoreCase("*.txt", "notes.txt", dir: true, true),
        IgnoreCase("*", "anything", true),
        IgnoreCase("*", "a/b/c", true),
        IgnoreCase("a*", "abc", true),
        IgnoreCase("a*", "bac", false),
        IgnoreCase("*a*", "bab", true),
        IgnoreCase("a*c", "abbbc", true),
        IgnoreCase("a*c", "ac", true),
        IgnoreCase("a*c", "acb", false),
        IgnoreCase("a/*", "a/b", true),
        IgnoreCase("a/*", "a/b/c", false),  // "*" does not match "/"
        IgnoreCase("a/*/c", "a/b/c", true),
        IgnoreCase("a/*/c", "a/b/x/c", false),
        IgnoreCase("a/*/c", "a/c", false),
        IgnoreCase("?.py", "a.py", true),
        IgnoreCase("?.py", "ab.py", false),
        IgnoreCase("?.py", "sub/a.py", true),
        IgnoreCase("a?c", "a/c", false),  // "?" does not match "/"
        IgnoreCase("a?c", "abc", true),
        IgnoreCase("file.???", "file.txt", true),
        IgnoreCase("file.???", "file.md", false),
        IgnoreCase("\\*", "*", true),
        IgnoreCase("\\*", "a", false),
        IgnoreCase("\\?", "?", true),
        IgnoreCase("\\?", "a", false),
        IgnoreCase("a\\[b]", "a[b]", true),
        IgnoreCase("a\\[b]", "ab", false),
        IgnoreCase("***", "abc", true),
        IgnoreCase("a**b", "axxb", true),
        IgnoreCase("a**b", "ax/xb", false),  // "**" not next to slashes is a plain "*"
    ]

    static let classes: [IgnoreCase] = [
        IgnoreCase("[abc].txt", "a.txt", true),
        IgnoreCase("[abc].txt", "d.txt", false),
        IgnoreCase("[a-c].txt", "b.txt", true),
        IgnoreCase("[a-c].txt", "B.txt", false),  // case-sensitive
        IgnoreCase("[a-c].txt", "d.txt", false),
        IgnoreCase("[!a].txt", "a.txt", false),
        IgnoreCase("[!a].txt", "b.txt", true),
        IgnoreCase("[^a].txt", "a.txt", false),
        IgnoreCase("[^a].txt", "b.txt", true),
        IgnoreCase("[!a-z]", "A", true),
        IgnoreCase("[!a-z]", "q", false),
        IgnoreCase("file[0-9][0-9]", "file42", true),
        IgnoreCase("file[0-9][0-9]", "file4x", false),
        IgnoreCase("[]]", "]", true),
        IgnoreCase("[]a]", "a", true),
        IgnoreCase("[!]]", "]", false),
        IgnoreCase("[!]]", "x", true),
        IgnoreCase("[a-]", "-", true),
        IgnoreCase("[-a]", "-", true),
        IgnoreCase("[\\]]", "]", true),
        IgnoreCase("[a\\-z]", "-", true),
        IgnoreCase("[a\\-z]", "b", false),
        IgnoreCase("a[/]b", "a/b", false),  // classes never match "/"
        IgnoreCase("[[:digit:]]x", "7x", true),
        IgnoreCase("[[:digit:]]x", "ax", false),
        IgnoreCase("[[:alpha:]]", "Q", true),
        IgnoreCase("[[:upper:]]", "q", false),
        IgnoreCase("[[:lower:][:digit:]]", "5", true),
        IgnoreCase("[[:space:]]", " ", true),
        IgnoreCase("[[:xdigit:]]", "F", true),
        IgnoreCase("[[:xdigit:]]", "g", false),
        IgnoreCase("[[:punct:]]", "!", true),
        IgnoreCase("[[:bogus:]]", "b", false),  // unknown class: no match
        IgnoreCase("[abc", "a", false),  // unterminated class: no match
        IgnoreCase("[abc", "[abc", false),
    ]

    static let doubleStar: [IgnoreCase] = [
        // Leading "**/": in all directories.
        IgnoreCase("**/foo", "foo", true),
        IgnoreCase("**/foo", "a/foo", true),
        IgnoreCase("**/foo", "a/b/foo", true),
        IgnoreCase("**/foo", "foo", dir: true, true),
        IgnoreCase("**/foo", "afoo", false),
        IgnoreCase("**/foo/bar", "foo/bar", true),
        IgnoreCase("**/foo/bar", "x/y/foo/bar", true),
        IgnoreCase("**/foo/bar", "x/foo/baz", false),
        IgnoreCase("**/*.pkl", "models/m.pkl", true),
        IgnoreCase("**/*.pkl", "m.pkl", true),
        // Trailing "/**": everything inside, not the directory itself.
        IgnoreCase("abc/**", "abc/x", true),
        IgnoreCase("abc/**", "abc/x/y/z", true),
        IgnoreCase("abc/**", "abc/x", dir: true, true),
        IgnoreCase("abc/**", "abc", dir: true, false),
        IgnoreCase("abc/**", "x/abc/y", false),
        IgnoreCase("abc/**", "abcd/y", false),
        // Middle "/**/": zero or more directories.
        IgnoreCase("foo/**/bar", "foo/bar", true),
        IgnoreCase("foo/**/bar", "foo/x/bar", true),
        IgnoreCase("foo/**/bar", "foo/x/y/z/bar", true),
        IgnoreCase("foo/**/bar", "foo/x/baz", false),
        IgnoreCase("foo/**/bar", "x/foo/bar", false),
        IgnoreCase("foo/**/bar", "foobar", false),
        IgnoreCase("a/**/b/**/c", "a/b/c", true),
        IgnoreCase("a/**/b/**/c", "a/x/b/y/z/c", true),
        IgnoreCase("a/**/*.txt", "a/t.txt", true),
        IgnoreCase("a/**/*.txt", "a/b/c/t.txt", true),
        IgnoreCase("a/**/*.txt", "a/b/c/t.md", false),
        // "**" alone matches everything.
        IgnoreCase("**", "a", true),
        IgnoreCase("**", "a/b/c", true),
        // "**" next to other characters is an ordinary "*".
        IgnoreCase("a/**b", "a/xb", true),
        IgnoreCase("a/**b", "a/x/b", false),
        IgnoreCase("**foo", "xfoo", true),
        IgnoreCase("**foo", "x/foo", true),  // no slash in the pattern: basename match
        // git compares the literal prefix first, so "**" right after it acts as a leading "**".
        IgnoreCase("b**/x", "bx", true),
        IgnoreCase("b**/x", "b/x", true),
        IgnoreCase("b**/x", "bq/r/x", true),
        IgnoreCase("b**/x", "a/bx", false),
    ]

    @Test("basics, comments, escaped #", arguments: basics)
    func basic(_ c: IgnoreCase) {
        #expect(IgnoreRules(text: c.rules).isIgnored(c.path, isDirectory: c.isDirectory) == c.ignored)
    }

    @Test("trailing spaces", arguments: trailingSpaces)
    func trailing(_ c: IgnoreCase) {
        #expect(IgnoreRules(text: c.rules).isIgnored(c.path, isDirectory: c.isDirectory) == c.ignored)
    }

    @Test("negation and escaped !", arguments: negation)
    func negations(_ c: IgnoreCase) {
        #expect(IgnoreRules(text: c.rules).isIgnored(c.path, isDirectory: c.isDirectory) == c.ignored)
    }

    @Test("trailing slash = directories only", arguments: directoriesOnly)
    func directories(_ c: IgnoreCase) {
        #expect(IgnoreRules(text: c.rules).isIgnored(c.path, isDirectory: c.isDirectory) == c.ignored)
    }

    @Test("leading and middle slashes anchor", arguments: anchoring)
    func anchored(_ c: IgnoreCase) {
        #expect(IgnoreRules(text: c.rules).isIgnored(c.path, isDirectory: c.isDirectory) == c.ignored)
    }

    @Test("*, ? and escapes", arguments: wildcards)
    func wildcard(_ c: IgnoreCase) {
        #expect(IgnoreRules(text: c.rules).isIgnored(c.path, isDirectory: c.isDirectory) == c.ignored)
    }

    @Test("character classes", arguments: classes)
    func characterClasses(_ c: IgnoreCase) {
        #expect(IgnoreRules(text: c.rules).isIgnored(c.path, isDirectory: c.isDirectory) == c.ignored)
    }

    @Test("** forms", arguments: doubleStar)
    func doubleStars(_ c: IgnoreCase) {
        #expect(IgnoreRules(text: c.rules).isIgnored(c.path, isDirectory: c.isDirectory) == c.ignored)
    }

    @Test func negationCannotReincludeInsideExcludedDirectory() {
        let rules = IgnoreRules(text: "build/\n!build/keep.txt\n")
        #expect(rules.isExcluded("build/keep.txt", isDirectory: false))
        #expect(rules.isExcluded("build/sub/x", isDirectory: false))
        #expect(!rules.isExcluded("src/keep.txt", isDirectory: false))

        let content = IgnoreRules(text: "build/*\n!build/keep.txt\n")
        #expect(!content.isExcluded("build/keep.txt", isDirectory: false))
        #expect(content.isExcluded("build/other.txt", isDirectory: false))

        let star = IgnoreRules(text: "*\n!*.py\n")
        // "*" ignores every directory, so nested .py files stay out, top-level ones come back.
        #expect(!star.isExcluded("main.py", isDirectory: false))
        #expect(star.isExcluded("pkg/mod.py", isDirectory: false))
    }

    @Test func isExcludedWalksEveryParent() {
        let rules = IgnoreRules(text: "doc/frotz/\n")
        #expect(rules.isExcluded("doc/frotz/a/b.txt", isDirectory: false))
        #expect(!rules.isExcluded("x/doc/frotz/b.txt", isDirectory: false))
        let deep = IgnoreRules(text: "cache\n")
        #expect(deep.isExcluded("a/b/cache/c/d.bin", isDirectory: false))
        #expect(deep.isExcluded("a/b/cache", isDirectory: true))
        #expect(!deep.isExcluded("a/b/caches/d.bin", isDirectory: false))
    }

    @Test func emptyAndPatternlessLinesAreDropped() {
        #expect(IgnoreRules(text: "").isEmpty)
        #expect(IgnoreRules(text: "# only\n\n  \n!\n/\n").isEmpty)
        #expect(!IgnoreRules(text: "x").isEmpty)
        #expect(!IgnoreRules(text: "*").isIgnored("", isDirectory: true))
    }
}

import Foundation
import Testing

@testable import PythonEnvironment

/// On real `uv pip install` output (uv 0.13.9, Python 3.11.7), captured into `fixtures/`.
@Suite("InstallFailure")
struct InstallFailureTests {
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "fixtures/\(name)", withExtension: "txt"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test func oldPinWithoutAWheelForThisPython() throws {
        let output = try Self.fixture("uv-scikit-learn-0.21.3-py311")
        #expect(output.contains("pkg_resources"))  // uv's own, misleading, last words
        let summary = try #require(InstallFailure.summary(of: output))
        #expect(
            summary
                == "cannot install scikit-learn==0.21.3 for Python 3.11.7: no wheel of it is published for this Python and platform, and building it from source failed (the installer's output is below). Pin a newer version of scikit-learn that publishes wheels for Python 3.11 in requirements.txt, or set CORTEX_PYTHON to an interpreter this version supports."
        )
        #expect(!summary.contains("\n"))
    }

    @Test func anotherSourceBuildFailure() throws {
        let summary = try #require(InstallFailure.summary(of: try Self.fixture("uv-numpy-1.16.4-py311")))
        #expect(summary.hasPrefix("cannot install numpy==1.16.4 for Python 3.11.7: no wheel of it is published"))
        #expect(summary.contains("Pin a newer version of numpy"))
    }

    @Test func versionThatDoesNotExist() throws {
        let summary = try #require(InstallFailure.summary(of: try Self.fixture("uv-requests-99.0.0-no-version")))
        #expect(
            summary
                == "cannot install requests==99.0.0 for Python 3.11.7: no published version matches it (the installer's output is below). Pin a version of requests that exists in requirements.txt."
        )
    }

    @Test func pythonVersionConflict() {
        let output = """
            Using Python 3.11.7 environment at: /tmp/venv
              × No solution found when resolving dependencies:
            error: No solution found when resolving dependencies
              cause: Because the current Python version (3.11.7) does not satisfy Python>=3.12 and
                     foo==2.0 depends on Python>=3.12, we can conclude that foo==2.0 cannot be used.
            """
        let summary = InstallFailure.summary(of: output)
        #expect(
            summary
                == "cannot install the requirements for Python 3.11.7: the current Python version (3.11.7) does not satisfy Python>=3.12 and foo==2.0 depends on Python>=3.12 (the installer's output is below). Pin versions that support Python 3.11 in requirements.txt, or set CORTEX_PYTHON to an interpreter they support."
        )
    }

    @Test func unrecognisedOutputIsLeftAlone() {
        #expect(InstallFailure.summary(of: "error: Failed to fetch: `https://pypi.org/simple/x/`") == nil)
        #expect(InstallFailure.summary(of: "") == nil)
    }

    @Test func packageNames() {
        #expect(InstallFailure.packageName("scikit-learn==0.21.3") == "scikit-learn")
        #expect(InstallFailure.packageName("slow_pkg @ file:///tmp/x") == "slow_pkg")
        #expect(InstallFailure.packageName("zope.interface>=5") == "zope.interface")
    }
}

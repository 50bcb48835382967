import Logging
import Testing

@testable import PythonEnvironment

@Suite struct ProjectSetupTests {
    let manager = PythonEnvironmentManager(
        cacheRoot: "/tmp/unused", basePython: "/usr/bin/python3", logger: Logger(label: "test"))

    @Test func condaPackageLinesSkipBlanksAndComments() {
        #expect(
            ProjectSetup.entries(of: "# pinned\n\nconda-forge::rdkit\n  numpy=1.26  \n#x\n") == [
                "conda-forge::rdkit", "numpy=1.26",
            ])
        #expect(ProjectSetup.entries(of: "\n# only comments\n").isEmpty)
    }

    /// Each setup file is part of the environment's identity (a changed script gets a fresh environment,
    /// run once); a project without them keeps the key it always had.
    @Test func setupFilesAreInTheCacheKey() {
        let plain = manager.key(runtimeRequirements: "starlette", projectRequirements: "numpy")
        #expect(manager.key(runtimeRequirements: "starlette", projectRequirements: "numpy", setup: .init()) == plain)
        let scripted = manager.key(
            runtimeRequirements: "starlette", projectRequirements: "numpy", setup: .init(dependenciesScript: "echo a"))
        let changed = manager.key(
            runtimeRequirements: "starlette", projectRequirements: "numpy", setup: .init(dependenciesScript: "echo b"))
        let conda = manager.key(
            runtimeRequirements: "starlette", projectRequirements: "numpy", setup: .init(condaPackages: "rdkit"))
        #expect(Set([plain, scripted, changed, conda]).count == 4)
    }
}

@Suite struct ExistingEnvironmentTests {
    @Test func pinnedRequirementsBecomeModules() {
        let modules = ExistingEnvironment.modules(
            pinnedIn:
                "# runtime\nstarlette==1.10.0\nrequests\ntensorflow-cpu==2.21.0\nnumpy==2.4.6\nnumpy==2.4.6\nonnxruntime-gpu==1.2\n"
        )
        #expect(modules.map(\.module) == ["starlette", "tensorflow", "numpy", "onnxruntime"])
        #expect(modules.first?.requirement == "starlette==1.10.0")
    }
}

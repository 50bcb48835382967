import CortexProject
import Foundation

/// One deployed API as the operator records it: enough to bring it back after a restart.
struct DeployedAPI: Codable, Sendable, Equatable {
    var name: String
    /// The project snapshot's folder under `projects/`.
    var snapshot: String
    /// The config file's name inside the snapshot.
    var configFile: String
    /// Bumped by every `deploy` that changes the API and every `refresh`: a new value rolls the replicas.
    var generation: Int
    /// When it was last deployed or refreshed (seconds since 1970).
    var updatedAt: Double
}

/// The operator's state on disk: API records (`apis/<name>.json`, written atomically) and the project
/// snapshots they point at (`projects/<digest>/`, complete before they are named).
struct DeploymentStore: Sendable {
    let home: OperatorHome

    /// Every recorded API; a record that cannot be read is reported and skipped. Temporary files of
    /// writes a killed operator never finished are removed (the record they were to replace stands).
    func load() -> (apis: [DeployedAPI], problems: [String]) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: home.apis)) ?? []
        for file in names where file.contains(".json.tmp-") { unlink(home.apis + "/" + file) }
        var apis: [DeployedAPI] = []
        var problems: [String] = []
        for file in names.sorted() where file.hasSuffix(".json") {
            let path = home.apis + "/" + file
            do {
                apis.append(
                    try JSONDecoder().decode(DeployedAPI.self, from: Data(contentsOf: URL(fileURLWithPath: path))))
            } catch {
                problems.append("\(path): unreadable, skipped (\(error))")
            }
        }
        return (apis, problems)
    }

    func save(_ api: DeployedAPI) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(api), to: home.specFile(of: api.name))
    }

    func remove(_ name: String) {
        unlink(home.specFile(of: name))
    }

    /// Copies the project's visible files (the same rules as `serve`), its config file and setup files
    /// into a snapshot named by their digest; an identical snapshot is reused. Copies, never hard links:
    /// later edits to the project must not reach a deployed API.
    func snapshot(_ project: PreparedProject) throws -> String {
        var extras = [(project.configFile as NSString).lastPathComponent]
        for name in [".env", "requirements.txt", "dependencies.sh", "conda-packages.txt"]
        where FileManager.default.fileExists(atPath: project.root + "/" + name) && !project.files.contains(name) {
            extras.append(name)
        }
        let files = project.files + extras
        let digest = try ProjectFiles.contentHash(root: project.root, files: files)
        let name = String(digest.prefix(20))
        let target = home.projects + "/" + name
        if FileManager.default.fileExists(atPath: target) { return name }
        let temporary = home.projects + "/.incomplete-\(name)-\(getpid())"
        try ProjectStager.stage(root: project.root, files: files, into: temporary, copying: true)
        guard rename(temporary, target) == 0 || FileManager.default.fileExists(atPath: target) else {
            throw OperatorError("cannot name the snapshot \(target): \(String(cString: strerror(errno)))")
        }
        try? FileManager.default.removeItem(atPath: temporary)
        return name
    }

    /// Removes snapshots no record points at, and incomplete ones left by a killed operator.
    func collectGarbage(keeping records: [DeployedAPI]) {
        let used = Set(records.map(\.snapshot))
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: home.projects)) ?? []
        where !used.contains(entry) {
            try? FileManager.default.removeItem(atPath: home.projects + "/" + entry)
        }
    }
}

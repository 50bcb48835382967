import CortexConfig
import Foundation
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import PythonEnvironment
import Server
import ServiceLifecycle

/// The local operator's brain: the deployed APIs, brought back from `CORTEX_HOME` when it starts, and
/// the control socket the CLI talks to. Commands are handled one at a time (an actor), so two
/// deploys of the same API never interleave.
actor OperatorDeployments {
    let context: OperatorContext
    private var deployments: [String: APIDeployment] = [:]
    private var order: [String] = []

    init(context: OperatorContext) {
        self.context = context
    }

    /// Starts every API recorded in `CORTEX_HOME` (after a restart, or a `kill -9`).
    func restore() {
        let (records, problems) = context.store.load()
        for problem in problems { context.logger.error("\(problem)") }
        var kept: [DeployedAPI] = []
        for record in records {
            do {
                let version = try load(record)
                let deployment = APIDeployment(version: version, context: context)
                deployments[record.name] = deployment
                order.append(record.name)
                deployment.start()
                kept.append(record)
                context.logger.notice("restored api \(record.name) (generation \(record.generation))")
            } catch {
                context.logger.error("cannot restore api \(record.name): \(error)")
            }
        }
        context.store.collectGarbage(keeping: kept)
    }

    private func load(_ record: DeployedAPI) throws -> APIDeployment.Version {
        let root = context.home.projects + "/" + record.snapshot
        let project = try PreparedProject.load(path: root + "/" + record.configFile)
        guard project.apis.contains(where: { $0.name == record.name }) else {
            throw OperatorError("the snapshot \(root) has no api \(record.name)")
        }
        return APIDeployment.Version(record: record, project: project, root: root)
    }

    // MARK: Commands

    /// `deploy`: snapshots the project and applies every API of it; returns a line per API and the
    /// deployments `--wait` waits for (with the generation each must reach).
    func deploy(configFile: String) throws -> (lines: [String], waitFor: [(APIDeployment, Int)]) {
        let project = try PreparedProject.load(path: configFile)
        let snapshot = try context.store.snapshot(project)
        let configName = (project.configFile as NSString).lastPathComponent
        var lines: [String] = []
        var changed: [(APIDeployment, Int)] = []
        for api in project.apis {
            let existing = deployments[api.name]
            if let existing, existing.record.snapshot == snapshot, existing.spec == api,
                existing.state.failedGeneration != existing.record.generation
            {
                lines.append("\(api.name) (RealtimeAPI) is up to date")
                changed.append((existing, existing.record.generation))  // --wait still waits for it to be live
                continue
            }
            let record = DeployedAPI(
                name: api.name, snapshot: snapshot, configFile: configName,
                generation: (existing?.record.generation ?? 0) + 1, updatedAt: Date().timeIntervalSince1970)
            try context.store.save(record)
            let version = try load(record)
            if let existing {
                existing.update(to: version)
                changed.append((existing, record.generation))
                lines.append("updating \(api.name) (RealtimeAPI)")
            } else {
                let deployment = APIDeployment(version: version, context: context)
                deployments[api.name] = deployment
                order.append(api.name)
                deployment.start()
                changed.append((deployment, record.generation))
                lines.append("creating \(api.name) (RealtimeAPI)")
            }
        }
        context.store.collectGarbage(keeping: deployments.values.map(\.record))
        return (lines, waitFor: changed)
    }

    /// `refresh`: the same version again under a new generation, so every replica is replaced.
    func refresh(_ name: String) throws -> (APIDeployment, Int) {
        let deployment = try named(name)
        var record = deployment.record
        record.generation += 1
        record.updatedAt = Date().timeIntervalSince1970
        try context.store.save(record)
        deployment.update(to: try load(record))
        return (deployment, record.generation)
    }

    /// `delete`: forgets the API at once (its record, then its route), then drains it.
    func delete(_ name: String) async throws {
        let deployment = try named(name)
        context.store.remove(name)
        deployments[name] = nil
        order.removeAll { $0 == name }
        await deployment.delete()
        context.apiLogs.close(name, removingFile: true)
        context.store.collectGarbage(keeping: deployments.values.map(\.record))
    }

    func statuses(_ name: String?) throws -> [APIStatus] {
        if let name { return [try named(name).status()] }
        return order.compactMap { deployments[$0]?.status() }
    }

    private func named(_ name: String) throws -> APIDeployment {
        guard let deployment = deployments[name] else {
            let known = order.isEmpty ? "no apis are deployed" : "deployed: \(order.joined(separator: ", "))"
            throw OperatorError("api \(name) is not deployed (\(known))")
        }
        return deployment
    }

    /// The operator stops: every API drains (its record stays, so the next start brings it back).
    func stopAll() async {
        await withTaskGroup(of: Void.self) { group in
            for deployment in deployments.values { group.addTask { await deployment.stop() } }
        }
    }
}

/// Serves the control socket and runs the deployments until a graceful shutdown.
struct OperatorService: Service {
    let home: OperatorHome
    let registry: APIRegistry
    let environments: PythonEnvironmentManager
    let apiLogs: APILogFiles
    let host: String
    let frontPort: PortPromise
    let grace: Double
    let noWorkerTimeout: Double
    let logger: Logger

    func run() async throws {
        let port = try await frontPort.value
        let deployments = OperatorDeployments(
            context: OperatorContext(
                home: home, registry: registry, environments: environments, apiLogs: apiLogs, host: host, port: port,
                grace: grace, noWorkerTimeout: noWorkerTimeout, logger: logger))
        await deployments.restore()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(unixDomainSocketPath: home.socket, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        chmod(home.socket, 0o600)
        logger.notice("operator ready: control socket \(home.socket), APIs on http://\(host):\(port)")
        try? await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask {
                            await ControlConnection(deployments: deployments, port: port, logger: logger).handle(
                                connection)
                        }
                    }
                }
            }
        }
        unlink(home.socket)
        await deployments.stopAll()
    }
}

/// One CLI request on the control socket: read its line, answer with progress, then `done` or `error`.
struct ControlConnection {
    let deployments: OperatorDeployments
    let port: Int
    let logger: Logger

    func handle(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await connection.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            guard let line = try await lines.next() else { return }
            let send: @Sendable (ControlProtocol.Reply) async throws -> Void = { reply in
                try await outbound.write(ByteBuffer(bytes: ControlProtocol.encode(reply)))
            }
            do {
                let request = try JSONDecoder().decode(ControlProtocol.Request.self, from: Data(line.readableBytesView))
                try await answer(request, send: send)
            } catch let problems as PreparedProject.Problems {
                try await send(.error(problems.description))
            } catch let error as DecodingError {
                try await send(.error("malformed request: \(error)"))
            } catch {
                try await send(.error("\(error)"))
            }
        }
    }

    private func answer(
        _ request: ControlProtocol.Request, send: @Sendable (ControlProtocol.Reply) async throws -> Void
    ) async throws {
        switch request.operation {
        case .ping:
            try await send(.done(port: port))
        case .get:
            try await send(.done(apis: try await deployments.statuses(request.name), port: port))
        case .delete:
            let name = try required(request.name)
            try await deployments.delete(name)
            try await send(.done("deleted \(name)"))
        case .deploy:
            let (lines, waitFor) = try await deployments.deploy(configFile: try required(request.config))
            for line in lines { try await send(.progress(line)) }
            if request.wait == true { try await waitUntilSettled(waitFor, send: send) }
            try await send(.done(port: port))
        case .refresh:
            let name = try required(request.name)
            let (deployment, generation) = try await deployments.refresh(name)
            try await send(.progress("refreshing \(name)"))
            if request.wait == true { try await waitUntilSettled([(deployment, generation)], send: send) }
            try await send(.done(port: port))
        }
    }

    private func required(_ value: String?) throws -> String {
        guard let value else { throw OperatorError("malformed request: a field is missing") }
        return value
    }

    /// Streams the deployments' progress until each has reached its generation (live), or one failed.
    private func waitUntilSettled(
        _ changed: [(APIDeployment, Int)], send: @Sendable (ControlProtocol.Reply) async throws -> Void
    ) async throws {
        for (deployment, generation) in changed {
            let (id, stream) = deployment.watch()
            defer { deployment.stopWatching(id) }
            let poll = Task {
                while !Task.isCancelled {
                    let state = deployment.state
                    if state.settledGeneration.map({ $0 >= generation }) == true || state.failedGeneration == generation
                    {
                        deployment.stopWatching(id)
                        return
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            defer { poll.cancel() }
            for await line in stream { try await send(.progress(line)) }
            let state = deployment.state
            if state.failedGeneration == generation {
                throw OperatorError("api \(deployment.name) could not become live: \(state.message ?? "unknown error")")
            }
        }
    }
}

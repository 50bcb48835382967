import Testing

@testable import Server

@Suite struct ReadDeadlineStateMachineTests {
    let limits = ReadDeadlineStateMachine.Limits(headerTimeout: 1, bodyTimeout: 2, idleTimeout: 3)

    @Test func aRequestMovesThroughItsDeadlines() {
        var machine = ReadDeadlineStateMachine(limits: limits)
        #expect(machine.connectionOpened() == .schedule(1))
        #expect(machine.bytesArrived() == .none)  // still the same head deadline
        #expect(machine.headReceived() == .schedule(2))
        #expect(machine.bytesArrived() == .none)
        #expect(machine.endReceived() == .cancelDeadline)
        #expect(machine.deadlinePassed() == .none)  // processing has no read deadline
        #expect(machine.responseFinished() == .schedule(3))
        #expect(machine.phase == .idle)
        #expect(machine.bytesArrived() == .schedule(1))
        #expect(machine.phase == .readingHead)
    }

    @Test(arguments: [ReadDeadlineStateMachine.Phase.idle, .readingHead, .readingBody])
    func aPassedDeadlineClosesWhileReading(phase: ReadDeadlineStateMachine.Phase) {
        var machine = ReadDeadlineStateMachine(limits: limits)
        _ = machine.connectionOpened()
        switch phase {
        case .idle:
            _ = machine.headReceived()
            _ = machine.endReceived()
            _ = machine.responseFinished()
        case .readingHead: break
        case .readingBody: _ = machine.headReceived()
        case .processing: break
        }
        #expect(machine.phase == phase)
        #expect(machine.deadlinePassed() == .close)
    }

    @Test func pipelinedHeadsDuringProcessingKeepTheirOwnDeadline() {
        var machine = ReadDeadlineStateMachine(limits: limits)
        _ = machine.connectionOpened()
        _ = machine.headReceived()
        _ = machine.endReceived()
        #expect(machine.headReceived() == .schedule(2))
        #expect(machine.responseFinished() == .none)
    }
}

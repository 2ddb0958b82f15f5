import JSONValue
@testable import ManifoldDelivery
import Testing

/// The flow's state machine on its own: no I/O, expressions stood in for by closures over the progress.
@Suite struct FlowMachineTests {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// contact (call crm) → values (transform) → deal (call crm, only when the contact has an id) →
    /// lines (call warehouse per element) → notify (call slack)
    static let steps: [FlowMachine.Step] = [
        .init(name: "contact", target: "crm", hasCondition: false, forEach: nil),
        .init(name: "values", target: nil, hasCondition: false, forEach: nil),
        .init(name: "deal", target: "crm", hasCondition: true, forEach: nil),
        .init(name: "lines", target: "warehouse", hasCondition: false, forEach: (maxItems: 3, continueOnFailure: true)),
        .init(name: "notify", target: "slack", hasCondition: false, forEach: nil),
    ]

    static func evaluator(lines: JSON = [["sku": "A"], ["sku": "B"]], failing: Bool = false) -> FlowMachine.Evaluator {
        FlowMachine.Evaluator(
            condition: { index, progress in
                #expect(index == 2)
                if case .some = progress.results["contact"]?["body"]?["id"] { return true }
                return false
            },
            list: { _, _ in lines },
            value: { _, progress in
                if failing { throw Failure(description: "the expression failed") }
                return ["double": .number((progress.results["contact"]?["body"]?["n"]?.numberValue ?? 0) * 2)]
            })
    }

    static func answer(_ body: JSON) -> JSON { ["status": 200, "body": body] }

    @Test func aFlowRunsItsCallsInOrderComputingTransformsAndExpandingLists() {
        var progress = FlowProgress.start
        let evaluate = Self.evaluator()
        #expect(FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate) == .call(step: 0, element: nil, target: "crm"))
        FlowMachine.completed(&progress, steps: Self.steps, result: Self.answer(["id": "c1", "n": 21]))
        // The transform runs at once, and the condition reads the contact's id: the deal is next.
        #expect(FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate) == .call(step: 2, element: nil, target: "crm"))
        #expect(progress.results["values"] == ["double": 42])
        FlowMachine.completed(&progress, steps: Self.steps, result: Self.answer(["id": "d1"]))
        #expect(FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate) == .call(step: 3, element: 0, target: "warehouse"))
        FlowMachine.completed(&progress, steps: Self.steps, result: Self.answer(["shipment": 1]))
        #expect(FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate) == .call(step: 3, element: 1, target: "warehouse"))
        #expect(DeliveryRuntime.bindings(progress)["item"] == ["sku": "B"] && DeliveryRuntime.bindings(progress)["index"] == 1)
        FlowMachine.completed(&progress, steps: Self.steps, result: Self.answer(["shipment": 2]))
        #expect(FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate) == .call(step: 4, element: nil, target: "slack"))
        #expect(progress.results["lines"]?.arrayValue?.count == 2)
        FlowMachine.completed(&progress, steps: Self.steps, result: Self.answer([:]))
        #expect(FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate) == .complete)
        #expect(progress.done)
        // What is stored reads back the same: a restart resumes where the store says.
        #expect(FlowProgress(json: progress.json) == progress)
    }

    @Test func aFalseConditionSkipsTheStepAndAnEmptyListSkipsItsCalls() {
        var progress = FlowProgress.start
        let evaluate = Self.evaluator(lines: [])
        _ = FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate)
        FlowMachine.completed(&progress, steps: Self.steps, result: Self.answer(["n": 1]))   // no id
        #expect(FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate) == .call(step: 4, element: nil, target: "slack"))
        #expect(progress.skipped == ["deal"])
        #expect(progress.results["lines"] == [])
        #expect(progress.results["deal"].map { _ in false } ?? true, "a skipped step has no result")
    }

    @Test func aListLongerThanItsBoundAndAFailingExpressionAreBadData() {
        var long = FlowProgress.start
        long.step = 3
        #expect(FlowMachine.next(&long, steps: Self.steps, evaluate: Self.evaluator(lines: [1, 2, 3, 4]))
            == .quarantine(reason: "step 'lines': for_each gave 4 elements, more than its max_items (3)"))
        var failing = FlowProgress.start
        failing.step = 1
        #expect(FlowMachine.next(&failing, steps: Self.steps, evaluate: Self.evaluator(failing: true))
            == .quarantine(reason: "step 'values': the expression failed"))
    }

    @Test func aFailingElementThatMayContinueIsSetAsideAndAnyOtherFailureEndsTheFlow() {
        var progress = FlowProgress.start
        progress.step = 3
        let evaluate = Self.evaluator(lines: [["sku": "A"], ["sku": "B"], ["sku": "C"]])
        #expect(FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate) == .call(step: 3, element: 0, target: "warehouse"))
        FlowMachine.completed(&progress, steps: Self.steps, result: Self.answer([:]))
        _ = FlowMachine.next(&progress, steps: Self.steps, evaluate: evaluate)
        let before = progress
        #expect(FlowMachine.failed(&progress, steps: Self.steps, reason: "unknown sku", status: 422))
        #expect(progress.element == 2)
        #expect(progress.failedElements == [["step": "lines", "element": 1, "reason": "unknown sku", "status": 422]])
        #expect(progress.results["lines"]?.arrayValue?.last == ["error": "unknown sku", "status": 422])
        // Its own dead letter makes that one call again, and reads the element it had.
        let letter = FlowMachine.elementLetter(of: before)
        #expect(letter.only && letter.items == [["sku": "B"]] && FlowMachine.index(of: letter) == 1)
        var replay = letter
        #expect(FlowMachine.next(&replay, steps: Self.steps, evaluate: evaluate) == .call(step: 3, element: 0, target: "warehouse"))
        FlowMachine.completed(&replay, steps: Self.steps, result: Self.answer([:]))
        #expect(FlowMachine.next(&replay, steps: Self.steps, evaluate: evaluate) == .complete, "only its call, not the rest of the flow")

        // The slack call failing ends the flow: the failure says where and why, for the failure steps.
        var ending = FlowProgress.start
        ending.step = 4
        ending.results["contact"] = Self.answer(["id": "c1"])
        #expect(!FlowMachine.failed(&ending, steps: Self.steps, reason: "channel_not_found", status: 404))
        #expect(ending.failure == ["step": "notify", "reason": "channel_not_found", "status": 404])
        let handler = FlowMachine.failureHandler(of: ending)
        #expect(handler.handler == .onFailure && handler.step == 0 && handler.results == ending.results && handler.failure == ending.failure)
        // Replayed, a dead flow resumes at the call that failed with what it had; or starts again.
        let resumed = FlowMachine.resumed(ending, fromStart: false)
        #expect(resumed.step == 4 && resumed.results == ending.results)
        #expect(FlowMachine.resumed(ending, fromStart: true) == FlowProgress.start)
    }
}

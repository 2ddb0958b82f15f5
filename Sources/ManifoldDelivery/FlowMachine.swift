public import JSONValue

/// Where a flow job is: which step list (its steps, or its failure steps), which step and which element, and what
/// the completed steps gave. Stored with the job (as JSON) in the same transaction as the call that moved it, so a
/// restart resumes at the call that was running and never makes a completed one again.
public struct FlowProgress: Sendable, Equatable {
    public enum Handler: String, Sendable { case steps, onFailure = "on_failure" }

    public var handler: Handler = .steps
    /// The current step's position in the handler's list.
    public var step = 0
    /// In a `for_each`: the current element's position, and the list (evaluated once, when the step began).
    public var element: Int?
    public var items: [JSON]?
    /// Results by step name: a call's `{status, headers, body}`, a for_each's list of them, a transform's value.
    public var results = JSONObject()
    /// Steps skipped because their `when` was false.
    public var skipped: [String] = []
    /// Elements that failed for good and let the flow go on (`on_element_failure: continue`).
    public var failedElements: [JSON] = []
    /// Why the flow failed (`step`, `element`, `reason`, `status`): on a dead flow, and what its failure steps read.
    public var failure: JSON?
    /// An element's own dead letter: only its one call, then done; `originalElement` is its place in the list.
    public var only = false
    public var originalElement: Int?
    /// The flow's last step completed.
    public var done = false

    public init() {}

    public init(json: JSON) {
        guard let object = json.objectValue else { return }
        handler = object["handler"]?.stringValue.flatMap(Handler.init(rawValue:)) ?? .steps
        step = object["step"]?.intValue ?? 0
        element = object["element"]?.intValue
        items = object["items"]?.arrayValue
        results = object["results"]?.objectValue ?? JSONObject()
        skipped = object["skipped"]?.arrayValue?.compactMap(\.stringValue) ?? []
        failedElements = object["failed_elements"]?.arrayValue ?? []
        failure = object["failure"]
        only = object["only"]?.boolValue ?? false
        originalElement = object["original_element"]?.intValue
        done = object["done"]?.boolValue ?? false
    }

    public var json: JSON {
        var object = JSONObject()
        object["handler"] = .string(handler.rawValue)
        object["step"] = .number(Double(step))
        if let element { object["element"] = .number(Double(element)) }
        if let items { object["items"] = .array(items) }
        object["results"] = .object(results)
        if !skipped.isEmpty { object["skipped"] = .array(skipped.map(JSON.string)) }
        if !failedElements.isEmpty { object["failed_elements"] = .array(failedElements) }
        if let failure { object["failure"] = failure }
        if only { object["only"] = true }
        if let originalElement { object["original_element"] = .number(Double(originalElement)) }
        if done { object["done"] = true }
        return .object(object)
    }

    /// A flow job's progress when it is made: its first step, nothing done.
    public static let start = FlowProgress()
}

/// The life of a flow, as an explicit state machine over `FlowProgress`: which call comes next (skipping steps whose
/// condition is false, computing transforms, expanding a `for_each`), what a call's success or failure does to the
/// progress, and what a failed flow hands its failure steps. No I/O and no clock: the caller evaluates expressions
/// (through `Evaluator`) and makes the calls; tested on its own.
public enum FlowMachine {
    /// A step as the machine needs it.
    public struct Step: Sendable {
        public var name: String
        /// The target it calls; `nil` for a transform.
        public var target: String?
        public var hasCondition: Bool
        public var forEach: (maxItems: Int, continueOnFailure: Bool)?

        public init(name: String, target: String?, hasCondition: Bool, forEach: (maxItems: Int, continueOnFailure: Bool)?) {
            self.name = name
            self.target = target
            self.hasCondition = hasCondition
            self.forEach = forEach
        }
    }

    /// Evaluates a step's expressions over the event and the progress so far (`$steps`, `$failure`).
    public struct Evaluator {
        public var condition: (_ step: Int, _ progress: FlowProgress) throws -> Bool
        public var list: (_ step: Int, _ progress: FlowProgress) throws -> JSON?
        public var value: (_ step: Int, _ progress: FlowProgress) throws -> JSON?

        public init(condition: @escaping (Int, FlowProgress) throws -> Bool, list: @escaping (Int, FlowProgress) throws -> JSON?,
                    value: @escaping (Int, FlowProgress) throws -> JSON?)
        {
            self.condition = condition
            self.list = list
            self.value = value
        }
    }

    /// What to do next.
    public enum Next: Equatable, Sendable {
        /// Make the call of step `step` (and element `element`) on `target`'s lane.
        case call(step: Int, element: Int?, target: String)
        /// Every step is done (or skipped).
        case complete
        /// The flow cannot go on: bad data (an expression failed, a list too long). Quarantined, never retried.
        case quarantine(reason: String)
    }

    /// Moves `progress` to the next call: evaluates conditions, transforms and lists from the current step on.
    public static func next(_ progress: inout FlowProgress, steps: [Step], evaluate: Evaluator) -> Next {
        while true {
            if progress.done { return .complete }
            guard progress.step < steps.count else {
                progress.done = true
                return .complete
            }
            let step = steps[progress.step]
            if let element = progress.element, let target = step.target {
                return .call(step: progress.step, element: element, target: target)
            }
            do {
                if step.hasCondition, try !evaluate.condition(progress.step, progress) {
                    progress.skipped.append(step.name)
                    progress.step += 1
                    continue
                }
                guard let target = step.target else {
                    // A transform: computed once, stored, read by later steps as $steps.NAME.
                    progress.results[step.name] = try evaluate.value(progress.step, progress) ?? .null
                    progress.step += 1
                    continue
                }
                if let forEach = step.forEach {
                    let list: [JSON]
                    switch try evaluate.list(progress.step, progress) {
                    case nil, .null?: list = []
                    case .array(let elements)?: list = elements
                    case let single?: list = [single]
                    }
                    guard list.count <= forEach.maxItems else {
                        return .quarantine(reason: "step '\(step.name)': for_each gave \(list.count) elements, more than its max_items (\(forEach.maxItems))")
                    }
                    progress.results[step.name] = .array([])
                    guard !list.isEmpty else {
                        progress.step += 1
                        continue
                    }
                    progress.items = list
                    progress.element = 0
                    return .call(step: progress.step, element: 0, target: target)
                }
                return .call(step: progress.step, element: nil, target: target)
            } catch {
                return .quarantine(reason: "step '\(step.name)': \(error)")
            }
        }
    }

    /// The current call succeeded with `result`: it is stored, and the progress moves past it.
    public static func completed(_ progress: inout FlowProgress, steps: [Step], result: JSON) {
        guard progress.step < steps.count else { return }
        let name = steps[progress.step].name
        if progress.only {
            progress.results[name] = result
            progress.done = true
            return
        }
        if let element = progress.element {
            var list = progress.results[name]?.arrayValue ?? []
            list.append(result)
            progress.results[name] = .array(list)
            moveToNextElement(&progress, after: element)
        } else {
            progress.results[name] = result
            progress.step += 1
        }
    }

    /// The current call failed for good. An element of a `for_each` that may continue is recorded as failed (its
    /// own dead letter is the caller's to make, from `elementLetter`) and the flow goes on: `true`. Otherwise the
    /// flow fails: `failure` is set and `false` returned.
    public static func failed(_ progress: inout FlowProgress, steps: [Step], reason: String, status: Int?) -> Bool {
        guard progress.step < steps.count else { return false }
        let step = steps[progress.step]
        var failure = JSONObject()
        failure["step"] = .string(step.name)
        if let element = progress.element { failure["element"] = .number(Double(element)) }
        failure["reason"] = .string(reason)
        if let status { failure["status"] = .number(Double(status)) }
        if let element = progress.element, step.forEach?.continueOnFailure == true, !progress.only {
            var list = progress.results[step.name]?.arrayValue ?? []
            var entry = JSONObject()
            entry["error"] = .string(reason)
            if let status { entry["status"] = .number(Double(status)) }
            list.append(.object(entry))
            progress.results[step.name] = .array(list)
            progress.failedElements.append(.object(failure))
            moveToNextElement(&progress, after: element)
            return true
        }
        progress.failure = .object(failure)
        return false
    }

    /// The progress of an element's own dead letter: that one call, with what it read.
    public static func elementLetter(of progress: FlowProgress) -> FlowProgress {
        var letter = progress
        letter.only = true
        if let element = progress.element, let items = progress.items, items.indices.contains(element) {
            letter.items = [items[element]]
            letter.element = 0
            letter.originalElement = element
        }
        letter.failedElements = []
        return letter
    }

    /// What a failed flow's failure steps start from: the completed steps' results and the failure.
    public static func failureHandler(of progress: FlowProgress) -> FlowProgress {
        var handler = FlowProgress()
        handler.handler = .onFailure
        handler.results = progress.results
        handler.failure = progress.failure
        return handler
    }

    /// A dead flow replayed: from the call that failed (its results kept), or from its first step.
    public static func resumed(_ progress: FlowProgress, fromStart: Bool) -> FlowProgress {
        if fromStart { return progress.handler == .onFailure ? failureHandler(of: progress) : FlowProgress() }
        var resumed = progress
        if progress.handler == .steps { resumed.failure = nil }
        resumed.done = false
        return resumed
    }

    /// The element's position as the mapping reads it (`$index`): in an element's own letter, its place in the list.
    public static func index(of progress: FlowProgress) -> Int? {
        if progress.only, let original = progress.originalElement { return original }
        return progress.element
    }

    private static func moveToNextElement(_ progress: inout FlowProgress, after element: Int) {
        if element + 1 < (progress.items?.count ?? 0) {
            progress.element = element + 1
        } else {
            progress.element = nil
            progress.items = nil
            progress.step += 1
        }
    }
}

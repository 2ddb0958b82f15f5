import JSONValue
import Synchronization

/// An expression compiled once into closures that work on the input JSON directly: paths of any steps with their
/// predicates, variables and the host's bindings, literals, operators, conditions, object and array constructors,
/// blocks and the variables they bind (slots resolved when the plan compiles), grouping, order-by, calls of built-ins,
/// and `$map`/`$filter`/`$reduce` with a function written in place.
///
/// The evaluator walks class nodes and wraps every value it reads (an object per array element, a flagged array per
/// sequence); these closures read names, filter and flatten over the JSON as it came, and build values only for what
/// they return. They give what the evaluator gives, step for step (`DirectPlanTests` compares the two on generated
/// expressions and documents, and the official suite runs through them). A part they do not model is evaluated by the
/// evaluator inside the plan (`delegated`). Whatever they do not model at run time (an array as the whole input, a
/// value with flags JSON cannot carry, any error) stops them with `Stop.handover`, and the evaluator evaluates the
/// input again from the start: it alone says what an error is.
struct DirectPlan: @unchecked Sendable {
    // `@unchecked`: the closures capture only compiled, immutable values (nodes, signatures, built-ins).
    let run: Code
    /// The depth of the tree: the evaluator nests at most a few calls per level, which `JSONataExpression` checks
    /// against the depth limit before using the plan.
    let depth: Int
    /// How many variables the plan's blocks bind (`$x := ...`), each resolved to a slot when the plan compiles.
    let slotCount: Int
    /// How many parts of the plan the evaluator evaluates.
    let delegatedParts: Int
    /// Where the plan's name lookups remember their keys' positions: theirs for as long as the plan lives.
    let hints: KeyHints

    /// The evaluator's nesting that the plan's levels above a delegated part may stand for: a part is given the depth
    /// limit less this, so that it fails no later than inside the evaluator's whole (and the evaluator then decides).
    var reservedDepth: Int { depth * 4 + 16 }

    typealias Code = (_ input: JSON?, _ context: DirectContext) throws(Stop) -> Outcome

    /// A closure kept in an array: a struct's field holds it as it is, where an array of closures would hold each
    /// behind reabstraction thunks.
    struct Part {
        let run: Code
        init(_ run: @escaping Code) { self.run = run }
    }

    /// What a compiled part gives: undefined, one value (an array from the data stays one value), or a sequence.
    /// A part's result is a sequence of two or more values; sequences of one or none only exist inside a path.
    enum Outcome {
        case none
        case one(JSON)
        case many([JSON])
    }

    enum Stop: Error {
        /// A case the closures do not model: the evaluator takes the evaluation over.
        case handover
        /// The evaluation's time limit is spent.
        case timeout
    }

    /// The plan for `tree`, or `nil` when some part of it is outside what the closures model.
    static func compile(_ tree: Node) -> DirectPlan? {
        // A tree whose root the closures do not model has no plan: handing all of it over would only add a step.
        let compilation = Compilation()
        guard let code = Compilation.$current.withValue(compilation, operation: { direct(tree) }) else { return nil }
        return DirectPlan(run: code, depth: depth(of: tree), slotCount: compilation.slotCount, delegatedParts: compilation.delegated,
                          hints: compilation.hints)
    }

    /// A name that a compiled step looks up, with the position where it found it last. Objects of one shape (the items
    /// of an array, one vendor's events) keep a key at one place, so a lookup checks that place first (is the key there
    /// the same text?) and searches (or hashes) only when the key is elsewhere. Every thread that evaluates the plan shares the
    /// position, read and written relaxed: a stale one is only a wrong guess, which the check catches.
    struct Key {
        let name: String
        /// The position, in the plan's `KeyHints`: a pointer, so that copying a step costs no reference counting.
        let hint: UnsafeMutablePointer<Atomic<Int>>

        func value(in object: JSONObject) -> JSON? {
            if let value = object.value(at: hint.pointee.load(ordering: .relaxed), ifKeyIs: name) { return value }
            guard let (value, position) = object.valueAndPosition(of: name) else { return nil }
            hint.pointee.store(position, ordering: .relaxed)
            return value
        }
    }

    /// The positions of one plan's keys, freed with the plan.
    final class KeyHints: @unchecked Sendable {
        // `@unchecked`: `slots` changes only while the plan compiles, on the one thread that compiles it; the positions
        // are atomics.
        private var slots: [UnsafeMutablePointer<Atomic<Int>>] = []

        /// Outside a compilation (which `compile` always starts), one position that all such keys share: guesses only.
        nonisolated(unsafe) static let shared: UnsafeMutablePointer<Atomic<Int>> = {
            let slot = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 1)
            slot.initialize(to: Atomic(0))
            return slot
        }()

        func key(_ name: String) -> Key {
            let slot = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 1)
            slot.initialize(to: Atomic(0))
            slots.append(slot)
            return Key(name: name, hint: slot)
        }

        deinit {
            for slot in slots {
                slot.deinitialize(count: 1)
                slot.deallocate()
            }
        }
    }

    /// `name` as a compiled lookup, its position kept by the plan being compiled.
    private static func key(_ name: String) -> Key {
        Compilation.current?.hints.key(name) ?? Key(name: name, hint: KeyHints.shared)
    }

    /// What compiling one plan keeps track of: the scopes of blocks' variables and their slots.
    final class Compilation: @unchecked Sendable {
        // `@unchecked`: used by the one thread that compiles, through a task-local value.
        @TaskLocal static var current: Compilation?
        var slotCount = 0
        var delegated = 0
        let hints = KeyHints()
        /// The variables of the blocks being compiled, innermost last: a name and its slot.
        var scopes: [[String: Int]] = []

        /// The slots that may hold `name` where the plan reads it, innermost first. A block's slot is empty until the
        /// block binds it (and again each time the block starts), so a read falls through to the enclosing ones.
        func slots(of name: String) -> [Int] {
            scopes.reversed().compactMap { $0[name] }
        }

        /// `body`'s code, or `nil` with the counts as they were: the slots and delegated parts of an attempt that
        /// fails are thrown away with it.
        func attempt(_ body: () -> Code?) -> Code? {
            let (slots, parts) = (slotCount, delegated)
            if let code = body() { return code }
            (slotCount, delegated) = (slots, parts)
            return nil
        }
    }

    /// Every node directly under `node`.
    private static func children(of node: Node) -> [Node] {
        var children = [node.lhs, node.rhs, node.expression, node.procedure, node.condition, node.then, node.otherwise,
                        node.body, node.pattern, node.update, node.delete, node.group].compactMap { $0 }
        children += node.expressions + node.steps + node.arguments + node.stages + node.predicates
        children += node.pairs.flatMap { [$0.0, $0.1] } + node.terms.map(\.expression)
        return children
    }

    /// Whether a `:=` under `node` binds in the scope `node` is evaluated in: one not inside a block or a function of
    /// its own, which would bind in theirs.
    private static func bindsOutside(_ node: Node) -> Bool {
        if node.kind == .bind { return true }
        if node.kind == .block || node.kind == .lambda { return false }
        return children(of: node).contains(where: bindsOutside)
    }

    private static func depth(of node: Node) -> Int {
        children(of: node).map(depth(of:)).max().map { $0 + 1 } ?? 1
    }

    /// A node without the decorations that only the evaluator handles: predicates and grouping on a node, tuple
    /// bindings (`@`, `#`), parent references, kept singletons and constructed-array steps.
    private static func isPlain(_ node: Node, predicates: Bool = false, constructed: Bool = false, grouped: Bool = false) -> Bool {
        (predicates || node.predicates.isEmpty) && (grouped || node.group == nil) && !node.keepArray && !node.keepSingletonArray
            && (constructed || !node.consArray)
            && !node.tuple && node.focus == nil && node.indexVariable == nil && node.ancestor == nil && node.slot == nil
            && node.seekingParent.isEmpty && !node.thunk
    }

    /// A part as closures, or else as a call of the evaluator on that part alone.
    private static func compile(node: Node) -> Code? {
        // Closures pass through no generic function (`??`, `Optional.map`, arrays of closures): each would wrap them
        // in reabstraction thunks, two more calls at every use.
        if let code = direct(node) { return code }
        return delegated(node)
    }

    /// `compile(node:)` of an optional child.
    private static func compile(_ node: Node?) -> Code? {
        guard let node else { return nil }
        return compile(node: node)
    }

    /// A part the closures do not model (a function, a sort, grouping, tuple bindings, a regex), evaluated by the
    /// evaluator over the part's input, in a scope of the host's bindings and `$$`, as the evaluator would evaluate
    /// it inside the whole. Not a binding (`:=` would bind in that scope, which the closures do not read) nor a part
    /// whose parent references (`%`) point outside it: the enclosing part is then delegated instead.
    private static func delegated(_ node: Node) -> Code? {
        guard isDelegable(node) else { return nil }
        Compilation.current?.delegated += 1
        let captured = captures(node)
        return { input, context throws(Stop) in try outcome(try context.evaluate(node, input, captured)) }
    }

    /// The plan's variables that a delegated part may read: its names that a block of the plan binds, each with its
    /// slots. The evaluator is given them in a scope of their own.
    private static func captures(_ node: Node) -> [(name: String, slots: [Int])] {
        guard let compilation = Compilation.current, !compilation.scopes.isEmpty else { return [] }
        var names = Set<String>()
        func collect(_ node: Node) {
            if node.kind == .variable || node.kind == .bind { names.insert(node.kind == .bind ? node.lhs?.value ?? "" : node.value) }
            if let procedure = node.procedure { names.insert(procedure.value) }
            children(of: node).forEach(collect)
        }
        collect(node)
        return names.sorted().compactMap { name in
            let slots = compilation.slots(of: name)
            return slots.isEmpty ? nil : (name, slots)
        }
    }

    /// A part that the evaluator can evaluate alone: its parent references resolve inside it, and it binds no
    /// variable in the scope it is given (the closures would not see it).
    private static func isDelegable(_ node: Node) -> Bool {
        // A tail call of a function's body (a thunk) only means something to the evaluator's trampoline.
        node.seekingParent.isEmpty && node.slot == nil && !node.thunk && !bindsOutside(node)
    }

    /// A part as closures only, or `nil`.
    private static func direct(_ node: Node) -> Code? {
        guard let compilation = Compilation.current else { return closures(node) }
        return compilation.attempt { closures(node) }
    }

    /// `direct`, without undoing the counts of a failed attempt.
    private static func closures(_ node: Node) -> Code? {
        guard !node.predicates.isEmpty else { return compileCore(node) }
        // Predicates on a node outside a path (`$v[0]`, `[1, 2][$ > 1]`): applied to its value, then the sequence
        // collapsed. A name's lookup is filtered before it collapses; paths and calls, whose values may be sequences
        // of one, are left to the evaluator.
        guard isPlain(node, predicates: true), node.stages.isEmpty,
            [.variable, .name, .string, .number, .value, .unary, .block, .condition, .binary].contains(node.kind)
        else { return nil }
        guard let filters = filters(node.predicates) else { return nil }
        if node.kind == .name {
            let name = key(node.value)
            return { input, context throws(Stop) in
                var value = lookup(input, name)
                for filter in filters { value = try filter.apply(to: value, context) }
                return collapse(value)
            }
        }
        guard let code = compileCore(node) else { return nil }
        return { input, context throws(Stop) in
            var value = try code(input, context)
            for filter in filters { value = try filter.apply(to: value, context) }
            return collapse(value)
        }
    }

    /// Predicates or stages (`[...]` after a node or a step) as filters, or `nil` if one is not a filter.
    private static func filters(_ nodes: [Node]) -> [Filter]? {
        var filters: [Filter] = []
        for node in nodes {
            guard node.kind == .filter, let filter = filter(node.expression) else { return nil }
            filters.append(filter)
        }
        return filters
    }

    /// A predicate (`[expression]`) as a filter: a number literal picks an index (as in `Evaluator.filter`, whatever
    /// follows the number).
    private static func filter(_ predicate: Node?) -> Filter? {
        guard let predicate else { return nil }
        if predicate.kind == .number { return .index(predicate.number) }
        guard let code = compile(node: predicate) else { return nil }
        return .predicate(code)
    }

    /// A node's own code, before its predicates (which `compile(node:)` has checked).
    private static func compileCore(_ node: Node) -> Code? {
        if node.thunk {
            // A call in a function's tail position (only a planned function's body has one here): its value as the
            // evaluator's trampoline gives it, uncollapsed.
            guard node.kind == .lambda, let call = node.body, call.kind == .function else { return nil }
            return self.call(call, applying: nil, tail: true)
        }
        // A path's grouping (`a.b{key: value}`) is part of the path.
        guard isPlain(node, predicates: true, grouped: node.kind == .path), node.stages.isEmpty else { return nil }
        switch node.kind {
        case .string:
            let value = Outcome.one(.string(node.value))
            return { _, _ in value }
        case .number:
            let value = Outcome.one(.number(node.number))
            return { _, _ in value }
        case .value:
            let value = Outcome.one(node.boolean.map(JSON.bool) ?? .null)
            return { _, _ in value }
        case .name:
            let name = key(node.value)
            return { input, _ in collapse(lookup(input, name)) }
        case .variable:
            return variable(node)
        case .path:
            return path(node)
        case .binary:
            return binary(node)
        case .unary:
            return unary(node)
        case .condition:
            guard let condition = compile(node.condition), let then = compile(node.then)
            else { return nil }
            let alternative: Code?
            if let otherwise = node.otherwise {
                guard let code = compile(node: otherwise) else { return nil }
                alternative = code
            } else {
                alternative = nil
            }
            return { input, context throws(Stop) in
                if truth(try condition(input, context)) == true { return try then(input, context) }
                return try alternative?(input, context) ?? .none
            }
        case .block:
            return block(node)
        case .function:
            return call(node, applying: nil)
        case .apply:
            // `x ~> $f(a)` is `$f(x, a)`.
            guard let rhs = node.rhs, rhs.kind == .function, let lhs = compile(node.lhs) else { return nil }
            return call(rhs, applying: lhs)
        default:
            return nil
        }
    }

    /// `(a; b)`, and the variables it binds (`$x := a`, directly in it): each a slot of the plan, emptied when the
    /// block starts, as the evaluator gives each block a new scope.
    private static func block(_ node: Node) -> Code? {
        guard !node.expressions.isEmpty else { return nil }
        guard node.expressions.contains(where: { $0.kind == .bind }) else {
            var codes: [Part] = []
            for expression in node.expressions {
                guard let code = compile(node: expression) else { return nil }
                codes.append(Part(code))
            }
            if codes.count == 1 { return codes[0].run }
            return { input, context throws(Stop) in
                var result = Outcome.none
                for code in codes { result = try code.run(input, context) }
                return result
            }
        }
        guard let compilation = Compilation.current else { return nil }
        var scope: [String: Int] = [:]
        for expression in node.expressions where expression.kind == .bind {
            guard let name = expression.lhs?.value, !name.isEmpty, name != "$" else { return nil }
            if scope[name] == nil {
                scope[name] = compilation.slotCount
                compilation.slotCount += 1
            }
        }
        compilation.scopes.append(scope)
        defer { compilation.scopes.removeLast() }
        var codes: [Part] = []
        for expression in node.expressions {
            if expression.kind == .bind {
                // The value is the closures' own (a function bound to a name is the evaluator's to keep).
                guard let rhs = expression.rhs, !bindsOutside(rhs), let value = direct(rhs) else { return nil }
                let slot = scope[expression.lhs!.value]!
                let bind: Code = { input, context throws(Stop) in
                    let result = try value(input, context)
                    context.slots[slot] = result
                    return result
                }
                codes.append(Part(bind))
            } else {
                guard let code = compile(node: expression) else { return nil }
                codes.append(Part(code))
            }
        }
        let slots = Array(Set(scope.values))
        return { input, context throws(Stop) in
            for slot in slots { context.slots[slot] = nil }
            var result = Outcome.none
            for code in codes { result = try code.run(input, context) }
            return result
        }
    }

    // MARK: Variables and paths

    /// `$` (the context), `$$` (the input), or a variable of the host's bindings.
    private static func variable(_ node: Node) -> Code? {
        let name = node.value
        if name.isEmpty { return { input, _ in input.map(Outcome.one) ?? .none } }
        if name == "$" { return { _, context in context.root.map(Outcome.one) ?? .none } }
        let isBuiltin = node.builtin != nil
        let slots = Compilation.current?.slots(of: name) ?? []
        if !slots.isEmpty {
            return { _, context throws(Stop) in
                for slot in slots { if let value = context.slots[slot] { return value } }
                if let value = context.bindings[name] { return .one(value) }
                if isBuiltin { throw .handover }
                return .none
            }
        }
        return { _, context throws(Stop) in
            if let value = context.bindings[name] { return .one(value) }
            // An unbound built-in's name is a function value, which the closures do not model.
            if isBuiltin { throw .handover }
            return .none
        }
    }

    /// One step of a path: what it gives for one item, and its filters.
    private struct PathStep {
        enum Step {
            case name(Key)
            /// Any other step: its value for the item, predicates applied and collapsed.
            case code(Code)
            /// An order-by (`^(...)`), which works on all the items at once: its terms, each descending or not.
            case order(Node, [(descending: Bool, key: Part)])
            /// An order-by whose terms the closures do not model: the evaluator sorts.
            case sort(Node, [(name: String, slots: [Int])])
        }

        let step: Step
        let predicates: [Filter]
        let stages: [Filter]
        /// The step builds arrays (`a.[b, c]`) that are items of the next step's input whole.
        let keepsWhole: Bool

        /// The step's value for one item, as `Evaluator.evaluate` gives it for the step and `evaluateStep` filters it.
        func value(for item: JSON?, _ context: DirectContext) throws(Stop) -> Outcome {
            var value: Outcome
            switch step {
            case .name(let name): value = lookup(item, name)
            case .code(let code): value = try code(item, context)
            case .sort, .order: throw .handover
            }
            for filter in predicates { value = try filter.apply(to: value, context) }
            value = collapse(value)
            for filter in stages { value = try filter.apply(to: value, context) }
            return value
        }
    }

    private static func path(_ node: Node) -> Code? {
        var steps: [PathStep] = []
        for (index, step) in node.steps.enumerated() {
            // A first `[...]` step and steps that bind tuples are the evaluator's.
            guard isPlain(step, predicates: true) || (step.consArray && index > 0 && isPlain(step, predicates: true, constructed: true))
            else { return nil }
            guard let stages = filters(step.stages) else { return nil }
            if step.kind == .sort {
                guard step.predicates.isEmpty else { return nil }
                var terms: [(descending: Bool, key: Part)] = []
                for term in step.terms {
                    guard let key = direct(term.expression) else { break }
                    terms.append((term.descending, Part(key)))
                }
                if terms.count == step.terms.count {
                    steps.append(PathStep(step: .order(step, terms), predicates: [], stages: stages, keepsWhole: false))
                } else {
                    guard isDelegable(step) else { return nil }
                    Compilation.current?.delegated += 1
                    steps.append(PathStep(step: .sort(step, captures(step)), predicates: [], stages: stages, keepsWhole: false))
                }
            } else if step.kind == .name {
                // A name's predicates filter its lookup before it collapses, its stages (`a[0]` in a path) after.
                guard let predicates = filters(step.predicates) else { return nil }
                steps.append(PathStep(step: .name(key(step.value)), predicates: predicates, stages: stages, keepsWhole: false))
            } else {
                guard let code = step.consArray ? constructedArray(step) : compile(node: step) else { return nil }
                // An array built by a `[...]` step is one item of the next step's input, not flattened into it.
                steps.append(PathStep(step: .code(code), predicates: [], stages: stages,
                                      keepsWhole: step.consArray && step.stages.isEmpty && step.predicates.isEmpty))
            }
        }
        guard !steps.isEmpty else { return nil }
        let walk = PathWalk(steps: steps, startsWithVariable: node.steps[0].kind == .variable)
        if let group = node.group {
            return grouping(group, over: walk)
        }
        return { input, context throws(Stop) in collapse(try walk.run(input, context)) }
    }

    /// `path{key: value}`: the path's items grouped by each pair's key (a string), and each group's value evaluated
    /// over its items, as `Evaluator.evaluateGroup` does.
    private static func grouping(_ group: Node, over walk: PathWalk) -> Code? {
        var pairs: [(key: Part, value: Part)] = []
        for (key, value) in group.pairs {
            guard let keyCode = compile(node: key), let valueCode = compile(node: value) else { return nil }
            pairs.append((Part(keyCode), Part(valueCode)))
        }
        return { input, context throws(Stop) in
            let items: [JSON]
            switch try walk.run(input, context) {
            case .many(let values): items = values
            case .one(.array(let elements)): items = elements
            case .one(let value): items = [value]
            case .none: items = []
            }
            try context.tick(Swift.max(1, items.count) * pairs.count)
            var order: [ExactKey] = []
            var groups: [ExactKey: Group] = [:]
            func add(_ item: JSON?) throws(Stop) {
                for (index, pair) in pairs.enumerated() {
                    let name: ExactKey
                    switch try pair.key.run(item, context) {
                    case .none: continue
                    case .one(.string(let text)): name = ExactKey(text)
                    default: throw .handover
                    }
                    if let position = groups.index(forKey: name) {
                        guard groups.values[position].pair == index else { throw .handover }
                        groups.values[position].add(item)
                    } else {
                        groups[name] = Group(first: item, pair: index)
                        order.append(name)
                    }
                }
            }
            if items.isEmpty { try add(nil) }
            for item in items { try add(item) }
            var keys: [String] = []
            var values: [JSON] = []
            for name in order {
                let group = groups[name]!
                guard let value = json(try pairs[group.pair].value.run(group.data, context)) else { continue }
                keys.append(name.text)
                values.append(value)
            }
            return .one(.object(JSONObject(uniqueKeys: keys, values: values)))
        }
    }

    /// The items of one group: its first item alone, or all of them appended as `Evaluator.append` appends them (an
    /// array's elements, not the array), gathered in one array rather than copied at each item.
    private struct Group {
        var first: JSON?
        var merged: [JSON]?
        let pair: Int

        init(first: JSON?, pair: Int) {
            self.first = first
            self.pair = pair
        }

        mutating func add(_ item: JSON?) {
            guard let item else { return }
            guard let head = first else {
                first = item
                return
            }
            if merged == nil {
                if case .array(let elements) = head { merged = elements } else { merged = [head] }
            }
            if case .array(let elements) = item { merged!.append(contentsOf: elements) } else { merged!.append(item) }
        }

        var data: JSON? {
            guard let merged else { return first }
            return .array(merged)
        }
    }

    /// A path's steps, walked as `Evaluator.evaluatePathSteps` walks them.
    private struct PathWalk {
        let steps: [PathStep]
        let startsWithVariable: Bool
        /// How many of the first steps are names without predicates: those are read member by member while they meet
        /// objects.
        let plainNames: [Key]

        init(steps: [PathStep], startsWithVariable: Bool) {
            self.steps = steps
            self.startsWithVariable = startsWithVariable
            var names: [Key] = []
            for step in steps {
                guard case .name(let name) = step.step, step.predicates.isEmpty, step.stages.isEmpty else { break }
                names.append(name)
            }
            plainNames = names
        }

        /// The path's result before it collapses: its sequence (`.many`, of any length), or one value (`.one`): an
        /// array that its last step gave from the data, or a sequence's only item.
        func run(_ input: JSON?, _ context: DirectContext) throws(Stop) -> Outcome {
            if !plainNames.isEmpty, case .object(var object)? = input {
                // Through objects, each name's value is the next step's only item, and the last step's value is the
                // result whatever it is.
                for (index, name) in plainNames.enumerated() {
                    guard let value = name.value(in: object) else { return .many([]) }
                    // The last value is the result as it is: an array whole, anything else the sequence's one item,
                    // which needs no array of its own.
                    if index == steps.count - 1 { return .one(value) }
                    guard case .object(let next) = value else {
                        if case .array(let elements) = value { return try walk(elements, from: index + 1, context) }
                        return try walk([value], from: index + 1, context)
                    }
                    object = next
                }
                return try walk([.object(object)], from: plainNames.count, context)
            }
            if !startsWithVariable, case .array(let elements)? = input { return try walk(elements, from: 0, context) }
            if let input { return try walk([input], from: 0, context) }
            return try walk([], from: 0, undefinedInput: true, context)
        }

        /// `items` in the order of `terms`, as `Evaluator.sort` orders them: each item's keys evaluated once, numbers
        /// or strings compared term by term, undefined last, through the same merge sort. A key of another type, or
        /// numbers against strings, is the evaluator's error to report.
        private func order(_ items: [JSON], by terms: [(descending: Bool, key: Part)], _ context: DirectContext) throws(Stop) -> [JSON] {
            try context.tick(items.count * terms.count)
            var keyed: [(value: JSON, keys: [Outcome])] = []
            keyed.reserveCapacity(items.count)
            for item in items {
                var keys: [Outcome] = []
                keys.reserveCapacity(terms.count)
                for term in terms { keys.append(try term.key.run(item, context)) }
                keyed.append((item, keys))
            }
            do {
                return try Evaluator.mergeSort(keyed) { (a, b) throws(JSONataError) -> Bool in
                    for (index, term) in terms.enumerated() {
                        var comparison: Int
                        switch (a.keys[index], b.keys[index]) {
                        case (.none, .none): continue
                        case (.none, _): return true
                        case (_, .none): return false
                        case (.one(.number(let p)), .one(.number(let q))): comparison = p == q ? 0 : (p < q ? -1 : 1)
                        case (.one(.string(let p)), .one(.string(let q))):
                            comparison = Evaluator.sameText(p, q) ? 0 : (Evaluator.precedesInUTF16(p, q) ? -1 : 1)
                        default:
                            throw JSONataError(code: "T2007", message: "")
                        }
                        if term.descending { comparison = -comparison }
                        if comparison != 0 { return comparison == 1 }
                    }
                    return false
                }.map(\.value)
            } catch {
                throw .handover
            }
        }

        /// The steps from `first` on over `items`: each step's values over them flattened one level into the next
        /// step's items; a last step that gives one array from the data gives that array.
        private func walk(_ start: [JSON], from first: Int, undefinedInput: Bool = false, _ context: DirectContext)
            throws(Stop) -> Outcome
        {
            var items = start
            var next: [JSON] = []
            let last = steps.count - 1
            for index in first..<steps.count {
                let step = steps[index]
                try context.tick(items.count)
                next.removeAll(keepingCapacity: true)
                var sorted: [JSON]?
                switch step.step {
                case .sort(let node, let captured):
                    sorted = try context.sort(node, undefinedInput && index == first ? [] : items, captured)
                case .order(_, let terms):
                    sorted = try order(undefinedInput && index == first ? [] : items, by: terms, context)
                default:
                    sorted = nil
                }
                if let sorted {
                    // The whole input sorted, then filtered: a sequence, or an array that an index picked.
                    var value = Outcome.many(sorted)
                    for filter in step.stages { value = try filter.apply(to: value, context) }
                    switch value {
                    case .none: return .many([])
                    case .one(.array(let elements)):
                        if index == last { return value }
                        next = elements
                    case .one(let single): next = [single]
                    case .many(let values): next = values
                    }
                    if next.isEmpty { return .many([]) }
                    swap(&items, &next)
                    continue
                }
                var single: JSON?
                var results = 0
                func visit(_ item: JSON?) throws(Stop) {
                    switch try step.value(for: item, context) {
                    case .none:
                        return
                    case .one(let json):
                        results += 1
                        if results == 1, index == last, case .array = json { single = json }
                        if !step.keepsWhole, case .array(let elements) = json { next += elements } else { next.append(json) }
                    case .many(let values):
                        results += 1
                        next += values
                    }
                }
                if undefinedInput, index == first {
                    try visit(nil)
                } else {
                    for item in items { try visit(item) }
                }
                if results == 1, let single { return .one(single) }
                if next.isEmpty { return .many([]) }
                swap(&items, &next)
            }
            return .many(items)
        }
    }

    /// A name looked up in an item as `Evaluator.lookup` does: an object's member, or over an array's elements (arrays
    /// flattened one level), as a sequence.
    static func lookup(_ item: JSON?, _ name: Key) -> Outcome {
        switch item {
        case .object(let object)?:
            return name.value(in: object).map(Outcome.one) ?? .none
        case .array(let elements)?:
            var values: [JSON] = []
            lookup(elements, name, into: &values)
            return .many(values)
        default:
            return .none
        }
    }

    private static func lookup(_ elements: [JSON], _ name: Key, into values: inout [JSON]) {
        for element in elements {
            switch element {
            case .object(let object):
                guard let value = name.value(in: object) else { continue }
                if case .array(let inner) = value { values += inner } else { values.append(value) }
            case .array(let inner):
                lookup(inner, name, into: &values)
            default:
                continue
            }
        }
    }

    /// A sequence as a part's result: none is undefined, one is its value.
    static func collapse(_ value: Outcome) -> Outcome {
        guard case .many(let values) = value else { return value }
        switch values.count {
        case 0: return .none
        case 1: return .one(values[0])
        default: return value
        }
    }

    private enum Filter {
        case index(Double)
        case predicate(Code)

        /// `Evaluator.filter`: the items of `value` the predicate keeps, as a sequence; a numeric index picks one
        /// item, and an array it picks is given whole.
        func apply(to value: Outcome, _ context: DirectContext) throws(Stop) -> Outcome {
            let items: [JSON]
            switch value {
            case .none: items = []
            case .one(.array(let elements)): items = elements
            case .one(let json): items = [json]
            case .many(let values): items = values
            }
            switch self {
            case .index(let number):
                var index = number.rounded(.down).clampedInt
                if index < 0 { index += items.count }
                guard items.indices.contains(index) else { return .many([]) }
                if case .array = items[index] { return .one(items[index]) }
                return .many([items[index]])
            case .predicate(let predicate):
                try context.tick(items.count)
                var kept: [JSON] = []
                for (position, item) in items.enumerated() {
                    let result = try predicate(item, context)
                    if let indexes = DirectPlan.indexes(result) {
                        for number in indexes {
                            var index = number.rounded(.down).clampedInt
                            if index < 0 { index += items.count }
                            if index == position { kept.append(item) }
                        }
                    } else if truth(result) == true {
                        kept.append(item)
                    }
                }
                return .many(kept)
            }
        }
    }

    /// A predicate's result read as indexes: a number, or a non-empty array of numbers only.
    private static func indexes(_ value: Outcome) -> [Double]? {
        let values: [JSON]
        switch value {
        case .none: return nil
        case .one(.number(let number)): return [number]
        case .one(.array(let elements)): values = elements
        case .one: return nil
        case .many(let many): values = many
        }
        guard !values.isEmpty else { return nil }
        return JSONBuiltins.numbers(only: values)
    }

    // MARK: Truth, values

    /// `Evaluator.boolean` over a result: `nil` for undefined.
    static func truth(_ value: Outcome) -> Bool? {
        switch value {
        case .none: nil
        case .one(let json): truth(json)
        case .many(let values): values.count == 1 ? truth(values[0]) : values.contains { truth($0) }
        }
    }

    static func truth(_ json: JSON) -> Bool {
        switch json {
        case .null: false
        case .bool(let flag): flag
        case .number(let number): number != 0 && !number.isNaN
        case .string(let string): !string.isEmpty
        case .object(let object): !object.isEmpty
        case .array(let elements): elements.count == 1 ? truth(elements[0]) : elements.contains { truth($0) }
        }
    }

    /// The evaluator's value for a result: a sequence is a flagged array, as the evaluator would hold it.
    static func value(_ outcome: Outcome) -> Value? {
        switch outcome {
        case .none: nil
        case .one(let json): Value(json)
        case .many(let values): .array(ArrayValue.sequence(values.map(Value.init)))
        }
    }

    /// An evaluator's value as a result, collapsed as the evaluator collapses a part's result. Functions, and arrays
    /// with flags other than a sequence's, are handed over.
    static func outcome(_ value: Value?) throws(Stop) -> Outcome {
        guard let value else { return .none }
        switch value {
        case .function:
            throw .handover
        case .array(let array):
            guard !array.isTupleStream, !array.keepSingleton, !array.outerWrapper, !array.isConstructed else { throw .handover }
            for item in array.items {
                switch item {
                case .function: throw .handover
                case .array(let inner) where inner.isSequence || inner.isTupleStream || inner.keepSingleton: throw .handover
                default: continue
                }
            }
            if array.isSequence {
                if array.items.isEmpty { return .none }
                if array.items.count == 1 { return .one(array.items[0].json) }
                return .many(array.items.map(\.json))
            }
            return .one(value.json)
        default:
            return .one(value.json)
        }
    }

    /// A whole evaluation's result as JSON; a number out of range is an error, which the evaluator reports.
    static func answer(_ outcome: Outcome) throws(Stop) -> JSON? {
        if case .one(.number(let number)) = outcome, !number.isFinite { throw .handover }
        return json(outcome)
    }

    /// A result as one JSON value: a sequence is an array.
    static func json(_ outcome: Outcome) -> JSON? {
        switch outcome {
        case .none: nil
        case .one(let json): json
        case .many(let values): .array(values)
        }
    }

    // MARK: Operators

    private static func binary(_ node: Node) -> Code? {
        guard let lhs = compile(node.lhs), let rhs = compile(node.rhs) else { return nil }
        let op = node.value
        switch op {
        case "and", "or":
            let isAnd = op == "and"
            return { input, context throws(Stop) in
                let left = truth(try lhs(input, context)) ?? false
                if left != isAnd { return .one(.bool(left)) }
                return .one(.bool(truth(try rhs(input, context)) ?? false))
            }
        case "+", "-", "*", "/", "%":
            return { input, context throws(Stop) in
                let left = try lhs(input, context)
                let right = try rhs(input, context)
                if case .one(.number(let a)) = left, case .one(.number(let b)) = right, a.isFinite, b.isFinite {
                    switch op {
                    case "+": return .one(.number(a + b))
                    case "-": return .one(.number(a - b))
                    case "*": return .one(.number(a * b))
                    case "/": return .one(.number(a / b))
                    default: break
                    }
                }
                return try outcome(evaluated { () throws(JSONataError) in try Evaluator.arithmetic(value(left), value(right), op) })
            }
        case "=", "!=":
            let equal = op == "="
            return { input, context throws(Stop) in
                let left = try lhs(input, context)
                let right = try rhs(input, context)
                if case .none = left { return .one(.bool(false)) }
                if case .none = right { return .one(.bool(false)) }
                if case .one(let a) = left, case .one(let b) = right, let same = scalarEquality(a, b) {
                    return .one(.bool(same == equal))
                }
                return .one(.bool(Evaluator.deepEqual(value(left)!, value(right)!) == equal))
            }
        case "<", "<=", ">", ">=":
            return { input, context throws(Stop) in
                let left = try lhs(input, context)
                let right = try rhs(input, context)
                if case .one(.number(let a)) = left, case .one(.number(let b)) = right {
                    switch op {
                    case "<": return .one(.bool(a < b))
                    case "<=": return .one(.bool(a <= b))
                    case ">": return .one(.bool(a > b))
                    default: return .one(.bool(a >= b))
                    }
                }
                return try outcome(evaluated { () throws(JSONataError) in try Evaluator.compare(value(left), value(right), op) })
            }
        case "&":
            return { input, context throws(Stop) in
                let left = try lhs(input, context)
                let right = try rhs(input, context)
                if case .one(.string(let a)) = left, case .one(.string(let b)) = right { return .one(.string(a + b)) }
                return .one(.string(try text(left) + text(right)))
            }
        case "in":
            return { input, context throws(Stop) in
                let left = try lhs(input, context)
                let right = try rhs(input, context)
                guard let needle = value(left), let haystack = value(right) else { return .one(.bool(false)) }
                let candidates = haystack.arrayValue?.items ?? [haystack]
                return .one(.bool(candidates.contains { Evaluator.strictEqual($0, needle) }))
            }
        default:
            return nil
        }
    }

    /// `=` between two scalars, or `nil` when either is an array or an object.
    private static func scalarEquality(_ a: JSON, _ b: JSON) -> Bool? {
        switch (a, b) {
        case (.string(let x), .string(let y)): Evaluator.sameText(x, y)
        case (.number(let x), .number(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        case (.array, _), (.object, _), (_, .array), (_, .object): nil
        default: false
        }
    }

    /// `&`'s text for one side: undefined is empty, anything else as `$string` writes it.
    private static func text(_ outcome: Outcome) throws(Stop) -> String {
        guard let value = value(outcome) else { return "" }
        return try evaluated { () throws(JSONataError) in try Evaluator.string(value) }
    }

    /// Runs one of the evaluator's helpers; any error it raises is the evaluator's to report.
    private static func evaluated<T>(_ body: () throws(JSONataError) -> T) throws(Stop) -> T {
        do { return try body() } catch { throw .handover }
    }

    private static func unary(_ node: Node) -> Code? {
        switch node.value {
        case "-":
            guard let operand = compile(node.expression) else { return nil }
            return { input, context throws(Stop) in
                switch try operand(input, context) {
                case .none: return .none
                case .one(.number(let number)) where number.isFinite: return .one(.number(-number))
                default: throw .handover
                }
            }
        case "[":
            return arrayConstructor(node)
        case "{":
            // An object constructor with literal keys over one context; over an array it groups, which the
            // evaluator does.
            guard let keys = node.literalKeys else { return nil }
            var values: [Part] = []
            for pair in node.pairs {
                guard let code = compile(node: pair.1) else { return nil }
                values.append(Part(code))
            }
            return { input, context throws(Stop) in
                if case .array? = input { throw .handover }
                var presentKeys: [String] = []
                var presentValues: [JSON] = []
                presentKeys.reserveCapacity(keys.count)
                presentValues.reserveCapacity(keys.count)
                for (index, code) in values.enumerated() {
                    guard let value = json(try code.run(input, context)) else { continue }
                    presentKeys.append(keys[index])
                    presentValues.append(value)
                }
                return .one(.object(JSONObject(uniqueKeys: presentKeys, values: presentValues)))
            }
        default:
            return nil
        }
    }

    /// `[a, b]`: each item's values appended (an array's elements, a sequence's values), a nested `[...]` whole.
    private static func arrayConstructor(_ node: Node) -> Code? {
        var items: [(code: Part, nested: Bool)] = []
        for item in node.expressions {
            guard let code = compile(node: item) else { return nil }
            items.append((Part(code), item.kind == .unary && item.value == "["))
        }
        return { input, context throws(Stop) in
            var elements: [JSON] = []
            for (code, nested) in items {
                switch try code.run(input, context) {
                case .none: continue
                case .one(let json):
                    if !nested, case .array(let inner) = json { elements += inner } else { elements.append(json) }
                case .many(let values):
                    if nested { elements.append(.array(values)) } else { elements += values }
                }
            }
            return .one(.array(elements))
        }
    }

    /// A `[...]` step of a path (`a.[b, c]`), whose arrays the path keeps whole.
    private static func constructedArray(_ node: Node) -> Code? {
        guard node.kind == .unary, node.value == "[", node.predicates.isEmpty else { return nil }
        return arrayConstructor(node)
    }

    // MARK: Calls

    /// An argument of a call: a value of the closures, or a value only the evaluator makes (a function, a regex).
    private enum Argument {
        case code(Code)
        case evaluated(Node)
        /// A regex literal: its matcher, made when the expression compiled.
        case constant(Value)
        /// A built-in by name (`$reduce(x, $append)`), unless the host binds that name.
        case builtin(String, Value)
    }

    /// A call of a built-in, with `applied` (the left side of `~>`) as its first argument. Arguments the closures do
    /// not model (a lambda, a regex, a built-in passed by name) are the evaluator's values, as are the functions that
    /// higher-order built-ins call back.
    private static func call(_ node: Node, applying applied: Code?, tail: Bool = false) -> Code? {
        if !tail, let code = Compilation.current?.attempt({ higherOrder(node, applying: applied) }) { return code }
        guard isPlain(node), node.stages.isEmpty, let procedure = node.procedure, procedure.kind == .variable,
            isPlain(procedure), case .function(let function)? = procedure.builtin, case .native(let native) = function.body,
            procedure.value != "eval", Compilation.current?.slots(of: procedure.value).isEmpty ?? true
        else { return nil }
        var arguments: [Argument] = []
        if let applied { arguments.append(.code(applied)) }
        for argument in node.arguments {
            guard argument.kind != .placeholder else { return nil }
            if argument.kind == .regex, isPlain(argument), let matcher = argument.constant {
                arguments.append(.constant(matcher))
            } else if argument.kind == .variable, isPlain(argument), let builtin = argument.builtin,
                Compilation.current?.slots(of: argument.value).isEmpty ?? true
            {
                arguments.append(.builtin(argument.value, builtin))
            } else if argument.kind != .variable || argument.builtin == nil, let code = direct(argument) {
                arguments.append(.code(code))
            } else {
                guard isDelegable(argument) else { return nil }
                arguments.append(.evaluated(argument))
            }
        }
        let name = procedure.value
        let signature = function.signature
        let captured = arguments.contains { if case .evaluated = $0 { true } else { false } }
            ? node.arguments.flatMap(captures) : []
        let usesContext = signature?.usesContext ?? false
        // The library's call of the built-in with the arguments' values.
        let library = { (values: [Value?], input: JSON?, context: DirectContext) throws(Stop) -> Outcome in
            let evaluator = context.evaluator
            let environment = context.callScope
            // Only a parameter that the context stands in for reads the context (`$eval`, which reads it too, is left
            // to the evaluator), so it is converted only when such a parameter's argument is missing. The trampoline
            // calls a tail call without one.
            let result = try evaluated { () throws(JSONataError) -> Value? in
                var checked = values
                if let signature {
                    checked = try signature.validate(values, context: usesContext && !tail ? input.map(Value.init) : nil)
                }
                return try evaluator.invoke(native, checked, nil, environment)
            }
            return try tail ? uncollapsed(result) : outcome(result)
        }
        let codes = arguments.compactMap { if case .code(let code) = $0 { Part(code) } else { nil } }
        if !tail, codes.count == arguments.count, let entry = JSONBuiltins.entry(name, count: codes.count) {
            return jsonCall(name, entry, codes, library: library)
        }
        return { input, context throws(Stop) in
            // A binding of the same name hides the built-in.
            if !context.bindings.isEmpty, context.bindings[name] != nil { throw .handover }
            var values: [Value?] = []
            values.reserveCapacity(arguments.count)
            for argument in arguments {
                switch argument {
                case .code(let code): values.append(value(try code(input, context)))
                case .evaluated(let node): values.append(try context.evaluate(node, input, captured))
                case .constant(let value): values.append(value)
                case .builtin(let name, let builtin): values.append(context.bindings[name].map(Value.init) ?? builtin)
                }
            }
            return try library(values, input, context)
        }
    }

    /// A call of a built-in that `JSONBuiltins` answers over JSON, its one to three arguments all closures: their
    /// values go to the library only when `JSONBuiltins` leaves them to it.
    private static func jsonCall(_ name: String, _ entry: JSONBuiltins.Entry, _ codes: [Part],
                                 library: @escaping ([Value?], JSON?, DirectContext) throws(Stop) -> Outcome) -> Code
    {
        let first = codes[0].run
        let second = codes.count > 1 ? codes[1].run : nil
        let third = codes.count > 2 ? codes[2].run : nil
        /// An argument as `JSONBuiltins` takes it: a sequence is an array, undefined is `nil`.
        func given(_ outcome: Outcome) -> JSON? {
            switch outcome {
            case .none: nil
            case .one(let json): json
            case .many(let items): .array(items)
            }
        }
        return { input, context throws(Stop) in
            if !context.bindings.isEmpty, context.bindings[name] != nil { throw .handover }
            let a = try first(input, context)
            let b = try second?(input, context)
            let c = try third?(input, context)
            let y = b.flatMap(given)
            let z = c.flatMap(given)
            if let x = given(a), second == nil || y != nil, third == nil || z != nil {
                switch entry.run(x, y, z) {
                case .value(let json): return .one(json)
                case .undefined: return .none
                case .library: break
                }
            }
            var values: [Value?] = [value(a)]
            if let b { values.append(value(b)) }
            if let c { values.append(value(c)) }
            return try library(values, input, context)
        }
    }

    /// A tail call's value, which the trampoline does not collapse: a sequence of two or more is one here as
    /// anywhere; one of none or one item, which would differ from its collapsed value later, is handed over.
    private static func uncollapsed(_ value: Value?) throws(Stop) -> Outcome {
        if case .array(let array)? = value, array.isSequence, array.items.count <= 1 { throw .handover }
        return try outcome(value)
    }

    /// `$map`, `$filter` and `$reduce` with a function written in place (`function($x, $i) { ... }`): its parameters
    /// are slots of the plan and its body closures, called for each item without the evaluator.
    private static func higherOrder(_ node: Node, applying applied: Code?) -> Code? {
        guard isPlain(node), node.stages.isEmpty, let procedure = node.procedure, procedure.kind == .variable,
            isPlain(procedure), procedure.builtin != nil, ["map", "filter", "reduce"].contains(procedure.value),
            let compilation = Compilation.current, compilation.slots(of: procedure.value).isEmpty
        else { return nil }
        let name = procedure.value
        var argumentNodes: [Node?] = node.arguments
        if applied != nil { argumentNodes.insert(nil, at: 0) }
        let expected = name == "reduce" ? 2...3 : 2...2
        guard expected.contains(argumentNodes.count), let function = argumentNodes[1], function.kind == .lambda,
            !function.thunk, function.signature == nil, isPlain(function), let body = function.body,
            function.arguments.allSatisfy({ $0.kind == .variable && !$0.value.isEmpty && $0.value != "$" }),
            name != "reduce" || function.arguments.count >= 2
        else { return nil }
        let list: Code
        if let applied {
            list = applied
        } else {
            guard let first = argumentNodes[0], let code = compile(node: first) else { return nil }
            list = code
        }
        var initial: Code?
        if argumentNodes.count == 3 {
            guard let third = argumentNodes[2], let code = compile(node: third) else { return nil }
            initial = code
        }
        // The parameters, each a slot of a scope of their own.
        var scope: [String: Int] = [:]
        var parameters: [Int] = []
        for parameter in function.arguments {
            if let slot = scope[parameter.value] {
                parameters.append(slot)
            } else {
                scope[parameter.value] = compilation.slotCount
                parameters.append(compilation.slotCount)
                compilation.slotCount += 1
            }
        }
        compilation.scopes.append(scope)
        let compiledBody = compile(node: body)
        compilation.scopes.removeLast()
        guard let lambda = compiledBody else { return nil }
        let arity = function.arguments.count
        let apply = { (_ arguments: [Outcome], _ input: JSON?, _ context: DirectContext) throws(Stop) -> Outcome in
            for (index, slot) in parameters.enumerated() {
                context.slots[slot] = index < arguments.count ? arguments[index] : Outcome.none
            }
            return try lambda(input, context)
        }
        return { input, context throws(Stop) in
            if context.bindings[name] != nil { throw .handover }
            let value = try list(input, context)
            // Every argument is evaluated before the call, whatever the array.
            let start = try initial?(input, context) ?? .none
            // The array argument as the signature makes it: a single value is a one-item array.
            let items: [JSON]
            let whole: Outcome
            switch value {
            case .none: return .none
            case .one(.array(let elements)): items = elements; whole = value
            case .one(let single): items = [single]; whole = .one(.array([single]))
            case .many(let values): items = values; whole = value
            }
            try context.tick(items.count)
            switch name {
            case "map", "filter":
                var results: [JSON] = []
                for (index, item) in items.enumerated() {
                    var arguments: [Outcome] = [.one(item)]
                    if arity >= 2 { arguments.append(.one(.number(Double(index)))) }
                    if arity >= 3 { arguments.append(whole) }
                    let output = try apply(arguments, input, context)
                    if name == "filter" {
                        if truth(output) == true { results.append(item) }
                    } else if let json = json(output) {
                        results.append(json)
                    }
                }
                return collapse(.many(results))
            default:
                var result: Outcome
                var index = 0
                if case .none = start, !items.isEmpty {
                    result = .one(items[0])
                    index = 1
                } else {
                    result = start
                }
                while index < items.count {
                    var arguments: [Outcome] = [result, .one(items[index])]
                    if arity >= 3 { arguments.append(.one(.number(Double(index)))) }
                    if arity >= 4 { arguments.append(whole) }
                    result = try apply(arguments, input, context)
                    index += 1
                }
                return result
            }
        }
    }
}

/// What one run of a `DirectPlan` reads: the input, the host's bindings, and the time limit.
final class DirectContext {
    let root: JSON?
    let bindings: [String: JSON]
    private let deadline: EvaluationDeadline?
    private let maximumDepth: Int
    private var ticks = 0

    init(root: JSON?, bindings: [String: JSON], deadline: EvaluationDeadline?, maximumDepth: Int, reservedDepth: Int = 0,
         slotCount: Int = 0) {
        self.slots = Array(repeating: nil, count: slotCount)
        self.root = root
        self.bindings = bindings
        self.deadline = deadline
        self.maximumDepth = maximumDepth
        self.reservedDepth = reservedDepth
    }

    /// The evaluator that built-ins and delegated parts are given (for `$now()`'s instant and the time limit), made
    /// when first needed. Its depth limit leaves room for the levels of the plan above the part it evaluates.
    lazy var evaluator = Evaluator(maximumDepth: maximumDepth - reservedDepth, deadline: deadline)
    /// The scope the evaluator would give the whole: the host's bindings, and `$` bound to the input.
    lazy var environment: Frame = {
        let frame = Frame(parent: nil)
        for (name, value) in bindings { frame.bind(name, Value(value)) }
        frame.bind("$", root.map(Value.init))
        return frame
    }()
    /// The scope built-ins are called in: only `$eval` (left to the evaluator) reads it, so it is empty.
    lazy var callScope = Frame(parent: nil)
    private let reservedDepth: Int

    /// `items` sorted by an order-by step, by the evaluator.
    func sort(_ node: Node, _ items: [JSON], _ captured: [(name: String, slots: [Int])]) throws(DirectPlan.Stop) -> [JSON] {
        let evaluator = self.evaluator
        let environment = scope(captured)
        do {
            return try evaluator.sort(node, ArrayValue.sequence(items.map(Value.init)), environment).items.map(\.json)
        } catch {
            throw .handover
        }
    }

    /// The values of the variables the plan's blocks bind, by slot (`nil`: not bound).
    var slots: [DirectPlan.Outcome?]

    /// A part evaluated by the evaluator over `input`, in a scope with the plan's variables that it reads
    /// (`captured`); an error it raises is the evaluator's to report.
    func evaluate(_ node: Node, _ input: JSON?, _ captured: [(name: String, slots: [Int])] = []) throws(DirectPlan.Stop) -> Value? {
        let evaluator = self.evaluator
        let environment = scope(captured)
        do { return try evaluator.evaluate(node, input.map(Value.init), environment) } catch { throw .handover }
    }

    /// The scope a delegated part is evaluated in: the host's bindings and `$$`, and the plan's variables it reads.
    private func scope(_ captured: [(name: String, slots: [Int])]) -> Frame {
        guard !captured.isEmpty else { return environment }
        let scope = Frame(parent: environment)
        for (name, slots) in captured {
            if let slot = slots.first(where: { self.slots[$0] != nil }) { scope.bind(name, DirectPlan.value(self.slots[slot]!)) }
        }
        return scope
    }

    /// Counts `count` steps of work, and asks the time limit once per 1,024.
    func tick(_ count: Int) throws(DirectPlan.Stop) {
        ticks &+= count + 1
        guard ticks >= 1024 else { return }
        let counted = ticks
        ticks = 0
        if let deadline, deadline.passed(counting: counted) { throw .timeout }
    }
}

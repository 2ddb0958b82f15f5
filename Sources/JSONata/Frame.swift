/// A scope of variable bindings, chained to its enclosing scope.
final class Frame {
    /// A name bound to undefined is present with `nil`, and hides the enclosing scope's binding.
    private var bindings: [String: Value?] = [:]
    let parent: Frame?

    init(parent: Frame?) {
        self.parent = parent
    }

    func bind(_ name: String, _ value: Value?) {
        bindings[name] = .some(value)
    }

    func lookup(_ name: String) -> Value? {
        var frame: Frame? = self
        while let current = frame {
            if let value = current.bindings[name] { return value }
            frame = current.parent
        }
        return Library.function(named: name)
    }
}

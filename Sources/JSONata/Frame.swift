/// A scope of variable bindings, chained to its enclosing scope.
///
/// Scopes hold few bindings, so they are searched linearly; built-in functions are found last.
final class Frame {
    private var names: [String] = []
    /// A name bound to undefined is present with `nil`, and hides the enclosing scope's binding.
    private var values: [Value?] = []
    let parent: Frame?

    init(parent: Frame?) {
        self.parent = parent
    }

    func bind(_ name: String, _ value: Value?) {
        if let index = names.firstIndex(of: name) {
            values[index] = value
        } else {
            names.append(name)
            values.append(value)
        }
    }

    /// The binding of `name` in this scope or an enclosing one, if any (`.some(nil)`: bound to undefined).
    func binding(_ name: String) -> Value?? {
        var frame: Frame? = self
        while let current = frame {
            if let index = current.names.firstIndex(of: name) { return .some(current.values[index]) }
            frame = current.parent
        }
        return nil
    }

    func lookup(_ name: String) -> Value? {
        if let bound = binding(name) { return bound }
        return Library.function(named: name)
    }
}

/// A function signature such as `<s-n?:s>`: validates and completes the arguments of a call
/// (a port of jsonata-js's signature.js).
struct Signature: Sendable {
    struct Parameter: Sendable {
        var regex = ""
        var type = ""
        var isArray = false
        var usesContext = false
        /// For a `-` parameter: the types the context may stand in with.
        var contextTerm: Term?
        var subtype: String?
    }

    let definition: String
    private var parameters: [Parameter] = []
    private var terms: [Term] = []
    /// Whether a parameter takes an array (a single value is then wrapped), and whether one takes several arguments.
    private var hasArrayParameter = false
    private var hasUnboundedTerm = false

    init(_ signature: String) throws(JSONataError) {
        definition = signature
        let scalars = Array(signature)
        var position = 1
        var parameter = Parameter()
        var parameters: [Parameter] = []
        func next() {
            parameters.append(parameter)
            parameter = Parameter()
        }
        func closing(_ start: Int, _ open: Character, _ close: Character) -> Int {
            var depth = 1
            var index = start
            while index < scalars.count - 1 {
                index += 1
                if scalars[index] == close {
                    depth -= 1
                    if depth == 0 { break }
                } else if scalars[index] == open {
                    depth += 1
                }
            }
            return index
        }
        while position < scalars.count {
            let symbol = scalars[position]
            if symbol == ":" { break }
            switch symbol {
            case "s", "n", "b", "l", "o":
                parameter.regex = "[\(symbol)m]"
                parameter.type = String(symbol)
                next()
            case "a":
                parameter.regex = "[asnblfom]"
                parameter.type = "a"
                parameter.isArray = true
                next()
            case "f":
                parameter.regex = "f"
                parameter.type = "f"
                next()
            case "j":
                parameter.regex = "[asnblom]"
                parameter.type = "j"
                next()
            case "x":
                parameter.regex = "[asnblfom]"
                parameter.type = "x"
                next()
            case "-":
                if !parameters.isEmpty {
                    parameters[parameters.count - 1].usesContext = true
                    parameters[parameters.count - 1].contextTerm = Self.term(parameters[parameters.count - 1].regex)
                    parameters[parameters.count - 1].regex += "?"
                }
            case "?", "+":
                if !parameters.isEmpty { parameters[parameters.count - 1].regex += String(symbol) }
            case "(":
                let end = closing(position, "(", ")")
                let choice = String(scalars[(position + 1)..<end])
                if choice.contains("<") {
                    throw JSONataError(code: "S0402", message: "Choice groups containing parameterized types are not supported",
                                       position: position, token: choice)
                }
                parameter.regex = "[\(choice)m]"
                parameter.type = "(\(choice))"
                position = end
                next()
            case "<":
                guard let last = parameters.last, last.type == "a" || last.type == "f" else {
                    throw JSONataError(code: "S0401", message: "Type parameters can only be applied to functions and arrays",
                                       position: position, token: parameters.last?.type)
                }
                let end = closing(position, "<", ">")
                parameters[parameters.count - 1].subtype = String(scalars[(position + 1)..<end])
                position = end
            default:
                break
            }
            position += 1
        }
        self.parameters = parameters
        self.terms = parameters.map { Self.term($0.regex) }
        hasArrayParameter = parameters.contains { $0.isArray }
        hasUnboundedTerm = terms.contains { $0.unbounded }
    }

    /// A parameter's regex fragment taken apart: the symbols it accepts and how many times.
    struct Term: Sendable {
        var symbols: UInt16
        var minimum: Int
        var unbounded: Bool

        func accepts(_ symbol: Character) -> Bool {
            symbols & Signature.bit(symbol) != 0
        }
    }

    /// One bit per type symbol, so that a parameter's accepted types are a mask.
    static func bit(_ symbol: Character) -> UInt16 {
        switch symbol {
        case "a": 1
        case "s": 2
        case "n": 4
        case "b": 8
        case "l": 16
        case "f": 32
        case "o": 64
        case "m": 128
        default: 0
        }
    }

    private static func term(_ regex: String) -> Term {
        var body = Substring(regex)
        var minimum = 1
        var unbounded = false
        if body.hasSuffix("?") { minimum = 0; body = body.dropLast() }
        if body.hasSuffix("+") { unbounded = true; body = body.dropLast() }
        if body.hasSuffix("?") { minimum = 0; body = body.dropLast() }
        let symbols = body.hasPrefix("[") ? body.dropFirst().dropLast() : body
        return Term(symbols: symbols.reduce(0) { $0 | bit($1) }, minimum: minimum, unbounded: unbounded)
    }

    /// Matches the supplied symbols against the parameters as the regex `^(p1)(p2)...$` would
    /// (greedy, with backtracking); returns the symbols each parameter took.
    private func match(_ supplied: [Character]) -> [[Character]]? {
        // The common case: one argument per parameter, each of an accepted type.
        if supplied.count == terms.count, zip(terms, supplied).allSatisfy({ $0.minimum == 1 && $0.accepts($1) }) {
            return supplied.map { [$0] }
        }
        var groups: [[Character]] = Array(repeating: [], count: terms.count)
        func attempt(_ termIndex: Int, _ position: Int) -> Bool {
            if termIndex == terms.count { return position == supplied.count }
            let term = terms[termIndex]
            var maximum = 0
            while position + maximum < supplied.count, term.accepts(supplied[position + maximum]),
                term.unbounded || maximum < 1
            {
                maximum += 1
            }
            var taken = maximum
            while taken >= term.minimum {
                if attempt(termIndex + 1, position + taken) {
                    groups[termIndex] = Array(supplied[position..<(position + taken)])
                    return true
                }
                taken -= 1
            }
            return false
        }
        return attempt(0, 0) ? groups : nil
    }

    static func symbol(of value: Value?) -> Character {
        guard let value else { return "m" }
        switch value {
        case .string: return "s"
        case .number: return "n"
        case .bool: return "b"
        case .null: return "l"
        case .array: return "a"
        case .object: return "o"
        case .function: return "f"
        }
    }

    /// Whether a parameter takes the context when its argument is left out (`-`).
    var usesContext: Bool { parameters.contains { $0.usesContext } }

    /// The arguments checked and completed: the context stands in for a missing `-` argument, and a
    /// single value becomes a one-item array where an array is expected.
    /// `context` is asked for only when a `-` parameter's argument is missing.
    func validate(_ arguments: [Value?], context: @autoclosure () -> Value?) throws(JSONataError) -> [Value?] {
        // The common case needs no completion: one argument per parameter, of an accepted type, none of them
        // an array parameter (which would wrap a single value).
        // So does one argument per parameter of an accepted type when some parameters take arrays: each argument is
        // then its parameter's whole match, as the general match below would find, and only arrays are completed.
        // Fewer arguments than parameters match the same way when the rest are optional and none of them stands for
        // the context (those take undefined).
        if arguments.count <= terms.count, !hasUnboundedTerm,
            zip(terms, arguments).allSatisfy({ $0.symbols & Self.bit(of: $1) != 0 }),
            terms.count == arguments.count
                || (arguments.count..<terms.count).allSatisfy({ terms[$0].minimum == 0 && !parameters[$0].usesContext })
        {
            var validated = arguments
            if arguments.count < terms.count { validated += Array(repeating: nil, count: terms.count - arguments.count) }
            guard hasArrayParameter else { return validated }
            for (index, parameter) in parameters.enumerated() where parameter.type == "a" && index < arguments.count {
                let single = Self.symbol(of: arguments[index])
                validated[index] = try Self.arrayArgument(parameter, single: single, matched: [single], arguments[index],
                                                          position: index)
            }
            return validated
        }
        return try validateGenerally(arguments, context: context())
    }

    /// `validate` by the general match alone (the shortcuts above must give the same; a test compares them).
    func validateGenerally(_ arguments: [Value?], context: Value?) throws(JSONataError) -> [Value?] {
        let supplied = arguments.map(Self.symbol(of:))
        guard let groups = match(supplied) else {
            throw validationError(supplied)
        }
        var validated: [Value?] = []
        var argumentIndex = 0
        for (index, parameter) in parameters.enumerated() {
            let matched = groups[index]
            if matched.isEmpty {
                if parameter.usesContext, let contextTerm = parameter.contextTerm {
                    if contextTerm.accepts(Self.symbol(of: context)) {
                        validated.append(context)
                    } else {
                        throw JSONataError(code: "T0411", message: "Context value is not a compatible type with argument \(argumentIndex + 1) of function",
                                           token: nil)
                    }
                } else {
                    validated.append(argumentIndex < arguments.count ? arguments[argumentIndex] : nil)
                    argumentIndex += 1
                }
                continue
            }
            for single in matched {
                var argument = argumentIndex < arguments.count ? arguments[argumentIndex] : nil
                if parameter.type == "a" {
                    argument = try Self.arrayArgument(parameter, single: single, matched: matched, argument, position: argumentIndex)
                }
                validated.append(argument)
                argumentIndex += 1
            }
        }
        return validated
    }

    /// An argument for an array parameter: checked against the parameter's item type, a single value wrapped in an
    /// array, undefined kept undefined. `single` is the argument's symbol, `matched` all the parameter took.
    private static func arrayArgument(_ parameter: Parameter, single: Character, matched: [Character], _ argument: Value?,
                                      position: Int) throws(JSONataError) -> Value?
    {
        if single == "m" { return nil }
        var arrayOK = true
        if let subtype = parameter.subtype {
            if single != "a", String(matched) != subtype {
                arrayOK = false
            } else if single == "a", case .array(let array)? = argument, let first = array.items.first {
                let itemType = symbol(of: first)
                if itemType != subtype.first {
                    arrayOK = false
                } else {
                    arrayOK = array.items.allSatisfy { symbol(of: $0) == itemType }
                }
            }
        }
        if !arrayOK {
            throw JSONataError(code: "T0412", message: "Argument \(position + 1) of function must be an array of \(typeName(parameter.subtype ?? ""))")
        }
        if single != "a", let value = argument { return .array(ArrayValue([value])) }
        return argument
    }

    /// The bit of a value's type symbol (`bit(symbol(of:))` without making a `Character`).
    static func bit(of value: Value?) -> UInt16 {
        guard let value else { return 128 }
        switch value {
        case .array: return 1
        case .string: return 2
        case .number: return 4
        case .bool: return 8
        case .null: return 16
        case .function: return 32
        case .object: return 64
        }
    }

    private static func typeName(_ symbol: String) -> String {
        ["a": "arrays", "b": "booleans", "f": "functions", "n": "numbers", "o": "objects", "s": "strings"][symbol] ?? symbol
    }

    /// The argument where matching first fails, as jsonata-js reports it (`T0410`).
    private func validationError(_ supplied: [Character]) -> JSONataError {
        var position = 0
        for parameter in parameters {
            let term = Self.term(parameter.regex)
            var taken = 0
            while position + taken < supplied.count, term.accepts(supplied[position + taken]), term.unbounded || taken < 1 {
                taken += 1
            }
            if taken < term.minimum { break }
            position += taken
        }
        return JSONataError(code: "T0410", message: "Argument \(position + 1) of function does not match function signature")
    }
}

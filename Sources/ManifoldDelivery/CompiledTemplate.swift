public import JSONata
public import JSONValue
public import ManifoldIngress
public import ManifoldPlan

/// A template with its expressions parsed and its `${env:}`/`${file:}` references resolved, once per plan.
public indirect enum CompiledTemplate: Sendable {
    case literal(JSON)
    case expression(JSONataExpression)
    case interpolated([Piece])
    case object([(key: String, value: CompiledTemplate)])
    case array([CompiledTemplate])

    public enum Piece: Sendable {
        case text(String)
        case expression(JSONataExpression)
    }

    /// Compiles `template`; a reference that does not resolve throws, naming it.
    public init(_ template: Template, resolver: ConfigResolver) throws {
        switch template {
        case .literal(let value):
            self = .literal(value)
        case .expression(let source):
            self = .expression(try JSONataExpression(source.source))
        case .interpolated(let parts):
            self = .interpolated(try parts.map { part in
                switch part {
                case .text(let text): .text(text)
                case .expression(let source): .expression(try JSONataExpression(source.source))
                case .environment(let name): .text(try resolver.resolve(ConfigString(parts: [.environment(name)])))
                case .file(let path): .text(try resolver.resolve(ConfigString(parts: [.file(path)])))
                }
            })
        case .object(let members):
            self = .object(try members.map { ($0.key, try CompiledTemplate($0.value, resolver: resolver)) })
        case .array(let elements):
            self = .array(try elements.map { try CompiledTemplate($0, resolver: resolver) })
        }
    }

    /// The value over `input`; `nil` when an expression gives nothing (such members are left out).
    public func evaluate(_ input: JSON?, bindings: [String: JSON]) throws -> JSON? {
        switch self {
        case .literal(let value):
            return value
        case .expression(let expression):
            return try expression.evaluate(input, bindings: bindings)
        case .interpolated(let pieces):
            var text = ""
            for piece in pieces {
                switch piece {
                case .text(let literal): text += literal
                case .expression(let expression):
                    if let value = try expression.evaluate(input, bindings: bindings) { text += Self.text(of: value) }
                }
            }
            return .string(text)
        case .object(let members):
            var object = JSONObject()
            for member in members {
                if let value = try member.value.evaluate(input, bindings: bindings) { object[member.key] = value }
            }
            return .object(object)
        case .array(let elements):
            return .array(try elements.compactMap { try $0.evaluate(input, bindings: bindings) })
        }
    }

    /// Whether every expression in it takes time bounded by its input (`JSONataExpression.isBounded`).
    public var isBounded: Bool {
        switch self {
        case .literal: true
        case .expression(let expression): expression.isBounded
        case .interpolated(let pieces): pieces.allSatisfy { if case .expression(let expression) = $0 { expression.isBounded } else { true } }
        case .object(let members): members.allSatisfy(\.value.isBounded)
        case .array(let elements): elements.allSatisfy(\.isBounded)
        }
    }

    /// Whether evaluating it reads secrets (a resolved reference): then its value is redacted when recorded.
    public static func readsSecrets(_ template: Template) -> Bool {
        switch template {
        case .literal, .expression: false
        case .interpolated(let parts):
            parts.contains { if case .environment = $0 { true } else if case .file = $0 { true } else { false } }
        case .object(let members): members.contains { readsSecrets($0.value) }
        case .array(let elements): elements.contains(where: readsSecrets)
        }
    }

    /// A value as text in a string: strings as they are, everything else as JSON.
    /// A string or a number as text; `nil` for anything else.
    public static func scalarText(_ value: JSON) -> String? {
        switch value {
        case .string(let text): text
        case .number(let number): JSON.format(number: number)
        default: nil
        }
    }

    public static func text(of value: JSON) -> String {
        switch value {
        case .string(let text): text
        case .number(let number): JSON.format(number: number)
        default: value.serialized()
        }
    }
}

public import JSONValue

/// A templated value: literal JSON, an expression's typed value, text with interpolations, or a
/// mapping or list templated member by member.
public indirect enum Template: Sendable, Hashable {
    case literal(JSON)
    /// A whole-string `{% expr %}`: the expression's value, with its type.
    case expression(ExpressionSource)
    /// Text with `{% expr %}` interpolations.
    case interpolated([TemplatePart])
    case object([(key: String, value: Template)])
    case array([Template])

    public static func == (lhs: Template, rhs: Template) -> Bool {
        lhs.json == rhs.json
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(json)
    }

    /// Every expression the template holds, in order.
    public var expressions: [ExpressionSource] {
        switch self {
        case .literal: []
        case .expression(let expression): [expression]
        case .interpolated(let parts): parts.compactMap { if case .expression(let e) = $0 { e } else { nil } }
        case .object(let members): members.flatMap(\.value.expressions)
        case .array(let elements): elements.flatMap(\.expressions)
        }
    }

    /// The template as the author wrote it (strings with `{% %}`), as JSON.
    public var json: JSON {
        switch self {
        case .literal(let value): value
        case .expression(let expression): .string("{% \(expression.source) %}")
        case .interpolated(let parts):
            .string(parts.map { part in
                switch part {
                case .text(let text): text
                case .expression(let expression): "{% \(expression.source) %}"
                case .environment(let name): "${env:\(name)}"
                case .file(let path): "${file:\(path)}"
                }
            }.joined())
        case .object(let members): .object(JSONObject(members.map { ($0.key, $0.value.json) }))
        case .array(let elements): .array(elements.map(\.json))
        }
    }
}

/// A piece of an interpolated string.
public enum TemplatePart: Sendable, Hashable {
    case text(String)
    case expression(ExpressionSource)
    /// `${env:NAME}`, resolved when the engine starts.
    case environment(String)
    /// `${file:PATH}`, resolved when the engine starts.
    case file(String)
}

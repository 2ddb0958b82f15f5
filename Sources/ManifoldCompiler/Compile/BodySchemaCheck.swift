import Foundation
import JSONValue

/// What `validate` can tell about a route's body from its operation's `body_schema` before any event arrives: the
/// keys written literally in the mapping against the properties the schema names. A key the schema does not name is
/// a warning (with the closest property: a misspelt `emial` is caught), a required property the mapping leaves out
/// is an error. Values computed by expressions (`{% %}`) are left to the runtime, which checks every body against
/// the schema before sending it.
enum BodySchemaCheck {
    struct Finding: Equatable {
        enum Severity { case error, warning }
        var severity: Severity
        var message: String
        /// Where in the body: the key for an unknown property, the object for a missing one.
        var pointer: JSONPointer
        var atKey: Bool
    }

    /// The findings for `body` (as written, below `pointer`) against `schema` (the operation's `body_schema`).
    static func check(_ body: JSON, at pointer: JSONPointer, schema: JSON, operation: String) -> [Finding] {
        var findings: [Finding] = []
        walk(body, at: pointer, schema: schema, root: schema, path: "body", operation: operation, depth: 0, into: &findings)
        return findings
    }

    /// An object's properties and required names, as far as the schema says them plainly: its own, those of
    /// `allOf` branches and of local `$ref`s. `nil` when it cannot be told (`anyOf`/`oneOf`, external references).
    struct Shape {
        var properties: [String: JSON] = [:]
        var names: [String] = []
        var required: [String] = []
        /// `additionalProperties: false`: an unknown key would be refused at run time.
        var closed = false
        var open = false
    }

    static func shape(_ schema: JSON, root: JSON, depth: Int = 0) -> Shape? {
        guard depth < 32, let object = schema.objectValue else { return nil }
        if let reference = object["$ref"]?.stringValue {
            guard let target = resolve(reference, in: root) else { return nil }
            return shape(target, root: root, depth: depth + 1)
        }
        if object["anyOf"] != nil || object["oneOf"] != nil || object["not"] != nil { return nil }
        var shape = Shape()
        if let properties = object["properties"]?.objectValue {
            for (name, value) in properties {
                shape.properties[name] = value
                shape.names.append(name)
            }
        }
        shape.required = object["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if case .bool(false)? = object["additionalProperties"] { shape.closed = true }
        if let additional = object["additionalProperties"], additional.boolValue != false { shape.open = true }
        if object["patternProperties"] != nil { shape.open = true }
        for branch in object["allOf"]?.arrayValue ?? [] {
            guard let inner = self.shape(branch, root: root, depth: depth + 1) else { return nil }
            for name in inner.names where shape.properties[name] == nil {
                shape.properties[name] = inner.properties[name]
                shape.names.append(name)
            }
            shape.required += inner.required
            shape.closed = shape.closed || inner.closed
            shape.open = shape.open || inner.open
        }
        return shape
    }

    /// A local reference (`#/$defs/x`, `#/definitions/x`, `#/components/schemas/x`) in the schema.
    static func resolve(_ reference: String, in root: JSON) -> JSON? {
        guard reference.hasPrefix("#"), let pointer = JSONPointer(String(reference.dropFirst())) else { return nil }
        return root[pointer: pointer]
    }

    private static func isExpression(_ value: JSON) -> Bool {
        guard let text = value.stringValue else { return false }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.hasPrefix("{%") && trimmed.hasSuffix("%}") && trimmed.components(separatedBy: "{%").count == 2
    }

    private static func walk(_ body: JSON, at pointer: JSONPointer, schema: JSON, root: JSON, path: String, operation: String,
                             depth: Int, into findings: inout [Finding])
    {
        guard depth < 64 else { return }
        var schema = schema
        for _ in 0..<32 {
            guard let reference = schema["$ref"]?.stringValue, let target = resolve(reference, in: root) else { break }
            schema = target
        }
        switch body {
        case .object(let members):
            guard let shape = shape(schema, root: root) else { return }
            if !shape.names.isEmpty || shape.closed {
                for (key, value) in members {
                    if let property = shape.properties[key] {
                        walk(value, at: pointer.appending(key), schema: property, root: root, path: path + "." + key,
                             operation: operation, depth: depth + 1, into: &findings)
                    } else if !shape.open {
                        let suggestion = Suggestion.closest(to: key, in: shape.names)
                        let known = shape.names.count <= 12 ? " (it has: \(shape.names.joined(separator: ", ")))" : ""
                        findings.append(Finding(
                            severity: .warning,
                            message: "\(path).\(key) is not a property of \(operation)'s request body"
                                + (suggestion.map { "; did you mean '\($0)'?" } ?? known)
                                + (shape.closed ? ": the body schema refuses unknown properties, so every call would be quarantined" : ""),
                            pointer: pointer.appending(key), atKey: true))
                    }
                }
            }
            for name in shape.required where members[name] == nil {
                findings.append(Finding(severity: .error,
                                        message: "\(path) lacks '\(name)', which \(operation)'s request body requires: every call would be quarantined, never sent",
                                        pointer: pointer, atKey: false))
            }
        case .array(let elements):
            guard !isExpression(body), let items = schema["items"], items.objectValue != nil else { return }
            for (index, element) in elements.enumerated() {
                walk(element, at: pointer.appending(index), schema: items, root: root, path: path + "[\(index)]",
                     operation: operation, depth: depth + 1, into: &findings)
            }
        default:
            return
        }
    }
}


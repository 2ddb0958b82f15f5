import JSONValue
import Yams

extension YAMLLoader {
    /// Turns a Yams node tree into JSON, recording where each key and value stands.
    struct Converter {
        let file: String
        var values: [JSONPointer: SourceLocation] = [:]
        var keys: [JSONPointer: SourceLocation] = [:]
        var nodeCount = 0

        init(file: String) {
            self.file = file
        }

        func location(_ mark: Mark?) -> SourceLocation {
            SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
        }

        mutating func convert(_ node: Node, at pointer: JSONPointer) throws -> JSON {
            nodeCount += 1
            if nodeCount > YAMLLoader.maximumNodes {
                throw Diagnostic.error("the document expands to more than \(YAMLLoader.maximumNodes) values (through aliases?)",
                                       at: location(node.mark))
            }
            values[pointer] = location(node.mark)
            switch node {
            case .scalar(let scalar):
                return Self.resolve(scalar)
            case .sequence(let sequence):
                var elements: [JSON] = []
                for (index, element) in sequence.enumerated() {
                    elements.append(try convert(element, at: pointer.appending(index)))
                }
                return .array(elements)
            case .mapping(let mapping):
                var object = JSONObject()
                var merged: [(String, JSON, JSONPointer)] = []
                for (keyNode, valueNode) in mapping {
                    guard case .scalar(let keyScalar) = keyNode else {
                        throw Diagnostic.error("a key must be a plain string, not a \(keyNode.mapping != nil ? "mapping" : "list")",
                                               at: location(keyNode.mark))
                    }
                    let key = keyScalar.string
                    if key == "<<", keyScalar.style == .plain {
                        merged += try mergeSources(valueNode, at: pointer)
                        continue
                    }
                    let child = pointer.appending(key)
                    keys[child] = location(keyNode.mark)
                    object[key] = try convert(valueNode, at: child)
                }
                for (key, value, _) in merged where object[key] == nil {
                    object[key] = value
                }
                return .object(object)
            case .alias:
                return .null
            }
        }

        /// The members a `<<` merge key brings in: one mapping, or a list of mappings (earlier ones win).
        private mutating func mergeSources(_ node: Node, at pointer: JSONPointer) throws -> [(String, JSON, JSONPointer)] {
            let sources: [Node]
            switch node {
            case .mapping: sources = [node]
            case .sequence(let sequence) where sequence.allSatisfy({ $0.mapping != nil }): sources = Array(sequence)
            default:
                throw Diagnostic.error("a `<<` merge key takes a mapping or a list of mappings", at: location(node.mark))
            }
            var members: [(String, JSON, JSONPointer)] = []
            var scratch = Converter(file: file)
            scratch.nodeCount = nodeCount
            for source in sources {
                guard case .object(let object) = try scratch.convert(source, at: pointer) else { continue }
                for (key, value) in object where !members.contains(where: { $0.0 == key }) {
                    members.append((key, value, pointer.appending(key)))
                    for (inner, mark) in scratch.values where inner.hasPrefix(pointer.appending(key)) { values[inner] = values[inner] ?? mark }
                    if let mark = scratch.keys[pointer.appending(key)] { keys[pointer.appending(key)] = keys[pointer.appending(key)] ?? mark }
                }
            }
            nodeCount = scratch.nodeCount
            return members
        }

        /// YAML 1.2 core schema resolution of a scalar; quoted scalars and `!!str` are strings.
        static func resolve(_ scalar: Node.Scalar) -> JSON {
            let text = scalar.string
            if scalar.tag.rawValue == Tag.Name.str.rawValue || scalar.style != .plain { return .string(text) }
            switch text {
            case "", "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .number(.infinity)
            case "-.inf", "-.Inf", "-.INF": return .number(-.infinity)
            case ".nan", ".NaN", ".NAN": return .number(.nan)
            default: break
            }
            if text.hasPrefix("0x"), let value = Int(text.dropFirst(2), radix: 16) { return .number(Double(value)) }
            if text.hasPrefix("0o"), let value = Int(text.dropFirst(2), radix: 8) { return .number(Double(value)) }
            if isNumber(text), let value = Double(text) { return .number(value) }
            return .string(text)
        }

        /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
        private static func isNumber(_ text: String) -> Bool {
            var scalars = Substring(text).unicodeScalars[...]
            if let first = scalars.first, first == "-" || first == "+" { scalars = scalars.dropFirst() }
            let digits = scalars.prefix { ("0"..."9").contains($0) }
            scalars = scalars.dropFirst(digits.count)
            var fraction = 0
            if scalars.first == "." {
                scalars = scalars.dropFirst()
                fraction = scalars.prefix { ("0"..."9").contains($0) }.count
                scalars = scalars.dropFirst(fraction)
            }
            guard digits.count + fraction > 0 else { return false }
            if let e = scalars.first, e == "e" || e == "E" {
                scalars = scalars.dropFirst()
                if let sign = scalars.first, sign == "-" || sign == "+" { scalars = scalars.dropFirst() }
                let exponent = scalars.prefix { ("0"..."9").contains($0) }.count
                guard exponent > 0 else { return false }
                scalars = scalars.dropFirst(exponent)
            }
            return scalars.isEmpty
        }
    }
}
